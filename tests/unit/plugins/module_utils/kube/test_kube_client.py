"""The parts of kube/client.py that need no API server: raw calls over a fake ApiClient, the thread
pool, error decoding, the lazily made dynamic client and the module helpers."""

import json
import threading

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.kube import client as kc
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import RunnerError, connect


class FakeResponse:
    def __init__(self, status, payload, reason="OK"):
        self.status = status
        self.reason = reason
        self._data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()

    def read(self):
        return self._data


class FakeApi:
    """An ApiClient whose answers come from `routes`: {(method, path): (status, payload)}."""

    def __init__(self, routes):
        self.routes = routes
        self.sent = []

    def param_serialize(self, method, resource_path, query_params, header_params, body, auth_settings):
        return (method, resource_path, query_params, header_params, body)

    def call_api(self, method, path, query, headers, body):
        self.sent.append((method, path, query, headers, body))
        status, payload = self.routes.get((method, path), (404, {"reason": "NotFound", "message": "not found"}))
        return FakeResponse(status, payload, reason="Reason %d" % status)


def fake_kube(routes, workers=4):
    kube = kc.Kube.__new__(kc.Kube)
    kube.api = FakeApi(routes)
    kube.workers = workers
    kube.calls = 0
    kube._dynamic = None
    kube._lock = threading.Lock()
    kube._refreshed = False
    return kube


def test_call_sends_json_headers_and_counts_calls():
    kube = fake_kube({("GET", "/api/v1/namespaces/shop"): (200, {"kind": "Namespace"})})
    assert kube.call("GET", "/api/v1/namespaces/shop") == {"kind": "Namespace"}
    method, path, query, headers, body = kube.api.sent[0]
    assert (method, path, query, body) == ("GET", "/api/v1/namespaces/shop", [], None)
    assert headers == {"Accept": "application/json"}
    assert kube.calls == 1
    assert kube._dynamic is None  # raw calls never make the dynamic client (no discovery)


def test_call_raises_kube_error_with_the_servers_reason_and_message():
    kube = fake_kube({("PATCH", "/x"): (422, {"reason": "Invalid", "message": "spec.hosts: Required value"})})
    with pytest.raises(kc.KubeError) as info:
        kube.call("PATCH", "/x", body={}, content_type="application/apply-patch+yaml")
    assert (info.value.status, info.value.reason, info.value.message) == (422, "Invalid", "spec.hosts: Required value")
    assert str(info.value) == "422 Invalid: spec.hosts: Required value"
    assert kube.api.sent[0][3]["Content-Type"] == "application/apply-patch+yaml"


def test_decode_response_keeps_text_that_is_not_json():
    assert kc.decode_response(200, "OK", b"") == {}
    with pytest.raises(kc.KubeError) as info:
        kc.decode_response(503, "Service Unavailable", b"upstream down")
    assert str(info.value) == "503 Service Unavailable: upstream down"


def test_namespace_helpers():
    kube = fake_kube({
        ("GET", "/api/v1/namespaces/shop"): (200, {}),
        ("POST", "/api/v1/namespaces"): (409, {"reason": "AlreadyExists", "message": "exists"}),
        ("GET", "/api/v1/namespaces/shop/services"): (200, {"items": [{"metadata": {"name": "order"}}]}),
        ("GET", "/api/v1/namespaces/shop/pods"): (200, {"items": [
            {"metadata": {"labels": {"app": "order"}}, "status": {"phase": "Running"}},
            {"metadata": {"labels": {"app": "old"}, "deletionTimestamp": "now"}},
            {"metadata": {"labels": {"app": "job"}}, "status": {"phase": "Succeeded"}},
            {"metadata": {}}]}),
    })
    assert kube.namespace_exists("shop") is True
    assert kube.namespace_exists("other") is False
    kube.create_namespace("shop", labels={"istio-injection": "enabled"})  # 409: left as it is
    post = [s for s in kube.api.sent if s[0] == "POST"][0]
    assert post[2] == [("fieldManager", "meshops.istio")]
    assert post[4] == {"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": "shop", "labels": {"istio-injection": "enabled"}}}
    assert kube.service_names("shop") == ["order"]
    assert kube.pod_labels("shop") == [{"app": "order"}, {}]


def test_each_keeps_order_and_collects_kube_errors():
    kube = fake_kube({})

    def work(item):
        if item % 3 == 0:
            raise kc.KubeError(409, "Conflict", "item %d" % item)
        return item * 10
    outcomes = kube.each(work, list(range(1, 8)))
    assert [o[0] for o in outcomes] == list(range(1, 8))
    assert [o[1] for o in outcomes] == [10, 20, None, 40, 50, None, 70]
    assert [o[2].message for o in outcomes if o[2]] == ["item 3", "item 6"]
    kube.workers = 1
    assert kube.each(work, [1, 2]) == [(1, 10, None), (2, 20, None)]


def test_other_errors_propagate_from_each():
    kube = fake_kube({})

    def boom(_item):
        raise ValueError("bug")
    with pytest.raises(ValueError):
        kube.each(boom, [1, 2, 3])


def test_kube_from_params_names_the_kubeconfig():
    def broken(kubeconfig, context, workers):
        raise IOError("no such file")
    with pytest.raises(kc.KubeClientError) as info:
        kc.kube_from_params({"kubeconfig": "/nowhere", "context": ""}, factory=broken)
    assert str(info.value) == "cannot load kubeconfig /nowhere: no such file"
    seen = []
    kc.kube_from_params({"kubeconfig": "kc", "context": ""}, workers=3, factory=lambda *args: seen.append(args))
    assert seen == [("kc", None, 3)]


def test_connect_turns_a_client_error_into_a_runner_error():
    def broken(kubeconfig, context, workers):
        raise ValueError("bad context")
    with pytest.raises(RunnerError) as info:
        connect({"kubeconfig": "kc", "context": "x"}, broken)
    assert str(info.value) == "cannot load kubeconfig kc: bad context"
    assert info.value.result() == {"msg": "cannot load kubeconfig kc: bad context"}


def test_the_real_client_loads_a_kubeconfig_without_contacting_the_server(tmp_path):
    if not kc.HAS_KUBERNETES:
        pytest.skip("kubernetes client not installed")
    config = tmp_path / "kubeconfig"
    config.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "lab",
        "clusters": [{"name": "lab", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "me"}}],
        "users": [{"name": "me", "user": {"token": "t"}}]}))
    kube = kc.Kube(str(config), workers=16)
    assert kube.api.configuration.connection_pool_maxsize == 16
    assert kube.api.configuration.host == "https://127.0.0.1:1"
    assert kube._dynamic is None
    assert kc.Kube(str(config), "lab", workers=1).api.configuration.connection_pool_maxsize == 4
