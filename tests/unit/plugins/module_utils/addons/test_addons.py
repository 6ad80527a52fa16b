# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/addons/plan.py."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import configparser
import copy
import os
import textwrap

import pytest
import yaml

from ansible_collections.meshops.istio.plugins.module_utils.addons import plan as addons
from ansible_collections.meshops.istio.plugins.module_utils.addons.plan import AddonsError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))))
SAMPLES = os.path.join(ROOT, "lab", "fixtures", "samples")

# Small manifests in the shape of the release samples, written for these tests.
KIALI = textwrap.dedent("""\
    apiVersion: apiextensions.k8s.io/v1
    kind: CustomResourceDefinition
    metadata:
      name: dashboards.example.kiali.io
    spec:
      group: example.kiali.io
      scope: Namespaced
      names: {kind: Dashboard, plural: dashboards}
      versions: [{name: v1, served: true, storage: true}]
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: kiali, namespace: istio-system}
    data:
      config.yaml: |
        auth:
          strategy: anonymous
        server:
          port: 20001
          web_root: /kiali
    ---
    apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRole
    metadata: {name: kiali}
    rules:
      - apiGroups: [networking.istio.io]
        resources: ["*"]
        verbs: [get, list, watch, create, delete, patch]
      - apiGroups: [""]
        resources: [pods/portforward]
        verbs: [create, post]
      - apiGroups: [authentication.k8s.io]
        resources: [tokenreviews]
        verbs: [create]
      - apiGroups: [apps]
        resources: [deployments]
        verbs: [patch]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: kiali, namespace: istio-system}
    spec:
      ports:
        - {name: http, port: 20001, targetPort: 20001}
        - {name: http-metrics, port: 9090, targetPort: 9090}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: kiali, namespace: istio-system}
    spec:
      template:
        spec:
          containers: [{name: kiali, image: kiali}]
          volumes:
            - name: config
              configMap: {name: kiali}
    ---
    apiVersion: example.kiali.io/v1
    kind: Dashboard
    metadata: {name: envoy, namespace: istio-system}
    spec: {title: Envoy}
    """)

GRAFANA_INI = textwrap.dedent("""\
    [analytics]
    check_for_updates = false

    [auth.anonymous]
    enabled = true
    org_role = Admin

    [log]
    mode = console
    """)

GRAFANA = textwrap.dedent("""\
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: grafana, namespace: istio-system}
    data:
      grafana.ini: |
    %s
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: grafana}
    spec:
      ports: [{name: service, port: 3000}]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: grafana, namespace: istio-system}
    spec:
      template:
        spec:
          containers:
            - name: grafana
              image: grafana
              envFrom: [{configMapRef: {name: grafana}}]
    """) % textwrap.indent(GRAFANA_INI, "    ")

PROMETHEUS = textwrap.dedent("""\
    apiVersion: v1
    kind: Service
    metadata: {name: prometheus, namespace: istio-system}
    spec:
      ports: [{name: http, port: 9090}]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: prometheus, namespace: istio-system}
    spec:
      template:
        spec:
          containers: [{name: prometheus, image: prom}]
    """)

JAEGER = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: jaeger, namespace: istio-system}
    spec:
      template:
        spec:
          containers:
            - name: jaeger
              image: jaeger
              env: [{name: QUERY_BASE_PATH, value: /jaeger}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: tracing, namespace: istio-system}
    spec:
      ports:
        - {name: http-query, port: 80, targetPort: 16686}
        - {name: grpc-query, port: 16685}
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: zipkin, namespace: istio-system}
    spec:
      ports: [{name: http-query, port: 9411}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: jaeger-collector, namespace: istio-system}
    spec:
      ports: [{name: http-zipkin, port: 9411}]
    """)

ZIPKIN = textwrap.dedent("""\
    apiVersion: v1
    kind: Service
    metadata: {name: zipkin, namespace: istio-system}
    spec:
      ports: [{name: http-query, port: 9411}]
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: zipkin, namespace: istio-system}
    spec:
      template:
        spec:
          containers: [{name: zipkin, image: zipkin}]
    """)

MANIFESTS = {"kiali": KIALI, "grafana": GRAFANA, "prometheus": PROMETHEUS, "jaeger": JAEGER, "zipkin": ZIPKIN}
DEFAULT = ["kiali", "prometheus", "grafana", "jaeger"]


def service(namespace, name, *node_ports):
    return {"metadata": {"namespace": namespace, "name": name},
            "spec": {"type": "NodePort", "ports": [{"port": 80 + i, "nodePort": p} for i, p in enumerate(node_ports)]}}


def find(docs, kind, name):
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, "%s %s: %d matches" % (kind, name, len(matches))
    return matches[0]


def plan(**kwargs):
    args = {"manifests": MANIFESTS, "enabled": DEFAULT}
    args.update(kwargs)
    return addons.plan(**args)


# --------------------------------------------------------------------------- documents

def test_load_documents_drops_empty_documents_and_flattens_lists():
    text = "---\n# only a comment\n---\napiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n" \
           "---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n"
    docs = addons.load_documents(text)
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [("ConfigMap", "a"), ("Service", "b")]


def test_load_documents_rejects_non_objects_and_bad_yaml():
    with pytest.raises(AddonsError, match="not a Kubernetes object"):
        addons.load_documents("just: a mapping\n", "addons/x.yaml")
    with pytest.raises(AddonsError, match="addons/x.yaml is not valid YAML"):
        addons.load_documents("a: [unclosed\n", "addons/x.yaml")


def test_split_documents_puts_custom_resources_after_their_crd_and_drops_namespaces():
    docs = addons.load_documents(KIALI) + [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}}]
    crds, custom, others = addons.split_documents(docs)
    assert [d["metadata"]["name"] for d in crds] == ["dashboards.example.kiali.io"]
    assert [d["kind"] for d in custom] == ["Dashboard"]
    assert "Namespace" not in [d["kind"] for d in others]
    assert sorted(d["kind"] for d in others) == ["ClusterRole", "ConfigMap", "Deployment", "Service"]


def test_set_default_namespace_only_touches_namespaced_objects_without_one():
    docs = addons.load_documents(GRAFANA + "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: g}\n")
    addons.set_default_namespace(docs, "mesh")
    assert find(docs, "Service", "grafana")["metadata"]["namespace"] == "mesh"
    assert find(docs, "ConfigMap", "grafana")["metadata"]["namespace"] == "istio-system"
    assert "namespace" not in find(docs, "ClusterRole", "g")["metadata"]


# --------------------------------------------------------------------------- validation

def test_unknown_addon_is_named_with_the_accepted_names():
    errors = addons.validate_selection(["kiali", "kibana"])
    assert errors == ["addons_enabled: unknown addon 'kibana'; accepted addons: kiali, prometheus, grafana, jaeger, zipkin"]


def test_repeated_addon_is_an_error():
    assert addons.validate_selection(["kiali", "kiali"]) == ["addons_enabled: addon 'kiali' is listed twice"]


@pytest.mark.parametrize("value,expected", [("30000-32767", (30000, 32767)), (" 20000 - 20100 ", (20000, 20100))])
def test_parse_node_port_range(value, expected):
    assert addons.parse_node_port_range(value) == expected


@pytest.mark.parametrize("value", ["30000", "32767-30000", "0-10", "a-b", "30000-70000"])
def test_parse_node_port_range_rejects(value):
    with pytest.raises(AddonsError, match="addons_node_port_range"):
        addons.parse_node_port_range(value)


def test_node_port_outside_the_range_names_addon_value_and_range():
    errors = addons.validate_exposure({"kiali": {"type": "NodePort", "node_port": 40000}}, DEFAULT, "30000-32767", [])
    assert errors == ["addons_exposure.kiali.node_port=40000 is outside the cluster's nodePort range 30000-32767 "
                      "(addons_node_port_range)"]


def test_node_port_used_by_another_service_names_that_service():
    services = [service("istio-system", "istio-ingressgateway", 31080, 32001)]
    errors = addons.validate_exposure({"grafana": {"type": "NodePort", "node_port": 32001}}, DEFAULT, "30000-32767",
                                      services)
    assert errors == ["addons_exposure.grafana.node_port=32001 is already used by Service istio-system/istio-ingressgateway"]


def test_node_port_held_by_the_addons_own_service_is_not_a_conflict():
    services = [service("istio-system", "kiali", 32001)]
    assert addons.validate_exposure({"kiali": {"type": "NodePort", "node_port": 32001}}, DEFAULT, "30000-32767",
                                    services) == []


def test_two_addons_asking_for_one_node_port():
    errors = addons.validate_exposure({"grafana": {"type": "NodePort", "node_port": 32002},
                                       "kiali": {"type": "NodePort", "node_port": 32002}}, DEFAULT, "30000-32767", [])
    assert errors == ["addons_exposure.kiali.node_port=32002 is also asked for by addons_exposure.grafana"]


@pytest.mark.parametrize("entry,message", [
    ({"type": "nodeport"}, "addons_exposure.kiali.type='nodeport' is not a Service type this role sets; "
                           "accepted: ClusterIP, NodePort, LoadBalancer"),
    ({"type": "NodePort", "node_port": "abc"}, "addons_exposure.kiali.node_port='abc' is not a port number"),
    ({"type": "ClusterIP", "node_port": 32001}, "addons_exposure.kiali.node_port=32001 needs type NodePort or "
                                                "LoadBalancer, but addons_exposure.kiali.type is ClusterIP"),
    ({"type": "NodePort", "port": 1}, "addons_exposure.kiali: unknown key 'port'; accepted keys: type, node_port"),
    ("NodePort", "addons_exposure.kiali must be a mapping with keys type, node_port, got 'NodePort'"),
])
def test_bad_exposure_entries(entry, message):
    assert addons.validate_exposure({"kiali": entry}, DEFAULT, "30000-32767", []) == [message]


def test_unknown_addon_in_exposure():
    errors = addons.validate_exposure({"kibana": {"type": "NodePort"}}, DEFAULT, "30000-32767", [])
    assert errors == ["addons_exposure: unknown addon 'kibana'; accepted addons: kiali, prometheus, grafana, jaeger, zipkin"]


def test_exposure_for_an_addon_not_enabled_is_checked_but_not_against_the_cluster():
    services = [service("default", "other", 32001)]
    assert addons.validate_exposure({"zipkin": {"type": "NodePort", "node_port": 32001}}, DEFAULT, "30000-32767",
                                    services) == []
    assert addons.validate_exposure({"zipkin": {"type": "NodePort", "node_port": 1}}, DEFAULT, "30000-32767", [])


def test_jaeger_and_zipkin_together_are_refused():
    result = plan(enabled=["jaeger", "zipkin"])
    assert result["errors"] == ["addons_enabled: jaeger and zipkin both define Service istio-system/zipkin; "
                                "enable only one of them"]
    assert result["objects"] == [] and result["crds"] == []


def test_plan_with_errors_applies_nothing_and_warns_about_nothing():
    result = plan(exposure={"kiali": {"type": "NodePort", "node_port": 99999}}, kiali_auth_strategy="anonymous")
    assert len(result["errors"]) == 1 and "addons_exposure.kiali.node_port=99999" in result["errors"][0]
    assert result["objects"] == [] and result["crds"] == [] and result["custom_resources"] == []
    assert result["warnings"] == []


def test_plan_rejects_unknown_addons_before_reading_anything():
    result = plan(enabled=["kiali", "kibana"], manifests={})
    assert result["errors"] == ["addons_enabled: unknown addon 'kibana'; accepted addons: "
                                "kiali, prometheus, grafana, jaeger, zipkin"]


def test_plan_reports_a_missing_manifest():
    result = plan(enabled=["kiali"], manifests={})
    assert result["errors"] == ["addons_enabled: no manifest for kiali (addons/kiali.yaml)"]


# --------------------------------------------------------------------------- exposure

def test_expose_service_sets_type_and_node_port_on_the_ui_port_only():
    doc = find(addons.load_documents(KIALI), "Service", "kiali")
    addons.expose_service(doc, "NodePort", 32001, 20001)
    assert doc["spec"]["type"] == "NodePort"
    assert doc["spec"]["ports"][0]["nodePort"] == 32001
    assert "nodePort" not in doc["spec"]["ports"][1]


def test_expose_service_cluster_ip_drops_the_node_port():
    doc = {"kind": "Service", "metadata": {"name": "x"},
           "spec": {"type": "NodePort", "ports": [{"port": 3000, "nodePort": 30300}]}}
    addons.expose_service(doc, "ClusterIP", None, 3000)
    assert doc["spec"] == {"type": "ClusterIP", "ports": [{"port": 3000}]}


def test_expose_service_without_the_ui_port_fails():
    with pytest.raises(AddonsError, match="Service x has no port 20001"):
        addons.expose_service({"kind": "Service", "metadata": {"name": "x"}, "spec": {"ports": [{"port": 1}]}},
                              "NodePort", None, 20001)


def test_jaeger_exposure_goes_to_the_tracing_service_not_the_collector():
    result = plan(enabled=["jaeger"], exposure={"jaeger": {"type": "NodePort", "node_port": 32003}})
    tracing = find(result["objects"], "Service", "tracing")
    assert tracing["spec"]["type"] == "NodePort"
    assert tracing["spec"]["ports"][0] == {"name": "http-query", "port": 80, "targetPort": 16686, "nodePort": 32003}
    for name in ("jaeger-collector", "zipkin"):
        assert find(result["objects"], "Service", name)["spec"].get("type") is None
    assert result["addons"]["jaeger"]["service"] == "tracing"
    assert result["addons"]["jaeger"]["path"] == "/jaeger"


def test_addons_not_named_in_exposure_are_cluster_ip():
    result = plan(exposure={"kiali": {"type": "LoadBalancer"}})
    assert find(result["objects"], "Service", "kiali")["spec"]["type"] == "LoadBalancer"
    for name in ("grafana", "prometheus", "tracing"):
        assert find(result["objects"], "Service", name)["spec"]["type"] == "ClusterIP"


# --------------------------------------------------------------------------- Kiali

def kiali_config(result):
    return yaml.safe_load(find(result["objects"], "ConfigMap", "kiali")["data"]["config.yaml"])


def test_exposed_kiali_requires_a_token_by_default():
    result = plan(exposure={"kiali": {"type": "NodePort", "node_port": 32001}})
    config = kiali_config(result)
    assert config["auth"]["strategy"] == "token"
    assert "view_only_mode" not in config.get("deployment", {})
    assert config["server"] == {"port": 20001, "web_root": "/kiali"}
    assert result["addons"]["kiali"]["notes"] == ["log in with a ServiceAccount token, e.g. kubectl -n istio-system create token kiali"]
    assert not [w for w in result["warnings"] if "Kiali" in w]


def test_kiali_inside_the_cluster_keeps_the_sample_text():
    result = plan()
    original = addons.load_documents(KIALI)[1]["data"]["config.yaml"]
    assert find(result["objects"], "ConfigMap", "kiali")["data"]["config.yaml"] == original


def test_anonymous_kiali_when_exposed_is_view_only_with_a_read_only_role_and_a_warning():
    result = plan(exposure={"kiali": {"type": "NodePort"}}, kiali_auth_strategy="anonymous")
    config = kiali_config(result)
    assert config["auth"]["strategy"] == "anonymous"
    assert config["deployment"]["view_only_mode"] is True
    rules = find(result["objects"], "ClusterRole", "kiali")["rules"]
    assert rules[0]["verbs"] == ["get", "list", "watch"]
    assert {"create", "post"} <= set(rules[1]["verbs"])  # port-forward kept
    assert rules[2]["verbs"] == ["create"]  # token reviews kept
    assert len(rules) == 3  # the patch-only rule is gone
    warnings = [w for w in result["warnings"] if "Kiali" in w]
    assert len(warnings) == 1 and "addons_kiali_auth_strategy=anonymous" in warnings[0] and "view_only_mode" in warnings[0]


def test_explicit_strategy_is_used_as_asked():
    result = plan(exposure={"kiali": {"type": "LoadBalancer"}}, kiali_auth_strategy="openid")
    assert kiali_config(result)["auth"]["strategy"] == "openid"


def test_read_only_rules_turns_a_wildcard_into_read_verbs():
    rules = addons.read_only_rules([{"apiGroups": ["x"], "resources": ["y"], "verbs": ["*"]}])
    assert rules == [{"apiGroups": ["x"], "resources": ["y"], "verbs": ["get", "list", "watch"]}]


def test_patch_kiali_config_adds_missing_sections():
    text = addons.patch_kiali_config("server:\n  port: 20001\n", "anonymous", True)
    assert yaml.safe_load(text) == {"server": {"port": 20001}, "auth": {"strategy": "anonymous"},
                                    "deployment": {"view_only_mode": True}}


def test_patch_kiali_config_is_stable():
    once = addons.patch_kiali_config("auth:\n  strategy: anonymous\n", "token", False)
    assert addons.patch_kiali_config(once, "token", False) == once


# --------------------------------------------------------------------------- Grafana

def grafana_ini(result):
    return find(result["objects"], "ConfigMap", "grafana")["data"]["grafana.ini"]


def test_grafana_anonymous_role_becomes_viewer_with_a_warning():
    result = plan()
    parser = configparser.ConfigParser()
    parser.read_string(grafana_ini(result))
    assert parser["auth.anonymous"]["org_role"] == "Viewer"
    assert parser["auth.anonymous"]["enabled"] == "true"
    assert parser["log"]["mode"] == "console"
    warnings = [w for w in result["warnings"] if "Grafana" in w]
    assert len(warnings) == 1 and "role Viewer" in warnings[0]


def test_grafana_admin_only_when_asked_and_then_warned_loudly():
    result = plan(grafana_anonymous_role="Admin", exposure={"grafana": {"type": "NodePort"}})
    assert "org_role = Admin" in grafana_ini(result)
    warnings = [w for w in result["warnings"] if "Grafana" in w]
    assert len(warnings) == 1
    assert "as Admin (addons_grafana_anonymous_role=Admin)" in warnings[0] and "exposed as NodePort" in warnings[0]


def test_grafana_without_anonymous_access_is_left_alone():
    text = "[auth.anonymous]\nenabled = false\norg_role = Admin\n"
    assert addons.grafana_anonymous(text, "Viewer", "NodePort") == (text, [])


def test_set_ini_option_rewrites_in_place_and_keeps_everything_else():
    out = addons.set_ini_option(GRAFANA_INI, "auth.anonymous", "org_role", "Viewer")
    assert out == GRAFANA_INI.replace("org_role = Admin", "org_role = Viewer")


def test_set_ini_option_adds_a_missing_key_at_the_end_of_its_section():
    text = "[a]\nx = 1\n\n[b]\ny = 2\n"
    assert addons.set_ini_option(text, "a", "z", "3") == "[a]\nx = 1\nz = 3\n\n[b]\ny = 2\n"


def test_set_ini_option_appends_a_missing_section():
    assert addons.set_ini_option("[a]\nx = 1\n", "b", "y", "2") == "[a]\nx = 1\n\n[b]\ny = 2\n"


def test_get_ini_option_reads_only_its_section():
    assert addons.get_ini_option("[a]\nenabled = false\n[b]\nenabled = true\n", "b", "enabled") == "true"
    assert addons.get_ini_option("[a]\nx = 1\n", "b", "x") is None


# --------------------------------------------------------------------------- labels, checksums

def test_every_object_is_labelled_with_its_addon():
    result = plan()
    for doc in result["crds"] + result["objects"] + result["custom_resources"]:
        assert doc["metadata"]["labels"][addons.ADDON_LABEL] in DEFAULT, addons.describe(doc)
    assert find(result["objects"], "Deployment", "grafana")["metadata"]["labels"] == {addons.ADDON_LABEL: "grafana"}


def test_ui_service_is_annotated_for_the_access_summary():
    result = plan(exposure={"kiali": {"type": "NodePort"}})
    annotations = find(result["objects"], "Service", "kiali")["metadata"]["annotations"]
    assert annotations[addons.UI_PORT_ANNOTATION] == "20001"
    assert annotations[addons.UI_PATH_ANNOTATION] == "/kiali"
    assert annotations[addons.DASHBOARD_ANNOTATION] == "kiali"
    assert "token" in annotations[addons.NOTE_ANNOTATION]


def test_config_change_changes_the_pod_template_checksum():
    viewer = plan()
    admin = plan(grafana_anonymous_role="Admin")
    key = addons.CHECKSUM_ANNOTATION

    def checksum(result, name):
        return find(result["objects"], "Deployment", name)["spec"]["template"]["metadata"]["annotations"][key]

    assert checksum(viewer, "grafana") != checksum(admin, "grafana")  # read through envFrom
    assert checksum(viewer, "kiali") == checksum(admin, "kiali")  # read through a volume
    assert checksum(viewer, "kiali") != checksum(plan(exposure={"kiali": {"type": "NodePort"}}), "kiali")
    assert key not in (find(viewer["objects"], "Deployment", "prometheus")["spec"]["template"].get("metadata") or {}).get(
        "annotations", {})


def test_plan_is_deterministic_and_does_not_touch_its_input():
    manifests = copy.deepcopy(MANIFESTS)
    first = plan(manifests=manifests, exposure={"kiali": {"type": "NodePort", "node_port": 32001}})
    second = plan(manifests=manifests, exposure={"kiali": {"type": "NodePort", "node_port": 32001}})
    assert first == second
    assert manifests == MANIFESTS


def test_plan_outputs_for_the_role():
    result = plan()
    assert result["errors"] == []
    assert [d["kind"] for d in result["crds"]] == ["CustomResourceDefinition"]
    assert [d["metadata"]["name"] for d in result["custom_resources"]] == ["envoy"]
    assert result["workloads"] == ["Deployment istio-system/kiali", "Deployment istio-system/prometheus",
                                   "Deployment istio-system/grafana", "Deployment istio-system/jaeger"]
    assert result["namespaces"] == ["istio-system"]
    assert {"apiVersion": "example.kiali.io/v1", "kind": "Dashboard"} in result["kinds"]
    assert result["kinds"][-1] == {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition"}


def test_absent_skips_exposure_checks_and_warnings():
    services = [service("default", "other", 32001)]
    result = plan(state="absent", services=services, exposure={"kiali": {"type": "NodePort", "node_port": 32001}})
    assert result["errors"] == [] and result["warnings"] == []
    assert result["kinds"]


# --------------------------------------------------------------------------- removal, metrics

def test_label_selector_and_removal_order():
    assert addons.label_selector(["kiali", "grafana"]) == "meshops.istio/addon in (grafana,kiali)"
    objs = [{"kind": "CustomResourceDefinition", "metadata": {"name": "a"}},
            {"kind": "Service", "metadata": {"name": "s", "namespace": "n"}},
            {"kind": "Dashboard", "metadata": {"name": "d", "namespace": "n"}}]
    assert [o["kind"] for o in addons.removal_order(objs)] == ["Dashboard", "Service", "CustomResourceDefinition"]


def test_prometheus_scalar():
    vector = {"status": "success", "data": {"resultType": "vector",
                                            "result": [{"metric": {}, "value": [1, "12"]}, {"metric": {}, "value": [1, "3.5"]}]}}
    assert addons.prometheus_scalar(vector) == 15.5
    assert addons.prometheus_scalar({"status": "success", "data": {"resultType": "vector", "result": []}}) == 0.0
    with pytest.raises(AddonsError, match="Prometheus query failed: bad_data"):
        addons.prometheus_scalar({"status": "error", "error": "bad_data"})


# --------------------------------------------------------------------------- the lab's samples

def _fixture_manifests():
    manifests = {}
    for name, entry in addons.CATALOGUE.items():
        path = os.path.join(SAMPLES, entry["manifest"])
        if not os.path.exists(path):
            pytest.skip("lab fixtures not present")
        with open(path, encoding="utf-8") as handle:
            manifests[name] = handle.read()
    return manifests


def test_release_samples_render_safely():
    result = addons.plan(_fixture_manifests(), DEFAULT, {"kiali": {"type": "NodePort", "node_port": 32001}})
    assert result["errors"] == []
    assert [d["metadata"]["name"] for d in result["crds"]] == ["monitoringdashboards.monitoring.kiali.io"]
    assert sorted(d["metadata"]["name"] for d in result["custom_resources"]) == ["envoy", "go"]
    assert kiali_config(result)["auth"]["strategy"] == "token"
    assert "org_role = Viewer" in grafana_ini(result)
    assert {a: v["path"] for a, v in result["addons"].items()} == {
        "kiali": "/kiali", "prometheus": "/", "grafana": "/", "jaeger": "/jaeger"}
