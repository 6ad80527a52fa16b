"""Renderer, comparison filters and version rules of the control plane."""

import pytest
import yaml

from ansible_collections.meshops.istio.plugins.module_utils.istio import operator as iop

LAB_VALUES = {
    "istiodRemote": {"injectionURL": "https://localhost:15017/inject"},
    "base": {"validationURL": "https://localhost:15017/validate"},
}


# --------------------------------------------------------------------------- deep_merge
def test_deep_merge_keeps_both_sides_and_does_not_modify_inputs():
    base = {"global": {"istioNamespace": "istio-system", "proxy": {"cpu": "10m"}}, "keep": [1, 2]}
    overlay = {"global": {"proxy": {"memory": "40Mi"}}, "keep": [3], "new": {"a": 1}}
    merged = iop.deep_merge(base, overlay)
    assert merged == {"global": {"istioNamespace": "istio-system", "proxy": {"cpu": "10m", "memory": "40Mi"}},
                      "keep": [3], "new": {"a": 1}}
    assert base == {"global": {"istioNamespace": "istio-system", "proxy": {"cpu": "10m"}}, "keep": [1, 2]}
    assert overlay["global"] == {"proxy": {"memory": "40Mi"}}


def test_deep_merge_scalar_replaces_dict_and_dict_replaces_scalar():
    assert iop.deep_merge({"a": {"b": 1}}, {"a": 2}) == {"a": 2}
    assert iop.deep_merge({"a": 2}, {"a": {"b": 1}}) == {"a": {"b": 1}}
    assert iop.deep_merge({}, None) == {}


# --------------------------------------------------------------------------- rendering
def _render(**kwargs):
    args = {"tag": "1.31.0"}
    args.update(kwargs)
    return iop.render_istio_operator(**args)


def test_render_defaults():
    operator = _render()
    assert operator["apiVersion"] == "install.istio.io/v1alpha1"
    assert operator["kind"] == "IstioOperator"
    assert operator["metadata"] == {"name": "control-plane", "namespace": "istio-system"}
    spec = operator["spec"]
    assert spec["profile"] == "default"
    assert spec["hub"] == "docker.io/istio"
    assert spec["tag"] == "1.31.0"
    assert "revision" not in spec
    assert "meshConfig" not in spec
    assert spec["values"] == {"global": {"istioNamespace": "istio-system"}}
    ingress = spec["components"]["ingressGateways"][0]
    assert ingress["name"] == "istio-ingressgateway" and ingress["enabled"] is True
    assert ingress["k8s"]["service"] == {"type": "LoadBalancer", "externalTrafficPolicy": "Cluster"}
    assert spec["components"]["egressGateways"] == [{"name": "istio-egressgateway", "enabled": False}]


def test_render_lab_values_are_deep_merged_not_replacing_ours():
    spec = _render(values=LAB_VALUES, namespace="mesh")["spec"]
    assert spec["values"]["global"] == {"istioNamespace": "mesh"}
    assert spec["values"]["istiodRemote"] == {"injectionURL": "https://localhost:15017/inject"}
    assert spec["values"]["base"] == {"validationURL": "https://localhost:15017/validate"}


def test_render_user_values_can_override_ours():
    spec = _render(values={"global": {"istioNamespace": "other", "logging": {"level": "default:debug"}}})["spec"]
    assert spec["values"]["global"] == {"istioNamespace": "other", "logging": {"level": "default:debug"}}


def test_render_revision_and_mesh_config():
    operator = _render(revision="canary", mesh_config={"accessLogFile": "/dev/stdout"}, profile="demo")
    assert operator["metadata"]["name"] == "control-plane-canary"
    assert operator["spec"]["revision"] == "canary"
    assert operator["spec"]["profile"] == "demo"
    assert operator["spec"]["meshConfig"] == {"accessLogFile": "/dev/stdout"}


def test_render_egress_on_ingress_off():
    components = _render(ingress_gateway_enabled=False, egress_gateway_enabled=True)["spec"]["components"]
    assert components["ingressGateways"] == [{"name": "istio-ingressgateway", "enabled": False}]
    assert components["egressGateways"] == [{"name": "istio-egressgateway", "enabled": True}]


def test_render_node_ports_by_name_and_traffic_policy():
    service = _render(ingress_service_type="NodePort", ingress_node_ports={"http": 31080, "https": "31443"},
                      external_traffic_policy="Local")["spec"]["components"]["ingressGateways"][0]["k8s"]["service"]
    assert service["type"] == "NodePort"
    assert service["externalTrafficPolicy"] == "Local"
    by_name = {p["name"]: p for p in service["ports"]}
    assert set(by_name) == {"status-port", "http2", "https"}
    assert by_name["http2"] == {"name": "http2", "port": 80, "targetPort": 8080, "protocol": "TCP", "nodePort": 31080}
    assert by_name["https"]["nodePort"] == 31443 and by_name["https"]["port"] == 443
    assert "nodePort" not in by_name["status-port"]


def test_render_cluster_ip_has_no_traffic_policy():
    service = _render(ingress_service_type="ClusterIP")["spec"]["components"]["ingressGateways"][0]["k8s"]["service"]
    assert service == {"type": "ClusterIP"}


@pytest.mark.parametrize("kwargs, text", [
    ({"ingress_service_type": "Nodeport"}, "control_plane_ingress_service_type='Nodeport' is not one of ClusterIP, NodePort, LoadBalancer"),
    ({"external_traffic_policy": "local"}, "control_plane_external_traffic_policy='local'"),
    ({"revision": "1.31.0"}, "control_plane_revision='1.31.0' is not a valid revision name"),
    ({"revision": "Canary"}, "control_plane_revision='Canary'"),
    ({"tag": ""}, "control_plane_tag must not be empty"),
    ({"profile": ""}, "control_plane_profile must not be empty"),
    ({"values": ["a"]}, "control_plane_values must be a dict"),
    ({"ingress_service_type": "ClusterIP", "ingress_node_ports": {"http": 31080}}, "needs control_plane_ingress_service_type NodePort"),
    ({"ingress_service_type": "NodePort", "ingress_node_ports": {"htp": 31080}}, "unknown key(s) htp; accepted keys: http, https, status"),
    ({"ingress_service_type": "NodePort", "ingress_node_ports": {"http": 80}},
     "control_plane_ingress_node_ports.http=80 is outside the NodePort range 30000-32767"),
    ({"ingress_service_type": "NodePort", "ingress_node_ports": {"http": "x"}}, "control_plane_ingress_node_ports.http='x' is not a port number"),
    ({"ingress_service_type": "NodePort", "ingress_node_ports": {"http": 31000, "https": 31000}}, "both use 31000"),
])
def test_render_rejects_bad_input_naming_the_variable(kwargs, text):
    with pytest.raises(iop.OperatorError) as err:
        _render(**kwargs)
    assert text in str(err.value)


def test_render_ingress_settings_ignored_when_ingress_disabled():
    # a disabled gateway has no Service, so its settings are not validated or rendered
    operator = _render(ingress_gateway_enabled=False, ingress_service_type="Nodeport")
    assert "k8s" not in operator["spec"]["components"]["ingressGateways"][0]


def test_rendered_operator_round_trips_through_yaml():
    operator = _render(values=LAB_VALUES, ingress_service_type="NodePort", ingress_node_ports={"status": 31021})
    assert yaml.safe_load(yaml.safe_dump(operator)) == operator


def test_hub_warning():
    assert "retired" in iop.hub_warning("gcr.io/istio-release")
    assert "gcr.io/istio-release" in iop.hub_warning("gcr.io/istio-release/")
    assert iop.hub_warning("docker.io/istio") is None
    assert iop.hub_warning("registry.example/istio") is None


def test_names_per_revision():
    assert iop.operator_file_name("") == "istiooperator.yaml"
    assert iop.operator_file_name("canary") == "istiooperator-canary.yaml"
    assert iop.istiod_name("") == "istiod" and iop.istiod_name("1-31-0") == "istiod-1-31-0"
    assert iop.injector_webhook_name("") == "istio-sidecar-injector"
    assert iop.injector_webhook_name("canary") == "istio-sidecar-injector-canary"
    assert iop.revision_label("") == "default" and iop.revision_label("canary") == "canary"


# --------------------------------------------------------------------------- comparison
def _webhook(kind, ca="", policy="Ignore"):
    hook = {"name": "rev.validation.istio.io", "clientConfig": {"url": "https://localhost:15017/validate"},
            "sideEffects": "None"}
    if ca:
        hook["clientConfig"]["caBundle"] = ca
    if kind == "ValidatingWebhookConfiguration":
        hook["failurePolicy"] = policy
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": kind,
            "metadata": {"name": "istio-validator-istio-system", "resourceVersion": "12", "uid": "u1",
                         "generation": 3, "creationTimestamp": "2026-01-01T00:00:00Z",
                         "managedFields": [{"manager": "pilot-discovery"}]},
            "webhooks": [hook]}


def test_compare_ignores_ca_bundle_failure_policy_and_bookkeeping():
    live = _webhook("ValidatingWebhookConfiguration", ca="LS0tLS1CRUdJTg==", policy="Fail")
    planned = _webhook("ValidatingWebhookConfiguration", ca="", policy="Ignore")
    planned["metadata"].update({"resourceVersion": "13", "generation": 4, "managedFields": []})
    assert iop.compare(live, planned) == []


def test_compare_keeps_failure_policy_of_mutating_webhooks():
    live = _webhook("MutatingWebhookConfiguration", ca="abc")
    live["webhooks"][0]["failurePolicy"] = "Fail"
    planned = _webhook("MutatingWebhookConfiguration")
    planned["webhooks"][0]["failurePolicy"] = "Ignore"
    assert iop.compare(live, planned) == [("webhooks[0].failurePolicy", "Fail", "Ignore")]


def test_compare_reports_real_changes_with_paths():
    live = {"kind": "Service", "metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
            "spec": {"type": "LoadBalancer", "ports": [{"name": "http2", "nodePort": 30001}]},
            "status": {"loadBalancer": {}}}
    planned = {"kind": "Service", "metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
               "spec": {"type": "NodePort", "ports": [{"name": "http2", "nodePort": 31080}]}}
    assert iop.compare(live, planned) == [("spec.ports[0].nodePort", 30001, 31080), ("spec.type", "LoadBalancer", "NodePort")]


def test_compare_list_length_change_is_one_difference():
    assert iop.compare({"kind": "X", "a": [1]}, {"kind": "X", "a": [1, 2]}) == [("a", [1], [1, 2])]


def test_compare_added_and_removed_keys():
    changes = iop.compare({"kind": "X", "spec": {"old": 1}}, {"kind": "X", "spec": {"new": 2}})
    assert changes == [("spec.new", None, 2), ("spec.old", 1, None)]


def test_normalize_does_not_modify_input():
    live = _webhook("ValidatingWebhookConfiguration", ca="abc", policy="Fail")
    iop.normalize(live)
    assert live["webhooks"][0]["clientConfig"]["caBundle"] == "abc"
    assert live["metadata"]["uid"] == "u1"


def test_split_manifest_flattens_lists_and_drops_empty_documents():
    docs = list(yaml.safe_load_all("---\n\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: a}\n"
                                   "---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n"))
    assert [o["metadata"]["name"] for o in iop.split_manifest(docs)] == ["a", "b"]
    with pytest.raises(iop.OperatorError):
        iop.split_manifest([{"kind": "ConfigMap", "metadata": {}}])


def test_extra_objects_are_those_not_in_the_manifest():
    def deploy(name):
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "istio-system"}}
    live = [deploy("istiod"), deploy("istio-egressgateway")]
    assert iop.extra_objects(live, [deploy("istiod")]) == [deploy("istio-egressgateway")]
    assert iop.extra_objects(live, live) == []


def test_summarize():
    lines = iop.summarize([
        {"object": "Deployment istio-system/istiod", "action": "create"},
        {"object": "Deployment istio-system/istio-egressgateway", "action": "prune"},
        {"object": "Service istio-system/istio-ingressgateway", "action": "update",
         "changes": [("spec.type", "LoadBalancer", "NodePort")] + [("p%d" % i, i, i + 1) for i in range(6)]},
    ])
    assert lines[0] == "+ Deployment istio-system/istiod"
    assert lines[1] == "- Deployment istio-system/istio-egressgateway"
    assert lines[2] == "~ Service istio-system/istio-ingressgateway"
    assert lines[3] == "    spec.type: LoadBalancer -> NodePort"
    assert lines[-1] == "    ... 2 more"


# --------------------------------------------------------------------------- versions
@pytest.mark.parametrize("text, want", [
    ("1.31.0", "1.31.0"), ("v1.30.4", "1.30.4"), ("1.31.0-distroless", "1.31.0"), ("1.31.0-rc.1", "1.31.0-rc.1"),
    ("latest", None), ("", None), (None, None), ("1.31", None),
])
def test_release_of(text, want):
    assert iop.release_of(text) == want


def test_istiod_version_from_image_then_operator_label():
    # the chart's own version label (here 1.0.0) is not Istio's version and is ignored
    by_image = {"metadata": {"labels": {"app.kubernetes.io/version": "1.0.0"}},
                "spec": {"template": {"spec": {"containers": [{"name": "discovery", "image": "docker.io/istio/pilot:1.30.4"}]}}}}
    assert iop.istiod_version(by_image) == "1.30.4"
    distroless = {"metadata": {}, "spec": {"template": {"spec": {"containers": [
        {"name": "discovery", "image": "localhost:5000/istio/pilot:1.30.4-distroless"}]}}}}
    assert iop.istiod_version(distroless) == "1.30.4"
    custom = {"metadata": {"labels": {"operator.istio.io/version": "1.29.1"}},
              "spec": {"template": {"spec": {"containers": [{"name": "discovery", "image": "registry:5000/pilot:custom"}]}}}}
    assert iop.istiod_version(custom) == "1.29.1"
    no_tag = {"metadata": {}, "spec": {"template": {"spec": {"containers": [{"name": "discovery", "image": "localhost:5000/pilot"}]}}}}
    assert iop.istiod_version(no_tag) is None


@pytest.mark.parametrize("live, target, action", [
    (None, "1.31.0", "install"),
    ("1.31.0", "1.31.0", "none"),
    ("1.31.0", "1.31.2", "patch"),
    ("1.30.4", "1.31.0", "upgrade"),
    ("1.31.0", "1.30.4", "downgrade"),
    ("1.29.9", "1.31.0", "refuse"),
    ("1.31.0", "1.29.0", "refuse"),
    ("1.31.0", "2.0.0", "refuse"),
    ("unknown (image pilot:custom)", "1.31.0", "unknown"),
])
def test_upgrade_decision(live, target, action):
    assert iop.upgrade_decision(live, target)["action"] == action


def test_skip_a_minor_is_refused_naming_both_versions():
    decision = iop.upgrade_decision("1.29.3", "1.31.0", "")
    assert decision["action"] == "refuse"
    assert "from 1.29.3 to 1.31.0" in decision["message"]
    assert "one minor release at a time" in decision["message"]
    assert "go through 1.30.x first" in decision["message"]
    assert "revision default" in decision["message"]


def test_bad_target_version_is_an_error():
    with pytest.raises(iop.OperatorError):
        iop.upgrade_decision("1.30.4", "1.31")


def test_compare_ignores_the_labels_istioctl_adds():
    live = {"kind": "ServiceAccount", "metadata": {"name": "istiod", "labels": {
        "app": "istiod", "install.operator.istio.io/owning-resource": "control-plane",
        "install.operator.istio.io/owning-resource-namespace": "istio-system", "operator.istio.io/component": "Pilot",
        "operator.istio.io/managed": "Reconcile", "operator.istio.io/version": "1.31.0", "istio.io/rev": "default"}}}
    planned = {"kind": "ServiceAccount", "metadata": {"name": "istiod", "labels": {"app": "istiod"}}}
    assert iop.compare(live, planned) == []
    planned["metadata"]["labels"]["app"] = "other"
    assert iop.compare(live, planned) == [("metadata.labels.app", "istiod", "other")]


def _injector(selector):
    return {"kind": "MutatingWebhookConfiguration", "metadata": {"name": "istio-sidecar-injector"},
            "webhooks": [{"name": "namespace.sidecar-injector.istio.io", "namespaceSelector": selector,
                          "objectSelector": selector, "clientConfig": {"url": "https://localhost/inject"}}]}


def test_compare_ignores_selectors_of_an_injector_istioctl_deactivated():
    wanted = {"matchExpressions": [{"key": "istio-injection", "operator": "In", "values": ["enabled"]}]}
    live = _injector(dict(iop.DEACTIVATED_SELECTOR))
    assert iop.compare(live, _injector(wanted)) == []
    # an active injector's selectors are compared
    other = {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]}
    assert iop.compare(_injector(other), _injector(wanted)) != []
