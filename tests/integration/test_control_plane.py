"""Role control_plane against the lab: converge, idempotence, check mode, drift, version rules, uninstall.

The tests run in file order and share one lab: they leave it with Istio (the pinned version)
installed and converged, as the other areas' tests expect.
"""

import os
import time

import pytest
import yaml

PLAYBOOK = "tests/integration/playbooks/control_plane.yml"
NS = "istio-system"
NODE_PORTS = {"http": 31080, "https": 31443, "status": 31021}
CONVERGE = {
    "control_plane_ingress_service_type": "NodePort",
    "control_plane_ingress_node_ports": NODE_PORTS,
    "control_plane_external_traffic_policy": "Local",
    "control_plane_egress_gateway_enabled": False,
}


def _available(deployment):
    conditions = (deployment or {}).get("status", {}).get("conditions") or []
    return any(c["type"] == "Available" and c["status"] == "True" for c in conditions)


def _snapshot(kube):
    """Names and resourceVersions of what the role could touch."""
    objects = {}
    for api_version, kind, namespace in (("apps/v1", "Deployment", NS), ("v1", "Service", NS),
                                         ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", None),
                                         ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", None)):
        for obj in kube.list(api_version, kind, namespace=namespace):
            objects["%s/%s" % (kind, obj["metadata"]["name"])] = obj["metadata"]["resourceVersion"]
    return objects


def _converge(playbook, **extra):
    variables = dict(CONVERGE)
    variables.update(extra)
    return playbook(PLAYBOOK, extra_vars=variables)


def _istiod(kube):
    return kube.get("apps/v1", "Deployment", "istiod", NS)


def _rolled_out(kube, name):
    """Wait until the Deployment's latest generation is rolled out (status settled)."""
    deadline = time.time() + 180
    while time.time() < deadline:
        dep = kube.get("apps/v1", "Deployment", name, NS)
        status = dep.get("status") or {}
        replicas = dep["spec"].get("replicas", 1)
        if (status.get("observedGeneration") == dep["metadata"]["generation"] and status.get("updatedReplicas") == replicas
                and status.get("replicas") == replicas and status.get("availableReplicas") == replicas):
            return dep
        time.sleep(1)
    pytest.fail("Deployment %s did not roll out" % name)
    return None


def _image_tag(deployment):
    return deployment["spec"]["template"]["spec"]["containers"][0]["image"].rsplit(":", 1)[1]


# --------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def bad_inputs(playbook_cases, kube):
    """What the role could touch before, the outcome of every bad input (one run, a host each), after."""
    before = _snapshot(kube)
    outcomes = playbook_cases(PLAYBOOK, {
        "profile": {"control_plane_profile": "nosuch"},
        "service type": {"control_plane_ingress_service_type": "Nodeport"},
        "node ports": {"control_plane_ingress_node_ports": {"http": 80, "htps": 31443}},
    }, common_vars=CONVERGE)
    return before, outcomes, _snapshot(kube)


def test_bad_profile_fails_before_anything_changes(bad_inputs):
    before, outcomes, after = bad_inputs
    result = outcomes["profile"]
    assert result.failed, result
    assert "control_plane_profile=nosuch is not a profile of istioctl" in result.text
    assert "accepted:" in result.text and "default" in result.text and "demo" in result.text
    assert after == before


def test_bad_service_type_fails_before_anything_changes(bad_inputs):
    before, outcomes, after = bad_inputs
    result = outcomes["service type"]
    assert result.failed, result
    assert "control_plane_ingress_service_type" in result.text
    assert "Nodeport" in result.text
    assert "ClusterIP, NodePort, LoadBalancer" in result.text
    assert after == before


def test_bad_node_ports_fail_before_anything_changes(bad_inputs):
    before, outcomes, after = bad_inputs
    result = outcomes["node ports"]
    assert result.failed, result
    assert "control_plane_ingress_node_ports=" in result.text
    assert "keys must be among http, https, status" in result.text
    assert after == before


# --------------------------------------------------------------------------- converge
def test_converge_installs_the_control_plane(playbook, kube, lab):
    result = _converge(playbook)
    assert result.rc == 0, result.tail()
    assert result.failed == 0

    istiod = _istiod(kube)
    assert _available(istiod), istiod and istiod.get("status")
    assert _image_tag(istiod) == lab.versions["ISTIO_VERSION"]
    ingress = kube.get("apps/v1", "Deployment", "istio-ingressgateway", NS)
    assert _available(ingress)
    assert kube.get("apps/v1", "Deployment", "istio-egressgateway", NS) is None

    service = kube.get("v1", "Service", "istio-ingressgateway", NS)
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["externalTrafficPolicy"] == "Local"
    by_name = {p["name"]: p for p in service["spec"]["ports"]}
    assert by_name["http2"]["nodePort"] == NODE_PORTS["http"]
    assert by_name["https"]["nodePort"] == NODE_PORTS["https"]
    assert by_name["status-port"]["nodePort"] == NODE_PORTS["status"]

    injector = kube.get("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "istio-sidecar-injector")
    assert injector["webhooks"] and all(h["clientConfig"].get("caBundle") for h in injector["webhooks"])

    # facts reported by port name, URLs from the node addresses (127.0.0.1 in the lab)
    assert "nodePort http2=31080 https=31443" in result.output
    assert "http://127.0.0.1:31080/" in result.output

    # the rendered file is kept, with the lab's overlay merged into the role's own values
    with open(os.path.join(lab.output_dir, "control_plane", "istiooperator.yaml"), encoding="utf-8") as handle:
        operator = yaml.safe_load(handle)
    values = operator["spec"]["values"]
    assert values["global"]["istioNamespace"] == NS
    assert values["istiodRemote"]["injectionURL"].startswith("https://localhost:")
    assert values["base"]["validationURL"].startswith("https://localhost:")
    assert operator["spec"]["components"]["egressGateways"] == [{"name": "istio-egressgateway", "enabled": False}]


def test_second_converge_changes_nothing(playbook, kube):
    before = _snapshot(kube)
    result = _converge(playbook)
    assert result.rc == 0, result.tail()
    assert result.changed == 0, result.tail()
    assert _snapshot(kube) == before


def test_check_diff_on_converged_cluster_changes_nothing(playbook, kube):
    before = _snapshot(kube)
    result = playbook(PLAYBOOK, extra_vars=CONVERGE, check=True, diff=True)
    assert result.rc == 0, result.tail()
    assert result.changed == 0, result.tail()
    assert _snapshot(kube) == before


# --------------------------------------------------------------------------- drift
def test_drift_is_shown_by_check_and_repaired_by_converge(playbook, kube):
    services = kube.resource("v1", "Service")
    services.patch(name="istio-ingressgateway", namespace=NS, body={"spec": {"externalTrafficPolicy": "Cluster"}},
                   content_type="application/merge-patch+json")
    check = playbook(PLAYBOOK, extra_vars=CONVERGE, check=True, diff=True)
    assert check.rc == 0, check.tail()
    assert check.changed >= 1
    assert "~ Service istio-system/istio-ingressgateway" in check.output
    assert "spec.externalTrafficPolicy: Cluster -> Local" in check.output
    assert kube.get("v1", "Service", "istio-ingressgateway", NS)["spec"]["externalTrafficPolicy"] == "Cluster"

    repair = _converge(playbook)
    assert repair.rc == 0, repair.tail()
    assert repair.changed >= 1
    assert kube.get("v1", "Service", "istio-ingressgateway", NS)["spec"]["externalTrafficPolicy"] == "Local"
    again = _converge(playbook)
    assert again.changed == 0, again.tail()


def test_egress_gateway_toggle_installs_and_prunes(playbook, kube):
    on = _converge(playbook, control_plane_egress_gateway_enabled=True)
    assert on.rc == 0, on.tail()
    assert _available(kube.get("apps/v1", "Deployment", "istio-egressgateway", NS))

    check = playbook(PLAYBOOK, extra_vars=CONVERGE, check=True, diff=True)
    assert check.rc == 0 and check.changed >= 1, check.tail()
    assert "- Deployment istio-system/istio-egressgateway" in check.output
    assert kube.get("apps/v1", "Deployment", "istio-egressgateway", NS) is not None

    off = _converge(playbook)
    assert off.rc == 0, off.tail()
    assert kube.get("apps/v1", "Deployment", "istio-egressgateway", NS) is None
    assert _converge(playbook).changed == 0


# --------------------------------------------------------------------------- versions
def test_skipping_a_minor_release_is_refused(playbook, kube, lab):
    """A cluster whose istiod runs 1.29.x must not be moved to the pinned 1.31 in one step."""
    target = lab.versions["ISTIO_VERSION"]
    major, minor = target.split(".")[:2]
    old = "%s.%d.3" % (major, int(minor) - 2)
    deployments = kube.resource("apps/v1", "Deployment")
    image = _istiod(kube)["spec"]["template"]["spec"]["containers"][0]["image"]
    older = image.rsplit(":", 1)[0] + ":" + old

    def set_image(value):
        deployments.patch(name="istiod", namespace=NS, content_type="application/strategic-merge-patch+json",
                          body={"spec": {"template": {"spec": {"containers": [{"name": "discovery", "image": value}]}}}})

    set_image(older)
    try:
        _rolled_out(kube, "istiod")
        time.sleep(5)  # let istiod, restarted for the new tag by the lab, settle its webhooks
        before = _snapshot(kube)
        result = _converge(playbook)
        assert result.rc != 0, result.tail()
        assert "refusing to upgrade the control plane (revision default) from %s to %s" % (old, target) in result.output
        assert "one minor release at a time" in result.output
        assert _snapshot(kube) == before
        assert _image_tag(_istiod(kube)) == old
    finally:
        set_image(image)
        _rolled_out(kube, "istiod")
    assert _converge(playbook).changed == 0


# --------------------------------------------------------------------------- uninstall and upgrade
def test_absent_uninstalls_and_keeps_crds(playbook, kube):
    result = _converge(playbook, control_plane_state="absent")
    assert result.rc == 0, result.tail()
    assert result.changed >= 1
    assert _istiod(kube) is None
    assert kube.get("apps/v1", "Deployment", "istio-ingressgateway", NS) is None
    assert kube.get("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "istio-sidecar-injector") is None
    assert kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "virtualservices.networking.istio.io")

    again = _converge(playbook, control_plane_state="absent")
    assert again.rc == 0, again.tail()
    assert again.changed == 0, again.tail()


def test_purge_removes_shared_objects_and_keeps_crds(playbook, kube):
    # `istioctl uninstall --revision` keeps the shared base objects such as the istio-reader account
    assert kube.get("v1", "ServiceAccount", "istio-reader-service-account", NS) is not None
    check = playbook(PLAYBOOK, extra_vars=dict(CONVERGE, control_plane_state="absent", control_plane_purge=True),
                     check=True, diff=True)
    assert check.rc == 0 and check.changed >= 1, check.tail()
    assert "- ServiceAccount istio-system/istio-reader-service-account" in check.output
    assert kube.get("v1", "ServiceAccount", "istio-reader-service-account", NS) is not None

    purge = _converge(playbook, control_plane_state="absent", control_plane_purge=True)
    assert purge.rc == 0, purge.tail()
    assert purge.changed >= 1
    assert kube.get("v1", "ServiceAccount", "istio-reader-service-account", NS) is None
    assert kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "virtualservices.networking.istio.io")
    assert _converge(playbook, control_plane_state="absent", control_plane_purge=True).changed == 0


def test_in_place_upgrade_one_minor(playbook, kube, lab):
    previous = lab.versions["ISTIO_PREVIOUS_VERSION"]
    current = lab.versions["ISTIO_VERSION"]
    old = _converge(playbook, istioctl_version=previous)
    assert old.rc == 0, old.tail()
    assert _image_tag(_istiod(kube)) == previous
    assert _converge(playbook, istioctl_version=previous).changed == 0

    new = _converge(playbook, istioctl_version=current)
    assert new.rc == 0, new.tail()
    assert new.changed >= 1
    istiod = _istiod(kube)
    assert _image_tag(istiod) == current
    assert _available(istiod)
    assert _converge(playbook).changed == 0


@pytest.mark.parametrize("hub", ["gcr.io/istio-release"])
def test_retired_hub_warns_in_check_mode(playbook, hub):
    result = playbook(PLAYBOOK, extra_vars=dict(CONVERGE, control_plane_hub=hub), check=True, diff=True)
    assert result.rc == 0, result.tail()
    assert "Istio no longer publishes images there" in result.output
