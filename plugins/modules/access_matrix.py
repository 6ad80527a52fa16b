#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: access_matrix
short_description: Compute who may call whom in an Istio mesh, and check a change before it is applied
version_added: 0.1.0
author:
  - meshops developers (@meshops)
description:
  - Reads pods (labels, service account, whether an C(istio-proxy) sidecar is present), Services,
    PeerAuthentications, AuthorizationPolicies, Gateways and VirtualServices from the cluster.
  - Optionally overlays objects that are not applied yet (O(proposed), O(removed)) and computes,
    for every source workload, destination Service port and request, whether Istio allows it,
    denies it (403), resets it (plaintext client against STRICT mTLS) or hands it to a CUSTOM
    provider, and which policy decided. Dry-run policies are reported as what they would decide.
  - Runs the gates and lockout guards named in O(checks) on the change from the cluster as it
    is to the cluster with the proposed objects, and reports refusals; it never fails because of
    them, the caller decides (see the mesh_security role).
  - Writes C(<report_name>.json) and C(<report_name>.md) to O(output_dir) when that is set,
    only when their content changes, and never in check mode.
extends_documentation_fragment:
  - meshops.istio.kube
options:
  namespaces:
    description: Namespaces whose workloads and Services form the matrix; empty means all but O(exclude_namespaces).
    type: list
    elements: str
    default: []
  exclude_namespaces:
    description: Namespaces left out when O(namespaces) is empty.
    type: list
    elements: str
    default: [kube-system, kube-public, kube-node-lease]
  requests:
    description:
      - Requests tried against every HTTP Service port; each has C(method), C(path) and optionally
        C(host) and C(headers). TCP ports get one connection attempt.
      - A request is identified by everything that can change the decision (method, path, host,
        headers), so requests that differ only in headers or host get cells of their own. Columns,
        table lines and changes name a request by its label, C(<method> <path>) followed, when the
        request carries a host or headers, by them in brackets, host first, then the headers by
        lower-cased name, for example C(GET / [end-user=jason]) or
        C(GET / [host=reviews.example, end-user=jason]). A request with only a method and a path is
        labelled as before, for example C(GET /).
    type: list
    elements: dict
    default: [{method: GET, path: /}]
  proposed:
    description: Objects (PeerAuthentication, AuthorizationPolicy, ...) that replace or add to what the cluster has.
    type: list
    elements: dict
    default: []
  removed:
    description: Objects (or C(kind), C(namespace), C(name) references) taken away from what the cluster has.
    type: list
    elements: dict
    default: []
  root_namespace:
    description: Istio's root namespace (mesh-wide policies).
    type: str
    default: istio-system
  trust_domain:
    description: Trust domain of the mesh's SPIFFE identities.
    type: str
    default: cluster.local
  checks:
    description:
      - Gates and guards to run on the change. C(strict_gate) refuses while a caller without sidecar
        would be reset; C(required_flows) while a flow in O(required_flows) would be denied;
        C(ingress) while a gateway would lose a VirtualService destination; C(probes) while a
        kubelet probe that is not rewritten to the sidecar would break; C(prometheus_scrape) while
        Prometheus would lose an application-port scrape target; C(identity_mtls) while a rule names
        principals, namespaces or service accounts where no mTLS can carry them;
        C(prometheus_plaintext) while Prometheus (O(prometheus_url) or O(prometheus_response)) shows
        plaintext requests to workloads the change makes STRICT; C(principals) while a rule names a
        ServiceAccount that does not exist.
    type: list
    elements: str
    choices: [strict_gate, required_flows, ingress, probes, prometheus_scrape, identity_mtls, prometheus_plaintext, principals]
    default: []
  clients:
    description:
      - Callers for C(strict_gate), each C(namespace) with C(name) (workload or pod) or C(labels).
        Empty means every workload without a sidecar outside O(gate_exclude_namespaces) and the
        Kubernetes system namespaces.
    type: list
    elements: dict
    default: []
  gate_exclude_namespaces:
    description: Namespaces whose workloads without sidecar never count as callers for C(strict_gate).
    type: list
    elements: str
    default: []
  required_flows:
    description:
      - Flows that must keep working, for C(required_flows); each has C(from) (C(namespace) with
        C(name) or C(labels)), C(to) (C(namespace), C(service), optional C(port)), C(method), C(path),
        optional C(host) and C(headers) (as in O(requests)) and an optional C(name).
    type: list
    elements: dict
    default: []
  prometheus:
    description: Where Prometheus runs, for C(prometheus_scrape) (C(namespace) and C(labels)).
    type: dict
  prometheus_url:
    description:
      - Prometheus base URL for C(prometheus_plaintext); the module asks it for requests without mutual
        TLS received over O(prometheus_window) by the workloads the change makes STRICT.
    type: str
  prometheus_window:
    description: Window of the plaintext query, a PromQL duration.
    type: str
    default: 10m
  validate_certs:
    description: Validate Prometheus's TLS certificate.
    type: bool
    default: true
  prometheus_response:
    description: A Prometheus C(/api/v1/query) answer to use instead of asking O(prometheus_url) (offline use, tests).
    type: dict
  identity_policies:
    description:
      - AuthorizationPolicies (objects or C(namespace)/C(name) references) that C(identity_mtls)
        checks; default the proposed AuthorizationPolicies, or every one when none is proposed.
    type: list
    elements: dict
  baseline:
    description:
      - What the checks compare against. C(cluster) is the cluster as it is (a change is refused when
        it breaks something that works now). C(open) is the cluster without any PeerAuthentication
        or AuthorizationPolicy (the policies in place are refused when they break something that
        would work without them), for verification after the fact.
    type: str
    choices: [cluster, open]
    default: cluster
  output_dir:
    description: Directory for the report files; nothing is written when omitted.
    type: path
  report_name:
    description: Base name of the report files.
    type: str
    default: access-matrix
requirements:
  - urllib3 and PyYAML
notes:
  - The evaluation follows Istio's documented semantics; it does not read DestinationRules (TLS
    settings there are not considered) and evaluates C(ipBlocks) with the first pod's address.
seealso:
  - module: meshops.istio.security_model
"""

EXAMPLES = r"""
- name: Show what STRICT mTLS for the bookinfo namespace would do, and gate it
  meshops.istio.access_matrix:
    kubeconfig: "{{ mesh_kubeconfig }}"
    proposed:
      - apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata: {name: default, namespace: bookinfo}
        spec: {mtls: {mode: STRICT}}
    checks: [strict_gate, probes, prometheus_scrape]
  register: gate

- name: Write the matrix of the cluster as it is
  meshops.istio.access_matrix:
    kubeconfig: "{{ mesh_kubeconfig }}"
    namespaces: [bookinfo, test]
    output_dir: "{{ mesh_output_dir }}"
"""

RETURN = r"""
matrix:
  description:
    - Sources, destinations, requests and one cell per source x destination x request.
    - A cell holds the request's C(method) and C(path), and its C(host) and C(headers) only when the request has them.
  returned: always
  type: dict
table:
  description: "One line per cell: C(source -> destination request: DECISION (policy)), the request named by its label (see O(requests))."
  returned: always
  type: list
  elements: str
grid:
  description: The matrix as aligned rows, one per source, one column per destination and request label (see O(requests)).
  returned: always
  type: list
  elements: str
changes:
  description:
    - Cells whose decision differs between the cluster and the cluster with the proposed objects, each
      request compared with the same request (same method, path, host and headers).
    - "Each has C(source), C(destination), C(method), C(path), C(host) and C(headers) when the request has them,
      C(before), C(after) and C(text) (C(source -> destination request: BEFORE => AFTER))."
  returned: always
  type: list
  elements: dict
checks:
  description: One result per check, with C(name), C(passed), C(checked), C(refusals) and C(notes).
  returned: always
  type: list
  elements: dict
refusals:
  description: Every refusal, prefixed with its check's name.
  returned: always
  type: list
  elements: str
summary:
  description: "One line per check: C(<name>: PASSED|REFUSED|SKIPPED ...)."
  returned: always
  type: list
  elements: str
passed:
  description: Whether every check passed.
  returned: always
  type: bool
files:
  description: The report files (written or, in check mode, that would be written).
  returned: when output_dir is set
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import fetch_url
from ansible_collections.meshops.istio.plugins.module_utils.access import workloads as aw
from ansible_collections.meshops.istio.plugins.module_utils.kube.client import kube_argument_spec, require_client_libs
from ansible_collections.meshops.istio.plugins.module_utils.runners.access import CHECKS, run
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import run_module


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kube_argument_spec(),
            namespaces=dict(type="list", elements="str", default=[]),
            exclude_namespaces=dict(type="list", elements="str", default=list(aw.SYSTEM_NAMESPACES)),
            requests=dict(type="list", elements="dict", default=[{"method": "GET", "path": "/"}]),
            proposed=dict(type="list", elements="dict", default=[]),
            removed=dict(type="list", elements="dict", default=[]),
            root_namespace=dict(type="str", default=aw.ROOT_NAMESPACE),
            trust_domain=dict(type="str", default=aw.TRUST_DOMAIN),
            checks=dict(type="list", elements="str", default=[], choices=list(CHECKS)),
            clients=dict(type="list", elements="dict", default=[]),
            gate_exclude_namespaces=dict(type="list", elements="str", default=[]),
            required_flows=dict(type="list", elements="dict", default=[]),
            prometheus=dict(type="dict"),
            prometheus_url=dict(type="str"),
            prometheus_window=dict(type="str", default="10m"),
            validate_certs=dict(type="bool", default=True),
            prometheus_response=dict(type="dict"),
            identity_policies=dict(type="list", elements="dict"),
            baseline=dict(type="str", choices=["cluster", "open"], default="cluster"),
            output_dir=dict(type="path"),
            report_name=dict(type="str", default="access-matrix"),
        ),
        supports_check_mode=True,
    )
    require_client_libs(module)
    run_module(module, run, "access matrix", fetch=lambda url: fetch_url(module, url, method="GET"))


if __name__ == "__main__":
    main()
