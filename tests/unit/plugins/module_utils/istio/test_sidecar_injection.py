"""Namespace label rules and the choice of Deployments to restart."""

import json

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.istio import injection as inj


# --------------------------------------------------------------------------- labels
def test_wanted_labels():
    assert inj.wanted_labels("") == {"istio-injection": "enabled"}
    assert inj.wanted_labels("canary") == {"istio.io/rev": "canary"}


def test_label_patch_adds_the_missing_label():
    assert inj.label_patch("default", {}, "") == {"metadata": {"labels": {"istio-injection": "enabled"}}}
    assert inj.label_patch("default", None, "canary") == {"metadata": {"labels": {"istio.io/rev": "canary"}}}


def test_label_patch_none_when_already_right():
    assert inj.label_patch("default", {"istio-injection": "enabled", "team": "a"}, "") is None
    assert inj.label_patch("default", {"istio.io/rev": "canary"}, "canary") is None


def test_label_patch_moves_revision_value():
    assert inj.label_patch("shop", {"istio.io/rev": "old"}, "new") == {"metadata": {"labels": {"istio.io/rev": "new"}}}


def test_label_patch_fixes_disabled_injection():
    assert inj.label_patch("shop", {"istio-injection": "disabled"}, "") == {"metadata": {"labels": {"istio-injection": "enabled"}}}


def test_both_labels_refused_naming_the_namespace():
    with pytest.raises(inj.InjectionError) as err:
        inj.label_patch("shop", {"istio-injection": "enabled"}, "canary")
    text = str(err.value)
    assert "namespace shop" in text
    assert "istio-injection=enabled" in text and "istio.io/rev=canary" in text
    assert "injection_label_conflict=replace" in text and "accepted: fail, replace" in text
    with pytest.raises(inj.InjectionError) as err:
        inj.label_patch("web", {"istio.io/rev": "canary"}, "")
    assert "namespace web" in str(err.value)


def test_replace_removes_the_other_label_in_the_same_patch():
    patch = inj.label_patch("shop", {"istio-injection": "enabled"}, "canary", conflict="replace")
    assert patch == {"metadata": {"labels": {"istio.io/rev": "canary", "istio-injection": None}}}
    patch = inj.label_patch("shop", {"istio.io/rev": "canary", "istio-injection": "enabled"}, "", conflict="replace")
    assert patch == {"metadata": {"labels": {"istio.io/rev": None}}}


def test_unknown_conflict_policy():
    with pytest.raises(inj.InjectionError) as err:
        inj.label_patch("shop", {}, "", conflict="ignore")
    assert "injection_label_conflict='ignore'" in str(err.value)


@pytest.mark.parametrize("name, ok", [("default", True), ("bookinfo-1", True), ("Default", False),
                                      ("-x", False), ("a" * 64, False), ("kube-system", False), (3, False)])
def test_namespace_problem(name, ok):
    assert (inj.namespace_problem(name) is None) == ok


# --------------------------------------------------------------------------- restarts
def _deployment(name, uid, revision="2", template=None):
    return {"metadata": {"name": name, "uid": uid, "annotations": {"deployment.kubernetes.io/revision": revision}},
            "spec": {"replicas": 1, "template": template or {"metadata": {"labels": {"app": name}}, "spec": {}}}}


def _rs(name, uid, owner, revision):
    return {"metadata": {"name": name, "uid": uid, "annotations": {"deployment.kubernetes.io/revision": revision},
                         "ownerReferences": [{"kind": "Deployment", "uid": owner}]}}


def _pod(name, owner, proxy=True, revision=None, deleting=False, native=False):
    containers = [{"name": "app"}]
    init = []
    if proxy:
        (init if native else containers).append({"name": "istio-proxy"})
    metadata = {"name": name, "ownerReferences": [{"kind": "ReplicaSet", "uid": owner}], "annotations": {}}
    if revision:
        metadata["annotations"]["sidecar.istio.io/status"] = json.dumps({"containers": ["istio-proxy"], "revision": revision})
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": metadata, "spec": {"containers": containers, "initContainers": init}}


def test_only_deployments_whose_current_pods_lack_the_proxy_are_restarted():
    deployments = [_deployment("ratings", "d1"), _deployment("reviews", "d2")]
    replicasets = [_rs("ratings-1", "r1", "d1", "1"), _rs("ratings-2", "r2", "d1", "2"), _rs("reviews-2", "r3", "d2", "2")]
    pods = [
        _pod("ratings-old", "r1", proxy=False),             # old ReplicaSet: ignored
        _pod("ratings-new", "r2", proxy=True, revision="default"),
        _pod("reviews-a", "r3", proxy=True, revision="default"),
        _pod("reviews-b", "r3", proxy=False),
    ]
    assert inj.deployments_to_restart(deployments, replicasets, pods, "") == [
        ("reviews", "pod reviews-b has no istio-proxy container")]


def test_terminating_pods_do_not_count():
    deployments = [_deployment("ratings", "d1")]
    replicasets = [_rs("ratings-2", "r2", "d1", "2")]
    pods = [_pod("ratings-x", "r2", proxy=False, deleting=True), _pod("ratings-y", "r2", revision="default")]
    assert inj.deployments_to_restart(deployments, replicasets, pods) == []


def test_native_sidecar_counts_as_injected():
    deployments = [_deployment("ratings", "d1")]
    replicasets = [_rs("ratings-2", "r2", "d1", "2")]
    assert inj.deployments_to_restart(deployments, replicasets, [_pod("p", "r2", native=True, revision="default")]) == []


def test_sidecar_of_another_revision_is_restarted():
    deployments = [_deployment("ratings", "d1")]
    replicasets = [_rs("ratings-2", "r2", "d1", "2")]
    pods = [_pod("ratings-a", "r2", revision="default")]
    assert inj.deployments_to_restart(deployments, replicasets, pods, "canary") == [
        ("ratings", "pod ratings-a has a sidecar from revision default, not canary")]
    assert inj.deployments_to_restart(deployments, replicasets, pods, "") == []


@pytest.mark.parametrize("template", [
    {"metadata": {"labels": {"sidecar.istio.io/inject": "false"}}, "spec": {}},
    {"metadata": {"annotations": {"sidecar.istio.io/inject": "false"}}, "spec": {}},
    {"metadata": {}, "spec": {"hostNetwork": True}},
])
def test_opted_out_deployments_are_left_alone(template):
    deployments = [_deployment("ratings", "d1", template=template)]
    replicasets = [_rs("ratings-2", "r2", "d1", "2")]
    assert inj.deployments_to_restart(deployments, replicasets, [_pod("p", "r2", proxy=False)]) == []


def test_deployment_without_pods_is_not_restarted():
    assert inj.deployments_to_restart([_deployment("idle", "d1")], [_rs("idle-2", "r2", "d1", "2")], []) == []


def test_restart_patch():
    assert inj.restart_patch("2026-01-01T00:00:00Z") == {
        "spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z",
                                                           "meshops.istio/restarted-for-revision": "default"}}}}}
    assert inj.restart_patch("t", "canary")["spec"]["template"]["metadata"]["annotations"][
        "meshops.istio/restarted-for-revision"] == "canary"


def test_revision_restart_happens_once_even_if_the_injector_names_another_revision():
    template = {"metadata": {"annotations": {"meshops.istio/restarted-for-revision": "canary"}}, "spec": {}}
    deployments = [_deployment("ratings", "d1", template=template)]
    replicasets = [_rs("ratings-2", "r2", "d1", "2")]
    pods = [_pod("ratings-a", "r2", revision="default")]
    assert inj.deployments_to_restart(deployments, replicasets, pods, "canary") == []
    # but a pod without a sidecar is restarted whatever the annotation says
    assert inj.deployments_to_restart(deployments, replicasets, [_pod("ratings-b", "r2", proxy=False)], "canary") == [
        ("ratings", "pod ratings-b has no istio-proxy container")]


@pytest.mark.parametrize("status, done", [
    ({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}, True),
    ({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}, False),
    ({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2}, False),
    ({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 2}, False),
    ({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}, False),
])
def test_rollout_done(status, done):
    deployment = {"metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": status}
    assert inj.rollout_done(deployment) is done


@pytest.mark.parametrize("labels, patch", [
    ({"istio-injection": "enabled", "team": "a"}, {"metadata": {"labels": {"istio-injection": None}}}),
    ({"istio.io/rev": "1-31-0"}, {"metadata": {"labels": {"istio.io/rev": None}}}),
    ({"istio-injection": "disabled", "istio.io/rev": "x"},
     {"metadata": {"labels": {"istio-injection": None, "istio.io/rev": None}}}),
    ({"team": "a"}, None),
    (None, None),
])
def test_removal_patch_takes_off_only_the_injection_labels(labels, patch):
    assert inj.removal_patch(labels) == patch


def test_deployments_with_sidecar_are_the_ones_a_removal_restarts():
    deployments = [_deployment("ratings", "d1"), _deployment("reviews", "d2"), _deployment("plain", "d3")]
    replicasets = [_rs("ratings-1", "r1", "d1", "1"), _rs("ratings-2", "r2", "d1", "2"),
                   _rs("reviews-2", "r3", "d2", "2"), _rs("plain-2", "r4", "d3", "2")]
    pods = [
        _pod("ratings-old", "r1", proxy=True),               # old ReplicaSet: ignored
        _pod("ratings-new", "r2", proxy=False),
        _pod("reviews-a", "r3", proxy=True, native=True),
        _pod("plain-a", "r4", proxy=False),
    ]
    assert inj.deployments_with_sidecar(deployments, replicasets, pods) == [
        ("reviews", "pod reviews-a has an istio-proxy container")]
    opted_out = [_deployment("reviews", "d2", template={"metadata": {"labels": {"sidecar.istio.io/inject": "false"}}})]
    assert inj.deployments_with_sidecar(opted_out, replicasets, pods) == []
