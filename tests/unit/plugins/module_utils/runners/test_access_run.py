"""The access_matrix runner: the cluster it reads, the report files, and the errors it raises."""

import os

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.runners import access as run
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import RunnerError


def _pod(name, namespace, app, sidecar=True, ip="127.64.0.10"):
    containers = [{"name": app, "ports": [{"containerPort": 9080}]}] + ([{"name": "istio-proxy"}] if sidecar else [])
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": app},
                         "annotations": {"sidecar.istio.io/status": "{}"} if sidecar else {}},
            "spec": {"serviceAccountName": "default", "containers": containers},
            "status": {"phase": "Running", "podIP": ip}}


def _service(name, namespace):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 9080, "targetPort": 9080}]}}


OBJECTS = [_pod("ratings-1", "shop", "ratings"), _service("ratings", "shop"),
           _pod("netpod", "test", "netpod", sidecar=False, ip="127.64.1.5")]
STRICT = {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
          "metadata": {"name": "default", "namespace": "shop"}, "spec": {"mtls": {"mode": "STRICT"}}}


class FakeKube:
    def __init__(self, objects):
        self.objects = objects

    def list(self, api_version, kind, namespace=None, label_selector=None):
        return [o for o in self.objects if o["kind"] == kind]


def factory(kubeconfig, context, workers):
    return FakeKube(OBJECTS)


def _params(**overrides):
    return dict({"kubeconfig": "kc", "context": "", "namespaces": [], "exclude_namespaces": ["kube-system"],
                 "requests": [{"method": "GET", "path": "/"}], "proposed": [], "removed": [],
                 "root_namespace": "istio-system", "trust_domain": "cluster.local", "checks": [], "clients": [],
                 "gate_exclude_namespaces": [], "required_flows": [], "prometheus": None, "prometheus_url": None,
                 "prometheus_window": "10m", "validate_certs": True, "prometheus_response": None,
                 "identity_policies": None, "baseline": "cluster", "output_dir": None,
                 "report_name": "access-matrix"}, **overrides)


def test_the_matrix_and_a_gated_change():
    result = run.run(_params(proposed=[STRICT], checks=["strict_gate"]), kube_factory=factory)
    assert result["changed"] is False and result["passed"] is False
    assert result["refusals"] and result["refusals"][0].startswith("strict_gate: test/netpod -> ratings.shop:9080")
    assert [c["text"] for c in result["changes"]] == ["test/netpod -> ratings.shop:9080 GET /: ALLOW => RESET (shop/default)"]


def test_report_files_are_written_only_when_they_change_and_never_in_check_mode(tmp_path):
    params = _params(output_dir=str(tmp_path))
    planned = run.run(params, check_mode=True, kube_factory=factory)
    assert planned["changed"] is True and not os.listdir(str(tmp_path))
    assert planned["files"] == [str(tmp_path / "access-matrix.json"), str(tmp_path / "access-matrix.md")]
    assert run.run(params, kube_factory=factory)["changed"] is True
    assert sorted(os.listdir(str(tmp_path))) == ["access-matrix.json", "access-matrix.md"]
    assert run.run(params, kube_factory=factory)["changed"] is False


def test_prometheus_is_asked_through_fetch_and_its_refusal_is_a_runner_error():
    asked = []

    def fetch(url):
        asked.append(url)
        return None, {"status": 503, "msg": "unavailable"}

    params = _params(proposed=[STRICT], checks=["prometheus_plaintext"], prometheus_url="http://prom:9090/")
    with pytest.raises(RunnerError, match="^Prometheus at http://prom:9090/ answered 503: unavailable$"):
        run.run(params, kube_factory=factory, fetch=fetch)
    assert asked and asked[0].startswith("http://prom:9090/api/v1/query?query=")


def test_without_a_prometheus_url_the_plaintext_check_is_skipped():
    result = run.run(_params(proposed=[STRICT], checks=["prometheus_plaintext"]), kube_factory=factory)
    assert result["checks"][0]["skipped"] == "no Prometheus URL given"
