# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who may call whom in an Istio mesh: the decision for one request, and the access matrix.

Everything here takes plain dicts (objects as the API server returns them, or an index from
access.workloads.build_index()) and returns plain dicts; nothing talks to a cluster. The semantics
follow Istio's documentation:

* A client without a sidecar talks plaintext; a STRICT destination port (access.mtls) resets it. A
  client with a sidecar uses mutual TLS unless the destination port is DISABLE (auto mTLS).
* AuthorizationPolicies (access.authz) are enforced by the destination's sidecar only (no sidecar,
  nothing enforced). Policies annotated ``istio.io/dry-run: "true"`` do not enforce; the decision
  they would make is reported apart.

A request is identified by everything that can change the decision: method, path, host, headers
(names compared without case) and request principal. request_key() is that identity and
request_label() the name cells, columns and changes give it: ``GET /`` for a request with method
and path only, with what else it carries in brackets otherwise, host first, then the headers by
name: ``GET / [host=reviews.example, end-user=jason]``.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils.access.authz import (
    ALLOW, MIXED, RESET, authorize, is_dry_run, policies_for)
from ansible_collections.meshops.istio.plugins.module_utils.access.mtls import effective_mtls
from ansible_collections.meshops.istio.plugins.module_utils.access.workloads import (
    ROOT_NAMESPACE, SIDECAR_OWN_PORTS, SYSTEM_NAMESPACES, TRUST_DOMAIN, as_index, destinations, namespace_filter,
    resolve_target_port)
from ansible_collections.meshops.istio.plugins.module_utils.kube.names import metadata, principal

DEFAULT_REQUESTS = ({"method": "GET", "path": "/"},)
# What a request may carry besides method and path; a cell or change holds those its request has.
REQUEST_EXTRAS = ("host", "headers", "request_principal")
CELL_KEYS = ("source", "source_sidecar", "destination", "service", "namespace", "port", "protocol", "method",
             "path", "decision", "policy", "reason", "mtls", "mode", "would", "backends")


# --------------------------------------------------------------------------- requests
def request_key(request):
    """(method, path, host, headers, request principal): what tells two requests apart."""
    headers = tuple(sorted((str(name).lower(), str(value)) for name, value in (request.get("headers") or {}).items()))
    return (request.get("method") or "", request.get("path") or "", request.get("host") or "", headers,
            request.get("request_principal") or "")


def request_label(request):
    """How a request is named: "GET /", or "GET / [host=h, end-user=jason]" when it carries more ("" for TCP)."""
    if not request.get("method"):
        return ""
    label = "%s %s" % (request["method"], request.get("path"))
    _method, _path, host, headers, request_principal = request_key(request)
    extras = ["host=%s" % host] if host else []
    extras += ["%s=%s" % header for header in headers]
    if request_principal:
        extras.append("request_principal=%s" % request_principal)
    if extras:
        label += " [%s]" % ", ".join(extras)
    return label


def request_extras(request):
    """The fields of REQUEST_EXTRAS that ``request`` sets."""
    return dict((k, request[k]) for k in REQUEST_EXTRAS if request.get(k))


def request_for(request, dest):
    """The request as sent to a Service port: GET / by default, to the Service's name unless a host is given."""
    req = dict(request)
    req.setdefault("method", "GET")
    req.setdefault("path", "/")
    if not req.get("host"):
        req["host"] = "%s.%s.svc.cluster.local:%s" % (dest["service"], dest["namespace"], dest["port"])
    return req


# --------------------------------------------------------------------------- one request
def request_context(idx, source, dest, port, protocol, request, mtls):
    return {
        "mtls": mtls, "principal": principal(source["namespace"], source["service_account"], idx["trust_domain"]) if mtls else None,
        "source_namespace": source["namespace"], "source_service_account": source["service_account"],
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
    req = request_for(request, dest)
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
    wanted = namespace_filter(namespaces, exclude_namespaces)
    if sources is None:
        sources = [w for w in idx["workloads"] if wanted(w["namespace"])]
    srcs = list(sources) + list(extra_sources or [])
    dests = destinations(idx, [ns for ns in sorted(set(metadata(s).get("namespace") or "" for s in idx["services"])) if wanted(ns)])
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
                cell.update(request_extras(req))
                cells.append(cell)
    return {
        "sources": [{"id": s["id"], "namespace": s["namespace"], "name": s["name"], "kind": s["kind"],
                     "service_account": s["service_account"], "sidecar": s["sidecar"], "pods": len(s["pods"])}
                    for s in srcs],
        "non_mesh_sources": [s["id"] for s in srcs if not s["sidecar"]],
        "destinations": [{"id": d["id"], "service": d["service"], "namespace": d["namespace"], "port": d["port"],
                          "protocol": d["protocol"], "backends": [b["id"] for b in d["backends"]]} for d in dests],
        "requests": requests,
        "cells": [dict((k, c[k]) for k in CELL_KEYS + REQUEST_EXTRAS if k in c) for c in cells],
    }


def cell_key(cell):
    """(source, destination) and the request_key() of a cell: one cell per key in a matrix."""
    return (cell["source"], cell["destination"]) + request_key(cell)


def lookup(matrix, source, destination, method="GET", path="/", host=None, headers=None, request_principal=None):
    """The cell for source id, destination id ('svc.ns:port') and request; None if absent."""
    wanted = (source, destination) + request_key({"method": method, "path": path, "host": host, "headers": headers,
                                                  "request_principal": request_principal})
    for cell in matrix["cells"]:
        if cell_key(cell) == wanted:
            return cell
    return None
