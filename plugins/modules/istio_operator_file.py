#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: istio_operator_file
short_description: Render the IstioOperator of a control plane into one file
version_added: "0.1.0"
description:
  - Builds an IstioOperator from a profile, a revision, the component toggles, the ingress gateway's
    Service settings, mesh config and a values overlay, and writes it to I(dest) when the content differs.
  - I(values) and I(mesh_config) are deep-merged over the values the module sets itself, so an overlay
    that adds keys keeps the rest.
  - Warns when I(hub) is a registry Istio no longer publishes to (C(gcr.io/istio-release)).
  - Supports check mode and diff; the rendered text is returned either way so that later tasks can
    validate it without the file.
author:
  - meshops developers (@meshops)
requirements:
  - PyYAML
extends_documentation_fragment:
  - meshops.istio.control_plane
options:
  dest:
    description: File to write the IstioOperator to; parent directories are created.
    type: path
    required: true
  profile:
    description: Istio configuration profile the operator starts from.
    type: str
    default: default
  hub:
    description: Container registry of the Istio images.
    type: str
    default: docker.io/istio
  tag:
    description: Image tag of the Istio images, normally the istioctl version.
    type: str
    required: true
  ingress_gateway_enabled:
    description: Install the ingress gateway C(istio-ingressgateway).
    type: bool
    default: true
  egress_gateway_enabled:
    description: Install the egress gateway C(istio-egressgateway).
    type: bool
    default: false
  ingress_service_type:
    description: Type of the ingress gateway's Service.
    type: str
    choices: [ClusterIP, NodePort, LoadBalancer]
    default: LoadBalancer
  ingress_node_ports:
    description:
      - Fixed nodePorts of the ingress gateway by port, keys C(http) (port C(http2)), C(https) and
        C(status) (C(status-port)). Empty means Kubernetes picks them.
    type: dict
    default: {}
  external_traffic_policy:
    description: externalTrafficPolicy of the ingress gateway's Service (NodePort and LoadBalancer only).
    type: str
    choices: [Cluster, Local]
    default: Cluster
  mesh_config:
    description: MeshConfig overlay (C(spec.meshConfig)).
    type: dict
    default: {}
  values:
    description: Helm values overlay (C(spec.values)), deep-merged over the module's own values.
    type: dict
    default: {}
  mode:
    description: File mode of I(dest).
    type: str
    default: "0640"
"""

EXAMPLES = r"""
- name: Render the IstioOperator, egress gateway off, ingress on fixed nodePorts
  meshops.istio.istio_operator_file:
    dest: "{{ mesh_output_dir }}/control_plane/istiooperator.yaml"
    profile: demo
    tag: "1.31.0"
    egress_gateway_enabled: false
    ingress_service_type: NodePort
    ingress_node_ports:
      http: 31080
      https: 31443
"""

RETURN = r"""
dest:
  description: Path of the rendered file.
  returned: always
  type: str
content:
  description: The rendered IstioOperator as YAML text.
  returned: always
  type: str
operator:
  description: The rendered IstioOperator as a dict.
  returned: always
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meshops.istio.plugins.module_utils.istio import operator as iop

YAML_IMPORT_ERROR = None
try:
    import yaml
except ImportError:  # pragma: no cover
    import traceback
    YAML_IMPORT_ERROR = traceback.format_exc()


def run(module):
    params = module.params
    warning = iop.hub_warning(params["hub"])
    if warning:
        module.warn(warning)
    try:
        operator = iop.render_istio_operator(
            profile=params["profile"], revision=params["revision"], namespace=params["namespace"],
            hub=params["hub"], tag=params["tag"], ingress_gateway_enabled=params["ingress_gateway_enabled"],
            egress_gateway_enabled=params["egress_gateway_enabled"],
            ingress_service_type=params["ingress_service_type"], ingress_node_ports=params["ingress_node_ports"],
            external_traffic_policy=params["external_traffic_policy"], mesh_config=params["mesh_config"],
            values=params["values"])
    except iop.OperatorError as exc:
        module.fail_json(msg=str(exc))
    content = "---\n# Rendered by meshops.istio (role control_plane); kept for audit and the next run's comparison.\n" \
        + yaml.safe_dump(operator, default_flow_style=False, sort_keys=True)
    dest = params["dest"]
    before = None
    if os.path.exists(dest):
        with open(dest) as handle:
            before = handle.read()
    result = {"changed": before != content, "dest": dest, "content": content, "operator": operator}
    if result["changed"]:
        result["diff"] = {"before": before or "", "after": content, "before_header": dest, "after_header": dest}
        if not module.check_mode:
            directory = os.path.dirname(dest)
            if directory and not os.path.isdir(directory):
                os.makedirs(directory)
            tmp = dest + ".tmp"
            with open(tmp, "w") as handle:
                handle.write(content)
            os.rename(tmp, dest)
    if not module.check_mode and os.path.exists(dest):
        file_args = module.load_file_common_arguments({"path": dest, "mode": params["mode"]})
        result["changed"] = module.set_fs_attributes_if_different(file_args, result["changed"])
    module.exit_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            iop.control_plane_argument_spec(),
            dest=dict(type="path", required=True),
            profile=dict(type="str", default="default"),
            hub=dict(type="str", default="docker.io/istio"),
            tag=dict(type="str", required=True),
            ingress_gateway_enabled=dict(type="bool", default=True),
            egress_gateway_enabled=dict(type="bool", default=False),
            ingress_service_type=dict(type="str", choices=list(iop.SERVICE_TYPES), default="LoadBalancer"),
            ingress_node_ports=dict(type="dict", default={}),
            external_traffic_policy=dict(type="str", choices=list(iop.TRAFFIC_POLICIES), default="Cluster"),
            mesh_config=dict(type="dict", default={}),
            values=dict(type="dict", default={}),
            mode=dict(type="str", default="0640"),
        ),
        supports_check_mode=True,
    )
    if YAML_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=YAML_IMPORT_ERROR)
    run(module)


if __name__ == "__main__":
    main()
