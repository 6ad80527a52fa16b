#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: mesh_probe
short_description: Send test calls from a pod of the mesh and summarise what answered
version_added: "0.1.0"
description:
  - Runs a probe command (the argv prefix in O(command), for example the lab's C(lab.py probe)
    from C(verify_probe_command)) that sends gRPC calls from a pod to C(HOST:PORT) and prints one
    JSON object with its C(calls) (code, answering version and pod, milliseconds, error).
  - Returns that object plus a C(summary) - calls counted by code, by answering version and by
    outcome (C(allowed) = OK, C(denied) = PermissionDenied, C(refused) = Unavailable on a connection
    or handshake error, C(timeout) = DeadlineExceeded, otherwise the code's name) - and latency
    min/median/max in milliseconds.
  - With O(probes), runs the command once with C(--batch) (the probes as a JSON list on stdin) and
    returns one such result per probe in O(probes)' order.
  - Never changes anything (a probe only sends test calls); runs in check mode too.
author:
  - meshops developers (@meshops)
options:
  command:
    description:
      - The probe command's argv prefix; the module appends C(--from), C(--to), C(--count),
        C(--timeout), C(-H key=value) per header and C(--plain) (or C(--batch) with O(probes)).
    type: list
    elements: str
    required: true
  source:
    description: The calling pod, C(NAMESPACE/APP[/VERSION]) or C(NAMESPACE/POD). Required unless O(probes) is given.
    type: str
  to:
    description: C(HOST:PORT) to call, for example C(reviews.bookinfo.svc.cluster.local:9080). Required unless O(probes) is given.
    type: str
  headers:
    description: Request headers (gRPC metadata) to send with every call.
    type: dict
    default: {}
  count:
    description: Calls to send, one after the other.
    type: int
    default: 1
  timeout:
    description: Deadline of each call, in seconds.
    type: float
    default: 10.0
  plain:
    description: Call without the mesh (no xDS, no mTLS), as a client without sidecar, even from a mesh pod.
    type: bool
    default: false
  probes:
    description:
      - Several probes in one run of the command (C(--batch)); each has C(source), C(to) and optionally
        C(headers), C(count), C(timeout), C(plain) as above. Mutually exclusive with O(source) and O(to).
    type: list
    elements: dict
    default: []
notes:
  - Supports check mode; the calls are sent in check mode as well, since they change nothing.
"""

EXAMPLES = r"""
- name: Ten calls to reviews from productpage, as jason
  meshops.istio.mesh_probe:
    command: "{{ verify_probe_command }}"
    source: bookinfo/productpage
    to: reviews.bookinfo.svc.cluster.local:9080
    headers:
      end-user: jason
    count: 10
  register: probe

- name: Show which versions answered
  ansible.builtin.debug:
    msg: "{{ probe.summary.versions }}"
"""

RETURN = r"""
source:
  description: The calling pod (namespace, pod, app, version, mesh, service_account).
  returned: with source and to
  type: dict
target:
  description: What the client dialled (C(xds:///HOST:PORT), or C(IP:PORT) for a plain client).
  returned: with source and to
  type: str
mode:
  description: C(mesh) or C(plain).
  returned: with source and to
  type: str
calls:
  description: One entry per call, C({i, code, version, host, ms, error}).
  returned: with source and to
  type: list
  elements: dict
summary:
  description: C(calls), C(codes), C(versions) (answered calls only), C(outcomes) and C(latency_ms) (C(min), C(median), C(max)).
  returned: with source and to
  type: dict
  sample: {calls: 10, codes: {OK: 10}, versions: {v1: 10}, outcomes: {allowed: 10}, latency_ms: {min: 1.2, median: 2.0, max: 9.5}}
results:
  description: With O(probes), one result (the keys above) per probe, in order.
  returned: with probes
  type: list
  elements: dict
cmd:
  description: The command that ran.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import RunnerError
from ansible_collections.meshops.istio.plugins.module_utils.runners.probe import run


def main():
    module = AnsibleModule(
        argument_spec=dict(
            command=dict(type="list", elements="str", required=True),
            source=dict(type="str"),
            to=dict(type="str"),
            headers=dict(type="dict", default={}),
            count=dict(type="int", default=1),
            timeout=dict(type="float", default=10.0),
            plain=dict(type="bool", default=False),
            probes=dict(type="list", elements="dict", default=[]),
        ),
        supports_check_mode=True,
    )

    def run_command(argv, data=None):
        return module.run_command(argv, data=data, binary_data=data is not None)

    try:
        result = run(module.params, run_command)
    except RunnerError as exc:
        module.fail_json(**exc.result())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
