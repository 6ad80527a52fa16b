"""Role injection against the lab: labels, real injection by istiod's webhook, restarts, idempotence."""

import pytest
from lab_helpers import wait_for  # pylint: disable=import-error

PLAYBOOK = "tests/integration/playbooks/injection.yml"
APP_NS = "cp-inject"
BOTH_NS = "cp-both"
FRESH_NS = "cp-fresh"


def _ensure_namespace(kube, name, labels=None):
    namespaces = kube.resource("v1", "Namespace")
    if kube.get("v1", "Namespace", name) is None:
        namespaces.create(body={"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": name, "labels": labels or {}}})
    else:
        namespaces.patch(name=name, body={"metadata": {"labels": labels or {}}},
                         content_type="application/merge-patch+json")


def _deployment(name, opt_out=False):
    template_labels = {"app": name}
    if opt_out:
        template_labels["sidecar.istio.io/inject"] = "false"
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": APP_NS},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": template_labels},
                              "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}}},
    }


def _pods(kube, app):
    return [p for p in kube.list("v1", "Pod", namespace=APP_NS, label_selector="app=%s" % app)
            if not p["metadata"].get("deletionTimestamp")]


def _containers(pod):
    spec = pod["spec"]
    return [c["name"] for c in spec.get("containers", []) + (spec.get("initContainers") or [])]


@pytest.fixture(scope="module")
def control_plane(playbook, control_plane_vars):
    """The control plane installed (a no-op when test_control_plane.py left it converged)."""
    result = playbook("tests/integration/playbooks/control_plane.yml", extra_vars=control_plane_vars)
    assert result.rc == 0, result.tail()


def _delete_namespaces(kube, names):
    namespaces = kube.resource("v1", "Namespace")
    for name in names:
        if kube.get("v1", "Namespace", name) is not None:
            namespaces.delete(name=name)
    wait_for(lambda: all(kube.get("v1", "Namespace", n) is None for n in names), "namespaces %s deleted" % names, 180)


@pytest.fixture(scope="module")
def workloads(kube, control_plane):  # pylint: disable=unused-argument,redefined-outer-name
    """A fresh namespace with two Deployments started before injection was turned on."""
    _delete_namespaces(kube, [APP_NS, BOTH_NS, FRESH_NS])
    _ensure_namespace(kube, APP_NS)
    deployments = kube.resource("apps/v1", "Deployment")
    for name, opt_out in (("web", False), ("batch", True)):
        if kube.get("apps/v1", "Deployment", name, APP_NS) is None:
            deployments.create(body=_deployment(name, opt_out))
    wait_for(lambda: _pods(kube, "web") and _pods(kube, "batch"), "the workloads' pods", 120)
    yield APP_NS
    _delete_namespaces(kube, [APP_NS, BOTH_NS, FRESH_NS])


def test_pods_start_without_sidecar(kube, workloads):
    assert all("istio-proxy" not in _containers(p) for p in _pods(kube, "web"))


def test_conflicting_namespace_is_refused_before_anything_changes(playbook, kube, workloads):
    _ensure_namespace(kube, BOTH_NS, {"istio.io/rev": "canary"})
    before = kube.get("v1", "Namespace", APP_NS)["metadata"]["labels"]
    result = playbook(PLAYBOOK, extra_vars={"injection_namespaces": [APP_NS, BOTH_NS, FRESH_NS]})
    assert result.rc != 0, result.tail()
    assert "namespace %s already has label istio.io/rev=canary" % BOTH_NS in result.output
    assert "injection_label_conflict=replace" in result.output
    # nothing changed: not the good namespace, not the conflicting one, and no namespace was created
    assert kube.get("v1", "Namespace", APP_NS)["metadata"]["labels"] == before
    assert kube.get("v1", "Namespace", BOTH_NS)["metadata"]["labels"].get("istio-injection") is None
    assert kube.get("v1", "Namespace", FRESH_NS) is None
    assert all("istio-proxy" not in _containers(p) for p in _pods(kube, "web"))


def test_injection_labels_and_restarts_only_what_lacks_the_sidecar(playbook, kube, workloads):
    batch_before = kube.get("apps/v1", "Deployment", "batch", APP_NS)["metadata"]["generation"]
    result = playbook(PLAYBOOK, extra_vars={"injection_namespaces": [APP_NS]})
    assert result.rc == 0, result.tail()
    assert result.changed >= 1
    namespace = kube.get("v1", "Namespace", APP_NS)
    assert namespace["metadata"]["labels"]["istio-injection"] == "enabled"
    assert "istio.io/rev" not in namespace["metadata"]["labels"]

    web = kube.get("apps/v1", "Deployment", "web", APP_NS)
    annotations = web["spec"]["template"]["metadata"].get("annotations") or {}
    assert "kubectl.kubernetes.io/restartedAt" in annotations
    pods = _pods(kube, "web")
    assert pods and all("istio-proxy" in _containers(p) for p in pods), [_containers(p) for p in pods]
    # the opted-out Deployment was not restarted
    assert kube.get("apps/v1", "Deployment", "batch", APP_NS)["metadata"]["generation"] == batch_before
    assert "Restarted: %s/web" % APP_NS in result.output


def test_second_run_changes_nothing(playbook, kube, workloads):
    generation = kube.get("apps/v1", "Deployment", "web", APP_NS)["metadata"]["generation"]
    result = playbook(PLAYBOOK, extra_vars={"injection_namespaces": [APP_NS]})
    assert result.rc == 0, result.tail()
    assert result.changed == 0, result.tail()
    assert kube.get("apps/v1", "Deployment", "web", APP_NS)["metadata"]["generation"] == generation


def test_check_mode_changes_nothing_when_converged(playbook, workloads):
    result = playbook(PLAYBOOK, extra_vars={"injection_namespaces": [APP_NS]}, check=True, diff=True)
    assert result.rc == 0, result.tail()
    assert result.changed == 0, result.tail()


def test_check_mode_reports_a_missing_namespace_without_creating_it(playbook, kube, workloads):
    result = playbook(PLAYBOOK, extra_vars={"injection_namespaces": [APP_NS, FRESH_NS]}, check=True, diff=True)
    assert result.rc == 0, result.tail()
    assert result.changed >= 1
    assert "+ namespace %s" % FRESH_NS in result.output
    assert kube.get("v1", "Namespace", FRESH_NS) is None


def test_new_pods_in_labelled_namespace_are_injected(kube, workloads):
    pods = kube.resource("v1", "Pod")
    name = "cp-probe"
    if kube.get("v1", "Pod", name, APP_NS) is None:
        pods.create(body={"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": APP_NS},
                          "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:1"}]}})
    pod = kube.get("v1", "Pod", name, APP_NS)
    assert "istio-proxy" in _containers(pod)
    assert pod["metadata"]["annotations"].get("sidecar.istio.io/status")
    pods.delete(name=name, namespace=APP_NS)
