"""Role bookinfo against the lab: the app, its gateway and subsets, every scenario, switching, verify.

The tests run in file order and share the namespace (the role's default, `default`); they leave
Bookinfo deployed with the all-v1 scenario. Istio comes from playbooks/install.yml when the lab
does not have it yet.
"""

import json
import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from ansible_collections.meshops.istio.plugins.module_utils.traffic.render import render  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.meshops.istio.plugins.module_utils.traffic.validate import validate, with_default_tls  # noqa: E402  pylint: disable=wrong-import-position

PLAYBOOK = "playbooks/bookinfo.yml"
NS = "default"
ISTIO = "networking.istio.io/v1"
SELECTOR = "app.kubernetes.io/managed-by=meshops.istio,meshops.istio/model=bookinfo"
DEPLOYMENTS = ["details-v1", "productpage-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3"]
JASON = [{"headers": {"end-user": {"exact": "jason"}}}]


def to(host, subset, weight=None):
    item = {"destination": {"host": host, "subset": subset}}
    if weight is not None:
        item["weight"] = weight
    return item


def v1(host):
    return [{"route": [to(host, "v1")]}]


def jason_to_v2():
    return [{"name": "jason", "match": JASON, "route": [to("reviews", "v2")]}, {"route": [to("reviews", "v1")]}]


def ratings_fault(name, fault):
    return [{"name": name, "match": JASON, "route": [to("ratings", "v1")], "fault": fault},
            {"route": [to("ratings", "v1")]}]


# scenario -> extra vars, and the http routes of vsvc-reviews, vsvc-ratings, vsvc-details
# (None: the scenario has no such VirtualService)
SCENARIOS = [
    ("all-v1", {}, v1("reviews"), v1("ratings"), v1("details")),
    ("reviews-v2-for-jason", {}, jason_to_v2(), v1("ratings"), v1("details")),
    ("ratings-delay", {}, jason_to_v2(),
     ratings_fault("jason-delay", {"delay": {"fixedDelay": "7s", "percentage": {"value": 100}}}), v1("details")),
    ("ratings-abort", {}, jason_to_v2(),
     ratings_fault("jason-abort", {"abort": {"httpStatus": 500, "percentage": {"value": 100}}}), v1("details")),
    ("reviews-50-v3", {}, [{"route": [to("reviews", "v1", 50), to("reviews", "v3", 50)]}], v1("ratings"), v1("details")),
    ("reviews-80-20", {}, [{"route": [to("reviews", "v1", 80), to("reviews", "v2", 20)]}], v1("ratings"), v1("details")),
    ("reviews-weighted", {"bookinfo_reviews_weights": {"v1": 10, "v2": 20, "v3": 70}},
     [{"route": [to("reviews", "v1", 10), to("reviews", "v2", 20), to("reviews", "v3", 70)]}], v1("ratings"),
     v1("details")),
    ("round-robin", {}, None, None, None),
    ("all-v1", {}, v1("reviews"), v1("ratings"), v1("details")),
]


def routing(kube):
    found = {}
    for kind in ("Gateway", "DestinationRule", "VirtualService"):
        for obj in kube.list(ISTIO, kind, namespace=NS, label_selector=SELECTOR):
            found[(kind, obj["metadata"]["name"])] = obj
    return found


def versions(kube):
    return dict((k, o["metadata"]["resourceVersion"]) for k, o in routing(kube).items())


def run(playbook, scenario="all-v1", **extra):
    variables = {"bookinfo_scenario": scenario}
    variables.update(extra)
    return playbook(PLAYBOOK, extra_vars=variables)


def test_deploy_labels_the_namespace_and_runs_the_app(istio, playbook, kube):
    result = run(playbook)
    assert result.rc == 0, result.tail()
    namespace = kube.get("v1", "Namespace", NS)
    assert namespace["metadata"]["labels"].get("istio-injection") == "enabled"
    for name in DEPLOYMENTS:
        deployment = kube.get("apps/v1", "Deployment", name, NS)
        assert deployment is not None, name
        conditions = deployment.get("status", {}).get("conditions") or []
        assert any(c["type"] == "Available" and c["status"] == "True" for c in conditions), name
    for name in ("details", "ratings", "reviews", "productpage"):
        service = kube.get("v1", "Service", name, NS)
        assert [p["port"] for p in service["spec"]["ports"]] == [9080]
    pods = [p for p in kube.list("v1", "Pod", namespace=NS, label_selector="app=productpage")
            if not p["metadata"].get("deletionTimestamp")]
    names = [c["name"] for p in pods for c in p["spec"]["containers"] + (p["spec"].get("initContainers") or [])]
    assert pods and "istio-proxy" in names


def test_gateway_productpage_routes_and_subsets(istio, kube):
    objects = routing(kube)
    gateway = objects[("Gateway", "bookinfo-gateway")]["spec"]
    assert gateway == {"selector": {"istio": "ingressgateway"},
                       "servers": [{"port": {"number": 80, "name": "http-80", "protocol": "HTTP"}, "hosts": ["*"]}]}
    page = objects[("VirtualService", "vsvc-productpage")]["spec"]
    assert page["gateways"] == ["bookinfo-gateway"] and page["hosts"] == ["*"]
    assert page["http"] == [{"name": "productpage", "match": [
        {"uri": {"exact": "/productpage"}}, {"uri": {"prefix": "/static"}}, {"uri": {"exact": "/login"}},
        {"uri": {"exact": "/logout"}}, {"uri": {"prefix": "/api/v1/products"}}],
        "route": [{"destination": {"host": "productpage", "subset": "v1", "port": {"number": 9080}}}]}]
    subsets = dict((name, [s["name"] for s in objects[("DestinationRule", "destrule-" + name)]["spec"]["subsets"]])
                   for name in ("productpage", "reviews", "ratings", "details"))
    assert subsets == {"productpage": ["v1"], "reviews": ["v1", "v2", "v3"], "ratings": ["v1", "v2"],
                       "details": ["v1", "v2"]}
    reviews = objects[("DestinationRule", "destrule-reviews")]["spec"]
    assert reviews["subsets"][0]["labels"] == {"version": "v1"}
    # tls: the lab inventory's traffic_tls (its proxyless gRPC clients use mTLS only when told to)
    assert reviews["trafficPolicy"] == {"loadBalancer": {"simple": "RANDOM"}, "tls": {"mode": "ISTIO_MUTUAL"}}
    assert reviews["subsets"][1]["trafficPolicy"] == {"loadBalancer": {"simple": "ROUND_ROBIN"}}


def test_all_v1_is_the_example_model(istio, kube):
    with open(os.path.join(ROOT, "examples", "bookinfo-model.yml"), encoding="utf-8") as handle:
        # with the lab inventory's traffic_tls default, as the traffic role applies it
        example = render(validate(with_default_tls(yaml.safe_load(handle), {"mode": "ISTIO_MUTUAL"})))
    live = routing(kube)
    assert sorted(live) == sorted((o["kind"], o["metadata"]["name"]) for o in example)
    for obj in example:
        assert live[(obj["kind"], obj["metadata"]["name"])]["spec"] == obj["spec"], obj["metadata"]["name"]


def test_second_run_and_check_mode_change_nothing(istio, playbook, kube):
    before = versions(kube)
    again = run(playbook)
    assert again.rc == 0 and again.changed == 0, again.tail()
    check = playbook(PLAYBOOK, extra_vars={"bookinfo_scenario": "all-v1"}, check=True, diff=True)
    assert check.rc == 0 and check.changed == 0, check.tail()
    assert versions(kube) == before


@pytest.fixture(scope="module")
def bad_inputs(istio, playbook_cases, kube):
    """The routing objects' versions before, the outcome of every bad input (one run, a host each), after."""
    before = versions(kube)
    outcomes = playbook_cases(PLAYBOOK, {
        "unknown scenario": {"bookinfo_scenario": "reviews-v9"},
        "unknown version": {"bookinfo_scenario": "reviews-weighted", "bookinfo_reviews_weights": {"v1": 70, "v4": 30}},
        "short weights": {"bookinfo_scenario": "reviews-weighted", "bookinfo_reviews_weights": {"v1": 70, "v3": 20}},
    })
    return before, outcomes, versions(kube)


def test_bad_scenario_fails_before_anything_changes(bad_inputs):
    before, outcomes, after = bad_inputs
    result = outcomes["unknown scenario"]
    assert result.failed, result
    assert "bookinfo_scenario" in result.text and "reviews-v9" in result.text
    assert "all-v1, reviews-v2-for-jason, ratings-delay" in result.text
    assert after == before


def test_bad_weights_fail_before_anything_changes(bad_inputs):
    before, outcomes, after = bad_inputs
    result = outcomes["unknown version"]
    assert result.failed, result
    assert 'bookinfo_reviews_weights={"v1": 70, "v4": 30}' in result.text, result.text
    assert "among v1, v2, v3 that sum to 100" in result.text
    short = outcomes["short weights"]
    assert short.failed and "bookinfo_reviews_weights=" in short.text
    assert after == before


@pytest.mark.parametrize("scenario,extra,reviews,ratings,details", SCENARIOS,
                         ids=["%d-%s" % (i, s[0]) for i, s in enumerate(SCENARIOS)])
def test_scenario_routes_read_back_and_nothing_of_the_previous_one_is_left(
        istio, playbook, kube, scenario, extra, reviews, ratings, details):
    result = run(playbook, scenario, **extra)
    assert result.rc == 0, result.tail()
    objects = routing(kube)
    expected = {"reviews": reviews, "ratings": ratings, "details": details}
    wanted = set([("Gateway", "bookinfo-gateway"), ("VirtualService", "vsvc-productpage")] +
                 [("DestinationRule", "destrule-" + n) for n in ("productpage", "reviews", "ratings", "details")] +
                 [("VirtualService", "vsvc-" + n) for n, http in expected.items() if http is not None])
    assert set(objects) == wanted
    for name, http in expected.items():
        if http is not None:
            assert objects[("VirtualService", "vsvc-" + name)]["spec"] == {"hosts": [name], "http": http}, name
    # nothing without the model's labels was created in the namespace
    for kind in ("VirtualService", "DestinationRule", "Gateway"):
        for obj in kube.list(ISTIO, kind, namespace=NS):
            assert (obj["metadata"].get("labels") or {}).get("meshops.istio/model") == "bookinfo", obj["metadata"]["name"]


def test_istioctl_analyze_reports_no_errors(istio):
    proc = subprocess.run([istio.istioctl, "analyze", "--kubeconfig", istio.kubeconfig, "-n", NS],
                          capture_output=True, text=True, check=False, timeout=300)
    report = proc.stdout + proc.stderr
    assert "Error [" not in report, report
    assert proc.returncode == 0, report


def test_verify_checks_bookinfo_and_skips_the_data_plane_check_by_name(istio, playbook, lab):
    result = playbook("playbooks/verify.yml", extra_vars={"verify_areas": ["bookinfo"]})
    # the debug callback wraps long messages: compare with white space folded
    assert "SKIPPED (proxyless gRPC data plane, no Envoy): bookinfo: productpage answers through the ingress gateway" in " ".join(result.output.split())
    with open(os.path.join(lab.output_dir, "verify.json"), encoding="utf-8") as handle:
        results = dict((r["name"], r) for r in json.load(handle)["results"])
    assert results["bookinfo: productpage answers through the ingress gateway"]["status"] == "skipped"
    for name in ("bookinfo: the six Bookinfo Deployments are Available",
                 "bookinfo: every running Bookinfo pod has the istio-proxy sidecar",
                 "bookinfo: the traffic model's Gateway, DestinationRules and VirtualServices exist"):
        assert results[name]["status"] == "passed", results[name]
    assert result.rc == 0, result.tail()
