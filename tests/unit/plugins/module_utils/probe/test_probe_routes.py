"""plugins/module_utils/probe/routes.py: expectations from VirtualServices and DestinationRules, judged on calls."""

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.probe import routes

NS = "bookinfo"
CALLERS = {"reviews": "bookinfo/productpage", "ratings": "bookinfo/reviews/v2", "details": "productpage"}
JASON = [{"headers": {"end-user": {"exact": "jason"}}}]


def vs(name, host, http, gateways=None):
    spec = {"hosts": [host], "http": http}
    if gateways is not None:
        spec["gateways"] = gateways
    return {"metadata": {"name": name, "namespace": NS}, "spec": spec}


def dest(subset, weight=None, host="reviews"):
    entry = {"destination": {"host": host, "subset": subset}}
    if weight is not None:
        entry["weight"] = weight
    return entry


def dr(host, *versions):
    return {"metadata": {"name": "destrule-" + host, "namespace": NS},
            "spec": {"host": host, "subsets": [{"name": v, "labels": {"version": v}} for v in versions]}}


DRS = [dr("reviews", "v1", "v2", "v3"), dr("ratings", "v1", "v2"), dr("details", "v1", "v2")]
SERVICES = [{"metadata": {"name": n, "namespace": NS}, "spec": {"ports": [{"name": "http", "port": 9080}]}}
            for n in ("productpage", "reviews", "ratings", "details")]


def plan(*virtual_services, **kwargs):
    return routes.plan(list(virtual_services), DRS, SERVICES, kwargs.pop("callers", CALLERS), **kwargs)


def calls(*spec):
    """calls(("OK", "v1", 2.0, 5), ...) -> 5 calls answered by v1 in 2 ms each."""
    out = []
    for code, version, ms, n in spec:
        for _call in range(n):
            out.append({"i": len(out), "code": code, "version": version if code == "OK" else "", "ms": ms,
                        "error": "" if code == "OK" else "rpc error: %s" % code})
    return {"calls": out}


def by_name(checks):
    return dict((c["name"], c) for c in checks)


@pytest.mark.parametrize("status, code", [(400, "Internal"), (401, "Unauthenticated"), (403, "PermissionDenied"),
                                          (404, "Unimplemented"), (429, "Unavailable"), (502, "Unavailable"),
                                          (503, "Unavailable"), (504, "Unavailable"), (500, "Unknown"), (418, "Unknown")])
def test_http_status_to_grpc_code(status, code):
    assert routes.grpc_code_for_http(status) == code


@pytest.mark.parametrize("name, code", [("UNAVAILABLE", "Unavailable"), ("DEADLINE_EXCEEDED", "DeadlineExceeded"),
                                        ("CANCELLED", "Canceled"), ("permission_denied", "PermissionDenied")])
def test_grpc_status_names(name, code):
    assert routes.grpc_code_name(name) == code


@pytest.mark.parametrize("text, value", [("7s", 7.0), ("500ms", 0.5), ("1.5s", 1.5), ("1m", 60.0), (3, 3.0), ("soon", None), (None, None)])
def test_seconds(text, value):
    assert routes.seconds(text) == value


@pytest.mark.parametrize("host, expected", [
    ("reviews", "reviews.bookinfo.svc.cluster.local"), ("reviews.other", "reviews.other.svc.cluster.local"),
    ("reviews.other.svc", "reviews.other.svc.cluster.local"), ("reviews.other.svc.cluster.local", "reviews.other.svc.cluster.local"),
    ("*", None), ("shop.example.com", None)])
def test_fqdn(host, expected):
    assert routes.fqdn(host, NS) == expected


def test_all_v1_one_probe_per_service_from_the_real_callers():
    planned = plan(vs("vsvc-reviews", "reviews", [{"route": [dest("v1")]}]),
                   vs("vsvc-ratings", "ratings", [{"route": [dest("v1", host="ratings")]}]),
                   vs("vsvc-details", "details", [{"route": [dest("v1", host="details")]}]),
                   vs("vsvc-productpage", "*", [{"route": [dest("v1", host="productpage")]}], gateways=["bookinfo-gateway"]))
    assert [p["source"] for p in planned["probes"]] == ["bookinfo/productpage", "bookinfo/reviews/v2", "bookinfo/productpage"]
    assert [p["to"] for p in planned["probes"]] == ["details.bookinfo.svc.cluster.local:9080", "ratings.bookinfo.svc.cluster.local:9080",
                                                    "reviews.bookinfo.svc.cluster.local:9080"]
    assert all(p["count"] == 10 and p["headers"] == {} for p in planned["probes"])
    names = [c["name"] for c in planned["checks"]]
    assert names == ["traffic: vsvc-details route #0 (no headers): answered by v1",
                     "traffic: vsvc-ratings route #0 (no headers): answered by v1",
                     "traffic: vsvc-reviews route #0 (no headers): answered by v1"]
    observed = routes.observe(planned, [calls(("OK", "v1", 2.0, 10))] * 3)
    assert [c["status"] for c in observed] == ["passed"] * 3
    assert observed[2]["detail"] == "v1 10/10 (expected every answer from v1)"
    assert observed[2]["observed"]["versions"] == {"v1": 10}
    # One v2 answer among them fails the route and says what answered.
    observed = routes.observe(planned, [calls(("OK", "v1", 2.0, 9), ("OK", "v2", 2.0, 1))] * 3)
    assert observed[0]["status"] == "failed" and "observed v1 9, v2 1" in observed[0]["detail"]


def test_jason_to_v2_and_the_default_route():
    planned = plan(vs("vsvc-reviews", "reviews", [{"name": "jason", "match": JASON, "route": [dest("v2")]}, {"route": [dest("v1")]}]))
    jason, default = planned["probes"]
    assert jason["headers"] == {"end-user": "jason"} and default["headers"] == {}
    checks = by_name(routes.observe(planned, [calls(("OK", "v2", 3.0, 10)), calls(("OK", "v1", 3.0, 10))]))
    assert checks["traffic: vsvc-reviews route jason (end-user=jason): answered by v2"]["status"] == "passed"
    assert checks["traffic: vsvc-reviews route #1 (no headers): answered by v1"]["status"] == "passed"
    # Without the VirtualService's header route, jason gets v1: the check fails.
    checks = routes.observe(planned, [calls(("OK", "v1", 3.0, 10)), calls(("OK", "v1", 3.0, 10))])
    assert checks[0]["status"] == "failed" and checks[0]["detail"] == "v2 0/10 (expected every answer from v2; observed v1 10)"


def test_weighted_split_within_the_binomial_tolerance():
    planned = plan(vs("vsvc-reviews", "reviews", [{"route": [dest("v1", 80), dest("v2", 20)]}]), count=100)
    assert planned["probes"][0]["count"] == 100
    check = planned["checks"][0]
    assert check["name"] == "traffic: vsvc-reviews route #0 (no headers): split v1 80% / v2 20%"
    assert check["expected"]["versions"] == {"v1": 0.8, "v2": 0.2}
    passed = routes.observe(planned, [calls(("OK", "v1", 2.0, 85), ("OK", "v2", 2.0, 15))])[0]
    assert passed["status"] == "passed"
    assert passed["detail"].startswith("v1: expected 80.0 ± 13.2 of 100 (weight 80%), observed 85; v2: expected 20.0 ± 13.2")
    # Round robin over v1/v2/v3 (the VirtualService deleted) is not 80/20.
    failed = routes.observe(planned, [calls(("OK", "v1", 2.0, 34), ("OK", "v2", 2.0, 33), ("OK", "v3", 2.0, 33))])[0]
    assert failed["status"] == "failed" and "v3: expected 0.0 ± 0.0 of 100 (weight 0%), observed 33" in failed["detail"]


def test_ratings_delay_for_jason():
    http = [{"name": "jason-delay", "match": JASON, "route": [dest("v1", host="ratings")],
             "fault": {"delay": {"fixedDelay": "7s", "percentage": {"value": 100}}}},
            {"route": [dest("v1", host="ratings")]}]
    planned = plan(vs("vsvc-ratings", "ratings", http), delay_count=2)
    probe = planned["probes"][0]
    assert probe["count"] == 2 and probe["timeout"] == 10.0 and probe["source"] == "bookinfo/reviews/v2"
    name = "traffic: vsvc-ratings route jason-delay (end-user=jason): fault delay 7s at 100%"
    ok = by_name(routes.observe(planned, [calls(("OK", "v1", 7004.2, 2)), calls(("OK", "v1", 2.0, 10))]))
    assert ok[name]["status"] == "passed" and "min 7004.2" in ok[name]["detail"]
    fast = by_name(routes.observe(planned, [calls(("OK", "v1", 3.0, 2)), calls(("OK", "v1", 2.0, 10))]))
    assert fast[name]["status"] == "failed" and "2 shorter" in fast[name]["detail"]
    slow = by_name(routes.observe(planned, [calls(("OK", "v1", 9500.0, 2)), calls(("OK", "v1", 2.0, 10))]))
    assert slow[name]["status"] == "failed" and "2 longer" in slow[name]["detail"]


def test_abort_maps_the_http_status():
    http = [{"name": "jason-abort", "match": JASON, "route": [dest("v1", host="ratings")],
             "fault": {"abort": {"httpStatus": 500, "percentage": {"value": 100}}}},
            {"route": [dest("v1", host="ratings")]}]
    planned = plan(vs("vsvc-ratings", "ratings", http))
    checks = by_name(routes.observe(planned, [calls(("Unknown", "", 2.0, 10)), calls(("OK", "v1", 2.0, 10))]))
    abort = checks["traffic: vsvc-ratings route jason-abort (end-user=jason): fault abort HTTP 500 at 100% (gRPC Unknown)"]
    assert abort["status"] == "passed" and abort["detail"].startswith("Unknown 10/10")
    dests = checks["traffic: vsvc-ratings route jason-abort (end-user=jason): answered by v1"]
    assert dests["status"] == "skipped" and "abort answers every call" in dests["detail"]
    # No abort in place: the calls are answered and the abort check fails.
    checks = by_name(routes.observe(planned, [calls(("OK", "v1", 2.0, 10)), calls(("OK", "v1", 2.0, 10))]))
    abort = checks["traffic: vsvc-ratings route jason-abort (end-user=jason): fault abort HTTP 500 at 100% (gRPC Unknown)"]
    assert (abort["status"], abort["detail"]) == ("failed", "Unknown 0/10 (expected every call aborted with Unknown; codes OK 10)")


def test_partial_abort_uses_the_binomial_tolerance():
    http = [{"route": [dest("v1")], "fault": {"abort": {"grpcStatus": "UNAVAILABLE", "percentage": {"value": 50}}}}]
    planned = plan(vs("vsvc-reviews", "reviews", http), single_count=100)
    checks = routes.observe(planned, [calls(("Unavailable", "", 1.0, 45), ("OK", "v1", 1.0, 55))])
    assert [c["status"] for c in checks] == ["passed", "passed"]
    assert "Unavailable: expected 50.0 ± 16.5 of 100, observed 45" in checks[1]["detail"]


def test_timeout_observed_only_with_a_longer_delay():
    http = [{"name": "slow", "match": JASON, "route": [dest("v1", host="ratings")], "timeout": "1s",
             "fault": {"delay": {"fixedDelay": "3s"}}},
            {"route": [dest("v1", host="ratings")], "timeout": "2s"}]
    planned = plan(vs("vsvc-ratings", "ratings", http))
    checks = by_name(planned["checks"])
    assert checks["traffic: vsvc-ratings route slow (end-user=jason): fault delay 3s at 100%"]["status"] == "skipped"
    assert "observable only with a fault delay" in checks["traffic: vsvc-ratings route #1 (no headers): timeout 2s"]["detail"]
    observed = by_name(routes.observe(planned, [calls(("DeadlineExceeded", "", 1003.0, 2)), calls(("OK", "v1", 2.0, 10))]))
    assert observed["traffic: vsvc-ratings route slow (end-user=jason): timeout 1s"]["status"] == "passed"
    observed = by_name(routes.observe(planned, [calls(("OK", "v1", 3003.0, 2)), calls(("OK", "v1", 2.0, 10))]))
    assert observed["traffic: vsvc-ratings route slow (end-user=jason): timeout 1s"]["status"] == "failed"


def test_retries_are_reported_skipped():
    planned = plan(vs("vsvc-reviews", "reviews", [{"route": [dest("v1")], "retries": {"attempts": 3, "perTryTimeout": "2s"}}]))
    retries = [c for c in planned["checks"] if c["kind"] == "retries"][0]
    assert retries["name"] == "traffic: vsvc-reviews route #0 (no headers): retries 3 attempts"
    assert retries["status"] == "skipped" and retries["detail"] == routes.RETRIES_SKIP


def test_routes_the_probe_cannot_express_are_skipped_with_the_reason():
    http = [{"name": "get-only", "match": [{"method": {"exact": "GET"}}], "route": [dest("v3")]},
            {"name": "regex", "match": [{"headers": {"end-user": {"regex": "j.*"}}}], "route": [dest("v2")]},
            {"route": [dest("v1")]}]
    planned = plan(vs("vsvc-reviews", "reviews", http))
    checks = planned["checks"]
    assert checks[0]["status"] == "skipped" and "match on method cannot be sent" in checks[0]["detail"]
    assert checks[1]["status"] == "skipped" and "only exact and prefix header matches" in checks[1]["detail"]
    # The default route's request might be taken by the method route, which the probe cannot evaluate.
    assert checks[2]["status"] == "skipped" and "earlier route get-only matches on method" in checks[2]["detail"]
    assert planned["probes"] == []


def test_uri_matches_are_evaluated_against_the_grpc_path():
    http = [{"name": "api", "match": [{"uri": {"prefix": "/api"}}], "route": [dest("v3")]},
            {"name": "grpc", "match": [{"uri": {"prefix": "/proto.EchoTestService/"}}], "route": [dest("v2")]},
            {"route": [dest("v1")]}]
    checks = plan(vs("vsvc-reviews", "reviews", http))["checks"]
    assert checks[0]["status"] == "skipped" and "cannot match" in checks[0]["detail"]
    assert "probe" in checks[1]
    assert checks[2]["status"] == "skipped" and "taken by the earlier route grpc" in checks[2]["detail"]


def test_missing_caller_unknown_subset_and_gateway_only():
    planned = plan(vs("vsvc-reviews", "reviews", [{"route": [dest("v9")]}]),
                   vs("vsvc-ratings", "ratings", [{"route": [dest("v1", host="ratings")]}]), callers={"reviews": "bookinfo/productpage"})
    checks = by_name(planned["checks"])
    assert checks["traffic: vsvc-ratings route #0: answered by v1"]["detail"] == "no caller for ratings in verify_traffic_callers"
    assert "subset v9 of reviews.bookinfo.svc.cluster.local is defined by no DestinationRule" in \
        checks["traffic: vsvc-reviews route #0 (no headers): answered by v9"]["detail"]
    assert plan(vs("vsvc-pp", "*", [{"route": [dest("v1", host="productpage")]}], gateways=["gw"]))["checks"] == []
    # A VirtualService for the mesh and a gateway is checked.
    both = plan(vs("vsvc-reviews", "reviews", [{"route": [dest("v1")]}], gateways=["gw", "mesh"]))
    assert len(both["probes"]) == 1


def test_caller_without_namespace_is_taken_in_the_virtual_service_namespace():
    planned = plan(vs("vsvc-details", "details", [{"route": [dest("v1", host="details")]}]))
    assert planned["probes"][0]["source"] == "bookinfo/productpage"


def test_probe_errors_and_mismatched_results():
    planned = plan(vs("vsvc-reviews", "reviews", [{"route": [dest("v1")]}]))
    failed = routes.observe(planned, [{"calls": [], "error": "--from bookinfo/productpage: no running data-plane pod"}])[0]
    assert failed["status"] == "failed" and failed["detail"].startswith("not probed: --from bookinfo/productpage")
    with pytest.raises(ValueError, match="0 probe results for 1 probes"):
        routes.observe(planned, [])
    denied = routes.observe(planned, [calls(("PermissionDenied", "", 1.0, 10))])[0]
    assert denied["status"] == "failed" and "observed codes PermissionDenied 10 (rpc error: PermissionDenied)" in denied["detail"]
