"""Role traffic against the lab: bad models, apply, idempotence, check/diff, prune, analyze, promotion.

The tests run in file order and share the shop namespace; the lab gets Istio (CRDs, istiod's
validation webhook) from playbooks/install.yml when it does not have it yet.
"""

import copy
import os
import re
import shutil
import subprocess

import pytest
import yaml
from lab_helpers import delete_namespaces, wait_for  # pylint: disable=import-error

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAFFIC = "playbooks/traffic.yml"
PROMOTION = "playbooks/canary_promotion.yml"
SHOP_FILE = os.path.join(ROOT, "examples", "shop-model.yml")
NS = "shop"
BAD_NS = "traffic-bad"
ISTIO = "networking.istio.io/v1"
SELECTOR = "app.kubernetes.io/managed-by=meshops.istio,meshops.istio/model=%s"


def shop_model():
    with open(SHOP_FILE, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def managed(kube, model, namespace=None):
    """{(kind, name): object} of every object labelled with the model."""
    found = {}
    for kind in ("Gateway", "DestinationRule", "VirtualService"):
        for obj in kube.list(ISTIO, kind, namespace=namespace, label_selector=SELECTOR % model):
            found[(kind, obj["metadata"]["name"])] = obj
    return found


def weights(vsvc, route_name):
    route = [r for r in vsvc["spec"]["http"] if r.get("name") == route_name][0]
    return [(d["destination"]["subset"], d.get("weight")) for d in route["route"]]


def flat(output):
    """The output with every run of white space made one space (the callback wraps long messages)."""
    return " ".join(output.split())


def apply_shop(playbook, model=None, **extra):
    variables = {"traffic_model": model} if model is not None else {"traffic_model_file": SHOP_FILE}
    variables.update(extra)
    return playbook(TRAFFIC, extra_vars=variables)


# --------------------------------------------------------------------------- bad models
def _bad(mutate):
    model = shop_model()
    model["name"] = "bad"
    model["namespace"] = BAD_NS
    mutate(model)
    return model


def _order(model):
    return model["services"][0]


BAD_MODELS = [
    ("weights 60+30",
     lambda m: _order(m)["routes"][1].update(destinations=[{"subset": "stable", "weight": 60},
                                                           {"subset": "canary", "weight": 30}]),
     "service 'order': routes[1].destinations: weights 60 + 30 sum to 90; they must sum to 100"),
    ("route to an undefined subset",
     lambda m: _order(m)["routes"][0].update(destinations=[{"subset": "blue"}]),
     "service 'order': routes[0].destinations[0].subset: subset 'blue' is not defined for host 'order'"),
    ("unknown key",
     lambda m: _order(m).update(retry={"attempts": 3}),
     "service 'order': unknown key 'retry'"),
    ("duplicate service",
     lambda m: m["services"].append(copy.deepcopy(m["services"][2])),
     "service 'product': duplicate service: services[2] and services[3] are both named 'product'"),
    ("negative timeout",
     lambda m: _order(m)["routes"][1].update(timeout="-10s"),
     "service 'order': routes[1].timeout: '-10s' is negative"),
    ("delay percentage 150",
     lambda m: _order(m)["routes"][1].update(fault={"delay": {"fixed": "7s", "percentage": 150}}),
     "service 'order': routes[1].fault.delay.percentage: 150 is out of range"),
    ("gateway not in the model",
     lambda m: _order(m).update(gateways=["side-gw"]),
     "service 'order': gateways: gateway 'side-gw' is not defined in the model"),
    ("destination tls mode",
     lambda m: _order(m).update(tls={"mode": "STRICT"}),
     "service 'order'.tls.mode: 'STRICT' is not accepted (accepted: ISTIO_MUTUAL, DISABLE, SIMPLE, MUTUAL)"),
]


@pytest.fixture(scope="module")
def bad_inputs(istio, playbook_cases):
    """Every bad model and bad role input of this file, each one host of a single run."""
    cases = {name: {"traffic_model": _bad(mutate)} for name, mutate, _message in BAD_MODELS}
    cases["traffic_state gone"] = {"traffic_model_file": SHOP_FILE, "traffic_state": "gone"}
    cases["model and model file"] = {"traffic_model_file": SHOP_FILE, "traffic_model": shop_model()}
    return playbook_cases(TRAFFIC, cases)


@pytest.mark.parametrize("case,message", [(case[0], case[2]) for case in BAD_MODELS], ids=[case[0] for case in BAD_MODELS])
def test_bad_model_fails_with_the_named_error_and_applies_nothing(bad_inputs, kube, case, message):
    outcome = bad_inputs[case]
    assert outcome.failed, outcome
    assert message in flat(outcome.text), outcome.text
    assert "traffic model 'bad' is invalid" in flat(outcome.text)
    assert kube.get("v1", "Namespace", BAD_NS) is None
    assert managed(kube, "bad") == {}


def test_bad_role_input_fails_before_anything_changes(bad_inputs, kube):
    gone = bad_inputs["traffic_state gone"]
    assert gone.failed, gone
    assert "traffic_state" in gone.text and "present, absent" in gone.text
    both = bad_inputs["model and model file"]
    assert both.failed, both
    assert "Set exactly one of traffic_model" in flat(both.text)
    assert managed(kube, "shop") == {}


# --------------------------------------------------------------------------- apply and converge
def test_shop_example_applies_and_warns_about_missing_services(istio, playbook, kube, lab):
    result = apply_shop(playbook)
    assert result.rc == 0, result.tail()
    objects = managed(kube, "shop", NS)
    assert sorted(objects) == sorted([("Gateway", "main-gw")] + [
        (kind, prefix + svc) for svc in ("order", "delivery", "product")
        for kind, prefix in (("DestinationRule", "destrule-"), ("VirtualService", "vsvc-"))])
    order = objects[("VirtualService", "vsvc-order")]
    assert order["spec"]["gateways"] == ["main-gw"] and order["spec"]["hosts"] == ["shop.example.com"]
    assert weights(order, "order") == [("stable", 90), ("canary", 10)]
    assert weights(order, "order-testers") == [("canary", None)]
    assert order["spec"]["http"][1]["retries"] == {"attempts": 3, "perTryTimeout": "2s",
                                                   "retryOn": "5xx,connect-failure,reset"}
    rule = objects[("DestinationRule", "destrule-order")]["spec"]
    assert rule["trafficPolicy"]["connectionPool"]["tcp"] == {"maxConnections": 100, "connectTimeout": "2s"}
    assert rule["subsets"][1]["trafficPolicy"] == {"loadBalancer": {"simple": "LEAST_REQUEST"}}
    gateway = objects[("Gateway", "main-gw")]["spec"]
    assert gateway["selector"] == {"istio": "ingressgateway"}
    assert "host 'order' is not a Service in namespace 'shop'" in result.output
    assert "subset 'canary' (app=order,version=canary) selects no pod" in result.output
    out = os.path.join(lab.output_dir, "traffic")
    for name in ("shop.yaml", "shop.dot", "shop.svg", "shop.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    with open(os.path.join(out, "shop.yaml"), encoding="utf-8") as handle:
        assert len(list(yaml.safe_load_all(handle))) == 7


def _deploy_shop_workloads(kube):
    """The shop's Services and a stable and a canary Deployment per service (KWOK runs the pods)."""
    services = kube.resource("v1", "Service")
    deployments = kube.resource("apps/v1", "Deployment")
    for name in ("order", "delivery", "product"):
        if kube.get("v1", "Service", name, NS) is None:
            services.create(namespace=NS, body={
                "apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
                "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 8080}]}})
        for version in ("stable", "canary"):
            labels = {"app": name, "version": version}
            if kube.get("apps/v1", "Deployment", "%s-%s" % (name, version), NS) is None:
                deployments.create(namespace=NS, body={
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "%s-%s" % (name, version), "namespace": NS, "labels": labels},
                    "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                             "template": {"metadata": {"labels": labels},
                                          "spec": {"containers": [{"name": name, "image": "registry.invalid/shop:1",
                                                                   "ports": [{"containerPort": 8080}]}]}}}})
    wait_for(lambda: len([p for p in kube.list("v1", "Pod", namespace=NS)
                          if p.get("status", {}).get("phase") == "Running"]) >= 6, "the shop's pods to start", 120)


def test_second_run_changes_nothing_and_stops_warning_once_workloads_exist(istio, playbook, kube):
    _deploy_shop_workloads(kube)
    before = dict((k, o["metadata"]["resourceVersion"]) for k, o in managed(kube, "shop", NS).items())
    result = apply_shop(playbook)
    assert result.rc == 0, result.tail()
    assert result.changed == 0, result.tail()
    assert "is not a Service" not in result.output
    assert "selects no pod" not in result.output
    assert dict((k, o["metadata"]["resourceVersion"]) for k, o in managed(kube, "shop", NS).items()) == before


def test_check_mode_on_a_converged_model_changes_nothing(istio, playbook):
    result = playbook(TRAFFIC, extra_vars={"traffic_model_file": SHOP_FILE}, check=True, diff=True)
    assert result.rc == 0, result.tail()
    assert result.changed == 0, result.tail()


def test_check_diff_shows_a_hand_edited_weight_and_changes_nothing(istio, playbook, kube):
    vsvcs = kube.resource(ISTIO, "VirtualService")
    live = kube.get(ISTIO, "VirtualService", "vsvc-order", NS)
    http = live["spec"]["http"]
    http[1]["route"][0]["weight"], http[1]["route"][1]["weight"] = 50, 50
    vsvcs.patch(name="vsvc-order", namespace=NS, body={"spec": {"http": http}},
                content_type="application/merge-patch+json")
    edited = kube.get(ISTIO, "VirtualService", "vsvc-order", NS)
    assert weights(edited, "order") == [("stable", 50), ("canary", 50)]

    check = playbook(TRAFFIC, extra_vars={"traffic_model_file": SHOP_FILE}, check=True, diff=True)
    assert check.rc == 0, check.tail()
    assert check.changed == 1, check.tail()
    assert "VirtualService shop/vsvc-order (live)" in check.output
    assert "VirtualService shop/vsvc-order (model)" in check.output
    assert re.search(r"^-\s+weight: 50$", check.output, re.M), check.tail(120)
    assert re.search(r"^\+\s+weight: 90$", check.output, re.M), check.tail(120)
    assert "destrule-order" not in check.output.split("Apply the traffic model")[-1]
    after = kube.get(ISTIO, "VirtualService", "vsvc-order", NS)
    assert weights(after, "order") == [("stable", 50), ("canary", 50)]
    assert after["metadata"]["resourceVersion"] == edited["metadata"]["resourceVersion"]

    repair = apply_shop(playbook)
    assert repair.rc == 0 and repair.changed == 1, repair.tail()
    assert weights(kube.get(ISTIO, "VirtualService", "vsvc-order", NS), "order") == [("stable", 90), ("canary", 10)]


# --------------------------------------------------------------------------- ownership and pruning
def test_prune_removes_a_service_that_left_and_spares_unmanaged_objects(istio, playbook, kube):
    vsvcs = kube.resource(ISTIO, "VirtualService")
    if kube.get(ISTIO, "VirtualService", "hand-made", NS) is None:
        vsvcs.create(namespace=NS, body={
            "apiVersion": ISTIO, "kind": "VirtualService", "metadata": {"name": "hand-made", "namespace": NS},
            "spec": {"hosts": ["product"], "http": [{"route": [{"destination": {"host": "product"}}]}]}})
    hand_made = kube.get(ISTIO, "VirtualService", "hand-made", NS)["metadata"]["resourceVersion"]
    kept = dict((k, o["metadata"]["resourceVersion"]) for k, o in managed(kube, "shop", NS).items()
                if "delivery" not in k[1])
    model = shop_model()
    model["services"] = [s for s in model["services"] if s["name"] != "delivery"]
    result = apply_shop(playbook, model=model)
    assert result.rc == 0, result.tail()
    assert result.changed >= 1
    objects = managed(kube, "shop", NS)
    assert ("VirtualService", "vsvc-delivery") not in objects
    assert ("DestinationRule", "destrule-delivery") not in objects
    assert dict((k, o["metadata"]["resourceVersion"]) for k, o in objects.items()) == kept
    assert kube.get(ISTIO, "VirtualService", "hand-made", NS)["metadata"]["resourceVersion"] == hand_made

    without_prune = apply_shop(playbook, traffic_prune=False)
    assert without_prune.rc == 0 and ("VirtualService", "vsvc-delivery") in managed(kube, "shop", NS)
    kept_with_delivery = managed(kube, "shop", NS)
    no_prune = apply_shop(playbook, model=model, traffic_prune=False)
    assert no_prune.rc == 0, no_prune.tail()
    assert "created 0, updated 0, pruned 0, unchanged 5" in flat(no_prune.output), no_prune.tail()
    assert sorted(managed(kube, "shop", NS)) == sorted(kept_with_delivery)


def test_the_same_model_name_in_another_namespace_is_left_alone(istio, playbook, kube):
    staging = shop_model()
    staging["namespace"] = "shop-staging"
    applied = apply_shop(playbook, model=staging)
    assert applied.rc == 0, applied.tail()
    assert ("gateway 'main-gw': port 80 hosts shop.example.com overlap Gateway shop/main-gw on the same ingress"
            in flat(applied.output)), applied.tail()
    before = dict((k, o["metadata"]["resourceVersion"]) for k, o in managed(kube, "shop", "shop-staging").items())
    assert len(before) == 7
    smaller = shop_model()
    smaller["services"] = [s for s in smaller["services"] if s["name"] != "delivery"]
    result = apply_shop(playbook, model=smaller)
    assert result.rc == 0, result.tail()
    after = dict((k, o["metadata"]["resourceVersion"]) for k, o in managed(kube, "shop", "shop-staging").items())
    assert after == before
    removed = apply_shop(playbook, model=staging, traffic_state="absent")
    assert removed.rc == 0 and managed(kube, "shop", "shop-staging") == {}
    assert ("VirtualService", "vsvc-order") in managed(kube, "shop", NS)


def test_an_unmanaged_object_with_a_rendered_name_stops_the_run(istio, playbook, kube):
    vsvcs = kube.resource(ISTIO, "VirtualService")
    if kube.get(ISTIO, "VirtualService", "vsvc-billing", NS) is None:
        vsvcs.create(namespace=NS, body={
            "apiVersion": ISTIO, "kind": "VirtualService", "metadata": {"name": "vsvc-billing", "namespace": NS},
            "spec": {"hosts": ["billing"], "http": [{"route": [{"destination": {"host": "billing"}}]}]}})
    model = shop_model()
    model["services"].append({"name": "billing", "routes": [{"destinations": [{"subset": "stable"}]}]})
    result = apply_shop(playbook, model=model)
    assert result.rc != 0
    assert "VirtualService shop/vsvc-billing exists and is not managed by meshops.istio" in flat(result.output)
    assert "nothing was changed" in flat(result.output)
    assert kube.get(ISTIO, "DestinationRule", "destrule-billing", NS) is None
    assert kube.get(ISTIO, "VirtualService", "vsvc-billing", NS)["metadata"].get("labels") is None
    vsvcs.delete(name="vsvc-billing", namespace=NS)


def test_istioctl_analyze_reports_no_errors(istio, kube):
    proc = subprocess.run([istio.istioctl, "analyze", "--kubeconfig", istio.kubeconfig, "-n", NS],
                          capture_output=True, text=True, check=False, timeout=300)
    report = proc.stdout + proc.stderr
    assert "Error [" not in report, report
    assert proc.returncode == 0, report


# --------------------------------------------------------------------------- the picture
def test_without_graphviz_the_role_warns_and_still_writes_the_dot_file(istio, playbook, lab):
    out = os.path.join(lab.output_dir, "traffic")
    for name in ("shop.dot", "shop.svg"):
        if os.path.exists(os.path.join(out, name)):
            os.unlink(os.path.join(out, name))
    result = playbook(TRAFFIC, extra_vars={"traffic_model_file": SHOP_FILE,
                                           "traffic_graph_command": "graphviz-dot-not-installed"})
    assert result.rc == 0, result.tail()
    assert "Graphviz 'graphviz-dot-not-installed' was not found, so only" in flat(result.output)
    assert os.path.getsize(os.path.join(out, "shop.dot")) > 0
    assert not os.path.exists(os.path.join(out, "shop.svg"))
    again = apply_shop(playbook)
    assert again.rc == 0 and os.path.exists(os.path.join(out, "shop.svg"))


# --------------------------------------------------------------------------- canary promotion
def test_canary_promotion_rolls_back_when_a_check_fails(istio, playbook, kube):
    result = playbook(PROMOTION, extra_vars={
        "traffic_model_file": SHOP_FILE, "traffic_canary_service": "order",
        "traffic_canary_check_command": 'test "$CANARY_SERVICE" = order && test "$CANARY_WEIGHT" -lt 50'})
    assert result.rc != 0
    assert "Canary check failed for service order at 50% canary" in flat(result.output), result.tail()
    assert "all traffic is on subset stable" in flat(result.output)
    order = kube.get(ISTIO, "VirtualService", "vsvc-order", NS)
    assert weights(order, "order") == [("stable", 100), ("canary", 0)]
    assert weights(order, "order-testers") == [("canary", None)]
    # the other services were not touched by the promotion
    delivery = kube.get(ISTIO, "VirtualService", "vsvc-delivery", NS)
    assert [(d["destination"]["subset"], d["weight"]) for d in delivery["spec"]["http"][0]["route"]] == [
        ("stable", 80), ("canary", 20)]


def test_canary_promotion_reaches_100_percent_when_checks_pass(istio, playbook, kube, tmp_path):
    check = tmp_path / "check.yml"
    check.write_text("---\n- name: The canary answers\n  ansible.builtin.assert:\n    that:\n"
                     "      - traffic_canary_weight | int in [10, 50, 100]\n", encoding="utf-8")
    result = playbook(PROMOTION, extra_vars={
        "traffic_model_file": SHOP_FILE, "traffic_canary_service": "product",
        "traffic_canary_check_tasks": str(check), "traffic_canary_steps": [10, 50, 100]})
    assert result.rc == 0, result.tail()
    assert "100% of traffic on subset canary after steps 10, 50, 100, every check passed" in flat(result.output)
    product = kube.get(ISTIO, "VirtualService", "vsvc-product", NS)
    assert weights(product, "product") == [("stable", 0), ("canary", 100)]


def test_canary_promotion_input_errors(istio, playbook):
    missing = playbook(PROMOTION, extra_vars={"traffic_model_file": SHOP_FILE, "traffic_canary_service": "order"})
    assert missing.rc != 0 and "Set at least one of traffic_canary_check_tasks" in flat(missing.output)
    wrong = playbook(PROMOTION, extra_vars={"traffic_model_file": SHOP_FILE, "traffic_canary_service": "billing",
                                            "traffic_canary_check_command": "true"})
    assert wrong.rc != 0
    assert "traffic_canary_service='billing' is not a service of model shop; accepted: order, delivery, product" in \
        flat(wrong.output)
    steps = playbook(PROMOTION, extra_vars={"traffic_model_file": SHOP_FILE, "traffic_canary_service": "order",
                                            "traffic_canary_check_command": "true", "traffic_canary_steps": [50, 10]})
    assert steps.rc != 0 and "traffic_canary_steps=[50, 10]" in flat(steps.output)


# --------------------------------------------------------------------------- DestinationRule tls
TLS_NS = "traffic-tls"
TLS_MODEL = {
    "name": "mtls", "namespace": TLS_NS,
    "services": [
        {"name": "details"},
        {"name": "reviews", "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                        {"name": "v2", "labels": {"version": "v2"}, "tls": {"mode": "DISABLE"}}]},
        {"name": "ratings", "tls": {"mode": "SIMPLE", "credential_name": "ratings-ca", "sni": "ratings.example.com"}},
    ],
}


def _tls_inventory(lab, tmp_path, traffic_tls):
    """The lab's inventory plus group_vars/mesh_controller.yml setting traffic_tls (over the lab's all.yml)."""
    inventory = tmp_path / "inventory"
    shutil.copytree(lab.inventory, inventory)
    (inventory / "group_vars" / "mesh_controller.yml").write_text(
        yaml.safe_dump({"traffic_tls": traffic_tls}, explicit_start=True), encoding="utf-8")
    return str(inventory)


def _tls_rules(kube):
    return dict((name[len("destrule-"):], obj["spec"]) for (kind, name), obj in managed(kube, "mtls", TLS_NS).items()
                if kind == "DestinationRule")


def test_destination_rule_tls_from_the_inventory_default_services_and_subsets(istio, playbook, kube, lab, tmp_path):
    inventory = _tls_inventory(lab, tmp_path, {"mode": "ISTIO_MUTUAL"})
    result = playbook(TRAFFIC, extra_vars={"traffic_model": TLS_MODEL, "traffic_check_hosts": False}, inventory=inventory)
    assert result.rc == 0, result.tail()
    rules = _tls_rules(kube)
    assert sorted(rules) == ["details", "ratings", "reviews"]
    assert rules["details"]["trafficPolicy"] == {"tls": {"mode": "ISTIO_MUTUAL"}}
    assert rules["reviews"]["trafficPolicy"] == {"tls": {"mode": "ISTIO_MUTUAL"}}
    assert [s.get("trafficPolicy") for s in rules["reviews"]["subsets"]] == [None, {"tls": {"mode": "DISABLE"}}]
    assert rules["ratings"]["trafficPolicy"] == {
        "tls": {"mode": "SIMPLE", "credentialName": "ratings-ca", "sni": "ratings.example.com"}}

    again = playbook(TRAFFIC, extra_vars={"traffic_model": TLS_MODEL, "traffic_check_hosts": False}, inventory=inventory)
    assert again.rc == 0 and again.changed == 0, again.tail()

    # a top-level tls in the model wins over the inventory's default
    own = dict(copy.deepcopy(TLS_MODEL), tls={"mode": "DISABLE"})
    result = playbook(TRAFFIC, extra_vars={"traffic_model": own, "traffic_check_hosts": False}, inventory=inventory)
    assert result.rc == 0, result.tail()
    assert _tls_rules(kube)["details"]["trafficPolicy"] == {"tls": {"mode": "DISABLE"}}

    # without the default, the services that set no tls lose it; the others keep theirs
    plain = playbook(TRAFFIC, extra_vars={"traffic_model": TLS_MODEL, "traffic_check_hosts": False},
                     inventory=_tls_inventory(lab, tmp_path / "none", {}))
    assert plain.rc == 0, plain.tail()
    rules = _tls_rules(kube)
    assert "trafficPolicy" not in rules["details"] and "trafficPolicy" not in rules["reviews"]
    assert rules["reviews"]["subsets"][1]["trafficPolicy"] == {"tls": {"mode": "DISABLE"}}
    assert rules["ratings"]["trafficPolicy"]["tls"]["mode"] == "SIMPLE"


BAD_TLS = [
    ("traffic_tls mode", {"mode": "STRICT"}, None,
     "traffic_tls is invalid: traffic_tls.mode: 'STRICT' is not accepted (accepted: ISTIO_MUTUAL, DISABLE, SIMPLE, MUTUAL)"),
    ("traffic_tls without credential", {"mode": "SIMPLE"}, None,
     "traffic_tls is invalid: traffic_tls.credential_name: mode SIMPLE needs credential_name"),
    ("service tls with a credential", {}, {"mode": "ISTIO_MUTUAL", "credential_name": "ratings-ca"},
     "service 'ratings'.tls.credential_name: mode ISTIO_MUTUAL takes no credential_name (only SIMPLE and MUTUAL do)"),
]


def _tls_candidates(model_tls):
    """The applied model (mtls) and a fresh one (mtls-bad in its own namespace), both made bad."""
    model = copy.deepcopy(TLS_MODEL)
    model["services"][0]["port"] = 9080
    if model_tls is not None:
        model["services"][2]["tls"] = model_tls
    return model, dict(copy.deepcopy(model), name="mtls-bad", namespace="traffic-tls-bad")


@pytest.fixture(scope="module")
def bad_tls(istio, playbook_cases, kube):
    """Every bad tls case against the applied model and a fresh one, each one host of a single run
    (traffic_tls as a host var, over the lab's group_vars as the inventory default it stands for).
    (the applied model's objects before, {(case, model name): HostOutcome}, after)."""
    before = dict((k, o["metadata"]["resourceVersion"]) for k, o in managed(kube, "mtls", TLS_NS).items())
    cases = {}
    for case, traffic_tls, model_tls, _message in BAD_TLS:
        for candidate in _tls_candidates(model_tls):
            cases[(case, candidate["name"])] = {"traffic_model": candidate, "traffic_check_hosts": False,
                                                "traffic_tls": traffic_tls}
    outcomes = playbook_cases(TRAFFIC, cases)
    after = dict((k, o["metadata"]["resourceVersion"]) for k, o in managed(kube, "mtls", TLS_NS).items())
    return before, outcomes, after


@pytest.mark.parametrize("case,model_tls,message", [(c[0], c[2], c[3]) for c in BAD_TLS], ids=[c[0] for c in BAD_TLS])
def test_a_bad_destination_tls_is_named_and_changes_nothing(bad_tls, kube, case, model_tls, message):
    before, outcomes, after = bad_tls
    assert len(before) == 6
    for name in ("mtls", "mtls-bad"):
        result = outcomes[(case, name)]
        assert result.failed, result
        assert message in flat(result.text), result.text
        if model_tls is not None:
            assert "traffic model '%s' is invalid" % name in flat(result.text), result.text
    assert after == before
    assert kube.get("v1", "Namespace", "traffic-tls-bad") is None
    assert managed(kube, "mtls-bad") == {}


def test_destination_rule_tls_model_is_removed(istio, playbook, kube):
    removed = playbook(TRAFFIC, extra_vars={"traffic_model": TLS_MODEL, "traffic_state": "absent"})
    assert removed.rc == 0, removed.tail()
    assert managed(kube, "mtls") == {}


# --------------------------------------------------------------------------- removal
def test_state_absent_removes_the_model_and_nothing_else(istio, playbook, kube):
    assert apply_shop(playbook).rc == 0
    hand_made = kube.get(ISTIO, "VirtualService", "hand-made", NS)
    result = apply_shop(playbook, traffic_state="absent")
    assert result.rc == 0, result.tail()
    assert managed(kube, "shop") == {}
    assert kube.get(ISTIO, "VirtualService", "hand-made", NS)["metadata"]["resourceVersion"] == \
        hand_made["metadata"]["resourceVersion"]
    again = apply_shop(playbook, traffic_state="absent")
    assert again.rc == 0 and again.changed == 0, again.tail()


def test_the_shop_namespace_goes_at_the_end(kube):
    # The lab is shared by the files a worker runs: leave no workload without sidecar behind (the
    # STRICT gate of a later site.yml would rightly refuse to lock it out).
    delete_namespaces(kube, [NS])
    assert kube.get("v1", "Namespace", NS) is None
