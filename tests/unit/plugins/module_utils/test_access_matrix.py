"""Unit tests of the access-matrix evaluator: semantics one by one, on hand-written objects.

The object builders at the top are also used by test_access_matrix_bookinfo.py and
test_access_matrix_gates.py.
"""

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.access import authz as az, matrix as am, mtls as amt, report as ar, workloads as aw
from ansible_collections.meshops.istio.plugins.module_utils.kube import names

TD = "cluster.local"


# --------------------------------------------------------------------------- builders
def pod(name, namespace="default", labels=None, sa="default", sidecar=True, deployment=None, ip="127.64.0.10",
        ports=(9080,), annotations=None, probes=None, native_sidecar=False, phase="Running", deleting=False,
        created="2026-01-01T00:00:00Z"):
    labels = dict(labels or {})
    metadata = {"name": name, "namespace": namespace, "labels": labels, "creationTimestamp": created}
    if deployment:
        labels["pod-template-hash"] = "5d8f9c"
        metadata["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "controller": True,
                                        "name": "%s-5d8f9c" % deployment}]
    if annotations:
        metadata["annotations"] = dict(annotations)
    if deleting:
        metadata["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    app = {"name": name.split("-")[0], "image": "example/app:1", "ports": [{"containerPort": p} for p in ports]}
    app.update(probes or {})
    containers = [app]
    init = []
    if sidecar and native_sidecar:
        init.append({"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.31.0", "restartPolicy": "Always"})
    elif sidecar:
        containers.append({"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.31.0"})
    spec = {"serviceAccountName": sa, "containers": containers}
    if init:
        spec["initContainers"] = init
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec,
            "status": {"phase": phase, "podIP": ip, "hostIP": "127.0.0.1"}}


def service(name, namespace="default", selector=None, ports=None):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": selector if selector is not None else {"app": name},
                     "ports": ports or [{"name": "http", "port": 9080, "targetPort": 9080}]}}


def service_account(name, namespace="default"):
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}


def peer_auth(name, namespace, mode=None, selector=None, port_levels=None, created="2026-01-01T00:00:00Z"):
    spec = {}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    if mode:
        spec["mtls"] = {"mode": mode}
    if port_levels:
        spec["portLevelMtls"] = {str(k): {"mode": v} for k, v in port_levels.items()}
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created}, "spec": spec}


def authz(name, namespace, selector=None, action=None, rules=None, dry_run=False, target_refs=None, provider=None):
    spec = {}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    if target_refs:
        spec["targetRefs"] = target_refs
    if action:
        spec["action"] = action
    if provider:
        spec["provider"] = {"name": provider}
    if rules is not None:
        spec["rules"] = rules
    metadata = {"name": name, "namespace": namespace}
    if dry_run:
        metadata["annotations"] = {"istio.io/dry-run": "true"}
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": metadata, "spec": spec}


def principal(ns, sa):
    return "%s/ns/%s/sa/%s" % (TD, ns, sa)


def bookinfo(namespace="default"):
    """Bookinfo's Services, ServiceAccounts and injected pods, plus test/netpod without sidecar."""
    objs = []
    for i, (app, version, sa) in enumerate((
            ("productpage", "v1", "bookinfo-productpage"), ("details", "v1", "bookinfo-details"),
            ("ratings", "v1", "bookinfo-ratings"), ("reviews", "v1", "bookinfo-reviews"),
            ("reviews", "v2", "bookinfo-reviews"), ("reviews", "v3", "bookinfo-reviews"))):
        objs.append(pod("%s-%s-5d8f9c-x%d" % (app, version, i), namespace, {"app": app, "version": version}, sa,
                        deployment="%s-%s" % (app, version), ip="127.64.0.%d" % (10 + i)))
    for app in ("productpage", "details", "ratings", "reviews"):
        objs.append(service(app, namespace))
        objs.append(service_account("bookinfo-" + app, namespace))
    objs.append(pod("netpod", "test", {"app": "netpod"}, sidecar=False, ip="127.64.1.5"))
    return objs


def wl(idx, ident):
    for w in idx["workloads"]:
        if w["id"] == ident:
            return w
    raise AssertionError("no workload %s in %s" % (ident, [w["id"] for w in idx["workloads"]]))


def decide(objects, source, dest, port=9080, protocol="http", method="GET", path="/", **req):
    idx = aw.build_index(objects)
    request = {"method": method, "path": path}
    request.update(req)
    src = source if isinstance(source, dict) else wl(idx, source)
    return am.evaluate(idx, src, wl(idx, dest), port, protocol, request)


# --------------------------------------------------------------------------- workloads
def test_pods_group_into_deployments_with_sidecar_state():
    idx = aw.build_index(bookinfo())
    ids = [w["id"] for w in idx["workloads"]]
    assert ids == ["default/details-v1", "default/productpage-v1", "default/ratings-v1", "default/reviews-v1",
                   "default/reviews-v2", "default/reviews-v3", "test/netpod"]
    assert wl(idx, "default/productpage-v1")["service_account"] == "bookinfo-productpage"
    assert wl(idx, "default/productpage-v1")["sidecar"] is True
    assert wl(idx, "test/netpod")["sidecar"] is False
    assert "pod-template-hash" not in wl(idx, "default/details-v1")["labels"]


def test_native_sidecar_counts_and_finished_or_deleted_pods_do_not():
    objs = [pod("a", native_sidecar=True), pod("b", phase="Succeeded"), pod("c", deleting=True)]
    idx = aw.build_index(objs)
    assert [(w["id"], w["sidecar"]) for w in idx["workloads"]] == [("default/a", True)]


def test_overlay_replaces_adds_and_removes():
    base = [peer_auth("default", "default", "PERMISSIVE"), authz("old", "default")]
    out = aw.overlay(base, proposed=[peer_auth("default", "default", "STRICT"), authz("new", "default")],
                     removed=[{"kind": "AuthorizationPolicy", "namespace": "default", "name": "old"}])
    assert sorted(names.ref(o) for o in out) == [("AuthorizationPolicy", "default", "new"),
                                                 ("PeerAuthentication", "default", "default")]
    assert [o["spec"]["mtls"]["mode"] for o in out if o["kind"] == "PeerAuthentication"] == ["STRICT"]


# --------------------------------------------------------------------------- PeerAuthentication
@pytest.mark.parametrize("pas, expected", [
    ([], ("PERMISSIVE", "default")),
    ([peer_auth("default", "istio-system", "STRICT")], ("STRICT", "istio-system/default")),
    ([peer_auth("default", "istio-system", "STRICT"), peer_auth("ns", "default", "PERMISSIVE")],
     ("PERMISSIVE", "default/ns")),
    ([peer_auth("default", "istio-system", "STRICT"), peer_auth("ns", "default", "UNSET")],
     ("STRICT", "istio-system/default")),
    ([peer_auth("ns", "default", "STRICT"), peer_auth("wl", "default", "DISABLE", {"app": "ratings"})],
     ("DISABLE", "default/wl")),
    ([peer_auth("ns", "default", "STRICT"), peer_auth("wl", "default", "UNSET", {"app": "ratings"})],
     ("STRICT", "default/ns")),
    # a selector that matches nothing does not apply
    ([peer_auth("ns", "default", "STRICT"), peer_auth("wl", "default", "DISABLE", {"app": "details"})],
     ("STRICT", "default/ns")),
    # a workload policy of another namespace does not apply
    ([peer_auth("wl", "other", "DISABLE", {"app": "ratings"})], ("PERMISSIVE", "default")),
    # the oldest of two namespace-wide policies wins
    ([peer_auth("b-new", "default", "DISABLE", created="2026-02-01T00:00:00Z"),
      peer_auth("z-old", "default", "STRICT", created="2026-01-01T00:00:00Z")], ("STRICT", "default/z-old")),
])
def test_peer_authentication_precedence(pas, expected):
    idx = aw.build_index(bookinfo() + pas)
    assert amt.effective_mtls(idx, wl(idx, "default/ratings-v1"), 9080) == expected


def test_port_level_mtls_overrides_per_port_and_only_on_workload_policies():
    pas = [peer_auth("ns", "default", "STRICT"),
           peer_auth("ratings", "default", "STRICT", {"app": "ratings"}, {80: "DISABLE", 9080: "UNSET"}),
           # portLevelMtls on a namespace-wide policy is ignored by Istio
           peer_auth("ns2", "other", "STRICT", port_levels={80: "DISABLE"})]
    idx = aw.build_index(bookinfo() + pas + [pod("x-1", "other", {"app": "x"}, deployment="x")])
    ratings = wl(idx, "default/ratings-v1")
    assert amt.effective_mtls(idx, ratings, 80) == ("DISABLE", "default/ratings port 80")
    assert amt.effective_mtls(idx, ratings, 9080) == ("STRICT", "default/ratings")
    assert amt.effective_mtls(idx, wl(idx, "other/x"), 80) == ("STRICT", "other/ns2")


def test_plaintext_client_is_reset_by_strict_and_accepted_by_permissive():
    objs = bookinfo()
    assert decide(objs, "test/netpod", "default/ratings-v1")["decision"] == "allow"
    strict = objs + [peer_auth("default", "default", "STRICT")]
    res = decide(strict, "test/netpod", "default/ratings-v1")
    assert (res["decision"], res["policy"]) == ("reset", "default/default")
    assert "connection reset" in res["reason"]
    # a mesh client uses mTLS and is not reset
    res = decide(strict, "default/reviews-v1", "default/ratings-v1")
    assert (res["decision"], res["mtls"]) == ("allow", "mutual_tls")


def test_port_level_disable_lets_plaintext_in_on_that_port_only():
    objs = bookinfo() + [pod("web-1", "default", {"app": "web"}, deployment="web", ports=(80, 8080)),
                         peer_auth("default", "default", "STRICT"),
                         peer_auth("web", "default", "STRICT", {"app": "web"}, {80: "DISABLE"})]
    assert decide(objs, "test/netpod", "default/web", port=80)["decision"] == "allow"
    assert decide(objs, "test/netpod", "default/web", port=8080)["decision"] == "reset"
    # a mesh client talks plaintext to a DISABLE port (auto mTLS), so principals are unknown there
    assert decide(objs, "default/productpage-v1", "default/web", port=80)["mtls"] == "plaintext"


def test_destination_without_sidecar_enforces_nothing():
    objs = bookinfo() + [peer_auth("default", "istio-system", "STRICT"), authz("deny-all", "test", rules=[{}], action="DENY"),
                         service("netpod", "test")]
    res = decide(objs, "default/productpage-v1", "test/netpod")
    assert res["decision"] == "allow" and "no sidecar" in res["reason"]


# --------------------------------------------------------------------------- AuthorizationPolicy
def test_allow_nothing_denies_everything_and_names_itself():
    res = decide(bookinfo() + [authz("allow-nothing", "default")], "default/productpage-v1", "default/details-v1")
    assert (res["decision"], res["policy"]) == ("deny", "default/allow-nothing")


def test_no_allow_policy_means_allow():
    res = decide(bookinfo() + [authz("deny-post", "default", action="DENY", rules=[{"to": [{"operation": {"methods": ["POST"]}}]}])],
                 "default/productpage-v1", "default/details-v1")
    assert (res["decision"], res["reason"]) == ("allow", "no ALLOW policy applies")


def test_deny_is_evaluated_before_allow():
    objs = bookinfo() + [authz("allow-all", "default", action="ALLOW", rules=[{}]),
                         authz("deny-post", "default", action="DENY", rules=[{"to": [{"operation": {"methods": ["POST"]}}]}])]
    assert decide(objs, "default/productpage-v1", "default/details-v1", method="POST")["policy"] == "default/deny-post"
    assert decide(objs, "default/productpage-v1", "default/details-v1", method="POST")["decision"] == "deny"
    assert decide(objs, "default/productpage-v1", "default/details-v1", method="GET")["decision"] == "allow"


def test_deny_without_rules_denies_nothing_and_allow_with_empty_rule_allows_all():
    objs = bookinfo() + [authz("deny-none", "default", action="DENY"), authz("allow-nothing", "default"),
                         authz("allow-all", "default", action="ALLOW", rules=[{}])]
    res = decide(objs, "test/netpod", "default/details-v1", method="DELETE")
    assert (res["decision"], res["policy"]) == ("allow", "default/allow-all")


def test_custom_is_first_and_reported_as_custom():
    objs = bookinfo() + [authz("ext", "default", action="CUSTOM", provider="opa", rules=[{"to": [{"operation": {"paths": ["/admin*"]}}]}])]
    res = decide(objs, "default/productpage-v1", "default/details-v1", path="/admin/x")
    assert res["decision"] == "custom" and "opa" in res["reason"]
    assert decide(objs, "default/productpage-v1", "default/details-v1", path="/x")["decision"] == "allow"
    # a DENY still denies what CUSTOM would have let through
    objs.append(authz("deny-admin", "default", action="DENY", rules=[{"to": [{"operation": {"paths": ["/admin/*"]}}]}]))
    assert decide(objs, "default/productpage-v1", "default/details-v1", path="/admin/x")["decision"] == "deny"


def test_audit_never_decides():
    objs = bookinfo() + [authz("audit", "default", action="AUDIT", rules=[{}])]
    assert decide(objs, "default/productpage-v1", "default/details-v1")["decision"] == "allow"


def test_principals_and_namespaces_need_mtls():
    rules = [{"from": [{"source": {"principals": [principal("test", "default")]}}]}]
    objs = bookinfo() + [authz("p", "default", {"app": "details"}, "ALLOW", rules)]
    # netpod is in namespace test with SA default, but talks plaintext: never matches
    assert decide(objs, "test/netpod", "default/details-v1")["decision"] == "deny"
    ns_rules = [{"from": [{"source": {"namespaces": ["test"]}}]}]
    objs = bookinfo() + [authz("n", "default", {"app": "details"}, "ALLOW", ns_rules),
                         pod("tester-1", "test", {"app": "tester"}, deployment="tester")]
    assert decide(objs, "test/netpod", "default/details-v1")["decision"] == "deny"
    assert decide(objs, "test/tester", "default/details-v1")["decision"] == "allow"


def test_not_principals_star_denies_plaintext():
    objs = bookinfo() + [authz("require-mtls", "default", action="DENY", rules=[{"from": [{"source": {"notPrincipals": ["*"]}}]}])]
    assert decide(objs, "test/netpod", "default/details-v1")["decision"] == "deny"
    assert decide(objs, "default/productpage-v1", "default/details-v1")["decision"] == "allow"


def test_service_accounts_field_and_source_conditions():
    objs = bookinfo() + [authz("sa", "default", {"app": "ratings"}, "ALLOW",
                               [{"from": [{"source": {"serviceAccounts": ["default/bookinfo-reviews"]}}]}])]
    assert decide(objs, "default/reviews-v2", "default/ratings-v1")["decision"] == "allow"
    assert decide(objs, "default/details-v1", "default/ratings-v1")["decision"] == "deny"
    objs = bookinfo() + [authz("when", "default", {"app": "ratings"}, "ALLOW",
                               [{"when": [{"key": "source.namespace", "values": ["default"]},
                                          {"key": "request.headers[x-user]", "notValues": ["bob"]}]}])]
    assert decide(objs, "default/reviews-v2", "default/ratings-v1")["decision"] == "allow"
    assert decide(objs, "default/reviews-v2", "default/ratings-v1", headers={"X-User": "bob"})["decision"] == "deny"
    assert decide(objs, "test/netpod", "default/ratings-v1")["decision"] == "deny"


def test_ip_blocks_and_ports():
    objs = bookinfo() + [authz("ip", "default", {"app": "ratings"}, "ALLOW",
                               [{"from": [{"source": {"ipBlocks": ["127.64.1.0/24"]}}], "to": [{"operation": {"ports": ["9080"]}}]}])]
    assert decide(objs, "test/netpod", "default/ratings-v1")["decision"] == "allow"
    assert decide(objs, "default/reviews-v1", "default/ratings-v1")["decision"] == "deny"
    assert decide(objs, "test/netpod", "default/ratings-v1", port=9443)["decision"] == "deny"


@pytest.mark.parametrize("pattern, path, expected", [
    ("/api/*", "/api/v1", True), ("/api/*", "/apix", False), ("*/health", "/x/health", True),
    ("/exact", "/exact", True), ("/exact", "/exact/", False), ("/exact", "/exact?q=1", True),
    ("/books/{*}/reviews", "/books/7/reviews", True), ("/books/{*}/reviews", "/books/7/8/reviews", False),
    ("/files/{**}", "/files/a/b/c", True), ("*", "/anything", True),
])
def test_path_matching(pattern, path, expected):
    assert az.path_match(pattern, path) is expected


@pytest.mark.parametrize("pattern, host, expected", [
    ("details", "details:9080", True), ("DETAILS", "details", True), ("*.svc.cluster.local", "details.default.svc.cluster.local:9080", True),
    ("details.default*", "details.default.svc.cluster.local", True), ("ratings", "details", False),
])
def test_host_matching(pattern, host, expected):
    assert az.host_match(pattern, host) is expected


def test_principal_wildcards():
    assert az.str_match("*", "cluster.local/ns/a/sa/b") is True
    assert az.str_match("*", None) is False
    assert az.str_match("cluster.local/ns/a/*", "cluster.local/ns/a/sa/b") is True
    assert az.str_match("*/sa/b", "cluster.local/ns/a/sa/b") is True
    assert az.str_match("*/sa/c", "cluster.local/ns/a/sa/b") is False


def test_root_namespace_policy_applies_everywhere_selector_across_namespaces():
    objs = bookinfo() + [authz("global-deny", "istio-system", {"app": "ratings"}, "DENY", [{}]),
                         authz("other-ns", "other", None, "DENY", [{}])]
    assert decide(objs, "default/reviews-v1", "default/ratings-v1")["policy"] == "istio-system/global-deny"
    assert decide(objs, "default/reviews-v1", "default/details-v1")["decision"] == "allow"


def test_target_refs_bind_gateways_not_sidecars():
    gw = pod("gw-1", "default", {"gateway.networking.k8s.io/gateway-name": "web-gw"}, deployment="gw")
    refs = [{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "web-gw"}]
    svc_refs = [{"kind": "Service", "group": "", "name": "details"}]
    objs = bookinfo() + [gw, authz("gw-deny", "default", action="DENY", rules=[{}], target_refs=refs),
                         authz("svc-deny", "default", action="DENY", rules=[{}], target_refs=svc_refs)]
    idx = aw.build_index(objs)
    assert [aw.ns_name(p) for p in az.policies_for(idx, wl(idx, "default/gw"))] == ["default/gw-deny"]
    assert az.policies_for(idx, wl(idx, "default/details-v1")) == []


def test_http_fields_on_tcp_ports():
    tcp_svc = service("db", ports=[{"name": "tcp-db", "port": 5432, "targetPort": 5432}])
    db = pod("db-1", "default", {"app": "db"}, deployment="db", ports=(5432,))
    allow_get = authz("allow-get", "default", {"app": "db"}, "ALLOW", [{"to": [{"operation": {"methods": ["GET"]}}]}])
    deny_get = authz("deny-get", "default", {"app": "db"}, "DENY", [{"to": [{"operation": {"methods": ["GET"], "ports": ["5432"]}}]}])
    # ALLOW rule with HTTP-only fields is dropped on TCP: nothing matches, so deny
    res = decide(bookinfo() + [tcp_svc, db, allow_get], "default/productpage-v1", "default/db", port=5432, protocol="tcp")
    assert res["decision"] == "deny"
    # DENY rule is applied without its HTTP-only fields: denies the port
    res = decide(bookinfo() + [tcp_svc, db, deny_get], "default/productpage-v1", "default/db", port=5432, protocol="tcp")
    assert (res["decision"], res["policy"]) == ("deny", "default/deny-get")


@pytest.mark.parametrize("port, expected", [
    ({"name": "http", "port": 1}, "http"), ({"name": "http-web", "port": 1}, "http"), ({"name": "grpc", "port": 1}, "http"),
    ({"name": "tcp-db", "port": 1}, "tcp"), ({"name": "https", "port": 1}, "tcp"), ({"port": 1}, "http"),
    ({"name": "web", "port": 1, "appProtocol": "tcp"}, "tcp"), ({"name": "x", "port": 1, "protocol": "UDP"}, "other"),
])
def test_port_protocol(port, expected):
    assert aw.port_protocol(port) == expected


def test_named_target_port_resolves_per_pod():
    p = pod("web-1", "default", {"app": "web"}, deployment="web")
    p["spec"]["containers"][0]["ports"] = [{"name": "http-api", "containerPort": 8081}]
    assert aw.resolve_target_port({"port": 80, "targetPort": "http-api"}, p) == 8081
    assert aw.resolve_target_port({"port": 80}, p) == 80
    assert aw.resolve_target_port({"port": 80, "targetPort": "nope"}, p) is None


# --------------------------------------------------------------------------- dry run
def test_dry_run_policies_do_not_enforce_and_report_would_deny():
    objs = bookinfo() + [authz("allow-nothing", "default", dry_run=True)]
    res = decide(objs, "default/productpage-v1", "default/details-v1")
    assert res["decision"] == "allow"
    assert res["would"]["decision"] == "deny" and res["would"]["policy"] == "default/allow-nothing"
    idx = aw.build_index(objs)
    matrix = am.compute_matrix(idx, namespaces=["default", "test"])
    cell = am.lookup(matrix, "default/productpage-v1", "details.default:9080")
    assert ar.cell_text(cell) == "ALLOW would deny (default/allow-nothing)"


def test_dry_run_that_changes_nothing_reports_nothing():
    objs = bookinfo() + [authz("allow-all", "default", action="ALLOW", rules=[{}], dry_run=True)]
    assert decide(objs, "default/productpage-v1", "default/details-v1")["would"] is None


# --------------------------------------------------------------------------- matrix, rendering
def test_mixed_backends_are_reported_per_workload():
    objs = bookinfo() + [authz("v3-only", "default", {"app": "reviews", "version": "v3"}, "DENY", [{}])]
    matrix = am.compute_matrix(objs, namespaces=["default"])
    cell = am.lookup(matrix, "default/productpage-v1", "reviews.default:9080")
    assert cell["decision"] == "mixed"
    assert [(b["backend"], b["decision"]) for b in cell["backends"]] == [
        ("default/reviews-v1", "allow"), ("default/reviews-v2", "allow"), ("default/reviews-v3", "deny")]


def test_markdown_and_table_and_diff():
    before = am.compute_matrix(bookinfo(), namespaces=["default", "test"])
    after = am.compute_matrix(bookinfo() + [peer_auth("default", "default", "STRICT")], namespaces=["default", "test"])
    md = ar.render_markdown(after)
    assert "| test/netpod (no sidecar) | RESET (default/default) |" in md
    assert "Sources without a sidecar: test/netpod" in md
    changes = ar.diff_matrices(before, after)
    assert sorted(c["destination"] for c in changes) == ["details.default:9080", "productpage.default:9080",
                                                         "ratings.default:9080", "reviews.default:9080"]
    assert all(c["source"] == "test/netpod" and c["before"] == "ALLOW" for c in changes)
    assert "test/netpod -> ratings.default:9080 GET /: RESET (default/default)" in ar.render_table(after)


def test_services_without_backends_and_udp_ports_are_left_out():
    udp = service("dns", ports=[{"name": "dns", "port": 53, "protocol": "UDP"}], selector={"app": "details"})
    objs = bookinfo() + [service("ghost"), udp]
    matrix = am.compute_matrix(objs, namespaces=["default"])
    assert [d["id"] for d in matrix["destinations"]] == ["details.default:9080", "productpage.default:9080",
                                                         "ratings.default:9080", "reviews.default:9080"]


def test_gateways_ignore_peer_authentication_but_enforce_policies():
    gw = pod("istio-ingressgateway-1", "istio-system", {"istio": "ingressgateway"}, "istio-ingressgateway-service-account",
             deployment="istio-ingressgateway", ports=(8080,))
    gw["spec"]["containers"] = [{"name": "istio-proxy", "args": ["proxy", "router"], "ports": [{"containerPort": 8080}]}]
    objs = bookinfo() + [gw, peer_auth("default", "istio-system", "STRICT")]
    res = decide(objs, "test/netpod", "istio-system/istio-ingressgateway", port=8080)
    assert (res["decision"], res["mode"]) == ("allow", "none (gateway)")
    objs.append(authz("gw-deny", "istio-system", {"istio": "ingressgateway"}, "DENY", [{"to": [{"operation": {"paths": ["/admin"]}}]}]))
    assert decide(objs, "test/netpod", "istio-system/istio-ingressgateway", port=8080, path="/admin")["decision"] == "deny"
    # as a source, a gateway talks mTLS to the mesh like a sidecar
    assert decide(objs, "istio-system/istio-ingressgateway", "default/ratings-v1")["mtls"] == "mutual_tls"


def test_grid_rows_are_aligned_one_per_source():
    matrix = am.compute_matrix(bookinfo() + [peer_auth("default", "default", "STRICT")], namespaces=["default", "test"])
    grid = ar.render_grid(matrix)
    assert len(grid) == 1 + 7
    assert len(set(len(line) for line in grid)) == 1
    assert grid[0].startswith("| source ") and "ratings.default:9080 GET /" in grid[0]
    assert grid[-1].startswith("| test/netpod (no sidecar) | RESET (default/default)")
    assert [s["pods"] for s in matrix["sources"]] == [1] * 7
