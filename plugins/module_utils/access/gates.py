# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gates and lockout guards that probe paths through the mesh before and after a change.

Each check compares the cluster as it is (``before``) with the cluster as it would be once the
proposed objects are applied (``after``), both indexes from access.workloads.build_index(), and
returns {"name", "passed", "checked", "refusals": [text], "notes": [text]} (see check_result()).
A refusal is a path that works before and breaks after; a path already broken before is a note.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils.access.authz import ALLOW, CUSTOM, RESET
from ansible_collections.meshops.istio.plugins.module_utils.access.matrix import (
    DEFAULT_REQUESTS, evaluate, request_extras, request_for, request_label)
from ansible_collections.meshops.istio.plugins.module_utils.access.workloads import (
    PROXY_CONTAINER, SIDECAR_OWN_PORTS, SYSTEM_NAMESPACES, destinations, find_workload, int_port, labels_match,
    namespace_filter, resolve_target_port, service_destination, synthetic_workload, workload_in)
from ansible_collections.meshops.istio.plugins.module_utils.kube.names import metadata

OK_DECISIONS = (ALLOW, CUSTOM)


def check_result(name, checked, refusals, notes=None):
    """A check's result: passed when nothing is refused."""
    return {"name": name, "passed": not refusals, "checked": checked, "refusals": refusals, "notes": list(notes or [])}


def _compare(name, probes, before, after, ok=lambda d: d in OK_DECISIONS):
    """probes: [(label, source, dest_workload, port, protocol, request)]."""
    refusals, notes = [], []
    for label, source, dest, port, protocol, request in probes:
        now = evaluate(before, source, workload_in(before, dest), port, protocol, request)
        then = evaluate(after, source, workload_in(after, dest), port, protocol, request)
        if ok(then["decision"]):
            continue
        text = "%s: %s (%s)" % (label, then["decision"], then["reason"])
        if ok(now["decision"]):
            refusals.append(text)
        else:
            notes.append("already broken before this change: " + text)
    return check_result(name, len(probes), refusals, notes)


def _backend_probes(label, source, dest, request):
    out = []
    for backend in dest["backends"]:
        target = resolve_target_port(dest["service_port"], backend["pod"])
        if target is not None:
            out.append(("%s [%s:%s]" % (label, backend["id"], target), source, backend, target, dest["protocol"],
                        request_for(request, dest)))
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
    wanted = namespace_filter(namespaces, SYSTEM_NAMESPACES)
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
        request = dict({"method": flow.get("method", "GET"), "path": flow.get("path", "/")}, **request_extras(flow))
        for src in sources:
            for dest in dests:
                for _label, source, backend, port, protocol, req in _backend_probes(label, src, dest, request):
                    checked += 1
                    res = evaluate(after, source, backend, port, protocol, req)
                    if res["decision"] not in OK_DECISIONS:
                        refusals.append("%s (%s -> %s:%s %s): %s (%s)" % (
                            label, src["id"], backend["id"], port, request_label(request), res["decision"], res["reason"]))
    return check_result("required_flows", checked, refusals, notes)


def _gateway_ref(vs, ref):
    if "/" in ref:
        return tuple(ref.split("/", 1))
    return (metadata(vs).get("namespace") or "", ref)


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
    return [synthetic_workload(root_namespace, "gateway-for-%s" % metadata(gateway).get("name"),
                               "istio-ingressgateway-service-account", sidecar=True, labels=selector)]


def ingress_guard(before, after):
    """Refuse when a gateway would lose a route's destination (VirtualServices bound to Gateways)."""
    probes = []
    gateways = dict(((metadata(g).get("namespace") or "", metadata(g).get("name")), g) for g in after["gateways"])
    for vs in after["virtual_services"]:
        spec = vs.get("spec") or {}
        vs_ns = metadata(vs).get("namespace") or ""
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
                                    vs_ns, metadata(vs).get("name"), gw_key[0], gw_key[1], source["id"], dest_svc["id"],
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
    wanted = namespace_filter(namespaces, exclude_namespaces)
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
    wanted = namespace_filter(namespaces, exclude_namespaces)
    for wl in after["workloads"]:
        if not wl["sidecar"] or not wanted(wl["namespace"]):
            continue
        ann = metadata(wl["pod"]).get("annotations") or {}
        if str(ann.get("prometheus.io/scrape", "")).lower() != "true":
            continue
        port = int_port(ann.get("prometheus.io/port"))
        if port is None or port in SIDECAR_OWN_PORTS:
            continue
        path = ann.get("prometheus.io/path") or "/metrics"
        for source in sources:
            label = "%s scrapes %s :%s%s (metrics not merged on 15020)" % (source["id"], wl["id"], port, path)
            probes.append((label, source, wl, port, "http", {"method": "GET", "path": path, "host": "%s:%s" % (wl["ip"], port)}))
    return _compare("prometheus_scrape", probes, before, after)
