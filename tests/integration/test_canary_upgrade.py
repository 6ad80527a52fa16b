"""playbooks/canary_upgrade.yml against the lab: a revision-based upgrade from the previous Istio
minor (installed as the default revision) to the pinned one (revision <version with dashes>).

The lab runs one istiod per revision on ports of its own, so the new revision's sidecars really
come from the new istiod's injector. The tests run in file order; the module fixture leaves the
lab as the other files expect it: the pinned Istio as the default revision, no other revision.
"""

import json
import os
import subprocess
import sys

import pytest
from lab_helpers import proxy_container, running_pods, wait_for  # pylint: disable=import-error

NS = "istio-system"
APP_NS = "canary-app"
LATE_NS = "canary-late"
UPGRADE = "playbooks/canary_upgrade.yml"
CONTROL_PLANE = "tests/integration/playbooks/control_plane.yml"


def pods(kube, namespace, app):
    return running_pods(kube, namespace, "app=%s" % app)


def proxy_image(pod):
    container = proxy_container(pod)
    return container["image"] if container else None


def injected_by(pod):
    """The revision named in the sidecar.istio.io/status annotation the injector writes."""
    status = (pod["metadata"].get("annotations") or {}).get("sidecar.istio.io/status")
    return json.loads(status).get("revision") if status else None


def namespace(kube, name, labels):
    namespaces = kube.resource("v1", "Namespace")
    if kube.get("v1", "Namespace", name) is None:
        namespaces.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})


def deployment(kube, ns, name):
    labels = {"app": name}
    kube.resource("apps/v1", "Deployment").create(namespace=ns, body={
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": name, "image": "registry.invalid/web:1"}]}}}})


def delete_namespaces(kube, names):
    for name in names:
        if kube.get("v1", "Namespace", name) is not None:
            kube.resource("v1", "Namespace").delete(name=name)
    wait_for(lambda: all(kube.get("v1", "Namespace", n) is None for n in names), "namespaces %s deleted" % names)


@pytest.fixture(scope="module")
def versions(lab):
    return {"previous": lab.versions["ISTIO_PREVIOUS_VERSION"], "current": lab.versions["ISTIO_VERSION"],
            "revision": lab.versions["ISTIO_VERSION"].replace(".", "-")}


@pytest.fixture(scope="module")
def previous_default(lab, kube, playbook, control_plane_vars, versions):
    """The previous minor as the default revision (nothing else), and a workload it injected."""
    purge = playbook(CONTROL_PLANE, extra_vars=dict(control_plane_vars, control_plane_state="absent",
                                                    control_plane_purge=True))
    assert purge.rc == 0, purge.tail()
    installed = playbook(CONTROL_PLANE, extra_vars=dict(control_plane_vars, istioctl_version=versions["previous"]))
    assert installed.rc == 0, installed.tail()
    namespace(kube, APP_NS, {"istio-injection": "enabled"})
    deployment(kube, APP_NS, "web")
    wait_for(lambda: pods(kube, APP_NS, "web"), "the web pod")
    yield versions
    # back to the state the other files expect: the pinned Istio as the default revision only
    delete_namespaces(kube, [APP_NS, LATE_NS])
    restored = playbook(CONTROL_PLANE, extra_vars=dict(control_plane_vars, control_plane_state="absent",
                                                       control_plane_purge=True))
    assert restored.rc == 0, restored.tail()
    assert playbook(CONTROL_PLANE, extra_vars=control_plane_vars).rc == 0


def test_before_the_upgrade_the_sidecar_comes_from_the_previous_release(kube, previous_default):
    pod = pods(kube, APP_NS, "web")[0]
    assert proxy_image(pod).endswith(":" + previous_default["previous"])
    assert injected_by(pod) == "default"


def test_canary_upgrade_moves_the_namespace_and_its_sidecars_to_the_new_revision(
        playbook, kube, control_plane_vars, previous_default):
    revision, current = previous_default["revision"], previous_default["current"]
    result = playbook(UPGRADE, extra_vars=dict(control_plane_vars, canary_upgrade_version=current,
                                               canary_upgrade_namespaces=[APP_NS]))
    assert result.rc == 0, result.tail()

    # the new revision's istiod runs the new release; the old default revision is gone
    istiod = kube.get("apps/v1", "Deployment", "istiod-" + revision, NS)
    assert istiod is not None and istiod["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":" + current)
    assert kube.get("apps/v1", "Deployment", "istiod", NS) is None
    assert kube.get("v1", "ConfigMap", "istio-sidecar-injector", NS) is None
    assert kube.get("v1", "ConfigMap", "istio-sidecar-injector-" + revision, NS) is not None
    # the CRDs stay
    assert kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "virtualservices.networking.istio.io")

    # the namespace carries the revision label only, and its workload was restarted onto the new sidecar
    labels = kube.get("v1", "Namespace", APP_NS)["metadata"]["labels"]
    assert labels.get("istio.io/rev") == revision and "istio-injection" not in labels
    pod = wait_for(lambda: [p for p in pods(kube, APP_NS, "web") if injected_by(p) == revision],
                   "the web pod injected by revision %s" % revision)[0]
    assert proxy_image(pod).endswith(":" + current)

    # the ingress gateway moved to the new revision in place: same Service, same nodePorts
    gateway = kube.get("apps/v1", "Deployment", "istio-ingressgateway", NS)
    assert gateway["metadata"]["labels"].get("istio.io/rev") == revision
    service = kube.get("v1", "Service", "istio-ingressgateway", NS)
    ports = dict((p["name"], p.get("nodePort")) for p in service["spec"]["ports"])
    assert service["spec"]["type"] == "NodePort"
    assert ports["http2"] == control_plane_vars["control_plane_ingress_node_ports"]["http"]

    # the default tag points at the new revision
    tag = kube.get("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "istio-revision-tag-default")
    assert tag is not None and tag["metadata"]["labels"].get("istio.io/rev") == revision


def test_lab_status_reports_the_istiod_of_the_new_revision_only(lab, previous_default):
    revision = previous_default["revision"]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    status = subprocess.run([sys.executable, "-m", "lab", "status", "--json", "--name", lab.name],
                            stdout=subprocess.PIPE, text=True, check=False, cwd=root)
    report = json.loads(status.stdout)
    assert status.returncode == 0 and report["problems"] == 0, report["rows"]
    rows = dict((row[0], row[2]) for row in report["rows"])
    assert rows["istiod-%s /ready" % revision] == "ok"
    assert "istiod /ready" not in rows
    assert rows.get("istiod-" + revision) == "running"


def test_a_namespace_still_labelled_istio_injection_is_injected_by_the_new_revision(kube, previous_default):
    revision, current = previous_default["revision"], previous_default["current"]
    namespace(kube, LATE_NS, {"istio-injection": "enabled"})
    deployment(kube, LATE_NS, "late")
    pod = wait_for(lambda: pods(kube, LATE_NS, "late"), "the late pod")[0]
    assert injected_by(pod) == revision
    assert proxy_image(pod).endswith(":" + current)


def test_rerunning_the_upgrade_changes_nothing(playbook, kube, control_plane_vars, previous_default):
    generation = kube.get("apps/v1", "Deployment", "web", APP_NS)["metadata"]["generation"]
    result = playbook(UPGRADE, extra_vars=dict(control_plane_vars, canary_upgrade_version=previous_default["current"],
                                               canary_upgrade_namespaces=[APP_NS]))
    assert result.rc == 0, result.tail()
    assert result.changed == 0, result.tail()
    assert kube.get("apps/v1", "Deployment", "web", APP_NS)["metadata"]["generation"] == generation


def test_bad_input_is_refused_before_anything_changes(playbook_cases, kube, control_plane_vars, previous_default):
    before = kube.get("apps/v1", "Deployment", "istiod-" + previous_default["revision"], NS)["metadata"]["resourceVersion"]
    outcomes = playbook_cases(UPGRADE, {
        "not a release": {"canary_upgrade_version": "1.31"},
        "same revision": {"canary_upgrade_version": previous_default["current"],
                          "canary_upgrade_old_revision": previous_default["revision"]},
    }, common_vars=control_plane_vars)
    bad = outcomes["not a release"]
    assert bad.failed, bad
    assert "canary_upgrade_version=1.31 is not an Istio release" in " ".join(bad.text.split())
    same = outcomes["same revision"]
    assert same.failed, same
    assert "equals canary_upgrade_old_revision" in " ".join(same.text.split())
    after = kube.get("apps/v1", "Deployment", "istiod-" + previous_default["revision"], NS)["metadata"]["resourceVersion"]
    assert after == before
