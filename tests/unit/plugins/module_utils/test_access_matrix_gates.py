"""Gates and lockout guards: each one tripped, and each one passed."""

from ansible_collections.meshops.istio.plugins.module_utils.access import gates as ag, identity as aid, plaintext as apt, report as ar, workloads as aw

from test_access_matrix import authz, bookinfo, peer_auth, pod, principal, service  # pylint: disable=import-error

STRICT = [peer_auth("default", "default", "STRICT")]
ALLOW_NOTHING = [authz("allow-nothing", "default")]


def change(current, proposed=(), removed=()):
    before = aw.build_index(current)
    after = aw.build_index(aw.overlay(current, list(proposed), list(removed)))
    return before, after


# --------------------------------------------------------------------------- STRICT gate
def test_strict_gate_refuses_while_a_non_mesh_pod_calls_in_and_names_it():
    result = ag.strict_gate(*change(bookinfo(), STRICT))
    assert not result["passed"]
    assert result["callers"] == ["test/netpod"]
    assert len(result["refusals"]) == 6  # four Services, reviews has three workloads
    assert all(r.startswith("test/netpod -> ") and ": reset (" in r for r in result["refusals"])
    assert any(r.startswith("test/netpod -> ratings.default:9080 [default/ratings-v1:9080]") for r in result["refusals"])


def test_strict_gate_passes_once_the_pod_is_gone():
    objs = [o for o in bookinfo() if o["metadata"]["name"] != "netpod"]
    result = ag.strict_gate(*change(objs, STRICT))
    assert result["passed"] and result["callers"] == [] and result["refusals"] == []
    # a terminating pod is gone too
    leaving = bookinfo()
    for o in leaving:
        if o["metadata"]["name"] == "netpod":
            o["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert ag.strict_gate(*change(leaving, STRICT))["passed"]


def test_strict_gate_with_explicit_clients_and_excluded_namespaces():
    objs = bookinfo() + [pod("scraper", "monitoring", {"app": "scraper"}, sidecar=False)]
    result = ag.strict_gate(*change(objs, STRICT), clients=[{"namespace": "monitoring", "name": "scraper"}])
    assert result["callers"] == ["monitoring/scraper"] and not result["passed"]
    result = ag.strict_gate(*change(objs, STRICT), exclude_namespaces=["test", "monitoring"])
    assert result["passed"] and result["callers"] == []
    # a listed client that does not exist calls nothing
    assert ag.strict_gate(*change(bookinfo(), STRICT), clients=[{"namespace": "test", "name": "gone"}])["passed"]


def test_strict_gate_ignores_already_reset_callers_and_port_exceptions():
    # already STRICT before: nothing new is lost
    result = ag.strict_gate(*change(bookinfo() + STRICT, STRICT))
    assert result["passed"] and result["notes"]
    # a workload-level port exception keeps ratings reachable on 9080
    exception = peer_auth("ratings", "default", "STRICT", {"app": "ratings"}, {9080: "PERMISSIVE"})
    result = ag.strict_gate(*change(bookinfo(), STRICT + [exception]))
    assert not any("ratings" in r for r in result["refusals"])


def test_newly_strict_scope_for_the_prometheus_query():
    before, after = change(bookinfo(), [peer_auth("r", "default", "STRICT", {"app": "ratings"})])
    assert [w["id"] for w in apt.newly_strict(before, after)] == ["default/ratings-v1"]
    assert apt.newly_strict(*change(bookinfo() + STRICT, STRICT)) == []


# --------------------------------------------------------------------------- Prometheus
def test_plaintext_query_and_offenders():
    query = apt.plaintext_query(["default"], ["ratings-v1"], "15m")
    assert 'reporter="destination",connection_security_policy!="mutual_tls"' in query
    assert 'destination_workload_namespace=~"default"' in query and 'destination_workload=~"ratings-v1"' in query
    assert query.endswith("[15m])) > 0")
    # PromQL strings take Go escapes: a regex dot is written \\. in the query text
    assert 'destination_workload=~"a\\\\.b|c"' in apt.plaintext_query(None, ["c", "a.b"])
    try:
        apt.plaintext_query(["Bad\"name"])
    except ValueError:
        pass
    else:
        raise AssertionError("a name that could break the query must be refused")
    response = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"source_workload": "unknown", "source_workload_namespace": "unknown",
                    "destination_workload": "ratings-v1", "destination_workload_namespace": "default"},
         "value": [1767225600, "42"]}]}}
    gate = apt.prometheus_gate(response)
    assert not gate["passed"]
    assert gate["refusals"] == ["unknown/unknown -> default/ratings-v1: 42 plaintext requests"]
    assert apt.prometheus_gate({"status": "success", "data": {"result": []}})["passed"]
    assert apt.prometheus_gate(None)["skipped"]


def test_prometheus_errors_are_not_a_pass():
    try:
        apt.prometheus_gate({"status": "error", "error": "parse error"})
    except ValueError as exc:
        assert "parse error" in str(exc)
    else:
        raise AssertionError("an error answer must not pass the gate")


# --------------------------------------------------------------------------- required flows
VIEWERS = [authz("%s-viewer" % app, "default", {"app": app}, "ALLOW",
                 [{"from": [{"source": {"principals": [principal("default", "bookinfo-productpage")]}}],
                   "to": [{"operation": {"methods": ["GET"]}}]}]) for app in ("details", "reviews")]
FLOWS = [{"name": "reviews read ratings", "from": {"namespace": "default", "labels": {"app": "reviews"}},
          "to": {"namespace": "default", "service": "ratings"}, "method": "GET", "path": "/ratings/0"},
         {"name": "productpage reads details", "from": {"namespace": "default", "labels": {"app": "productpage"}},
          "to": {"namespace": "default", "service": "details"}, "method": "GET", "path": "/details/0"}]


def test_required_flows_refuse_a_missing_ratings_viewer():
    _before, after = change(bookinfo() + STRICT, ALLOW_NOTHING + VIEWERS)
    result = ag.required_flows_gate(after, FLOWS)
    assert result["checked"] == 4 and len(result["refusals"]) == 3
    assert result["refusals"][0].startswith("reviews read ratings (default/reviews-v1 -> default/ratings-v1:9080 GET /ratings/0): deny")


def test_required_flows_pass_with_the_ratings_viewer_and_skip_missing_workloads():
    ratings = authz("ratings-viewer", "default", {"app": "ratings"}, "ALLOW",
                    [{"from": [{"source": {"principals": [principal("default", "bookinfo-reviews")]}}]}])
    _before, after = change(bookinfo() + STRICT, ALLOW_NOTHING + VIEWERS + [ratings])
    flows = FLOWS + [{"from": {"namespace": "shop", "name": "cart"}, "to": {"namespace": "shop", "service": "orders"}}]
    result = ag.required_flows_gate(after, flows)
    assert result["passed"] and result["checked"] == 4
    assert result["notes"] == ["cart -> orders: skipped, source workload not found"]


# --------------------------------------------------------------------------- ingress guard
def gateway_objects():
    gw_pod = pod("istio-ingressgateway-1", "istio-system", {"istio": "ingressgateway", "app": "istio-ingressgateway"},
                 "istio-ingressgateway-service-account", deployment="istio-ingressgateway", ports=(8080,))
    gateway = {"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
               "metadata": {"name": "bookinfo-gateway", "namespace": "default"},
               "spec": {"selector": {"istio": "ingressgateway"},
                        "servers": [{"port": {"number": 8080, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}}
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "bookinfo", "namespace": "default"},
          "spec": {"hosts": ["*"], "gateways": ["bookinfo-gateway"], "http": [
              {"match": [{"uri": {"exact": "/productpage"}}, {"uri": {"prefix": "/static"}}],
               "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]}]}}
    return [gw_pod, gateway, vs]


def test_ingress_guard_trips_on_allow_nothing():
    result = ag.ingress_guard(*change(bookinfo() + gateway_objects() + STRICT, ALLOW_NOTHING))
    assert not result["passed"] and result["checked"] == 2
    assert result["refusals"][0].startswith(
        "VirtualService default/bookinfo via Gateway default/bookinfo-gateway: istio-system/istio-ingressgateway -> "
        "productpage.default:9080 GET /productpage [default/productpage-v1:9080]: deny")


def test_ingress_guard_passes_with_the_productpage_viewer():
    viewer = authz("productpage-viewer", "default", {"app": "productpage"}, "ALLOW", [{"to": [{"operation": {"methods": ["GET"]}}]}])
    result = ag.ingress_guard(*change(bookinfo() + gateway_objects() + STRICT, ALLOW_NOTHING + [viewer]))
    assert result["passed"] and result["checked"] == 2


def test_ingress_guard_uses_a_stand_in_gateway_when_its_pods_are_not_found():
    objs = [o for o in bookinfo() + gateway_objects() if o["kind"] != "Pod" or o["metadata"]["namespace"] != "istio-system"]
    result = ag.ingress_guard(*change(objs, ALLOW_NOTHING))
    assert "istio-system/gateway-for-bookinfo-gateway" in result["refusals"][0]


# --------------------------------------------------------------------------- probe guard
def probed(annotations=None, port=9080):
    p = pod("health-1", "default", {"app": "health"}, deployment="health", ports=(9080,), annotations=annotations,
            probes={"readinessProbe": {"httpGet": {"path": "/ready", "port": port}},
                    "livenessProbe": {"exec": {"command": ["true"]}}})
    return bookinfo() + [p, service("health")]


def test_probe_guard_trips_on_strict_for_probes_not_rewritten():
    result = ag.probe_guard(*change(probed({"sidecar.istio.io/rewriteAppHTTPProbers": "false"}), STRICT))
    assert not result["passed"] and result["checked"] == 1
    assert result["refusals"] == ["default/health container health readinessProbe GET :9080/ready (not rewritten to the "
                                  "sidecar): reset (plaintext client refused by STRICT mTLS (default/default): connection reset)"]


def test_probe_guard_trips_on_allow_nothing_too():
    result = ag.probe_guard(*change(probed(), ALLOW_NOTHING))
    assert not result["passed"] and ": deny (" in result["refusals"][0]


def test_probe_guard_passes_for_rewritten_probes():
    # injection rewrote the probe to the sidecar's port 15020
    result = ag.probe_guard(*change(probed(port=15020), STRICT + ALLOW_NOTHING))
    assert result["passed"] and result["checked"] == 0


def test_probe_guard_passes_when_a_rule_lets_the_kubelet_in():
    kubelet_ok = [peer_auth("health", "default", "STRICT", {"app": "health"}, {9080: "PERMISSIVE"})]
    result = ag.probe_guard(*change(probed(), STRICT + kubelet_ok))
    assert result["passed"] and result["checked"] == 1


# --------------------------------------------------------------------------- scrape guard
def scraped(port):
    p = pod("metrics-1", "default", {"app": "metrics"}, deployment="metrics", ports=(9080,),
            annotations={"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": "/metrics"})
    prom = pod("prometheus-1", "istio-system", {"app.kubernetes.io/name": "prometheus"}, "prometheus", sidecar=False,
               deployment="prometheus")
    return bookinfo() + [p, prom]


def test_scrape_guard_trips_when_prometheus_scrapes_an_app_port_under_strict():
    result = ag.scrape_guard(*change(scraped(9080), STRICT))
    assert not result["passed"]
    assert result["refusals"][0].startswith("istio-system/prometheus scrapes default/metrics :9080/metrics (metrics not merged on 15020): reset")


def test_scrape_guard_passes_for_merged_metrics():
    result = ag.scrape_guard(*change(scraped(15020), STRICT + ALLOW_NOTHING))
    assert result["passed"] and result["checked"] == 0


def test_scrape_guard_passes_when_the_app_port_stays_open_to_prometheus():
    allow_scrape = [authz("allow-scrape", "default", {"app": "metrics"}, "ALLOW",
                          [{"to": [{"operation": {"paths": ["/metrics"], "methods": ["GET"]}}]}])]
    result = ag.scrape_guard(*change(scraped(9080), ALLOW_NOTHING + allow_scrape))
    assert result["passed"] and result["checked"] == 1


# --------------------------------------------------------------------------- identity guard
def test_identity_guard_trips_on_principals_where_mtls_is_disabled():
    disable = peer_auth("details-off", "default", "DISABLE", {"app": "details"})
    result = aid.identity_guard(aw.build_index(bookinfo() + [disable] + VIEWERS), VIEWERS)
    assert not result["passed"]
    assert result["refusals"] == ["default/details-viewer rules[0] uses principals but mTLS is DISABLE on "
                                  "default/details-v1 port 9080 (default/details-off): the rule can never match"]


def test_identity_guard_trips_on_a_workload_without_sidecar():
    objs = bookinfo() + [authz("n", "test", None, "ALLOW", [{"from": [{"source": {"namespaces": ["default"]}}]}])]
    result = aid.identity_guard(aw.build_index(objs))
    assert result["refusals"] == ["test/n rules[0] uses namespaces but test/netpod has no sidecar, so no mTLS tells who calls it"]


def test_identity_guard_passes_with_mtls_and_ignores_rules_without_identity():
    port_off = peer_auth("details-80", "default", "STRICT", {"app": "details"}, {80: "DISABLE"})
    limited = [authz("details-viewer", "default", {"app": "details"}, "ALLOW",
                     [{"from": [{"source": {"principals": [principal("default", "bookinfo-productpage")]}}],
                       "to": [{"operation": {"ports": ["9080"]}}]}])]
    result = aid.identity_guard(aw.build_index(bookinfo() + STRICT + [port_off] + limited + ALLOW_NOTHING))
    assert result["passed"] and result["checked"] == 1


def test_check_summary_lines():
    assert ar.check_summary({"name": "probes", "passed": True, "checked": 2, "refusals": [], "notes": []}) == "probes: PASSED (2 checked)"
    assert ar.check_summary({"name": "x", "passed": True, "checked": 0, "refusals": [], "skipped": "no URL"}) == "x: SKIPPED (no URL)"
    assert ar.check_summary({"name": "y", "passed": False, "checked": 3, "refusals": ["a"], "notes": ["n"]}) == \
        "y: REFUSED (3 checked, 1 refused; n)"


# --------------------------------------------------------------------------- verification helpers
def test_principals_check_names_missing_service_accounts():
    objs = bookinfo() + VIEWERS + [authz("ratings-viewer", "default", {"app": "ratings"}, "ALLOW", [
        {"from": [{"source": {"principals": [principal("default", "bookinfo-reviewz"), "cluster.local/ns/x/*"],
                              "serviceAccounts": ["default/bookinfo-reviews"]}}]}])]
    accounts = ["default/bookinfo-productpage", "default/bookinfo-reviews"]
    result = aid.principals_check(aw.build_index(objs), accounts)
    assert result["checked"] == 4
    assert result["refusals"] == ["default/ratings-viewer rules[0]: principal cluster.local/ns/default/sa/bookinfo-reviewz "
                                  "names ServiceAccount default/bookinfo-reviewz, which does not exist"]
    assert aid.principals_check(aw.build_index(bookinfo() + VIEWERS), accounts)["passed"]


def test_open_baseline_reports_lockouts_of_policies_already_in_place():
    objs = probed({"sidecar.istio.io/rewriteAppHTTPProbers": "false"}) + STRICT
    # compared with the cluster as it is, nothing changes: only a note
    same = aw.build_index(objs)
    assert ag.probe_guard(same, same)["passed"]
    # compared with the same cluster without policies, the STRICT policy is what breaks the probe
    result = ag.probe_guard(aw.build_index(aw.without_security_policies(objs)), same)
    assert not result["passed"] and "reset" in result["refusals"][0]
