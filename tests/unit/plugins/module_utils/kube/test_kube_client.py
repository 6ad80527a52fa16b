"""The parts of kube/client.py that need no API server: calls over a fake connection pool, discovery
of a kind's resource, the thread pool, error decoding, loading a kubeconfig and the module helpers."""

import json
import os
import shutil
import subprocess
import sys
import threading

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.kube import client as kc
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import RunnerError, connect

SERVER = "https://127.0.0.1:6443"
APPS = {"resources": [{"name": "deployments", "kind": "Deployment", "namespaced": True},
                      {"name": "deployments/scale", "kind": "Scale", "namespaced": True}]}
CORE = {"resources": [{"name": "namespaces", "kind": "Namespace", "namespaced": False},
                      {"name": "configmaps", "kind": "ConfigMap", "namespaced": True}]}


class FakeResponse:
    def __init__(self, status, payload, reason="OK"):
        self.status = status
        self.reason = reason
        self.data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()


class FakeHttp:
    """A connection pool whose answers come from `routes`: {(method, path with query): (status, payload)}."""

    def __init__(self, routes):
        self.routes = routes
        self.sent = []

    def request(self, method, url, body=None, headers=None, redirect=True):
        assert url.startswith(SERVER) and redirect is False
        path = url[len(SERVER):]
        self.sent.append((method, path, headers, json.loads(body) if body else None))
        status, payload = self.routes.get((method, path), (404, {"reason": "NotFound", "message": "not found"}))
        if callable(payload):
            payload = payload()
        return FakeResponse(status, payload, reason="Reason %d" % status)


def fake_kube(routes, workers=4):
    kube = kc.Kube.__new__(kc.Kube)
    kube.http = FakeHttp(routes)
    kube.server = SERVER
    kube.headers = {"Accept": "application/json", "Authorization": "Bearer t"}
    kube.workers = workers
    kube.calls = 0
    kube._lock = threading.Lock()
    kube._discovery_lock = threading.Lock()
    kube._discovered = {}
    kube._refreshed = set()
    return kube


def test_call_sends_json_headers_and_counts_calls():
    kube = fake_kube({("GET", "/api/v1/namespaces/shop"): (200, {"kind": "Namespace"})})
    assert kube.call("GET", "/api/v1/namespaces/shop") == {"kind": "Namespace"}
    method, path, headers, body = kube.http.sent[0]
    assert (method, path, body) == ("GET", "/api/v1/namespaces/shop", None)
    assert headers == {"Accept": "application/json", "Authorization": "Bearer t"}
    assert kube.calls == 1
    assert kube._discovered == {}  # raw calls never read discovery


def test_call_raises_kube_error_with_the_servers_reason_and_message():
    kube = fake_kube({("PATCH", "/x?fieldManager=m"): (422, {"reason": "Invalid", "message": "spec.hosts: Required value"})})
    with pytest.raises(kc.KubeError) as info:
        kube.call("PATCH", "/x", [("fieldManager", "m")], body={}, content_type="application/apply-patch+yaml")
    assert (info.value.status, info.value.reason, info.value.message) == (422, "Invalid", "spec.hosts: Required value")
    assert str(info.value) == "422 Invalid: spec.hosts: Required value"
    assert kube.http.sent[0][2]["Content-Type"] == "application/apply-patch+yaml"
    assert kube.http.sent[0][3] == {}


def test_decode_response_keeps_text_that_is_not_json():
    assert kc.decode_response(200, "OK", b"") == {}
    with pytest.raises(kc.KubeError) as info:
        kc.decode_response(503, "Service Unavailable", b"upstream down")
    assert str(info.value) == "503 Service Unavailable: upstream down"


def test_namespace_helpers():
    kube = fake_kube({
        ("GET", "/api/v1/namespaces/shop"): (200, {}),
        ("POST", "/api/v1/namespaces?fieldManager=meshops.istio"): (409, {"reason": "AlreadyExists", "message": "exists"}),
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
    post = [s for s in kube.http.sent if s[0] == "POST"][0]
    assert post[1] == "/api/v1/namespaces?fieldManager=meshops.istio"
    assert post[3] == {"apiVersion": "v1", "kind": "Namespace",
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


# ---------------------------------------------------------------------- objects by apiVersion and kind
def test_resource_reads_each_group_version_once_and_skips_subresources():
    kube = fake_kube({("GET", "/apis/apps/v1"): (200, APPS), ("GET", "/api/v1"): (200, CORE)})
    deployments = kube.resource("apps/v1", "Deployment")
    assert (deployments.name, deployments.namespaced) == ("deployments", True)
    assert kube.resource("apps/v1", "Deployment") is deployments
    assert kube.resource("v1", "Namespace").namespaced is False
    assert [s[1] for s in kube.http.sent] == ["/apis/apps/v1", "/api/v1"]
    assert deployments.path("web", "shop") == "/apis/apps/v1/namespaces/shop/deployments/web"
    assert deployments.path(namespace=None) == "/apis/apps/v1/deployments"
    assert kube.resource("v1", "Namespace").path("shop", "ignored") == "/api/v1/namespaces/shop"
    assert (kc.api_path("apps/v1"), kc.api_path("v1")) == ("/apis/apps/v1", "/api/v1")


def test_a_kind_not_served_is_looked_up_once_more_then_none():
    answers = iter([{"resources": []}, {"resources": [{"name": "gateways", "kind": "Gateway", "namespaced": True}]}])
    kube = fake_kube({("GET", "/apis/networking.istio.io/v1"): (200, lambda: next(answers))})
    # the CRD was created after the first read: the second read finds it
    assert kube.resource("networking.istio.io/v1", "Gateway").name == "gateways"
    assert kube.resource("networking.istio.io/v1", "Sidecar") is None
    assert len(kube.http.sent) == 2  # no third read: the group version was refreshed once already
    assert fake_kube({}).resource("example.com/v1", "Thing") is None  # 404: not served at all
    assert kube.get("networking.istio.io/v1", "Sidecar", "x", "shop") is None
    assert kube.list("networking.istio.io/v1", "Sidecar") == []
    assert kube.namespaced("networking.istio.io/v1", "Sidecar") is None
    with pytest.raises(kc.KubeError) as info:
        kube.create({"apiVersion": "networking.istio.io/v1", "kind": "Sidecar", "metadata": {"name": "x"}})
    assert str(info.value) == "404 NotFound: the server does not serve networking.istio.io/v1 Sidecar"


def test_get_list_create_replace_patch_and_delete_send_the_right_calls():
    kube = fake_kube({
        ("GET", "/api/v1"): (200, CORE), ("GET", "/apis/apps/v1"): (200, APPS),
        ("GET", "/apis/apps/v1/namespaces/shop/deployments/web"): (200, {"metadata": {"name": "web"}}),
        ("GET", "/apis/apps/v1/deployments?labelSelector=app%3Dweb%2Ctier+in+%28a%29"): (200, {"items": [{"metadata": {}}]}),
        ("GET", "/api/v1/namespaces/gone/configmaps"): (404, {"reason": "NotFound", "message": "x"}),
        ("POST", "/api/v1/namespaces/shop/configmaps"): (201, {"metadata": {"uid": "u1"}}),
        ("PUT", "/api/v1/namespaces/shop/configmaps/c"): (200, {"metadata": {"uid": "u1", "resourceVersion": "8"}}),
        ("PUT", "/api/v1/namespaces/shop/configmaps/stale"): (409, {"reason": "Conflict", "message": "modified"}),
        ("PATCH", "/api/v1/namespaces/shop/configmaps/c?fieldManager=me&force=true&dryRun=All"): (200, {"data": {}}),
        ("PATCH", "/api/v1/namespaces/shop?dryRun=All"): (200, {"kind": "Namespace"}),
        ("PATCH", "/api/v1/namespaces/shop"): (200, {"kind": "Namespace"}),
        ("DELETE", "/apis/apps/v1/namespaces/shop/deployments/web"): (200, {}),
        ("GET", "/apis/apps/v1/namespaces/shop/deployments/broken"): (500, {"reason": "InternalError", "message": "etcd"}),
    })
    assert kube.get("apps/v1", "Deployment", "web", "shop") == {"metadata": {"name": "web"}}
    assert kube.get("apps/v1", "Deployment", "missing", "shop") is None
    with pytest.raises(kc.KubeError):
        kube.get("apps/v1", "Deployment", "broken", "shop")
    assert kube.list("apps/v1", "Deployment", label_selector="app=web,tier in (a)") == [
        {"metadata": {}, "apiVersion": "apps/v1", "kind": "Deployment"}]
    assert kube.list("v1", "ConfigMap", namespace="gone") == []
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}, "data": {"a": "1"}}
    assert kube.create(cm) == {"metadata": {"uid": "u1"}}
    assert kube.replace(dict(cm, metadata={"name": "c", "namespace": "shop", "resourceVersion": "7"})) == {
        "metadata": {"uid": "u1", "resourceVersion": "8"}}
    assert kube.http.sent[-1][3]["metadata"]["resourceVersion"] == "7"
    with pytest.raises(kc.KubeError) as conflict:
        kube.replace(dict(cm, metadata={"name": "stale", "namespace": "shop", "resourceVersion": "1"}))
    assert conflict.value.status == 409
    assert kube.dry_run_apply(cm, "me") == {"data": {}}
    apply_call = kube.http.sent[-1]
    assert apply_call[2]["Content-Type"] == "application/apply-patch+yaml" and apply_call[3] == cm
    assert kube.merge_patch("v1", "Namespace", "shop", {"metadata": {"labels": {"a": "b"}}}, dry_run=True) == {"kind": "Namespace"}
    assert kube.merge_patch("v1", "Namespace", "shop", {"metadata": {}}, namespace="ignored") == {"kind": "Namespace"}
    assert kube.http.sent[-1][2]["Content-Type"] == "application/merge-patch+json"
    assert kube.delete("apps/v1", "Deployment", "web", "shop", propagation="Background") is True
    assert kube.http.sent[-1][3] == {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
    assert kube.delete("apps/v1", "Deployment", "gone", "shop") is False
    assert kube.http.sent[-1][3] is None
    assert kube.delete("example.com/v1", "Thing", "x") is False


# ---------------------------------------------------------------------- loading a kubeconfig
def write_config(tmp_path, cluster, user, name="kubeconfig"):
    config = tmp_path / name
    config.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "lab",
        "clusters": [{"name": "lab", "cluster": cluster}],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "me"}},
                     {"name": "other", "context": {"cluster": "lab", "user": "me"}}],
        "users": [{"name": "me", "user": user}]}))
    return str(config)


@pytest.fixture(scope="module")
def pems(tmp_path_factory):
    """A self-signed certificate and its key (openssl is one of make test's system packages)."""
    if not shutil.which("openssl"):
        pytest.fail("openssl is needed (make system-deps installs it)")
    out = tmp_path_factory.mktemp("pki")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=lab",
                    "-keyout", str(out / "key.pem"), "-out", str(out / "cert.pem")], check=True, capture_output=True)
    return out


def test_the_client_loads_a_kubeconfig_without_contacting_the_server(tmp_path, pems):
    import base64  # pylint: disable=import-outside-toplevel
    cert = (pems / "cert.pem").read_bytes()
    key = (pems / "key.pem").read_bytes()
    # certificate data in the kubeconfig (k3s), a token, a CA from data, a pool sized for the workers
    data = write_config(tmp_path, {"server": "https://127.0.0.1:1/", "certificate-authority-data": base64.b64encode(cert).decode()},
                        {"client-certificate-data": base64.b64encode(cert).decode(),
                         "client-key-data": base64.b64encode(key).decode()})
    kube = kc.Kube(data, workers=16)
    assert kube.server == "https://127.0.0.1:1"
    assert "Authorization" not in kube.headers
    assert kube.http.connection_pool_kw["maxsize"] == 16
    assert kube.http.connection_pool_kw["ssl_context"].verify_mode.name == "CERT_REQUIRED"
    assert kc.Kube(data, "other", workers=1).http.connection_pool_kw["maxsize"] == 4
    # files relative to the kubeconfig's directory (the lab), a token file, tls-server-name
    shutil.copy(str(pems / "cert.pem"), str(tmp_path / "ca.crt"))
    (tmp_path / "token").write_text("s3cret\n")
    files = write_config(tmp_path, {"server": "https://127.0.0.1:1", "certificate-authority": "ca.crt",
                                    "tls-server-name": "api.lab"}, {"tokenFile": "token"}, name="files")
    kube = kc.Kube(files)
    assert kube.headers["Authorization"] == "Bearer s3cret"
    assert kube.http.connection_pool_kw["server_hostname"] == "api.lab"
    # insecure-skip-tls-verify, basic auth
    insecure = write_config(tmp_path, {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True},
                            {"username": "admin", "password": "pw"}, name="insecure")
    kube = kc.Kube(insecure)
    assert kube.http.connection_pool_kw["ssl_context"].verify_mode.name == "CERT_NONE"
    assert kube.headers["Authorization"] == "Basic YWRtaW46cHc="


def test_an_exec_plugin_gives_the_token(tmp_path):
    plugin = tmp_path / "plugin.py"
    plugin.write_text("import json, os, sys\n"
                      "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
                      "print(json.dumps({'kind': 'ExecCredential', 'status': {'token': sys.argv[1] + os.environ['SUFFIX'] + "
                      "info['apiVersion'][-7:]}}))\n")
    config = write_config(tmp_path, {"server": "https://127.0.0.1:1"}, {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable, "args": [str(plugin), "tok"],
        "env": [{"name": "SUFFIX", "value": "-"}]}})
    assert kc.Kube(config).headers["Authorization"] == "Bearer tok-v1beta1"


@pytest.mark.parametrize("user, cluster, context, message", [
    ({"token": "t"}, {"server": "https://x"}, "nowhere", "context 'nowhere' is not in the kubeconfig"),
    ({"token": "t"}, {}, None, "cluster 'lab' has no server"),
    ({"auth-provider": {"name": "oidc"}}, {"server": "https://x"}, None,
     "user 'me' uses auth-provider 'oidc', which meshops.istio does not support: use an exec credential plugin or a token"),
    ({"client-certificate-data": "not base64!"}, {"server": "https://x"}, None, "client-certificate-data is not base64-encoded PEM"),
    ({"exec": {"command": "/nonexistent/plugin"}}, {"server": "https://x"}, None, "exec plugin /nonexistent/plugin cannot run"),
    ({"exec": {"command": "false"}}, {"server": "https://x"}, None, "exec plugin false exited 1"),
], ids=["context", "server", "auth-provider", "base64", "exec missing", "exec fails"])
def test_a_kubeconfig_that_cannot_be_used_is_named_with_the_reason(tmp_path, user, cluster, context, message):
    config = write_config(tmp_path, cluster, user)
    with pytest.raises(kc.KubeClientError) as info:
        kc.kube_from_params({"kubeconfig": config, "context": context})
    assert str(info.value).startswith("cannot load kubeconfig %s: " % config)
    assert message in str(info.value)


def test_an_api_server_that_is_down_is_not_a_kubeconfig_error(tmp_path):
    """drift's fleet report tells a cluster that is down from one that is misconfigured."""
    config = write_config(tmp_path, {"server": "http://127.0.0.1:9"}, {"token": "t"})
    kube = kc.Kube(config, workers=1)
    kube.http.connection_pool_kw["retries"] = 0
    with pytest.raises(Exception) as info:
        kube.call("GET", "/api/v1")
    assert "kubeconfig" not in str(info.value) and "127.0.0.1" in str(info.value)
    assert not isinstance(info.value, kc.KubeClientError)


def test_settings_never_show_secrets():
    from ansible_collections.meshops.istio.plugins.module_utils.kube import kubeconfig  # pylint: disable=import-outside-toplevel
    settings = kubeconfig.Settings("https://x/", token="s3cret", password="pw")
    assert repr(settings) == "Settings(server='https://x')"
    assert os.path.basename(kc.default_kubeconfig()) in ("config",) or os.environ.get("KUBECONFIG")
