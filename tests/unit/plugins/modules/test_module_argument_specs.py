"""Each module's main() builds its argument spec from the shared pieces (kube connection, control
plane) and hands off; the spec is captured here before anything runs."""

import importlib

import pytest

PKG = "ansible_collections.meshops.istio.plugins.modules."


class Captured(Exception):
    pass


@pytest.mark.parametrize("name, expected", [
    ("istio_control_plane", {"kubeconfig", "context", "revision", "namespace", "istioctl", "operator", "state", "version",
                             "field_manager", "readiness_timeout", "purge", "remove_crds"}),
    ("istio_operator_file", {"revision", "namespace", "dest", "profile", "hub", "tag", "mode"}),
    ("istio_injection", {"kubeconfig", "context", "state", "namespaces", "revision", "label_conflict", "restart",
                         "wait_timeout"}),
    ("prometheus_query", {"kubeconfig", "context", "namespace", "service", "port", "query"}),
    ("mesh_read", {"kubeconfig", "context", "queries"}),
    ("addons_prune", {"kubeconfig", "context", "addons", "kinds", "wait", "wait_timeout"}),
])
def test_argument_spec(monkeypatch, name, expected):
    module = importlib.import_module(PKG + name)
    seen = {}

    def fake_module(argument_spec, **_kwargs):
        seen.update(argument_spec)
        raise Captured()
    monkeypatch.setattr(module, "AnsibleModule", fake_module)
    with pytest.raises(Captured):
        module.main()
    assert expected <= set(seen)
    if "revision" in seen:
        assert seen["revision"] == {"type": "str", "default": ""}
    if name != "prometheus_query" and "namespace" in seen:
        assert seen["namespace"] == {"type": "str", "default": "istio-system"}
    if "kubeconfig" in seen:
        assert seen["kubeconfig"] == {"type": "path", "required": True}
