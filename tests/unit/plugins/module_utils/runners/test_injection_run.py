"""The istio_injection runner against an in-memory API server: results, check mode and errors."""

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.runners import injection as run
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import RunnerError


class FakeKube:
    def __init__(self, namespaces, deployments=(), replicasets=(), pods=()):
        self.namespaces = {name: {"metadata": {"name": name, "labels": dict(labels)}} for name, labels in namespaces.items()}
        self.workloads = {"Deployment": list(deployments), "ReplicaSet": list(replicasets), "Pod": list(pods)}
        self.patches = []
        self.created = []

    def get(self, api_version, kind, name, namespace=None):
        if kind == "Namespace":
            return self.namespaces.get(name)
        for obj in self.workloads[kind]:
            if obj["metadata"]["name"] == name and obj["metadata"]["namespace"] == namespace:
                return obj
        return None

    def list(self, api_version, kind, namespace=None, label_selector=None):
        return [o for o in self.workloads[kind] if o["metadata"]["namespace"] == namespace]

    def merge_patch(self, api_version, kind, name, patch, namespace=None, dry_run=False):
        self.patches.append((kind, namespace, name, patch))
        return {}

    def create(self, obj):
        self.created.append(obj)
        return obj


def _deployment(name, namespace="shop"):
    return {"metadata": {"name": name, "namespace": namespace, "uid": "d-" + name, "generation": 1,
                         "annotations": {"deployment.kubernetes.io/revision": "1"}},
            "spec": {"replicas": 1, "template": {"metadata": {}}},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}}


def _replicaset(deployment, namespace="shop"):
    return {"metadata": {"name": deployment + "-1", "namespace": namespace, "uid": "r-" + deployment,
                         "annotations": {"deployment.kubernetes.io/revision": "1"},
                         "ownerReferences": [{"kind": "Deployment", "uid": "d-" + deployment}]}}


def _pod(deployment, namespace="shop", proxy=False):
    containers = [{"name": "app"}] + ([{"name": "istio-proxy"}] if proxy else [])
    return {"metadata": {"name": deployment + "-a", "namespace": namespace,
                         "ownerReferences": [{"kind": "ReplicaSet", "uid": "r-" + deployment}]},
            "spec": {"containers": containers}}


def _params(**overrides):
    return dict({"kubeconfig": "kc", "context": "", "state": "present", "namespaces": ["shop"], "revision": "",
                 "label_conflict": "fail", "restart": True, "wait_timeout": 30}, **overrides)


def _run(kube, check_mode=False, **params):
    return run.run(_params(**params), check_mode=check_mode, kube_factory=lambda *_args: kube,
                   clock=lambda: 0.0, sleep=lambda _s: None)


def test_labels_creates_and_restarts():
    kube = FakeKube({"shop": {}}, [_deployment("order")], [_replicaset("order")], [_pod("order")])
    result = _run(kube, namespaces=["shop", "new"])
    assert result["changed"] is True
    assert result["created"] == ["new"]
    assert result["labelled"] == {"shop": {"istio-injection": "enabled"}}
    assert result["restarted"] == [{"deployment": "shop/order", "reason": "pod order-a has no istio-proxy container"}]
    assert result["diff"]["prepared"] == (
        "+ namespace new {'istio-injection': 'enabled'}\n"
        "~ namespace shop labels {'istio-injection': 'enabled'}\n"
        "~ restart deployment shop/order: pod order-a has no istio-proxy container\n")
    assert kube.created == [{"apiVersion": "v1", "kind": "Namespace",
                             "metadata": {"name": "new", "labels": {"istio-injection": "enabled"}}}]
    assert [p[:3] for p in kube.patches] == [("Namespace", None, "shop"), ("Deployment", "shop", "order")]


def test_check_mode_changes_nothing():
    kube = FakeKube({"shop": {}}, [_deployment("order")], [_replicaset("order")], [_pod("order")])
    result = _run(kube, check_mode=True)
    assert result["changed"] is True and kube.patches == [] and kube.created == []


def test_converged_namespace_is_not_changed():
    kube = FakeKube({"shop": {"istio-injection": "enabled"}}, [_deployment("order")], [_replicaset("order")],
                    [_pod("order", proxy=True)])
    assert _run(kube) == {"changed": False, "created": [], "labelled": {}, "restarted": []}


def test_bad_namespace_fails_before_the_cluster_is_contacted():
    def no_cluster(*_args):
        raise AssertionError("the cluster must not be contacted")
    with pytest.raises(RunnerError) as info:
        run.run(_params(namespaces=["Shop"]), kube_factory=no_cluster)
    assert str(info.value).startswith("injection_namespaces: 'Shop' is not a namespace name")


def test_label_conflict_fails_naming_the_namespace():
    kube = FakeKube({"shop": {"istio.io/rev": "canary"}})
    with pytest.raises(RunnerError) as info:
        _run(kube)
    assert "namespace shop already has label istio.io/rev=canary" in str(info.value)
    assert kube.patches == []


def test_rollout_timeout_is_a_runner_error():
    stuck = _deployment("order")
    stuck["status"]["availableReplicas"] = 0
    kube = FakeKube({"shop": {}}, [stuck], [_replicaset("order")], [_pod("order")])
    ticks = iter(range(0, 1000, 10))
    with pytest.raises(RunnerError) as info:
        run.run(_params(wait_timeout=20), kube_factory=lambda *_args: kube, clock=lambda: next(ticks), sleep=lambda _s: None)
    assert str(info.value) == "rollout not finished after 20s: shop/order"


def test_absent_removes_labels_and_restarts_sidecar_pods():
    kube = FakeKube({"shop": {"istio-injection": "enabled", "team": "a"}, "idle": {}},
                    [_deployment("order")], [_replicaset("order")], [_pod("order", proxy=True)])
    result = _run(kube, state="absent", namespaces=["shop", "idle", "gone"])
    assert result["labelled"] == {"shop": {"istio-injection": None}}
    assert result["restarted"] == [{"deployment": "shop/order", "reason": "pod order-a has an istio-proxy container"}]
    assert result["diff"]["prepared"] == ("~ namespace shop remove labels istio-injection\n"
                                          "~ restart deployment shop/order: pod order-a has an istio-proxy container\n")
    restart = [p for p in kube.patches if p[0] == "Deployment"][0][3]
    assert restart["spec"]["template"]["metadata"]["annotations"]["meshops.istio/restarted-for-revision"] == "none"
