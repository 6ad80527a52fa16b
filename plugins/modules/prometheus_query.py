#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: prometheus_query
short_description: Run an instant query against the mesh's Prometheus through the Kubernetes API server
version_added: "0.1.0"
description:
  - Sends a PromQL instant query to a Prometheus Service through the API server's service
    proxy (C(/api/v1/namespaces/<ns>/services/<name>:<port>/proxy/api/v1/query)), so the
    Service does not need to be exposed and the kubeconfig's credentials are used.
  - Returns the sum of the values of the result vector as RV(value).
  - Read-only; runs in check mode too.
author:
  - meshops developers (@meshops)
extends_documentation_fragment:
  - meshops.istio.kube
options:
  namespace:
    description: Namespace of the Prometheus Service.
    type: str
    default: istio-system
  service:
    description: Name of the Prometheus Service.
    type: str
    default: prometheus
  port:
    description: Port of the Prometheus Service.
    type: int
    default: 9090
  query:
    description: The PromQL expression.
    type: str
    required: true
  url:
    description:
      - Base URL of a Prometheus reachable from the host running the module (for example
        C(http://prometheus.example:9090)); when set, the query goes there directly instead of through
        the API server, and O(namespace), O(service) and O(port) are not used.
    type: str
requirements:
  - urllib3 and PyYAML
notes:
  - Supports check mode.
"""

EXAMPLES = r"""
- name: Count requests that reached productpage
  meshops.istio.prometheus_query:
    kubeconfig: "{{ mesh_kubeconfig }}"
    query: sum(istio_requests_total{destination_service_name="productpage"})
  register: requests
"""

RETURN = r"""
value:
  description: Sum of the values in the result (0.0 for an empty result).
  returned: success
  type: float
  sample: 120.0
response:
  description: Prometheus' JSON response.
  returned: success
  type: dict
"""

import json
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib.parse import urlencode
from ansible.module_utils.urls import fetch_url

from ansible_collections.meshops.istio.plugins.module_utils.addons.plan import AddonsError, prometheus_scalar
from ansible_collections.meshops.istio.plugins.module_utils.kube.client import (
    KubeClientError,
    kube_argument_spec,
    kube_from_params,
    require_client_libs,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kube_argument_spec(),
            namespace=dict(type="str", default="istio-system"),
            service=dict(type="str", default="prometheus"),
            port=dict(type="int", default=9090),
            query=dict(type="str", required=True),
            url=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    require_client_libs(module)
    params = module.params
    path = "/api/v1/namespaces/%s/services/%s:%d/proxy/api/v1/query" % (
        params["namespace"], params["service"], params["port"])
    if params["url"]:
        path = params["url"].rstrip("/") + "/api/v1/query"
        response, info = fetch_url(module, path + "?" + urlencode({"query": params["query"]}))
        if info["status"] != 200 or response is None:
            module.fail_json(msg="Querying Prometheus at %s failed: %s %s" % (path, info["status"], info.get("msg")))
        try:
            body = json.loads(response.read().decode("utf-8"))
            module.exit_json(changed=False, value=prometheus_scalar(body), response=body)
        except (AddonsError, ValueError) as exc:
            module.fail_json(msg="Querying Prometheus at %s failed: %s" % (path, exc))
    try:
        kube = kube_from_params(params, workers=1)
        body = kube.call("GET", path, [("query", params["query"])])
        value = prometheus_scalar(body)
    except (AddonsError, KubeClientError) as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="Querying Prometheus at %s failed: %s" % (path, exc), exception=traceback.format_exc())
    module.exit_json(changed=False, value=value, response=body)


if __name__ == "__main__":
    main()
