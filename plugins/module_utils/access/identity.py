# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks on the identities AuthorizationPolicy rules name: that mTLS can carry them, and that they exist."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils.access.authz import policy_applies
from ansible_collections.meshops.istio.plugins.module_utils.access.gates import check_result
from ansible_collections.meshops.istio.plugins.module_utils.access.mtls import effective_mtls
from ansible_collections.meshops.istio.plugins.module_utils.access.workloads import int_port, ns_name, workload_ports
from ansible_collections.meshops.istio.plugins.module_utils.kube.names import metadata, parse_principal

IDENTITY_SOURCE = ("principals", "notPrincipals", "namespaces", "notNamespaces",
                   "serviceAccounts", "notServiceAccounts")
IDENTITY_CONDITIONS = ("source.principal", "source.namespace", "source.serviceAccount")


def _identity_fields(rule):
    fields = set()
    for frm in rule.get("from") or []:
        fields.update(f for f in IDENTITY_SOURCE if (frm.get("source") or {}).get(f))
    fields.update(c.get("key") for c in rule.get("when") or [] if c.get("key") in IDENTITY_CONDITIONS)
    return sorted(fields)


def identity_guard(after, policies=None):
    """Refuse rules that name principals, namespaces or service accounts where there is no mTLS.

    Istio learns a caller's identity only from its mTLS certificate: on a workload without a
    sidecar, or on a port whose PeerAuthentication is DISABLE, such rules never match.
    ``policies`` limits the check to those (kind/namespace/name refs or objects); default all.
    """
    wanted = None
    if policies is not None:
        wanted = set((metadata(p).get("namespace") or "", metadata(p).get("name")) if "metadata" in p else
                     (p.get("namespace") or "", p.get("name")) for p in policies)
    refusals, checked = [], 0
    for policy in after["authorization_policies"]:
        key = (metadata(policy).get("namespace") or "", metadata(policy).get("name"))
        if wanted is not None and key not in wanted:
            continue
        for number, rule in enumerate((policy.get("spec") or {}).get("rules") or []):
            fields = _identity_fields(rule)
            if not fields:
                continue
            rule_ports = sorted(set(int_port(p) for t in rule.get("to") or [] for p in (t.get("operation") or {}).get("ports") or []))
            for wl in after["workloads"]:
                if not policy_applies(after, policy, wl):
                    continue
                checked += 1
                what = "%s rules[%d] uses %s" % (ns_name(policy), number, ", ".join(fields))
                if not wl["sidecar"]:
                    refusals.append("%s but %s has no sidecar, so no mTLS tells who calls it" % (what, wl["id"]))
                    continue
                for port in (rule_ports or workload_ports(after, wl) or [None]):
                    mode, by = effective_mtls(after, wl, port)
                    if mode == "DISABLE":
                        refusals.append("%s but mTLS is DISABLE on %s port %s (%s): the rule can never match" % (
                            what, wl["id"], port, by))
    return check_result("identity_mtls", checked, refusals)


def principals_check(idx, service_accounts):
    """Every principal or service account named in an AuthorizationPolicy exists (wildcards aside)."""
    accounts = set(service_accounts)
    refusals, checked = [], 0
    for policy in sorted(idx["authorization_policies"], key=ns_name):
        for number, rule in enumerate((policy.get("spec") or {}).get("rules") or []):
            names = []
            for frm in rule.get("from") or []:
                source = frm.get("source") or {}
                names += [("principal", v) for f in ("principals", "notPrincipals") for v in source.get(f) or []]
                names += [("serviceAccount", v) for f in ("serviceAccounts", "notServiceAccounts") for v in source.get(f) or []]
            for cond in rule.get("when") or []:
                if cond.get("key") == "source.principal":
                    names += [("principal", v) for v in (cond.get("values") or []) + (cond.get("notValues") or [])]
            for what, value in names:
                if "*" in value:
                    continue
                checked += 1
                if what == "principal":
                    parsed = parse_principal(value)
                    account = "%s/%s" % parsed[1:] if parsed else None
                else:
                    account = value
                if account not in accounts:
                    refusals.append("%s rules[%d]: %s %s names ServiceAccount %s, which does not exist" % (
                        ns_name(policy), number, what, value, account or "(not <td>/ns/<ns>/sa/<sa>)"))
    return check_result("principals", checked, refusals)
