"""The mesh_read runner against an in-memory API server: order, shapes, absent objects, bad queries."""

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.runners import read
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import RunnerError


def obj(kind, name, namespace=None, labels=None):
    meta = {"name": name, "labels": dict(labels or {})}
    if namespace:
        meta["namespace"] = namespace
    return {"kind": kind, "metadata": meta}


class FakeKube:
    """list and get over a fixed set of objects; kinds not in SERVED are not served (no resources)."""
    SERVED = {("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "Node")}

    def __init__(self, *_args, **_kwargs):
        self.objects = [obj("Deployment", "istiod", "istio-system", {"app": "istiod"}),
                        obj("Deployment", "kiali", "istio-system", {"app": "kiali"}),
                        obj("Deployment", "details-v1", "default", {"app": "details", "version": "v1"}),
                        obj("Service", "istio-ingressgateway", "istio-system"),
                        obj("Node", "k3s-s")]
        self.calls = []

    @staticmethod
    def _matches(item, selectors):
        for part in (selectors or "").split(","):
            if part:
                key, value = part.split("=")
                if item["metadata"]["labels"].get(key) != value:
                    return False
        return True

    def list(self, api_version, kind, namespace=None, label_selector=None):
        self.calls.append(("list", kind, namespace, label_selector))
        if (api_version, kind) not in self.SERVED:
            return []
        return [o for o in self.objects if o["kind"] == kind and (namespace is None or o["metadata"].get("namespace") == namespace)
                and self._matches(o, label_selector)]

    def get(self, api_version, kind, name, namespace=None):
        self.calls.append(("get", kind, namespace, name))
        found = [o for o in self.list(api_version, kind, namespace) if o["metadata"]["name"] == name]
        return found[0] if found else None


def params(*queries):
    return {"kubeconfig": "kc", "context": "", "queries": list(queries)}


def names(entry):
    return [o["metadata"]["name"] for o in entry["resources"]]


def test_answers_every_query_in_order_in_the_shape_of_a_k8s_info_loop():
    kube = FakeKube()
    out = read.run(params(
        {"api_version": "apps/v1", "kind": "Deployment", "namespace": "istio-system", "label_selectors": ["app=istiod"]},
        {"api_version": "v1", "kind": "Service", "namespace": "istio-system", "name": "istio-ingressgateway"},
        {"api_version": "v1", "kind": "Node"},
        {"api_version": "apps/v1", "kind": "Deployment", "label_selectors": ["app=details", "version=v1"]},
    ), kube_factory=lambda *a, **k: kube)
    assert out["changed"] is False
    assert [names(e) for e in out["results"]] == [["istiod"], ["istio-ingressgateway"], ["k3s-s"], ["details-v1"]]
    assert out["results"][0]["kind"] == "Deployment" and out["results"][0]["namespace"] == "istio-system"
    # selectors that all apply are sent as one comma-joined selector; no namespace reads every namespace
    assert ("list", "Deployment", None, "app=details,version=v1") in kube.calls


def test_unserved_kinds_missing_objects_and_namespaces_read_as_no_resources():
    out = read.run(params(
        {"api_version": "networking.istio.io/v1", "kind": "Gateway", "namespace": "default"},
        {"api_version": "v1", "kind": "Service", "namespace": "istio-system", "name": "nope"},
        {"api_version": "apps/v1", "kind": "Deployment", "namespace": "no-such-namespace"},
    ), kube_factory=FakeKube)
    assert [e["resources"] for e in out["results"]] == [[], [], []]


def test_no_queries_reads_nothing_and_needs_no_cluster():
    def no_cluster(*_args, **_kwargs):
        raise AssertionError("no client may be made")
    assert read.run(params(), kube_factory=no_cluster) == {"changed": False, "results": []}


@pytest.mark.parametrize("query, message", [
    ({"kind": "Deployment"}, "queries[0]: api_version required"),
    ({"api_version": "v1"}, "queries[0]: kind required"),
    ({"api_version": "v1", "kind": "Pod", "labels": ["a=b"]},
     "queries[0]: unknown key labels; accepted: api_version, kind, namespace, name, label_selectors"),
    ({"api_version": "v1", "kind": "Pod", "label_selectors": [1]}, "label_selectors must be a list of strings"),
    ("v1/Pod", "queries[0] must be a mapping"),
])
def test_bad_queries_fail_naming_the_query_before_any_read(query, message):
    def no_cluster(*_args, **_kwargs):
        raise AssertionError("no client may be made")
    with pytest.raises(RunnerError) as err:
        read.run(params(query), kube_factory=no_cluster)
    assert message in str(err.value)


def test_a_failed_read_names_the_query_and_keeps_what_was_read():
    class Broken(FakeKube):
        def list(self, api_version, kind, namespace=None, label_selector=None):
            if kind == "Service":
                raise ValueError("403 Forbidden: services is forbidden")
            return super().list(api_version, kind, namespace, label_selector)
    with pytest.raises(RunnerError) as err:
        read.run(params({"api_version": "v1", "kind": "Node"},
                        {"api_version": "v1", "kind": "Service", "namespace": "istio-system"}), kube_factory=Broken)
    assert str(err.value) == "cannot read v1 Service in istio-system: 403 Forbidden: services is forbidden"
    assert [names(e) for e in err.value.details["results"]] == [["k3s-s"]]
