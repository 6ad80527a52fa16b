"""Integration tests of the addons and access_summary roles against the lab.

The tests run in file order and share one lab: bad input first (nothing may be applied), then
the install, idempotence, repair of a hand-edited Service, check mode, configuration changes,
the access summary, the verify checks and finally removal.

    MESHOPS_LAB_NAME=addons .venv/bin/pytest tests/integration/test_addons_role.py
"""

import configparser
import json
import os
import re

import pytest
import yaml

LABEL = "meshops.istio/addon"
# Fixed nodePorts come from the low end of the range: Kubernetes hands out automatic nodePorts
# from the upper part first, so these cannot collide with the ingress gateway's.
NS = "istio-system"
EXPOSURE = {
    "kiali": {"type": "NodePort", "node_port": 30021},
    "grafana": {"type": "NodePort", "node_port": 30022},
    "jaeger": {"type": "NodePort", "node_port": 30023},
}
DEFAULT_ADDONS = ["kiali", "prometheus", "grafana", "jaeger"]
# Kinds the addon samples contain; used to prove nothing labelled is left behind.
KINDS = [("v1", "Service"), ("v1", "ConfigMap"), ("v1", "ServiceAccount"), ("apps/v1", "Deployment"),
         ("rbac.authorization.k8s.io/v1", "ClusterRole"), ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
         ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
         ("apiextensions.k8s.io/v1", "CustomResourceDefinition")]
HOLDER = {"apiVersion": "v1", "kind": "Service",
          "metadata": {"name": "addons-test-port-holder", "namespace": "default"},
          "spec": {"type": "NodePort", "selector": {"app": "nothing"},
                   "ports": [{"name": "http", "port": 8080, "nodePort": 30025}]}}


def addons_run(playbook, check=False, diff=False, **extra):
    extra_vars = {"addons_exposure": EXPOSURE}
    extra_vars.update(extra)
    return playbook("playbooks/addons.yml", extra_vars=extra_vars, check=check, diff=diff)


def labelled_objects(kube):
    found = []
    for api_version, kind in KINDS:
        for obj in kube.list(api_version, kind, label_selector=LABEL):
            found.append("%s %s/%s" % (kind, obj["metadata"].get("namespace") or "", obj["metadata"]["name"]))
    try:
        for obj in kube.list("monitoring.kiali.io/v1alpha1", "MonitoringDashboard", label_selector=LABEL):
            found.append("MonitoringDashboard %s" % obj["metadata"]["name"])
    except Exception:  # pylint: disable=broad-except
        pass  # the CRD is not there: no dashboards either
    return found


def printed_markdown(output):
    """The msg block the task "Show the access summary" printed (YAML result format), dedented."""
    head = re.search(r"TASK \[meshops\.istio\.access_summary : Show the access summary\][^\n]*\n"
                     r"ok: \[[^\]]+\] => *\n( +)msg: \|-?\n", output)
    assert head, output[-3000:]
    indent = " " * (len(head.group(1)) + 4)
    lines = []
    for line in output[head.end():].splitlines():
        if line and not line.startswith(indent):
            break
        lines.append(line[len(indent):])
    return "\n".join(lines).strip("\n")


def service_port(svc, number):
    return [p for p in svc["spec"]["ports"] if p["port"] == number][0]


def condition(obj, kind):
    return [c["status"] for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind]


def output_dir(lab):
    with open(os.path.join(lab.inventory, "group_vars", "all.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["mesh_output_dir"]


def pinned_istio_version():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, "roles", "istioctl", "defaults", "main.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["istioctl_version"]


@pytest.fixture(scope="module")
def mesh(lab, playbook, kube):
    """The control plane installed, no addons, and a Service in `default` holding nodePort 30025."""
    result = playbook("playbooks/install.yml")
    assert result.rc == 0, result.tail()
    for enabled in (DEFAULT_ADDONS, ["zipkin"]):
        result = playbook("playbooks/addons.yml", extra_vars={"addons_state": "absent", "addons_enabled": enabled})
        assert result.rc == 0, result.tail()
    assert labelled_objects(kube) == []
    services = kube.resource("v1", "Service")
    if kube.get("v1", "Service", HOLDER["metadata"]["name"], "default") is not None:
        services.delete(name=HOLDER["metadata"]["name"], namespace="default")
    services.create(body=HOLDER, namespace="default")
    yield kube
    services.delete(name=HOLDER["metadata"]["name"], namespace="default")


# --------------------------------------------------------------------------- bad input

BAD_INPUT = [
    ("unknown-addon", {"addons_enabled": ["kiali", "kibana"]},
     [r"addons_enabled", r"kibana", r"kiali, prometheus, grafana, jaeger, zipkin"]),
    ("node-port-out-of-range", {"addons_exposure": {"kiali": {"type": "NodePort", "node_port": 40000}}},
     [r"addons_exposure\.kiali\.node_port=40000 is outside the cluster's nodePort range 30000-32767"]),
    ("node-port-taken", {"addons_exposure": {"grafana": {"type": "NodePort", "node_port": 30025}}},
     [r"addons_exposure\.grafana\.node_port=30025 is already used by Service default/addons-test-port-holder"]),
    ("bad-type", {"addons_exposure": {"kiali": {"type": "Nodeport"}}},
     [r"addons_exposure\.kiali\.type='Nodeport' is not a Service type this role sets; "
      r"accepted: ClusterIP, NodePort, LoadBalancer"]),
    ("jaeger-and-zipkin", {"addons_enabled": ["kiali", "jaeger", "zipkin"]},
     [r"addons_enabled: jaeger and zipkin both define Service istio-system/\w+; enable only one of them"]),
]


@pytest.fixture(scope="module")
def bad_inputs(mesh, playbook_cases):
    """Every bad input, each one host of a single run."""
    return playbook_cases("playbooks/addons.yml", {case[0]: case[1] for case in BAD_INPUT})


@pytest.mark.parametrize("case,expected", [(c[0], c[2]) for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_bad_input_fails_naming_addon_and_value_and_applies_nothing(mesh, bad_inputs, case, expected):
    result = bad_inputs[case]
    assert result.failed == 1, result
    for pattern in expected:
        assert re.search(pattern, result.text), "%r not in output:\n%s" % (pattern, result.text)
    assert labelled_objects(mesh) == []
    assert mesh.get("apps/v1", "Deployment", "kiali", NS) is None


# --------------------------------------------------------------------------- install

@pytest.fixture(scope="module")
def installed(mesh, playbook):
    result = addons_run(playbook)
    assert result.rc == 0, result.tail(150)
    return result


def test_every_addon_deployment_is_available(installed, kube):
    for name in ("kiali", "prometheus", "grafana", "jaeger"):
        deployment = kube.get("apps/v1", "Deployment", name, NS)
        assert deployment is not None, name
        assert condition(deployment, "Available") == ["True"], (name, deployment.get("status"))
        assert deployment["metadata"]["labels"][LABEL] == name


def test_crd_established_and_its_custom_resources_applied(installed, kube):
    crd = kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "monitoringdashboards.monitoring.kiali.io")
    assert condition(crd, "Established") == ["True"]
    names = sorted(d["metadata"]["name"] for d in kube.list("monitoring.kiali.io/v1alpha1", "MonitoringDashboard", NS))
    assert names == ["envoy", "go"]


def test_exposure_lands_on_the_ui_services(installed, kube):
    kiali = kube.get("v1", "Service", "kiali", NS)
    assert kiali["spec"]["type"] == "NodePort"
    assert service_port(kiali, 20001)["nodePort"] == 30021
    grafana = kube.get("v1", "Service", "grafana", NS)
    assert grafana["spec"]["type"] == "NodePort" and service_port(grafana, 3000)["nodePort"] == 30022
    tracing = kube.get("v1", "Service", "tracing", NS)
    assert tracing["spec"]["type"] == "NodePort" and service_port(tracing, 80)["nodePort"] == 30023
    assert kube.get("v1", "Service", "jaeger-collector", NS)["spec"]["type"] == "ClusterIP"
    assert kube.get("v1", "Service", "prometheus", NS)["spec"]["type"] == "ClusterIP"


def test_exposed_kiali_requires_a_token(installed, kube):
    config = yaml.safe_load(kube.get("v1", "ConfigMap", "kiali", NS)["data"]["config.yaml"])
    assert config["auth"]["strategy"] == "token"
    assert not config.get("deployment", {}).get("view_only_mode", False)


def test_grafana_anonymous_users_are_not_admin(installed, kube):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(kube.get("v1", "ConfigMap", "grafana", NS)["data"]["grafana.ini"])
    assert parser["auth.anonymous"]["org_role"] == "Viewer"
    assert re.search(r"\[WARNING\]: Grafana \(exposed as NodePort\) lets anonymous users in with role Viewer",
                     installed.output)


def test_second_run_changes_nothing(installed, playbook):
    result = addons_run(playbook)
    assert result.rc == 0, result.tail()
    assert result.changed == 0, result.tail(150)


def test_service_switched_to_cluster_ip_by_hand_is_restored_and_reported(installed, playbook, kube):
    kube.resource("v1", "Service").patch(name="kiali", namespace=NS, body={"spec": {"type": "ClusterIP"}},
                                         content_type="application/merge-patch+json")
    assert kube.get("v1", "Service", "kiali", NS)["spec"]["type"] == "ClusterIP"
    result = addons_run(playbook)
    assert result.rc == 0, result.tail()
    assert result.changed == 1, result.tail(150)
    kiali = kube.get("v1", "Service", "kiali", NS)
    assert kiali["spec"]["type"] == "NodePort" and service_port(kiali, 20001)["nodePort"] == 30021


def test_check_mode_on_a_converged_cluster(installed, playbook):
    result = addons_run(playbook, check=True, diff=True)
    assert result.rc == 0, result.tail()
    assert result.changed == 0, result.tail(150)


def test_check_mode_shows_drift_and_changes_nothing(installed, playbook, kube):
    kube.resource("v1", "Service").patch(name="grafana", namespace=NS, body={"spec": {"type": "ClusterIP"}},
                                         content_type="application/merge-patch+json")
    result = addons_run(playbook, check=True, diff=True)
    assert result.rc == 0, result.tail()
    assert result.changed == 1
    assert kube.get("v1", "Service", "grafana", NS)["spec"]["type"] == "ClusterIP"
    assert addons_run(playbook).changed == 1
    assert kube.get("v1", "Service", "grafana", NS)["spec"]["type"] == "NodePort"


def test_grafana_admin_only_when_asked_and_the_change_rolls_the_deployment(installed, playbook, kube):
    key = "meshops.istio/config-checksum"
    before = kube.get("apps/v1", "Deployment", "grafana", NS)
    result = addons_run(playbook, addons_grafana_anonymous_role="Admin")
    assert result.rc == 0, result.tail()
    assert re.search(r"\[WARNING\]: Grafana \(exposed as NodePort\) lets anonymous users in as Admin "
                     r"\(addons_grafana_anonymous_role=Admin\)", result.output)
    assert "org_role = Admin" in kube.get("v1", "ConfigMap", "grafana", NS)["data"]["grafana.ini"]
    after = kube.get("apps/v1", "Deployment", "grafana", NS)
    assert after["spec"]["template"]["metadata"]["annotations"][key] != \
        before["spec"]["template"]["metadata"]["annotations"][key]
    assert after["metadata"]["generation"] > before["metadata"]["generation"]
    assert condition(after, "Available") == ["True"]
    # back to the default
    assert addons_run(playbook).rc == 0
    assert "org_role = Viewer" in kube.get("v1", "ConfigMap", "grafana", NS)["data"]["grafana.ini"]


def test_anonymous_kiali_when_exposed_is_view_only(installed, playbook, kube):
    result = addons_run(playbook, addons_kiali_auth_strategy="anonymous")
    assert result.rc == 0, result.tail()
    assert "[WARNING]: Kiali is exposed as NodePort with auth.strategy anonymous" in result.output
    config = yaml.safe_load(kube.get("v1", "ConfigMap", "kiali", NS)["data"]["config.yaml"])
    assert config["auth"]["strategy"] == "anonymous"
    assert config["deployment"]["view_only_mode"] is True
    role = kube.get("rbac.authorization.k8s.io/v1", "ClusterRole", "kiali")
    for rule in role["rules"]:
        if "networking.istio.io" in rule.get("apiGroups", []):
            assert set(rule["verbs"]) == {"get", "list", "watch"}
    assert addons_run(playbook).rc == 0
    config = yaml.safe_load(kube.get("v1", "ConfigMap", "kiali", NS)["data"]["config.yaml"])
    assert config["auth"]["strategy"] == "token"


# --------------------------------------------------------------------------- summary, verify

def test_access_summary_lists_every_exposed_addon_and_the_ingress(installed, lab, playbook, kube, tmp_path):
    # As in site.yml: the addons (after istioctl, which reports its version), then the summary.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    story = tmp_path / "addons-then-summary.yml"
    story.write_text("---\n- import_playbook: %s/playbooks/addons.yml\n- import_playbook: %s/playbooks/summary.yml\n"
                     % (root, root))
    result = playbook(str(story), extra_vars={"addons_exposure": EXPOSURE})
    assert result.rc == 0, result.tail()
    out = output_dir(lab)
    with open(os.path.join(out, "access-summary.json"), encoding="utf-8") as handle:
        summary = json.load(handle)
    with open(os.path.join(out, "access-summary.md"), encoding="utf-8") as handle:
        markdown = handle.read()
    urls = {e["name"]: e["url"] for e in summary["entries"]}
    ingress = kube.get("v1", "Service", "istio-ingressgateway", NS)
    http2 = [p for p in ingress["spec"]["ports"] if p["name"] == "http2"][0]["nodePort"]
    assert urls == {
        "kiali": "http://127.0.0.1:30021/kiali",
        "grafana": "http://127.0.0.1:30022/",
        "jaeger": "http://127.0.0.1:30023/jaeger",
        "prometheus": "istioctl dashboard prometheus",
        "productpage": "http://127.0.0.1:%d/productpage" % http2,
    }
    assert summary["node_address"] == "127.0.0.1"
    assert summary["versions"]["control_plane"] == pinned_istio_version()
    assert summary["versions"]["istioctl"] == pinned_istio_version()
    for name, url in urls.items():
        assert re.search(r"^\| %s \| %s \|" % (re.escape(name), re.escape(url)), markdown, re.M), name
    # the printed table is the file, line for line
    assert printed_markdown(result.output) == markdown.strip("\n")
    assert playbook(str(story), extra_vars={"addons_exposure": EXPOSURE}).changed == 0


def test_verify_records_addon_checks_and_skips_the_data_plane_by_name(installed, lab, playbook):
    result = playbook("playbooks/verify.yml", extra_vars={"verify_areas": ["addons"]})
    assert result.rc == 0, result.tail()
    # the debug callback wraps long messages: compare with white space folded
    assert "SKIPPED (proxyless gRPC data plane, no Envoy): addons: productpage requests through the ingress reach Prometheus" \
        in " ".join(result.output.split())
    with open(os.path.join(output_dir(lab), "verify.json"), encoding="utf-8") as handle:
        results = {r["name"]: r for r in json.load(handle)["results"]}
    assert results["addons: every addon Deployment is Available"]["status"] == "passed"
    assert results["addons: productpage requests through the ingress reach Prometheus"]["status"] == "skipped"


# --------------------------------------------------------------------------- removal

def test_absent_removes_what_it_added_and_nothing_else(installed, playbook, kube):
    istiod_before = kube.get("apps/v1", "Deployment", "istiod", NS)
    assert istiod_before is not None
    result = playbook("playbooks/addons.yml", extra_vars={"addons_state": "absent"})
    assert result.rc == 0, result.tail()
    assert result.changed >= 1
    assert labelled_objects(kube) == []
    assert kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                    "monitoringdashboards.monitoring.kiali.io") is None
    assert kube.get("v1", "Namespace", NS) is not None
    assert kube.get("apps/v1", "Deployment", "istiod", NS)["metadata"]["uid"] == istiod_before["metadata"]["uid"]
    assert kube.get("v1", "Service", "istio-ingressgateway", NS) is not None
    assert kube.get("v1", "Service", HOLDER["metadata"]["name"], "default") is not None
    again = playbook("playbooks/addons.yml", extra_vars={"addons_state": "absent"})
    assert again.rc == 0 and again.changed == 0, again.tail()


def test_traffic_check_fails_rather_than_passes_without_prometheus(mesh, lab, playbook):
    # With the addons removed there is no Prometheus to ask: asking for the data-plane check must
    # fail, naming why. (Nothing is sent anywhere: the check stops before the first request.)
    result = playbook("playbooks/verify.yml", extra_vars={"verify_areas": ["addons"], "verify_data_plane": True, "verify_envoy": True})
    assert result.rc != 0
    assert "Failed checks: addons: productpage requests through the ingress reach Prometheus" in result.output
    with open(os.path.join(output_dir(lab), "verify.json"), encoding="utf-8") as handle:
        results = {r["name"]: r for r in json.load(handle)["results"]}
    check = results["addons: productpage requests through the ingress reach Prometheus"]
    assert check == {"name": check["name"], "status": "failed",
                     "detail": "no Prometheus Service labelled meshops.istio/addon=prometheus"}
    assert results["addons: every addon Deployment is Available"]["status"] == "skipped"


def test_zipkin_instead_of_jaeger(mesh, playbook, kube):
    result = playbook("playbooks/addons.yml", extra_vars={
        "addons_enabled": ["zipkin"], "addons_exposure": {"zipkin": {"type": "NodePort", "node_port": 30024}}})
    assert result.rc == 0, result.tail()
    zipkin = kube.get("v1", "Service", "zipkin", NS)
    assert zipkin["spec"]["type"] == "NodePort" and service_port(zipkin, 9411)["nodePort"] == 30024
    assert zipkin["metadata"]["labels"][LABEL] == "zipkin"
    assert condition(kube.get("apps/v1", "Deployment", "zipkin", NS), "Available") == ["True"]
    result = playbook("playbooks/addons.yml", extra_vars={"addons_state": "absent", "addons_enabled": ["zipkin"]})
    assert result.rc == 0, result.tail()
    assert labelled_objects(kube) == []
