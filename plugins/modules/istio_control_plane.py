#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: istio_control_plane
short_description: Install, upgrade or remove an Istio control plane only when the cluster differs
version_added: "0.1.0"
description:
  - Renders the manifests of an IstioOperator with C(istioctl manifest generate) (read-only), compares
    them with the live objects through a server-side dry-run apply, and runs C(istioctl install) only when
    an object is missing, differs, or should be pruned.
  - The comparison ignores what the API server and istiod write themselves (status, server bookkeeping,
    every webhook C(caBundle) and the validating webhook's C(failurePolicy)).
  - Refuses to move a revision's control plane by more than one minor release, naming both versions.
  - With I(state=absent) runs C(istioctl uninstall --revision) only when objects of that revision exist
    (the shared base objects and the CRDs stay). With I(purge=true) every revision is uninstalled that way
    and the shared base objects are deleted too. Istio's CRDs are deleted only when I(remove_crds=true)
    (C(istioctl uninstall --purge) is not used because it deletes the CRDs as well).
  - In check mode nothing is changed; C(changed) and the diff say what would be done.
author:
  - meshops developers (@meshops)
requirements:
  - urllib3 and PyYAML
  - an istioctl binary
extends_documentation_fragment:
  - meshops.istio.kube
  - meshops.istio.control_plane
options:
  istioctl:
    description: Path of the istioctl binary to run.
    type: path
    required: true
  operator:
    description:
      - The IstioOperator to install, as YAML text. Required when I(state=present); with I(state=absent) it
        is not used.
    type: str
  state:
    description: Whether the revision's control plane should be installed or removed.
    type: str
    choices: [present, absent]
    default: present
  version:
    description:
      - Istio version the operator installs (the istioctl release). Used for the one-minor-at-a-time rule.
      - Required when I(state=present).
    type: str
  field_manager:
    description: Field manager name istioctl applies with; the dry run uses the same name so that it is exact.
    type: str
    default: istio-operator
  readiness_timeout:
    description:
      - Seconds istioctl waits for the installed Deployments to become ready.
      - With I(state=absent), seconds to wait for the uninstalled objects to be gone.
    type: int
    default: 300
  purge:
    description: With I(state=absent), remove every Istio control plane of the cluster and the shared base objects.
    type: bool
    default: false
  remove_crds:
    description: With I(state=absent), also delete Istio's CustomResourceDefinitions (and with them every Istio resource).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Install the control plane only when the cluster differs from the rendered IstioOperator
  meshops.istio.istio_control_plane:
    istioctl: "{{ istioctl_path }}"
    operator: "{{ lookup('ansible.builtin.file', mesh_output_dir ~ '/control_plane/istiooperator.yaml') }}"
    version: "{{ istioctl_installed_version }}"
    kubeconfig: "{{ mesh_kubeconfig }}"

- name: Remove the canary revision, keep the CRDs
  meshops.istio.istio_control_plane:
    istioctl: "{{ istioctl_path }}"
    state: absent
    revision: canary
    kubeconfig: "{{ mesh_kubeconfig }}"
"""

RETURN = r"""
action:
  description: What was (or in check mode would be) done.
  returned: always
  type: str
  sample: install
live_version:
  description: Istio version of the revision's istiod before the run; null when there was none.
  returned: always
  type: str
  sample: 1.30.4
target_version:
  description: Istio version the operator installs.
  returned: when state is present
  type: str
  sample: 1.31.0
differences:
  description: Objects that are missing, differ or would be pruned, with the changed paths.
  returned: always
  type: list
  elements: dict
  sample: [{"object": "Service istio-system/istio-ingressgateway", "action": "update", "paths": ["spec.type"]}]
objects:
  description: Number of objects in the rendered manifest.
  returned: when state is present
  type: int
  sample: 42
command:
  description: The (first) istioctl command that ran or, in check mode, would run; empty when none.
  returned: always
  type: list
  elements: str
commands:
  description: With I(state=absent), every istioctl uninstall command, one per revision.
  returned: when state is absent
  type: list
  elements: list
stdout:
  description: Output of the istioctl command that ran.
  returned: when a command ran
  type: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meshops.istio.plugins.module_utils.istio.operator import control_plane_argument_spec
from ansible_collections.meshops.istio.plugins.module_utils.runners.control_plane import run
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import run_module
from ansible_collections.meshops.istio.plugins.module_utils.kube.client import kube_argument_spec, require_client_libs

YAML_IMPORT_ERROR = None
try:
    import yaml  # noqa: F401  pylint: disable=unused-import
except ImportError:  # pragma: no cover
    import traceback
    YAML_IMPORT_ERROR = traceback.format_exc()


def main():
    argument_spec = dict(
        kube_argument_spec(),
        istioctl=dict(type="path", required=True),
        operator=dict(type="str"),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        version=dict(type="str"),
        field_manager=dict(type="str", default="istio-operator"),
        readiness_timeout=dict(type="int", default=300),
        purge=dict(type="bool", default=False),
        remove_crds=dict(type="bool", default=False),
    )
    argument_spec.update(control_plane_argument_spec())
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[("state", "present", ("operator", "version"))],
        supports_check_mode=True,
    )
    require_client_libs(module)
    if YAML_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=YAML_IMPORT_ERROR)
    run_module(module, run, run_command=module.run_command, warn=module.warn)


if __name__ == "__main__":
    main()
