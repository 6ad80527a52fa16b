#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: traffic_model
short_description: Validate, render and apply a declarative Istio traffic model
version_added: 0.1.0
description:
  - Validates a traffic model (gateways, and per service its hosts, gateway binding, subsets,
    routes with match conditions and weights, load balancing, connection pool, outlier detection,
    client TLS, retries, timeouts and fault injection) and renders it into Istio C(networking.istio.io/v1)
    objects, a C(Gateway) per model gateway and C(vsvc-<service>) and C(destrule-<service>) per service.
  - The whole model is validated before anything is sent to the cluster; every error names the
    service (or gateway) and the field.
  - Objects carry the labels C(app.kubernetes.io/managed-by=meshops.istio) and
    C(meshops.istio/model=<name>). Objects of the model that are no longer in it are deleted when
    O(prune=true), in the model's namespace (the same model name in another namespace is left
    alone); objects without those labels are never modified or deleted, and an unmanaged object
    with the name of a rendered one stops the run before anything changes.
  - Objects whose live spec and labels already equal the rendered ones are not sent at all; the
    others get one server-side apply each (field manager C(meshops.istio), forced), from a small
    thread pool sharing one connection pool. Check mode sends the same requests with C(dryRun=All).
  - The model format is described in the C(traffic) role's README and in
    C(plugins/module_utils/traffic/schema.py).
author:
  - meshops developers (@meshops)
requirements:
  - urllib3 and PyYAML (both come with the kubernetes Python client pinned in the collection's requirements.txt)
options:
  model:
    description:
      - The traffic model, a mapping with keys C(name) (required), C(namespace) (default C(default)),
        C(tls), C(gateways) and C(services).
      - C(tls) (top level, per service and per subset) is the DestinationRule's C(trafficPolicy.tls), with
        C(mode) (V(ISTIO_MUTUAL), V(DISABLE), V(SIMPLE) or V(MUTUAL)), C(credential_name) and C(sni) (both
        for V(SIMPLE) and V(MUTUAL) only, which need C(credential_name)). The top-level one is the
        default of every service that sets none.
    type: dict
    required: true
  state:
    description:
      - V(present) applies the model; V(absent) deletes every object labelled with the model's name
        in the model's namespace.
    type: str
    choices: [present, absent]
    default: present
  prune:
    description: Delete objects of this model that are no longer rendered from it.
    type: bool
    default: true
  validate_only:
    description:
      - Only validate and render; return RV(objects), RV(manifest) and RV(dot) and change nothing.
        With O(check_hosts=true) the namespace's Services and pods are read (read-only) for the warnings.
    type: bool
    default: false
  check_hosts:
    description:
      - Warn about destination hosts that are not Services in the model's namespace, about subsets
        that select no pod there, and about Gateways elsewhere that share a model gateway's selector,
        port and hosts (istioctl analyze reports the last two as errors).
    type: bool
    default: true
  create_namespace:
    description: Create the model's namespace when it does not exist.
    type: bool
    default: true
  workers:
    description: Requests in flight at once when objects must be written.
    type: int
    default: 8
  kubeconfig:
    description: Path to the kubeconfig; the client's default when omitted.
    type: path
  context:
    description: Kubeconfig context; the current context when omitted.
    type: str
attributes:
  check_mode:
    support: full
    description: Server-side dry run of every write.
  diff_mode:
    support: full
    description: Before and after of every object created, changed or pruned.
notes:
  - Apply order is Gateways, DestinationRules, VirtualServices (subsets exist before routes use
    them); pruning goes the other way.
"""

EXAMPLES = r"""
- name: Apply the shop model
  meshops.istio.traffic_model:
    model: "{{ lookup('ansible.builtin.file', 'examples/shop-model.yml') | ansible.builtin.from_yaml }}"
    kubeconfig: "{{ mesh_kubeconfig }}"

- name: Render only, to write the manifests and the picture
  meshops.istio.traffic_model:
    model: "{{ my_model }}"
    validate_only: true
    check_hosts: false
  register: rendered

- name: Remove everything the model created
  meshops.istio.traffic_model:
    model: {name: shop, namespace: shop}
    state: absent
    kubeconfig: "{{ mesh_kubeconfig }}"
"""

RETURN = r"""
model:
  description: Name, namespace and sizes of the model.
  returned: always
  type: dict
  sample: {name: shop, namespace: shop, services: 3, gateways: 1, objects: 7}
created:
  description: Objects created (would be created in check mode), as C(Kind namespace/name).
  returned: always
  type: list
  elements: str
updated:
  description: Objects whose stored state changed.
  returned: always
  type: list
  elements: str
unchanged:
  description: Objects already as the model renders them.
  returned: always
  type: list
  elements: str
pruned:
  description: Objects of this model deleted because they left it (or all of them with O(state=absent)).
  returned: always
  type: list
  elements: str
objects:
  description: The rendered objects.
  returned: when O(validate_only=true)
  type: list
  elements: dict
manifest:
  description: The rendered objects as multi-document YAML.
  returned: when O(validate_only=true), or O(state=present) and the apply succeeded
  type: str
dot:
  description: Graphviz DOT text of the model (gateways, services, subsets; weights and matches on edges).
  returned: when O(validate_only=true), or O(state=present) and the apply succeeded
  type: str
errors:
  description: Every validation error, each naming the service or gateway and the field.
  returned: when the model is invalid
  type: list
  elements: str
api_calls:
  description: Requests sent to the API server.
  returned: when the cluster was contacted for an apply or a delete
  type: int
timings:
  description: Seconds spent rendering, reading, applying and pruning.
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.yaml import HAS_YAML, yaml_dump

from ansible_collections.meshops.istio.plugins.module_utils.kube.client import (
    KubeError, require_client_libs,
)
from ansible_collections.meshops.istio.plugins.module_utils.runners.traffic import TrafficError, run
from ansible_collections.meshops.istio.plugins.module_utils.traffic.schema import ModelError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            model=dict(type="dict", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            prune=dict(type="bool", default=True),
            validate_only=dict(type="bool", default=False),
            check_hosts=dict(type="bool", default=True),
            create_namespace=dict(type="bool", default=True),
            workers=dict(type="int", default=8),
            kubeconfig=dict(type="path"),
            context=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    needs_cluster = not module.params["validate_only"] or module.params["check_hosts"]
    if needs_cluster:
        require_client_libs(module)
    try:
        result = run(module.params, check_mode=module.check_mode, want_diff=module._diff,
                     dump=yaml_dump if HAS_YAML else None)
    except ModelError as err:
        module.fail_json(msg=str(err), errors=err.errors)
    except TrafficError as err:
        module.fail_json(msg=str(err), **err.details)
    except KubeError as err:
        module.fail_json(msg="API server error: %s" % err, status=err.status, reason=err.reason)
    for warning in result.pop("warnings", []):
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
