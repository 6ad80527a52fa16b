"""Requests that differ only in headers or host are cells of their own (issue 14).

A request is identified by method, path, host and headers; its label names what sets it apart
("GET / [end-user=jason]", "GET / [host=reviews.example]") while a request with method and path
only keeps the plain "GET /".
"""

import json

from ansible_collections.meshops.istio.plugins.module_utils.access import gates as ag, matrix as am, report as ar, workloads as aw

from test_access_matrix import authz, bookinfo, peer_auth  # pylint: disable=import-error

JASON = {"method": "GET", "path": "/", "headers": {"end-user": "jason"}}
ANYONE = {"method": "GET", "path": "/"}
JASON_ONLY = authz("jason-only", "default", {"app": "reviews"}, "ALLOW",
                   [{"when": [{"key": "request.headers[end-user]", "values": ["jason"]}]}])
EXAMPLE_HOST = {"method": "GET", "path": "/", "host": "reviews.example"}
HOST_ONLY = authz("example-host-only", "default", {"app": "reviews"}, "ALLOW",
                  [{"to": [{"operation": {"hosts": ["reviews.example"]}}]}])
PRODUCTPAGE = "default/productpage-v1"
REVIEWS = "reviews.default:9080"


def matrix(policies, requests):
    return am.compute_matrix(bookinfo() + list(policies), requests, namespaces=["default"])


# --------------------------------------------------------------------------- identity and label
def test_request_label_names_what_sets_a_request_apart():
    assert am.request_label(ANYONE) == "GET /"
    assert am.request_label(JASON) == "GET / [end-user=jason]"
    assert am.request_label(EXAMPLE_HOST) == "GET / [host=reviews.example]"
    both = {"method": "POST", "path": "/r", "host": "h.example", "headers": {"X-B": "2", "x-a": 1}}
    assert am.request_label(both) == "POST /r [host=h.example, x-a=1, x-b=2]"
    assert am.request_label({"method": None, "path": None}) == ""
    # header names are compared without case
    assert am.request_key({"method": "GET", "path": "/", "headers": {"End-User": "jason"}}) == am.request_key(JASON)
    assert am.request_key(JASON) != am.request_key(ANYONE)


def test_requests_without_headers_or_host_keep_their_cells_as_before():
    cells = matrix([JASON_ONLY], [ANYONE])["cells"]
    assert all("headers" not in c and "host" not in c for c in cells)
    assert sorted(cells[0]) == sorted(am.CELL_KEYS)


# --------------------------------------------------------------------------- headers
def test_header_only_difference_gives_two_cells_in_table_grid_and_markdown():
    result = matrix([JASON_ONLY], [JASON, ANYONE])
    assert am.lookup(result, PRODUCTPAGE, REVIEWS, headers={"end-user": "jason"})["decision"] == "allow"
    assert am.lookup(result, PRODUCTPAGE, REVIEWS)["decision"] == "deny"
    jason = [c for c in result["cells"] if c.get("headers")]
    assert jason and all(c["headers"] == {"end-user": "jason"} for c in jason)

    table = ar.render_table(result)
    assert "default/productpage-v1 -> reviews.default:9080 GET / [end-user=jason]: ALLOW (default/jason-only)" in table
    assert "default/productpage-v1 -> reviews.default:9080 GET /: DENY (default/jason-only)" in table

    grid = ar.render_grid(result)
    header = [c.strip() for c in grid[0].strip("|").split("|")]
    assert "reviews.default:9080 GET / [end-user=jason]" in header and "reviews.default:9080 GET /" in header
    row = [c.strip() for c in [line for line in grid if line.startswith("| default/productpage-v1 ")][0].strip("|").split("|")]
    assert row[header.index("reviews.default:9080 GET / [end-user=jason]")] == "ALLOW (default/jason-only)"
    assert row[header.index("reviews.default:9080 GET /")] == "DENY (default/jason-only)"

    md = ar.render_markdown(result)
    assert "| reviews.default:9080 GET / [end-user=jason] | reviews.default:9080 GET / |" in md
    assert "- default/productpage-v1 -> reviews.default:9080 GET / [end-user=jason]: **allow**" in md
    assert "- default/productpage-v1 -> reviews.default:9080 GET /: **deny**" in md


def test_changes_compare_each_request_with_itself():
    with_policy = matrix([JASON_ONLY], [JASON, ANYONE])
    without = matrix([], [JASON, ANYONE])
    changes = [c for c in ar.diff_matrices(with_policy, without) if c["source"] == PRODUCTPAGE]
    # jason is allowed before and after: only the request without the header changes
    assert [c["text"] for c in changes] == [
        "default/productpage-v1 -> reviews.default:9080 GET /: DENY (default/jason-only) => ALLOW"]
    assert "headers" not in changes[0]
    added = [c for c in ar.diff_matrices(without, with_policy) if c["source"] == PRODUCTPAGE]
    assert [c["text"] for c in added] == ["default/productpage-v1 -> reviews.default:9080 GET /: ALLOW => DENY (default/jason-only)"]


def test_matrix_json_carries_the_headers_and_stays_serialisable():
    result = matrix([JASON_ONLY], [JASON, ANYONE])
    assert json.loads(json.dumps(result, sort_keys=True)) == result
    assert result["requests"] == [JASON, ANYONE]


# --------------------------------------------------------------------------- host
def test_host_only_difference_gives_two_cells_and_changes():
    result = matrix([HOST_ONLY], [EXAMPLE_HOST, ANYONE])
    assert am.lookup(result, PRODUCTPAGE, REVIEWS, host="reviews.example")["decision"] == "allow"
    assert am.lookup(result, PRODUCTPAGE, REVIEWS)["decision"] == "deny"
    table = ar.render_table(result)
    assert "default/productpage-v1 -> reviews.default:9080 GET / [host=reviews.example]: ALLOW (default/example-host-only)" in table
    assert "default/productpage-v1 -> reviews.default:9080 GET /: DENY (default/example-host-only)" in table
    grid = ar.render_grid(result)
    assert "reviews.default:9080 GET / [host=reviews.example]" in grid[0]
    md = ar.render_markdown(result)
    assert "| reviews.default:9080 GET / [host=reviews.example] | reviews.default:9080 GET / |" in md

    changes = [c for c in ar.diff_matrices(result, matrix([], [EXAMPLE_HOST, ANYONE])) if c["source"] == PRODUCTPAGE]
    assert [c["text"] for c in changes] == [
        "default/productpage-v1 -> reviews.default:9080 GET /: DENY (default/example-host-only) => ALLOW"]
    # the other way round the host-bound request is the one that changes
    deny_example = authz("deny-example", "default", {"app": "reviews"}, "DENY",
                         [{"to": [{"operation": {"hosts": ["reviews.example"]}}]}])
    changes = ar.diff_matrices(matrix([], [EXAMPLE_HOST, ANYONE]), matrix([deny_example], [EXAMPLE_HOST, ANYONE]))
    denied = [c for c in changes if c["source"] == PRODUCTPAGE]
    assert [(c["text"], c.get("host")) for c in denied] == [
        ("default/productpage-v1 -> reviews.default:9080 GET / [host=reviews.example]: ALLOW => DENY (default/deny-example)",
         "reviews.example")]


# --------------------------------------------------------------------------- gates
def test_required_flows_gate_sends_the_flows_headers():
    after = aw.build_index(bookinfo() + [JASON_ONLY])
    flow = {"name": "jason reads reviews", "from": {"namespace": "default", "name": "productpage-v1"},
            "to": {"namespace": "default", "service": "reviews"}, "method": "GET", "path": "/"}
    passed = ag.required_flows_gate(after, [dict(flow, headers={"end-user": "jason"})])
    assert passed["passed"] and passed["checked"] == 3
    refused = ag.required_flows_gate(after, [flow])
    assert not refused["passed"] and len(refused["refusals"]) == 3
    assert refused["refusals"][0].startswith("jason reads reviews (default/productpage-v1 -> default/reviews-v1:9080 GET /): deny (")
    host_flow = dict(flow, host="other.example")
    refused = ag.required_flows_gate(aw.build_index(bookinfo() + [HOST_ONLY]), [host_flow])
    assert refused["refusals"][0].startswith(
        "jason reads reviews (default/productpage-v1 -> default/reviews-v1:9080 GET / [host=other.example]): deny (")
    assert ag.required_flows_gate(aw.build_index(bookinfo() + [HOST_ONLY]), [dict(flow, host="reviews.example")])["passed"]


def test_strict_gate_is_the_same_whatever_headers_the_requests_carry():
    before = aw.build_index(bookinfo() + [JASON_ONLY])
    after = aw.build_index(bookinfo() + [JASON_ONLY, peer_auth("default", "default", "STRICT")])
    plain = ag.strict_gate(before, after)
    with_headers = ag.strict_gate(before, after, requests=[JASON, ANYONE])
    assert not plain["passed"] and with_headers["refusals"] == plain["refusals"]
    assert any(r.startswith("test/netpod -> reviews.default:9080 [default/reviews-v1:9080]: reset (") for r in plain["refusals"])
