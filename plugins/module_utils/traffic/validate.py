# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate a traffic model and fill in its defaults (see schema.py for the format)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import copy

from ansible_collections.meshops.istio.plugins.module_utils.kube.names import is_dns_label, is_dns_subdomain
from ansible_collections.meshops.istio.plugins.module_utils.traffic.checker import Checker
from ansible_collections.meshops.istio.plugins.module_utils.traffic.schema import (
    ABORT_KEYS, CREDENTIAL_TLS_MODES, DEFAULT_SELECTOR, DEFAULT_SUBSETS, DELAY_KEYS, DESTINATION_KEYS,
    DESTINATION_TLS_KEYS, DESTINATION_TLS_MODES, DR_PREFIX, FAULT_KEYS, GATEWAY_KEYS, HTTP_POOL, LOAD_BALANCERS,
    MATCH_KEYS, MODEL_KEYS, ModelError, OUTLIER, PROTOCOLS, RETRY_KEYS, ROUTE_KEYS, SERVER_KEYS, SERVICE_KEYS,
    STRING_MATCH_TYPES, SUBSET_KEYS, TCP_POOL, TLS_KEYS, TLS_MODES, duration_text, is_header_name, is_host,
    is_int, is_str, short_host,
)


def _svc_where(index, service):
    name = service.get("name") if isinstance(service, dict) else None
    return "service %r" % name if is_str(name) and name else "services[%d]" % index


def check_shape(model):
    """Raise ModelError unless ``model`` is a non-empty mapping: all a reader of the model checks."""
    if not isinstance(model, dict) or not model:
        raise ModelError(["the model must be a non-empty mapping with keys %s" % ", ".join(MODEL_KEYS)])


def validate(model):
    """Check a model and return it normalized (every default filled in).

    Raises ModelError listing every problem; each message names the service (or gateway) and
    the field. Nothing here talks to a cluster.
    """
    check_shape(model)
    chk = Checker()
    chk.mapping(model, "model", MODEL_KEYS, required=("name",))
    name = model.get("name")
    if name is not None and not is_dns_label(name):
        chk.error("model", "name %r must be a DNS label (lower-case letters, digits, '-'; at most 63)" % (name,))
    namespace = model.get("namespace", "default")
    if not is_dns_label(namespace):
        chk.error("model", "namespace %r must be a DNS label" % (namespace,))

    default_tls = _validate_tls(chk, model["tls"], "model.tls") if "tls" in model else None
    gateways = _validate_gateways(chk, model.get("gateways"))
    gateway_names = set(g["name"] for g in gateways)
    raw_services = chk.sequence(model.get("services"), "model.services")
    services = []
    seen = {}
    for index, service in enumerate(raw_services):
        where = _svc_where(index, service)
        if not isinstance(service, dict):
            chk.error("services[%d]" % index, "must be a mapping, got %r" % (service,))
            continue
        svc = _validate_service(chk, service, where, namespace if is_str(namespace) else "default",
                                gateway_names, default_tls)
        if svc is None:
            continue
        if svc["name"] in seen:
            chk.error(where, "duplicate service: services[%d] and services[%d] are both named %r"
                      % (seen[svc["name"]], index, svc["name"]))
            continue
        seen[svc["name"]] = index
        services.append(svc)

    _cross_check(chk, services, namespace if is_str(namespace) else "default")
    if chk.errors:
        raise ModelError(chk.errors, name if is_str(name) else None)
    return {"name": name, "namespace": namespace, "gateways": gateways, "services": services}


def _validate_gateways(chk, raw):
    out = []
    seen = set()
    for index, gateway in enumerate(chk.sequence(raw, "model.gateways")):
        gname = gateway.get("name") if isinstance(gateway, dict) else None
        where = "gateway %r" % gname if is_str(gname) and gname else "gateways[%d]" % index
        gateway = chk.mapping(gateway, where, GATEWAY_KEYS, required=("name",))
        if not gateway:
            continue
        ok = chk.string(gname, where + ": name", is_dns_subdomain, "object name")
        if ok and gname in seen:
            chk.error(where, "duplicate gateway %r" % gname)
            continue
        if ok and gname == "mesh":
            chk.error(where, "'mesh' is reserved for sidecar traffic; pick another gateway name")
        selector = gateway.get("selector", DEFAULT_SELECTOR)
        chk.labels(selector, where + ": selector")
        servers = []
        raw_servers = gateway.get("servers", [{}])
        for sindex, server in enumerate(chk.sequence(raw_servers, where + ": servers")):
            swhere = "%s: servers[%d]" % (where, sindex)
            server = chk.mapping(server, swhere, SERVER_KEYS)
            port = server.get("port", 80)
            protocol = server.get("protocol", "HTTP")
            chk.integer(port, swhere + ".port", 1, 65535)
            if protocol not in PROTOCOLS:
                chk.error(swhere + ".protocol", "%r is not accepted (accepted: %s)" % (protocol, ", ".join(PROTOCOLS)))
            hosts = server.get("hosts", ["*"])
            _check_hosts(chk, hosts, swhere + ".hosts")
            sname = server.get("name", "%s-%s" % (str(protocol).lower(), port))
            chk.string(sname, swhere + ".name", is_dns_label, "port name")
            tls = server.get("tls")
            if tls is not None:
                tls = chk.mapping(tls, swhere + ".tls", TLS_KEYS, required=("mode",))
                if tls.get("mode") is not None and tls.get("mode") not in TLS_MODES:
                    chk.error(swhere + ".tls.mode", "%r is not accepted (accepted: %s)"
                              % (tls.get("mode"), ", ".join(TLS_MODES)))
                if "credential_name" in tls:
                    chk.string(tls["credential_name"], swhere + ".tls.credential_name")
            elif protocol in ("HTTPS", "TLS"):
                chk.error(swhere + ".tls", "protocol %s needs tls (mode, credential_name)" % protocol)
            servers.append({"port": port, "protocol": protocol, "hosts": hosts, "name": sname,
                            "tls": tls})
        if not servers and isinstance(raw_servers, list):
            chk.error(where + ": servers", "needs at least one server")
        if ok:
            seen.add(gname)
            out.append({"name": gname, "selector": selector, "servers": servers})
    return out


def _check_hosts(chk, hosts, where):
    if not isinstance(hosts, list) or not hosts:
        chk.error(where, "must be a non-empty list of host names, got %r" % (hosts,))
        return False
    good = True
    for host in hosts:
        if not is_host(host):
            chk.error(where, "%r is not a host name (lower-case DNS name, '*' or '*.<domain>')" % (host,))
            good = False
    return good


def _check_gateway_refs(chk, refs, where, gateway_names):
    refs = chk.sequence(refs, where)
    for ref in refs:
        if not is_str(ref) or not ref:
            chk.error(where, "%r is not a gateway name" % (ref,))
        elif ref == "mesh" or ref in gateway_names:
            continue
        elif "/" in ref:
            ns, gname = ref.partition("/")[0::2]
            if not (is_dns_label(ns) and is_dns_subdomain(gname)):
                chk.error(where, "%r is not a <namespace>/<gateway> reference" % ref)
        else:
            chk.error(where, "gateway %r is not defined in the model (defined: %s; or use 'mesh' "
                      "or '<namespace>/<name>' for a gateway outside the model)"
                      % (ref, ", ".join(sorted(gateway_names)) or "none"))
    return refs


def check_tls(tls, where="model.tls"):
    """The errors of a DestinationRule ``tls`` block (empty when it is valid); ``where`` names it."""
    chk = Checker()
    _validate_tls(chk, tls, where)
    return chk.errors


def with_default_tls(model, tls):
    """A copy of a (raw) model whose top-level ``tls`` is ``tls`` unless the model sets its own.

    The traffic role hands its ``traffic_tls`` in here, so an inventory can give every
    DestinationRule of every model a TLS mode; an empty ``tls`` leaves the model as it is.
    """
    if not tls or not isinstance(model, dict) or "tls" in model:
        return model
    out = dict(model)
    out["tls"] = copy.deepcopy(tls)
    return out


def _validate_tls(chk, tls, where):
    """Validate a DestinationRule tls block; return it normalized, or None when it is invalid."""
    errors = len(chk.errors)
    tls = chk.mapping(tls, where, DESTINATION_TLS_KEYS, required=("mode",))
    mode = tls.get("mode")
    if mode is not None and mode not in DESTINATION_TLS_MODES:
        chk.error(where + ".mode", "%r is not accepted (accepted: %s)" % (mode, ", ".join(DESTINATION_TLS_MODES)))
    elif mode in CREDENTIAL_TLS_MODES:
        if "credential_name" not in tls:
            chk.error(where + ".credential_name", "mode %s needs credential_name, the name of the Secret holding "
                      "the client's credential" % mode)
    elif mode is not None:
        for key in ("credential_name", "sni"):
            if key in tls:
                chk.error(where + "." + key, "mode %s takes no %s (only %s do)"
                          % (mode, key, " and ".join(CREDENTIAL_TLS_MODES)))
    if "credential_name" in tls:
        chk.string(tls["credential_name"], where + ".credential_name", is_dns_subdomain, "Secret name")
    if "sni" in tls:
        chk.string(tls["sni"], where + ".sni", lambda v: is_host(v) and "*" not in v, "host name")
    if len(chk.errors) > errors:
        return None
    return dict((key, tls[key]) for key in DESTINATION_TLS_KEYS if key in tls)


def _validate_policy(chk, holder, where, default_tls=None):
    """Validate load_balancer, connection_pool, outlier_detection and tls of a service or subset.

    ``default_tls`` (the model's tls) applies when ``holder`` sets no tls of its own.
    """
    policy = {}
    if "load_balancer" in holder:
        lb = holder["load_balancer"]
        if lb not in LOAD_BALANCERS:
            chk.error(where + ".load_balancer", "%r is not accepted (accepted: %s)" % (lb, ", ".join(LOAD_BALANCERS)))
        policy["load_balancer"] = lb
    if "connection_pool" in holder:
        pool = chk.mapping(holder["connection_pool"], where + ".connection_pool", ("tcp", "http"))
        out = {}
        for part, spec in (("tcp", TCP_POOL), ("http", HTTP_POOL)):
            if part in pool:
                out[part] = _validate_block(chk, pool[part], "%s.connection_pool.%s" % (where, part), spec)
        policy["connection_pool"] = out
    if "outlier_detection" in holder:
        policy["outlier_detection"] = _validate_block(chk, holder["outlier_detection"],
                                                      where + ".outlier_detection", OUTLIER)
    if "tls" in holder:
        tls = _validate_tls(chk, holder["tls"], where + ".tls")
        if tls:
            policy["tls"] = tls
    elif default_tls:
        policy["tls"] = dict(default_tls)
    return policy


def _validate_block(chk, block, where, spec):
    block = chk.mapping(block, where, tuple(spec))
    for key, value in block.items():
        kind = spec.get(key)
        if kind == "count":
            chk.integer(value, "%s.%s" % (where, key), 0, 2 ** 31 - 1)
        elif kind == "duration":
            chk.duration(value, "%s.%s" % (where, key))
        elif kind == "percent":
            chk.integer(value, "%s.%s" % (where, key), 0, 100)
    return dict(block)


def _validate_service(chk, service, where, namespace, gateway_names, default_tls=None):
    chk.mapping(service, where, SERVICE_KEYS, required=("name",))
    name = service.get("name")
    if not (is_dns_label(name) and len(name) <= 63 - len(DR_PREFIX)):
        chk.error(where, "name %r must be a DNS label of at most %d characters" % (name, 63 - len(DR_PREFIX)))
        return None
    host = service.get("host", name)
    if not is_host(host) or host.startswith("*"):
        chk.error(where + ": host", "%r is not a host name" % (host,))
    gateways = _check_gateway_refs(chk, service.get("gateways", []), where + ": gateways", gateway_names)
    mesh_bound = not gateways or "mesh" in gateways
    default_hosts = [host] if mesh_bound else ["*"]
    hosts = service.get("hosts", default_hosts)
    if _check_hosts(chk, hosts, where + ": hosts") and mesh_bound and any(h == "*" for h in hosts):
        chk.error(where + ": hosts", "'*' is not allowed for a service routed in the mesh (gateways "
                  "empty or containing 'mesh'); list the service's host names")
    port = service.get("port")
    if port is not None:
        chk.integer(port, where + ": port", 1, 65535)

    policy = _validate_policy(chk, service, where, default_tls)

    subsets = []
    seen_subsets = set()
    raw_subsets = service.get("subsets", copy.deepcopy(list(DEFAULT_SUBSETS)))
    for sindex, subset in enumerate(chk.sequence(raw_subsets, where + ": subsets")):
        swhere = "%s: subsets[%d]" % (where, sindex)
        subset = chk.mapping(subset, swhere, SUBSET_KEYS, required=("name", "labels"))
        sname = subset.get("name")
        if not subset or not chk.string(sname, swhere + ".name", is_dns_label, "subset name"):
            continue
        swhere = "%s: subset %r" % (where, sname)
        if sname in seen_subsets:
            chk.error(swhere, "duplicate subset name")
            continue
        seen_subsets.add(sname)
        labels = subset.get("labels")
        if labels is not None:
            if chk.labels(labels, swhere + ".labels") and not labels:
                chk.error(swhere + ".labels", "needs at least one label to select pods")
        subsets.append({"name": sname, "labels": labels or {},
                        "policy": _validate_policy(chk, subset, swhere)})

    first_subset = subsets[0]["name"] if subsets else None
    if "routes" in service:
        raw_routes = chk.sequence(service["routes"], where + ": routes")
    else:
        raw_routes = [{"destinations": [{"subset": first_subset} if first_subset else {}]}]
    routes = []
    seen_routes = set()
    for rindex, route in enumerate(raw_routes):
        rwhere = "%s: routes[%d]" % (where, rindex)
        route = _validate_route(chk, route, rwhere, host, port, gateway_names)
        if route is None:
            continue
        if route["name"]:
            if route["name"] in seen_routes:
                chk.error(rwhere + ".name", "duplicate route name %r" % route["name"])
            seen_routes.add(route["name"])
        routes.append(route)
    for rindex, route in enumerate(routes[:-1]):
        if not route["match"]:
            chk.error("%s: routes[%d]" % (where, rindex),
                      "has no match, so it catches every request and the %d route(s) after it can never be "
                      "reached; give it a match or move it last" % (len(routes) - rindex - 1))
    return {"name": name, "host": host, "hosts": hosts, "gateways": gateways, "port": port,
            "subsets": subsets, "routes": routes, "policy": policy, "namespace": namespace,
            "has_routes": bool(raw_routes)}


def _validate_route(chk, route, where, host, port, gateway_names):
    if not isinstance(route, dict):
        chk.error(where, "must be a mapping, got %r" % (route,))
        return None
    chk.mapping(route, where, ROUTE_KEYS, required=("destinations",))
    rname = route.get("name", "")
    if rname not in ("", None) and not chk.string(rname, where + ".name"):
        rname = ""
    matches = []
    for mindex, match in enumerate(chk.sequence(route.get("match"), where + ".match")):
        matches.append(_validate_match(chk, match, "%s.match[%d]" % (where, mindex), gateway_names))

    destinations = []
    raw_dests = chk.sequence(route.get("destinations"), where + ".destinations")
    if "destinations" in route and not raw_dests:
        chk.error(where + ".destinations", "needs at least one destination")
    for dindex, dest in enumerate(raw_dests):
        dwhere = "%s.destinations[%d]" % (where, dindex)
        dest = chk.mapping(dest, dwhere, DESTINATION_KEYS)
        dhost = dest.get("host", host)
        if not is_host(dhost) or "*" in dhost:
            chk.error(dwhere + ".host", "%r is not a host name" % (dhost,))
        subset = dest.get("subset")
        if subset is not None:
            chk.string(subset, dwhere + ".subset", is_dns_label, "subset name")
        dport = dest.get("port", port)
        if dport is not None and "port" in dest:
            chk.integer(dport, dwhere + ".port", 1, 65535)
        weight = dest.get("weight")
        if weight is not None:
            chk.integer(weight, dwhere + ".weight", 0, 100)
        destinations.append({"host": dhost, "subset": subset, "port": dport, "weight": weight})
    _check_weights(chk, destinations, where + ".destinations")

    out = {"name": rname or "", "match": matches, "destinations": destinations}
    if "timeout" in route:
        if chk.duration(route["timeout"], where + ".timeout"):
            out["timeout"] = duration_text(route["timeout"])
    if "retries" in route:
        retries = chk.mapping(route["retries"], where + ".retries", RETRY_KEYS, required=("attempts",))
        if "attempts" in retries:
            chk.integer(retries["attempts"], where + ".retries.attempts", 0, 100)
        if "per_try_timeout" in retries:
            chk.duration(retries["per_try_timeout"], where + ".retries.per_try_timeout")
        if "retry_on" in retries:
            chk.string(retries["retry_on"], where + ".retries.retry_on")
        out["retries"] = dict(retries)
    if "fault" in route:
        out["fault"] = _validate_fault(chk, route["fault"], where + ".fault")
    return out


def _check_weights(chk, destinations, where):
    weights = [d["weight"] for d in destinations]
    given = [w for w in weights if w is not None]
    if len(destinations) > 1 and len(given) != len(destinations):
        chk.error(where, "with %d destinations every destination needs a weight (weights must sum to 100)"
                  % len(destinations))
        return
    if given and all(is_int(w) for w in given) and sum(given) != 100:
        chk.error(where, "weights %s sum to %d; they must sum to 100"
                  % (" + ".join(str(w) for w in given), sum(given)))


def _validate_string_match(chk, value, where):
    if is_str(value):
        if not value:
            chk.error(where, "must not be empty")
        return {"exact": value}
    value = chk.mapping(value, where, STRING_MATCH_TYPES)
    if len(value) != 1:
        chk.error(where, "needs exactly one of exact, prefix, regex (got %s)" % (", ".join(sorted(value)) or "none"))
        return {}
    kind, text = list(value.items())[0]
    if kind in STRING_MATCH_TYPES and not is_str(text):
        chk.error("%s.%s" % (where, kind), "must be a string, got %r" % (text,))
    return dict(value)


def _validate_match(chk, match, where, gateway_names):
    match = chk.mapping(match, where, MATCH_KEYS)
    if not match:
        chk.error(where, "an empty match block matches everything; leave 'match' out instead")
    out = {}
    for key in ("uri", "method", "authority", "scheme"):
        if key in match:
            out[key] = _validate_string_match(chk, match[key], "%s.%s" % (where, key))
    for key in ("headers", "query_params"):
        if key in match:
            block = match[key]
            if not isinstance(block, dict):
                chk.error("%s.%s" % (where, key), "must be a mapping of names to matches, got %r" % (block,))
                continue
            rendered = {}
            for hname, hvalue in block.items():
                hwhere = "%s.%s[%s]" % (where, key, hname)
                if not is_header_name(hname):
                    chk.error(hwhere, "%r is not a valid name (%s)" % (
                        hname, "header names are lower-case" if key == "headers" else "use a plain token"))
                rendered[hname] = _validate_string_match(chk, hvalue, hwhere)
                if key == "query_params" and "prefix" in rendered[hname]:
                    chk.error(hwhere, "query parameters match by exact or regex only")
            out[key] = rendered
    if "port" in match:
        chk.integer(match["port"], where + ".port", 1, 65535)
        out["port"] = match["port"]
    if "source_labels" in match:
        chk.labels(match["source_labels"], where + ".source_labels")
        out["source_labels"] = match["source_labels"]
    if "source_namespace" in match:
        chk.string(match["source_namespace"], where + ".source_namespace", is_dns_label, "namespace")
        out["source_namespace"] = match["source_namespace"]
    if "gateways" in match:
        out["gateways"] = _check_gateway_refs(chk, match["gateways"], where + ".gateways", gateway_names)
    if "ignore_uri_case" in match:
        if not isinstance(match["ignore_uri_case"], bool):
            chk.error(where + ".ignore_uri_case", "must be true or false, got %r" % (match["ignore_uri_case"],))
        out["ignore_uri_case"] = match["ignore_uri_case"]
    if "name" in match:
        chk.string(match["name"], where + ".name")
        out["name"] = match["name"]
    return out


def _validate_fault(chk, fault, where):
    fault = chk.mapping(fault, where, FAULT_KEYS)
    if not fault:
        chk.error(where, "needs delay or abort")
        return {}
    out = {}
    if "delay" in fault:
        delay = chk.mapping(fault["delay"], where + ".delay", DELAY_KEYS, required=("fixed",))
        if "fixed" in delay:
            chk.duration(delay["fixed"], where + ".delay.fixed")
        percentage = delay.get("percentage", 100)
        chk.percentage(percentage, where + ".delay.percentage")
        out["delay"] = {"fixed": delay.get("fixed"), "percentage": percentage}
    if "abort" in fault:
        abort = chk.mapping(fault["abort"], where + ".abort", ABORT_KEYS, required=("http_status",))
        if "http_status" in abort:
            chk.integer(abort["http_status"], where + ".abort.http_status", 200, 599)
        percentage = abort.get("percentage", 100)
        chk.percentage(percentage, where + ".abort.percentage")
        out["abort"] = {"http_status": abort.get("http_status"), "percentage": percentage}
    return out


def _cross_check(chk, services, namespace):
    by_host = {}
    mesh_hosts = {}
    for svc in services:
        key = short_host(svc["host"], namespace)
        if key in by_host:
            chk.error("service %r" % svc["name"], "host %r is also the host of service %r; one service per "
                      "host (each renders its own DestinationRule)" % (svc["host"], by_host[key]["name"]))
        else:
            by_host[key] = svc
        if svc["has_routes"] and (not svc["gateways"] or "mesh" in svc["gateways"]):
            for host in svc["hosts"]:
                hkey = short_host(host, namespace)
                if hkey in mesh_hosts:
                    chk.error("service %r: hosts" % svc["name"], "host %r is already routed in the mesh by "
                              "service %r" % (host, mesh_hosts[hkey]))
                else:
                    mesh_hosts[hkey] = svc["name"]
    for svc in services:
        for rindex, route in enumerate(svc["routes"]):
            for dindex, dest in enumerate(route["destinations"]):
                if dest["subset"] is None or not is_str(dest["host"]):
                    continue
                where = "service %r: routes[%d].destinations[%d].subset" % (svc["name"], rindex, dindex)
                target = by_host.get(short_host(dest["host"], namespace))
                if target is None:
                    chk.error(where, "subset %r of host %r is not defined: no service in the model has host %r"
                              % (dest["subset"], dest["host"], dest["host"]))
                elif dest["subset"] not in [s["name"] for s in target["subsets"]]:
                    chk.error(where, "subset %r is not defined for host %r (defined: %s)" % (
                        dest["subset"], target["host"], ", ".join(s["name"] for s in target["subsets"]) or "none"))
