"""Role mesh_security and the access matrix against the lab.

Bookinfo (the lab fixture) runs in its own injection-labelled namespace ``secbook`` so its pods get
a real istio-proxy from the lab's injector; ``test/netpod`` (the fixture) has none. Istio comes
from playbooks/install.yml when the lab does not have it yet. The tests run in file order: bad
input, the mTLS stages and the STRICT gate, the authorization stages, rollback, the access matrix
stage by stage against hand-written tables, each lockout guard tripped and passed, and the
verify role's security checks.
"""

# pylint: disable=redefined-outer-name,unused-argument
import copy
import http.server
import json
import os
import threading
import urllib.parse

import pytest
import yaml
from lab_helpers import delete_namespaces, has_proxy, plaintext_namespaces, running_pods, wait_for  # pylint: disable=import-error

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOK = "playbooks/security.yml"
NS = "secbook"
SEC = "security.istio.io/v1"
TD = "cluster.local"
MANAGED = {"app.kubernetes.io/managed-by": "meshops.istio", "meshops.istio/role": "mesh_security"}
SELECTOR = "meshops.istio/role=mesh_security"
FIXTURES = os.path.join(ROOT, "lab", "fixtures", "samples")
STRICT_PA = [{"name": "default", "namespace": NS, "mode": "STRICT"}]


def principal(sa):
    return "%s/ns/%s/sa/%s" % (TD, NS, sa)


def viewer(app, sa=None, methods=("GET",)):
    rule = {"to": [{"operation": {"methods": list(methods)}}]}
    if sa:
        rule["from"] = [{"source": {"principals": [principal(sa)]}}]
    return {"name": "%s-viewer" % app, "namespace": NS, "selector": {"app": app}, "action": "ALLOW", "rules": [rule]}


ALLOW_NOTHING = [{"name": "allow-nothing", "namespace": NS}]
PRODUCTPAGE_VIEWER = [viewer("productpage")]
VIEWERS = [viewer("details", "bookinfo-productpage"), viewer("reviews", "bookinfo-productpage")]
RATINGS_VIEWER = [viewer("ratings", "bookinfo-reviews")]
BOOKINFO_POLICIES = ALLOW_NOTHING + PRODUCTPAGE_VIEWER + VIEWERS + RATINGS_VIEWER


# --------------------------------------------------------------------------- helpers
def load_docs(path):
    with open(path, encoding="utf-8") as handle:
        return [d for d in yaml.safe_load_all(handle) if d]


def create_all(kube, docs, namespace=None):
    for doc in docs:
        doc = copy.deepcopy(doc)
        resource = kube.resource(doc["apiVersion"], doc["kind"])
        ns = doc["metadata"].get("namespace") or (namespace if resource.namespaced else None)
        if ns and resource.namespaced:
            doc["metadata"]["namespace"] = ns
        if kube.get(doc["apiVersion"], doc["kind"], doc["metadata"]["name"], ns) is None:
            resource.create(body=doc, namespace=ns)


def delete(kube, api_version, kind, name, namespace=None):
    if kube.get(api_version, kind, name, namespace) is not None:
        body = {"gracePeriodSeconds": 0, "propagationPolicy": "Background"}
        kube.resource(api_version, kind).delete(name=name, namespace=namespace, body=body)
    wait_for(lambda: kube.get(api_version, kind, name, namespace) is None, "%s %s/%s to go" % (kind, namespace, name))


OURS = ("kube-system", "kube-public", "kube-node-lease", "istio-system", NS, "test")


def foreign_namespaces(kube):
    """Namespaces of other test files (the lab may be shared) with workloads without sidecar: the
    STRICT gate must judge only this file's caller, test/netpod."""
    return plaintext_namespaces(kube, exclude=OURS)


STATE = {}


def variables_for(**extra):
    """The role's variables for a run of this file: its namespaces and gate exclusions, then `extra`."""
    variables = {"mesh_security_namespace": NS, "mesh_security_matrix_namespaces": [NS, "test"],
                 "mesh_security_peer_authentications": [], "mesh_security_authorization_policies": []}
    foreign = foreign_namespaces(STATE["kube"]) if "kube" in STATE else []
    variables["mesh_security_gate_exclude_namespaces"] = ["istio-system"] + foreign
    variables.update(extra)
    if foreign and "mesh_security_gate_exclude_namespaces" in extra:
        variables["mesh_security_gate_exclude_namespaces"] = list(extra["mesh_security_gate_exclude_namespaces"]) + foreign
    return variables


def run(playbook, check=False, diff=False, **extra):
    return playbook(PLAYBOOK, extra_vars=variables_for(**extra), check=check, diff=diff)


def owned(obj):
    """What the role owns of an object: labels, annotations, spec."""
    if obj is None:
        return None
    meta = obj["metadata"]
    return {"labels": meta.get("labels") or {}, "annotations": meta.get("annotations") or {}, "spec": obj.get("spec")}


def managed(kube, kind):
    return dict((o["metadata"]["name"], o) for o in kube.list(SEC, kind, namespace=NS, label_selector=SELECTOR))


def matrix_file(lab):
    with open(os.path.join(lab.output_dir, "access-matrix.json"), encoding="utf-8") as handle:
        return json.load(handle)


def netpod(kube):
    create_all(kube, load_docs(os.path.join(FIXTURES, "netpod", "netpod.yaml")))
    wait_for(lambda: running_pods(kube, "test", "app=netpod"), "test/netpod to run")


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def bookinfo(istio, kube):
    """Bookinfo with sidecars in secbook, its gateway and route, and test/netpod without sidecar."""
    STATE["kube"] = kube
    namespaces = kube.resource("v1", "Namespace")
    if kube.get("v1", "Namespace", NS) is None:
        namespaces.create(body={"apiVersion": "v1", "kind": "Namespace",
                                "metadata": {"name": NS, "labels": {"istio-injection": "enabled"}}})
    # leftovers of an earlier session: start from no managed policy
    for kind in ("PeerAuthentication", "AuthorizationPolicy"):
        for name in managed(kube, kind):
            delete(kube, SEC, kind, name, NS)
    create_all(kube, load_docs(os.path.join(FIXTURES, "bookinfo", "platform", "kube", "bookinfo.yaml")), NS)
    create_all(kube, load_docs(os.path.join(FIXTURES, "bookinfo", "networking", "bookinfo-gateway.yaml")), NS)
    netpod(kube)
    ready = wait_for(lambda: len([p for p in running_pods(kube, NS, "app in (productpage,details,ratings,reviews)")
                                  if has_proxy(p)]) == 6, "six Bookinfo pods with istio-proxy")
    assert ready
    assert not any(has_proxy(p) for p in running_pods(kube, "test", "app=netpod"))
    yield NS
    # The lab is shared by the files an xdist worker runs: test/netpod (a client without sidecar)
    # and this file's Bookinfo go, so that the STRICT gate of a later site.yml is not refused.
    delete_namespaces(kube, ["test", NS])


# --------------------------------------------------------------------------- bad input
BAD_INPUT = [
    ("mode", {"mesh_security_peer_authentications": [{"name": "default", "namespace": NS, "mode": "STRICt"}]},
     "mesh_security_peer_authentications[0].mode: 'STRICt' is not one of UNSET, DISABLE, PERMISSIVE, STRICT"),
    ("selector with target_refs", {"mesh_security_authorization_policies": [
        {"name": "gw", "namespace": NS, "selector": {"app": "x"},
         "target_refs": [{"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "gw"}]}]},
     "mesh_security_authorization_policies[0]: selector and target_refs are mutually exclusive"),
    ("port", {"mesh_security_authorization_policies": [
        {"name": "ports", "namespace": NS, "rules": [{"to": [{"operation": {"ports": [70000]}}]}]}]},
     "mesh_security_authorization_policies[0].rules[0].to[0].operation.ports[0]: port 70000 is outside 1-65535"),
    ("missing service account", {"mesh_security_authorization_policies": ALLOW_NOTHING + [viewer("details", "bookinfo-nobody")]},
     "mesh_security_authorization_policies[1].rules[0].from[0].source.principals[0]: ServiceAccount secbook/bookinfo-nobody "
     "does not exist"),
]


@pytest.fixture(scope="module")
def bad_inputs(playbook_cases, bookinfo):
    """Every bad input, each one host of a single run."""
    return playbook_cases(PLAYBOOK, {case[0]: case[1] for case in BAD_INPUT},
                          common_vars=variables_for(mesh_security_peer_authentications=STRICT_PA))


@pytest.mark.parametrize("case, message", [(c[0], c[2]) for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_bad_input_fails_naming_the_field_before_anything_is_applied(kube, bad_inputs, case, message):
    result = bad_inputs[case]
    assert result.failed, result
    assert message in result.text, result.text
    assert result.changed == 0
    assert managed(kube, "PeerAuthentication") == {} and managed(kube, "AuthorizationPolicy") == {}


# --------------------------------------------------------------------------- mTLS stages
def expected_pa(mode):
    return {"labels": MANAGED, "annotations": {}, "spec": {"mtls": {"mode": mode}}}


def test_permissive_stage_matches_the_model_and_is_idempotent(playbook, kube, bookinfo):
    result = run(playbook, mesh_security_peer_authentications=STRICT_PA, mesh_security_mtls_stage="permissive")
    assert result.rc == 0, result.tail()
    assert result.changed > 0
    assert owned(kube.get(SEC, "PeerAuthentication", "default", NS)) == expected_pa("PERMISSIVE")
    again = run(playbook, mesh_security_peer_authentications=STRICT_PA, mesh_security_mtls_stage="permissive")
    assert again.rc == 0 and again.changed == 0, again.tail()


def test_strict_gate_refuses_while_netpod_calls_in_and_names_it(playbook, kube, bookinfo):
    result = run(playbook, mesh_security_peer_authentications=STRICT_PA)
    assert result.rc != 0
    assert "mesh_security refuses mTLS STRICT" in result.output
    assert "strict_gate: test/netpod -> ratings.secbook:9080" in result.output, result.tail()
    assert "reset (plaintext client refused by STRICT mTLS (secbook/default)" in result.output
    # the PERMISSIVE step stays; STRICT was not applied
    assert owned(kube.get(SEC, "PeerAuthentication", "default", NS)) == expected_pa("PERMISSIVE")


def test_check_mode_shows_the_change_cell_by_cell_and_changes_nothing(playbook, kube, bookinfo):
    before = kube.get(SEC, "PeerAuthentication", "default", NS)
    result = run(playbook, check=True, diff=True, mesh_security_peer_authentications=STRICT_PA)
    assert result.rc == 0, result.tail()
    assert "CHECK MODE: mTLS STRICT would be refused" in result.output
    assert "test/netpod -> ratings.secbook:9080 GET /: ALLOW => RESET (secbook/default)" in result.output
    after = kube.get(SEC, "PeerAuthentication", "default", NS)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_force_overrides_the_gate_and_says_so_and_rollback_restores_exactly(playbook, kube, bookinfo):
    before = kube.get(SEC, "PeerAuthentication", "default", NS)
    result = run(playbook, mesh_security_peer_authentications=STRICT_PA, mesh_security_force=True)
    assert result.rc == 0, result.tail()
    assert "FORCED by mesh_security_force=true: mTLS STRICT goes ahead despite:" in result.output
    assert "strict_gate: test/netpod -> " in result.output
    assert owned(kube.get(SEC, "PeerAuthentication", "default", NS)) == expected_pa("STRICT")
    back = run(playbook, mesh_security_rollback=True)
    assert back.rc == 0 and back.changed > 0, back.tail()
    assert owned(kube.get(SEC, "PeerAuthentication", "default", NS)) == owned(before)
    again = run(playbook, mesh_security_rollback=True)
    assert again.rc == 0 and again.changed == 0, again.tail()


def test_strict_gate_proceeds_once_the_pod_is_gone(playbook, kube, bookinfo):
    delete(kube, "v1", "Pod", "netpod", "test")
    try:
        result = run(playbook, mesh_security_peer_authentications=STRICT_PA)
        assert result.rc == 0, result.tail()
        assert "strict_gate: PASSED" in result.output
        assert "FORCED" not in result.output
        assert owned(kube.get(SEC, "PeerAuthentication", "default", NS)) == expected_pa("STRICT")
        again = run(playbook, mesh_security_peer_authentications=STRICT_PA)
        assert again.rc == 0 and again.changed == 0, again.tail()
    finally:
        netpod(kube)


# --------------------------------------------------------------------------- authorization stages
def expected_policies(dry_run):
    out = {}
    for entry in BOOKINFO_POLICIES:
        spec = {}
        if entry.get("selector"):
            spec["selector"] = {"matchLabels": entry["selector"]}
        if entry.get("action"):
            spec["action"] = entry["action"]
        if entry.get("rules"):
            spec["rules"] = entry["rules"]
        out[entry["name"]] = {"labels": MANAGED, "annotations": {"istio.io/dry-run": "true"} if dry_run else {}, "spec": spec}
    return out


def test_dry_run_stage_matches_the_model_and_the_matrix_says_would_deny(playbook, kube, lab, bookinfo):
    result = run(playbook, mesh_security_peer_authentications=STRICT_PA, mesh_security_authorization_policies=BOOKINFO_POLICIES,
                 mesh_security_authz_stage="dry_run", mesh_security_gate_exclude_namespaces=["istio-system", "test"])
    assert result.rc == 0, result.tail()
    got = dict((name, owned(obj)) for name, obj in managed(kube, "AuthorizationPolicy").items())
    assert got == expected_policies(dry_run=True)
    matrix = matrix_file(lab)
    cell = [c for c in matrix["cells"] if c["source"] == "secbook/details-v1" and c["destination"] == "ratings.secbook:9080"][0]
    assert cell["decision"] == "allow"
    assert cell["would"]["decision"] == "deny"
    again = run(playbook, mesh_security_peer_authentications=STRICT_PA, mesh_security_authorization_policies=BOOKINFO_POLICIES,
                mesh_security_authz_stage="dry_run")
    assert again.rc == 0 and again.changed == 0, again.tail()


def test_enforce_changes_only_the_annotation_and_rollback_restores_the_dry_run(playbook, kube, bookinfo):
    dry = managed(kube, "AuthorizationPolicy")
    result = run(playbook, mesh_security_peer_authentications=STRICT_PA, mesh_security_authorization_policies=BOOKINFO_POLICIES)
    assert result.rc == 0, result.tail()
    assert "required_flows: PASSED" in result.output and "ingress: PASSED" in result.output
    enforced = managed(kube, "AuthorizationPolicy")
    assert sorted(enforced) == sorted(dry)
    for name, obj in enforced.items():
        before, after = owned(dry[name]), owned(obj)
        assert before["annotations"] == {"istio.io/dry-run": "true"} and after["annotations"] == {}
        before.pop("annotations")
        after.pop("annotations")
        assert before == after, name
        assert obj["metadata"]["uid"] == dry[name]["metadata"]["uid"]
    assert dict((n, owned(o)) for n, o in enforced.items()) == expected_policies(dry_run=False)
    again = run(playbook, mesh_security_peer_authentications=STRICT_PA, mesh_security_authorization_policies=BOOKINFO_POLICIES)
    assert again.rc == 0 and again.changed == 0, again.tail()
    # rollback: exactly the dry-run objects again, field by field; twice is a no-op
    back = run(playbook, mesh_security_rollback=True)
    assert back.rc == 0, back.tail()
    restored = managed(kube, "AuthorizationPolicy")
    assert dict((n, owned(o)) for n, o in restored.items()) == dict((n, owned(o)) for n, o in dry.items())
    assert run(playbook, mesh_security_rollback=True).changed == 0


# --------------------------------------------------------------------------- the matrix per stage
# Rows: source workloads; columns: productpage, details, ratings, reviews (port 9080, GET /).
# A cell reads <decision>[:<policy>[+<policy>]]; policies are in secbook.
MATRIX_STAGES = [
    ("no policies", [], [], """
        productpage-v1 | allow | allow | allow | allow
        details-v1     | allow | allow | allow | allow
        ratings-v1     | allow | allow | allow | allow
        reviews-v1     | allow | allow | allow | allow
        reviews-v2     | allow | allow | allow | allow
        reviews-v3     | allow | allow | allow | allow
        netpod         | allow | allow | allow | allow
    """),
    ("strict", STRICT_PA, [], """
        productpage-v1 | allow | allow | allow | allow
        details-v1     | allow | allow | allow | allow
        ratings-v1     | allow | allow | allow | allow
        reviews-v1     | allow | allow | allow | allow
        reviews-v2     | allow | allow | allow | allow
        reviews-v3     | allow | allow | allow | allow
        netpod         | reset:default | reset:default | reset:default | reset:default
    """),
    ("allow-nothing", STRICT_PA, ALLOW_NOTHING, """
        productpage-v1 | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        details-v1     | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        ratings-v1     | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        reviews-v1     | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        reviews-v2     | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        reviews-v3     | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        netpod         | reset:default | reset:default | reset:default | reset:default
    """),
    ("productpage-viewer", STRICT_PA, ALLOW_NOTHING + PRODUCTPAGE_VIEWER, """
        productpage-v1 | allow:productpage-viewer | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        details-v1     | allow:productpage-viewer | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        ratings-v1     | allow:productpage-viewer | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        reviews-v1     | allow:productpage-viewer | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        reviews-v2     | allow:productpage-viewer | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        reviews-v3     | allow:productpage-viewer | deny:allow-nothing | deny:allow-nothing | deny:allow-nothing
        netpod         | reset:default | reset:default | reset:default | reset:default
    """),
    ("details and reviews viewers", STRICT_PA, ALLOW_NOTHING + PRODUCTPAGE_VIEWER + VIEWERS, """
        productpage-v1 | allow:productpage-viewer | allow:details-viewer | deny:allow-nothing | allow:reviews-viewer
        details-v1     | allow:productpage-viewer | deny:allow-nothing+details-viewer | deny:allow-nothing | deny:allow-nothing+reviews-viewer
        ratings-v1     | allow:productpage-viewer | deny:allow-nothing+details-viewer | deny:allow-nothing | deny:allow-nothing+reviews-viewer
        reviews-v1     | allow:productpage-viewer | deny:allow-nothing+details-viewer | deny:allow-nothing | deny:allow-nothing+reviews-viewer
        reviews-v2     | allow:productpage-viewer | deny:allow-nothing+details-viewer | deny:allow-nothing | deny:allow-nothing+reviews-viewer
        reviews-v3     | allow:productpage-viewer | deny:allow-nothing+details-viewer | deny:allow-nothing | deny:allow-nothing+reviews-viewer
        netpod         | reset:default | reset:default | reset:default | reset:default
    """),
]


def parse_table(table):
    rows = {}
    for line in table.strip().splitlines():
        cells = [c.strip() for c in line.split("|")]
        source = ("test/" if cells[0] == "netpod" else NS + "/") + cells[0]
        for column, text in zip(("productpage", "details", "ratings", "reviews"), cells[1:]):
            decision, _sep, names = text.partition(":")
            policy = ", ".join("%s/%s" % (NS, n) for n in names.split("+")) if names else ""
            rows[(source, "%s.%s:9080" % (column, NS))] = (decision, policy)
    return rows


@pytest.mark.parametrize("stage, pas, aps, table", MATRIX_STAGES, ids=[s[0] for s in MATRIX_STAGES])
def test_access_matrix_from_the_lab_matches_the_hand_written_table(playbook, lab, bookinfo, stage, pas, aps, table):
    expected = parse_table(table)
    assert len(expected) >= 20
    # the run gets past the STRICT gate (netpod is a deliberate outsider) and the required flows
    # (the partial stages deny them on purpose) by saying so
    result = run(playbook, mesh_security_peer_authentications=pas, mesh_security_authorization_policies=aps,
                 mesh_security_gate_exclude_namespaces=["istio-system", "test"], mesh_security_required_flows=[],
                 mesh_security_guards=[])
    assert result.rc == 0, result.tail()
    matrix = matrix_file(lab)
    got = dict(((c["source"], c["destination"]), (c["decision"], c["policy"])) for c in matrix["cells"]
               if c["method"] == "GET" and c["path"] == "/")
    for key, want in sorted(expected.items()):
        assert got.get(key) == want, "%s: %s -> %s" % (stage, key[0], key[1])
    assert "test/netpod" in matrix["non_mesh_sources"]


# --------------------------------------------------------------------------- lockout guards
def guard_run(playbook, pas=None, aps=(), **extra):
    variables = dict(mesh_security_peer_authentications=STRICT_PA if pas is None else pas, mesh_security_authorization_policies=list(aps),
                     mesh_security_gate_exclude_namespaces=["istio-system", "test"], mesh_security_required_flows=[])
    variables.update(extra)
    return run(playbook, **variables)


def test_ingress_guard_trips_on_allow_nothing_and_passes_with_productpage_viewer(playbook, kube, bookinfo):
    assert guard_run(playbook).rc == 0
    tripped = guard_run(playbook, aps=ALLOW_NOTHING)
    assert tripped.rc != 0
    assert "ingress: VirtualService secbook/bookinfo via Gateway secbook/bookinfo-gateway: istio-system/istio-ingressgateway -> " \
           "productpage.secbook:9080 GET /productpage" in tripped.output, tripped.tail()
    # refused after the dry run: allow-nothing exists, but only as a dry run
    assert managed(kube, "AuthorizationPolicy")["allow-nothing"]["metadata"]["annotations"] == {"istio.io/dry-run": "true"}
    passed = guard_run(playbook, aps=ALLOW_NOTHING + PRODUCTPAGE_VIEWER)
    assert passed.rc == 0 and "ingress: PASSED" in passed.output, passed.tail()


def probe_deployment(name, annotations):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}, "annotations": annotations},
                                  "spec": {"containers": [{
                                      "name": "app", "image": "registry.invalid/app:1", "ports": [{"containerPort": 9080}],
                                      "readinessProbe": {"httpGet": {"path": "/ready", "port": 9080}}}]}}}}


def test_probe_guard_trips_on_probes_not_rewritten_and_passes_when_injection_rewrote_them(playbook, kube, bookinfo):
    assert guard_run(playbook, pas=[], aps=[]).rc == 0  # start from no policy
    create_all(kube, [probe_deployment("probed-raw", {"sidecar.istio.io/rewriteAppHTTPProbers": "false"}),
                      probe_deployment("probed-rewritten", {})])
    raw = wait_for(lambda: [p for p in running_pods(kube, NS, "app=probed-raw") if has_proxy(p)], "probed-raw with a sidecar")
    rewritten = wait_for(lambda: [p for p in running_pods(kube, NS, "app=probed-rewritten") if has_proxy(p)], "probed-rewritten")
    # the lab's injector really rewrote one probe to the sidecar and left the other alone
    assert rewritten[0]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] == 15020
    assert raw[0]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] == 9080
    try:
        tripped = guard_run(playbook)
        assert tripped.rc != 0
        assert "probes: secbook/probed-raw container app readinessProbe GET :9080/ready (not rewritten to the sidecar): reset" \
            in tripped.output, tripped.tail()
        assert "probed-rewritten" not in tripped.output.split("mesh_security refuses")[-1]
    finally:
        delete(kube, "apps/v1", "Deployment", "probed-raw", NS)
        wait_for(lambda: not running_pods(kube, NS, "app=probed-raw"), "probed-raw pods to go")
    passed = guard_run(playbook)
    assert passed.rc == 0 and "probes: PASSED (0 checked)" in passed.output, passed.tail()
    delete(kube, "apps/v1", "Deployment", "probed-rewritten", NS)


def test_scrape_guard_trips_without_merged_metrics_and_passes_with_them(playbook, kube, bookinfo):
    assert guard_run(playbook, pas=[], aps=[]).rc == 0
    # productpage carries prometheus.io annotations on 9080; the injector moved them to 15020
    productpage = running_pods(kube, NS, "app=productpage")[0]
    assert productpage["metadata"]["annotations"]["prometheus.io/port"] == "15020"
    unmerged = probe_deployment("metrics-raw", {"prometheus.istio.io/merge-metrics": "false", "prometheus.io/scrape": "true",
                                                "prometheus.io/port": "9080", "prometheus.io/path": "/metrics"})
    del unmerged["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    create_all(kube, [unmerged])
    wait_for(lambda: [p for p in running_pods(kube, NS, "app=metrics-raw") if has_proxy(p)], "metrics-raw with a sidecar")
    try:
        tripped = guard_run(playbook)
        assert tripped.rc != 0
        assert "prometheus_scrape: istio-system/prometheus scrapes secbook/metrics-raw :9080/metrics (metrics not merged " \
               "on 15020): reset" in tripped.output, tripped.tail()
    finally:
        delete(kube, "apps/v1", "Deployment", "metrics-raw", NS)
        wait_for(lambda: not running_pods(kube, NS, "app=metrics-raw"), "metrics-raw pods to go")
    passed = guard_run(playbook)
    assert passed.rc == 0 and "prometheus_scrape: PASSED" in passed.output, passed.tail()


def test_identity_guard_trips_where_mtls_is_disabled_and_passes_under_strict(playbook, bookinfo):
    disable = STRICT_PA + [{"name": "details-plain", "namespace": NS, "mode": "STRICT", "selector": {"app": "details"},
                            "port_level_mtls": {9080: "DISABLE"}}]
    tripped = guard_run(playbook, pas=disable, aps=ALLOW_NOTHING + PRODUCTPAGE_VIEWER + VIEWERS)
    assert tripped.rc != 0
    assert "identity_mtls: secbook/details-viewer rules[0] uses principals but mTLS is DISABLE on secbook/details-v1 " \
           "port 9080 (secbook/details-plain port 9080): the rule can never match" in tripped.output, tripped.tail()
    passed = guard_run(playbook, aps=ALLOW_NOTHING + PRODUCTPAGE_VIEWER + VIEWERS)
    assert passed.rc == 0 and "identity_mtls: PASSED" in passed.output, passed.tail()


class _Prometheus(http.server.BaseHTTPRequestHandler):
    answer = {"status": "success", "data": {"resultType": "vector", "result": []}}
    queries = []

    def do_GET(self):  # pylint: disable=invalid-name
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query).get("query", [""])[0]
        type(self).queries.append(query)
        body = json.dumps(type(self).answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


def test_strict_gate_refuses_on_plaintext_seen_by_prometheus_and_passes_without(playbook, bookinfo):
    """Prometheus has no data in the lab: a server on 127.0.0.1 answers its query API instead."""
    assert guard_run(playbook, pas=[], aps=[]).rc == 0
    server = http.server.HTTPServer(("127.0.0.1", 0), _Prometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = "http://127.0.0.1:%d" % server.server_address[1]
    try:
        _Prometheus.answer = {"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"source_workload": "unknown", "source_workload_namespace": "unknown",
                        "destination_workload": "ratings-v1", "destination_workload_namespace": NS},
             "value": [1767225600, "17"]}]}}
        _Prometheus.queries = []
        tripped = guard_run(playbook, mesh_security_prometheus_url=url, mesh_security_prometheus_window="5m")
        assert tripped.rc != 0
        assert "prometheus_plaintext: unknown/unknown -> secbook/ratings-v1: 17 plaintext requests" in tripped.output, tripped.tail()
        assert len(_Prometheus.queries) == 1
        query = _Prometheus.queries[0]
        assert 'connection_security_policy!="mutual_tls"' in query and 'destination_workload_namespace=~"secbook"' in query
        assert "ratings-v1" in query and query.endswith("[5m])) > 0")
        _Prometheus.answer = {"status": "success", "data": {"resultType": "vector", "result": []}}
        passed = guard_run(playbook, mesh_security_prometheus_url=url)
        assert passed.rc == 0 and "prometheus_plaintext: PASSED" in passed.output, passed.tail()
        without = guard_run(playbook, pas=[], aps=[])
        assert without.rc == 0
        skipped = guard_run(playbook)
        assert "prometheus_plaintext: SKIPPED (no Prometheus URL given)" in skipped.output, skipped.tail()
    finally:
        server.shutdown()


# --------------------------------------------------------------------------- verify
# The lab's data plane speaks gRPC: every call is a POST, and a client uses mTLS only when a
# DestinationRule says ISTIO_MUTUAL (no auto mTLS), as the lab inventory's traffic_tls sets for
# the Bookinfo the roles deploy. This Bookinfo comes from the fixtures: give it those rules here.
GRPC_POLICIES = ALLOW_NOTHING + [viewer("productpage", methods=("GET", "POST")),
                                 viewer("details", "bookinfo-productpage", ("GET", "POST")),
                                 viewer("reviews", "bookinfo-productpage", ("GET", "POST")),
                                 viewer("ratings", "bookinfo-reviews", ("GET", "POST"))]
NETPOD_CHECK = "security: a client without sidecar reaches ratings as the access matrix predicts (PERMISSIVE: answered, STRICT: reset)"
CLIENT_CHECK = "security: productpage answers a mesh client as the access matrix predicts"
DETAILS_CHECK = "security: productpage gets details as the access matrix predicts (denied until details-viewer exists)"
REVIEWS_CHECK = "security: productpage gets reviews as the access matrix predicts (denied until reviews-viewer exists)"
CELLS_CHECK = "security: every access-matrix cell the data plane can probe answers as predicted"


@pytest.fixture
def mutual_tls_rules(kube, bookinfo):
    rules = [{"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
              "metadata": {"name": "lab-mtls-%s" % svc, "namespace": NS},
              "spec": {"host": svc, "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}}}}
             for svc in ("productpage", "details", "reviews", "ratings")]
    create_all(kube, rules)
    yield
    for rule in rules:
        delete(kube, "networking.istio.io/v1", "DestinationRule", rule["metadata"]["name"], NS)


def verify_security(playbook, lab):
    result = playbook("playbooks/verify.yml", extra_vars={"verify_areas": ["security"], "verify_bookinfo_namespace": NS})
    with open(os.path.join(lab.output_dir, "verify.json"), encoding="utf-8") as handle:
        return result, dict((r["name"], r) for r in json.load(handle)["results"])


def test_verify_compares_the_access_matrix_with_real_calls(playbook, lab, bookinfo, mutual_tls_rules):
    assert guard_run(playbook, aps=GRPC_POLICIES).rc == 0
    result, results = verify_security(playbook, lab)
    assert result.rc == 0, result.tail()
    for title in ("the ingress gateway still reaches every destination its VirtualServices route to",
                  "kubelet probes that hit application ports are not blocked by mTLS or authorization",
                  "Prometheus can still scrape every annotated workload",
                  "rules naming principals or namespaces apply only where mTLS carries identities",
                  "every principal in an AuthorizationPolicy names an existing ServiceAccount"):
        assert results["security: " + title]["status"] == "passed", results["security: " + title]
    # STRICT: the client without sidecar is refused; the mesh client and productpage are answered
    assert results[NETPOD_CHECK] == {"name": NETPOD_CHECK, "status": "passed",
                                     "detail": "test/meshops-verify-netpod -> ratings.secbook:9080: reset as predicted"}
    assert results[CLIENT_CHECK]["detail"] == "secbook/meshops-verify-client -> productpage.secbook:9080: allow as predicted"
    assert results[DETAILS_CHECK]["detail"] == "secbook/productpage-v1 -> details.secbook:9080: allow as predicted"
    assert results[REVIEWS_CHECK]["detail"] == "secbook/productpage-v1 -> reviews.secbook:9080: allow as predicted"
    cells = results[CELLS_CHECK]
    assert cells["status"] == "passed" and ", 0 failed, " in cells["detail"], cells
    assert int(cells["detail"].split(" passed")[0]) >= 20, cells  # every source x every Bookinfo port
    assert not [name for name, r in results.items() if r["status"] != "passed"], results


def test_verify_sees_productpage_denied_without_the_viewer_policies(playbook, lab, bookinfo, mutual_tls_rules):
    # viewers that admit another principal than productpage's: productpage is denied
    others = [p for p in GRPC_POLICIES if p["name"] not in ("details-viewer", "reviews-viewer")] + \
        [viewer("details", "bookinfo-reviews", ("GET", "POST")), viewer("reviews", "bookinfo-reviews", ("GET", "POST"))]
    assert guard_run(playbook, aps=others).rc == 0
    result, results = verify_security(playbook, lab)
    assert result.rc == 0, result.tail()
    assert results[DETAILS_CHECK]["detail"] == "secbook/productpage-v1 -> details.secbook:9080: deny as predicted"
    assert results[REVIEWS_CHECK]["detail"] == "secbook/productpage-v1 -> reviews.secbook:9080: deny as predicted"
    assert results[CELLS_CHECK]["status"] == "passed", results[CELLS_CHECK]
    # no viewer at all: only allow-nothing denies, which istiod does not send to proxyless servers
    alone = [p for p in GRPC_POLICIES if p["name"] not in ("details-viewer", "reviews-viewer")]
    assert guard_run(playbook, aps=alone).rc == 0
    result, results = verify_security(playbook, lab)
    assert result.rc == 0, result.tail()
    details = results[DETAILS_CHECK]
    assert details["status"] == "skipped" and details["detail"] == (
        "secbook/productpage-v1 -> details.secbook:9080: predicted deny by secbook/allow-nothing, observed allow: proxyless "
        "data plane: allow-nothing (an AuthorizationPolicy with an empty spec) is not sent by istiod"), details


def test_verify_gets_methods_get_only_denied_on_grpc_as_predicted(playbook, lab, bookinfo, mutual_tls_rules):
    # Bookinfo's GET-only viewers deny gRPC calls (POSTs): the matrix, asked about the call really
    # sent, predicts it, so the checks pass with productpage denied.
    assert guard_run(playbook, aps=BOOKINFO_POLICIES).rc == 0
    result, results = verify_security(playbook, lab)
    assert result.rc == 0, result.tail()
    assert results[DETAILS_CHECK]["detail"] == "secbook/productpage-v1 -> details.secbook:9080: deny as predicted"


def test_verify_under_permissive_reports_what_a_proxyless_data_plane_cannot_show(playbook, lab, bookinfo, mutual_tls_rules):
    permissive = [{"name": "default", "namespace": NS, "mode": "PERMISSIVE"}]
    assert guard_run(playbook, pas=permissive, aps=GRPC_POLICIES).rc == 0
    result, results = verify_security(playbook, lab)
    assert result.rc == 0, result.tail()
    # the mesh client is answered under PERMISSIVE too
    assert results[CLIENT_CHECK]["detail"] == "secbook/meshops-verify-client -> productpage.secbook:9080: allow as predicted"
    # the matrix predicts the plaintext call is answered (here denied by ratings-viewer, which needs
    # a principal); istiod serves PERMISSIVE as STRICT to gRPC servers: a named skip, not a pass
    netpod = results[NETPOD_CHECK]
    assert netpod["status"] == "skipped", netpod
    assert "predicted deny (PERMISSIVE accepts plaintext), observed reset: proxyless data plane: gRPC has no permissive mode" \
        in netpod["detail"], netpod
    assert guard_run(playbook, aps=GRPC_POLICIES).rc == 0


def test_verify_fails_when_the_policies_in_place_lock_the_ingress_out(playbook, lab, bookinfo):
    forced = guard_run(playbook, aps=ALLOW_NOTHING, mesh_security_force=True)
    assert forced.rc == 0 and "FORCED by mesh_security_force=true: enforcing AuthorizationPolicies" in forced.output, forced.tail()
    try:
        result = playbook("playbooks/verify.yml", extra_vars={"verify_areas": ["security"], "verify_bookinfo_namespace": NS})
        assert result.rc != 0
        with open(os.path.join(lab.output_dir, "verify.json"), encoding="utf-8") as handle:
            results = dict((r["name"], r) for r in json.load(handle)["results"])
        ingress = results["security: the ingress gateway still reaches every destination its VirtualServices route to"]
        assert ingress["status"] == "failed"
        assert "productpage.secbook:9080 GET /productpage" in ingress["detail"] and "secbook/allow-nothing" in ingress["detail"]
    finally:
        assert guard_run(playbook, aps=BOOKINFO_POLICIES).rc == 0
