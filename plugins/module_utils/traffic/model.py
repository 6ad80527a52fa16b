# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The declarative traffic model of meshops.istio: validate, render, plan, draw, shift.

A model describes the Istio routing of one namespace::

    name: shop                      # becomes the label meshops.istio/model=shop
    namespace: shop
    gateways:
      - name: main-gw               # rendered as Gateway main-gw
        selector: {istio: ingressgateway}
        servers: [{port: 80, protocol: HTTP, hosts: ["*"]}]
    services:
      - name: order                 # rendered as vsvc-order and destrule-order
        gateways: [main-gw]         # omitted or [] = mesh only
        subsets:                    # default: stable (version=stable), canary (version=canary)
          - {name: stable, labels: {version: stable}}
          - {name: canary, labels: {version: canary}, load_balancer: RANDOM}
        routes:
          - match: [{uri: {prefix: /orders}}]
            destinations: [{subset: stable, weight: 90}, {subset: canary, weight: 10}]
            timeout: 10s

Every function here is plain Python with no Ansible import, so unit tests call them directly.
Model keys are snake_case; the rendered Istio objects use Istio's camelCase field names.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import copy
import difflib
import re

API_GROUP = "networking.istio.io"
API_VERSION = "v1"
GROUP_VERSION = API_GROUP + "/" + API_VERSION
# kind -> plural, in the order objects are applied (gateways and subsets exist before the
# routes that use them); pruning walks the list backwards.
KINDS = (("Gateway", "gateways"), ("DestinationRule", "destinationrules"),
         ("VirtualService", "virtualservices"))
PLURALS = dict(KINDS)

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "meshops.istio"
MODEL_LABEL = "meshops.istio/model"
SERVICE_LABEL = "meshops.istio/service"
FIELD_MANAGER = "meshops.istio"

VS_PREFIX = "vsvc-"
DR_PREFIX = "destrule-"

LOAD_BALANCERS = ("ROUND_ROBIN", "RANDOM", "LEAST_REQUEST")
PROTOCOLS = ("HTTP", "HTTPS", "GRPC", "HTTP2", "MONGO", "TCP", "TLS")
TLS_MODES = ("SIMPLE", "MUTUAL", "PASSTHROUGH", "ISTIO_MUTUAL", "AUTO_PASSTHROUGH", "OPTIONAL_MUTUAL")
STRING_MATCH_TYPES = ("exact", "prefix", "regex")
DEFAULT_SUBSETS = ({"name": "stable", "labels": {"version": "stable"}},
                   {"name": "canary", "labels": {"version": "canary"}})
DEFAULT_SELECTOR = {"istio": "ingressgateway"}

MODEL_KEYS = ("name", "namespace", "gateways", "services")
GATEWAY_KEYS = ("name", "selector", "servers")
SERVER_KEYS = ("port", "protocol", "hosts", "name", "tls")
TLS_KEYS = ("mode", "credential_name")
SERVICE_KEYS = ("name", "host", "hosts", "gateways", "port", "subsets", "routes",
                "load_balancer", "connection_pool", "outlier_detection")
SUBSET_KEYS = ("name", "labels", "load_balancer", "connection_pool", "outlier_detection")
ROUTE_KEYS = ("name", "match", "destinations", "timeout", "retries", "fault")
DESTINATION_KEYS = ("subset", "weight", "host", "port")
MATCH_KEYS = ("name", "uri", "method", "authority", "scheme", "headers", "query_params", "port",
              "source_labels", "source_namespace", "gateways", "ignore_uri_case")
RETRY_KEYS = ("attempts", "per_try_timeout", "retry_on")
FAULT_KEYS = ("delay", "abort")
DELAY_KEYS = ("fixed", "percentage")
ABORT_KEYS = ("http_status", "percentage")
# traffic-policy blocks: key -> kind of value
TCP_POOL = {"max_connections": "count", "connect_timeout": "duration"}
HTTP_POOL = {"http1_max_pending_requests": "count", "http2_max_requests": "count",
             "max_requests_per_connection": "count", "max_retries": "count",
             "idle_timeout": "duration"}
OUTLIER = {"consecutive_5xx_errors": "count", "consecutive_gateway_errors": "count",
           "interval": "duration", "base_ejection_time": "duration",
           "max_ejection_percent": "percent", "min_health_percent": "percent"}

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_HOST = re.compile(r"^(\*|(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$")
_HEADER = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(h|ms|m|s|us|\u00b5s|ns))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|\u00b5s|ns)")
_DURATION_MS = {"h": 3600000.0, "m": 60000.0, "s": 1000.0, "ms": 1.0, "us": 0.001,
                u"\u00b5s": 0.001, "ns": 0.000001}


class ModelError(Exception):
    """The model is invalid; ``errors`` lists every problem, each naming where it is."""

    def __init__(self, errors, model_name=None):
        self.errors = list(errors)
        self.model_name = model_name
        head = "traffic model %r is invalid" % model_name if model_name else "traffic model is invalid"
        super(ModelError, self).__init__("%s (%d error%s):\n  - %s" % (
            head, len(self.errors), "" if len(self.errors) == 1 else "s", "\n  - ".join(self.errors)))


# --------------------------------------------------------------------------- small helpers
def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_str(value):
    return isinstance(value, str)


def _fmt_number(value):
    """100.0 -> 100, 12.5 -> 12.5 (keeps rendered objects stable against YAML number styles)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def snake_to_camel(key):
    parts = key.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def camel_to_snake(key):
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), key)


def parse_duration_ms(value):
    """Return the duration in milliseconds, or None when ``value`` is not a duration.

    Accepts Go/Istio duration strings (``"7s"``, ``"1.5s"``, ``"100ms"``, ``"1m30s"``) and plain
    numbers (seconds). A leading minus gives a negative number so callers can name the problem.
    """
    if _is_number(value):
        return float(value) * 1000.0
    if not _is_str(value) or not value:
        return None
    sign = 1.0
    text = value.strip()
    if text.startswith("-"):
        sign, text = -1.0, text[1:]
    if not _DURATION.match(text):
        return None
    total = 0.0
    for number, unit in _DURATION_PART.findall(text):
        total += float(number) * _DURATION_MS[unit]
    return sign * total


def duration_text(value):
    """Render a validated duration: strings stay as written, numbers become seconds."""
    if _is_number(value):
        return "%ss" % _fmt_number(value)
    return value.strip()


class _Checker(object):
    """Collects errors; ``where`` is the human prefix naming the service and the field."""

    def __init__(self):
        self.errors = []

    def error(self, where, message):
        self.errors.append("%s: %s" % (where, message) if where else message)

    def mapping(self, value, where, accepted, required=()):
        """Check that value is a mapping with only accepted keys; return it (or {} when not)."""
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.error(where, "must be a mapping, got %s %r" % (type(value).__name__, value))
            return {}
        for key in value:
            if key not in accepted:
                self.error(where, "unknown key %r%s (accepted: %s)" % (
                    key, _suggest(key, accepted), ", ".join(accepted)))
        for key in required:
            if key not in value or value[key] in (None, ""):
                self.error(where, "%r is required" % key)
        return value

    def sequence(self, value, where):
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(where, "must be a list, got %s %r" % (type(value).__name__, value))
            return []
        return value

    def string(self, value, where, pattern=None, what=None):
        if not _is_str(value) or not value:
            self.error(where, "must be a non-empty string, got %r" % (value,))
            return False
        if pattern is not None and not pattern.match(value):
            self.error(where, "%r is not a valid %s" % (value, what or "value"))
            return False
        return True

    def integer(self, value, where, low, high):
        if not _is_int(value):
            self.error(where, "must be an integer from %d to %d, got %r" % (low, high, value))
            return False
        if not low <= value <= high:
            self.error(where, "%d is out of range: use %d to %d" % (value, low, high))
            return False
        return True

    def percentage(self, value, where):
        if not _is_number(value):
            self.error(where, "must be a number from 0 to 100, got %r" % (value,))
            return False
        if not 0 <= value <= 100:
            self.error(where, "%s is out of range: a percentage is 0 to 100" % (value,))
            return False
        return True

    def duration(self, value, where):
        millis = parse_duration_ms(value)
        if millis is None:
            self.error(where, "%r is not a duration (use e.g. '10s', '500ms', '1m30s' or a number of seconds)"
                       % (value,))
            return False
        if millis < 0:
            self.error(where, "%r is negative: a duration must be at least 1ms" % (value,))
            return False
        if millis < 1:
            self.error(where, "%r is too short: a duration must be at least 1ms" % (value,))
            return False
        if abs(millis - round(millis)) > 1e-6:
            self.error(where, "%r is finer than a millisecond, which Istio does not accept" % (value,))
            return False
        return True

    def labels(self, value, where):
        if not isinstance(value, dict):
            self.error(where, "must be a mapping of label names to strings, got %r" % (value,))
            return False
        good = True
        for key, val in value.items():
            if not _is_str(key) or not _valid_label_key(key):
                self.error(where, "%r is not a valid label name" % (key,))
                good = False
            if not _is_str(val):
                self.error(where, "label %s: value must be a string, got %r (quote it)" % (key, val))
                good = False
            elif len(val) > 63 or not _LABEL_VALUE.match(val):
                self.error(where, "label %s: %r is not a valid label value" % (key, val))
                good = False
        return good


def _valid_label_key(key):
    prefix, name = key.rpartition("/")[0::2]
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_LABEL_NAME.match(name))


def _suggest(key, accepted):
    if not _is_str(key):
        return ""
    snake = camel_to_snake(key)
    if snake != key and snake in accepted:
        return " (did you mean %r? model keys are snake_case)" % snake
    close = difflib.get_close_matches(key, accepted, n=1)
    return " (did you mean %r?)" % close[0] if close else ""


def _svc_where(index, service):
    name = service.get("name") if isinstance(service, dict) else None
    return "service %r" % name if _is_str(name) and name else "services[%d]" % index


# --------------------------------------------------------------------------- validation
def validate(model):
    """Check a model and return it normalized (every default filled in).

    Raises ModelError listing every problem; each message names the service (or gateway) and
    the field. Nothing here talks to a cluster.
    """
    chk = _Checker()
    if not isinstance(model, dict) or not model:
        raise ModelError(["the model must be a non-empty mapping with keys %s" % ", ".join(MODEL_KEYS)])
    chk.mapping(model, "model", MODEL_KEYS, required=("name",))
    name = model.get("name")
    if name is not None and not (_is_str(name) and len(name) <= 63 and _DNS_LABEL.match(name)):
        chk.error("model", "name %r must be a DNS label (lower-case letters, digits, '-'; at most 63)" % (name,))
    namespace = model.get("namespace", "default")
    if not (_is_str(namespace) and len(namespace) <= 63 and _DNS_LABEL.match(namespace)):
        chk.error("model", "namespace %r must be a DNS label" % (namespace,))

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
        svc = _validate_service(chk, service, where, namespace if _is_str(namespace) else "default",
                                gateway_names)
        if svc is None:
            continue
        if svc["name"] in seen:
            chk.error(where, "duplicate service: services[%d] and services[%d] are both named %r"
                      % (seen[svc["name"]], index, svc["name"]))
            continue
        seen[svc["name"]] = index
        services.append(svc)

    _cross_check(chk, services, namespace if _is_str(namespace) else "default")
    if chk.errors:
        raise ModelError(chk.errors, name if _is_str(name) else None)
    return {"name": name, "namespace": namespace, "gateways": gateways, "services": services}


def _validate_gateways(chk, raw):
    out = []
    seen = set()
    for index, gateway in enumerate(chk.sequence(raw, "model.gateways")):
        gname = gateway.get("name") if isinstance(gateway, dict) else None
        where = "gateway %r" % gname if _is_str(gname) and gname else "gateways[%d]" % index
        gateway = chk.mapping(gateway, where, GATEWAY_KEYS, required=("name",))
        if not gateway:
            continue
        ok = chk.string(gname, where + ": name", _DNS_SUBDOMAIN, "object name")
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
            chk.string(sname, swhere + ".name", _DNS_LABEL, "port name")
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
        if not _is_str(host) or not _HOST.match(host):
            chk.error(where, "%r is not a host name (lower-case DNS name, '*' or '*.<domain>')" % (host,))
            good = False
    return good


def _check_gateway_refs(chk, refs, where, gateway_names):
    refs = chk.sequence(refs, where)
    for ref in refs:
        if not _is_str(ref) or not ref:
            chk.error(where, "%r is not a gateway name" % (ref,))
        elif ref == "mesh" or ref in gateway_names:
            continue
        elif "/" in ref:
            ns, gname = ref.partition("/")[0::2]
            if not (_DNS_LABEL.match(ns) and _DNS_SUBDOMAIN.match(gname)):
                chk.error(where, "%r is not a <namespace>/<gateway> reference" % ref)
        else:
            chk.error(where, "gateway %r is not defined in the model (defined: %s; or use 'mesh' "
                      "or '<namespace>/<name>' for a gateway outside the model)"
                      % (ref, ", ".join(sorted(gateway_names)) or "none"))
    return refs


def _validate_policy(chk, holder, where):
    """Validate load_balancer, connection_pool and outlier_detection of a service or subset."""
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


def _validate_service(chk, service, where, namespace, gateway_names):
    chk.mapping(service, where, SERVICE_KEYS, required=("name",))
    name = service.get("name")
    if not (_is_str(name) and name and len(name) <= 63 - len(DR_PREFIX) and _DNS_LABEL.match(name)):
        chk.error(where, "name %r must be a DNS label of at most %d characters" % (name, 63 - len(DR_PREFIX)))
        return None
    host = service.get("host", name)
    if not (_is_str(host) and _HOST.match(host)) or host.startswith("*"):
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

    policy = _validate_policy(chk, service, where)

    subsets = []
    seen_subsets = set()
    raw_subsets = service.get("subsets", copy.deepcopy(list(DEFAULT_SUBSETS)))
    for sindex, subset in enumerate(chk.sequence(raw_subsets, where + ": subsets")):
        swhere = "%s: subsets[%d]" % (where, sindex)
        subset = chk.mapping(subset, swhere, SUBSET_KEYS, required=("name", "labels"))
        sname = subset.get("name")
        if not subset or not chk.string(sname, swhere + ".name", _DNS_LABEL, "subset name"):
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
        if not (_is_str(dhost) and _HOST.match(dhost)) or (_is_str(dhost) and "*" in dhost):
            chk.error(dwhere + ".host", "%r is not a host name" % (dhost,))
        subset = dest.get("subset")
        if subset is not None:
            chk.string(subset, dwhere + ".subset", _DNS_LABEL, "subset name")
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
    if given and all(_is_int(w) for w in given) and sum(given) != 100:
        chk.error(where, "weights %s sum to %d; they must sum to 100"
                  % (" + ".join(str(w) for w in given), sum(given)))


def _validate_string_match(chk, value, where):
    if _is_str(value):
        if not value:
            chk.error(where, "must not be empty")
        return {"exact": value}
    value = chk.mapping(value, where, STRING_MATCH_TYPES)
    if len(value) != 1:
        chk.error(where, "needs exactly one of exact, prefix, regex (got %s)" % (", ".join(sorted(value)) or "none"))
        return {}
    kind, text = list(value.items())[0]
    if kind in STRING_MATCH_TYPES and not _is_str(text):
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
                if not _is_str(hname) or not _HEADER.match(hname):
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
        chk.string(match["source_namespace"], where + ".source_namespace", _DNS_LABEL, "namespace")
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


def short_host(host, namespace):
    """'reviews', 'reviews.<ns>', 'reviews.<ns>.svc', 'reviews.<ns>.svc.cluster.local' -> 'reviews'.

    Hosts that name another namespace or an external name come back unchanged.
    """
    for suffix in (".%s.svc.cluster.local" % namespace, ".%s.svc" % namespace, ".%s" % namespace):
        if host.endswith(suffix):
            return host[:-len(suffix)]
    return host


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
                if dest["subset"] is None or not _is_str(dest["host"]):
                    continue
                where = "service %r: routes[%d].destinations[%d].subset" % (svc["name"], rindex, dindex)
                target = by_host.get(short_host(dest["host"], namespace))
                if target is None:
                    chk.error(where, "subset %r of host %r is not defined: no service in the model has host %r"
                              % (dest["subset"], dest["host"], dest["host"]))
                elif dest["subset"] not in [s["name"] for s in target["subsets"]]:
                    chk.error(where, "subset %r is not defined for host %r (defined: %s)" % (
                        dest["subset"], target["host"], ", ".join(s["name"] for s in target["subsets"]) or "none"))


# --------------------------------------------------------------------------- rendering
def labels_for(model_name, service=None):
    labels = {MANAGED_BY_LABEL: MANAGED_BY, MODEL_LABEL: model_name}
    if service is not None:
        labels[SERVICE_LABEL] = service
    return labels


def _meta(kind, name, namespace, labels):
    return {"apiVersion": GROUP_VERSION, "kind": kind,
            "metadata": {"name": name, "namespace": namespace, "labels": labels}}


def _render_policy(policy):
    out = {}
    if "load_balancer" in policy:
        out["loadBalancer"] = {"simple": policy["load_balancer"]}
    if "connection_pool" in policy:
        pool = {}
        for part, spec in (("tcp", TCP_POOL), ("http", HTTP_POOL)):
            if part in policy["connection_pool"]:
                pool[part] = _render_block(policy["connection_pool"][part], spec)
        out["connectionPool"] = pool
    if "outlier_detection" in policy:
        out["outlierDetection"] = _render_block(policy["outlier_detection"], OUTLIER)
    return out


def _render_block(block, spec):
    out = {}
    for key, value in block.items():
        if spec.get(key) == "duration":
            value = duration_text(value)
        out[snake_to_camel(key)] = value
    return out


def _render_match(match):
    out = {}
    for key in ("name", "uri", "scheme", "method", "authority", "headers", "port", "source_labels",
                "gateways", "query_params", "ignore_uri_case", "source_namespace"):
        if key in match:
            out[snake_to_camel(key)] = copy.deepcopy(match[key])
    return out


def _render_route(route):
    out = {}
    if route["name"]:
        out["name"] = route["name"]
    if route["match"]:
        out["match"] = [_render_match(m) for m in route["match"]]
    dests = []
    for dest in route["destinations"]:
        destination = {"host": dest["host"]}
        if dest["subset"] is not None:
            destination["subset"] = dest["subset"]
        if dest["port"] is not None:
            destination["port"] = {"number": dest["port"]}
        item = {"destination": destination}
        if dest["weight"] is not None:
            item["weight"] = dest["weight"]
        dests.append(item)
    out["route"] = dests
    if "timeout" in route:
        out["timeout"] = route["timeout"]
    if "retries" in route:
        retries = {"attempts": route["retries"]["attempts"]}
        if "per_try_timeout" in route["retries"]:
            retries["perTryTimeout"] = duration_text(route["retries"]["per_try_timeout"])
        if "retry_on" in route["retries"]:
            retries["retryOn"] = route["retries"]["retry_on"]
        out["retries"] = retries
    if "fault" in route:
        fault = {}
        if "delay" in route["fault"]:
            fault["delay"] = {"fixedDelay": duration_text(route["fault"]["delay"]["fixed"]),
                              "percentage": {"value": _fmt_number(route["fault"]["delay"]["percentage"])}}
        if "abort" in route["fault"]:
            fault["abort"] = {"httpStatus": route["fault"]["abort"]["http_status"],
                              "percentage": {"value": _fmt_number(route["fault"]["abort"]["percentage"])}}
        out["fault"] = fault
    return out


def render(model):
    """Render a validated (normalized) model into Istio objects, in apply order.

    Gateways first, then DestinationRules, then VirtualServices, so that the subsets and
    gateways a route refers to exist before the route.
    """
    name, namespace = model["name"], model["namespace"]
    gateways, rules, vservices = [], [], []
    for gateway in model["gateways"]:
        obj = _meta("Gateway", gateway["name"], namespace, labels_for(name))
        servers = []
        for server in gateway["servers"]:
            item = {"port": {"number": server["port"], "name": server["name"], "protocol": server["protocol"]},
                    "hosts": list(server["hosts"])}
            if server.get("tls"):
                item["tls"] = dict((snake_to_camel(k), v) for k, v in server["tls"].items())
            servers.append(item)
        obj["spec"] = {"selector": dict(gateway["selector"]), "servers": servers}
        gateways.append(obj)
    for svc in model["services"]:
        rule = _meta("DestinationRule", DR_PREFIX + svc["name"], namespace, labels_for(name, svc["name"]))
        spec = {"host": svc["host"]}
        policy = _render_policy(svc["policy"])
        if policy:
            spec["trafficPolicy"] = policy
        if svc["subsets"]:
            subsets = []
            for subset in svc["subsets"]:
                item = {"name": subset["name"], "labels": dict(subset["labels"])}
                sub_policy = _render_policy(subset["policy"])
                if sub_policy:
                    item["trafficPolicy"] = sub_policy
                subsets.append(item)
            spec["subsets"] = subsets
        rule["spec"] = spec
        rules.append(rule)
        if not svc["routes"]:
            continue
        vsvc = _meta("VirtualService", VS_PREFIX + svc["name"], namespace, labels_for(name, svc["name"]))
        spec = {"hosts": list(svc["hosts"])}
        if svc["gateways"]:
            spec["gateways"] = list(svc["gateways"])
        spec["http"] = [_render_route(route) for route in svc["routes"]]
        vsvc["spec"] = spec
        vservices.append(vsvc)
    return gateways + rules + vservices


def render_manifest(objects, dump):
    """Multi-document YAML text of ``objects``; ``dump`` is a yaml.safe_dump-like callable."""
    return "".join("---\n" + dump(obj, default_flow_style=False, sort_keys=False) for obj in objects)


# --------------------------------------------------------------------------- planning
def object_key(obj):
    meta = obj.get("metadata") or {}
    return (obj.get("kind"), meta.get("namespace"), meta.get("name"))


def object_ref(obj):
    kind, namespace, name = object_key(obj)
    return "%s %s/%s" % (kind, namespace, name)


def owner_model(obj):
    """The model name of an object this collection manages, else None."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
        return None
    return labels.get(MODEL_LABEL)


def comparable(obj):
    """The parts of an object the model decides: identity, labels, annotations we set, spec."""
    meta = obj.get("metadata") or {}
    out = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
           "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace")}}
    if meta.get("labels"):
        out["metadata"]["labels"] = dict(meta["labels"])
    annotations = dict((k, v) for k, v in (meta.get("annotations") or {}).items()
                       if k != "kubectl.kubernetes.io/last-applied-configuration")
    if annotations:
        out["metadata"]["annotations"] = annotations
    if "spec" in obj:
        out["spec"] = obj["spec"]
    return out


def converged(desired, live):
    """True when ``live`` already carries everything ``desired`` sets (spec equal, labels present)."""
    if live is None:
        return False
    live_labels = (live.get("metadata") or {}).get("labels") or {}
    for key, value in ((desired.get("metadata") or {}).get("labels") or {}).items():
        if live_labels.get(key) != value:
            return False
    return _normalize_numbers(desired.get("spec")) == _normalize_numbers(live.get("spec"))


def _normalize_numbers(value):
    if isinstance(value, dict):
        return dict((k, _normalize_numbers(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_normalize_numbers(v) for v in value]
    return _fmt_number(value) if isinstance(value, float) else value


def plan(desired, live, model_name, prune=True):
    """Decide what a run does.

    ``desired``: rendered objects. ``live``: every live object of the managed kinds in the
    model's namespace. Returns a dict:
    ``apply`` (list of (desired, live-or-None) that need a server-side apply), ``unchanged``
    (desired objects already converged), ``prune`` (live objects of this model no longer in
    it), ``conflicts`` (messages about same-named objects the model does not own).
    """
    live_by_key = {}
    for obj in live:
        live_by_key[object_key(obj)] = obj
    result = {"apply": [], "unchanged": [], "prune": [], "conflicts": []}
    wanted = set()
    for obj in desired:
        key = object_key(obj)
        wanted.add(key)
        current = live_by_key.get(key)
        if current is not None:
            owner = owner_model(current)
            if owner is None:
                result["conflicts"].append(
                    "%s exists and is not managed by meshops.istio (no label %s=%s); the model will not "
                    "take it over: rename the service or gateway in the model, or delete the object"
                    % (object_ref(current), MANAGED_BY_LABEL, MANAGED_BY))
                continue
            if owner != model_name:
                result["conflicts"].append("%s belongs to traffic model %r, not %r" % (
                    object_ref(current), owner, model_name))
                continue
        if converged(obj, current):
            result["unchanged"].append(obj)
        else:
            result["apply"].append((obj, current))
    if prune:
        order = dict((entry[0], index) for index, entry in enumerate(KINDS))
        stale = [obj for key, obj in live_by_key.items()
                 if key not in wanted and owner_model(obj) == model_name]
        stale.sort(key=lambda o: (-order.get(o.get("kind"), 0), object_key(o)))
        result["prune"] = stale
    return result


def host_warnings(model, service_names, pod_labels=None):
    """Warnings for hosts that are not Services in the model's namespace, and empty subsets.

    ``service_names``: names of the Services that exist in the namespace. Hosts that name
    another namespace or an external domain are not checked. ``pod_labels``: label mappings of
    the namespace's pods; when given, subsets of in-namespace hosts that select no pod are
    named too (istioctl analyze reports them as IST0173).
    """
    namespace = model["namespace"]
    names = set(service_names)
    warnings = []
    seen = set()
    for svc in model["services"]:
        hosts = [svc["host"]] + [d["host"] for r in svc["routes"] for d in r["destinations"]]
        for host in hosts:
            short = short_host(host, namespace)
            if "." in short or short in names or (svc["name"], short) in seen:
                continue
            seen.add((svc["name"], short))
            warnings.append("service %r: host %r is not a Service in namespace %r (routes to it fail until "
                            "the Service exists)" % (svc["name"], host, namespace))
        if pod_labels is None or "." in short_host(svc["host"], namespace):
            continue
        for subset in svc["subsets"]:
            wanted = subset["labels"].items()
            if not any(all(labels.get(k) == v for k, v in wanted) for labels in pod_labels):
                warnings.append("service %r: subset %r (%s) selects no pod in namespace %r (requests routed to it "
                                "fail with 503 until such pods run)" % (
                                    svc["name"], subset["name"],
                                    ",".join("%s=%s" % kv for kv in sorted(subset["labels"].items())), namespace))
    return warnings


def _hosts_overlap(first, second):
    first, second = first.split("/")[-1], second.split("/")[-1]
    if first == second or "*" in (first, second):
        return True
    for wild, name in ((first, second), (second, first)):
        if wild.startswith("*.") and (name.endswith(wild[1:]) or name == wild[2:]):
            return True
    return False


def gateway_conflicts(model, live_gateways):
    """Warnings for live Gateways outside the model that share a selector and port with a model
    gateway on overlapping hosts (istioctl analyze reports those as IST0145 errors)."""
    warnings = []
    for gateway in model["gateways"]:
        for live in live_gateways:
            meta = live.get("metadata") or {}
            if meta.get("namespace") == model["namespace"] and meta.get("name") == gateway["name"]:
                continue
            spec = live.get("spec") or {}
            if (spec.get("selector") or {}) != gateway["selector"]:
                continue
            for server in gateway["servers"]:
                for other in spec.get("servers") or []:
                    if (other.get("port") or {}).get("number") != server["port"]:
                        continue
                    shared = sorted(set(h for h in server["hosts"] for o in other.get("hosts") or []
                                        if _hosts_overlap(h, o)))
                    if shared:
                        warnings.append(
                            "gateway %r: port %s hosts %s overlap Gateway %s/%s on the same ingress (selector %s); "
                            "one of them will not get the traffic; give the gateways distinct hosts" % (
                                gateway["name"], server["port"], ", ".join(shared), meta.get("namespace"),
                                meta.get("name"), ",".join("%s=%s" % kv for kv in sorted(gateway["selector"].items()))))
    return warnings


# --------------------------------------------------------------------------- shifting weights
def shift_weights(model, service, weight, stable="stable", canary="canary"):
    """Return a copy of a (raw) model with ``weight`` percent of ``service`` on ``canary``.

    Every route of the service whose destinations are only the stable and canary subsets gets
    ``[stable: 100 - weight, canary: weight]``; other routes (header matches pinned to one
    subset, for example) keep theirs. A service without routes gets one such route.
    """
    if not _is_int(weight) or not 0 <= weight <= 100:
        raise ValueError("canary weight must be an integer from 0 to 100, got %r" % (weight,))
    if not isinstance(model, dict):
        raise ValueError("the model must be a mapping")
    out = copy.deepcopy(model)
    services = [s for s in (out.get("services") or []) if isinstance(s, dict) and s.get("name") == service]
    if not services:
        raise ValueError("service %r is not in the model (services: %s)" % (
            service, ", ".join(str(s.get("name")) for s in (out.get("services") or []) if isinstance(s, dict))))
    svc = services[0]
    pair = [{"subset": stable, "weight": 100 - weight}, {"subset": canary, "weight": weight}]
    if "routes" not in svc:
        svc["routes"] = [{"destinations": pair}]
        return out
    shifted = 0
    for route in svc["routes"] or []:
        dests = route.get("destinations") or []
        subsets = set(d.get("subset") for d in dests if isinstance(d, dict))
        if not dests or not subsets <= set([stable, canary]):
            continue
        if route.get("match") and len(dests) < 2:
            continue  # a match pinned to one subset (testers to canary, say) keeps its route
        extra = dict((k, v) for k, v in dests[0].items() if k in ("host", "port"))
        route["destinations"] = [dict(extra, **item) for item in pair]
        shifted += 1
    if not shifted:
        raise ValueError("service %r has no route between subsets %r and %r to shift" % (service, stable, canary))
    return out


def route_weights(model, service):
    """{subset: weight} of the shiftable routes of ``service`` in a raw model (for reports)."""
    for svc in model.get("services") or []:
        if isinstance(svc, dict) and svc.get("name") == service:
            for route in svc.get("routes") or []:
                dests = route.get("destinations") or []
                if len(dests) > 1:
                    return dict((d.get("subset"), d.get("weight")) for d in dests)
    return {}


# --------------------------------------------------------------------------- drawing
def _dot_str(text):
    return '"%s"' % str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _match_text(match):
    parts = []
    for key in ("uri", "method", "authority", "scheme"):
        if key in match:
            kind, value = list(match[key].items())[0]
            parts.append("%s %s %s" % (key, kind, value))
    for key, label in (("headers", "header"), ("query_params", "query")):
        for name, cond in sorted(match.get(key, {}).items()):
            kind, value = list(cond.items())[0]
            parts.append("%s %s %s %s" % (label, name, kind, value))
    if "port" in match:
        parts.append("port %s" % match["port"])
    if match.get("source_labels"):
        parts.append("from " + ",".join("%s=%s" % kv for kv in sorted(match["source_labels"].items())))
    if "source_namespace" in match:
        parts.append("from ns %s" % match["source_namespace"])
    if match.get("gateways"):
        parts.append("via " + ",".join(match["gateways"]))
    return " & ".join(parts)


def _route_text(route, dest):
    lines = []
    if route["match"]:
        lines.append(" |\n".join(_match_text(m) for m in route["match"]))
    else:
        lines.append("default")
    if dest["weight"] is not None:
        lines.append("%d%%" % dest["weight"])
    extras = []
    fault = route.get("fault") or {}
    if "delay" in fault:
        extras.append("delay %s @%s%%" % (duration_text(fault["delay"]["fixed"]), _fmt_number(fault["delay"]["percentage"])))
    if "abort" in fault:
        extras.append("abort %s @%s%%" % (fault["abort"]["http_status"], _fmt_number(fault["abort"]["percentage"])))
    if "timeout" in route:
        extras.append("timeout %s" % route["timeout"])
    if "retries" in route:
        extras.append("retries %s" % route["retries"]["attempts"])
    if extras:
        lines.append(", ".join(extras))
    return "\n".join(lines)


def render_dot(model):
    """Graphviz DOT text of a validated model: gateways -> services -> subsets.

    Edges from a service to its subsets carry the route's match conditions, weight and
    faults; a service routed in the mesh hangs off a 'mesh' node.
    """
    namespace = model["namespace"]
    lines = ["digraph %s {" % _dot_str("traffic model " + model["name"]),
             "  rankdir=LR;",
             '  fontname="Helvetica";',
             "  labelloc=t;",
             "  label=%s;" % _dot_str("traffic model %s (namespace %s)" % (model["name"], namespace)),
             '  node [fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=9];']
    by_host = dict((short_host(s["host"], namespace), s) for s in model["services"])
    uses_mesh = any(s["routes"] and (not s["gateways"] or "mesh" in s["gateways"]) for s in model["services"])
    for gateway in model["gateways"]:
        ports = ", ".join("%s %s" % (srv["port"], srv["protocol"]) for srv in gateway["servers"])
        hosts = ", ".join(sorted(set(h for srv in gateway["servers"] for h in srv["hosts"])))
        lines.append("  %s [shape=box, style=\"rounded,filled\", fillcolor=\"#dbe9f6\", label=%s];" % (
            _dot_str("gw:" + gateway["name"]), _dot_str("Gateway %s\n%s\nhosts %s" % (gateway["name"], ports, hosts))))
    external = sorted(set(g for s in model["services"] for g in s["gateways"]
                          if g != "mesh" and g not in [gw["name"] for gw in model["gateways"]]))
    for ref in external:
        lines.append("  %s [shape=box, style=\"rounded,dashed\", label=%s];" % (
            _dot_str("gw:" + ref), _dot_str("Gateway %s\n(outside the model)" % ref)))
    if uses_mesh:
        lines.append("  %s [shape=ellipse, style=dashed, label=%s];" % (_dot_str("mesh"), _dot_str("mesh\n(sidecars)")))
    extra_hosts = []
    for svc in model["services"]:
        lines.append("  subgraph %s {" % _dot_str("cluster_" + svc["name"]))
        lines.append("    label=%s;" % _dot_str("%s (host %s)" % (svc["name"], svc["host"])))
        lines.append("    style=rounded; color=\"#888888\";")
        lines.append("    %s [shape=ellipse, style=filled, fillcolor=\"#fff2cc\", label=%s];" % (
            _dot_str("svc:" + svc["name"]), _dot_str("%s\n%s" % (VS_PREFIX + svc["name"], ", ".join(svc["hosts"])))
            if svc["routes"] else _dot_str("%s\n(no routes)" % svc["name"])))
        for subset in svc["subsets"]:
            labels = ",".join("%s=%s" % kv for kv in sorted(subset["labels"].items()))
            policy = subset["policy"].get("load_balancer") or svc["policy"].get("load_balancer")
            text = "%s\n%s" % (subset["name"], labels) + ("\n%s" % policy if policy else "")
            lines.append("    %s [shape=box, style=filled, fillcolor=\"#d9ead3\", label=%s];" % (
                _dot_str("subset:%s:%s" % (svc["name"], subset["name"])), _dot_str(text)))
        lines.append("  }")
    for svc in model["services"]:
        if not svc["routes"]:
            continue
        sources = [g for g in svc["gateways"] if g != "mesh"]
        if not svc["gateways"] or "mesh" in svc["gateways"]:
            lines.append("  %s -> %s [label=%s];" % (
                _dot_str("mesh"), _dot_str("svc:" + svc["name"]), _dot_str(", ".join(svc["hosts"]))))
        for ref in sources:
            lines.append("  %s -> %s [label=%s];" % (
                _dot_str("gw:" + ref), _dot_str("svc:" + svc["name"]), _dot_str(", ".join(svc["hosts"]))))
        for route in svc["routes"]:
            for dest in route["destinations"]:
                target_svc = by_host.get(short_host(dest["host"], namespace))
                if target_svc is not None and dest["subset"]:
                    target = "subset:%s:%s" % (target_svc["name"], dest["subset"])
                elif target_svc is not None:
                    target = "svc:" + target_svc["name"]
                else:
                    target = "host:" + dest["host"]
                    if target not in extra_hosts:
                        extra_hosts.append(target)
                style = ", style=dotted" if dest["weight"] == 0 else ""
                color = ", color=\"#cc0000\"" if route.get("fault") else ""
                lines.append("  %s -> %s [label=%s%s%s];" % (
                    _dot_str("svc:" + svc["name"]), _dot_str(target), _dot_str(_route_text(route, dest)), style, color))
    for host in extra_hosts:
        lines.append("  %s [shape=box, style=dashed, label=%s];" % (_dot_str(host), _dot_str(host[5:])))
    lines.append("}")
    return "\n".join(lines) + "\n"
