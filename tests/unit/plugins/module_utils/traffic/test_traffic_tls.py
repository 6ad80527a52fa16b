"""Unit tests for the DestinationRule tls of the traffic model (validate.py, render.py).

Per service, per subset, the model-wide default (top-level ``tls``, which the role's
``traffic_tls`` fills in), overrides, and the errors of bad values.
"""

import copy
import os

import pytest
import yaml

from ansible_collections.meshops.istio.plugins.module_utils.traffic import dot as td
from ansible_collections.meshops.istio.plugins.module_utils.traffic import plan as tp
from ansible_collections.meshops.istio.plugins.module_utils.traffic import render as tr
from ansible_collections.meshops.istio.plugins.module_utils.traffic import schema
from ansible_collections.meshops.istio.plugins.module_utils.traffic import validate as tv

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))))
ACCEPTED = "(accepted: ISTIO_MUTUAL, DISABLE, SIMPLE, MUTUAL)"


def load_example(name):
    with open(os.path.join(ROOT, "examples", name), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def model(**top):
    """Two services: reviews (v1, v2 subsets; v1 with a load balancer) and ratings (default subsets)."""
    out = {
        "name": "bookinfo",
        "namespace": "bookinfo",
        "services": [
            {"name": "reviews", "load_balancer": "RANDOM",
             "subsets": [{"name": "v1", "labels": {"version": "v1"}, "load_balancer": "ROUND_ROBIN"},
                         {"name": "v2", "labels": {"version": "v2"}}],
             "routes": [{"destinations": [{"subset": "v1"}]}]},
            {"name": "ratings"},
        ],
    }
    out.update(top)
    return out


def rules(objects):
    """{service: DestinationRule spec}."""
    return dict((o["metadata"]["name"][len(schema.DR_PREFIX):], o["spec"])
                for o in objects if o["kind"] == "DestinationRule")


def rendered(raw):
    return rules(tr.render(tv.validate(raw)))


def errors_of(raw):
    with pytest.raises(schema.ModelError) as info:
        tv.validate(raw)
    return info.value.errors


# --------------------------------------------------------------------------- no tls: as before
@pytest.mark.parametrize("example", ["shop-model.yml", "bookinfo-model.yml"])
def test_without_tls_no_destination_rule_carries_tls(example):
    objects = tr.render(tv.validate(load_example(example)))
    assert "tls" not in yaml.safe_dump([o for o in objects if o["kind"] != "Gateway"])
    with_empty_default = tr.render(tv.validate(tv.with_default_tls(load_example(example), {})))
    assert with_empty_default == objects


def test_without_tls_the_policies_render_as_before():
    specs = rendered(model())
    assert specs["reviews"] == {
        "host": "reviews", "trafficPolicy": {"loadBalancer": {"simple": "RANDOM"}},
        "subsets": [{"name": "v1", "labels": {"version": "v1"}, "trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"}}},
                    {"name": "v2", "labels": {"version": "v2"}}]}
    assert specs["ratings"] == {"host": "ratings", "subsets": [
        {"name": "stable", "labels": {"version": "stable"}}, {"name": "canary", "labels": {"version": "canary"}}]}


# --------------------------------------------------------------------------- rendering
def test_service_tls_renders_in_the_destination_rule_traffic_policy():
    raw = model()
    raw["services"][1]["tls"] = {"mode": "ISTIO_MUTUAL"}
    raw["services"][0]["tls"] = {"mode": "SIMPLE", "credential_name": "reviews-client", "sni": "reviews.example.com"}
    specs = rendered(raw)
    assert specs["ratings"]["trafficPolicy"] == {"tls": {"mode": "ISTIO_MUTUAL"}}
    assert specs["reviews"]["trafficPolicy"] == {
        "loadBalancer": {"simple": "RANDOM"},
        "tls": {"mode": "SIMPLE", "credentialName": "reviews-client", "sni": "reviews.example.com"}}
    assert list(specs["reviews"]["trafficPolicy"]) == ["loadBalancer", "tls"]
    # subsets without their own tls inherit the service's in Istio: nothing is repeated there
    assert [s.get("trafficPolicy") for s in specs["reviews"]["subsets"]] == [{"loadBalancer": {"simple": "ROUND_ROBIN"}}, None]


def test_subset_tls_renders_in_the_subset_traffic_policy_only():
    raw = model()
    raw["services"][0]["subsets"][0]["tls"] = {"mode": "DISABLE"}
    raw["services"][0]["subsets"][1]["tls"] = {"mode": "MUTUAL", "credential_name": "reviews-v2-client"}
    spec = rendered(raw)["reviews"]
    assert spec["trafficPolicy"] == {"loadBalancer": {"simple": "RANDOM"}}
    assert spec["subsets"][0]["trafficPolicy"] == {"loadBalancer": {"simple": "ROUND_ROBIN"}, "tls": {"mode": "DISABLE"}}
    assert spec["subsets"][1]["trafficPolicy"] == {"tls": {"mode": "MUTUAL", "credentialName": "reviews-v2-client"}}


def test_model_tls_is_the_default_of_every_service():
    specs = rendered(model(tls={"mode": "ISTIO_MUTUAL"}))
    assert specs["reviews"]["trafficPolicy"] == {"loadBalancer": {"simple": "RANDOM"}, "tls": {"mode": "ISTIO_MUTUAL"}}
    assert specs["ratings"]["trafficPolicy"] == {"tls": {"mode": "ISTIO_MUTUAL"}}
    assert all("tls" not in (s.get("trafficPolicy") or {}) for spec in specs.values() for s in spec["subsets"])


def test_service_and_subset_tls_override_the_default():
    raw = model(tls={"mode": "ISTIO_MUTUAL"})
    raw["services"][1]["tls"] = {"mode": "SIMPLE", "credential_name": "ratings-ca"}
    raw["services"][0]["subsets"][1]["tls"] = {"mode": "DISABLE"}
    specs = rendered(raw)
    # the service's tls replaces the default whole
    assert specs["ratings"]["trafficPolicy"] == {"tls": {"mode": "SIMPLE", "credentialName": "ratings-ca"}}
    assert specs["reviews"]["trafficPolicy"]["tls"] == {"mode": "ISTIO_MUTUAL"}
    assert specs["reviews"]["subsets"][1]["trafficPolicy"] == {"tls": {"mode": "DISABLE"}}
    assert "tls" not in specs["reviews"]["subsets"][0]["trafficPolicy"]


def test_the_default_is_not_shared_between_services():
    normalized = tv.validate(model(tls={"mode": "ISTIO_MUTUAL"}))
    first, second = [s["policy"]["tls"] for s in normalized["services"]]
    assert first == second and first is not second


def test_rendered_tls_converges_against_the_same_live_spec_and_not_against_the_old_one():
    before = tr.render(tv.validate(model()))
    after = tr.render(tv.validate(model(tls={"mode": "ISTIO_MUTUAL"})))
    live = dict((o["metadata"]["name"], copy.deepcopy(o)) for o in before)
    plan = tp.plan(after, list(live.values()), "bookinfo")
    assert sorted(entry[0]["metadata"]["name"] for entry in plan["apply"]) == ["destrule-ratings", "destrule-reviews"]
    assert tp.plan(after, after, "bookinfo")["apply"] == []


def test_dot_still_draws_a_model_with_tls():
    assert td.render_dot(tv.validate(model(tls={"mode": "ISTIO_MUTUAL"}))).startswith('digraph "traffic model bookinfo"')


# --------------------------------------------------------------------------- with_default_tls / check_tls
def test_with_default_tls_fills_in_only_a_model_without_tls_and_copies():
    raw = model()
    filled = tv.with_default_tls(raw, {"mode": "ISTIO_MUTUAL"})
    assert filled["tls"] == {"mode": "ISTIO_MUTUAL"} and "tls" not in raw
    own = model(tls={"mode": "DISABLE"})
    assert tv.with_default_tls(own, {"mode": "ISTIO_MUTUAL"}) is own
    assert tv.with_default_tls(raw, {}) is raw and tv.with_default_tls(raw, None) is raw


@pytest.mark.parametrize("tls", [
    {"mode": "ISTIO_MUTUAL"}, {"mode": "DISABLE"}, {"mode": "SIMPLE", "credential_name": "ca"},
    {"mode": "SIMPLE", "credential_name": "ca.example", "sni": "db.example.com"},
    {"mode": "MUTUAL", "credential_name": "client-cert"},
])
def test_check_tls_accepts_the_documented_forms(tls):
    assert tv.check_tls(tls) == []
    assert tv.validate(model(tls=tls))["services"][1]["policy"]["tls"] == tls


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("tls,errors", [
    ({"mode": "STRICT"}, ["model.tls.mode: 'STRICT' is not accepted " + ACCEPTED]),
    ({"mode": "istio_mutual"}, ["model.tls.mode: 'istio_mutual' is not accepted " + ACCEPTED]),
    ({"mode": "SIMPLE"}, ["model.tls.credential_name: mode SIMPLE needs credential_name, the name of the Secret "
                          "holding the client's credential"]),
    ({"mode": "MUTUAL", "sni": "db"}, ["model.tls.credential_name: mode MUTUAL needs credential_name, the name of the "
                                       "Secret holding the client's credential"]),
    ({"mode": "ISTIO_MUTUAL", "credential_name": "x", "sni": "db"},
     ["model.tls.credential_name: mode ISTIO_MUTUAL takes no credential_name (only SIMPLE and MUTUAL do)",
      "model.tls.sni: mode ISTIO_MUTUAL takes no sni (only SIMPLE and MUTUAL do)"]),
    ({"mode": "DISABLE", "sni": "db"}, ["model.tls.sni: mode DISABLE takes no sni (only SIMPLE and MUTUAL do)"]),
    ({"mode": "SIMPLE", "credential_name": "Bad_Secret"}, ["model.tls.credential_name: 'Bad_Secret' is not a valid Secret name"]),
    ({"mode": "SIMPLE", "credential_name": "ca", "sni": "*.example.com"},
     ["model.tls.sni: '*.example.com' is not a valid host name"]),
    ({"mode": "SIMPLE", "credential_name": ""}, ["model.tls.credential_name: must be a non-empty string, got ''"]),
    ({"credential_name": "ca"}, ["model.tls: 'mode' is required"]),
    ({"mode": None}, ["model.tls: 'mode' is required"]),
    ({"mode": "SIMPLE", "credentialName": "ca"},
     ["model.tls: unknown key 'credentialName' (did you mean 'credential_name'? model keys are snake_case) "
      "(accepted: mode, credential_name, sni)",
      "model.tls.credential_name: mode SIMPLE needs credential_name, the name of the Secret holding the client's "
      "credential"]),
    ("ISTIO_MUTUAL", ["model.tls: must be a mapping, got str 'ISTIO_MUTUAL'"]),
])
def test_bad_model_tls_is_named_with_the_value_and_the_accepted_values(tls, errors):
    assert errors_of(model(tls=tls)) == errors
    assert tv.check_tls(tls) == errors
    assert tv.check_tls(tls, "traffic_tls") == [e.replace("model.tls", "traffic_tls", 1) for e in errors]


def test_bad_service_and_subset_tls_name_the_service_and_subset_and_are_listed_together():
    raw = model(tls={"mode": "ISTIO_MUTUAL"})
    raw["services"][0]["tls"] = {"mode": "PASSTHROUGH"}
    raw["services"][0]["subsets"][1]["tls"] = {"mode": "SIMPLE"}
    raw["services"][1]["tls"] = {"mode": "DISABLE", "credential_name": "ratings-ca"}
    assert errors_of(raw) == [
        "service 'reviews'.tls.mode: 'PASSTHROUGH' is not accepted " + ACCEPTED,
        "service 'reviews': subset 'v2'.tls.credential_name: mode SIMPLE needs credential_name, the name of the "
        "Secret holding the client's credential",
        "service 'ratings'.tls.credential_name: mode DISABLE takes no credential_name (only SIMPLE and MUTUAL do)",
    ]


def test_the_model_error_message_lists_tls_errors_like_the_others():
    with pytest.raises(schema.ModelError) as info:
        tv.validate(model(tls={"mode": "STRICT"}))
    assert str(info.value) == ("traffic model 'bookinfo' is invalid (1 error):\n"
                               "  - model.tls.mode: 'STRICT' is not accepted " + ACCEPTED)


def test_gateway_server_tls_keeps_its_own_modes():
    raw = model(gateways=[{"name": "gw", "servers": [{"port": 443, "protocol": "HTTPS", "hosts": ["a.example.com"],
                                                      "tls": {"mode": "PASSTHROUGH"}}]}])
    assert tv.validate(raw)["gateways"][0]["servers"][0]["tls"] == {"mode": "PASSTHROUGH"}
    raw["gateways"][0]["servers"][0]["tls"]["sni"] = "a.example.com"
    assert errors_of(raw) == ["gateway 'gw': servers[0].tls: unknown key 'sni' (accepted: mode, credential_name)"]
