"""Unit tests for access/observed.py and its filters: access-matrix predictions against probe results."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.filter import access as access_filters
from ansible_collections.meshops.istio.plugins.module_utils.access import observed


def cell(source, service, decision, policy="", mtls="mutual_tls", mode="STRICT (bookinfo/default)", protocol="HTTP", method="POST"):
    return {"source": source, "destination": "%s.bookinfo:9080" % service, "service": service, "namespace": "bookinfo",
            "port": 9080, "protocol": protocol, "method": method, "path": "/proto.EchoTestService/Echo",
            "decision": decision, "policy": policy, "mtls": mtls, "mode": mode}


def calls(*codes, error=""):
    return {"calls": [{"code": c, "version": "v1" if c == "OK" else "", "error": "" if c == "OK" else error} for c in codes]}


MATRIX = {"cells": [
    cell("bookinfo/productpage-v1", "details", "allow", "bookinfo/details-viewer"),
    cell("bookinfo/ratings-v1", "details", "deny", "bookinfo/details-viewer"),
    cell("test/netpod", "ratings", "reset", "bookinfo/default", mtls="plaintext"),
    cell("bookinfo/productpage-v1", "mysql", "allow", protocol="TCP", method=""),
]}


@pytest.mark.parametrize("call, outcome", [
    ({"code": "OK"}, "allow"),
    ({"code": "PermissionDenied", "error": "incoming RPC did not match an allow policy"}, "deny"),
    ({"code": "Unavailable", "error": 'connection error: desc = "error reading server preface: EOF"'}, "reset"),
    ({"code": "Unavailable", "error": "RPC hit fault injection"}, "error:Unavailable"),
    ({"code": "Unavailable", "error": 'error received from xDS stream: rpc error: code = Unavailable desc = connection error: '
      'desc = "transport: Error while dialing: dial tcp 10.96.124.240:15012: i/o timeout"'}, "error:unreachable"),
    ({"code": "DeadlineExceeded"}, "timeout"),
    ({}, "error:none"),
])
def test_call_outcome(call, outcome):
    assert observed.call_outcome(call) == outcome


def test_probe_plan_has_one_probe_per_probeable_cell_in_order():
    plan = observed.probe_plan(MATRIX, count=3, timeout=4)
    assert plan == [
        {"from": "bookinfo/productpage-v1", "to": "details.bookinfo.svc.cluster.local:9080", "count": 3, "timeout": 4.0},
        {"from": "bookinfo/ratings-v1", "to": "details.bookinfo.svc.cluster.local:9080", "count": 3, "timeout": 4.0},
        {"from": "test/netpod", "to": "ratings.bookinfo.svc.cluster.local:9080", "count": 3, "timeout": 4.0},
    ]


def test_compare_passes_when_every_observation_is_the_prediction():
    results = [calls("OK", "OK"), calls("PermissionDenied", error="RBAC"),
               calls("Unavailable", error="connection error: desc = \"error reading server preface: EOF\"")]
    out = observed.compare(MATRIX, results)
    assert (out["passed"], out["failed"], out["skipped"]) == (3, 0, 0)
    assert out["cells"][0]["detail"] == "bookinfo/productpage-v1 -> details.bookinfo:9080: allow as predicted"


def test_compare_names_the_cell_the_policy_and_both_values_on_a_mismatch():
    results = [calls("PermissionDenied", error="incoming RPC did not match an allow policy"), calls("OK"), calls("OK")]
    out = observed.compare(MATRIX, results)
    assert out["failed"] == 3 and out["passed"] == 0
    assert out["mismatches"][0] == ("bookinfo/productpage-v1 -> details.bookinfo:9080: predicted allow (bookinfo/details-viewer), "
                                    "observed deny (incoming RPC did not match an allow policy)")
    assert out["mismatches"][1].startswith("bookinfo/ratings-v1 -> details.bookinfo:9080: predicted deny (bookinfo/details-viewer), observed allow")


def test_mixed_answers_are_a_mismatch():
    results = [calls("OK", "PermissionDenied"), calls("PermissionDenied"), calls("Unavailable", error="EOF")]
    out = observed.compare(MATRIX, results)
    assert out["cells"][0]["observed"] == "allow+deny" and out["cells"][0]["status"] == "failed"


def test_allow_nothing_only_denies_are_skipped_with_the_reason():
    matrix = {"cells": [cell("bookinfo/a", "details", "deny", "bookinfo/allow-nothing")]}
    policies = [{"metadata": {"namespace": "bookinfo", "name": "allow-nothing"}, "spec": {}},
                {"metadata": {"namespace": "bookinfo", "name": "details-viewer"}, "spec": {"action": "ALLOW"}}]
    out = observed.compare(matrix, [calls("OK")], policies)
    assert out["skipped"] == 1 and observed.ALLOW_NOTHING_NOT_SENT in out["cells"][0]["detail"]
    # the same deny by a policy with rules is a real mismatch
    out = observed.compare(matrix, [calls("OK")], ["bookinfo/other"])
    assert out["failed"] == 1


def test_permissive_plaintext_refused_is_skipped_with_the_reason():
    matrix = {"cells": [cell("test/netpod", "ratings", "allow", mtls="plaintext", mode="PERMISSIVE (mesh default)")]}
    out = observed.compare(matrix, [calls("Unavailable", error="connection error: EOF")])
    assert out["skipped"] == 1 and observed.PERMISSIVE_IS_STRICT in out["cells"][0]["detail"]
    # a mesh client refused under PERMISSIVE (no ISTIO_MUTUAL DestinationRule) is a failure
    matrix = {"cells": [cell("bookinfo/a", "ratings", "allow", mode="PERMISSIVE (mesh default)")]}
    assert observed.compare(matrix, [calls("Unavailable", error="connection error: EOF")])["failed"] == 1


def test_a_client_that_reached_no_server_is_never_a_reset():
    # A dial that went unanswered says nothing about STRICT mTLS: the predicted reset fails, with the error.
    matrix = {"cells": [cell("test/netpod", "ratings", "reset", "bookinfo/default", mtls="plaintext")]}
    dial = 'connection error: desc = "transport: Error while dialing: dial tcp 10.244.0.2:9080: i/o timeout"'
    out = observed.compare(matrix, [calls("Unavailable", error=dial)])
    assert out["failed"] == 1 and out["cells"][0]["observed"] == "error:unreachable"
    assert "i/o timeout" in out["mismatches"][0]


def test_probe_that_could_not_run_is_skipped():
    matrix = {"cells": [cell("bookinfo/gone", "details", "allow")]}
    out = observed.compare(matrix, [{"calls": [], "error": "--from bookinfo/gone: no running data-plane pod matches"}])
    assert out["skipped"] == 1 and "not probed" in out["cells"][0]["detail"]


def test_results_must_match_the_plan():
    with pytest.raises(ValueError, match="2 probe results for 3 probeable cells"):
        observed.compare(MATRIX, [calls("OK"), calls("OK")])
    with pytest.raises(AnsibleFilterError, match="access_observed: 1 probe results"):
        access_filters.access_observed(MATRIX, [calls("OK")])


def test_filters():
    filters = access_filters.FilterModule().filters()
    assert set(filters) == {"access_probe_plan", "access_observed", "access_cell"}
    compared = filters["access_observed"](MATRIX, [calls("OK"), calls("PermissionDenied"), calls("Unavailable", error="EOF")])
    assert filters["access_cell"](compared, "test/netpod", "ratings.bookinfo:9080")["status"] == "passed"
    assert filters["access_cell"](compared, "x/y", "z") == {}
    assert len(filters["access_probe_plan"](MATRIX)) == 3
