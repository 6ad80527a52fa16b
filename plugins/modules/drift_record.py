#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: drift_record
short_description: Record in the cluster the desired state a stage applied, for drift checks
version_added: "0.2.0"
description:
  - Keeps the objects a stage of the collection applied (only the fields it sets) in the ConfigMap
    C(meshops-drift-<stage>) of I(namespace), gzipped JSON in C(binaryData), labelled
    C(app.kubernetes.io/managed-by=meshops.istio), C(meshops.istio/role=drift) and C(meshops.istio/drift-stage=<stage>).
    M(meshops.istio.mesh_drift) compares the live objects with these records from any controller.
  - Writes only when the record differs from the one in the cluster; check mode reports whether it would.
  - A Secret's data is recorded as digests; the API server's bookkeeping (status, uid, resourceVersion, ...) is dropped.
  - The roles call it through C(roles/mesh/tasks/record_desired.yml); there is no need to call it by hand.
author:
  - meshops developers (@meshops)
requirements:
  - urllib3 and PyYAML
extends_documentation_fragment:
  - meshops.istio.kube
options:
  stage:
    description: The stage's name, such as C(control-plane), C(addons), C(traffic-bookinfo) (a DNS label of at most 42 characters).
    type: str
    required: true
  namespace:
    description: Namespace of the record ConfigMaps (the mesh's namespace); created when missing.
    type: str
    default: istio-system
  state:
    description: C(present) records the objects; C(absent) deletes the stage's record (the stage was removed).
    type: str
    choices: [present, absent]
    default: present
  objects:
    description: The objects the stage applied, as applied.
    type: list
    elements: dict
    default: []
  files:
    description: Manifest files (multi-document YAML) the stage applied, read on the host the module runs on.
    type: list
    elements: path
    default: []
  default_namespace:
    description: Namespace of namespaced objects that name none (as C(kubernetes.core.k8s) with C(namespace) applies them).
    type: str
  istioctl:
    description: Path of istioctl, with I(operator).
    type: path
  operator:
    description: An IstioOperator (YAML text); the objects C(istioctl manifest generate) renders from it are recorded.
    type: str
"""

EXAMPLES = r"""
- name: Record what the traffic model applied
  meshops.istio.drift_record:
    stage: traffic-shop
    namespace: istio-system
    objects: "{{ rendered_objects }}"
    kubeconfig: "{{ mesh_kubeconfig }}"
"""

RETURN = r"""
record:
  description: The record ConfigMap, as namespace/name.
  returned: always
  type: str
  sample: istio-system/meshops-drift-addons
objects:
  description: How many objects the record holds.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshops.istio.plugins.module_utils.kube.client import kube_argument_spec, require_client_libs
from ansible_collections.meshops.istio.plugins.module_utils.runners.drift import record
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import run_module


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kube_argument_spec(),
            stage=dict(type="str", required=True),
            namespace=dict(type="str", default="istio-system"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            objects=dict(type="list", elements="dict", default=[]),
            files=dict(type="list", elements="path", default=[]),
            default_namespace=dict(type="str"),
            istioctl=dict(type="path"),
            operator=dict(type="str"),
        ),
        required_together=[("istioctl", "operator")],
        supports_check_mode=True,
    )
    require_client_libs(module)
    run_module(module, record, what="drift record", run_command=lambda cmd, data=None: module.run_command(cmd, data=data))


if __name__ == "__main__":
    main()
