# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Draw a validated traffic model as Graphviz DOT text."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils.traffic.schema import (
    VS_PREFIX, duration_text, fmt_number, short_host,
)


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
        extras.append("delay %s @%s%%" % (duration_text(fault["delay"]["fixed"]), fmt_number(fault["delay"]["percentage"])))
    if "abort" in fault:
        extras.append("abort %s @%s%%" % (fault["abort"]["http_status"], fmt_number(fault["abort"]["percentage"])))
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
