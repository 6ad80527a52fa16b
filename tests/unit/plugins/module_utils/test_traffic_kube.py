"""Unit tests for plugins/module_utils/runners/traffic.py: what happens before the cluster is contacted."""

import os

import pytest
import yaml

from ansible_collections.meshops.istio.plugins.module_utils.runners import traffic as tk
from ansible_collections.meshops.istio.plugins.module_utils.traffic.schema import ModelError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


def shop():
    with open(os.path.join(ROOT, "examples", "shop-model.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def no_cluster(*_args, **_kwargs):
    raise AssertionError("the cluster must not be contacted")


def test_validate_only_without_host_checks_renders_offline():
    result = tk.run({"model": shop(), "validate_only": True, "check_hosts": False}, dump=yaml.safe_dump,
                    kube_factory=no_cluster)
    assert result["changed"] is False
    assert result["model"] == {"name": "shop", "namespace": "shop", "services": 3, "gateways": 1, "objects": 7}
    assert [o["metadata"]["name"] for o in yaml.safe_load_all(result["manifest"])] == [
        "main-gw", "destrule-order", "destrule-delivery", "destrule-product", "vsvc-order", "vsvc-delivery",
        "vsvc-product"]
    assert result["dot"].startswith('digraph "traffic model shop"')


@pytest.mark.parametrize("params", [
    {"validate_only": False, "state": "present"},
    {"validate_only": False, "state": "absent"},
    {"validate_only": True, "check_hosts": True},
])
def test_a_bad_model_fails_before_any_client_exists(params):
    model = shop()
    model["services"][0]["routes"][1]["destinations"][0]["weight"] = 60
    params = dict(params, model=model)
    with pytest.raises(ModelError) as info:
        tk.run(params, dump=yaml.safe_dump, kube_factory=no_cluster)
    assert "service 'order': routes[1].destinations: weights 60 + 10 sum to 70" in str(info.value)


def test_object_paths():
    assert tk.object_path("VirtualService", "shop", "vsvc-order") == \
        "/apis/networking.istio.io/v1/namespaces/shop/virtualservices/vsvc-order"
    assert tk.object_path("Gateway") == "/apis/networking.istio.io/v1/gateways"
