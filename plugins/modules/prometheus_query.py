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
requirements:
  - kubernetes (Python client)
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

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meshops.istio.plugins.module_utils.addons.plan import AddonsError, prometheus_scalar
from ansible_collections.meshops.istio.plugins.module_utils.kube.client import (
    KUBERNETES_IMPORT_ERROR,
    Kube,
    kube_argument_spec,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kube_argument_spec(),
            namespace=dict(type="str", default="istio-system"),
            service=dict(type="str", default="prometheus"),
            port=dict(type="int", default=9090),
            query=dict(type="str", required=True),
        ),
        supports_check_mode=True,
    )
    if KUBERNETES_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)
    params = module.params
    path = "/api/v1/namespaces/%s/services/%s:%d/proxy/api/v1/query" % (
        params["namespace"], params["service"], params["port"])
    try:
        client = Kube(params["kubeconfig"], params["context"]).client.client
        response = client.call_api(path, "GET", query_params=[("query", params["query"])],
                                   auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True)
        body = json.loads(response.data.decode("utf-8"))
        value = prometheus_scalar(body)
    except AddonsError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="Querying Prometheus at %s failed: %s" % (path, exc), exception=traceback.format_exc())
    module.exit_json(changed=False, value=value, response=body)


if __name__ == "__main__":
    main()
