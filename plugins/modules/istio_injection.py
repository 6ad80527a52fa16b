#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: istio_injection
short_description: Turn on Istio sidecar injection for namespaces and restart only the workloads that lack it
version_added: "0.1.0"
description:
  - Labels each namespace C(istio-injection=enabled), or C(istio.io/rev=<revision>) when a revision is
    given, creating the namespace when it does not exist.
  - Refuses a namespace that would carry both labels, naming it, unless I(label_conflict=replace), which
    removes the other label in the same patch (the revision-based canary upgrade moves namespaces that way).
  - With I(restart=true), restarts (like C(kubectl rollout restart)) only the Deployments whose current
    pods lack the C(istio-proxy) container or carry a sidecar injected by another revision, then waits
    for their rollout. Deployments that opt out (C(sidecar.istio.io/inject=false)) or use the host
    network are left alone.
  - Every namespace is checked before anything changes. Check mode reports what would change.
  - With I(state=absent), removes both injection labels from the namespaces that exist (none is created)
    and, with I(restart=true), restarts the Deployments whose pods still carry the sidecar, so that they
    leave the mesh; RV(labelled) then lists the labels removed.
author:
  - meshops developers (@meshops)
requirements:
  - urllib3 and PyYAML
extends_documentation_fragment:
  - meshops.istio.kube
options:
  namespaces:
    description: Namespaces to put in the mesh (or, with I(state=absent), to take out of it).
    type: list
    elements: str
    required: true
  state:
    description: C(present) labels the namespaces for injection; C(absent) removes the labels.
    type: str
    choices: [present, absent]
    default: present
  revision:
    description: Istio revision whose injector should serve the namespaces; empty for the default revision.
    type: str
    default: ""
  label_conflict:
    description: What to do when a namespace carries the other injection label.
    type: str
    choices: [fail, replace]
    default: fail
  restart:
    description: Restart the Deployments whose pods lack the right sidecar (with I(state=absent), those that still have one).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for restarted Deployments to finish their rollout.
    type: int
    default: 300
"""

EXAMPLES = r"""
- name: Put the default namespace in the mesh and restart what is not injected yet
  meshops.istio.istio_injection:
    namespaces: [default]
    kubeconfig: "{{ mesh_kubeconfig }}"

- name: Move namespaces to the canary revision
  meshops.istio.istio_injection:
    namespaces: [default, shop]
    revision: canary
    label_conflict: replace
    kubeconfig: "{{ mesh_kubeconfig }}"
"""

RETURN = r"""
created:
  description: Namespaces that were (or would be) created.
  returned: always
  type: list
  elements: str
labelled:
  description: Namespaces whose labels were (or would be) changed, with the label patch.
  returned: always
  type: dict
restarted:
  description: Deployments restarted (or that would be), as namespace/name with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{"deployment": "default/ratings-v1", "reason": "pod ratings-v1-5c9 has no istio-proxy container"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshops.istio.plugins.module_utils.runners.injection import run
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import run_module
from ansible_collections.meshops.istio.plugins.module_utils.kube.client import kube_argument_spec, require_client_libs


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kube_argument_spec(),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            namespaces=dict(type="list", elements="str", required=True),
            revision=dict(type="str", default=""),
            label_conflict=dict(type="str", choices=["fail", "replace"], default="fail"),
            restart=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    require_client_libs(module)
    run_module(module, run)


if __name__ == "__main__":
    main()
