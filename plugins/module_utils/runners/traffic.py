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

import json
import time
from concurrent.futures import ThreadPoolExecutor

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2 is not supported by this collection
    from urllib import quote  # type: ignore

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = exc

from ansible_collections.meshops.istio.plugins.module_utils.traffic.model import (
    API_GROUP, API_VERSION, FIELD_MANAGER, KINDS, MANAGED_BY, MANAGED_BY_LABEL, MODEL_LABEL, PLURALS,
    ModelError, comparable, gateway_conflicts, host_warnings, object_ref, plan, render, render_dot,
    render_manifest, validate,
)


class KubeError(Exception):
    def __init__(self, status, reason, message):
        self.status = status
        self.reason = reason
        self.message = message
        super(KubeError, self).__init__("%s %s: %s" % (status, reason, message))


class TrafficError(Exception):
    """A run failed; ``details`` goes into the module result."""

    def __init__(self, msg, **details):
        self.details = details
        super(TrafficError, self).__init__(msg)


class Kube(object):
    """Raw JSON calls through the kubernetes client's ApiClient (auth, TLS, connection pool)."""

    def __init__(self, kubeconfig=None, context=None, workers=8):
        if not HAS_KUBERNETES:
            raise TrafficError("the kubernetes Python client is required: %s" % KUBERNETES_IMPORT_ERROR)
        cfg = k8s_client.Configuration()
        k8s_config.load_kube_config(config_file=kubeconfig, context=context or None,
                                    client_configuration=cfg, persist_config=False)
        cfg.connection_pool_maxsize = max(4, workers)
        self.api = k8s_client.ApiClient(configuration=cfg)
        if not hasattr(self.api, "param_serialize"):
            raise TrafficError("this kubernetes Python client is too old for meshops.istio.traffic_model; "
                               "install the version in the collection's requirements.txt")
        self.workers = max(1, workers)
        self.calls = 0

    def call(self, method, path, query=None, body=None, content_type="application/json"):
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        serialized = self.api.param_serialize(method=method, resource_path=path, query_params=query or [],
                                              header_params=headers, body=body, auth_settings=["BearerToken"])
        self.calls += 1
        response = self.api.call_api(*serialized)
        data = response.read()
        try:
            payload = json.loads(data) if data else {}
        except ValueError:
            payload = {"message": data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)}
        if response.status >= 400:
            raise KubeError(response.status, payload.get("reason") or response.reason,
                            payload.get("message") or str(payload))
        return payload

    # objects
    @staticmethod
    def path(kind, namespace=None, name=None):
        base = "/apis/%s/%s" % (API_GROUP, API_VERSION)
        if namespace:
            base += "/namespaces/%s" % namespace
        base += "/" + PLURALS[kind]
        if name:
            base += "/" + quote(name)
        return base

    def list(self, kind, namespace=None, selector=None):
        query = [("labelSelector", selector)] if selector else []
        try:
            items = self.call("GET", self.path(kind, namespace), query).get("items") or []
        except KubeError as err:
            if err.status == 404:
                raise TrafficError("%s.%s/%s is not served by the API server: install Istio (its CRDs) first "
                                   "(meshops.istio.control_plane)" % (PLURALS[kind], API_GROUP, API_VERSION))
            raise
        for item in items:
            item.setdefault("apiVersion", "%s/%s" % (API_GROUP, API_VERSION))
            item.setdefault("kind", kind)
        return items

    def apply(self, obj, dry_run=False):
        meta = obj["metadata"]
        query = [("fieldManager", FIELD_MANAGER), ("force", "true"), ("fieldValidation", "Strict")]
        if dry_run:
            query.append(("dryRun", "All"))
        return self.call("PATCH", self.path(obj["kind"], meta["namespace"], meta["name"]), query, body=obj,
                         content_type="application/apply-patch+yaml")

    def delete(self, obj, dry_run=False):
        meta = obj["metadata"]
        query = [("dryRun", "All")] if dry_run else []
        try:
            return self.call("DELETE", self.path(obj["kind"], meta["namespace"], meta["name"]), query)
        except KubeError as err:
            if err.status == 404:
                return None
            raise

    def namespace_exists(self, namespace):
        try:
            self.call("GET", "/api/v1/namespaces/%s" % namespace)
            return True
        except KubeError as err:
            if err.status == 404:
                return False
            raise

    def create_namespace(self, namespace):
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        try:
            self.call("POST", "/api/v1/namespaces", [("fieldManager", FIELD_MANAGER)], body=body)
        except KubeError as err:
            if err.status != 409:
                raise

    def service_names(self, namespace):
        items = self.call("GET", "/api/v1/namespaces/%s/services" % namespace).get("items") or []
        return [item["metadata"]["name"] for item in items]

    def pod_labels(self, namespace):
        items = self.call("GET", "/api/v1/namespaces/%s/pods" % namespace).get("items") or []
        return [item["metadata"].get("labels") or {} for item in items
                if not item["metadata"].get("deletionTimestamp")
                and (item.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]

    def each(self, func, items):
        """Run func over items on the thread pool; returns [(item, result, error)] in order."""
        def one(item):
            try:
                return item, func(item), None
            except KubeError as err:
                return item, None, err
        if len(items) <= 1 or self.workers == 1:
            return [one(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
            return list(pool.map(one, items))


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


def run(params, check_mode=False, want_diff=False, dump=None, kube_factory=Kube):
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
        result["dot"] = render_dot(normalized)
        if dump is not None:
            result["manifest"] = render_manifest(objects, dump)
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
            for obj in kube.list(kind, namespace):
                live[(kind, namespace, obj["metadata"]["name"])] = obj
    timings["read"] = round(time.time() - mark, 3)
    diffs = []

    if params.get("state") == "absent":
        doomed = [obj for obj in live.values()
                  if (obj.get("metadata") or {}).get("labels", {}).get(MODEL_LABEL) == name
                  and (obj.get("metadata") or {}).get("labels", {}).get(MANAGED_BY_LABEL) == MANAGED_BY]
        _prune(kube, doomed, check_mode, result, diffs, want_diff, dump)
        result["changed"] = bool(result["pruned"])
        if want_diff:
            result["diff"] = diffs
        timings["total"] = round(time.time() - started, 3)
        result["timings"] = timings
        result["api_calls"] = kube.calls
        return result

    steps = plan(objects, list(live.values()), name, prune=params.get("prune", True))
    if steps["conflicts"]:
        raise TrafficError("traffic model %r: objects in the way, nothing was changed:\n  - %s"
                           % (name, "\n  - ".join(steps["conflicts"])), conflicts=steps["conflicts"])
    if params.get("check_hosts"):
        result["warnings"] = host_warnings(normalized, kube.service_names(namespace) if ns_exists else [],
                                           kube.pod_labels(namespace) if ns_exists else [])
        if normalized["gateways"]:
            result["warnings"] += gateway_conflicts(normalized, kube.list("Gateway"))
    result["unchanged"] = [object_ref(o) for o in steps["unchanged"]]

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
            outcomes = kube.each(lambda item: kube.apply(item[0], dry_run=check_mode), todo)
        failed = [(item, err) for item, _res, err in outcomes if err is not None]
        for (desired, current), response, err in outcomes:
            if err is not None:
                continue
            ref = object_ref(desired)
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
                    "\n  - ".join("%s: %s" % (object_ref(item[0]), err.message) for item, err in failed)),
                created=result["created"], updated=result["updated"],
                refused=[object_ref(entry[0][0]) for entry in failed])
    timings["apply"] = round(time.time() - mark, 3)

    mark = time.time()
    _prune(kube, steps["prune"], check_mode, result, diffs, want_diff, dump)
    timings["prune"] = round(time.time() - mark, 3)
    result["changed"] = bool(result["changed"] or result["created"] or result["updated"] or result["pruned"])
    if want_diff:
        result["diff"] = diffs
    timings["total"] = round(time.time() - started, 3)
    result["timings"] = timings
    result["api_calls"] = kube.calls
    return result


def _prune(kube, doomed, check_mode, result, diffs, want_diff, dump):
    for _kind, todo in _ordered(doomed, reverse=True):
        if not todo:
            continue
        outcomes = kube.each(lambda obj: kube.delete(obj, dry_run=check_mode), todo)
        failed = [(obj, err) for obj, _res, err in outcomes if err is not None]
        for obj, _res, err in outcomes:
            if err is None:
                result["pruned"].append(object_ref(obj))
                if want_diff:
                    diffs.append(_diff_entry(object_ref(obj), obj, None, dump))
        if failed:
            raise TrafficError("could not delete %d object(s):\n  - %s" % (
                len(failed), "\n  - ".join("%s: %s" % (object_ref(o), e.message) for o, e in failed)),
                pruned=result["pruned"])


__all__ = ["Kube", "KubeError", "ModelError", "TrafficError", "run"]
