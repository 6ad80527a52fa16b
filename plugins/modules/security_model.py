#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: security_model
short_description: Validate the mesh_security model and work out each staged step against the cluster
version_added: 0.1.0
author:
  - meshops developers (@meshops)
description:
  - Validates PeerAuthentication and AuthorizationPolicy entries of the mesh_security model; every
    problem is reported with the variable and field it is in, and the module fails before anything
    is applied. Principals must name ServiceAccounts that exist.
  - Renders the objects of each stage (PERMISSIVE then the chosen mTLS mode; dry run then enforced),
    reads what the cluster has, and returns exactly what to send for one O(step) (current
    resourceVersion included, unchanged objects left out), what to delete, and a snapshot of
    everything the run may touch.
  - Without O(apply) it reads only and reports C(changed=false). With O(apply=true) it sends the
    step in the same run (a replace of each existing object at the resourceVersion it read, so an
    object changed since then is refused rather than overwritten; a create of each new one; then
    the deletions) and reports C(changed) when there was anything to send; in check mode it only
    reports.
options:
  kubeconfig:
    description: Path to the kubeconfig. Without it, O(current) and O(service_accounts) stand for the cluster.
    type: path
  context:
    description: Kubeconfig context; the current context when omitted.
    type: str
  peer_authentications:
    description: PeerAuthentication entries (C(name), C(namespace), C(mode), C(selector), C(port_level_mtls)).
    type: list
    elements: dict
    default: []
  authorization_policies:
    description:
      - AuthorizationPolicy entries (C(name), C(namespace), C(selector) or C(target_refs), C(action),
        C(provider), C(rules) in Istio's shape).
    type: list
    elements: dict
    default: []
  mtls_stage:
    description: Final mTLS stage; C(permissive) renders STRICT modes as PERMISSIVE.
    type: str
    choices: [permissive, strict]
    default: strict
  authz_stage:
    description: Final authorization stage; C(dry_run) annotates every policy with C(istio.io/dry-run=true).
    type: str
    choices: [dry_run, enforce]
    default: enforce
  step:
    description:
      - C(validate) validates, renders and plans. C(mtls_intermediate) and C(authz_intermediate)
        give the PERMISSIVE / dry-run objects not yet at their final form; C(mtls_final) and
        C(authz_final) the final objects and the managed objects to prune; C(restore) what brings
        O(snapshot) back.
    type: str
    choices: [validate, mtls_intermediate, mtls_final, authz_intermediate, authz_final, restore]
    default: validate
  snapshot:
    description: A snapshot returned by an earlier C(validate) step, for C(restore).
    type: dict
  apply:
    description:
      - Send the step's O(step) definitions and deletions to the cluster (needs O(kubeconfig) and a
        step other than C(validate)). One module run instead of a read here and a write with
        M(kubernetes.core.k8s) after it.
    type: bool
    default: false
  check_service_accounts:
    description: Fail when a principal or service account in a rule names a ServiceAccount that does not exist.
    type: bool
    default: true
  current:
    description: PeerAuthentications and AuthorizationPolicies on the cluster, when O(kubeconfig) is not given.
    type: list
    elements: dict
    default: []
  service_accounts:
    description: Existing ServiceAccounts as C(namespace/name), when O(kubeconfig) is not given.
    type: list
    elements: str
  peer_authentications_var:
    description: Name used for O(peer_authentications) in error messages.
    type: str
    default: peer_authentications
  authorization_policies_var:
    description: Name used for O(authorization_policies) in error messages.
    type: str
    default: authorization_policies
requirements:
  - urllib3 and PyYAML, when O(kubeconfig) is given
seealso:
  - module: meshops.istio.access_matrix
"""

EXAMPLES = r"""
- name: Validate the model and plan the run
  meshops.istio.security_model:
    kubeconfig: "{{ mesh_kubeconfig }}"
    peer_authentications:
      - {name: default, namespace: bookinfo, mode: STRICT}
    authorization_policies:
      - {name: allow-nothing, namespace: bookinfo}
    peer_authentications_var: mesh_security_peer_authentications
    authorization_policies_var: mesh_security_authorization_policies
  register: model

- name: Work out and send the final PeerAuthentications (and prune the managed ones the model dropped)
  meshops.istio.security_model:
    kubeconfig: "{{ mesh_kubeconfig }}"
    peer_authentications:
      - {name: default, namespace: bookinfo, mode: STRICT}
    step: mtls_final
    apply: true
"""

RETURN = r"""
objects:
  description: Rendered objects, C(peer_authentications) and C(authorization_policies), each with C(intermediate) and C(final) lists.
  returned: always
  type: dict
plan:
  description: C(changes) (references of objects that differ from their final form), C(prune) (managed objects no longer in the model), C(changed).
  returned: always
  type: dict
snapshot:
  description: The current state of every object in the plan (null when absent), to store before changing anything.
  returned: always
  type: dict
definitions:
  description: Objects to send for the step (sent when O(apply=true)); existing ones carry their resourceVersion.
  returned: always
  type: list
  elements: dict
delete:
  description: Objects to delete for the step (C(apiVersion), C(kind), C(metadata.name), C(metadata.namespace)).
  returned: always
  type: list
  elements: dict
proposed:
  description: The step's final objects of its kind, for M(meshops.istio.access_matrix).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.meshops.istio.plugins.module_utils.kube.client import require_client_libs
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import run_module
from ansible_collections.meshops.istio.plugins.module_utils.runners.security import run
from ansible_collections.meshops.istio.plugins.module_utils.security import model as sm


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kubeconfig=dict(type="path"),
            context=dict(type="str"),
            peer_authentications=dict(type="list", elements="dict", default=[]),
            authorization_policies=dict(type="list", elements="dict", default=[]),
            mtls_stage=dict(type="str", choices=list(sm.MTLS_STAGES), default="strict"),
            authz_stage=dict(type="str", choices=list(sm.AUTHZ_STAGES), default="enforce"),
            step=dict(type="str", default="validate",
                      choices=["validate", "mtls_intermediate", "mtls_final", "authz_intermediate", "authz_final", "restore"]),
            snapshot=dict(type="dict"),
            apply=dict(type="bool", default=False),
            check_service_accounts=dict(type="bool", default=True),
            current=dict(type="list", elements="dict", default=[]),
            service_accounts=dict(type="list", elements="str"),
            peer_authentications_var=dict(type="str", default="peer_authentications"),
            authorization_policies_var=dict(type="str", default="authorization_policies"),
        ),
        supports_check_mode=True,
    )
    if module.params["kubeconfig"]:
        require_client_libs(module)
    run_module(module, run, "security model", diff=module._diff)


if __name__ == "__main__":
    main()
