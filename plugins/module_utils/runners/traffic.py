# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apply a traffic model to a cluster: few API round trips, server-side apply, pruning.

One run costs, on a converged cluster, one GET of the namespace and three LISTs (the three
kinds in the model's namespace): objects whose live spec and labels already equal the rendered
ones are not sent at all. Pruning stays inside the model's namespace, so the same model name
used in two namespaces (staging and production, say) never prunes the other's objects.
Objects that differ get one server-side apply PATCH each (``force`` with field
manager ``meshops.istio``), issued from a small thread pool over one shared connection pool,
Gateways first, then DestinationRules, then VirtualServices. Check mode sends the same
PATCHes with ``dryRun=All``, so the diff is what the API server would store.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2 is not supported by this collection
    from urllib import quote  # type: ignore

import time

from ansible_collections.meshops.istio.plugins.module_utils.kube.client import Kube, KubeClientError, KubeError
from ansible_collections.meshops.istio.plugins.module_utils.kube.names import describe
from ansible_collections.meshops.istio.plugins.module_utils.traffic.dot import render_dot
from ansible_collections.meshops.istio.plugins.module_utils.traffic.plan import (
    comparable, gateway_conflicts, host_warnings, owner_model, plan,
)
from ansible_collections.meshops.istio.plugins.module_utils.traffic.render import render, render_manifest
from ansible_collections.meshops.istio.plugins.module_utils.traffic.schema import (
    API_GROUP, API_VERSION, FIELD_MANAGER, KINDS, PLURALS,
)
from ansible_collections.meshops.istio.plugins.module_utils.traffic.validate import validate


class TrafficError(Exception):
    """A run failed; ``details`` goes into the module result."""

    def __init__(self, msg, **details):
        self.details = details
        super(TrafficError, self).__init__(msg)


def connect(kubeconfig=None, context=None, workers=8):
    """The collection's Kubernetes client for the kubeconfig and context."""
    try:
        kube = Kube(kubeconfig, context, workers)
    except KubeClientError as err:
        raise TrafficError(str(err))
    return kube


# --------------------------------------------------------------------------- the traffic kinds
def object_path(kind, namespace=None, name=None):
    """API path of the objects of a traffic kind (one object with ``name``)."""
    base = "/apis/%s/%s" % (API_GROUP, API_VERSION)
    if namespace:
        base += "/namespaces/%s" % namespace
    base += "/" + PLURALS[kind]
    if name:
        base += "/" + quote(name)
    return base


def list_objects(kube, kind, namespace=None, selector=None):
    """Every object of a traffic kind (in ``namespace``), with apiVersion and kind filled in."""
    query = [("labelSelector", selector)] if selector else []
    try:
        items = kube.call("GET", object_path(kind, namespace), query).get("items") or []
    except KubeError as err:
        if err.status == 404:
            raise TrafficError("%s.%s/%s is not served by the API server: install Istio (its CRDs) first "
                               "(meshops.istio.control_plane)" % (PLURALS[kind], API_GROUP, API_VERSION))
        raise
    for item in items:
        item.setdefault("apiVersion", "%s/%s" % (API_GROUP, API_VERSION))
        item.setdefault("kind", kind)
    return items


def apply_object(kube, obj, dry_run=False):
    """One forced server-side apply by meshops.istio; the object as the server stored it."""
    meta = obj["metadata"]
    query = [("fieldManager", FIELD_MANAGER), ("force", "true"), ("fieldValidation", "Strict")]
    if dry_run:
        query.append(("dryRun", "All"))
    return kube.call("PATCH", object_path(obj["kind"], meta["namespace"], meta["name"]), query, body=obj,
                     content_type="application/apply-patch+yaml")


def delete_object(kube, obj, dry_run=False):
    """Delete one object; None when it was already gone."""
    meta = obj["metadata"]
    query = [("dryRun", "All")] if dry_run else []
    try:
        return kube.call("DELETE", object_path(obj["kind"], meta["namespace"], meta["name"]), query)
    except KubeError as err:
        if err.status == 404:
            return None
        raise


def _diff_entry(ref, before, after, dump):
    return {"before_header": "%s (live)" % ref if before else "%s (absent)" % ref,
            "after_header": "%s (model)" % ref if after else "%s (pruned)" % ref,
            "before": dump(comparable(before), default_flow_style=False, sort_keys=True) if before else "",
            "after": dump(comparable(after), default_flow_style=False, sort_keys=True) if after else ""}


def _same(before, after):
    return comparable(before) == comparable(after)


def _ordered(items, reverse=False):
    """[(kind, items of that kind)] in apply order (or prune order); items are objects or (desired, live)."""
    kinds = [entry[0] for entry in KINDS]
    if reverse:
        kinds.reverse()

    def kind_of(item):
        return (item[0] if isinstance(item, tuple) else item).get("kind")
    return [(kind, [i for i in items if kind_of(i) == kind]) for kind in kinds]


def run(params, check_mode=False, want_diff=False, dump=None, kube_factory=connect):
    """Do what the traffic_model module was asked; return the module result (a dict).

    ``params``: model, state, prune, validate_only, check_hosts, create_namespace, kubeconfig,
    context, workers. ``dump``: a yaml.safe_dump-like callable for manifests and diffs.
    Raises ModelError (bad model; nothing touched) or TrafficError (the cluster said no).
    """
    started = time.time()
    timings = {}
    normalized = validate(params["model"])
    objects = render(normalized)
    name, namespace = normalized["name"], normalized["namespace"]
    result = {"changed": False, "model": {"name": name, "namespace": namespace,
                                          "services": len(normalized["services"]),
                                          "gateways": len(normalized["gateways"]), "objects": len(objects)},
              "warnings": [], "created": [], "updated": [], "unchanged": [], "pruned": []}
    timings["render"] = round(time.time() - started, 3)

    if params.get("validate_only"):
        result["objects"] = objects
        _add_texts(result, normalized, objects, dump)
        if params.get("check_hosts"):
            kube = kube_factory(params.get("kubeconfig"), params.get("context"), params.get("workers", 8))
            result["warnings"] = host_warnings(normalized, kube.service_names(namespace), kube.pod_labels(namespace))
        result["timings"] = timings
        return result

    kube = kube_factory(params.get("kubeconfig"), params.get("context"), params.get("workers", 8))
    mark = time.time()
    ns_exists = kube.namespace_exists(namespace)
    live = {}
    if ns_exists:
        for kind in [entry[0] for entry in KINDS]:
            for obj in list_objects(kube, kind, namespace):
                live[(kind, namespace, obj["metadata"]["name"])] = obj
    timings["read"] = round(time.time() - mark, 3)
    diffs = []

    if params.get("state") == "absent":
        doomed = [obj for obj in live.values() if owner_model(obj) == name]
        _prune(kube, doomed, check_mode, result, diffs, want_diff, dump)
        result["changed"] = bool(result["pruned"])
        return _finish(result, kube, diffs if want_diff else None, timings, started)

    steps = plan(objects, list(live.values()), name, prune=params.get("prune", True))
    if steps["conflicts"]:
        raise TrafficError("traffic model %r: objects in the way, nothing was changed:\n  - %s"
                           % (name, "\n  - ".join(steps["conflicts"])), conflicts=steps["conflicts"])
    if params.get("check_hosts"):
        result["warnings"] = host_warnings(normalized, kube.service_names(namespace) if ns_exists else [],
                                           kube.pod_labels(namespace) if ns_exists else [])
        if normalized["gateways"]:
            result["warnings"] += gateway_conflicts(normalized, list_objects(kube, "Gateway"))
    result["unchanged"] = [describe(o) for o in steps["unchanged"]]

    if not ns_exists:
        if not params.get("create_namespace", True):
            raise TrafficError("namespace %r does not exist (create it, or set create_namespace)" % namespace)
        if not check_mode:
            kube.create_namespace(namespace)
        result["namespace_created"] = True
        result["changed"] = True

    mark = time.time()
    for kind, todo in _ordered(steps["apply"]):
        if not todo:
            continue
        if not ns_exists and check_mode:
            outcomes = [(item, item[0], None) for item in todo]
        else:
            outcomes = kube.each(lambda item: apply_object(kube, item[0], dry_run=check_mode), todo)
        failed = [(item, err) for item, _res, err in outcomes if err is not None]
        for (desired, current), response, err in outcomes:
            if err is not None:
                continue
            ref = describe(desired)
            if current is None:
                result["created"].append(ref)
            elif check_mode:
                if _same(current, response):
                    result["unchanged"].append(ref)
                    continue
                result["updated"].append(ref)
            else:
                if (response.get("metadata") or {}).get("resourceVersion") == current["metadata"].get("resourceVersion"):
                    result["unchanged"].append(ref)
                    continue
                result["updated"].append(ref)
            if want_diff:
                diffs.append(_diff_entry(ref, current, response, dump))
        if failed:
            raise TrafficError(
                "traffic model %r: the API server refused %d object(s); %s\n  - %s" % (
                    name, len(failed),
                    "applied before the failure: %s" % (", ".join(result["created"] + result["updated"]) or "none"),
                    "\n  - ".join("%s: %s" % (describe(item[0]), err.message) for item, err in failed)),
                created=result["created"], updated=result["updated"],
                refused=[describe(entry[0][0]) for entry in failed])
    timings["apply"] = round(time.time() - mark, 3)

    mark = time.time()
    _prune(kube, steps["prune"], check_mode, result, diffs, want_diff, dump)
    timings["prune"] = round(time.time() - mark, 3)
    result["changed"] = bool(result["changed"] or result["created"] or result["updated"] or result["pruned"])
    # what the run applied, for files beside it (the role writes them; nothing is rendered twice)
    _add_texts(result, normalized, objects, dump)
    return _finish(result, kube, diffs if want_diff else None, timings, started)


def _add_texts(result, normalized, objects, dump):
    """The picture and (with a dump callable) the manifest of a rendered model."""
    result["dot"] = render_dot(normalized)
    if dump is not None:
        result["manifest"] = render_manifest(objects, dump)


def _finish(result, kube, diffs, timings, started):
    if diffs is not None:
        result["diff"] = diffs
    timings["total"] = round(time.time() - started, 3)
    result["timings"] = timings
    result["api_calls"] = kube.calls
    return result


def _prune(kube, doomed, check_mode, result, diffs, want_diff, dump):
    for _kind, todo in _ordered(doomed, reverse=True):
        if not todo:
            continue
        outcomes = kube.each(lambda obj: delete_object(kube, obj, dry_run=check_mode), todo)
        failed = [(obj, err) for obj, _res, err in outcomes if err is not None]
        for obj, _res, err in outcomes:
            if err is None:
                result["pruned"].append(describe(obj))
                if want_diff:
                    diffs.append(_diff_entry(describe(obj), obj, None, dump))
        if failed:
            raise TrafficError("could not delete %d object(s):\n  - %s" % (
                len(failed), "\n  - ".join("%s: %s" % (describe(o), e.message) for o, e in failed)),
                pruned=result["pruned"])
