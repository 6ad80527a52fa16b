# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""AuthorizationPolicy: which policies apply to a workload, which rules match a request, and the decision.

Policies are enforced by the destination's sidecar (or gateway) only. CUSTOM first, then DENY,
then ALLOW; no ALLOW policy means allow; otherwise a request must match a rule of an ALLOW policy
(``spec: {}`` is an ALLOW policy without rules: it denies all). Principals, namespaces and service
accounts are only known over mutual TLS. On TCP ports, an ALLOW rule with HTTP-only fields never
matches, while a DENY or CUSTOM rule is applied with its HTTP-only fields dropped (Istio's
documented, deliberately strict choice). A request is described by a context (see
access.matrix.request_context()).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import ipaddress
import re

from ansible_collections.meshops.istio.plugins.module_utils.access.workloads import int_port, labels_match, ns_name, selector_labels
from ansible_collections.meshops.istio.plugins.module_utils.kube.names import metadata
from ansible_collections.meshops.istio.plugins.module_utils.security.api import ACTIONS, DRY_RUN_ANNOTATION

# Decisions, as cells and checks report them.
ALLOW = "allow"
DENY = "deny"
RESET = "reset"
CUSTOM = "custom"
MIXED = "mixed"

HTTP_ONLY_SOURCE = ("requestPrincipals", "notRequestPrincipals")
HTTP_ONLY_OPERATION = ("hosts", "notHosts", "methods", "notMethods", "paths", "notPaths")


def is_dry_run(policy):
    value = (metadata(policy).get("annotations") or {}).get(DRY_RUN_ANNOTATION)
    return str(value).lower() == "true"


def _target_refs(spec):
    refs = list((spec or {}).get("targetRefs") or [])
    if (spec or {}).get("targetRef"):
        refs.append(spec["targetRef"])
    return refs


def policy_applies(idx, policy, workload):
    """Whether an AuthorizationPolicy applies to the sidecar (or gateway) of ``workload``."""
    spec = policy.get("spec") or {}
    pns = metadata(policy).get("namespace") or ""
    refs = _target_refs(spec)
    if refs:
        # Gateway API gateways are pods labelled with their gateway's name; Service and
        # ServiceEntry references bind waypoints, never sidecars.
        gw_name = workload["labels"].get("gateway.networking.k8s.io/gateway-name")
        for ref in refs:
            if ref.get("kind") == "Gateway" and ref.get("group", "gateway.networking.k8s.io") == "gateway.networking.k8s.io" \
                    and gw_name == ref.get("name") and workload["namespace"] == (ref.get("namespace") or pns):
                return True
        return False
    match = selector_labels(spec)
    if pns == idx["root_namespace"]:
        return match is None or labels_match(match, workload["labels"])
    if pns != workload["namespace"]:
        return False
    return match is None or labels_match(match, workload["labels"])


def policies_for(idx, workload):
    out = [p for p in idx["authorization_policies"] if policy_applies(idx, p, workload)]
    return sorted(out, key=lambda p: (metadata(p).get("namespace") or "", metadata(p).get("name") or ""))


def str_match(pattern, value):
    """Istio string matching: exact, 'prefix*', '*suffix', and '*' (any non-empty value)."""
    if value is None:
        return False
    pattern = str(pattern)
    if pattern == "*":
        return value != ""
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    return value == pattern


def path_match(pattern, path):
    if path is None:
        return False
    path = path.split("?", 1)[0]
    if "{*}" in pattern or "{**}" in pattern:
        parts = re.split(r"(\{\*\*\}|\{\*\})", pattern)
        regex = "".join("[^/]+" if p == "{*}" else ".*" if p == "{**}" else re.escape(p) for p in parts)
        return re.fullmatch(regex, path) is not None
    return str_match(pattern, path)


def host_match(pattern, host):
    if not host:
        return False
    bare = host.lower()
    if bare.startswith("["):
        bare = bare.split("]", 1)[0] + "]"
    elif bare.count(":") == 1:
        bare = bare.split(":", 1)[0]
    pattern = str(pattern).lower()
    return str_match(pattern, bare) or str_match(pattern, host.lower())


def ip_match(blocks, ip):
    if not ip:
        return False
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for block in blocks:
        try:
            if addr in ipaddress.ip_network(str(block), strict=False):
                return True
        except ValueError:
            continue
    return False


def _any(patterns, value, matcher=str_match):
    return any(matcher(p, value) for p in patterns)


def source_matches(source, ctx):
    """Whether one ``from[].source`` matches; all its fields must hold."""
    principal = ctx["principal"]
    ns = ctx["source_namespace"] if ctx["mtls"] else None
    sa = ("%s/%s" % (ctx["source_namespace"], ctx["source_service_account"])) if ctx["mtls"] else None
    checks = (
        ("principals", lambda v: _any(v, principal)),
        ("notPrincipals", lambda v: not _any(v, principal)),
        ("namespaces", lambda v: _any(v, ns)),
        ("notNamespaces", lambda v: not _any(v, ns)),
        ("serviceAccounts", lambda v: _any(v, sa)),
        ("notServiceAccounts", lambda v: not _any(v, sa)),
        ("ipBlocks", lambda v: ip_match(v, ctx["source_ip"])),
        ("notIpBlocks", lambda v: not ip_match(v, ctx["source_ip"])),
        ("remoteIpBlocks", lambda v: ip_match(v, ctx["remote_ip"])),
        ("notRemoteIpBlocks", lambda v: not ip_match(v, ctx["remote_ip"])),
        ("requestPrincipals", lambda v: _any(v, ctx["request_principal"])),
        ("notRequestPrincipals", lambda v: not _any(v, ctx["request_principal"])),
    )
    for field, check in checks:
        values = source.get(field)
        if values and not check(values):
            return False
    return True


def operation_matches(operation, ctx):
    port = ctx["port"]
    checks = (
        ("ports", lambda v: any(int_port(p) == port for p in v)),
        ("notPorts", lambda v: not any(int_port(p) == port for p in v)),
        ("hosts", lambda v: _any(v, ctx["host"], host_match)),
        ("notHosts", lambda v: not _any(v, ctx["host"], host_match)),
        ("methods", lambda v: _any(v, ctx["method"])),
        ("notMethods", lambda v: not _any(v, ctx["method"])),
        ("paths", lambda v: _any(v, ctx["path"], path_match)),
        ("notPaths", lambda v: not _any(v, ctx["path"], path_match)),
    )
    for field, check in checks:
        values = operation.get(field)
        if values and not check(values):
            return False
    return True


_HEADER_KEY = re.compile(r"^request\.headers\[(.+)\]$")
IP_CONDITIONS = ("source.ip", "remote.ip", "destination.ip")


def condition_value(key, ctx):
    """The attribute a ``when`` key reads; None when the request does not carry it."""
    if key == "source.ip":
        return ctx["source_ip"] or None
    if key == "remote.ip":
        return ctx["remote_ip"] or None
    if key == "destination.ip":
        return ctx["destination_ip"] or None
    if key == "destination.port":
        return str(ctx["port"])
    if key == "source.namespace":
        return ctx["source_namespace"] if ctx["mtls"] else None
    if key == "source.principal":
        return ctx["principal"]
    if key == "source.serviceAccount":
        return ("%s/%s" % (ctx["source_namespace"], ctx["source_service_account"])) if ctx["mtls"] else None
    header = _HEADER_KEY.match(key)
    if header:
        wanted = header.group(1).lower()
        for name, value in (ctx.get("headers") or {}).items():
            if name.lower() == wanted:
                return str(value)
        if wanted in (":authority", "host"):
            return ctx["host"]
        return None
    # request.auth.* (no JWT in the matrix's requests), connection.sni, experimental.*: absent
    return None


def condition_matches(cond, ctx):
    key = cond.get("key", "")
    value = condition_value(key, ctx)
    matcher = (lambda p, v: ip_match([p], v)) if key in IP_CONDITIONS else str_match
    values = cond.get("values") or []
    not_values = cond.get("notValues") or []
    if values and not any(matcher(p, value) for p in values):
        return False
    if not_values and any(matcher(p, value) for p in not_values):
        return False
    return True


def rule_has_http_only(rule):
    for frm in rule.get("from") or []:
        if any((frm.get("source") or {}).get(f) for f in HTTP_ONLY_SOURCE):
            return True
    for to in rule.get("to") or []:
        if any((to.get("operation") or {}).get(f) for f in HTTP_ONLY_OPERATION):
            return True
    return any(str(c.get("key", "")).startswith("request.") for c in rule.get("when") or [])


def strip_http_only(rule):
    out = {}
    if rule.get("from"):
        out["from"] = [{"source": {k: v for k, v in (f.get("source") or {}).items() if k not in HTTP_ONLY_SOURCE}}
                       for f in rule["from"]]
    if rule.get("to"):
        out["to"] = [{"operation": {k: v for k, v in (t.get("operation") or {}).items() if k not in HTTP_ONLY_OPERATION}}
                     for t in rule["to"]]
    if rule.get("when"):
        out["when"] = [c for c in rule["when"] if not str(c.get("key", "")).startswith("request.")]
    return out


def rule_matches(rule, ctx, action="ALLOW"):
    rule = rule or {}
    if ctx["protocol"] != "http" and rule_has_http_only(rule):
        if action in ("ALLOW", "AUDIT"):
            return False
        rule = strip_http_only(rule)
    froms = rule.get("from") or []
    if froms and not any(source_matches(f.get("source") or {}, ctx) for f in froms):
        return False
    tos = rule.get("to") or []
    if tos and not any(operation_matches(t.get("operation") or {}, ctx) for t in tos):
        return False
    return all(condition_matches(c, ctx) for c in rule.get("when") or [])


def policy_matches(policy, ctx):
    spec = policy.get("spec") or {}
    action = (spec.get("action") or "ALLOW").upper()
    return any(rule_matches(rule, ctx, action) for rule in spec.get("rules") or [])


def authorize(policies, ctx):
    """Istio's decision for one request: (decision, policy, reason)."""
    by_action = {a: [] for a in ACTIONS}
    for policy in policies:
        by_action.setdefault(((policy.get("spec") or {}).get("action") or "ALLOW").upper(), []).append(policy)
    customs = [p for p in by_action["CUSTOM"] if policy_matches(p, ctx)]
    for policy in by_action["DENY"]:
        if policy_matches(policy, ctx):
            return DENY, ns_name(policy), "matched a DENY rule of %s" % ns_name(policy)
    allows = by_action["ALLOW"]
    decision, decider, reason = ALLOW, "", "no ALLOW policy applies"
    if allows:
        matched = [p for p in allows if policy_matches(p, ctx)]
        names = ", ".join(ns_name(p) for p in allows)
        if not matched:
            return DENY, names, "no rule of the ALLOW policies (%s) matches" % names
        decider = ns_name(matched[0])
        reason = "matched an ALLOW rule of %s" % decider
    if customs:
        names = ", ".join(ns_name(p) for p in customs)
        providers = ", ".join(sorted(set(str(((p.get("spec") or {}).get("provider") or {}).get("name")) for p in customs)))
        return CUSTOM, names, "CUSTOM policy %s delegates to provider %s; %s" % (names, providers, reason)
    return decision, decider, reason
