# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mesh_security model: validate it, render PeerAuthentications and AuthorizationPolicies
for each stage, and work out what to send to the API server (exact replacements), what to
store before changing anything, and how to restore it.

Plain functions over plain dicts; nothing here talks to a cluster.

Model entries (role variables ``mesh_security_peer_authentications`` and
``mesh_security_authorization_policies``)::

    {name, namespace, mode, selector?, port_level_mtls?}                        # PeerAuthentication
    {name, namespace, selector? | target_refs?, action?, provider?, rules?}       # AuthorizationPolicy

``rules`` use Istio's own shape (``from[].source``, ``to[].operation``, ``when[]``).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import copy
import json
import re

from ansible_collections.meshops.istio.plugins.module_utils.kube.names import (
    describe_ref,
    is_dns_label,
    is_dns_subdomain,
    is_label_key,
    is_label_value,
    managed_labels,
    parse_principal,
    ref,
)
from ansible_collections.meshops.istio.plugins.module_utils.security.api import ACTIONS, DRY_RUN_ANNOTATION, MTLS_MODES

API_VERSION = "security.istio.io/v1"
MANAGED_LABELS = managed_labels("mesh_security")
MTLS_STAGES = ("permissive", "strict")
AUTHZ_STAGES = ("dry_run", "enforce")
KINDS = ("PeerAuthentication", "AuthorizationPolicy")

PA_KEYS = ("name", "namespace", "mode", "selector", "port_level_mtls")
AP_KEYS = ("name", "namespace", "selector", "target_refs", "action", "provider", "rules")
RULE_KEYS = ("from", "to", "when")
SOURCE_KEYS = ("principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals", "namespaces",
               "notNamespaces", "serviceAccounts", "notServiceAccounts", "ipBlocks", "notIpBlocks",
               "remoteIpBlocks", "notRemoteIpBlocks")
OPERATION_KEYS = ("hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths")
CONDITION_KEYS = ("key", "values", "notValues")
TARGET_REF_KEYS = ("group", "kind", "name", "namespace")
CONDITION_NAMES = re.compile(
    r"^(request\.headers\[[^\]]+\]|source\.ip|remote\.ip|source\.namespace|source\.principal|source\.serviceAccount|"
    r"request\.auth\.(principal|audiences|presenter)|request\.auth\.claims\[[^\]]+\](\[[^\]]+\])*|destination\.ip|"
    r"destination\.port|connection\.sni|experimental\.envoy\.filters\.[a-z_.]+\[[^\]]+\](\[[^\]]+\])*)$")


# --------------------------------------------------------------------------- validation
def _port_ok(value):
    if isinstance(value, bool):
        return False
    try:
        port = int(str(value))
    except ValueError:
        return False
    return 1 <= port <= 65535 and str(value).strip() == str(port)


def _str_list(errors, path, value):
    if not isinstance(value, list) or not value:
        errors.append("%s: %r must be a non-empty list of strings" % (path, value))
        return []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            errors.append("%s[%d]: %r must be a non-empty string" % (path, i, item))
    return [v for v in value if isinstance(v, str)]


def _unknown(errors, path, value, accepted):
    if not isinstance(value, dict):
        errors.append("%s: %r must be a mapping with keys %s" % (path, value, ", ".join(accepted)))
        return False
    extra = sorted(set(value) - set(accepted))
    if extra:
        errors.append("%s: unknown key(s) %s; accepted: %s" % (path, ", ".join(extra), ", ".join(accepted)))
    return True


def _name(errors, path, entry):
    name, ns = entry.get("name"), entry.get("namespace")
    if not is_dns_subdomain(name):
        errors.append("%s.name: %r must be a lower-case DNS name (a-z, 0-9, '-', '.')" % (path, name))
    if not is_dns_label(ns):
        errors.append("%s.namespace: %r must be a namespace name (a-z, 0-9, '-')" % (path, ns))


def _selector(errors, path, selector):
    if not isinstance(selector, dict) or not selector:
        errors.append("%s: %r must be a non-empty mapping of label names to values (matchLabels)" % (path, selector))
        return
    for key, value in selector.items():
        if not is_label_key(key):
            errors.append("%s: %r is not a valid label name" % (path, key))
        if not isinstance(value, str) or not is_label_value(value):
            errors.append("%s.%s: %r is not a valid label value (quote numbers and booleans)" % (path, key, value))


def validate_peer_authentication(entry, path):
    errors = []
    if not _unknown(errors, path, entry, PA_KEYS):
        return errors
    _name(errors, path, entry)
    mode = entry.get("mode")
    if mode not in MTLS_MODES:
        errors.append("%s.mode: %r is not one of %s" % (path, mode, ", ".join(MTLS_MODES)))
    if "selector" in entry:
        _selector(errors, path + ".selector", entry["selector"])
    levels = entry.get("port_level_mtls")
    if levels is not None:
        if not isinstance(levels, dict) or not levels:
            errors.append("%s.port_level_mtls: %r must be a mapping of port numbers to modes" % (path, levels))
        else:
            if not entry.get("selector"):
                errors.append("%s.port_level_mtls: needs a selector (Istio applies port-level mTLS to selected "
                              "workloads only)" % path)
            for port, pmode in levels.items():
                if not _port_ok(port):
                    errors.append("%s.port_level_mtls: port %r is outside 1-65535" % (path, port))
                if pmode not in MTLS_MODES:
                    errors.append("%s.port_level_mtls.%s: %r is not one of %s" % (path, port, pmode, ", ".join(MTLS_MODES)))
    return errors


def _principal_errors(path, value, service_accounts):
    if "*" in value:
        return []
    parts = parse_principal(value)
    if not parts:
        return ["%s: %r must look like <trust domain>/ns/<namespace>/sa/<service account>" % (path, value)]
    _trust_domain, namespace, account = parts
    if service_accounts is not None and "%s/%s" % (namespace, account) not in service_accounts:
        return ["%s: ServiceAccount %s/%s does not exist (principal %s)" % (path, namespace, account, value)]
    return []


def _service_account_errors(path, value, service_accounts):
    if "*" in value:
        return []
    if value.count("/") != 1:
        return ["%s: %r must look like <namespace>/<service account>" % (path, value)]
    if service_accounts is not None and value not in service_accounts:
        return ["%s: ServiceAccount %s does not exist" % (path, value)]
    return []


def _clause_fields(errors, path, rule, clause, inner, accepted):
    """(clause path, key, values) for each accepted key of rule[clause][i][inner] (from/source,
    to/operation), after reporting unknown keys at both levels."""
    for i, entry in enumerate(rule.get(clause) or []):
        cpath = "%s.%s[%d]" % (path, clause, i)
        if not _unknown(errors, cpath, entry, (inner,)):
            continue
        fields = entry.get(inner)
        if fields is None or not _unknown(errors, "%s.%s" % (cpath, inner), fields, accepted):
            continue
        for key, values in fields.items():
            if key in accepted:
                yield cpath, key, values


def _validate_rule(errors, path, rule, service_accounts):
    if not _unknown(errors, path, rule, RULE_KEYS):
        return
    for fpath, key, values in _clause_fields(errors, path, rule, "from", "source", SOURCE_KEYS):
        for j, value in enumerate(_str_list(errors, "%s.source.%s" % (fpath, key), values)):
            vpath = "%s.source.%s[%d]" % (fpath, key, j)
            if key in ("principals", "notPrincipals"):
                errors.extend(_principal_errors(vpath, value, service_accounts))
            elif key in ("serviceAccounts", "notServiceAccounts"):
                errors.extend(_service_account_errors(vpath, value, service_accounts))
    for tpath, key, values in _clause_fields(errors, path, rule, "to", "operation", OPERATION_KEYS):
        if key not in ("ports", "notPorts"):
            _str_list(errors, "%s.operation.%s" % (tpath, key), values)
        elif not isinstance(values, list) or not values:
            errors.append("%s.operation.%s: %r must be a non-empty list of ports" % (tpath, key, values))
        else:
            for j, port in enumerate(values):
                if not _port_ok(port):
                    errors.append("%s.operation.%s[%d]: port %r is outside 1-65535" % (tpath, key, j, port))
    for i, cond in enumerate(rule.get("when") or []):
        cpath = "%s.when[%d]" % (path, i)
        if not _unknown(errors, cpath, cond, CONDITION_KEYS):
            continue
        key = cond.get("key")
        if not isinstance(key, str) or not CONDITION_NAMES.match(key):
            errors.append("%s.key: %r is not an Istio condition (source.ip, remote.ip, source.namespace, "
                          "source.principal, request.headers[<name>], request.auth.*, destination.ip, "
                          "destination.port, connection.sni, experimental.envoy.filters.*)" % (cpath, key))
        if not cond.get("values") and not cond.get("notValues"):
            errors.append("%s: needs values or notValues" % cpath)
        for field in ("values", "notValues"):
            if field in cond:
                values = _str_list(errors, "%s.%s" % (cpath, field), cond[field])
                if key == "destination.port":
                    for j, port in enumerate(values):
                        if not _port_ok(port):
                            errors.append("%s.%s[%d]: port %r is outside 1-65535" % (cpath, field, j, port))
                if key == "source.principal":
                    for j, value in enumerate(values):
                        errors.extend(_principal_errors("%s.%s[%d]" % (cpath, field, j), value, service_accounts))


def validate_authorization_policy(entry, path, service_accounts=None):
    errors = []
    if not _unknown(errors, path, entry, AP_KEYS):
        return errors
    _name(errors, path, entry)
    if "selector" in entry and "target_refs" in entry:
        errors.append("%s: selector and target_refs are mutually exclusive (Istio accepts one or the other)" % path)
    if "selector" in entry:
        _selector(errors, path + ".selector", entry["selector"])
    if "target_refs" in entry:
        refs = entry["target_refs"]
        if not isinstance(refs, list) or not refs:
            errors.append("%s.target_refs: %r must be a non-empty list of {group, kind, name}" % (path, refs))
        else:
            for i, tref in enumerate(refs):
                rpath = "%s.target_refs[%d]" % (path, i)
                if _unknown(errors, rpath, tref, TARGET_REF_KEYS):
                    if not tref.get("kind") or not tref.get("name"):
                        errors.append("%s: needs kind and name" % rpath)
    action = entry.get("action", "ALLOW")
    if action not in ACTIONS:
        errors.append("%s.action: %r is not one of %s" % (path, action, ", ".join(ACTIONS)))
    if action == "CUSTOM" and not entry.get("provider"):
        errors.append("%s.provider: a CUSTOM policy needs the name of an extension provider" % path)
    if entry.get("provider") and action != "CUSTOM":
        errors.append("%s.provider: only a CUSTOM policy has a provider (action is %s)" % (path, action))
    rules = entry.get("rules")
    if rules is not None:
        if not isinstance(rules, list):
            errors.append("%s.rules: %r must be a list of rules" % (path, rules))
        else:
            for i, rule in enumerate(rules):
                _validate_rule(errors, "%s.rules[%d]" % (path, i), rule, service_accounts)
    return errors


def validate_model(peer_authentications, authorization_policies, service_accounts=None,
                   pa_var="peer_authentications", ap_var="authorization_policies"):
    """Every problem in the model, each naming the field: ``<var>[i].<field>: <what is wrong>``.

    ``service_accounts`` is a collection of 'namespace/name' that exist; None skips that check.
    """
    errors = []
    seen = {}
    for var, entries, kind, check in ((pa_var, peer_authentications, "PeerAuthentication", validate_peer_authentication),
                                      (ap_var, authorization_policies, "AuthorizationPolicy", None)):
        if not isinstance(entries, list):
            errors.append("%s: %r must be a list" % (var, entries))
            continue
        for i, entry in enumerate(entries):
            path = "%s[%d]" % (var, i)
            if check is not None:
                errors.extend(check(entry, path))
            else:
                errors.extend(validate_authorization_policy(entry, path, service_accounts))
            if isinstance(entry, dict):
                key = (kind, entry.get("namespace"), entry.get("name"))
                if key in seen:
                    errors.append("%s: %s %s/%s is also defined by %s" % (path, kind, key[1], key[2], seen[key]))
                seen.setdefault(key, path)
    return errors


# --------------------------------------------------------------------------- rendering
def _metadata(entry, annotations=None):
    metadata = {"name": entry["name"], "namespace": entry["namespace"], "labels": dict(MANAGED_LABELS)}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return metadata


def _staged_mode(mode, stage):
    return "PERMISSIVE" if stage == "permissive" and mode == "STRICT" else mode


def render_peer_authentication(entry, stage="strict"):
    """The PeerAuthentication of ``entry``; stage 'permissive' turns STRICT into PERMISSIVE."""
    spec = {}
    if entry.get("selector"):
        spec["selector"] = {"matchLabels": dict(entry["selector"])}
    spec["mtls"] = {"mode": _staged_mode(entry["mode"], stage)}
    if entry.get("port_level_mtls"):
        spec["portLevelMtls"] = dict((str(int(str(port))), {"mode": _staged_mode(mode, stage)})
                                     for port, mode in sorted(entry["port_level_mtls"].items(), key=lambda kv: int(str(kv[0]))))
    return {"apiVersion": API_VERSION, "kind": "PeerAuthentication", "metadata": _metadata(entry), "spec": spec}


def _rule(rule):
    out = {}
    if rule.get("from"):
        out["from"] = [{"source": dict(f.get("source") or {})} for f in rule["from"]]
    if rule.get("to"):
        tos = []
        for to in rule["to"]:
            operation = dict(to.get("operation") or {})
            for key in ("ports", "notPorts"):
                if key in operation:
                    operation[key] = [str(int(str(p))) for p in operation[key]]
            tos.append({"operation": operation})
        out["to"] = tos
    if rule.get("when"):
        out["when"] = [dict(c) for c in rule["when"]]
    return out


def render_authorization_policy(entry, stage="enforce"):
    """The AuthorizationPolicy of ``entry``; stage 'dry_run' adds ``istio.io/dry-run: "true"``."""
    spec = {}
    if entry.get("selector"):
        spec["selector"] = {"matchLabels": dict(entry["selector"])}
    if entry.get("target_refs"):
        spec["targetRefs"] = [dict(r) for r in entry["target_refs"]]
    if entry.get("action"):
        spec["action"] = entry["action"]
    if entry.get("provider"):
        spec["provider"] = {"name": entry["provider"]}
    if entry.get("rules"):
        spec["rules"] = [_rule(r) for r in entry["rules"]]
    annotations = {DRY_RUN_ANNOTATION: "true"} if stage == "dry_run" else None
    return {"apiVersion": API_VERSION, "kind": "AuthorizationPolicy", "metadata": _metadata(entry, annotations), "spec": spec}


def render_model(peer_authentications, authorization_policies, mtls_stage="strict", authz_stage="enforce"):
    """Objects per stage: intermediate (PERMISSIVE / dry run) and final (the chosen stage)."""
    return {
        "peer_authentications": {
            "intermediate": [render_peer_authentication(e, "permissive") for e in peer_authentications],
            "final": [render_peer_authentication(e, mtls_stage) for e in peer_authentications],
        },
        "authorization_policies": {
            "intermediate": [render_authorization_policy(e, "dry_run") for e in authorization_policies],
            "final": [render_authorization_policy(e, authz_stage) for e in authorization_policies],
        },
    }


# --------------------------------------------------------------------------- comparing and applying
KEPT_METADATA = ("name", "namespace", "labels", "annotations", "ownerReferences", "finalizers")


def ref_dict(obj):
    kind, namespace, name = ref(obj)
    return {"apiVersion": obj.get("apiVersion") or API_VERSION, "kind": kind, "namespace": namespace, "name": name}


def normalize(obj):
    """The parts of an object we own and restore: apiVersion, kind, spec, and the metadata a
    user sets (name, namespace, labels, annotations, ownerReferences, finalizers); empty maps dropped."""
    if obj is None:
        return None
    m = obj.get("metadata") or {}
    metadata = dict((k, copy.deepcopy(m[k])) for k in KEPT_METADATA if m.get(k))
    out = {"apiVersion": obj.get("apiVersion") or API_VERSION, "kind": obj.get("kind"), "metadata": metadata}
    if obj.get("spec") is not None:
        out["spec"] = copy.deepcopy(obj["spec"])
    return out


def _canon(value):
    return json.loads(json.dumps(value, sort_keys=True))


def differs(current, desired, keep_foreign=True):
    """Whether ``current`` (from the API server, or None) must change to become ``desired``.

    ``keep_foreign``: ownerReferences and finalizers that ``desired`` does not set are kept as
    they are (a rendered model object), instead of being removed (a restored snapshot).
    """
    if current is None:
        return True
    return _canon(normalize(current)) != _canon(target(current, desired, keep_foreign))


def target(current, desired, keep_foreign=True):
    """``desired`` normalized, carrying over foreign ownerReferences/finalizers when asked."""
    out = normalize(desired)
    if keep_foreign and current is not None:
        for key in ("ownerReferences", "finalizers"):
            value = (current.get("metadata") or {}).get(key)
            if value and key not in out["metadata"]:
                out["metadata"][key] = copy.deepcopy(value)
    return out


def put_definitions(desired, current, keep_foreign=True):
    """What to send with kubernetes.core.k8s ``force: true`` so each object ends exactly as desired.

    Objects that already match are left out; existing ones carry the current resourceVersion
    (custom resources refuse unconditional replacements), new ones carry none.
    """
    by_ref = dict((ref(o), o) for o in current)
    out = []
    for obj in desired:
        cur = by_ref.get(ref(obj))
        if not differs(cur, obj, keep_foreign):
            continue
        definition = target(cur, obj, keep_foreign)
        if cur is not None:
            definition["metadata"]["resourceVersion"] = (cur.get("metadata") or {}).get("resourceVersion")
        out.append(definition)
    return out


def is_managed(obj):
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in MANAGED_LABELS.items())


def prune_refs(desired, current):
    """Objects this role made earlier (managed labels) that the model no longer has."""
    wanted = set(ref(o) for o in desired)
    return [ref_dict(o) for o in sorted(current, key=ref) if o.get("kind") in KINDS and is_managed(o) and ref(o) not in wanted]


def plan(rendered, current):
    """Everything a run would do to reach the final stage, and whether anything changes at all."""
    finals = rendered["peer_authentications"]["final"] + rendered["authorization_policies"]["final"]
    by_ref = dict((ref(o), o) for o in current)
    changes = [ref_dict(o) for o in finals if differs(by_ref.get(ref(o)), o)]
    prune = prune_refs(finals, current)
    return {"changes": changes, "prune": prune, "changed": bool(changes or prune),
            "change_text": [_ref_text(r) for r in changes],
            "prune_text": [_ref_text(r) for r in prune]}


def _ref_text(r):
    return describe_ref(r["kind"], r["namespace"], r["name"])


def intermediate_definitions(intermediate, final, current):
    """The safe first step for objects not yet at their final form (PERMISSIVE, dry run)."""
    by_ref = dict((ref(o), o) for o in current)
    finals = dict((ref(o), o) for o in final)
    pending = [o for o in intermediate if differs(by_ref.get(ref(o)), finals[ref(o)])]
    return put_definitions(pending, current)


# --------------------------------------------------------------------------- snapshot and restore
def snapshot(refs, current):
    """The objects behind ``refs`` as they are now (None for absent), sorted, ready to store."""
    by_ref = dict((ref(o), o) for o in current)
    entries = []
    seen = set()
    for item in refs:
        key = (item["kind"], item.get("namespace") or "", item["name"])
        if key in seen:
            continue
        seen.add(key)
        entries.append({"ref": {"apiVersion": item.get("apiVersion") or API_VERSION, "kind": key[0],
                                "namespace": key[1], "name": key[2]},
                        "object": normalize(by_ref.get(key))})
    entries.sort(key=lambda e: (e["ref"]["kind"], e["ref"]["namespace"], e["ref"]["name"]))
    return {"format": 1, "entries": entries}


def restore_plan(snap, current):
    """Replacements and deletions that bring every snapshot entry back exactly."""
    if not isinstance(snap, dict) or snap.get("format") != 1 or not isinstance(snap.get("entries"), list):
        raise ValueError("not a mesh_security snapshot (format 1)")
    by_ref = dict((ref(o), o) for o in current)
    put, delete = [], []
    for entry in snap["entries"]:
        r = entry["ref"]
        key = (r["kind"], r.get("namespace") or "", r["name"])
        cur = by_ref.get(key)
        if entry["object"] is None:
            if cur is not None:
                delete.append(dict(r))
        else:
            put.extend(put_definitions([entry["object"]], [cur] if cur is not None else [], keep_foreign=False))
    return {"put": put, "delete": delete, "changed": bool(put or delete)}
