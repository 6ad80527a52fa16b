"""Unit tests of the mesh_security model: validation messages, rendering per stage, exact
replacements, snapshot and restore."""

import copy

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.security import model as sm

ACCOUNTS = frozenset(["default/bookinfo-productpage", "default/bookinfo-reviews", "default/default"])
LABELS = {"app.kubernetes.io/managed-by": "meshops.istio", "meshops.istio/role": "mesh_security"}
VIEWER = {"name": "details-viewer", "namespace": "default", "selector": {"app": "details"}, "action": "ALLOW",
          "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/default/sa/bookinfo-productpage"]}}],
                     "to": [{"operation": {"methods": ["GET"]}}]}]}


def errors(pas=(), aps=(), accounts=ACCOUNTS):
    return sm.validate_model(list(pas), list(aps), accounts, "mesh_security_peer_authentications",
                             "mesh_security_authorization_policies")


# --------------------------------------------------------------------------- validation
def test_a_good_model_has_no_errors():
    assert errors([{"name": "default", "namespace": "istio-system", "mode": "STRICT"},
                   {"name": "ratings", "namespace": "default", "mode": "UNSET", "selector": {"app": "ratings"},
                    "port_level_mtls": {80: "DISABLE", "9080": "STRICT"}}],
                  [{"name": "allow-nothing", "namespace": "default"}, VIEWER]) == []


def test_misspelled_mode_names_the_field_and_the_accepted_values():
    assert errors([{"name": "default", "namespace": "default", "mode": "STRICt"}]) == [
        "mesh_security_peer_authentications[0].mode: 'STRICt' is not one of UNSET, DISABLE, PERMISSIVE, STRICT"]


def test_selector_and_target_refs_together():
    entry = {"name": "x", "namespace": "default", "selector": {"app": "x"},
             "target_refs": [{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "gw"}]}
    assert errors(aps=[entry]) == ["mesh_security_authorization_policies[0]: selector and target_refs are mutually "
                                   "exclusive (Istio accepts one or the other)"]


@pytest.mark.parametrize("port", [0, 65536, "70000", -1, "http", True])
def test_ports_outside_the_range_are_refused_in_rules_and_port_level_mtls(port):
    rule = {"to": [{"operation": {"ports": [port]}}]}
    assert errors(aps=[{"name": "x", "namespace": "default", "rules": [rule]}]) == [
        "mesh_security_authorization_policies[0].rules[0].to[0].operation.ports[0]: port %r is outside 1-65535" % (port,)]
    pa = {"name": "x", "namespace": "default", "mode": "STRICT", "selector": {"app": "x"}, "port_level_mtls": {port: "DISABLE"}}
    assert errors(pas=[pa]) == ["mesh_security_peer_authentications[0].port_level_mtls: port %r is outside 1-65535" % (port,)]


def test_principal_for_a_missing_service_account():
    entry = copy.deepcopy(VIEWER)
    entry["rules"][0]["from"][0]["source"]["principals"] = ["cluster.local/ns/default/sa/bookinfo-productpag"]
    assert errors(aps=[entry]) == [
        "mesh_security_authorization_policies[0].rules[0].from[0].source.principals[0]: ServiceAccount "
        "default/bookinfo-productpag does not exist (principal cluster.local/ns/default/sa/bookinfo-productpag)"]
    # without the list of accounts (offline) only the shape is checked
    assert errors(aps=[entry], accounts=None) == []


def test_principal_shape_wildcards_and_service_accounts_field():
    entry = {"name": "x", "namespace": "default", "rules": [{"from": [{"source": {
        "principals": ["spiffe-less", "*"], "notPrincipals": ["cluster.local/ns/*"],
        "serviceAccounts": ["default/bookinfo-reviews", "default/nobody", "noslash"]}}]}]}
    path = "mesh_security_authorization_policies[0].rules[0].from[0].source"
    assert errors(aps=[entry]) == [
        path + ".principals[0]: 'spiffe-less' must look like <trust domain>/ns/<namespace>/sa/<service account>",
        path + ".serviceAccounts[1]: ServiceAccount default/nobody does not exist",
        path + ".serviceAccounts[2]: 'noslash' must look like <namespace>/<service account>"]


def test_unknown_keys_and_wrong_shapes_are_named():
    got = errors(pas=[{"name": "x", "namespace": "default", "mode": "STRICT", "portLevelMtls": {}}],
                 aps=[{"name": "Bad_Name", "namespace": "default", "action": "ALLOWED",
                       "rules": [{"from": [{"principals": ["a"]}], "to": [{"operation": {"method": ["GET"]}}],
                                  "when": [{"key": "source.pod", "values": ["x"]}]}]}])
    assert got == [
        "mesh_security_peer_authentications[0]: unknown key(s) portLevelMtls; accepted: name, namespace, mode, selector, port_level_mtls",
        "mesh_security_authorization_policies[0].name: 'Bad_Name' must be a lower-case DNS name (a-z, 0-9, '-', '.')",
        "mesh_security_authorization_policies[0].action: 'ALLOWED' is not one of ALLOW, DENY, AUDIT, CUSTOM",
        "mesh_security_authorization_policies[0].rules[0].from[0]: unknown key(s) principals; accepted: source",
        "mesh_security_authorization_policies[0].rules[0].to[0].operation: unknown key(s) method; accepted: hosts, notHosts, "
        "ports, notPorts, methods, notMethods, paths, notPaths",
        "mesh_security_authorization_policies[0].rules[0].when[0].key: 'source.pod' is not an Istio condition (source.ip, "
        "remote.ip, source.namespace, source.principal, request.headers[<name>], request.auth.*, destination.ip, "
        "destination.port, connection.sni, experimental.envoy.filters.*)",
    ]


def test_port_level_mtls_needs_a_selector_and_custom_needs_a_provider():
    assert errors(pas=[{"name": "x", "namespace": "default", "mode": "STRICT", "port_level_mtls": {80: "DISABLE"}}]) == [
        "mesh_security_peer_authentications[0].port_level_mtls: needs a selector (Istio applies port-level mTLS to "
        "selected workloads only)"]
    assert errors(aps=[{"name": "x", "namespace": "default", "action": "CUSTOM"},
                       {"name": "y", "namespace": "default", "provider": "opa"}]) == [
        "mesh_security_authorization_policies[0].provider: a CUSTOM policy needs the name of an extension provider",
        "mesh_security_authorization_policies[1].provider: only a CUSTOM policy has a provider (action is ALLOW)"]


def test_duplicates_and_non_string_selector_values():
    got = errors(pas=[{"name": "a", "namespace": "default", "mode": "STRICT"},
                      {"name": "a", "namespace": "default", "mode": "STRICT", "selector": {"version": 2}}])
    assert got == ["mesh_security_peer_authentications[1].selector.version: 2 is not a valid label value (quote numbers and booleans)",
                   "mesh_security_peer_authentications[1]: PeerAuthentication default/a is also defined by "
                   "mesh_security_peer_authentications[0]"]


# --------------------------------------------------------------------------- rendering
def test_peer_authentication_stages():
    entry = {"name": "ratings", "namespace": "default", "mode": "STRICT", "selector": {"app": "ratings"},
             "port_level_mtls": {9443: "STRICT", 80: "DISABLE"}}
    assert sm.render_peer_authentication(entry, "strict") == {
        "apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
        "metadata": {"name": "ratings", "namespace": "default", "labels": LABELS},
        "spec": {"selector": {"matchLabels": {"app": "ratings"}}, "mtls": {"mode": "STRICT"},
                 "portLevelMtls": {"80": {"mode": "DISABLE"}, "9443": {"mode": "STRICT"}}}}
    permissive = sm.render_peer_authentication(entry, "permissive")
    assert permissive["spec"]["mtls"] == {"mode": "PERMISSIVE"}
    assert permissive["spec"]["portLevelMtls"] == {"80": {"mode": "DISABLE"}, "9443": {"mode": "PERMISSIVE"}}


def test_allow_nothing_renders_an_empty_spec_and_dry_run_only_adds_the_annotation():
    assert sm.render_authorization_policy({"name": "allow-nothing", "namespace": "default"}) == {
        "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
        "metadata": {"name": "allow-nothing", "namespace": "default", "labels": LABELS}, "spec": {}}
    enforced = sm.render_authorization_policy(VIEWER, "enforce")
    dry = sm.render_authorization_policy(VIEWER, "dry_run")
    assert dry["metadata"].pop("annotations") == {"istio.io/dry-run": "true"}
    assert dry == enforced
    assert enforced["spec"] == {"selector": {"matchLabels": {"app": "details"}}, "action": "ALLOW",
                                "rules": VIEWER["rules"]}


def test_rule_ports_render_as_strings():
    entry = {"name": "x", "namespace": "default", "rules": [{"to": [{"operation": {"ports": [9080, "80"]}}]}]}
    assert sm.render_authorization_policy(entry)["spec"]["rules"] == [{"to": [{"operation": {"ports": ["9080", "80"]}}]}]


# --------------------------------------------------------------------------- comparing, applying
def server_copy(obj, rv="100", **extra_meta):
    out = copy.deepcopy(obj)
    out["metadata"].update({"resourceVersion": rv, "uid": "u-1", "generation": 1, "creationTimestamp": "2026-01-01T00:00:00Z",
                            "managedFields": [{"manager": "x"}]})
    out["metadata"].update(extra_meta)
    return out


def test_put_definitions_leave_out_unchanged_and_carry_the_resource_version():
    strict = sm.render_peer_authentication({"name": "default", "namespace": "default", "mode": "STRICT"})
    permissive = sm.render_peer_authentication({"name": "default", "namespace": "default", "mode": "STRICT"}, "permissive")
    viewer = sm.render_authorization_policy(VIEWER)
    current = [server_copy(permissive, "7"), server_copy(viewer, "8")]
    out = sm.put_definitions([strict, viewer], current)
    assert len(out) == 1
    assert out[0]["metadata"]["resourceVersion"] == "7" and out[0]["spec"]["mtls"]["mode"] == "STRICT"
    new = sm.render_authorization_policy({"name": "allow-nothing", "namespace": "default"})
    assert sm.put_definitions([new], current) == [new]


def test_foreign_annotations_count_as_a_difference_but_owner_references_are_kept():
    viewer = sm.render_authorization_policy(VIEWER)
    edited = server_copy(viewer, annotations={"someone": "was-here"})
    assert sm.differs(edited, viewer)
    owned = server_copy(viewer, ownerReferences=[{"kind": "X", "name": "y"}])
    assert not sm.differs(owned, viewer)
    assert sm.differs(owned, viewer, keep_foreign=False)


def test_plan_and_prune():
    rendered = sm.render_model([{"name": "default", "namespace": "default", "mode": "STRICT"}],
                               [{"name": "allow-nothing", "namespace": "default"}])
    stale = sm.render_authorization_policy({"name": "old", "namespace": "default"})
    foreign = {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
               "metadata": {"name": "theirs", "namespace": "default"}, "spec": {}}
    current = [server_copy(rendered["authorization_policies"]["final"][0]), server_copy(stale), server_copy(foreign)]
    plan = sm.plan(rendered, current)
    assert plan["changes"] == [{"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication", "namespace": "default",
                                "name": "default"}]
    assert [p["name"] for p in plan["prune"]] == ["old"]
    assert plan["change_text"] == ["PeerAuthentication default/default"]
    converged = [server_copy(o) for o in rendered["peer_authentications"]["final"] + rendered["authorization_policies"]["final"]]
    assert sm.plan(rendered, converged)["changed"] is False


def test_intermediate_only_for_objects_not_at_their_final_form():
    rendered = sm.render_model([{"name": "a", "namespace": "default", "mode": "STRICT"},
                                {"name": "b", "namespace": "other", "mode": "STRICT"}], [])
    final_a = rendered["peer_authentications"]["final"][0]
    out = sm.intermediate_definitions(rendered["peer_authentications"]["intermediate"],
                                      rendered["peer_authentications"]["final"], [server_copy(final_a)])
    assert [(o["metadata"]["name"], o["spec"]["mtls"]["mode"]) for o in out] == [("b", "PERMISSIVE")]


# --------------------------------------------------------------------------- snapshot, restore
def test_snapshot_and_restore_round_trip_field_by_field():
    before_pa = {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                 "metadata": {"name": "default", "namespace": "default", "labels": {"team": "a"},
                              "annotations": {"note": "hand-made"}},
                 "spec": {"mtls": {"mode": "PERMISSIVE"}}}
    current = [server_copy(before_pa, "5")]
    refs = [{"kind": "PeerAuthentication", "namespace": "default", "name": "default"},
            {"kind": "AuthorizationPolicy", "namespace": "default", "name": "allow-nothing"}]
    snap = sm.snapshot(refs, current)
    assert [e["object"] is None for e in snap["entries"]] == [True, False]
    assert snap["entries"][1]["object"] == before_pa
    # the run replaces the PeerAuthentication and creates the policy
    after = [server_copy(sm.render_peer_authentication({"name": "default", "namespace": "default", "mode": "STRICT"}), "9"),
             server_copy(sm.render_authorization_policy({"name": "allow-nothing", "namespace": "default"}), "10")]
    plan = sm.restore_plan(snap, after)
    assert plan["delete"] == [{"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
                               "namespace": "default", "name": "allow-nothing"}]
    expected = copy.deepcopy(before_pa)
    expected["metadata"]["resourceVersion"] = "9"
    assert plan["put"] == [expected]
    # once restored, nothing is left to do
    assert sm.restore_plan(snap, current)["changed"] is False


def test_restore_refuses_something_that_is_not_a_snapshot():
    with pytest.raises(ValueError):
        sm.restore_plan({"entries": []}, [])
