"""The verify role's traffic area on the lab's data plane: routes checked on real gRPC calls.

Bookinfo (the lab fixture) runs in its own injection-labelled namespace ``trafbook``; the lab runs
its pods as proxyless gRPC workloads. Each scenario applies its VirtualServices and
DestinationRules directly (tls ISTIO_MUTUAL, so the calls use mTLS whether the mesh is PERMISSIVE
or STRICT), runs the verify role's traffic area and reads verify.json, then removes (or changes) the
object that makes the scenario true and shows that the same expectations, probed again, fail.
"""

# pylint: disable=redefined-outer-name,unused-argument
import copy
import json
import os
import subprocess
import sys
import time

import pytest
import yaml
from lab_helpers import has_proxy, running_pods, wait_for  # pylint: disable=import-error

from ansible_collections.meshops.istio.plugins.module_utils.probe import result as probe_result
from ansible_collections.meshops.istio.plugins.module_utils.probe import routes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "lab", "fixtures", "samples")
NS = "trafbook"
NET = "networking.istio.io/v1"
JASON = [{"headers": {"end-user": {"exact": "jason"}}}]
# Seconds for istiod to push a routing change to the proxyless clients (its debounce is 100 ms).
PUSH = 3


# --------------------------------------------------------------------------- objects
def destination_rule(service, versions):
    return {"apiVersion": NET, "kind": "DestinationRule", "metadata": {"name": "destrule-" + service, "namespace": NS},
            "spec": {"host": service, "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
                     "subsets": [{"name": v, "labels": {"version": v}} for v in versions]}}


def to(service, subset, weight=None):
    entry = {"destination": {"host": service, "subset": subset}}
    if weight is not None:
        entry["weight"] = weight
    return entry


def virtual_service(service, http):
    return {"apiVersion": NET, "kind": "VirtualService", "metadata": {"name": "vsvc-" + service, "namespace": NS},
            "spec": {"hosts": [service], "http": http}}


DESTINATION_RULES = [destination_rule("reviews", ["v1", "v2", "v3"]), destination_rule("ratings", ["v1"]),
                     destination_rule("details", ["v1"])]
ALL_V1 = {s: [{"route": [to(s, "v1")]}] for s in ("reviews", "ratings", "details")}
JASON_V2 = [{"name": "jason", "match": JASON, "route": [to("reviews", "v2")]}, {"route": [to("reviews", "v1")]}]
SPLIT_80_20 = [{"route": [to("reviews", "v1", 80), to("reviews", "v2", 20)]}]
RATINGS_DELAY = [{"name": "jason-delay", "match": JASON, "route": [to("ratings", "v1")],
                  "fault": {"delay": {"fixedDelay": "7s", "percentage": {"value": 100}}}},
                 {"route": [to("ratings", "v1")]}]
RATINGS_ABORT = [{"name": "jason-abort", "match": JASON, "route": [to("ratings", "v1")],
                  "fault": {"abort": {"httpStatus": 500, "percentage": {"value": 100}}}},
                 {"route": [to("ratings", "v1")]}]


def load_docs(path):
    with open(path, encoding="utf-8") as handle:
        return [d for d in yaml.safe_load_all(handle) if d]


def apply(kube, obj):
    """Create or replace an object."""
    obj = copy.deepcopy(obj)
    resource = kube.resource(obj["apiVersion"], obj["kind"])
    live = kube.get(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], NS if resource.namespaced else None)
    if live is None:
        resource.create(body=obj, namespace=NS if resource.namespaced else None)
    else:
        obj["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        resource.replace(body=obj, namespace=NS if resource.namespaced else None)


def delete(kube, kind, name):
    if kube.get(NET, kind, name, NS) is not None:
        kube.resource(NET, kind).delete(name=name, namespace=NS)


def routing(kube, **http):
    """Exactly these VirtualServices (service -> http routes) and the DestinationRules in NS."""
    for obj in DESTINATION_RULES:
        apply(kube, obj)
    for vs in kube.list(NET, "VirtualService", namespace=NS):
        if vs["metadata"]["name"] not in ["vsvc-" + s for s in http]:
            delete(kube, "VirtualService", vs["metadata"]["name"])
    for service, routes_ in http.items():
        apply(kube, virtual_service(service, routes_))
    time.sleep(PUSH)


# --------------------------------------------------------------------------- probing
def probe_command(lab):
    return [sys.executable, os.path.join(ROOT, "lab", "lab.py"), "probe", "--name", lab.name]


def plan_now(kube, count=100, single_count=10):
    """The expectations of the objects in NS now (what the traffic area derives)."""
    services = kube.list("v1", "Service", namespace=NS)
    return routes.plan(kube.list(NET, "VirtualService", namespace=NS), kube.list(NET, "DestinationRule", namespace=NS),
                       services, {"reviews": NS + "/productpage", "details": NS + "/productpage", "ratings": NS + "/reviews/v2"},
                       count=count, single_count=single_count)


def observe_now(lab, planned):
    """Probe a plan's requests now and judge its checks: {check name: (status, detail)}."""
    specs = [probe_result.batch_spec(p) for p in planned["probes"]]
    proc = subprocess.run(probe_command(lab) + ["--batch"], input=json.dumps(specs), text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=ROOT, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    observed = routes.observe(planned, probe_result.parse_output(proc.stdout, batch=True))
    return dict((c["name"], (c["status"], c["detail"])) for c in observed)


def verify(playbook, lab, check=False, **extra):
    """Run the verify role's traffic area on NS; (result, {check name: (status, detail)} of verify.json)."""
    variables = {"verify_areas": ["traffic"], "verify_bookinfo_namespace": NS, "verify_data_plane": True,
                 "verify_probe_command": probe_command(lab)}
    variables.update(extra)
    path = os.path.join(lab.output_dir, "verify.json")
    if os.path.exists(path):
        os.unlink(path)
    result = playbook("playbooks/verify.yml", extra_vars=variables, check=check)
    checks = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            checks = dict((r["name"], (r["status"], r["detail"])) for r in json.load(handle)["results"])
    return result, checks


def names(checks, status=None):
    return sorted(n for n, (s, _detail) in checks.items() if status is None or s == status)


# --------------------------------------------------------------------------- fixture
@pytest.fixture(scope="module")
def bookinfo(istio, kube, lab):
    """Bookinfo with sidecars in NS, running in the lab's data plane and answering mesh calls."""
    if kube.get("v1", "Namespace", NS) is None:
        kube.resource("v1", "Namespace").create(body={"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": NS, "labels": {"istio-injection": "enabled"}}})
    for doc in load_docs(os.path.join(FIXTURES, "bookinfo", "platform", "kube", "bookinfo.yaml")):
        resource = kube.resource(doc["apiVersion"], doc["kind"])
        if kube.get(doc["apiVersion"], doc["kind"], doc["metadata"]["name"], NS) is None:
            resource.create(body=doc, namespace=NS)
    wait_for(lambda: len([p for p in running_pods(kube, NS, "app in (productpage,details,ratings,reviews)") if has_proxy(p)]) == 6,
             "six Bookinfo pods with istio-proxy")
    routing(kube, **ALL_V1)

    def answered():
        planned = plan_now(kube, count=10)
        return all(status == "passed" for status, _detail in observe_now(lab, planned).values())
    wait_for(answered, "the Bookinfo data plane to answer every all-v1 route", timeout=240)
    return NS


# --------------------------------------------------------------------------- scenarios
def test_all_v1_every_route_answered_by_v1(playbook, lab, kube, bookinfo):
    routing(kube, **ALL_V1)
    result, checks = verify(playbook, lab)
    assert result.rc == 0, result.tail()
    assert names(checks) == ["traffic: vsvc-details route #0 (no headers): answered by v1",
                             "traffic: vsvc-ratings route #0 (no headers): answered by v1",
                             "traffic: vsvc-reviews route #0 (no headers): answered by v1"]
    assert all(status == "passed" for status, _detail in checks.values()), checks
    assert checks["traffic: vsvc-reviews route #0 (no headers): answered by v1"][1] == "v1 10/10 (expected every answer from v1)"
    # Without vsvc-reviews, reviews answers from v1, v2 and v3 (those the client has connected to, in
    # turn): the same expectation, probed with more calls, fails.
    planned = plan_now(kube, single_count=30)
    delete(kube, "VirtualService", "vsvc-reviews")
    time.sleep(PUSH)
    status, detail = observe_now(lab, planned)["traffic: vsvc-reviews route #0 (no headers): answered by v1"]
    assert status == "failed" and ("observed v2" in detail or "observed v3" in detail or ", v2" in detail or ", v3" in detail), detail


def test_jason_gets_v2_and_the_others_v1(playbook, lab, kube, bookinfo):
    routing(kube, reviews=JASON_V2)
    result, checks = verify(playbook, lab)
    assert result.rc == 0, result.tail()
    assert checks["traffic: vsvc-reviews route jason (end-user=jason): answered by v2"] == \
        ("passed", "v2 10/10 (expected every answer from v2)")
    assert checks["traffic: vsvc-reviews route #1 (no headers): answered by v1"][0] == "passed"
    # Without the header route, jason gets v1.
    planned = plan_now(kube)
    routing(kube, reviews=ALL_V1["reviews"])
    status, detail = observe_now(lab, planned)["traffic: vsvc-reviews route jason (end-user=jason): answered by v2"]
    assert (status, detail) == ("failed", "v2 0/10 (expected every answer from v2; observed v1 10)")


def test_weighted_80_20_within_the_tolerance_and_not_without_the_virtual_service(playbook, lab, kube, bookinfo):
    routing(kube, reviews=SPLIT_80_20)
    result, checks = verify(playbook, lab)
    assert result.rc == 0, result.tail()
    status, detail = checks["traffic: vsvc-reviews route #0 (no headers): split v1 80% / v2 20%"]
    assert status == "passed", detail
    assert "v1: expected 80.0 ± 13.2 of 100 (weight 80%), observed" in detail
    assert "v2: expected 20.0 ± 13.2 of 100 (weight 20%), observed" in detail
    # Deleted: round robin over v1, v2 and v3 is not 80/20.
    planned = plan_now(kube)
    delete(kube, "VirtualService", "vsvc-reviews")
    time.sleep(PUSH)
    status, detail = observe_now(lab, planned)["traffic: vsvc-reviews route #0 (no headers): split v1 80% / v2 20%"]
    assert status == "failed", detail


def verify_then_without_the_fault(playbook, lab, kube, ratings, name):
    """Verify with a ratings fault for jason (the run must pass), then judge the same plan's check
    `name` on calls sent once the fault is gone: (checks of the run, (status, detail) without it)."""
    routing(kube, reviews=JASON_V2, ratings=ratings)
    result, checks = verify(playbook, lab)
    assert result.rc == 0, result.tail()
    planned = plan_now(kube)
    routing(kube, reviews=JASON_V2, ratings=ALL_V1["ratings"])
    return checks, observe_now(lab, planned)[name]


def test_ratings_delay_for_jason_is_measured(playbook, lab, kube, bookinfo):
    name = "traffic: vsvc-ratings route jason-delay (end-user=jason): fault delay 7s at 100%"
    checks, (status, detail) = verify_then_without_the_fault(playbook, lab, kube, RATINGS_DELAY, name)
    assert checks[name][0] == "passed" and checks[name][1].startswith("every call >= 7000 ms and < 9000 ms: min 7"), checks[name]
    assert checks["traffic: vsvc-ratings route #1 (no headers): answered by v1"][0] == "passed"
    assert status == "failed" and "2 shorter" in detail, detail


def test_ratings_abort_for_jason_is_observed(playbook, lab, kube, bookinfo):
    name = "traffic: vsvc-ratings route jason-abort (end-user=jason): fault abort HTTP 500 at 100% (gRPC Unknown)"
    checks, (status, detail) = verify_then_without_the_fault(playbook, lab, kube, RATINGS_ABORT, name)
    assert checks[name][0] == "passed" and checks[name][1].startswith("Unknown 10/10"), checks[name]
    assert checks["traffic: vsvc-ratings route jason-abort (end-user=jason): answered by v1"][0] == "skipped"
    assert status == "failed" and "OK 10" in detail, detail


def test_without_probe_command_and_in_check_mode_every_check_is_skipped_by_name(playbook, lab, kube, bookinfo):
    routing(kube, reviews=JASON_V2, **{k: v for k, v in ALL_V1.items() if k != "reviews"})
    result, checks = verify(playbook, lab, verify_probe_command=[], verify_skip_reason="no probe here")
    assert result.rc == 0, result.tail()
    assert len(checks) == 4 and set(s for s, _detail in checks.values()) == {"skipped"}
    assert set(d for _status, d in checks.values()) == {"no probe here (verify_probe_command is empty: the route checks need a probe command)"}
    assert "SKIPPED (no probe here): traffic: vsvc-reviews route jason (end-user=jason): answered by v2" in " ".join(result.output.split())
    result, checks = verify(playbook, lab, check=True)
    assert result.rc == 0, result.tail()
    assert "SKIPPED (check mode): traffic: vsvc-reviews route jason (end-user=jason): answered by v2" in " ".join(result.output.split())
