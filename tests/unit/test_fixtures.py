"""lab/fixtures/samples: the release-shaped samples other roles rely on.

Pins the facts (object names, labels, ports, images, the addons' open defaults, the Kiali
CRD race) and checks every Kubernetes object field by field against the kubernetes client's
models, so a misspelled field fails here instead of in the lab.
"""

import configparser
import glob
import os
import re

import pytest
import yaml
from kubernetes.client import models as k8s_models

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLES = os.path.join(ROOT, "lab", "fixtures", "samples")
BOOKINFO = os.path.join(SAMPLES, "bookinfo", "platform", "kube", "bookinfo.yaml")
NETWORKING = os.path.join(SAMPLES, "bookinfo", "networking")
ADDONS = os.path.join(SAMPLES, "addons")

FILES = sorted(glob.glob(os.path.join(SAMPLES, "**", "*.yaml"), recursive=True))
REL = [os.path.relpath(p, SAMPLES) for p in FILES]

REQUIRED_FILES = [
    "bookinfo/platform/kube/bookinfo.yaml",
    "bookinfo/networking/bookinfo-gateway.yaml",
    "bookinfo/networking/destination-rule-all.yaml",
    "bookinfo/networking/virtual-service-all-v1.yaml",
    "bookinfo/networking/virtual-service-reviews-test-v2.yaml",
    "bookinfo/networking/virtual-service-ratings-test-delay.yaml",
    "bookinfo/networking/virtual-service-ratings-test-abort.yaml",
    "bookinfo/networking/virtual-service-reviews-50-v3.yaml",
    "bookinfo/networking/virtual-service-reviews-80-20.yaml",
    "bookinfo/networking/virtual-service-reviews-v3.yaml",
    "addons/kiali.yaml",
    "addons/prometheus.yaml",
    "addons/grafana.yaml",
    "addons/jaeger.yaml",
    "addons/extras/zipkin.yaml",
    "curl/curl.yaml",
    "netpod/netpod.yaml",
]

BOOKINFO_SERVICES = ["details", "ratings", "reviews", "productpage"]
BOOKINFO_DEPLOYMENTS = {
    "details-v1": ("details", "v1"), "ratings-v1": ("ratings", "v1"), "reviews-v1": ("reviews", "v1"),
    "reviews-v2": ("reviews", "v2"), "reviews-v3": ("reviews", "v3"), "productpage-v1": ("productpage", "v1"),
}
BOOKINFO_SUBSETS = {
    "productpage": ["v1"], "reviews": ["v1", "v2", "v3"],
    "ratings": ["v1", "v2", "v2-mysql", "v2-mysql-vm"], "details": ["v1", "v2"],
}

# Kubernetes kinds the samples use, and the client model describing each.
MODELS = {
    ("v1", "Service"): "V1Service",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Namespace"): "V1Namespace",
    ("v1", "Pod"): "V1Pod",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "V1ClusterRole",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "V1ClusterRoleBinding",
    ("rbac.authorization.k8s.io/v1", "Role"): "V1Role",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "V1RoleBinding",
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): "V1CustomResourceDefinition",
}
CUSTOM_KINDS = {
    ("networking.istio.io/v1", "Gateway"), ("networking.istio.io/v1", "VirtualService"),
    ("networking.istio.io/v1", "DestinationRule"), ("monitoring.kiali.io/v1alpha1", "MonitoringDashboard"),
}
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Namespace"}
DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
IMAGE = re.compile(r"^(docker\.io|quay\.io|ghcr\.io)/[a-z0-9._/-]+:[A-Za-z0-9._-]+$")


def load(path):
    with open(path, encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc is not None]


def sample(rel):
    return load(os.path.join(SAMPLES, rel))


def by_kind(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def ports(service):
    return {p["name"]: p for p in service["spec"]["ports"]}


def pod_specs(docs):
    """(name, labels, pod spec) for every Deployment template and bare Pod."""
    out = []
    for doc in docs:
        if doc["kind"] == "Deployment":
            template = doc["spec"]["template"]
            out.append((doc["metadata"]["name"], template["metadata"].get("labels") or {}, template["spec"]))
        elif doc["kind"] == "Pod":
            out.append((doc["metadata"]["name"], doc["metadata"].get("labels") or {}, doc["spec"]))
    return out


# ---------------------------------------------------------------------------- strict model check


def _check(value, type_name, where, errors):
    """Append to errors every field of value that the client model type_name does not know."""
    if type_name == "object":
        return
    if type_name.startswith(("list[", "List[")):
        if not isinstance(value, list):
            errors.append("%s: expected a list, got %r" % (where, value))
            return
        for index, item in enumerate(value):
            _check(item, type_name[5:-1], "%s[%d]" % (where, index), errors)
        return
    if type_name.startswith(("dict(", "Dict[")):
        if not isinstance(value, dict):
            errors.append("%s: expected a mapping, got %r" % (where, value))
            return
        inner = type_name[5:-1].split(", ", 1)[1]
        for key, item in value.items():
            _check(item, inner, "%s.%s" % (where, key), errors)
        return
    scalar = {"str": (str,), "int": (int,), "bool": (bool,), "float": (int, float), "datetime": (str,),
              "bytes": (str,)}
    if type_name in scalar:
        ok = isinstance(value, scalar[type_name]) and not (type_name == "int" and isinstance(value, bool))
        if not ok:
            errors.append("%s: expected %s, got %r" % (where, type_name, value))
        return
    model = getattr(k8s_models, type_name)
    if not isinstance(value, dict):
        errors.append("%s: expected a %s mapping, got %r" % (where, type_name, value))
        return
    fields = {json_name: model.openapi_types[attr] for attr, json_name in model.attribute_map.items()}
    for key, item in value.items():
        if key not in fields:
            errors.append("%s: unknown field %r for %s" % (where, key, type_name))
        else:
            _check(item, fields[key], "%s.%s" % (where, key), errors)


# ---------------------------------------------------------------------------- every file, every object


def test_required_files_exist():
    missing = [rel for rel in REQUIRED_FILES if rel not in REL]
    assert not missing, "missing sample files: %s" % missing


@pytest.mark.parametrize("rel", REL)
def test_documents_are_well_formed(rel):
    docs = sample(rel)
    assert docs, "%s has no documents" % rel
    seen = set()
    for doc in docs:
        assert isinstance(doc, dict), "%s: a document is not a mapping" % rel
        assert doc.get("apiVersion") and doc.get("kind"), "%s: document without apiVersion/kind" % rel
        name = (doc.get("metadata") or {}).get("name")
        assert name and DNS_1123.match(name), "%s: %s with bad metadata.name %r" % (rel, doc["kind"], name)
        key = (doc["kind"], doc["metadata"].get("namespace"), name)
        assert key not in seen, "%s: %s appears twice" % (rel, key)
        seen.add(key)
        known = (doc["apiVersion"], doc["kind"])
        assert known in MODELS or known in CUSTOM_KINDS, "%s: unexpected kind %s" % (rel, known)


@pytest.mark.parametrize("rel", REL)
def test_kubernetes_objects_match_the_api_models(rel):
    errors = []
    for doc in sample(rel):
        model = MODELS.get((doc["apiVersion"], doc["kind"]))
        if model:
            _check(doc, model, "%s %s/%s" % (rel, doc["kind"], doc["metadata"]["name"]), errors)
    assert not errors, "\n".join(errors)


def test_strict_check_catches_a_typo():
    errors = []
    _check({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
            "spec": {"ports": [{"port": 80, "targetport": 8080}]}}, "V1Service", "typo", errors)
    assert errors == ["typo.spec.ports[0]: unknown field 'targetport' for V1ServicePort"]
    errors = []
    _check({"spec": {"replicas": "1"}}, "V1Deployment", "type", errors)
    assert errors == ["type.spec.replicas: expected int, got '1'"]


@pytest.mark.parametrize("rel", REL)
def test_workloads_are_consistent(rel):
    """Selectors match pod labels, and every referenced SA, ConfigMap, volume and port exists."""
    docs = sample(rel)
    accounts = set(by_kind(docs, "ServiceAccount"))
    configmaps = set(by_kind(docs, "ConfigMap"))
    pods = pod_specs(docs)
    for doc in docs:
        if doc["kind"] == "Deployment":
            selector = doc["spec"]["selector"]["matchLabels"]
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items(), "%s: %s selector does not match its pods" % (
                rel, doc["metadata"]["name"])
        if doc["kind"] == "Service" and doc["spec"].get("selector"):
            selector = doc["spec"]["selector"]
            assert any(selector.items() <= labels.items() for pod in pods for labels in [pod[1]]), \
                "%s: Service %s selects no pod in the file" % (rel, doc["metadata"]["name"])
    for name, spec in [(pod[0], pod[2]) for pod in pods]:
        if spec.get("serviceAccountName"):
            assert spec["serviceAccountName"] in accounts, "%s: %s uses a missing ServiceAccount" % (rel, name)
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for volume in volumes.values():
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps, "%s: %s mounts a missing ConfigMap" % (rel, name)
        for container in spec["containers"]:
            assert IMAGE.match(container["image"]), "%s: %s image %r" % (rel, name, container["image"])
            assert not container["image"].endswith(":latest")
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in volumes, "%s: %s mounts undeclared volume %s" % (rel, name, mount["name"])
            named = {p.get("name") for p in container.get("ports", [])}
            numbers = {p["containerPort"] for p in container.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe"):
                port = (container.get(probe) or {}).get("httpGet", {}).get("port")
                if port is not None:
                    assert port in named or port in numbers, "%s: %s %s port %r" % (rel, name, probe, port)


# ---------------------------------------------------------------------------- bookinfo


def test_bookinfo_services():
    docs = load(BOOKINFO)
    services = by_kind(docs, "Service")
    assert sorted(services) == sorted(BOOKINFO_SERVICES)
    for name, service in services.items():
        assert service["metadata"]["labels"] == {"app": name, "service": name}
        assert service["spec"]["selector"] == {"app": name}
        assert ports(service) == {"http": {"name": "http", "port": 9080}}
    assert all("namespace" not in d["metadata"] for d in docs), "bookinfo is applied into a chosen namespace"


def test_bookinfo_service_accounts():
    accounts = by_kind(load(BOOKINFO), "ServiceAccount")
    assert sorted(accounts) == sorted("bookinfo-" + s for s in BOOKINFO_SERVICES)


def test_bookinfo_deployments():
    deployments = by_kind(load(BOOKINFO), "Deployment")
    assert sorted(deployments) == sorted(BOOKINFO_DEPLOYMENTS)
    for name, (app, version) in BOOKINFO_DEPLOYMENTS.items():
        dep = deployments[name]
        want = {"app": app, "version": version}
        assert dep["metadata"]["labels"] == want
        assert dep["spec"]["selector"]["matchLabels"] == want
        assert dep["spec"]["template"]["metadata"]["labels"] == want
        pod = dep["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "bookinfo-" + app
        (container,) = pod["containers"]
        assert container["name"] == app
        assert [p["containerPort"] for p in container["ports"]] == [9080]
        assert re.match(r"^docker\.io/istio/examples-bookinfo-%s-%s:1\.\d+\.\d+$" % (app, version),
                        container["image"]), container["image"]


def test_networking_uses_v1_api():
    for path in glob.glob(os.path.join(NETWORKING, "*.yaml")):
        for doc in load(path):
            assert doc["apiVersion"] == "networking.istio.io/v1", path


def test_bookinfo_gateway():
    docs = sample("bookinfo/networking/bookinfo-gateway.yaml")
    gateway = by_kind(docs, "Gateway")["bookinfo-gateway"]
    assert gateway["spec"]["selector"] == {"istio": "ingressgateway"}
    (server,) = gateway["spec"]["servers"]
    # Recent Istio gateways run unprivileged: the sample's server listens on 8080 (Service port 80).
    assert server["port"] == {"number": 8080, "name": "http", "protocol": "HTTP"}
    assert server["hosts"] == ["*"]
    vs = by_kind(docs, "VirtualService")["bookinfo"]
    assert vs["spec"]["hosts"] == ["*"] and vs["spec"]["gateways"] == ["bookinfo-gateway"]
    (route,) = vs["spec"]["http"]
    assert [m["uri"] for m in route["match"]] == [
        {"exact": "/productpage"}, {"prefix": "/static"}, {"exact": "/login"}, {"exact": "/logout"},
        {"prefix": "/api/v1/products"}]
    assert route["route"] == [{"destination": {"host": "productpage", "port": {"number": 9080}}}]


@pytest.mark.parametrize("rel", ["bookinfo/networking/destination-rule-all.yaml",
                                 "bookinfo/networking/destination-rule-all-mtls.yaml"])
def test_destination_rules(rel):
    rules = by_kind(sample(rel), "DestinationRule")
    assert sorted(rules) == sorted(BOOKINFO_SUBSETS)
    for host, subsets in BOOKINFO_SUBSETS.items():
        rule = rules[host]
        assert rule["spec"]["host"] == host
        assert [(s["name"], s["labels"]) for s in rule["spec"]["subsets"]] == [(s, {"version": s}) for s in subsets]
        if rel.endswith("-mtls.yaml"):
            assert rule["spec"]["trafficPolicy"] == {"tls": {"mode": "ISTIO_MUTUAL"}}
        else:
            assert "trafficPolicy" not in rule["spec"]


def _routes(vs):
    """[(match or None, [(host, subset, weight)])] of a VirtualService's http routes."""
    out = []
    for http in vs["spec"]["http"]:
        dests = [(r["destination"]["host"], r["destination"].get("subset"), r.get("weight"))
                 for r in http["route"]]
        out.append((http.get("match"), dests))
    return out


VS_FILES = sorted(os.path.relpath(p, SAMPLES) for p in glob.glob(os.path.join(NETWORKING, "virtual-service-*.yaml")))


@pytest.mark.parametrize("rel", VS_FILES)
def test_virtual_services_route_to_known_subsets(rel):
    for vs in by_kind(sample(rel), "VirtualService").values():
        assert vs["spec"]["hosts"] == [vs["metadata"]["name"]]
        for dests in [route[1] for route in _routes(vs)]:
            for host, subset in [d[:2] for d in dests]:
                assert host in BOOKINFO_SUBSETS and subset in BOOKINFO_SUBSETS[host], (rel, host, subset)
            weights = [d[2] for d in dests]
            if len(dests) > 1:
                assert sum(weights) == 100, (rel, weights)
            else:
                assert weights == [None], (rel, weights)


def test_virtual_service_all_v1():
    services = by_kind(sample("bookinfo/networking/virtual-service-all-v1.yaml"), "VirtualService")
    assert sorted(services) == sorted(BOOKINFO_SERVICES)
    for name, vs in services.items():
        assert _routes(vs) == [(None, [(name, "v1", None)])]


JASON = [{"headers": {"end-user": {"exact": "jason"}}}]


def test_reviews_test_v2():
    vs = by_kind(sample("bookinfo/networking/virtual-service-reviews-test-v2.yaml"), "VirtualService")["reviews"]
    assert _routes(vs) == [(JASON, [("reviews", "v2", None)]), (None, [("reviews", "v1", None)])]


@pytest.mark.parametrize("rel, fault", [
    ("bookinfo/networking/virtual-service-ratings-test-delay.yaml",
     {"delay": {"percentage": {"value": 100.0}, "fixedDelay": "7s"}}),
    ("bookinfo/networking/virtual-service-ratings-test-abort.yaml",
     {"abort": {"percentage": {"value": 100.0}, "httpStatus": 500}}),
])
def test_ratings_fault_injection(rel, fault):
    vs = by_kind(sample(rel), "VirtualService")["ratings"]
    first, rest = vs["spec"]["http"][0], vs["spec"]["http"][1:]
    assert first["match"] == JASON
    assert first["fault"] == fault
    assert _routes(vs) == [(JASON, [("ratings", "v1", None)]), (None, [("ratings", "v1", None)])]
    assert all("fault" not in r for r in rest)


@pytest.mark.parametrize("rel, dests", [
    ("bookinfo/networking/virtual-service-reviews-50-v3.yaml", [("reviews", "v1", 50), ("reviews", "v3", 50)]),
    ("bookinfo/networking/virtual-service-reviews-80-20.yaml", [("reviews", "v1", 80), ("reviews", "v2", 20)]),
    ("bookinfo/networking/virtual-service-reviews-v2-v3.yaml", [("reviews", "v2", 50), ("reviews", "v3", 50)]),
    ("bookinfo/networking/virtual-service-reviews-v3.yaml", [("reviews", "v3", None)]),
])
def test_reviews_shifts(rel, dests):
    vs = by_kind(sample(rel), "VirtualService")["reviews"]
    assert _routes(vs) == [(None, dests)]


# ---------------------------------------------------------------------------- addons


ADDON_FILES = ["addons/kiali.yaml", "addons/prometheus.yaml", "addons/grafana.yaml", "addons/jaeger.yaml",
               "addons/extras/zipkin.yaml"]


@pytest.mark.parametrize("rel", ADDON_FILES)
def test_addons_live_in_istio_system(rel):
    for doc in sample(rel):
        if doc["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in doc["metadata"], (rel, doc["metadata"]["name"])
        else:
            assert doc["metadata"].get("namespace") == "istio-system", (rel, doc["kind"], doc["metadata"]["name"])
        for subject in doc.get("subjects", []):
            assert subject["namespace"] == "istio-system"


def test_addons_directory_has_no_conflicting_objects():
    """`kubectl apply -f samples/addons` (not recursive) must not define an object twice."""
    seen = {}
    for path in sorted(glob.glob(os.path.join(ADDONS, "*.yaml"))):
        for doc in load(path):
            key = (doc["kind"], doc["metadata"].get("namespace"), doc["metadata"]["name"])
            assert key not in seen, "%s defined in %s and %s" % (key, seen[key], path)
            seen[key] = path


def test_kiali_open_defaults():
    docs = sample("addons/kiali.yaml")
    config = yaml.safe_load(by_kind(docs, "ConfigMap")["kiali"]["data"]["config.yaml"])
    assert config["auth"] == {"strategy": "anonymous"}
    assert "view_only_mode" not in (config.get("deployment") or {})
    assert "view_only_mode" not in yaml.dump(config)
    assert config["server"]["port"] == 20001
    service = by_kind(docs, "Service")["kiali"]
    assert {n: p["port"] for n, p in ports(service).items()} == {"http": 20001, "http-metrics": 9090}
    deployment = by_kind(docs, "Deployment")["kiali"]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "kiali"
    assert "kiali" in by_kind(docs, "ServiceAccount")
    binding = by_kind(docs, "ClusterRoleBinding")["kiali"]
    assert binding["roleRef"]["name"] == "kiali"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kiali", "namespace": "istio-system"}]


def test_kiali_cluster_role_can_write_istio_config():
    role = by_kind(sample("addons/kiali.yaml"), "ClusterRole")["kiali"]
    for group in ("networking.istio.io", "security.istio.io"):
        verbs = set()
        for rule in role["rules"]:
            if group in rule.get("apiGroups", []):
                verbs.update(rule["verbs"])
        assert {"create", "delete", "patch"} <= verbs, (group, verbs)


def _schema_is_structural(node, where):
    """Every schema node has a type unless it preserves unknown fields or is int-or-string."""
    problems = []
    if not (node.get("type") or node.get("x-kubernetes-preserve-unknown-fields")
            or node.get("x-kubernetes-int-or-string")):
        problems.append(where)
    for key, child in (node.get("properties") or {}).items():
        problems += _schema_is_structural(child, "%s.%s" % (where, key))
    if isinstance(node.get("items"), dict):
        problems += _schema_is_structural(node["items"], where + "[]")
    return problems


def test_kiali_crd_race():
    docs = sample("addons/kiali.yaml")
    crd = docs[0]
    assert crd["kind"] == "CustomResourceDefinition", "the CRD must come first, as in the old sample"
    assert crd["metadata"]["name"] == "monitoringdashboards.monitoring.kiali.io"
    spec = crd["spec"]
    assert spec["group"] == "monitoring.kiali.io" and spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == "MonitoringDashboard" and spec["names"]["plural"] == "monitoringdashboards"
    (version,) = spec["versions"]
    assert version["served"] and version["storage"]
    schema = version["schema"]["openAPIV3Schema"]
    assert schema["type"] == "object"
    assert schema["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"] is True
    assert not _schema_is_structural(schema, "openAPIV3Schema")
    dashboards = [d for d in docs if d["kind"] == "MonitoringDashboard"]
    assert len(dashboards) >= 2
    for dashboard in dashboards:
        assert dashboard["apiVersion"] == "%s/%s" % (spec["group"], version["name"])
        assert dashboard["metadata"]["namespace"] == "istio-system"
        assert dashboard["spec"]["items"]


def test_grafana_open_defaults():
    docs = sample("addons/grafana.yaml")
    data = by_kind(docs, "ConfigMap")["grafana"]["data"]
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(data["grafana.ini"])
    assert ini.getboolean("auth.anonymous", "enabled") is True
    assert ini.get("auth.anonymous", "org_role") == "Admin"
    sources = yaml.safe_load(data["datasources.yaml"])["datasources"]
    assert [(s["type"], s["url"]) for s in sources] == [("prometheus", "http://prometheus:9090")]
    service = by_kind(docs, "Service")["grafana"]
    assert {n: p["port"] for n, p in ports(service).items()} == {"service": 3000}
    assert "grafana" in by_kind(docs, "Deployment")


def test_prometheus():
    docs = sample("addons/prometheus.yaml")
    assert "prometheus" in by_kind(docs, "ServiceAccount")
    assert "prometheus" in by_kind(docs, "ClusterRole")
    binding = by_kind(docs, "ClusterRoleBinding")["prometheus"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "prometheus", "namespace": "istio-system"}]
    config = yaml.safe_load(by_kind(docs, "ConfigMap")["prometheus"]["data"]["prometheus.yml"])
    pod_jobs = [job for job in config["scrape_configs"]
                if any(sd.get("role") == "pod" for sd in job.get("kubernetes_sd_configs", []))]
    assert pod_jobs, "prometheus.yml must scrape kubernetes pods"
    service = by_kind(docs, "Service")["prometheus"]
    assert {n: (p["port"], p["targetPort"]) for n, p in ports(service).items()} == {"http": (9090, 9090)}
    deployment = by_kind(docs, "Deployment")["prometheus"]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "prometheus"


def test_jaeger():
    docs = sample("addons/jaeger.yaml")
    assert "jaeger" in by_kind(docs, "Deployment")
    services = by_kind(docs, "Service")
    assert sorted(services) == ["jaeger-collector", "tracing", "zipkin"]
    assert ports(services["tracing"])["http-query"]["port"] == 80
    assert ports(services["tracing"])["http-query"]["targetPort"] == 16686
    assert {n: p["port"] for n, p in ports(services["zipkin"]).items()} == {"http-query": 9411}
    assert {n: p["port"] for n, p in ports(services["jaeger-collector"]).items()} == {
        "jaeger-collector-http": 14268, "jaeger-collector-grpc": 14250, "http-zipkin": 9411,
        "grpc-otel": 4317, "http-otel": 4318}


def test_zipkin_extra():
    docs = sample("addons/extras/zipkin.yaml")
    assert "zipkin" in by_kind(docs, "Deployment")
    services = by_kind(docs, "Service")
    assert sorted(services) == ["tracing", "zipkin"]
    assert (ports(services["tracing"])["http-query"]["port"], ports(services["tracing"])["http-query"]["targetPort"]) \
        == (80, 9411)
    assert ports(services["zipkin"])["http-query"]["port"] == 9411


# ---------------------------------------------------------------------------- clients


def test_curl():
    docs = sample("curl/curl.yaml")
    assert "curl" in by_kind(docs, "ServiceAccount")
    service = by_kind(docs, "Service")["curl"]
    assert {n: p["port"] for n, p in ports(service).items()} == {"http": 80}
    deployment = by_kind(docs, "Deployment")["curl"]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "curl"
    assert all("namespace" not in d["metadata"] for d in docs)


def test_netpod():
    docs = sample("netpod/netpod.yaml")
    namespace = by_kind(docs, "Namespace")["test"]
    labels = namespace["metadata"].get("labels") or {}
    assert "istio-injection" not in labels and "istio.io/rev" not in labels, "netpod must stay outside the mesh"
    pod = by_kind(docs, "Pod")["netpod"]
    assert pod["metadata"]["namespace"] == "test"
    (container,) = pod["spec"]["containers"]
    assert container["command"] == ["tail", "-f", "/dev/null"]
