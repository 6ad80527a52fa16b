#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: access_summary
short_description: Build the table of where to open each Istio addon and Bookinfo
version_added: "0.1.0"
description:
  - From objects read from the cluster, builds one entry per addon UI Service (the Services the
    addons role labels C(meshops.istio/addon) and annotates with their UI port and path) and one
    for Bookinfo's productpage through the ingress gateway.
  - An entry's URL is C(http://<node address>:<nodePort><path>) for NodePort Services,
    C(http://<load-balancer address>:<port><path>) for LoadBalancer Services that have an
    address (the nodePort while the address is pending), and the C(istioctl dashboard <name>)
    command for ClusterIP Services.
  - The node address is the first node's ExternalIP, else its InternalIP, unless
    I(node_address) is given.
  - Returns the summary as data, as JSON text and as a Markdown table, all from the same data.
  - Pure computation; never talks to a cluster and never changes anything.
author:
  - meshops developers (@meshops)
options:
  nodes:
    description: Nodes read from the cluster.
    type: list
    elements: dict
    default: []
  services:
    description: Addon Services read from the cluster (label C(meshops.istio/addon)).
    type: list
    elements: dict
    default: []
  ingress_service:
    description: The ingress gateway Service, or nothing when it does not exist.
    type: dict
  istiod_deployments:
    description: istiod Deployments, to report the control plane's version from their image tag.
    type: list
    elements: dict
    default: []
  versions:
    description: "Further versions to report, for example C({istioctl: 1.31.0}); empty values are left out."
    type: dict
    default: {}
  node_address:
    description: Address to put in URLs instead of the first node's address.
    type: str
    default: ""
  ingress_port_name:
    description: Name of the ingress gateway's HTTP port.
    type: str
    default: http2
  productpage_path:
    description: Path of Bookinfo's product page.
    type: str
    default: /productpage
notes:
  - Supports check mode.
"""

EXAMPLES = r"""
- name: Build the access summary
  meshops.istio.access_summary:
    nodes: "{{ nodes.resources }}"
    services: "{{ addon_services.resources }}"
    ingress_service: "{{ ingress.resources | first | default(omit) }}"
    versions:
      istioctl: "{{ istioctl_installed_version | default('') }}"
  register: summary
"""

RETURN = r"""
summary:
  description: The summary.
  returned: always
  type: dict
  sample:
    node_address: 127.0.0.1
    node: k3s-s
    versions: {istioctl: 1.31.0, control_plane: 1.31.0}
    entries:
      - {name: kiali, kind: addon, url: "http://127.0.0.1:32001/kiali", access: NodePort,
         service: "istio-system/kiali:20001", note: ""}
      - {name: productpage, kind: ingress, url: "http://127.0.0.1:31380/productpage", access: NodePort,
         service: "istio-system/istio-ingressgateway:http2", note: ""}
markdown:
  description: The summary as a Markdown document with a table.
  returned: always
  type: str
json:
  description: The summary as indented JSON text.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshops.istio.plugins.module_utils.istio.access_summary import (
    build_summary,
    render_json,
    render_markdown,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            nodes=dict(type="list", elements="dict", default=[]),
            services=dict(type="list", elements="dict", default=[]),
            ingress_service=dict(type="dict"),
            istiod_deployments=dict(type="list", elements="dict", default=[]),
            versions=dict(type="dict", default={}),
            node_address=dict(type="str", default=""),
            ingress_port_name=dict(type="str", default="http2"),
            productpage_path=dict(type="str", default="/productpage"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    summary = build_summary(params["nodes"], params["services"], params["ingress_service"],
                            params["istiod_deployments"], params["versions"], params["node_address"],
                            params["ingress_port_name"], params["productpage_path"])
    module.exit_json(changed=False, summary=summary, markdown=render_markdown(summary), json=render_json(summary))


if __name__ == "__main__":
    main()
