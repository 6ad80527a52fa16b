#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: mesh_drift
short_description: Find (and correct) drift between a cluster and the desired state the collection recorded in it
version_added: "0.2.0"
description:
  - Reads every desired-state record (ConfigMaps written by M(meshops.istio.drift_record) when a stage converged)
    and the live objects they name, in one module call, and compares them field by field. Only the fields the
    collection set count (API-server defaults never do); missing objects are drift.
  - Built-in ignore rules leave out fields that controllers own (istiod's webhook C(caBundle) and validating
    C(failurePolicy), C(replicas) of workloads a HorizontalPodAutoscaler scales, C(kubectl.kubernetes.io/restartedAt),
    metadata bookkeeping, C(status)); I(ignore) adds the user's rules.
  - With I(mode=correct), server-side applies the desired fields of each drifted object (field manager
    C(meshops.istio), forced), without the ignored fields, and reports it C(corrected).
  - Never fails because of the cluster; one that cannot be read gets status C(error) (so a fleet run goes on).
    Fails only for invalid settings, before anything is read.
  - Writes C(report.json), C(report.md), C(junit.xml) and C(drift.prom) to I(report_dir).
author:
  - meshops developers (@meshops)
requirements:
  - urllib3 and PyYAML
extends_documentation_fragment:
  - meshops.istio.kube
options:
  mode:
    description: C(check) changes nothing; C(correct) re-applies the drifted objects. Check mode always checks only.
    type: str
    choices: [check, correct]
    default: check
  namespace:
    description: Namespace of the record ConfigMaps (the mesh's namespace).
    type: str
    default: istio-system
  ignore:
    description:
      - Fields that never count as drift, as Argo CD's C(ignoreDifferences)
        C({group, kind, name (glob), namespace, json_pointers}); a pointer token C(*) matches any key or list index.
    type: list
    elements: raw
    default: []
  ignore_var:
    description: The variable I(ignore) comes from, named in error messages.
    type: str
    default: mesh_drift_ignore
  cluster:
    description: The cluster's name in the reports (the inventory host).
    type: str
    required: true
  report_dir:
    description: Directory for the report files; nothing is written when empty.
    type: path
  error:
    description: Do not contact the cluster; write an C(error) report with this message (a play's rescue uses it).
    type: str
"""

EXAMPLES = r"""
- name: Check the cluster for drift
  meshops.istio.mesh_drift:
    mode: check
    cluster: "{{ inventory_hostname }}"
    report_dir: "{{ mesh_output_dir }}/drift/{{ inventory_hostname }}"
    ignore:
      - {group: apps, kind: Deployment, name: "reviews-*", json_pointers: [/spec/template/spec/containers/0/image]}
    kubeconfig: "{{ mesh_kubeconfig }}"
"""

RETURN = r"""
status:
  description: C(clean), C(drift), C(corrected) or C(error).
  returned: always
  type: str
report:
  description:
    - The report (also in report.json) with C(cluster), C(mode), C(status), C(started), C(finished), C(duration),
      C(checked), C(drifted), C(corrected), C(error) and C(objects), the drifted objects with C(stage), C(kind),
      C(apiVersion), C(namespace), C(name), C(missing), C(corrected) and C(fields) (C({path, before, after}); before is
      the applied value, after the value in the cluster; a Secret's values are redacted).
  returned: always
  type: dict
files:
  description: The report files written.
  returned: when report_dir is set
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshops.istio.plugins.module_utils.kube.client import kube_argument_spec, require_client_libs
from ansible_collections.meshops.istio.plugins.module_utils.runners.drift import check
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import run_module


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kube_argument_spec(),
            mode=dict(type="str", choices=["check", "correct"], default="check"),
            namespace=dict(type="str", default="istio-system"),
            ignore=dict(type="list", elements="raw", default=[]),
            ignore_var=dict(type="str", default="mesh_drift_ignore"),
            cluster=dict(type="str", required=True),
            report_dir=dict(type="path"),
            error=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    require_client_libs(module)
    run_module(module, check, what="drift check")


if __name__ == "__main__":
    main()
