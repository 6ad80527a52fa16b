"""The zero-trust walk-through on Bookinfo, stage by stage, against tables written by hand.

Each table is what Istio's documentation says the mesh does at that stage. Rows are source
workloads, columns the four Bookinfo Services (port 9080). A cell reads
``<decision>[:<policy>[+<policy>...]][~<would-decision>:<policy>]``; policy names are in the
Bookinfo namespace (``default``) and list every ALLOW policy in scope when none matched.
"""

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.access import matrix as am

from test_access_matrix import authz, bookinfo, peer_auth, principal  # pylint: disable=import-error

COLUMNS = ("productpage", "details", "ratings", "reviews")

STRICT = [peer_auth("default", "default", "STRICT")]
PERMISSIVE = [peer_auth("default", "default", "PERMISSIVE")]
ALLOW_NOTHING = [authz("allow-nothing", "default")]
PRODUCTPAGE_VIEWER = [authz("productpage-viewer", "default", {"app": "productpage"}, "ALLOW",
                            [{"to": [{"operation": {"methods": ["GET"]}}]}])]
VIEWERS = [authz("%s-viewer" % app, "default", {"app": app}, "ALLOW",
                 [{"from": [{"source": {"principals": [principal("default", "bookinfo-productpage")]}}],
                   "to": [{"operation": {"methods": ["GET"]}}]}]) for app in ("details", "reviews")]
RATINGS_VIEWER = [authz("ratings-viewer", "default", {"app": "ratings"}, "ALLOW",
                        [{"from": [{"source": {"principals": [principal("default", "bookinfo-reviews")]}}],
                          "to": [{"operation": {"methods": ["GET"]}}]}])]


def dry(policies):
    return [authz(p["metadata"]["name"], "default", (p["spec"].get("selector") or {}).get("matchLabels"),
                  p["spec"].get("action"), p["spec"].get("rules"), dry_run=True) for p in policies]


STAGES = {
    # 1. nothing applied: PERMISSIVE by default, no policy, everyone reaches everything
    "no policies": ([], "GET", """
        productpage-v1 | allow | allow | allow | allow
        details-v1     | allow | allow | allow | allow
        ratings-v1     | allow | allow | allow | allow
        reviews-v1     | allow | allow | allow | allow
        reviews-v2     | allow | allow | allow | allow
        reviews-v3     | allow | allow | allow | allow
        netpod         | allow | allow | allow | allow
    """),
    # 2. STRICT for the namespace: the client without sidecar is reset everywhere
    "strict": (STRICT, "GET", """
        productpage-v1 | allow | allow | allow | allow
        details-v1     | allow | allow | allow | allow
        ratings-v1     | allow | allow | allow | allow
        reviews-v1     | allow | allow | allow | allow
        reviews-v2     | allow | allow | allow | allow
        reviews-v3     | allow | allow | allow | allow
        netpod         | reset:default | reset:default | reset:default | reset:default
    """),
    # 3. allow-nothing (spec {}): every request from the mesh gets 403
    "allow-nothing": (STRICT + ALLOW_NOTHING, "GET", """
        productpage-v1 | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        details-v1     | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        ratings-v1     | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        reviews-v1     | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        reviews-v2     | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        reviews-v3     | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        netpod         | reset:default | reset:default | reset:default | reset:default
    """),
    # 4. productpage-viewer: GET productpage from anyone in the mesh; its calls still 403
    "productpage-viewer": (STRICT + ALLOW_NOTHING + PRODUCTPAGE_VIEWER, "GET", """
        productpage-v1 | allow:productpage-viewer | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        details-v1     | allow:productpage-viewer | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        ratings-v1     | allow:productpage-viewer | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        reviews-v1     | allow:productpage-viewer | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        reviews-v2     | allow:productpage-viewer | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        reviews-v3     | allow:productpage-viewer | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        netpod         | reset:default | reset:default | reset:default | reset:default
    """),
    # 4b. the viewer only allows GET
    "productpage-viewer POST": (STRICT + ALLOW_NOTHING + PRODUCTPAGE_VIEWER, "POST", """
        productpage-v1 | deny:allow-nothing+productpage-viewer | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        reviews-v1     | deny:allow-nothing+productpage-viewer | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        netpod         | reset:default | reset:default | reset:default | reset:default
    """),
    # 5. details and reviews viewers: only productpage's service account gets in; ratings still 403
    "details and reviews viewers": (STRICT + ALLOW_NOTHING + PRODUCTPAGE_VIEWER + VIEWERS, "GET", """
        productpage-v1 | allow:productpage-viewer | allow:details-viewer | deny:allow-nothing | allow:reviews-viewer
        details-v1     | allow:productpage-viewer | deny:allow-nothing+details-viewer | deny:allow-nothing | deny:allow-nothing+reviews-viewer
        ratings-v1     | allow:productpage-viewer | deny:allow-nothing+details-viewer | deny:allow-nothing | deny:allow-nothing+reviews-viewer
        reviews-v1     | allow:productpage-viewer | deny:allow-nothing+details-viewer | deny:allow-nothing | deny:allow-nothing+reviews-viewer
        reviews-v2     | allow:productpage-viewer | deny:allow-nothing+details-viewer | deny:allow-nothing | deny:allow-nothing+reviews-viewer
        reviews-v3     | allow:productpage-viewer | deny:allow-nothing+details-viewer | deny:allow-nothing | deny:allow-nothing+reviews-viewer
        netpod         | reset:default | reset:default | reset:default | reset:default
    """),
    # 6. ratings-viewer lets bookinfo-reviews in
    "ratings viewer": (STRICT + ALLOW_NOTHING + PRODUCTPAGE_VIEWER + VIEWERS + RATINGS_VIEWER, "GET", """
        productpage-v1 | allow:productpage-viewer | allow:details-viewer | deny:allow-nothing+ratings-viewer | allow:reviews-viewer
        details-v1     | allow:productpage-viewer | deny:allow-nothing+details-viewer | deny:allow-nothing+ratings-viewer | deny:allow-nothing+reviews-viewer
        reviews-v1     | allow:productpage-viewer | deny:allow-nothing+details-viewer | allow:ratings-viewer | deny:allow-nothing+reviews-viewer
        reviews-v2     | allow:productpage-viewer | deny:allow-nothing+details-viewer | allow:ratings-viewer | deny:allow-nothing+reviews-viewer
        reviews-v3     | allow:productpage-viewer | deny:allow-nothing+details-viewer | allow:ratings-viewer | deny:allow-nothing+reviews-viewer
        netpod         | reset:default | reset:default | reset:default | reset:default
    """),
    # the same rules under PERMISSIVE: the plaintext client reaches productpage (no identity
    # needed) but never matches a principal, so details and reviews refuse it
    "viewers under permissive": (PERMISSIVE + ALLOW_NOTHING + PRODUCTPAGE_VIEWER + VIEWERS, "GET", """
        productpage-v1 | allow:productpage-viewer | allow:details-viewer | deny:allow-nothing | allow:reviews-viewer
        netpod         | allow:productpage-viewer | deny:allow-nothing+details-viewer | deny:allow-nothing | deny:allow-nothing+reviews-viewer
    """),
    # every policy as a dry run: nothing enforced, the matrix says what enforcing would do
    "dry run": (STRICT + dry(ALLOW_NOTHING + PRODUCTPAGE_VIEWER + VIEWERS), "GET", """
        productpage-v1 | allow | allow | allow~deny:allow-nothing | allow
        details-v1     | allow | allow~deny:allow-nothing+details-viewer | allow~deny:allow-nothing | allow~deny:allow-nothing+reviews-viewer
        reviews-v2     | allow | allow~deny:allow-nothing+details-viewer | allow~deny:allow-nothing | allow~deny:allow-nothing+reviews-viewer
        netpod         | reset:default | reset:default | reset:default | reset:default
    """),
}


def _policy(names):
    return ", ".join("default/" + n for n in names.split("+")) if names else ""


def parse_cell(text):
    text = text.strip()
    would = None
    if "~" in text:
        text, would_text = text.split("~", 1)
        decision, _sep, names = would_text.partition(":")
        would = (decision, _policy(names))
    decision, _sep, names = text.partition(":")
    return decision, _policy(names), would


def parse_table(table):
    rows = {}
    for line in table.strip().splitlines():
        cells = [c.strip() for c in line.split("|")]
        source = ("test/" if cells[0] == "netpod" else "default/") + cells[0]
        for column, text in zip(COLUMNS, cells[1:]):
            rows[(source, "%s.default:9080" % column)] = parse_cell(text)
    return rows


def test_the_tables_hold_at_least_twenty_hand_written_cells_per_main_stage():
    for name in ("no policies", "strict", "allow-nothing", "productpage-viewer", "details and reviews viewers"):
        assert len(parse_table(STAGES[name][2])) >= 20, name


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_bookinfo_stage_matches_the_hand_written_table(stage):
    policies, method, table = STAGES[stage]
    matrix = am.compute_matrix(bookinfo() + policies, requests=[{"method": method, "path": "/"}],
                               namespaces=["default", "test"])
    expected = parse_table(table)
    for (source, destination), (decision, policy, would) in sorted(expected.items()):
        cell = am.lookup(matrix, source, destination, method, "/")
        assert cell is not None, (source, destination)
        got_would = (cell["would"]["decision"], cell["would"]["policy"]) if cell["would"] else None
        assert (cell["decision"], cell["policy"], got_would) == (decision, policy, would), \
            "%s: %s -> %s: %s" % (stage, source, destination, cell["reason"])


def test_the_matrix_covers_every_source_and_destination():
    matrix = am.compute_matrix(bookinfo() + STRICT, namespaces=["default", "test"])
    assert len(matrix["cells"]) == 7 * 4
    assert matrix["non_mesh_sources"] == ["test/netpod"]
    assert sorted(d["id"] for d in matrix["destinations"]) == [
        "details.default:9080", "productpage.default:9080", "ratings.default:9080", "reviews.default:9080"]
