# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compare rendered traffic objects with the live ones: what to apply, prune, and warn about."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils.kube.names import describe, ref
from ansible_collections.meshops.istio.plugins.module_utils.traffic.schema import (
    KINDS, MANAGED_BY, MANAGED_BY_LABEL, MODEL_LABEL, fmt_number, short_host,
)


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
    return fmt_number(value) if isinstance(value, float) else value


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
        live_by_key[ref(obj)] = obj
    result = {"apply": [], "unchanged": [], "prune": [], "conflicts": []}
    wanted = set()
    for obj in desired:
        key = ref(obj)
        wanted.add(key)
        current = live_by_key.get(key)
        if current is not None:
            owner = owner_model(current)
            if owner is None:
                result["conflicts"].append(
                    "%s exists and is not managed by meshops.istio (no label %s=%s); the model will not "
                    "take it over: rename the service or gateway in the model, or delete the object"
                    % (describe(current), MANAGED_BY_LABEL, MANAGED_BY))
                continue
            if owner != model_name:
                result["conflicts"].append("%s belongs to traffic model %r, not %r" % (
                    describe(current), owner, model_name))
                continue
        if converged(obj, current):
            result["unchanged"].append(obj)
        else:
            result["apply"].append((obj, current))
    if prune:
        order = dict((entry[0], index) for index, entry in enumerate(KINDS))
        stale = [obj for key, obj in live_by_key.items()
                 if key not in wanted and owner_model(obj) == model_name]
        stale.sort(key=lambda o: (-order.get(o.get("kind"), 0), ref(o)))
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
