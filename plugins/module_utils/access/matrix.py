# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who may call whom in an Istio mesh: a pure evaluator of Kubernetes and Istio objects.

Everything here takes plain dicts (objects as the API server returns them) and returns plain
dicts; nothing talks to a cluster. The semantics follow Istio's documentation:

* Workloads are pods grouped by owner (a Deployment's pods form one workload). A workload is in
  the mesh when a pod carries an ``istio-proxy`` container (or a native-sidecar init container).
* PeerAuthentication: the oldest workload policy (selector, same namespace) wins over the oldest
  namespace policy, which wins over the oldest mesh policy (root namespace, no selector).
  ``UNSET`` inherits from the next level; nothing set means PERMISSIVE. ``portLevelMtls`` only
  counts on workload policies and is keyed by the workload (target) port.
* A client without a sidecar talks plaintext; a STRICT destination port resets it. A client with
  a sidecar uses mutual TLS unless the destination port is DISABLE (auto mTLS).
* AuthorizationPolicy: enforced by the destination's sidecar only (no sidecar, nothing enforced).
  CUSTOM first, then DENY, then ALLOW; no ALLOW policy means allow; otherwise a request must
  match a rule of an ALLOW policy (``spec: {}`` is an ALLOW policy without rules: it denies all).
  Principals, namespaces and service accounts are only known over mutual TLS. Policies annotated
  ``istio.io/dry-run: "true"`` do not enforce; the decision they would make is reported apart.
* On TCP ports, an ALLOW rule with HTTP-only fields never matches, while a DENY or CUSTOM rule
  is applied with its HTTP-only fields dropped (Istio's documented, deliberately strict choice).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import ipaddress
import re

ROOT_NAMESPACE = "istio-system"
TRUST_DOMAIN = "cluster.local"
PROXY_CONTAINER = "istio-proxy"
DRY_RUN_ANNOTATION = "istio.io/dry-run"
# Ports served by the sidecar itself; iptables never sends them through the inbound chain, so no
# PeerAuthentication or AuthorizationPolicy applies to them (merged metrics, health, Envoy stats).
SIDECAR_OWN_PORTS = (15020, 15021, 15090)
MTLS_MODES = ("UNSET", "DISABLE", "PERMISSIVE", "STRICT")
ACTIONS = ("ALLOW", "DENY", "AUDIT", "CUSTOM")
DEFAULT_REQUESTS = ({"method": "GET", "path": "/"},)
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")

ALLOW = "allow"
DENY = "deny"
RESET = "reset"
CUSTOM = "custom"
MIXED = "mixed"

HTTP_PROTOCOLS = ("http", "http2", "grpc", "grpc-web")
HTTP_ONLY_SOURCE = ("requestPrincipals", "notRequestPrincipals")
HTTP_ONLY_OPERATION = ("hosts", "notHosts", "methods", "notMethods", "paths", "notPaths")
IDENTITY_SOURCE = ("principals", "notPrincipals", "namespaces", "notNamespaces",
                   "serviceAccounts", "notServiceAccounts")
IDENTITY_CONDITIONS = ("source.principal", "source.namespace", "source.serviceAccount")


# --------------------------------------------------------------------------- small helpers
def meta(obj):
    return obj.get("metadata") or {}


def obj_ref(obj):
    """(kind, namespace, name): the identity used to overlay proposed objects."""
    m = meta(obj)
    return (obj.get("kind"), m.get("namespace") or "", m.get("name"))


def ref_text(obj):
    m = meta(obj)
    return "%s/%s" % (m.get("namespace") or "", m.get("name"))


def labels_of(obj):
    return meta(obj).get("labels") or {}


def is_dry_run(policy):
    value = (meta(policy).get("annotations") or {}).get(DRY_RUN_ANNOTATION)
    return str(value).lower() == "true"


def selector_labels(spec):
    """matchLabels of a policy's selector, or None when the policy has no (or an empty) selector."""
    selector = (spec or {}).get("selector") or {}
    match = selector.get("matchLabels") or {}
    return dict(match) if match else None


def labels_match(match, labels):
    return all(labels.get(k) == v for k, v in (match or {}).items())


def _age_key(obj):
    m = meta(obj)
    return (m.get("creationTimestamp") or "", m.get("namespace") or "", m.get("name") or "")


def _int_port(value):
    try:
        port = int(value)
    except (TypeError, ValueError):
        return None
    return port if 1 <= port <= 65535 else None


# --------------------------------------------------------------------------- objects in
def overlay(objects, proposed=None, removed=None):
    """The object list as it would be after applying ``proposed`` and deleting ``removed``.

    ``proposed`` objects replace objects of the same kind, namespace and name (or are added);
    ``removed`` is a list of dicts or objects with kind, namespace and name.
    """
    proposed = list(proposed or [])
    gone = set()
    for item in removed or []:
        if "metadata" in item:
            gone.add(obj_ref(item))
        else:
            gone.add((item.get("kind"), item.get("namespace") or "", item.get("name")))
    replaced = set(obj_ref(o) for o in proposed)
    out = [o for o in objects if obj_ref(o) not in replaced and obj_ref(o) not in gone]
    out.extend(o for o in proposed if obj_ref(o) not in gone)
    return out


def _active_pod(pod):
    if meta(pod).get("deletionTimestamp"):
        return False
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed")


def has_sidecar(pod):
    spec = pod.get("spec") or {}
    if any(c.get("name") == PROXY_CONTAINER for c in spec.get("containers") or []):
        return True
    return any(c.get("name") == PROXY_CONTAINER and c.get("restartPolicy") == "Always"
               for c in spec.get("initContainers") or [])


def is_gateway(pod):
    """A gateway pod: Envoy runs as ``proxy router`` (or the gateway injection template, or a Gateway
    API gateway). Its listeners come from Gateway objects, not from PeerAuthentication."""
    meta_ = meta(pod)
    if labels_of(pod).get("gateway.networking.k8s.io/gateway-name"):
        return True
    if "gateway" in str((meta_.get("annotations") or {}).get("inject.istio.io/templates", "")).split(","):
        return True
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == PROXY_CONTAINER and "router" in (container.get("args") or []):
            return True
    return False


def workload_identity(pod):
    """(kind, name) of the workload a pod belongs to: Deployment behind a ReplicaSet, else owner."""
    m = meta(pod)
    owners = [o for o in m.get("ownerReferences") or [] if o.get("controller")] or (m.get("ownerReferences") or [])
    if not owners:
        return "Pod", m.get("name")
    owner = owners[0]
    name = owner.get("name")
    pod_hash = labels_of(pod).get("pod-template-hash")
    if owner.get("kind") == "ReplicaSet" and pod_hash and name.endswith("-" + pod_hash):
        return "Deployment", name[:-len(pod_hash) - 1]
    return owner.get("kind"), name


def build_index(objects, root_namespace=ROOT_NAMESPACE, trust_domain=TRUST_DOMAIN):
    """Group objects by kind and pods into workloads. ``objects`` is a flat list of dicts."""
    idx = {"root_namespace": root_namespace, "trust_domain": trust_domain, "pods": [], "services": [],
           "peer_authentications": [], "authorization_policies": [], "virtual_services": [],
           "gateways": [], "service_accounts": [], "workloads": []}
    kinds = {"Pod": "pods", "Service": "services", "PeerAuthentication": "peer_authentications",
             "AuthorizationPolicy": "authorization_policies", "VirtualService": "virtual_services",
             "Gateway": "gateways", "ServiceAccount": "service_accounts"}
    for obj in objects:
        key = kinds.get(obj.get("kind"))
        if key == "gateways" and not str(obj.get("apiVersion", "")).startswith("networking.istio.io/"):
            continue
        if key:
            idx[key].append(obj)
    groups = {}
    for pod in sorted(idx["pods"], key=lambda p: (meta(p).get("namespace") or "", meta(p).get("name") or "")):
        if not _active_pod(pod):
            continue
        kind, name = workload_identity(pod)
        groups.setdefault((meta(pod).get("namespace") or "", kind, name), []).append(pod)
    for (namespace, kind, name), pods in sorted(groups.items()):
        rep = pods[0]
        sidecars = [has_sidecar(p) for p in pods]
        labels = dict(labels_of(rep))
        labels.pop("pod-template-hash", None)
        idx["workloads"].append({
            "namespace": namespace, "name": name, "kind": kind,
            "id": "%s/%s" % (namespace, name),
            "service_account": (rep.get("spec") or {}).get("serviceAccountName") or "default",
            "sidecar": all(sidecars), "mixed_sidecar": len(set(sidecars)) > 1, "gateway": is_gateway(rep),
            "labels": labels,
            "pods": [meta(p).get("name") for p in pods],
            "ip": (rep.get("status") or {}).get("podIP") or "",
            "host_ip": (rep.get("status") or {}).get("hostIP") or "",
            "pod": rep,
        })
    return idx


def find_workload(idx, namespace, name=None, labels=None):
    """The workloads in ``namespace`` named ``name`` or carrying ``labels``."""
    out = []
    for wl in idx["workloads"]:
        if wl["namespace"] != namespace:
            continue
        if name and wl["name"] != name and name not in wl["pods"]:
            continue
        if labels and not labels_match(labels, wl["labels"]):
            continue
        out.append(wl)
    return out


def synthetic_workload(namespace, name, service_account="default", sidecar=False, labels=None, ip="", host_ip=""):
    """A source that is not a pod (the kubelet, a Prometheus not found, a gateway to come)."""
    return {"namespace": namespace or "", "name": name, "kind": "Synthetic", "id": "%s/%s" % (namespace or "-", name),
            "service_account": service_account, "sidecar": sidecar, "mixed_sidecar": False, "gateway": False,
            "labels": dict(labels or {}), "pods": [], "ip": ip, "host_ip": host_ip, "pod": {}}


# --------------------------------------------------------------------------- services and ports
def port_protocol(port):
    """'http' or 'tcp' for a Service port, by appProtocol, then name prefix; unnamed ports are sniffed (http)."""
    app = (port.get("appProtocol") or "").lower()
    name = (port.get("name") or "").lower()
    proto = app or name.split("-", 1)[0]
    if (port.get("protocol") or "TCP").upper() != "TCP":
        return "other"
    if not proto:
        return "http"
    if proto in HTTP_PROTOCOLS or proto.startswith("kubernetes.io/h2c") or proto.startswith("kubernetes.io/ws"):
        return "http"
    if not app and name and proto not in ("tcp", "tls", "https", "mongo", "mysql", "redis", "udp", "sctp"):
        # an unknown name prefix is not a protocol declaration: Istio sniffs the traffic
        return "http"
    return "tcp"


def resolve_target_port(service_port, pod):
    """The container port a Service port sends to on ``pod`` (named target ports resolved)."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == PROXY_CONTAINER:
            continue
        for cport in container.get("ports") or []:
            if cport.get("name") == target:
                return int(cport.get("containerPort"))
    return None


def service_backends(idx, service):
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        return []
    ns = meta(service).get("namespace") or ""
    return [wl for wl in idx["workloads"] if wl["namespace"] == ns and labels_match(selector, wl["labels"])]


def destinations(idx, namespaces=None):
    """Every (service, port) with at least one backend workload, sorted."""
    out = []
    for svc in sorted(idx["services"], key=lambda s: (meta(s).get("namespace") or "", meta(s).get("name"))):
        ns = meta(svc).get("namespace") or ""
        if namespaces is not None and ns not in namespaces:
            continue
        backends = service_backends(idx, svc)
        if not backends:
            continue
        for port in (svc.get("spec") or {}).get("ports") or []:
            protocol = port_protocol(port)
            if protocol == "other":
                continue
            out.append({"service": meta(svc).get("name"), "namespace": ns, "port": int(port.get("port")),
                        "protocol": protocol, "service_port": port, "backends": backends,
                        "id": "%s.%s:%s" % (meta(svc).get("name"), ns, port.get("port"))})
    return out


# --------------------------------------------------------------------------- PeerAuthentication
def peer_authentication_chain(idx, workload):
    """(workload PA, namespace PA, mesh PA) that apply to ``workload``; each may be None."""
    root = idx["root_namespace"]
    ns = workload["namespace"]
    wl_pas, ns_pas, mesh_pas = [], [], []
    for pa in idx["peer_authentications"]:
        pns = meta(pa).get("namespace") or ""
        match = selector_labels(pa.get("spec"))
        if match is None:
            if pns == root:
                mesh_pas.append(pa)
            if pns == ns and pns != root:
                ns_pas.append(pa)
        elif pns == ns and labels_match(match, workload["labels"]):
            wl_pas.append(pa)
    pick = [sorted(group, key=_age_key)[0] if group else None for group in (wl_pas, ns_pas, mesh_pas)]
    return tuple(pick)


def _mode_of(pa):
    mode = (((pa or {}).get("spec") or {}).get("mtls") or {}).get("mode") or "UNSET"
    return mode.upper()


def port_level_mode(pa, port):
    levels = ((pa or {}).get("spec") or {}).get("portLevelMtls") or {}
    for key, value in levels.items():
        if _int_port(key) == port:
            return ((value or {}).get("mode") or "UNSET").upper()
    return "UNSET"


def effective_mtls(idx, workload, port):
    """(mode, decided_by) for ``workload`` on target ``port``; decided_by is 'ns/name' or 'default'."""
    wl_pa, ns_pa, mesh_pa = peer_authentication_chain(idx, workload)
    if wl_pa is not None and port is not None:
        mode = port_level_mode(wl_pa, port)
        if mode != "UNSET":
            return mode, "%s port %s" % (ref_text(wl_pa), port)
    for pa in (wl_pa, ns_pa, mesh_pa):
        if pa is not None and _mode_of(pa) != "UNSET":
            return _mode_of(pa), ref_text(pa)
    return "PERMISSIVE", "default"


# --------------------------------------------------------------------------- AuthorizationPolicy
def _target_refs(spec):
    refs = list((spec or {}).get("targetRefs") or [])
    if (spec or {}).get("targetRef"):
        refs.append(spec["targetRef"])
    return refs


def policy_applies(idx, policy, workload):
    """Whether an AuthorizationPolicy applies to the sidecar (or gateway) of ``workload``."""
    spec = policy.get("spec") or {}
    pns = meta(policy).get("namespace") or ""
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
    return sorted(out, key=lambda p: (meta(p).get("namespace") or "", meta(p).get("name") or ""))


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
        ("ports", lambda v: any(_int_port(p) == port for p in v)),
        ("notPorts", lambda v: not any(_int_port(p) == port for p in v)),
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
            return DENY, ref_text(policy), "matched a DENY rule of %s" % ref_text(policy)
    allows = by_action["ALLOW"]
    decision, decider, reason = ALLOW, "", "no ALLOW policy applies"
    if allows:
        matched = [p for p in allows if policy_matches(p, ctx)]
        names = ", ".join(ref_text(p) for p in allows)
        if not matched:
            return DENY, names, "no rule of the ALLOW policies (%s) matches" % names
        decider = ref_text(matched[0])
        reason = "matched an ALLOW rule of %s" % decider
    if customs:
        names = ", ".join(ref_text(p) for p in customs)
        providers = ", ".join(sorted(set(str(((p.get("spec") or {}).get("provider") or {}).get("name")) for p in customs)))
        return CUSTOM, names, "CUSTOM policy %s delegates to provider %s; %s" % (names, providers, reason)
    return decision, decider, reason


def request_context(idx, source, dest, port, protocol, request, mtls):
    td = idx["trust_domain"]
    principal = None
    if mtls:
        principal = "%s/ns/%s/sa/%s" % (td, source["namespace"], source["service_account"])
    return {
        "mtls": mtls, "principal": principal, "source_namespace": source["namespace"],
        "source_service_account": source["service_account"],
        "source_ip": source.get("ip") or "", "remote_ip": source.get("ip") or "",
        "destination_ip": dest.get("ip") or "", "port": port, "protocol": protocol,
        "method": request.get("method") if protocol == "http" else None,
        "path": request.get("path") if protocol == "http" else None,
        "host": request.get("host") if protocol == "http" else None,
        "headers": request.get("headers") or {}, "request_principal": request.get("request_principal"),
    }


def evaluate(idx, source, dest, port, protocol="http", request=None):
    """Decide one request from ``source`` to workload ``dest`` on target ``port``.

    Returns decision (allow, deny, reset, custom), policy (who decided), reason, mtls
    (mutual_tls, plaintext), mode (effective PeerAuthentication mode and its policy), and
    ``would``: the decision if the dry-run policies were enforced too, when it differs.
    """
    request = dict(request or DEFAULT_REQUESTS[0])
    result = {"decision": ALLOW, "policy": "", "reason": "", "mtls": "plaintext", "mode": "", "would": None}
    if not dest["sidecar"]:
        result["reason"] = "destination has no sidecar: nothing is enforced"
        result["mode"] = "none"
        return result
    if dest.get("gateway"):
        # a gateway's listeners follow its Gateway servers (TLS there is not mesh mTLS)
        result["mode"] = "none (gateway)"
        ctx = request_context(idx, source, dest, port, protocol, dict(request), False)
        return _authorize_into(result, policies_for(idx, dest), ctx)
    mode, mode_by = effective_mtls(idx, dest, port)
    result["mode"] = "%s (%s)" % (mode, mode_by)
    if port in SIDECAR_OWN_PORTS:
        result["reason"] = "port %s is served by the sidecar itself" % port
        return result
    if source["sidecar"] and mode != "DISABLE":
        result["mtls"] = "mutual_tls"
    elif mode == "STRICT":
        result.update(decision=RESET, policy=mode_by,
                      reason="plaintext client refused by STRICT mTLS (%s): connection reset" % mode_by)
        return result
    ctx = request_context(idx, source, dest, port, protocol, request, result["mtls"] == "mutual_tls")
    return _authorize_into(result, policies_for(idx, dest), ctx)


def _authorize_into(result, policies, ctx):
    enforced = [p for p in policies if not is_dry_run(p)]
    decision, decider, reason = authorize(enforced, ctx)
    result.update(decision=decision, policy=decider, reason=reason)
    if len(enforced) != len(policies):
        would, would_by, would_reason = authorize(policies, ctx)
        if would != decision:
            result["would"] = {"decision": would, "policy": would_by, "reason": would_reason + " (dry run)"}
    return result


# --------------------------------------------------------------------------- the matrix
def _request_for(request, dest):
    req = dict(request)
    req.setdefault("method", "GET")
    req.setdefault("path", "/")
    if not req.get("host"):
        req["host"] = "%s.%s.svc.cluster.local:%s" % (dest["service"], dest["namespace"], dest["port"])
    return req


def _summarise(results):
    """One cell from the per-backend results of a Service."""
    keys = set((r["decision"], r["policy"], (r["would"] or {}).get("decision")) for r in results)
    first = dict(results[0])
    if len(keys) == 1:
        return first
    first["decision"] = MIXED
    first["policy"] = "; ".join(sorted(set(r["policy"] for r in results if r["policy"])))
    first["reason"] = "; ".join("%s: %s" % (r["backend"], r["decision"]) for r in results)
    first["would"] = None
    return first


def evaluate_service(idx, source, dest, request):
    """Decide a request from ``source`` to a Service port (``dest`` from destinations())."""
    req = _request_for(request, dest)
    results = []
    for backend in dest["backends"]:
        target = resolve_target_port(dest["service_port"], backend["pod"])
        if target is None:
            continue
        res = evaluate(idx, source, backend, target, dest["protocol"], req)
        res["backend"] = backend["id"]
        res["target_port"] = target
        results.append(res)
    if not results:
        return None
    cell = _summarise(results)
    cell["backends"] = [{k: r[k] for k in ("backend", "target_port", "decision", "policy", "mtls", "would")} for r in results]
    return cell


def _namespace_filter(namespaces, exclude_namespaces):
    def wanted(ns):
        if namespaces:
            return ns in namespaces
        return ns not in (exclude_namespaces or ())
    return wanted


def as_index(objects, root_namespace=ROOT_NAMESPACE, trust_domain=TRUST_DOMAIN):
    if isinstance(objects, dict) and "workloads" in objects:
        return objects
    return build_index(objects, root_namespace, trust_domain)


def compute_matrix(objects, requests=None, namespaces=None, exclude_namespaces=SYSTEM_NAMESPACES,
                   root_namespace=ROOT_NAMESPACE, trust_domain=TRUST_DOMAIN, sources=None, extra_sources=None):
    """The access matrix: every source workload x Service port x request.

    ``objects`` is a list of objects (or an index from build_index()). ``namespaces`` limits
    sources and destinations (empty: every namespace but ``exclude_namespaces``). ``sources``
    replaces the automatic list of source workloads; ``extra_sources`` adds to it (see
    synthetic_workload()).
    """
    idx = as_index(objects, root_namespace, trust_domain)
    requests = [dict(r) for r in (requests or DEFAULT_REQUESTS)]
    wanted = _namespace_filter(namespaces, exclude_namespaces)
    if sources is None:
        sources = [w for w in idx["workloads"] if wanted(w["namespace"])]
    srcs = list(sources) + list(extra_sources or [])
    dests = destinations(idx, [ns for ns in sorted(set(meta(s).get("namespace") or "" for s in idx["services"])) if wanted(ns)])
    cells = []
    for src in srcs:
        for dest in dests:
            reqs = requests if dest["protocol"] == "http" else [{"method": None, "path": None}]
            for req in reqs:
                cell = evaluate_service(idx, src, dest, req)
                if cell is None:
                    continue
                cell.update({
                    "source": src["id"], "source_sidecar": src["sidecar"], "destination": dest["id"],
                    "service": dest["service"], "namespace": dest["namespace"], "port": dest["port"],
                    "protocol": dest["protocol"], "method": req.get("method"), "path": req.get("path"),
                })
                cells.append(cell)
    return {
        "sources": [{"id": s["id"], "namespace": s["namespace"], "name": s["name"], "kind": s["kind"],
                     "service_account": s["service_account"], "sidecar": s["sidecar"], "pods": len(s["pods"])}
                    for s in srcs],
        "non_mesh_sources": [s["id"] for s in srcs if not s["sidecar"]],
        "destinations": [{"id": d["id"], "service": d["service"], "namespace": d["namespace"], "port": d["port"],
                          "protocol": d["protocol"], "backends": [b["id"] for b in d["backends"]]} for d in dests],
        "requests": requests,
        "cells": [dict((k, c[k]) for k in CELL_KEYS) for c in cells],
    }


CELL_KEYS = ("source", "source_sidecar", "destination", "service", "namespace", "port", "protocol", "method",
             "path", "decision", "policy", "reason", "mtls", "mode", "would", "backends")


def cell_key(cell):
    return (cell["source"], cell["destination"], cell.get("method") or "", cell.get("path") or "")


def lookup(matrix, source, destination, method="GET", path="/"):
    """The cell for source id, destination id ('svc.ns:port'), method and path; None if absent."""
    for cell in matrix["cells"]:
        if cell_key(cell) == (source, destination, method or "", path or ""):
            return cell
    return None


def cell_text(cell):
    text = cell["decision"].upper()
    if cell["policy"]:
        text += " (%s)" % cell["policy"]
    if cell.get("would"):
        text += " would %s (%s)" % (cell["would"]["decision"], cell["would"]["policy"])
    return text


def _column(cell):
    col = cell["destination"]
    if cell.get("method"):
        col += " %s %s" % (cell["method"], cell["path"])
    return col


def table_rows(matrix):
    """[header, row, ...]: sources down, destination x request across."""
    columns = []
    for cell in matrix["cells"]:
        col = _column(cell)
        if col not in columns:
            columns.append(col)
    grid = {}
    for cell in matrix["cells"]:
        grid[(cell["source"], _column(cell))] = cell_text(cell)
    rows = [["source"] + columns]
    for src in matrix["sources"]:
        label = src["id"] + ("" if src["sidecar"] else " (no sidecar)")
        rows.append([label] + [grid.get((src["id"], col), "-") for col in columns])
    return rows


def render_grid(matrix):
    """The table as aligned text rows, one per source, for the run's output."""
    rows = table_rows(matrix)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |" for row in rows]


def render_table(matrix):
    """Plain-text lines, one per source, for the run's output."""
    lines = []
    for cell in matrix["cells"]:
        lines.append("%s -> %s: %s" % (cell["source"], _column(cell), cell_text(cell)))
    return lines


def render_markdown(matrix, title="Access matrix"):
    rows = table_rows(matrix)
    out = ["# %s" % title, ""]
    out.append("Decisions: ALLOW, DENY (403 by an AuthorizationPolicy), RESET (plaintext refused by STRICT mTLS), "
               "CUSTOM (an external authorizer decides), MIXED (the Service's workloads disagree). "
               "`would` shows what dry-run policies would decide once enforced.")
    out.append("")
    out.append("| " + " | ".join(rows[0]) + " |")
    out.append("|" + "---|" * len(rows[0]))
    for row in rows[1:]:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    out.append("")
    if matrix.get("non_mesh_sources"):
        out.append("Sources without a sidecar: " + ", ".join(matrix["non_mesh_sources"]))
        out.append("")
    out.append("## Cells")
    out.append("")
    for cell in matrix["cells"]:
        out.append("- %s -> %s: **%s** (%s; mTLS %s; %s)" % (
            cell["source"], _column(cell), cell["decision"], cell["reason"], cell["mode"] or "none", cell["mtls"]))
    return "\n".join(out) + "\n"


def diff_matrices(before, after):
    """Cells whose decision (or dry-run verdict) differs between two matrices."""
    old = dict((cell_key(c), c) for c in before["cells"])
    changes = []
    for cell in after["cells"]:
        prev = old.get(cell_key(cell))
        was = cell_text(prev) if prev else "-"
        now = cell_text(cell)
        if prev is None or prev["decision"] != cell["decision"] or (prev.get("would") or {}).get("decision") != \
                (cell.get("would") or {}).get("decision"):
            changes.append({"source": cell["source"], "destination": cell["destination"], "method": cell.get("method"),
                            "path": cell.get("path"), "before": was, "after": now,
                            "text": "%s -> %s: %s => %s" % (cell["source"], _column(cell), was, now)})
    return changes


# --------------------------------------------------------------------------- gates and lockout guards
# Each check compares the cluster as it is (``before``) with the cluster as it would be once the
# proposed objects are applied (``after``) and returns
#   {"name", "passed", "checked", "refusals": [text], "notes": [text]}.
# A refusal is a path that works before and breaks after; a path already broken before is a note.
OK_DECISIONS = (ALLOW, CUSTOM)


def _check_result(name, checked, refusals, notes=None):
    return {"name": name, "passed": not refusals, "checked": checked, "refusals": refusals, "notes": list(notes or [])}


def _workload_in(idx, workload):
    """The same workload looked up in another index (pods do not change between before and after)."""
    for wl in idx["workloads"]:
        if wl["id"] == workload["id"]:
            return wl
    return workload


def _compare(name, probes, before, after, ok=lambda d: d in OK_DECISIONS):
    """probes: [(label, source, dest_workload, port, protocol, request)]."""
    refusals, notes = [], []
    for label, source, dest, port, protocol, request in probes:
        now = evaluate(before, source, _workload_in(before, dest), port, protocol, request)
        then = evaluate(after, source, _workload_in(after, dest), port, protocol, request)
        if ok(then["decision"]):
            continue
        text = "%s: %s (%s)" % (label, then["decision"], then["reason"])
        if ok(now["decision"]):
            refusals.append(text)
        else:
            notes.append("already broken before this change: " + text)
    return _check_result(name, len(probes), refusals, notes)


def service_destination(idx, namespace, service, port=None):
    """destinations() entries of one Service (all ports, or the one numbered ``port``)."""
    return [d for d in destinations(idx, [namespace]) if d["service"] == service and (port is None or d["port"] == int(port))]


def _backend_probes(label, source, dest, request):
    out = []
    for backend in dest["backends"]:
        target = resolve_target_port(dest["service_port"], backend["pod"])
        if target is not None:
            out.append(("%s [%s:%s]" % (label, backend["id"], target), source, backend, target, dest["protocol"],
                        _request_for(request, dest)))
    return out


def non_mesh_callers(idx, clients=None, exclude_namespaces=()):
    """Workloads without a sidecar that count as callers for the STRICT gate.

    With ``clients`` ([{namespace, name} or {namespace, labels}]), exactly those (a client that is
    gone is no caller). Otherwise every workload with a pod lacking istio-proxy, outside
    ``exclude_namespaces`` and the Kubernetes system namespaces.
    """
    if clients:
        out = []
        for client in clients:
            for wl in find_workload(idx, client.get("namespace") or "", client.get("name"), client.get("labels")):
                if (not wl["sidecar"]) and wl not in out:
                    out.append(wl)
        return out
    skip = set(exclude_namespaces or ()) | set(SYSTEM_NAMESPACES)
    return [wl for wl in idx["workloads"] if not wl["sidecar"] and wl["namespace"] not in skip]


def strict_gate(before, after, clients=None, exclude_namespaces=(), requests=None, namespaces=None):
    """Refuse while a non-mesh caller that reaches a destination now would be reset after."""
    probes = []
    callers = non_mesh_callers(before, clients, exclude_namespaces)
    wanted = _namespace_filter(namespaces, SYSTEM_NAMESPACES)
    for dest in destinations(after, [ns for ns in sorted(set(w["namespace"] for w in after["workloads"])) if wanted(ns)]):
        reqs = (requests or DEFAULT_REQUESTS) if dest["protocol"] == "http" else [{}]
        for caller in callers:
            for req in reqs[:1]:
                probes.extend(_backend_probes("%s -> %s" % (caller["id"], dest["id"]), caller, dest, req))
    result = _compare("strict_gate", probes, before, after, ok=lambda d: d != RESET)
    result["callers"] = [c["id"] for c in callers]
    return result


def required_flows_gate(after, flows):
    """Refuse while a flow that must keep working would be denied."""
    refusals, notes, checked = [], [], 0
    for flow in flows or []:
        frm, to = flow.get("from") or {}, flow.get("to") or {}
        label = flow.get("name") or "%s -> %s" % (frm.get("name") or frm.get("labels"), to.get("service"))
        sources = find_workload(after, frm.get("namespace") or "", frm.get("name"), frm.get("labels"))
        dests = service_destination(after, to.get("namespace") or "", to.get("service"), to.get("port"))
        if not sources or not dests:
            notes.append("%s: skipped, %s not found" % (label, "source workload" if not sources else "destination service"))
            continue
        request = {"method": flow.get("method", "GET"), "path": flow.get("path", "/")}
        for src in sources:
            for dest in dests:
                for _label, source, backend, port, protocol, req in _backend_probes(label, src, dest, request):
                    checked += 1
                    res = evaluate(after, source, backend, port, protocol, req)
                    if res["decision"] not in OK_DECISIONS:
                        refusals.append("%s (%s -> %s:%s %s %s): %s (%s)" % (
                            label, src["id"], backend["id"], port, request["method"], request["path"],
                            res["decision"], res["reason"]))
    return _check_result("required_flows", checked, refusals, notes)


def _gateway_ref(vs, ref):
    if "/" in ref:
        return tuple(ref.split("/", 1))
    return (meta(vs).get("namespace") or "", ref)


def _service_from_host(vs_namespace, host):
    parts = host.split(".")
    if len(parts) == 1:
        return vs_namespace, parts[0]
    if len(parts) == 2 or (len(parts) >= 4 and parts[2] == "svc"):
        return parts[1], parts[0]
    return None, None


def gateway_sources(idx, gateway, root_namespace):
    selector = (gateway.get("spec") or {}).get("selector") or {}
    found = [wl for wl in idx["workloads"] if selector and labels_match(selector, wl["labels"])]
    if found:
        return found
    return [synthetic_workload(root_namespace, "gateway-for-%s" % meta(gateway).get("name"),
                               "istio-ingressgateway-service-account", sidecar=True, labels=selector)]


def ingress_guard(before, after):
    """Refuse when a gateway would lose a route's destination (VirtualServices bound to Gateways)."""
    probes = []
    gateways = dict(((meta(g).get("namespace") or "", meta(g).get("name")), g) for g in after["gateways"])
    for vs in after["virtual_services"]:
        spec = vs.get("spec") or {}
        vs_ns = meta(vs).get("namespace") or ""
        bound = [_gateway_ref(vs, g) for g in spec.get("gateways") or [] if g != "mesh"]
        for gw_key in bound:
            gateway = gateways.get(gw_key)
            if gateway is None:
                continue
            sources = gateway_sources(after, gateway, after["root_namespace"])
            routes = [(r, "http") for r in spec.get("http") or []] + [(r, "tcp") for r in (spec.get("tcp") or []) + (spec.get("tls") or [])]
            for route, kind in routes:
                requests = []
                if kind == "http":
                    for match in route.get("match") or [{}]:
                        uri = match.get("uri") or {}
                        path = uri.get("exact") or uri.get("prefix") or "/"
                        method = (match.get("method") or {}).get("exact") or "GET"
                        requests.append({"method": method, "path": path})
                else:
                    requests.append({})
                for dest_entry in route.get("route") or []:
                    dest = dest_entry.get("destination") or {}
                    ns, svc = _service_from_host(vs_ns, dest.get("host") or "")
                    if not svc:
                        continue
                    port = (dest.get("port") or {}).get("number")
                    for dest_svc in service_destination(after, ns, svc, port):
                        for source in sources:
                            for req in requests:
                                label = "VirtualService %s/%s via Gateway %s/%s: %s -> %s %s %s" % (
                                    vs_ns, meta(vs).get("name"), gw_key[0], gw_key[1], source["id"], dest_svc["id"],
                                    req.get("method") or "", req.get("path") or "")
                                probes.extend(_backend_probes(label.rstrip(), source, dest_svc, req))
    return _compare("ingress", probes, before, after)


PROBE_KINDS = ("livenessProbe", "readinessProbe", "startupProbe")


def _container_port(container, port):
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for cport in container.get("ports") or []:
        if cport.get("name") == port:
            return int(cport.get("containerPort"))
    return None


def probe_guard(before, after, namespaces=None, exclude_namespaces=SYSTEM_NAMESPACES):
    """Refuse when kubelet probes that hit an app port directly (not rewritten) would break.

    Injection normally rewrites HTTP, gRPC and TCP probes to the sidecar's port 15020
    (``sidecar.istio.io/rewriteAppHTTPProbers``); such probes are never affected. TCP probes
    are accepted by the sidecar whatever the policy, so only HTTP and gRPC probes are checked.
    """
    probes = []
    wanted = _namespace_filter(namespaces, exclude_namespaces)
    for wl in after["workloads"]:
        if not wl["sidecar"] or not wanted(wl["namespace"]):
            continue
        kubelet = synthetic_workload("", "kubelet", sidecar=False, ip=wl["host_ip"])
        kubelet["id"] = "kubelet"
        for container in (wl["pod"].get("spec") or {}).get("containers") or []:
            if container.get("name") == PROXY_CONTAINER:
                continue
            for kind in PROBE_KINDS:
                probe = container.get(kind) or {}
                if probe.get("httpGet"):
                    port = _container_port(container, probe["httpGet"].get("port"))
                    req = {"method": "GET", "path": probe["httpGet"].get("path") or "/", "host": "%s:%s" % (wl["ip"], port)}
                elif probe.get("grpc"):
                    port = _container_port(container, probe["grpc"].get("port"))
                    req = {"method": "POST", "path": "/grpc.health.v1.Health/Check"}
                else:
                    continue
                if port is None or port in SIDECAR_OWN_PORTS:
                    continue
                label = "%s container %s %s %s :%s%s (not rewritten to the sidecar)" % (
                    wl["id"], container.get("name"), kind, req["method"], port, req["path"])
                probes.append((label, kubelet, wl, port, "http", req))
    return _compare("probes", probes, before, after)


def scrape_guard(before, after, prometheus=None, namespaces=None, exclude_namespaces=SYSTEM_NAMESPACES):
    """Refuse when Prometheus would lose a scrape target on an application port.

    Pods whose ``prometheus.io/port`` is the sidecar's merged-metrics port (15020) are scraped
    from the sidecar itself, outside mTLS and authorization. ``prometheus`` is
    {namespace, labels}; when no pod matches, a client without sidecar in that namespace stands in.
    """
    prometheus = prometheus or {"namespace": after["root_namespace"], "labels": {"app.kubernetes.io/name": "prometheus"}}
    sources = find_workload(after, prometheus.get("namespace") or "", prometheus.get("name"), prometheus.get("labels"))
    if not sources:
        sources = [synthetic_workload(prometheus.get("namespace") or "", "prometheus", "prometheus", sidecar=False)]
    probes = []
    wanted = _namespace_filter(namespaces, exclude_namespaces)
    for wl in after["workloads"]:
        if not wl["sidecar"] or not wanted(wl["namespace"]):
            continue
        ann = meta(wl["pod"]).get("annotations") or {}
        if str(ann.get("prometheus.io/scrape", "")).lower() != "true":
            continue
        port = _int_port(ann.get("prometheus.io/port"))
        if port is None or port in SIDECAR_OWN_PORTS:
            continue
        path = ann.get("prometheus.io/path") or "/metrics"
        for source in sources:
            label = "%s scrapes %s :%s%s (metrics not merged on 15020)" % (source["id"], wl["id"], port, path)
            probes.append((label, source, wl, port, "http", {"method": "GET", "path": path, "host": "%s:%s" % (wl["ip"], port)}))
    return _compare("prometheus_scrape", probes, before, after)


def _identity_fields(rule):
    fields = set()
    for frm in rule.get("from") or []:
        fields.update(f for f in IDENTITY_SOURCE if (frm.get("source") or {}).get(f))
    fields.update(c.get("key") for c in rule.get("when") or [] if c.get("key") in IDENTITY_CONDITIONS)
    return sorted(fields)


def _workload_ports(idx, wl):
    ports = set()
    for svc in idx["services"]:
        if (meta(svc).get("namespace") or "") != wl["namespace"]:
            continue
        if wl not in service_backends(idx, svc):
            continue
        for sport in (svc.get("spec") or {}).get("ports") or []:
            target = resolve_target_port(sport, wl["pod"])
            if target is not None:
                ports.add(target)
    for container in (wl["pod"].get("spec") or {}).get("containers") or []:
        if container.get("name") != PROXY_CONTAINER:
            ports.update(int(p["containerPort"]) for p in container.get("ports") or [] if p.get("containerPort"))
    return sorted(ports)


def identity_guard(after, policies=None):
    """Refuse rules that name principals, namespaces or service accounts where there is no mTLS.

    Istio learns a caller's identity only from its mTLS certificate: on a workload without a
    sidecar, or on a port whose PeerAuthentication is DISABLE, such rules never match.
    ``policies`` limits the check to those (kind/namespace/name refs or objects); default all.
    """
    wanted = None
    if policies is not None:
        wanted = set((meta(p).get("namespace") or "", meta(p).get("name")) if "metadata" in p else
                     (p.get("namespace") or "", p.get("name")) for p in policies)
    refusals, checked = [], 0
    for policy in after["authorization_policies"]:
        key = (meta(policy).get("namespace") or "", meta(policy).get("name"))
        if wanted is not None and key not in wanted:
            continue
        for number, rule in enumerate((policy.get("spec") or {}).get("rules") or []):
            fields = _identity_fields(rule)
            if not fields:
                continue
            rule_ports = sorted(set(_int_port(p) for t in rule.get("to") or [] for p in (t.get("operation") or {}).get("ports") or []))
            for wl in after["workloads"]:
                if not policy_applies(after, policy, wl):
                    continue
                checked += 1
                what = "%s rules[%d] uses %s" % (ref_text(policy), number, ", ".join(fields))
                if not wl["sidecar"]:
                    refusals.append("%s but %s has no sidecar, so no mTLS tells who calls it" % (what, wl["id"]))
                    continue
                for port in (rule_ports or _workload_ports(after, wl) or [None]):
                    mode, by = effective_mtls(after, wl, port)
                    if mode == "DISABLE":
                        refusals.append("%s but mTLS is DISABLE on %s port %s (%s): the rule can never match" % (
                            what, wl["id"], port, by))
    return _check_result("identity_mtls", checked, refusals)


def _promql_alternatives(names):
    r"""A regex alternation of Kubernetes names inside a PromQL string literal.

    Names are DNS names, so '.' is the only regex metacharacter they hold; its backslash is
    doubled because PromQL strings use Go escapes (a bare '\-' or '\.' would not parse).
    """
    for name in names:
        if not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", name):
            raise ValueError("%r is not a Kubernetes name" % name)
    return "|".join(n.replace(".", "\\\\.") for n in sorted(names))


def plaintext_query(namespaces=None, workloads=None, window="10m"):
    """PromQL for plaintext requests received by the scope over ``window``."""
    selector = 'reporter="destination",connection_security_policy!="mutual_tls"'
    if namespaces:
        selector += ',destination_workload_namespace=~"%s"' % _promql_alternatives(namespaces)
    if workloads:
        selector += ',destination_workload=~"%s"' % _promql_alternatives(workloads)
    return ("sum by (source_workload_namespace, source_workload, destination_workload_namespace, destination_workload) "
            "(increase(istio_requests_total{%s}[%s])) > 0" % (selector, window))


def plaintext_offenders(response):
    """Offenders from a Prometheus /api/v1/query response to plaintext_query()."""
    if not isinstance(response, dict) or response.get("status") != "success":
        what = response.get("error") or response.get("status") if isinstance(response, dict) else response
        raise ValueError("Prometheus answered %r" % (what,))
    out = []
    for sample in (response.get("data") or {}).get("result") or []:
        metric = sample.get("metric") or {}
        value = float((sample.get("value") or [0, "0"])[1])
        if value <= 0:
            continue
        src = "%s/%s" % (metric.get("source_workload_namespace", "unknown"), metric.get("source_workload", "unknown"))
        dst = "%s/%s" % (metric.get("destination_workload_namespace", "unknown"), metric.get("destination_workload", "unknown"))
        out.append({"source": src, "destination": dst, "requests": value,
                    "text": "%s -> %s: %g plaintext requests" % (src, dst, value)})
    return sorted(out, key=lambda o: (o["source"], o["destination"]))


def prometheus_gate(response):
    if response is None:
        return {"name": "prometheus_plaintext", "passed": True, "checked": 0, "refusals": [], "notes": [],
                "skipped": "no Prometheus URL given"}
    offenders = plaintext_offenders(response)
    return _check_result("prometheus_plaintext", len(offenders), [o["text"] for o in offenders])


def newly_strict(before, after):
    """Workloads (with sidecar) that have a port STRICT after the change and not before."""
    out = []
    for wl in after["workloads"]:
        if not wl["sidecar"] or wl.get("gateway"):
            continue
        was = _workload_in(before, wl)
        for port in _workload_ports(after, wl) or [None]:
            if effective_mtls(after, wl, port)[0] == "STRICT" and effective_mtls(before, was, port)[0] != "STRICT":
                out.append(wl)
                break
    return out


def check_summary(check):
    """One line for a check result."""
    if check.get("skipped"):
        return "%s: SKIPPED (%s)" % (check["name"], check["skipped"])
    line = "%s: %s (%d checked" % (check["name"], "PASSED" if check["passed"] else "REFUSED", check["checked"])
    if check["refusals"]:
        line += ", %d refused" % len(check["refusals"])
    if check.get("notes"):
        line += "; " + "; ".join(check["notes"])
    return line + ")"


_PRINCIPAL = re.compile(r"^(?P<td>[^/]+)/ns/(?P<ns>[^/]+)/sa/(?P<sa>[^/]+)$")


def principals_check(idx, service_accounts):
    """Every principal or service account named in an AuthorizationPolicy exists (wildcards aside)."""
    accounts = set(service_accounts)
    refusals, checked = [], 0
    for policy in sorted(idx["authorization_policies"], key=ref_text):
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
                    match = _PRINCIPAL.match(value)
                    account = "%s/%s" % (match.group("ns"), match.group("sa")) if match else None
                else:
                    account = value
                if account not in accounts:
                    refusals.append("%s rules[%d]: %s %s names ServiceAccount %s, which does not exist" % (
                        ref_text(policy), number, what, value, account or "(not <td>/ns/<ns>/sa/<sa>)"))
    return _check_result("principals", checked, refusals)


def without_security_policies(objects):
    """The objects minus every PeerAuthentication and AuthorizationPolicy: the open baseline."""
    return [o for o in objects if o.get("kind") not in ("PeerAuthentication", "AuthorizationPolicy")]
