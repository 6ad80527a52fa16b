"""runners/drift.py: record, check and correct against a fake API server."""

import json
import os

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.drift import record as rec
from ansible_collections.meshops.istio.plugins.module_utils.kube.client import KubeError
from ansible_collections.meshops.istio.plugins.module_utils.runners import drift as run
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import RunnerError

PLURALS = {("v1", "ConfigMap"): ("configmaps", True), ("v1", "Service"): ("services", True),
           ("v1", "Namespace"): ("namespaces", False), ("apps/v1", "Deployment"): ("deployments", True)}


class Resource(object):
    def __init__(self, name, namespaced):
        self.name, self.namespaced = name, namespaced


class FakeKube(object):
    def __init__(self, store=None, down=False):
        self.store = store if store is not None else {"/api/v1/namespaces/istio-system": {"kind": "Namespace"}}
        self.calls = 0
        self.applied = []
        self.down = down

    def resource(self, api_version, kind):
        found = PLURALS.get((api_version, kind))
        return Resource(*found) if found else None

    def namespaced(self, api_version, kind):
        found = PLURALS.get((api_version, kind))
        return found[1] if found else None

    def create_namespace(self, namespace):
        self.store["/api/v1/namespaces/%s" % namespace] = {"kind": "Namespace"}

    def each(self, func, items):
        out = []
        for item in items:
            try:
                out.append((item, func(item), None))
            except KubeError as err:
                out.append((item, None, err))
        return out

    def call(self, method, path, query=None, body=None, content_type="application/json"):
        if self.down:
            raise ConnectionRefusedError("connection refused")
        self.calls += 1
        if method == "GET" and path.endswith("/configmaps") and query:
            return {"items": [v for k, v in sorted(self.store.items()) if k.startswith(path + "/" + rec.PREFIX)]}
        if method == "GET" and path == "/apis/autoscaling/v2/horizontalpodautoscalers":
            return {"items": []}
        if method == "GET":
            if path not in self.store:
                raise KubeError(404, "NotFound", path)
            return json.loads(json.dumps(self.store[path]))
        if method == "PATCH":
            assert content_type == run.APPLY_CONTENT_TYPE and ("force", "true") in query
            self.applied.append(path)
            merged = _merge(json.loads(json.dumps(self.store.get(path) or {})), body)
            self.store[path] = merged
            return merged
        if method == "DELETE":
            self.store.pop(path)
            return {}
        raise AssertionError(method)


def _merge(live, body):
    for key, value in body.items():
        if isinstance(value, dict) and isinstance(live.get(key), dict):
            _merge(live[key], value)
        else:
            live[key] = value
    return live


SVC = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kiali", "namespace": "istio-system"},
       "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 20001, "nodePort": 30001}]}}
SVC_PATH = "/api/v1/namespaces/istio-system/services/kiali"
NS_PATH = "/api/v1/namespaces/default"


def params(**kw):
    base = {"kubeconfig": "k", "context": "", "stage": "addons", "namespace": "istio-system", "state": "present",
            "objects": [SVC], "files": [], "default_namespace": None, "istioctl": None, "operator": None}
    base.update(kw)
    return base


def converged():
    kube = FakeKube()
    live = json.loads(json.dumps(SVC))
    live["spec"]["clusterIP"] = "10.0.0.5"
    live["spec"]["ports"][0]["protocol"] = "TCP"
    live["metadata"]["uid"] = "u1"
    kube.store[SVC_PATH] = live
    kube.store[NS_PATH] = {"apiVersion": "v1", "kind": "Namespace",
                           "metadata": {"name": "default", "labels": {"istio-injection": "enabled", "other": "x"}}}
    run.record(params(), kube_factory=lambda *a: kube)
    run.record(params(stage="injection", objects=[{"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": "default", "labels": {"istio-injection": "enabled"}}}]),
               kube_factory=lambda *a: kube)
    kube.applied = []
    return kube


def check_params(tmp_path, **kw):
    base = {"kubeconfig": "k", "context": "", "mode": "check", "namespace": "istio-system", "ignore": [],
            "ignore_var": "mesh_drift_ignore", "cluster": "lab", "report_dir": str(tmp_path), "error": None}
    base.update(kw)
    return base


def test_record_writes_once_and_check_mode_writes_nothing():
    kube = FakeKube()
    assert run.record(params(), check_mode=True, kube_factory=lambda *a: kube)["changed"]
    assert kube.applied == []
    assert run.record(params(), kube_factory=lambda *a: kube)["changed"]
    assert run.record(params(), kube_factory=lambda *a: kube)["changed"] is False
    assert run.record(params(), check_mode=True, kube_factory=lambda *a: kube)["changed"] is False
    assert run.record(params(state="absent"), kube_factory=lambda *a: kube)["changed"]
    assert run.record(params(state="absent"), kube_factory=lambda *a: kube)["changed"] is False


def test_record_reads_manifest_files_into_the_default_namespace(tmp_path):
    manifest = tmp_path / "app.yaml"
    manifest.write_text("apiVersion: v1\nkind: Service\nmetadata:\n  name: ratings\nspec:\n  ports: [{port: 9080}]\n---\n")
    kube = FakeKube()
    result = run.record(params(stage="bookinfo", objects=[], files=[str(manifest)], default_namespace="default"),
                        kube_factory=lambda *a: kube)
    stored = rec.decode(kube.store["/api/v1/namespaces/istio-system/configmaps/meshops-drift-bookinfo"])
    assert result["objects"] == 1 and stored["objects"][0]["metadata"] == {"name": "ratings", "namespace": "default"}


def test_clean_cluster(tmp_path):
    kube = converged()
    result = run.check(check_params(tmp_path), kube_factory=lambda *a: kube)
    assert result["status"] == "clean", result
    assert result["report"]["checked"] == 2 and not result["changed"]
    assert sorted(os.listdir(str(tmp_path))) == ["drift.prom", "junit.xml", "report.json", "report.md"]


def test_drift_is_reported_and_check_changes_nothing(tmp_path):
    kube = converged()
    kube.store[SVC_PATH]["spec"]["type"] = "ClusterIP"
    del kube.store[NS_PATH]["metadata"]["labels"]["istio-injection"]
    result = run.check(check_params(tmp_path), kube_factory=lambda *a: kube)
    assert result["status"] == "drift"
    fields = dict(((o["kind"], f["path"]), (f["before"], f["after"])) for o in result["report"]["objects"] for f in o["fields"])
    assert fields == {("Service", "/spec/type"): ("NodePort", "ClusterIP"),
                      ("Namespace", "/metadata/labels/istio-injection"): ("enabled", None)}
    assert kube.applied == [] and kube.store[SVC_PATH]["spec"]["type"] == "ClusterIP"
    with open(os.path.join(str(tmp_path), "report.json")) as handle:
        assert json.load(handle)["status"] == "drift"


def test_user_rules_hide_a_field(tmp_path):
    kube = converged()
    kube.store[SVC_PATH]["spec"]["type"] = "ClusterIP"
    rules = [{"kind": "Service", "name": "kia*", "json_pointers": ["/spec/type"]}]
    assert run.check(check_params(tmp_path, ignore=rules), kube_factory=lambda *a: kube)["status"] == "clean"


def test_correct_reapplies_the_drifted_objects(tmp_path):
    kube = converged()
    kube.store[SVC_PATH]["spec"]["type"] = "ClusterIP"
    del kube.store[NS_PATH]
    result = run.check(check_params(tmp_path, mode="correct"), kube_factory=lambda *a: kube)
    assert result["status"] == "corrected" and result["changed"], result
    assert kube.applied == [NS_PATH, SVC_PATH]
    assert kube.store[SVC_PATH]["spec"]["type"] == "NodePort"
    assert [(o["kind"], o["missing"]) for o in result["report"]["objects"]] == [("Service", False), ("Namespace", True)]


def test_unreachable_cluster_is_an_error_report(tmp_path):
    result = run.check(check_params(tmp_path), kube_factory=lambda *a: FakeKube(down=True))
    assert result["status"] == "error" and "refused" in result["report"]["error"]
    with open(os.path.join(str(tmp_path), "drift.prom")) as handle:
        assert 'status="error"} 1' in handle.read()


def test_no_records_is_an_error(tmp_path):
    result = run.check(check_params(tmp_path), kube_factory=lambda *a: FakeKube())
    assert result["status"] == "error" and "no desired-state records" in result["report"]["error"]


def test_invalid_settings_fail_before_anything_is_read(tmp_path):
    with pytest.raises(RunnerError) as err:
        run.check(check_params(tmp_path, ignore=[{"kind": "Service", "json_pointers": ["spec"]}]),
                  kube_factory=lambda *a: pytest.fail("read"))
    assert "mesh_drift_ignore[0].json_pointers" in err.value.msg
    with pytest.raises(RunnerError) as err:
        run.check(check_params(tmp_path, mode="fix"), kube_factory=lambda *a: pytest.fail("read"))
    assert "drift_mode=fix" in err.value.msg and "check, correct" in err.value.msg
