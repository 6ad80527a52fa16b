# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a validated traffic model into Istio networking.istio.io objects."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import copy

from ansible_collections.meshops.istio.plugins.module_utils.traffic.schema import (
    DR_PREFIX, GROUP_VERSION, HTTP_POOL, MANAGED_BY, MANAGED_BY_LABEL, MODEL_LABEL, OUTLIER, SERVICE_LABEL,
    TCP_POOL, VS_PREFIX, duration_text, fmt_number, snake_to_camel,
)


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
    if "tls" in policy:
        out["tls"] = dict((snake_to_camel(key), value) for key, value in policy["tls"].items())
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
                              "percentage": {"value": fmt_number(route["fault"]["delay"]["percentage"])}}
        if "abort" in route["fault"]:
            fault["abort"] = {"httpStatus": route["fault"]["abort"]["http_status"],
                              "percentage": {"value": fmt_number(route["fault"]["abort"]["percentage"])}}
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
