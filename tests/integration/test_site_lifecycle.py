"""The whole site's life on one lab, with one converge of site.yml (each converge costs about
100 s of a worker's time, so the stories that need a converged site share it, in file order):

1. drift (playbooks/drift.yml): hand edits of every managed stage at once, reported (object and
   field) by a check that changes nothing, put back by a correction, and clean again; ignored
   fields (built in and a user rule) and an unmanaged object are never reported or touched; the
   exit statuses (bad settings and unreachable clusters: tests/unit/test_drift_playbook.py); and
   `site.yml --check` on the converged lab changes nothing.
2. uninstall (playbooks/uninstall.yml): everything site.yml made removed, and nothing a user made
   by hand. It leaves the lab without Istio's control plane (the CRDs stay); the other files
   install what they need through their fixtures.

    MESHOPS_LAB_NAME=meshops-site pytest -q tests/integration/test_site_lifecycle.py
"""

import json
import os
import subprocess

import pytest
from lab_helpers import forget_drift_records, has_proxy, plaintext_namespaces, running_pods, wait_for  # pylint: disable=import-error

DRIFT = "playbooks/drift.yml"
UNINSTALL = "playbooks/uninstall.yml"
NS = "default"
IST = "istio-system"
USER_NS = "user-app"
SEC = "security.istio.io/v1"
NET = "networking.istio.io/v1"
MANAGED = "app.kubernetes.io/managed-by=meshops.istio"
# A user rule: the productpage Service's `app` label may be changed by hand.
USER_RULES = [{"group": "", "kind": "Service", "name": "product*", "namespace": NS, "json_pointers": ["/metadata/labels/app"]}]

# (stage, kind, namespace, name, kubectl patch arguments, expected field path prefix, read-back(obj) -> value)
EDITS = [
    ("control-plane", "Service", IST, "istio-ingressgateway",
     ["service", "-n", IST, "istio-ingressgateway", "--type", "merge", "-p", '{"spec":{"type":"ClusterIP"}}'],
     "/spec/type", ("v1", "Service"), lambda o: o["spec"]["type"]),
    ("injection", "Namespace", "", NS,
     ["namespace", NS, "--type", "merge", "-p", '{"metadata":{"labels":{"istio-injection":"disabled"}}}'],
     "/metadata/labels/istio-injection", ("v1", "Namespace"), lambda o: o["metadata"]["labels"].get("istio-injection")),
    ("addons", "Service", IST, "kiali",
     ["service", "-n", IST, "kiali", "--type", "merge", "-p", '{"spec":{"type":"ClusterIP"}}'],
     "/spec/type", ("v1", "Service"), lambda o: o["spec"]["type"]),
    ("bookinfo", "Service", NS, "details",
     ["service", "-n", NS, "details", "--type", "merge", "-p", '{"metadata":{"labels":{"service":"edited"}}}'],
     "/metadata/labels/service", ("v1", "Service"), lambda o: o["metadata"]["labels"].get("service")),
    ("traffic-bookinfo", "DestinationRule", NS, "destrule-reviews",
     ["destinationrule", "-n", NS, "destrule-reviews", "--type", "json",
      "-p", '[{"op":"replace","path":"/spec/trafficPolicy/loadBalancer","value":{"simple":"LEAST_REQUEST"}}]'],
     "/spec/trafficPolicy/loadBalancer/simple", ("networking.istio.io/v1", "DestinationRule"),
     lambda o: o["spec"]["trafficPolicy"]["loadBalancer"].get("simple")),
    ("mesh-security", "PeerAuthentication", NS, "default",
     ["peerauthentication", "-n", NS, "default", "--type", "merge", "-p", '{"spec":{"mtls":{"mode":"PERMISSIVE"}}}'],
     "/spec/mtls/mode", ("security.istio.io/v1", "PeerAuthentication"), lambda o: o["spec"]["mtls"]["mode"]),
]
UNMANAGED = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "drift-test-unmanaged", "namespace": NS},
             "data": {"k": "v"}}


def kubectl(lab, *args, data=None):
    return subprocess.run([lab.kubectl, "--kubeconfig", lab.kubeconfig] + list(args), check=True, text=True,
                          input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout


def read(kube, edit):
    _stage, _kind, namespace, name, _patch, _path, (api_version, kind), value = edit
    return value(kube.get(api_version, kind, name, namespace or None))


def report(lab, host="localhost"):
    with open(os.path.join(lab.output_dir, "drift", host, "report.json"), encoding="utf-8") as handle:
        return json.load(handle)


def drift(playbook, mode="check", rules=None):
    return playbook(DRIFT, extra_vars={"drift_mode": mode, "mesh_drift_ignore": rules if rules is not None else USER_RULES})


@pytest.fixture(scope="module")
def converged(lab, playbook, kube):
    forget_drift_records(lab)
    # The lab is shared by the files an xdist worker runs: clients without sidecar that other files
    # left (test_security's test/netpod) are not this story's; the STRICT gate judges only its own.
    foreign = plaintext_namespaces(kube, exclude=(IST, NS, USER_NS))
    result = playbook("site.yml", extra_vars={"mesh_security_gate_exclude_namespaces": [IST] + foreign}
                      if foreign else None)
    assert result.rc == 0, result.tail()
    return result


@pytest.fixture(scope="module")
def originals(converged, kube):
    return dict((edit[0], read(kube, edit)) for edit in EDITS)


def test_check_mode_on_the_converged_lab_changes_nothing(converged, playbook):
    result = playbook("site.yml", check=True)
    assert result.rc == 0, result.tail()
    assert result.changed == 0, [line for line in result.output.splitlines() if line.startswith("changed:")]


def test_converged_lab_is_clean(lab, converged, playbook):
    result = drift(playbook)
    assert result.rc == 0, result.tail()
    rep = report(lab)
    assert rep["status"] == "clean" and rep["objects"] == [], rep
    assert rep["checked"] > 50
    with open(os.path.join(lab.output_dir, "drift", "summary.json"), encoding="utf-8") as handle:
        assert json.load(handle)["clusters"]["localhost"]["status"] == "clean"


def test_hand_edits_are_reported_not_changed_then_corrected(lab, kube, converged, originals, playbook):
    # ignored: a rollout restart (built in; done while injection is on, so the new pod keeps its
    # sidecar and the file leaves no client outside the mesh), the user rule's label, and an
    # object the collection does not manage
    kubectl(lab, "rollout", "restart", "deployment/details-v1", "-n", NS)
    kubectl(lab, "rollout", "status", "deployment/details-v1", "-n", NS, "--timeout=180s")
    for edit in EDITS:
        kubectl(lab, "patch", *edit[4])
    kubectl(lab, "label", "--overwrite", "service", "productpage", "-n", NS, "app=edited-by-hand")
    kubectl(lab, "delete", "authorizationpolicy", "reviews-viewer", "-n", NS)
    kubectl(lab, "apply", "-f", "-", data=json.dumps(UNMANAGED))
    kubectl(lab, "label", "--overwrite", "configmap", UNMANAGED["metadata"]["name"], "-n", NS, "app.kubernetes.io/managed-by=meshops.istio")
    edited = dict((edit[0], read(kube, edit)) for edit in EDITS)
    assert all(edited[stage] != originals[stage] for stage in edited), (edited, originals)

    check = drift(playbook)
    assert check.rc != 0, check.tail()
    rep = report(lab)
    assert rep["status"] == "drift", rep
    found = dict(((o["stage"], o["kind"], o["namespace"], o["name"]), [f["path"] for f in o["fields"]]) for o in rep["objects"])
    for stage, kind, namespace, name, _p, path, _r, _v in EDITS:
        assert any(p.startswith(path) for p in found.get((stage, kind, namespace, name), [])), (stage, found)
    assert not any(name in ("productpage", UNMANAGED["metadata"]["name"]) or name == "details-v1"
                   for _s, _k, _n, name in found), found
    assert "DRIFT Service istio-system/kiali [addons] /spec/type: NodePort -> ClusterIP" in check.output
    missing = [o for o in rep["objects"] if o["name"] == "reviews-viewer"]
    assert [(o["stage"], o["kind"], o["missing"]) for o in missing] == [("mesh-security", "AuthorizationPolicy", True)]
    for edit in EDITS:
        assert read(kube, edit) == edited[edit[0]], "drift_mode=check changed %s" % edit[0]
    assert kube.get("security.istio.io/v1", "AuthorizationPolicy", "reviews-viewer", NS) is None
    with open(os.path.join(lab.output_dir, "drift", "localhost", "junit.xml"), encoding="utf-8") as handle:
        assert 'failures="%d"' % len(found) in handle.read()
    with open(os.path.join(lab.output_dir, "drift", "localhost", "drift.prom"), encoding="utf-8") as handle:
        prom = handle.read()
    assert 'meshops_istio_drift_status{cluster="localhost",status="drift"} 1' in prom
    assert 'meshops_istio_drift_objects{cluster="localhost"} %d' % len(found) in prom

    correct = drift(playbook, "correct")
    assert correct.rc == 0, correct.tail()
    assert report(lab)["status"] == "corrected"
    for edit in EDITS:
        assert read(kube, edit) == originals[edit[0]], "drift_mode=correct did not put back %s" % edit[0]
    assert kube.get("security.istio.io/v1", "AuthorizationPolicy", "reviews-viewer", NS) is not None
    assert kube.get("v1", "Service", "productpage", NS)["metadata"]["labels"]["app"] == "edited-by-hand"
    assert kube.get("v1", "ConfigMap", UNMANAGED["metadata"]["name"], NS)["data"] == {"k": "v"}

    again = drift(playbook)
    assert again.rc == 0, again.tail()
    assert report(lab)["status"] == "clean", report(lab)
    kubectl(lab, "label", "--overwrite", "service", "productpage", "-n", NS, "app=productpage")
    kubectl(lab, "delete", "configmap", UNMANAGED["metadata"]["name"], "-n", NS)


# ------------------------------------------------------------------ uninstall, after the drift story
def running(kube, namespace, app):
    return running_pods(kube, namespace, "app=%s" % app)


def managed(kube):
    """Objects carrying the collection's managed-by label, by kind: the policies anywhere (the
    mesh_security role manages them by label, cluster-wide), the rest in the namespaces site.yml
    uses (other test files may keep their own models elsewhere)."""
    found = {}
    for api_version, kind in ((SEC, "PeerAuthentication"), (SEC, "AuthorizationPolicy"), (NET, "VirtualService"),
                              (NET, "DestinationRule"), (NET, "Gateway"), ("apps/v1", "Deployment"),
                              ("v1", "Service"), ("v1", "ConfigMap")):
        objects = kube.list(api_version, kind, label_selector=MANAGED)
        names = ["%s/%s" % (o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects
                 if api_version == SEC or o["metadata"].get("namespace") in (NS, IST)]
        if names:
            found[kind] = sorted(names)
    return found


@pytest.fixture(scope="module")
def user_objects(kube, converged):
    """What a user made by hand on the converged site (after the drift story, which must not see
    it), which the uninstall must leave alone: a namespace, a Deployment in the mesh's application
    namespace, and Istio objects of their own."""
    namespaces = kube.resource("v1", "Namespace")
    if kube.get("v1", "Namespace", USER_NS) is None:
        namespaces.create(body={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": USER_NS}})
    labels = {"app": "keeper"}
    if kube.get("apps/v1", "Deployment", "keeper", NS) is None:
        kube.resource("apps/v1", "Deployment").create(namespace=NS, body={
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "keeper", "namespace": NS},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "keeper", "image": "registry.invalid/keeper:1"}]}}}})
    # hand-made Istio objects (the CRDs exist once site.yml converged)
    objects = {}
    for api_version, kind, body in (
            (SEC, "AuthorizationPolicy", {"spec": {"action": "ALLOW", "rules": [{}]}}),
            (NET, "VirtualService", {"spec": {"hosts": ["keeper"], "http": [{"route": [{"destination": {"host": "keeper"}}]}]}})):
        if kube.get(api_version, kind, "hand-made", USER_NS) is None:
            kube.resource(api_version, kind).create(namespace=USER_NS, body=dict(
                body, apiVersion=api_version, kind=kind, metadata={"name": "hand-made", "namespace": USER_NS}))
        objects[kind] = kube.get(api_version, kind, "hand-made", USER_NS)["metadata"]["resourceVersion"]
    yield objects
    # this file's own objects go, so that the next file starts from a plain lab
    kube.resource("apps/v1", "Deployment").delete(name="keeper", namespace=NS,
                                                  body={"propagationPolicy": "Foreground", "gracePeriodSeconds": 0})
    namespaces.delete(name=USER_NS)
    wait_for(lambda: not kube.list("v1", "Pod", namespace=NS, label_selector="app=keeper"), "the keeper's pods to go")


def test_site_left_objects_for_the_uninstall_to_remove(kube, user_objects):
    found = managed(kube)
    assert found.get("PeerAuthentication") and found.get("AuthorizationPolicy"), found
    assert kube.get("apps/v1", "Deployment", "istiod", IST) is not None
    assert kube.list("apps/v1", "Deployment", label_selector="meshops.istio/addon")
    assert kube.get("apps/v1", "Deployment", "productpage-v1", NS) is not None
    assert kube.get("v1", "Namespace", NS)["metadata"]["labels"].get("istio-injection") == "enabled"
    assert all(has_proxy(p) for p in wait_for(lambda: running(kube, NS, "keeper"), "keeper"))


def test_check_mode_lists_what_would_go_and_removes_nothing(playbook, kube, user_objects):
    before = managed(kube)
    result = playbook(UNINSTALL, check=True, diff=True)
    assert result.rc == 0, result.tail()
    assert result.changed >= 1
    assert managed(kube) == before
    assert kube.get("apps/v1", "Deployment", "istiod", IST) is not None


def test_uninstall_removes_what_site_made_and_nothing_else(playbook, kube, user_objects, converged):
    result = playbook(UNINSTALL)
    assert result.rc == 0, result.tail()
    assert result.changed >= 5, result.tail()

    assert managed(kube) == {}
    for name in ("istiod", "istio-ingressgateway", "istio-egressgateway"):
        assert kube.get("apps/v1", "Deployment", name, IST) is None, name
    assert kube.list("apps/v1", "Deployment", label_selector="meshops.istio/addon") == []
    assert kube.get("apps/v1", "Deployment", "productpage-v1", NS) is None
    assert kube.get("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "istio-sidecar-injector") is None
    assert kube.get("v1", "ConfigMap", "mesh-security-snapshot", IST) is None
    # the namespace left the mesh: no label, and the user's workload restarted without a sidecar
    labels = kube.get("v1", "Namespace", NS)["metadata"].get("labels") or {}
    assert "istio-injection" not in labels and "istio.io/rev" not in labels
    pods = wait_for(lambda: [p for p in running(kube, NS, "keeper") if not has_proxy(p)], "keeper without sidecar")
    assert pods
    # what the user made stays: the namespaces, the CRDs, the hand-made Istio objects, unchanged
    assert kube.get("v1", "Namespace", USER_NS) is not None and kube.get("v1", "Namespace", IST) is not None
    assert kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "virtualservices.networking.istio.io")
    for api_version, kind in ((SEC, "AuthorizationPolicy"), (NET, "VirtualService")):
        assert kube.get(api_version, kind, "hand-made", USER_NS)["metadata"]["resourceVersion"] == user_objects[kind]
    assert kube.get("apps/v1", "Deployment", "keeper", NS) is not None


def test_a_second_uninstall_changes_nothing(playbook, converged):
    result = playbook(UNINSTALL)
    assert result.rc == 0, result.tail()
    assert result.changed == 0, result.tail()
