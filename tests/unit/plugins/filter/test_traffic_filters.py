"""Unit tests for plugins/filter/traffic.py: traffic_render, traffic_shift, traffic_weights."""

import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.filter import traffic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


class TaggedStr(str):
    """Stands in for the str subclasses Ansible's templating hands to filters."""


def shop():
    with open(os.path.join(ROOT, "examples", "shop-model.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_filters_are_registered():
    assert sorted(traffic.FilterModule().filters()) == ["traffic_canary_query", "traffic_load", "traffic_render", "traffic_shift", "traffic_weights"]


def test_render_returns_manifest_dot_and_counts():
    model = shop()
    model["name"] = TaggedStr("shop")
    rendered = traffic.traffic_render(model)
    assert rendered["errors"] == [] and rendered["message"] == ""
    assert (rendered["name"], rendered["namespace"], rendered["services"], rendered["objects"]) == ("shop", "shop", 3, 7)
    assert [o["metadata"]["name"] for o in yaml.safe_load_all(rendered["manifest"])][:2] == ["main-gw", "destrule-order"]
    assert rendered["dot"].startswith('digraph "traffic model shop"')


def test_render_returns_the_errors_of_a_bad_model_instead_of_raising():
    model = shop()
    model["services"][0]["routes"][1]["destinations"][1]["weight"] = 30
    model["services"][1]["timeout"] = "5s"
    rendered = traffic.traffic_render(model)
    assert rendered["errors"] == [
        "service 'order': routes[1].destinations: weights 90 + 30 sum to 120; they must sum to 100",
        "service 'delivery': unknown key 'timeout' (accepted: name, host, hosts, gateways, port, subsets, routes, "
        "load_balancer, connection_pool, outlier_detection, tls)"]
    assert rendered["message"].startswith("traffic model 'shop' is invalid (2 errors):")
    assert "manifest" not in rendered


def test_render_refuses_data_that_is_not_json():
    rendered = traffic.traffic_render({"name": "x", "services": [{"name": object()}]})
    assert rendered["errors"][0].startswith("the model is not plain data")


def test_shift_and_weights():
    shifted = traffic.traffic_shift(shop(), "order", 50)
    assert traffic.traffic_weights(shifted, "order") == {"stable": 50, "canary": 50}
    with pytest.raises(AnsibleFilterError, match="traffic_shift: service 'billing' is not in the model"):
        traffic.traffic_shift(shop(), "billing", 50)
    with pytest.raises(AnsibleFilterError, match="the model must be a mapping"):
        traffic.traffic_weights(["not", "a", "model"], "order")


def test_render_reads_yaml_text_and_hands_the_model_back():
    with open(os.path.join(ROOT, "examples", "shop-model.yml"), encoding="utf-8") as handle:
        rendered = traffic.traffic_render(TaggedStr(handle.read()))
    assert rendered["errors"] == []
    assert rendered["model"] == shop()
    assert rendered["objects"] == 7


@pytest.mark.parametrize("text,error", [
    ("name: [unclosed", "the model is not valid YAML"),
    ("- just\n- a list\n", "the model must be a non-empty mapping"),
    ("", "the model must be a non-empty mapping"),
])
def test_render_names_text_that_is_not_a_model(text, error):
    rendered = traffic.traffic_render(text)
    assert rendered["errors"][0].startswith(error), rendered
    assert rendered["message"].startswith("traffic model is invalid")


@pytest.mark.parametrize("text,error", [
    ("name: [unclosed", "the model is not valid YAML"),
    ("- just\n- a list\n", "the model must be a non-empty mapping"),
    ("", "the model must be a non-empty mapping"),
])
def test_load_names_text_that_is_not_a_model_with_the_render_messages(text, error):
    loaded = traffic.traffic_load(TaggedStr(text))
    assert loaded["errors"][0].startswith(error), loaded
    assert loaded["message"] == traffic.traffic_render(text)["message"]
    assert "model" not in loaded


def test_load_reads_without_validating():
    with open(os.path.join(ROOT, "examples", "shop-model.yml"), encoding="utf-8") as handle:
        assert traffic.traffic_load(TaggedStr(handle.read())) == {"errors": [], "message": "", "model": shop()}
    bad = shop()
    bad["services"][0]["routes"][1]["destinations"][0]["weight"] = 60
    assert traffic.traffic_load(bad)["errors"] == []


def test_load_fills_in_the_default_tls_unless_the_model_has_its_own():
    loaded = traffic.traffic_load(shop(), tls={"mode": TaggedStr("ISTIO_MUTUAL")})
    assert loaded["errors"] == [] and loaded["model"] == dict(shop(), tls={"mode": "ISTIO_MUTUAL"})
    own = dict(shop(), tls={"mode": "DISABLE"})
    assert traffic.traffic_load(own, tls={"mode": "ISTIO_MUTUAL"})["model"]["tls"] == {"mode": "DISABLE"}
    assert traffic.traffic_load(shop(), tls={}) == traffic.traffic_load(shop()) == {"errors": [], "message": "", "model": shop()}
    rendered = traffic.traffic_render(traffic.traffic_load(shop(), tls={"mode": "ISTIO_MUTUAL"})["model"])
    rules = [o for o in yaml.safe_load_all(rendered["manifest"]) if o["kind"] == "DestinationRule"]
    assert [r["spec"]["trafficPolicy"]["tls"] for r in rules] == [{"mode": "ISTIO_MUTUAL"}] * 3


@pytest.mark.parametrize("tls,error", [
    ({"mode": "STRICT"}, "traffic_tls.mode: 'STRICT' is not accepted (accepted: ISTIO_MUTUAL, DISABLE, SIMPLE, MUTUAL)"),
    ({"mode": "SIMPLE"}, "traffic_tls.credential_name: mode SIMPLE needs credential_name"),
    ({"mode": "ISTIO_MUTUAL", "credential_name": "x"}, "traffic_tls.credential_name: mode ISTIO_MUTUAL takes no credential_name"),
    ({"credentialName": "x"}, "traffic_tls: unknown key 'credentialName' (did you mean 'credential_name'?"),
    ("ISTIO_MUTUAL", "traffic_tls: must be a mapping, got str 'ISTIO_MUTUAL'"),
])
def test_load_names_a_bad_default_tls_traffic_tls(tls, error):
    loaded = traffic.traffic_load(shop(), tls=tls)
    assert loaded["errors"][0].startswith(error), loaded
    assert loaded["message"].startswith("traffic_tls is invalid: " + error)
    assert loaded["source"] == "" and "model" not in loaded


def test_canary_query():
    query = traffic.traffic_canary_query(shop(), "order")
    assert 'destination_service_namespace="shop"' in query and 'destination_version="canary"' in query
    with pytest.raises(AnsibleFilterError, match="the model must be a mapping"):
        traffic.traffic_canary_query("order", "order")
