# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the VirtualServices in the cluster say a call should see, and whether it did.

``plan`` reads VirtualServices, DestinationRules and Services (objects as read from the API
server) and, for every http route of every VirtualService that applies inside the mesh (no
``gateways``, or ``mesh`` among them), builds the request that selects it (its exact header
matches; the default route gets none) and the checks that request must pass:

- ``destinations``: the versions that answer (a DestinationRule subset's ``version`` label) and
  their weights; a weighted split passes when each version's count is within a binomial tolerance;
- ``delay``: fault delay (every call takes at least the delay and less than delay + slack);
- ``abort``: fault abort (the gRPC code grpc-go maps the HTTP status to, or the gRPC status);
- ``timeout``: the route timeout (seen only when a longer fault delay makes calls DeadlineExceeded);
- ``retries``: reported skipped (the proxyless data plane has no failing upstream to retry).

One probe per route; ``observe`` takes the probe results (same order as ``plan``'s probes) and
returns each check as {"name", "status": passed|failed|skipped, "detail", ...}.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

from ansible_collections.meshops.istio.plugins.module_utils.probe import result as probe_result
from ansible_collections.meshops.istio.plugins.module_utils.probe import stats

# The method every call of the test client makes (the echo service's gRPC path); uri matches are
# evaluated against it.
GRPC_PATH = "/proto.EchoTestService/Echo"
RETRIES_SKIP = "proxyless data plane: retries act on upstream gRPC status codes; no failing upstream to observe"
# HTTP status of a fault abort -> the gRPC code a gRPC client reports (grpc's HTTP to gRPC status mapping).
HTTP_TO_GRPC = {400: "Internal", 401: "Unauthenticated", 403: "PermissionDenied", 404: "Unimplemented",
                429: "Unavailable", 502: "Unavailable", 503: "Unavailable", 504: "Unavailable"}
# Match conditions the test client cannot set or that depend on the caller beyond its namespace.
UNEXPRESSIBLE = ("method", "scheme", "authority", "queryParams", "sourceLabels", "statPrefix")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)(ms|s|m|h)?\s*$")


def grpc_code_for_http(status):
    """The gRPC code name (as grpc-go prints it) for an HTTP status without grpc-status."""
    return HTTP_TO_GRPC.get(int(status), "Unknown")


def grpc_code_name(name):
    """UNAVAILABLE -> Unavailable, DEADLINE_EXCEEDED -> DeadlineExceeded, CANCELLED -> Canceled."""
    name = str(name).strip().upper()
    if name == "CANCELLED":
        return "Canceled"
    if name == "OK":
        return "OK"
    return "".join(part.capitalize() for part in name.split("_"))


def seconds(value):
    """A protobuf duration as written in a VirtualService ("7s", "500ms", "1.5s", "1m") in seconds, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    found = _DURATION.match(str(value))
    if not found:
        return None
    number, unit = float(found.group(1)), found.group(2) or "s"
    return number * {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}[unit]


def percentage(fault_part):
    """Percent of calls a fault applies to (100 when the VirtualService gives none)."""
    pct = fault_part.get("percentage")
    if isinstance(pct, dict) and pct.get("value") is not None:
        return float(pct["value"])
    if fault_part.get("percent") is not None:
        return float(fault_part["percent"])
    return 100.0


def fqdn(host, namespace):
    """A VirtualService/DestinationRule host in the namespace of its object -> the Service FQDN it names,
    or None for a wildcard or a name outside the cluster's Services."""
    host = str(host or "")
    if not host or "*" in host:
        return None
    parts = host.split(".")
    if len(parts) == 1:
        return "%s.%s.svc.cluster.local" % (host, namespace)
    if len(parts) == 2:
        return "%s.%s.svc.cluster.local" % (parts[0], parts[1])
    if len(parts) == 3 and parts[2] == "svc":
        return "%s.%s.svc.cluster.local" % (parts[0], parts[1])
    if host.endswith(".svc.cluster.local") and len(parts) == 5:
        return host
    return None


def _meta(obj):
    return obj.get("metadata") or {}


def _fmt_s(value):
    return ("%g" % value) + "s"


def _header_value(cond):
    """A value that satisfies a header condition, or None when the condition cannot be met by construction."""
    if not isinstance(cond, dict):
        return None
    if "exact" in cond:
        return str(cond["exact"])
    if "prefix" in cond:
        return str(cond["prefix"])
    return None


def _header_holds(cond, value):
    """True/False whether a string condition (a header's, a uri's) holds for value (None = header absent); None when unknown."""
    if not isinstance(cond, dict):
        return None
    if value is None:
        return False
    if "exact" in cond:
        return value == str(cond["exact"])
    if "prefix" in cond:
        return value.startswith(str(cond["prefix"]))
    if "regex" in cond:
        try:
            return re.fullmatch(str(cond["regex"]), value) is not None
        except re.error:
            return None
    return None


def _uri_holds(cond):
    """Whether a uri condition holds for the gRPC path every call of the test client has."""
    return _header_holds(cond, GRPC_PATH)


def block_holds(block, request, caller_namespace):
    """Whether a request {"headers", "port"} from a mesh client matches one match block:
    True, False, or a string naming the condition that cannot be evaluated."""
    if not block:
        return True
    verdicts = []
    for key in block:
        if key in ("name", "ignoreUriCase"):
            continue
        if key in UNEXPRESSIBLE:
            return key
        if key == "headers":
            for header, cond in (block[key] or {}).items():
                if header.startswith(":"):
                    return "headers.%s" % header
                holds = _header_holds(cond, request["headers"].get(header.lower()))
                if holds is None:
                    return "headers.%s" % header
                verdicts.append(holds)
        elif key == "withoutHeaders":
            for header, cond in (block[key] or {}).items():
                holds = _header_holds(cond, request["headers"].get(header.lower()))
                if holds is None:
                    return "withoutHeaders.%s" % header
                verdicts.append(not holds)
        elif key == "uri":
            holds = _uri_holds(block[key])
            if holds is None:
                return "uri"
            verdicts.append(holds)
        elif key == "port":
            verdicts.append(int(block[key]) == int(request["port"]))
        elif key == "gateways":
            verdicts.append("mesh" in (block[key] or []))
        elif key == "sourceNamespace":
            verdicts.append(block[key] == caller_namespace)
        else:
            return key
    return all(verdicts)


def request_for(block, default_port):
    """The request (headers, port) that satisfies a match block by construction, or (None, reason)."""
    request = {"headers": {}, "port": default_port}
    for header, cond in ((block or {}).get("headers") or {}).items():
        value = _header_value(cond)
        if value is None or header.startswith(":"):
            return None, "header %s: only exact and prefix header matches can be sent" % header
        request["headers"][header.lower()] = value
    if (block or {}).get("port") is not None:
        request["port"] = int(block["port"])
    return request, ""


def describe_request(request):
    headers = request["headers"]
    return ", ".join("%s=%s" % (k, headers[k]) for k in sorted(headers)) if headers else "no headers"


def _subset_versions(destination_rules, host_fqdn):
    """subset name -> its labels, from the DestinationRules for a host."""
    subsets = {}
    for rule in destination_rules:
        spec = rule.get("spec") or {}
        if fqdn(spec.get("host"), _meta(rule).get("namespace", "default")) != host_fqdn:
            continue
        for subset in spec.get("subsets") or []:
            subsets.setdefault(subset.get("name"), subset.get("labels") or {})
    return subsets


def _destinations(route, namespace, destination_rules):
    """[{"host", "subset", "version", "weight"}], or (None, reason) when versions cannot be told apart."""
    rows = []
    entries = route.get("route") or []
    for entry in entries:
        dest = entry.get("destination") or {}
        host = fqdn(dest.get("host"), namespace)
        weight = entry.get("weight")
        weight = 100.0 if weight is None and len(entries) == 1 else float(weight or 0)
        row = {"host": host or dest.get("host"), "subset": dest.get("subset") or "", "weight": weight, "version": None}
        if not host:
            return None, "destination host %s is not a Service of the cluster" % dest.get("host")
        if row["subset"]:
            labels = _subset_versions(destination_rules, host).get(row["subset"])
            if labels is None:
                return None, "subset %s of %s is defined by no DestinationRule" % (row["subset"], host)
            if not labels.get("version"):
                return None, "subset %s of %s has no version label: the answering pod's version cannot tell it apart" % (
                    row["subset"], host)
            row["version"] = labels["version"]
        rows.append(row)
    return rows, ""


def _service_port(services, host_fqdn):
    name, namespace = host_fqdn.split(".")[0], host_fqdn.split(".")[1]
    for svc in services:
        meta = _meta(svc)
        if meta.get("name") == name and meta.get("namespace", namespace) == namespace:
            ports = (svc.get("spec") or {}).get("ports") or []
            return int(ports[0]["port"]) if ports else None
    return None


def _caller(callers, service, namespace):
    source = (callers or {}).get(service)
    if not source:
        return None
    return source if "/" in source and source.split("/")[0] else "%s/%s" % (namespace, source)


def plan(virtual_services, destination_rules=(), services=(), callers=None, count=100, single_count=10, delay_count=2,
         timeout=5.0, slack=2.0, z=stats.DEFAULT_Z):
    """{"checks": [...], "probes": [...]} for the mesh-internal VirtualServices (see the module docstring).

    ``callers`` maps a Service name to the probe source that calls it (NAMESPACE/APP[/VERSION] or
    NAMESPACE/POD; a value without namespace is taken in the VirtualService's namespace). ``count`` calls
    probe a weighted split, ``single_count`` a route with one version, ``delay_count`` a route with a
    fault delay (each call takes the delay); ``timeout`` is each call's deadline (a delayed route's
    calls get delay + slack + 1 s), ``slack`` how much longer than a delay or timeout a call may take.
    """
    checks, probes = [], []
    settings = {"z": float(z), "slack": float(slack)}
    for vs in sorted(virtual_services or [], key=lambda o: (_meta(o).get("namespace", ""), _meta(o).get("name", ""))):
        meta, spec = _meta(vs), vs.get("spec") or {}
        gateways = spec.get("gateways") or []
        if gateways and "mesh" not in gateways:
            continue
        namespace, vs_name = meta.get("namespace", "default"), meta.get("name", "")
        hosts = [fqdn(h, namespace) for h in spec.get("hosts") or []]
        host = next((h for h in hosts if h and _service_port(services, h) is not None), None)
        service = host.split(".")[0] if host else ""
        source = _caller(callers, service, namespace) if host else None
        routes = spec.get("http") or []
        for index, route in enumerate(routes):
            label = route.get("name") or "#%d" % index
            route_checks = _route_checks(vs_name, label, route)
            head = "traffic: %s route %s" % (vs_name, label)
            skip = ""
            request = None
            if not host:
                skip = "no host of %s is a Service of namespace %s with a port: a proxyless client dials Service names" % (
                    vs_name, namespace)
            elif not source:
                skip = "no caller for %s in verify_traffic_callers" % service
            else:
                request, skip = _route_request(routes, index, route, _service_port(services, host), source.split("/")[0])
            if request is not None:
                head += " (%s)" % describe_request(request)
            for check in route_checks:
                check["name"] = "%s: %s" % (head, check.pop("what"))
                check.update(virtual_service="%s/%s" % (namespace, vs_name), route=label, settings=settings)
            if skip:
                for check in route_checks:
                    check.update(status="skipped", detail=skip)
                checks.extend(route_checks)
                continue
            dests, reason = _destinations(route, namespace, destination_rules or [])
            _fill_expectations(route_checks, route, dests, reason)
            delay = seconds(((route.get("fault") or {}).get("delay") or {}).get("fixedDelay"))
            split_route = dests and len([d for d in dests if d["weight"] > 0]) > 1
            n = delay_count if delay else (count if split_route else single_count)
            for check in route_checks:
                if check["kind"] == "destinations" and delay and split_route and check.get("status") != "skipped":
                    check.update(status="skipped", detail="the route delays every call by %s: a split needs more calls than the "
                                 "delay probe sends (%d)" % (_fmt_s(delay), n))
            if all(c.get("status") == "skipped" for c in route_checks):
                checks.extend(route_checks)
                continue
            call_timeout = (delay + float(slack) + 1.0) if delay else float(timeout)
            probes.append({"source": source, "to": "%s:%d" % (host, request["port"]), "headers": request["headers"],
                           "count": int(n), "timeout": call_timeout})
            for check in route_checks:
                if check.get("status") != "skipped":
                    check["probe"] = len(probes) - 1
            checks.extend(route_checks)
    return {"checks": checks, "probes": probes}


def _route_request(routes, index, route, port, caller_namespace):
    """(request, "") for the route's first block the probe can express and that no earlier route catches,
    or (None, reason)."""
    blocks = route.get("match") or [{}]
    reasons = []
    for block in blocks:
        unknown = [k for k in block if k in UNEXPRESSIBLE or k not in (
            "name", "ignoreUriCase", "headers", "withoutHeaders", "uri", "port", "gateways", "sourceNamespace")]
        if unknown:
            reasons.append("match on %s cannot be sent by the test client" % ", ".join(sorted(unknown)))
            continue
        request, reason = request_for(block, port)
        if request is None:
            reasons.append(reason)
            continue
        holds = block_holds(block, request, caller_namespace)
        if holds is not True:
            reasons.append("a gRPC call (POST %s) cannot match %s" % (GRPC_PATH, holds if isinstance(holds, str) else "it"))
            continue
        earlier = _caught_by(routes[:index], request, caller_namespace)
        if earlier:
            reasons.append(earlier)
            continue
        return request, ""
    return None, "; ".join(reasons) or "no match block the probe can send"


def _caught_by(earlier_routes, request, caller_namespace):
    for i, other in enumerate(earlier_routes):
        label = other.get("name") or "#%d" % i
        for block in other.get("match") or [{}]:
            holds = block_holds(block, request, caller_namespace)
            if holds is True:
                return "the request (%s) is taken by the earlier route %s" % (describe_request(request), label)
            if isinstance(holds, str):
                return "the earlier route %s matches on %s, which the probe cannot evaluate" % (label, holds)
    return ""


def _route_checks(vs_name, label, route):
    """The checks of one route, with what each expects (names are completed by plan)."""
    out = []
    dests = route.get("route") or []
    if dests:
        parts = []
        for entry in dests:
            dest = entry.get("destination") or {}
            name = dest.get("subset") or ("%s (any version)" % dest.get("host"))
            parts.append("%s %s%%" % (name, "%g" % float(entry["weight"])) if entry.get("weight") is not None and len(dests) > 1 else name)
        what = ("split " + " / ".join(parts)) if len(dests) > 1 else "answered by " + parts[0]
        out.append({"kind": "destinations", "what": what})
    else:
        kind = "redirect" if route.get("redirect") else ("direct response" if route.get("directResponse") else "no destination")
        out.append({"kind": "destinations", "what": kind, "status": "skipped",
                    "detail": "%s route: a gRPC test client cannot observe it" % kind})
    fault = route.get("fault") or {}
    delay = fault.get("delay") or {}
    if delay:
        out.append({"kind": "delay", "what": "fault delay %s at %g%%" % (delay.get("fixedDelay"), percentage(delay))})
    abort = fault.get("abort") or {}
    if abort:
        if abort.get("httpStatus") is not None:
            what = "fault abort HTTP %s at %g%% (gRPC %s)" % (abort["httpStatus"], percentage(abort), grpc_code_for_http(abort["httpStatus"]))
        elif abort.get("grpcStatus"):
            what = "fault abort gRPC %s at %g%%" % (abort["grpcStatus"], percentage(abort))
        else:
            what = "fault abort at %g%%" % percentage(abort)
        out.append({"kind": "abort", "what": what})
    if route.get("timeout"):
        out.append({"kind": "timeout", "what": "timeout %s" % route["timeout"]})
    retries = route.get("retries") or {}
    if retries:
        out.append({"kind": "retries", "what": "retries %s attempts" % retries.get("attempts", "?"), "status": "skipped",
                    "detail": RETRIES_SKIP})
    return out


def _fill_expectations(route_checks, route, dests, dest_reason):
    fault = route.get("fault") or {}
    delay_part, abort_part = fault.get("delay") or {}, fault.get("abort") or {}
    delay = seconds(delay_part.get("fixedDelay")) if delay_part else None
    delay_pct = percentage(delay_part) if delay_part else 0.0
    abort_pct = percentage(abort_part) if abort_part else 0.0
    abort_code = None
    if abort_part.get("httpStatus") is not None:
        abort_code = grpc_code_for_http(abort_part["httpStatus"])
    elif abort_part.get("grpcStatus"):
        abort_code = grpc_code_name(abort_part["grpcStatus"])
    timeout = seconds(route.get("timeout"))
    times_out = bool(timeout and delay and delay_pct >= 100 and delay > timeout)
    for check in route_checks:
        if check.get("status") == "skipped":
            continue
        kind = check["kind"]
        if kind == "destinations":
            if dests is None:
                check.update(status="skipped", detail=dest_reason)
            elif times_out:
                check.update(status="skipped", detail="the route timeout (%s) ends every call before the delay (%s): no call "
                             "reaches a destination" % (_fmt_s(timeout), _fmt_s(delay)))
            elif abort_code and abort_pct >= 100:
                check.update(status="skipped", detail="the fault abort answers every call: no call reaches a destination")
            else:
                versions = {}
                for d in dests:
                    versions[d["version"] or ""] = versions.get(d["version"] or "", 0.0) + d["weight"] / 100.0
                if "" in versions and len(versions) > 1:
                    check.update(status="skipped", detail="a destination without subset answers with any version: the split "
                                 "cannot be told apart")
                else:
                    explained = []
                    if abort_code:
                        explained.append(abort_code)
                    check["expected"] = {"versions": versions, "other_codes": explained}
        elif kind == "delay":
            if delay is None:
                check.update(status="skipped", detail="fixedDelay %r is not a duration" % delay_part.get("fixedDelay"))
            elif delay_pct < 100:
                check.update(status="skipped", detail="fault delay at %g%%: telling a partial delay from chance needs more "
                             "calls than a bounded probe sends" % delay_pct)
            elif times_out:
                check.update(status="skipped", detail="the route timeout (%s) ends every call before the delay (%s)"
                             % (_fmt_s(timeout), _fmt_s(delay)))
            else:
                check["expected"] = {"delay_s": delay}
        elif kind == "abort":
            if not abort_code:
                check.update(status="skipped", detail="abort without httpStatus or grpcStatus (http2Error) cannot be observed")
            elif times_out:
                check.update(status="skipped", detail="the route timeout (%s) ends every call before the abort" % _fmt_s(timeout))
            else:
                check["expected"] = {"code": abort_code, "fraction": abort_pct / 100.0}
        elif kind == "timeout":
            if timeout is None:
                check.update(status="skipped", detail="timeout %r is not a duration" % route.get("timeout"))
            elif not times_out:
                check.update(status="skipped", detail="route timeout %s: observable only with a fault delay longer than it "
                             "on the same route (at 100%%)" % _fmt_s(timeout))
            else:
                check["expected"] = {"timeout_s": timeout}


def _latency(summary):
    lat = summary["latency_ms"]
    if lat["min"] is None:
        return "no latency"
    return "min %.1f / median %.1f / max %.1f ms over %d calls" % (lat["min"], lat["median"], lat["max"], summary["calls"])


def _first_error(calls, codes=None):
    for call in calls:
        if call.get("code") != "OK" and (codes is None or call.get("code") in codes) and call.get("error"):
            return " (%s)" % call["error"][-160:]
    return ""


def observe(planned, results):
    """Each check of ``plan`` with status and detail, given the probe results in the order of its probes."""
    probes = planned.get("probes") or []
    if len(results or []) != len(probes):
        raise ValueError("%d probe results for %d probes: the results do not belong to this plan" % (len(results or []), len(probes)))
    out = []
    for check in planned.get("checks") or []:
        done = {k: v for k, v in check.items() if k != "settings"}
        if check.get("status") == "skipped":
            out.append(done)
            continue
        res = results[check["probe"]]
        calls = res.get("calls") or []
        if not calls:
            done.update(status="failed", detail="not probed: %s" % (res.get("error") or "the probe sent no call"))
            out.append(done)
            continue
        summary = probe_result.summarize(res)
        done["observed"] = summary
        status, detail = _judge(check, calls, summary, check.get("settings") or {})
        done.update(status=status, detail=detail)
        out.append(done)
    return out


def _judge(check, calls, summary, settings):
    z, slack = float(settings.get("z", stats.DEFAULT_Z)), float(settings.get("slack", 2.0))
    expected, kind, n = check["expected"], check["kind"], len(calls)
    codes = ", ".join("%s %d" % (k, v) for k, v in sorted(summary["codes"].items()))
    if kind == "destinations":
        allowed = set(["OK"] + list(expected.get("other_codes") or []))
        bad = [c for c in calls if c.get("code") not in allowed]
        answered = [c for c in calls if c.get("code") == "OK"]
        observed = {}
        for call in answered:
            observed[call.get("version") or ""] = observed.get(call.get("version") or "", 0) + 1
        weights = expected["versions"]
        if bad:
            return "failed", "expected answers from %s; observed codes %s%s" % (_weights_text(weights), codes, _first_error(bad))
        if not answered:
            return "failed", "no call answered: codes %s" % codes
        if list(weights) == [""]:
            return "passed", "answered %d/%d (any version: %s)" % (len(answered), n, _counts_text(observed))
        passed, rows = stats.split(observed, len(answered), weights, z)
        if len(weights) == 1 and list(weights.values())[0] >= 1:
            version = list(weights)[0]
            text = "%s %d/%d (expected every answer from %s%s)" % (
                version, observed.get(version, 0), len(answered), version,
                "" if passed else "; observed " + _counts_text(observed))
            return ("passed" if passed else "failed"), text
        text = "; ".join("%s: expected %.1f ± %.1f of %d (weight %g%%), observed %d" % (
            row["key"], row["expected"], row["tolerance"], len(answered), row["weight"] * 100, row["observed"]) for row in rows)
        return ("passed" if passed else "failed"), text + " (binomial tolerance, z=%g)" % z
    if kind == "delay":
        low, high = expected["delay_s"] * 1000.0, (expected["delay_s"] + slack) * 1000.0
        slow = [c for c in calls if float(c.get("ms") or 0) < low]
        late = [c for c in calls if float(c.get("ms") or 0) >= high]
        ok = not slow and not late
        return ("passed" if ok else "failed"), "every call >= %.0f ms and < %.0f ms: %s; %d shorter, %d longer (codes %s)" % (
            low, high, _latency(summary), len(slow), len(late), codes)
    if kind == "abort":
        code, fraction = expected["code"], expected["fraction"]
        aborted = len([c for c in calls if c.get("code") == code])
        others = [c for c in calls if c.get("code") not in (code, "OK")]
        if others:
            return "failed", "expected %s on %g%% of calls, else OK; observed codes %s%s" % (code, fraction * 100, codes, _first_error(others))
        passed, exp, tol = stats.within(aborted, n, fraction, z)
        if fraction >= 1:
            return ("passed" if passed else "failed"), "%s %d/%d (expected every call aborted with %s; codes %s)%s" % (
                code, aborted, n, code, codes, _first_error(calls, [code]))
        return ("passed" if passed else "failed"), "%s: expected %.1f ± %.1f of %d, observed %d (binomial tolerance, z=%g; codes %s)" % (
            code, exp, tol, n, aborted, z, codes)
    if kind == "timeout":
        low, high = expected["timeout_s"] * 1000.0 - 50.0, (expected["timeout_s"] + slack) * 1000.0
        wrong = [c for c in calls if c.get("code") != "DeadlineExceeded"]
        out_of_time = [c for c in calls if not low <= float(c.get("ms") or 0) < high]
        ok = not wrong and not out_of_time
        return ("passed" if ok else "failed"), "expected DeadlineExceeded after about %s (%.0f to %.0f ms): codes %s, %s" % (
            _fmt_s(expected["timeout_s"]), low, high, codes, _latency(summary))
    return "skipped", "nothing to observe for %s" % kind


def _weights_text(weights):
    return " / ".join("%s %g%%" % (k or "any version", v * 100) for k, v in sorted(weights.items()))


def _counts_text(counts):
    return ", ".join("%s %d" % (k or "(none)", v) for k, v in sorted(counts.items())) or "none"
