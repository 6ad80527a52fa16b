"""Unit tests for plugins/module_utils/traffic/: validation, rendering, planning, shifting, drawing."""

import copy
import os
import shutil
import subprocess

import pytest
import yaml

from ansible_collections.meshops.istio.plugins.module_utils.kube import names
from ansible_collections.meshops.istio.plugins.module_utils.traffic import dot as td
from ansible_collections.meshops.istio.plugins.module_utils.traffic import plan as tp
from ansible_collections.meshops.istio.plugins.module_utils.traffic import render as tr
from ansible_collections.meshops.istio.plugins.module_utils.traffic import schema
from ansible_collections.meshops.istio.plugins.module_utils.traffic import shift as ts
from ansible_collections.meshops.istio.plugins.module_utils.traffic import validate as tv

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


def load_example(name):
    with open(os.path.join(ROOT, "examples", name), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def by_name(objects, kind, name):
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, "%s %s rendered %d times" % (kind, name, len(found))
    return found[0]


def base_model():
    return {
        "name": "shop",
        "namespace": "shop",
        "gateways": [{"name": "main-gw"}],
        "services": [
            {"name": "order", "gateways": ["main-gw"], "hosts": ["*"],
             "routes": [{"match": [{"uri": {"prefix": "/orders"}}],
                         "destinations": [{"subset": "stable", "weight": 90}, {"subset": "canary", "weight": 10}]}]},
            {"name": "product"},
        ],
    }


def errors_of(model):
    with pytest.raises(schema.ModelError) as info:
        tv.validate(model)
    return info.value.errors


# --------------------------------------------------------------------------- examples
def test_shop_example_renders_gateway_and_two_objects_per_service():
    model = tv.validate(load_example("shop-model.yml"))
    objects = tr.render(model)
    names = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert names == [("Gateway", "main-gw"),
                     ("DestinationRule", "destrule-order"), ("DestinationRule", "destrule-delivery"),
                     ("DestinationRule", "destrule-product"),
                     ("VirtualService", "vsvc-order"), ("VirtualService", "vsvc-delivery"),
                     ("VirtualService", "vsvc-product")]
    for obj in objects:
        assert obj["apiVersion"] == "networking.istio.io/v1"
        assert obj["metadata"]["namespace"] == "shop"
        assert obj["metadata"]["labels"][schema.MANAGED_BY_LABEL] == "meshops.istio"
        assert obj["metadata"]["labels"][schema.MODEL_LABEL] == "shop"
    order = by_name(objects, "VirtualService", "vsvc-order")["spec"]
    assert order["hosts"] == ["shop.example.com"] and order["gateways"] == ["main-gw"]
    weighted = order["http"][1]
    assert [(r["destination"]["subset"], r["weight"]) for r in weighted["route"]] == [("stable", 90), ("canary", 10)]
    assert weighted["route"][0]["destination"] == {"host": "order", "subset": "stable", "port": {"number": 8080}}
    assert weighted["timeout"] == "10s"
    assert weighted["retries"] == {"attempts": 3, "perTryTimeout": "2s", "retryOn": "5xx,connect-failure,reset"}
    assert order["http"][0]["match"][0]["headers"] == {"x-canary": {"exact": "true"}}
    rule = by_name(objects, "DestinationRule", "destrule-order")["spec"]
    assert rule["trafficPolicy"]["loadBalancer"] == {"simple": "ROUND_ROBIN"}
    assert rule["trafficPolicy"]["connectionPool"] == {
        "tcp": {"maxConnections": 100, "connectTimeout": "2s"},
        "http": {"http1MaxPendingRequests": 50, "maxRetries": 3}}
    assert rule["trafficPolicy"]["outlierDetection"] == {
        "consecutive5xxErrors": 5, "interval": "30s", "baseEjectionTime": "1m", "maxEjectionPercent": 50}
    assert rule["subsets"][1] == {"name": "canary", "labels": {"app": "order", "version": "canary"},
                                  "trafficPolicy": {"loadBalancer": {"simple": "LEAST_REQUEST"}}}
    delivery = by_name(objects, "VirtualService", "vsvc-delivery")["spec"]["http"][0]
    assert delivery["match"][0]["method"] == {"regex": "GET|POST"}
    assert delivery["match"][1]["queryParams"] == {"preview": {"exact": "1"}}
    gateway = by_name(objects, "Gateway", "main-gw")["spec"]
    assert gateway == {"selector": {"istio": "ingressgateway"},
                       "servers": [{"port": {"number": 80, "name": "http-80", "protocol": "HTTP"},
                                    "hosts": ["shop.example.com"]}]}


def test_bookinfo_example_matches_the_sample_routes():
    objects = tr.render(tv.validate(load_example("bookinfo-model.yml")))
    page = by_name(objects, "VirtualService", "vsvc-productpage")["spec"]
    assert page["gateways"] == ["bookinfo-gateway"] and page["hosts"] == ["*"]
    assert page["http"][0]["match"] == [
        {"uri": {"exact": "/productpage"}}, {"uri": {"prefix": "/static"}}, {"uri": {"exact": "/login"}},
        {"uri": {"exact": "/logout"}}, {"uri": {"prefix": "/api/v1/products"}}]
    assert page["http"][0]["route"] == [{"destination": {"host": "productpage", "subset": "v1", "port": {"number": 9080}}}]
    reviews = by_name(objects, "VirtualService", "vsvc-reviews")["spec"]
    assert reviews == {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}]}
    rule = by_name(objects, "DestinationRule", "destrule-reviews")["spec"]
    assert [s["name"] for s in rule["subsets"]] == ["v1", "v2", "v3"]
    assert rule["trafficPolicy"] == {"loadBalancer": {"simple": "RANDOM"}}
    assert rule["subsets"][1]["trafficPolicy"] == {"loadBalancer": {"simple": "ROUND_ROBIN"}}
    assert by_name(objects, "Gateway", "bookinfo-gateway")["metadata"]["namespace"] == "default"


# --------------------------------------------------------------------------- defaults
def test_service_defaults_to_stable_and_canary_subsets_and_a_mesh_route_to_stable():
    model = tv.validate({"name": "m", "services": [{"name": "cart"}]})
    assert model["namespace"] == "default"
    objects = tr.render(model)
    assert [o["metadata"]["name"] for o in objects] == ["destrule-cart", "vsvc-cart"]
    assert objects[0]["spec"]["subsets"] == [{"name": "stable", "labels": {"version": "stable"}},
                                             {"name": "canary", "labels": {"version": "canary"}}]
    assert objects[1]["spec"] == {"hosts": ["cart"],
                                  "http": [{"route": [{"destination": {"host": "cart", "subset": "stable"}}]}]}
    assert objects[1]["metadata"]["labels"][schema.SERVICE_LABEL] == "cart"


def test_empty_routes_render_a_destination_rule_only():
    objects = tr.render(tv.validate({"name": "m", "services": [{"name": "cart", "routes": []}]}))
    assert [o["kind"] for o in objects] == ["DestinationRule"]


def test_fault_percentages_and_numeric_durations_render_as_istio_expects():
    model = base_model()
    model["services"][1]["routes"] = [
        {"match": [{"headers": {"end-user": "jason"}}], "destinations": [{"subset": "stable"}],
         "fault": {"delay": {"fixed": 7}, "abort": {"http_status": 500, "percentage": 12.5}}, "timeout": 0.5},
        {"destinations": [{"subset": "stable"}]}]
    route = tr.render(tv.validate(model))[-1]["spec"]["http"][0]
    assert route["match"] == [{"headers": {"end-user": {"exact": "jason"}}}]
    assert route["fault"] == {"delay": {"fixedDelay": "7s", "percentage": {"value": 100}},
                              "abort": {"httpStatus": 500, "percentage": {"value": 12.5}}}
    assert route["timeout"] == "0.5s"


def test_every_match_condition_renders_with_istio_field_names():
    model = base_model()
    model["services"][1]["routes"] = [
        {"match": [{"uri": {"regex": "^/p/[0-9]+$"}, "method": "GET", "port": 8080,
                    "source_labels": {"app": "web"}, "gateways": ["mesh"], "ignore_uri_case": True,
                    "query_params": {"q": {"regex": "a.*"}}, "source_namespace": "front", "name": "m1"}],
         "destinations": [{"subset": "stable"}]},
        {"destinations": [{"subset": "stable"}]}]
    match = tr.render(tv.validate(model))[-1]["spec"]["http"][0]["match"][0]
    assert match == {"name": "m1", "uri": {"regex": "^/p/[0-9]+$"}, "method": {"exact": "GET"}, "port": 8080,
                     "sourceLabels": {"app": "web"}, "gateways": ["mesh"], "queryParams": {"q": {"regex": "a.*"}},
                     "ignoreUriCase": True, "sourceNamespace": "front"}


# --------------------------------------------------------------------------- bad models
def _with(mutate):
    model = base_model()
    mutate(model)
    return model


def _set_route(model, **fields):
    model["services"][0]["routes"][0].update(fields)


BAD_MODELS = [
    ("weights 60+30",
     lambda m: m["services"][0]["routes"][0].update(destinations=[{"subset": "stable", "weight": 60},
                                                                  {"subset": "canary", "weight": 30}]),
     "service 'order': routes[0].destinations: weights 60 + 30 sum to 90; they must sum to 100"),
    ("route to an undefined subset",
     lambda m: m["services"][0]["routes"][0].update(destinations=[{"subset": "v9"}]),
     "service 'order': routes[0].destinations[0].subset: subset 'v9' is not defined for host 'order' "
     "(defined: stable, canary)"),
    ("unknown key",
     lambda m: m["services"][0].update(wieghts=1),
     "service 'order': unknown key 'wieghts'"),
    ("unknown key in camelCase",
     lambda m: m["services"][0]["routes"][0].update(retries={"attempts": 2, "perTryTimeout": "1s"}),
     "service 'order': routes[0].retries: unknown key 'perTryTimeout' (did you mean 'per_try_timeout'? "
     "model keys are snake_case)"),
    ("duplicate service",
     lambda m: m["services"].append({"name": "order"}),
     "service 'order': duplicate service: services[0] and services[2] are both named 'order'"),
    ("negative timeout",
     lambda m: _set_route(m, timeout="-5s"),
     "service 'order': routes[0].timeout: '-5s' is negative"),
    ("delay percentage 150",
     lambda m: _set_route(m, fault={"delay": {"fixed": "7s", "percentage": 150}}),
     "service 'order': routes[0].fault.delay.percentage: 150 is out of range: a percentage is 0 to 100"),
    ("abort status out of range",
     lambda m: _set_route(m, fault={"abort": {"http_status": 700}}),
     "service 'order': routes[0].fault.abort.http_status: 700 is out of range"),
    ("fault without delay or abort",
     lambda m: _set_route(m, fault={}),
     "service 'order': routes[0].fault: needs delay or abort"),
    ("not a duration",
     lambda m: _set_route(m, timeout="ten seconds"),
     "service 'order': routes[0].timeout: 'ten seconds' is not a duration"),
    ("missing weight with two destinations",
     lambda m: m["services"][0]["routes"][0].update(destinations=[{"subset": "stable"}, {"subset": "canary", "weight": 10}]),
     "service 'order': routes[0].destinations: with 2 destinations every destination needs a weight"),
    ("weight not an integer",
     lambda m: m["services"][0]["routes"][0]["destinations"][0].update(weight="90"),
     "service 'order': routes[0].destinations[0].weight: must be an integer from 0 to 100, got '90'"),
    ("undefined gateway",
     lambda m: m["services"][0].update(gateways=["side-gw"]),
     "service 'order': gateways: gateway 'side-gw' is not defined in the model (defined: main-gw"),
    ("wildcard host in the mesh",
     lambda m: m["services"][1].update(hosts=["*"]),
     "service 'product': hosts: '*' is not allowed for a service routed in the mesh"),
    ("catch-all route before another",
     lambda m: m["services"][0]["routes"].insert(0, {"destinations": [{"subset": "stable"}]}),
     "service 'order': routes[0]: has no match, so it catches every request and the 1 route(s) after it"),
    ("two services share a host",
     lambda m: m["services"][1].update(host="order", hosts=["order"]),
     "service 'product': host 'order' is also the host of service 'order'"),
    ("upper-case header",
     lambda m: m["services"][0]["routes"][0]["match"][0].update(headers={"End-User": "jason"}),
     "service 'order': routes[0].match[0].headers[End-User]: 'End-User' is not a valid name (header names are lower-case)"),
    ("query parameter by prefix",
     lambda m: m["services"][0]["routes"][0]["match"][0].update(query_params={"q": {"prefix": "a"}}),
     "query parameters match by exact or regex only"),
    ("two match types at once",
     lambda m: m["services"][0]["routes"][0]["match"][0].update(uri={"exact": "/a", "prefix": "/b"}),
     "service 'order': routes[0].match[0].uri: needs exactly one of exact, prefix, regex"),
    ("subset label value not a string",
     lambda m: m["services"][1].update(subsets=[{"name": "v1", "labels": {"version": 1}}], routes=[]),
     "service 'product': subset 'v1'.labels: label version: value must be a string, got 1 (quote it)"),
    ("duplicate subset",
     lambda m: m["services"][1].update(subsets=[{"name": "v1", "labels": {"v": "1"}}, {"name": "v1", "labels": {"v": "2"}}]),
     "service 'product': subset 'v1': duplicate subset name"),
    ("unknown load balancer",
     lambda m: m["services"][1].update(load_balancer="LEAST_CONN_PLEASE"),
     "service 'product'.load_balancer: 'LEAST_CONN_PLEASE' is not accepted (accepted: ROUND_ROBIN, RANDOM, LEAST_REQUEST)"),
    ("negative connection pool size",
     lambda m: m["services"][1].update(connection_pool={"tcp": {"max_connections": -1}}),
     "service 'product'.connection_pool.tcp.max_connections: -1 is out of range"),
    ("outlier percent over 100",
     lambda m: m["services"][1].update(outlier_detection={"max_ejection_percent": 120}),
     "service 'product'.outlier_detection.max_ejection_percent: 120 is out of range"),
    ("bad service name",
     lambda m: m["services"][1].update(name="Product_Svc"),
     "service 'Product_Svc': name 'Product_Svc' must be a DNS label"),
    ("unknown top-level key",
     lambda m: m.update(servces=[]),
     "model: unknown key 'servces' (did you mean 'services'?)"),
    ("missing model name",
     lambda m: m.pop("name"),
     "model: 'name' is required"),
    ("duplicate gateway",
     lambda m: m["gateways"].append({"name": "main-gw"}),
     "gateway 'main-gw': duplicate gateway 'main-gw'"),
    ("https gateway without tls",
     lambda m: m["gateways"][0].update(servers=[{"port": 443, "protocol": "HTTPS"}]),
     "gateway 'main-gw': servers[0].tls: protocol HTTPS needs tls"),
    ("subset of a host outside the model",
     lambda m: m["services"][0]["routes"][0].update(destinations=[{"host": "billing", "subset": "v1"}]),
     "subset 'v1' of host 'billing' is not defined: no service in the model has host 'billing'"),
    ("sub-millisecond timeout",
     lambda m: _set_route(m, timeout="500us"),
     "'500us' is too short: a duration must be at least 1ms"),
]


@pytest.mark.parametrize("mutate,expected", [case[1:] for case in BAD_MODELS], ids=[case[0] for case in BAD_MODELS])
def test_bad_model_fails_with_a_named_error(mutate, expected):
    errors = errors_of(_with(mutate))
    assert any(expected in err for err in errors), "expected %r in %r" % (expected, errors)


def test_all_errors_are_reported_at_once_and_the_message_names_the_model():
    model = base_model()
    model["services"][0]["routes"][0]["destinations"][0]["weight"] = 60
    model["services"][1]["load_balancer"] = "FASTEST"
    with pytest.raises(schema.ModelError) as info:
        tv.validate(model)
    assert len(info.value.errors) == 2
    assert str(info.value).startswith("traffic model 'shop' is invalid (2 errors):")


def test_a_model_that_is_not_a_mapping_is_refused():
    for bad in (None, [], "shop", {}):
        with pytest.raises(schema.ModelError) as info:
            tv.validate(bad)
        assert "non-empty mapping" in info.value.errors[0]


def test_validate_does_not_modify_its_input():
    model = base_model()
    before = copy.deepcopy(model)
    tr.render(tv.validate(model))
    assert model == before


# --------------------------------------------------------------------------- durations
@pytest.mark.parametrize("text,millis", [("7s", 7000), ("1.5s", 1500), ("100ms", 100), ("1m30s", 90000),
                                         ("2h", 7200000), (3, 3000), ("-1s", -1000), ("7", None), ("s", None),
                                         (True, None)])
def test_parse_duration(text, millis):
    assert schema.parse_duration_ms(text) == millis


def test_snake_and_camel_names():
    assert schema.snake_to_camel("consecutive_5xx_errors") == "consecutive5xxErrors"
    assert schema.snake_to_camel("http1_max_pending_requests") == "http1MaxPendingRequests"
    assert schema.camel_to_snake("perTryTimeout") == "per_try_timeout"


# --------------------------------------------------------------------------- planning
def live_copy(obj, rv="1", **label_overrides):
    live = copy.deepcopy(obj)
    live["metadata"]["resourceVersion"] = rv
    live["metadata"]["uid"] = "u-" + obj["metadata"]["name"]
    live["metadata"]["labels"].update(label_overrides)
    return live


def test_plan_creates_everything_on_an_empty_namespace():
    desired = tr.render(tv.validate(base_model()))
    steps = tp.plan(desired, [], "shop")
    assert [pair[0] for pair in steps["apply"]] == desired
    assert steps["unchanged"] == [] and steps["prune"] == [] and steps["conflicts"] == []


def test_plan_leaves_converged_objects_alone_even_with_extra_labels():
    desired = tr.render(tv.validate(base_model()))
    live = [live_copy(o, **{"team": "payments"}) for o in desired]
    steps = tp.plan(desired, live, "shop")
    assert steps["apply"] == [] and len(steps["unchanged"]) == len(desired)


def test_plan_updates_a_hand_edited_weight():
    desired = tr.render(tv.validate(base_model()))
    live = [live_copy(o) for o in desired]
    vs = [o for o in live if o["metadata"]["name"] == "vsvc-order"][0]
    vs["spec"]["http"][0]["route"][0]["weight"] = 50
    vs["spec"]["http"][0]["route"][1]["weight"] = 50
    steps = tp.plan(desired, live, "shop")
    assert [(d["metadata"]["name"], c["metadata"]["resourceVersion"]) for d, c in steps["apply"]] == [("vsvc-order", "1")]


def test_plan_prunes_what_left_the_model_routes_first_and_never_unmanaged_objects():
    full = tr.render(tv.validate(base_model()))
    smaller = base_model()
    smaller["services"] = smaller["services"][:1]
    desired = tr.render(tv.validate(smaller))
    unmanaged = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                 "metadata": {"name": "hand-made", "namespace": "shop", "labels": {"team": "x"}}, "spec": {}}
    other_model = live_copy(full[-1], **{schema.MODEL_LABEL: "other"})
    other_model["metadata"]["name"] = "vsvc-from-other"
    steps = tp.plan(desired, [live_copy(o) for o in full] + [unmanaged, other_model], "shop")
    assert [names.describe(o) for o in steps["prune"]] == [
        "VirtualService shop/vsvc-product", "DestinationRule shop/destrule-product"]
    no_prune = tp.plan(desired, [live_copy(o) for o in full], "shop", prune=False)
    assert no_prune["prune"] == []


def test_plan_refuses_to_take_over_unmanaged_or_foreign_objects():
    desired = tr.render(tv.validate(base_model()))
    squatter = copy.deepcopy(desired[-1])
    squatter["metadata"]["labels"] = {"app": "order"}
    foreign = live_copy(desired[0], **{schema.MODEL_LABEL: "payments"})
    steps = tp.plan(desired, [squatter, foreign], "shop")
    assert len(steps["conflicts"]) == 2
    assert "VirtualService shop/vsvc-product exists and is not managed by meshops.istio" in steps["conflicts"][1]
    assert "Gateway shop/main-gw belongs to traffic model 'payments', not 'shop'" in steps["conflicts"][0]


def test_comparable_drops_server_fields():
    desired = tr.render(tv.validate(base_model()))[0]
    live = live_copy(desired)
    live["metadata"]["managedFields"] = [{"manager": "x"}]
    live["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
    live["status"] = {}
    assert tp.comparable(live) == tp.comparable(desired)


def test_host_warnings_name_missing_services_only():
    model = tv.validate(base_model())
    warnings = tp.host_warnings(model, ["order"])
    assert warnings == ["service 'product': host 'product' is not a Service in namespace 'shop' (routes to it "
                        "fail until the Service exists)"]
    assert tp.host_warnings(model, ["order", "product"]) == []


def test_subset_warnings_name_subsets_that_select_no_pod():
    model = tv.validate(base_model())
    pods = [{"app": "order", "version": "stable"}, {"version": "canary", "pod-template-hash": "x"},
            {"version": "stable"}]
    assert tp.host_warnings(model, ["order", "product"], pods) == []
    warnings = tp.host_warnings(model, ["order", "product"], [{"version": "stable"}])
    assert warnings == [
        "service 'order': subset 'canary' (version=canary) selects no pod in namespace 'shop' (requests routed to it "
        "fail with 503 until such pods run)",
        "service 'product': subset 'canary' (version=canary) selects no pod in namespace 'shop' (requests routed to "
        "it fail with 503 until such pods run)"]


def _live_gateway(namespace, name, hosts, port=80, selector=None):
    return {"kind": "Gateway", "metadata": {"namespace": namespace, "name": name},
            "spec": {"selector": selector or {"istio": "ingressgateway"},
                     "servers": [{"port": {"number": port, "name": "http", "protocol": "HTTP"}, "hosts": hosts}]}}


def test_gateway_conflicts_name_gateways_sharing_selector_port_and_hosts():
    model = tv.validate(load_example("shop-model.yml"))
    assert tp.gateway_conflicts(model, [
        _live_gateway("shop", "main-gw", ["*"]),                      # the model's own gateway
        _live_gateway("default", "bookinfo-gateway", ["*"], port=443),  # another port
        _live_gateway("default", "other-selector", ["*"], selector={"istio": "eastwest"}),
        _live_gateway("default", "other-host", ["books.example.com"]),
    ]) == []
    warnings = tp.gateway_conflicts(model, [_live_gateway("default", "wild", ["*"]),
                                            _live_gateway("web", "suffix", ["ns/*.example.com"])])
    assert warnings == [
        "gateway 'main-gw': port 80 hosts shop.example.com overlap Gateway default/wild on the same ingress "
        "(selector istio=ingressgateway); one of them will not get the traffic; give the gateways distinct hosts",
        "gateway 'main-gw': port 80 hosts shop.example.com overlap Gateway web/suffix on the same ingress "
        "(selector istio=ingressgateway); one of them will not get the traffic; give the gateways distinct hosts"]


def test_short_host_strips_the_namespace_forms():
    assert schema.short_host("reviews.default.svc.cluster.local", "default") == "reviews"
    assert schema.short_host("reviews.default", "default") == "reviews"
    assert schema.short_host("reviews.other.svc.cluster.local", "default") == "reviews.other.svc.cluster.local"


# --------------------------------------------------------------------------- shifting
def test_shift_weights_moves_the_weighted_route_and_keeps_pinned_ones():
    model = load_example("shop-model.yml")
    shifted = ts.shift_weights(model, "order", 50)
    routes = [s for s in shifted["services"] if s["name"] == "order"][0]["routes"]
    assert routes[0]["destinations"] == [{"subset": "canary"}]  # testers keep the canary
    assert routes[1]["destinations"] == [{"subset": "stable", "weight": 50}, {"subset": "canary", "weight": 50}]
    assert ts.route_weights(shifted, "order") == {"stable": 50, "canary": 50}
    assert ts.route_weights(model, "order") == {"stable": 90, "canary": 10}
    tv.validate(shifted)


def test_shift_weights_adds_a_route_to_a_service_without_routes_and_keeps_ports():
    model = {"name": "m", "services": [{"name": "cart"},
                                       {"name": "pay", "routes": [{"destinations": [{"subset": "stable", "port": 80}]}]}]}
    shifted = ts.shift_weights(model, "cart", 10)
    assert shifted["services"][0]["routes"] == [{"destinations": [{"subset": "stable", "weight": 90},
                                                                  {"subset": "canary", "weight": 10}]}]
    pay = ts.shift_weights(model, "pay", 100)["services"][1]["routes"][0]["destinations"]
    assert pay == [{"port": 80, "subset": "stable", "weight": 0}, {"port": 80, "subset": "canary", "weight": 100}]
    assert "routes" not in model["services"][0]


@pytest.mark.parametrize("service,weight,message", [
    ("nope", 10, "service 'nope' is not in the model"),
    ("order", 101, "canary weight must be an integer from 0 to 100"),
    ("order", True, "canary weight must be an integer from 0 to 100"),
])
def test_shift_weights_errors(service, weight, message):
    with pytest.raises(ValueError) as info:
        ts.shift_weights(load_example("shop-model.yml"), service, weight)
    assert message in str(info.value)


def test_shift_weights_needs_a_stable_canary_route():
    model = {"name": "m", "services": [{"name": "r", "subsets": [{"name": "v1", "labels": {"v": "1"}}],
                                        "routes": [{"destinations": [{"subset": "v1"}]}]}]}
    with pytest.raises(ValueError) as info:
        ts.shift_weights(model, "r", 10)
    assert "no route between subsets 'stable' and 'canary'" in str(info.value)


# --------------------------------------------------------------------------- drawing
def test_dot_shows_gateway_services_subsets_weights_and_matches():
    dot = td.render_dot(tv.validate(load_example("shop-model.yml")))
    assert dot.startswith('digraph "traffic model shop" {')
    assert '"gw:main-gw" -> "svc:order" [label="shop.example.com"];' in dot
    assert '"svc:order" -> "subset:order:stable" [label="uri prefix /orders\\n90%\\ntimeout 10s, retries 3"];' in dot
    assert '"svc:product" -> "subset:product:canary" [label="uri prefix /products\\n0%", style=dotted];' in dot
    assert 'label="stable\\napp=order,version=stable\\nROUND_ROBIN"' in dot
    assert dot.count("subgraph") == 3
    assert dot == td.render_dot(tv.validate(load_example("shop-model.yml")))  # deterministic


def test_dot_marks_mesh_routes_and_faults_and_escapes_quotes():
    model = {"name": "q", "services": [{"name": "ratings", "routes": [
        {"match": [{"headers": {"end-user": {"regex": 'ja"son\\d'}}}], "destinations": [{"subset": "stable"}],
         "fault": {"delay": {"fixed": "7s", "percentage": 100}}},
        {"destinations": [{"subset": "stable"}]}]}]}
    dot = td.render_dot(tv.validate(model))
    assert '"mesh" -> "svc:ratings" [label="ratings"];' in dot
    assert ('"svc:ratings" -> "subset:ratings:stable" [label="header end-user regex ja\\"son\\\\d\\n'
            'delay 7s @100%", color="#cc0000"];') in dot
    assert '"svc:ratings" -> "subset:ratings:stable" [label="default"];' in dot


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graphviz_accepts_the_dot_text(tmp_path):
    for example, subset in (("shop-model.yml", ">stable<"), ("bookinfo-model.yml", ">v3<")):
        src = tmp_path / (example + ".dot")
        src.write_text(td.render_dot(tv.validate(load_example(example))), encoding="utf-8")
        proc = subprocess.run(["dot", "-Tsvg", str(src)], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.count("<svg") == 1
        assert subset in proc.stdout


def test_manifest_is_multi_document_yaml_that_reads_back():
    objects = tr.render(tv.validate(load_example("shop-model.yml")))
    text = tr.render_manifest(objects, yaml.safe_dump)
    assert list(yaml.safe_load_all(text)) == objects


def test_canary_error_query_uses_the_host_namespace_and_the_default_subsets():
    model = base_model()
    query = ts.canary_error_query(model, "product")
    selector = ('reporter="destination",destination_service_name="product",destination_service_namespace="shop",'
                'destination_version="canary"')
    assert query == ('sum(rate(istio_requests_total{%s,response_code=~"5.."}[1m])) / sum(rate(istio_requests_total{%s}[1m]))'
                     % (selector, selector))
    model["services"][1].update(host="product.shop.svc.cluster.local",
                                subsets=[{"name": "next", "labels": {"version": "v2"}}])
    query = ts.canary_error_query(model, "product", canary="next")
    assert 'destination_service_name="product.shop.svc.cluster.local"' in query
    assert 'destination_version="v2"' in query
    assert 'destination_service_namespace="default"' in ts.canary_error_query({"services": []}, "x")
