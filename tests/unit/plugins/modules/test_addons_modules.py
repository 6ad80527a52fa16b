# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The addons_plan and access_summary modules in-process: argument handling, files read,
warnings and exit JSON."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os

import pytest
import yaml

from unittest import mock

from ansible.module_utils import basic
from ansible.module_utils.common import warnings as module_warnings
from ansible.module_utils.testing import patch_module_args

from ansible_collections.meshops.istio.plugins.modules import access_summary, addons_plan

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
SAMPLES = os.path.join(ROOT, "lab", "fixtures", "samples")


def call(module, capsys, args):
    # Module warnings are process-wide; start each in-process call without earlier ones.
    getattr(module_warnings, "_global_warnings").clear()
    # Once controller code is imported in the same process (another test file imports a filter
    # plugin), ansible-core routes module warnings to the controller's display instead of the
    # result: record what the module passes to warn() as well.
    recorded = []
    original = basic.AnsibleModule.warn

    def warn(self, warning):
        recorded.append(warning)
        return original(self, warning)

    with patch_module_args(args), mock.patch.object(basic.AnsibleModule, "warn", warn):
        with pytest.raises(SystemExit) as exit_info:
            module.main()
    out = json.loads(capsys.readouterr().out)
    out["_warned"] = recorded
    return exit_info.value.code, out


def warnings_of(out):
    """Warning texts of a module result (ansible-core 2.19 wraps them in event summaries)."""
    texts = [w["event"]["msg"] if isinstance(w, dict) else w for w in out.get("warnings", [])]
    return texts or out["_warned"]


def write_samples(tmp_path):
    kiali = tmp_path / "addons" / "kiali.yaml"
    kiali.parent.mkdir(parents=True)
    kiali.write_text(yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kiali", "namespace": "istio-system"},
         "data": {"config.yaml": "auth:\n  strategy: anonymous\n"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kiali", "namespace": "istio-system"},
         "spec": {"ports": [{"name": "http", "port": 20001}]}},
    ]))
    return str(tmp_path)


def test_plan_reads_the_samples_and_warns(tmp_path, capsys):
    samples = write_samples(tmp_path)
    code, out = call(addons_plan, capsys, {"samples_dir": samples, "addons": ["kiali"],
                                           "exposure": {"kiali": {"type": "NodePort", "node_port": 32001}},
                                           "kiali_auth_strategy": "anonymous"})
    assert code == 0 and out["changed"] is False and out["errors"] == []
    assert out["selector"] == "meshops.istio/addon in (kiali)"
    [svc] = [o for o in out["objects"] if o["kind"] == "Service"]
    assert svc["spec"]["type"] == "NodePort" and svc["spec"]["ports"][0]["nodePort"] == 32001
    [warning] = warnings_of(out)
    assert "auth.strategy anonymous" in warning


def test_plan_reports_missing_manifests_as_errors(tmp_path, capsys):
    code, out = call(addons_plan, capsys, {"samples_dir": str(tmp_path), "addons": ["kiali", "grafana"]})
    assert code == 0
    assert len(out["errors"]) == 2
    assert out["errors"][0].startswith("addons_samples_dir=%s: cannot read the kiali manifest addons/kiali.yaml" % tmp_path)
    assert "grafana manifest addons/grafana.yaml" in out["errors"][1]
    assert out["objects"] == []


def test_plan_over_the_lab_samples_refuses_a_taken_node_port(capsys):
    if not os.path.isdir(os.path.join(SAMPLES, "addons")):
        pytest.skip("lab fixtures not present")
    services = [{"metadata": {"namespace": "istio-system", "name": "istio-ingressgateway"},
                 "spec": {"ports": [{"name": "http2", "port": 80, "nodePort": 31080}]}}]
    code, out = call(addons_plan, capsys, {"samples_dir": SAMPLES, "addons": ["kiali", "prometheus", "grafana", "jaeger"],
                                           "exposure": {"jaeger": {"type": "NodePort", "node_port": 31080}},
                                           "services": services})
    assert code == 0
    assert out["errors"] == ["addons_exposure.jaeger.node_port=31080 is already used by Service "
                             "istio-system/istio-ingressgateway"]
    assert out["objects"] == [] and warnings_of(out) == []


def test_access_summary_module_returns_matching_json_and_markdown(capsys):
    nodes = [{"metadata": {"name": "k3s-s"}, "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}}]
    ingress = {"metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
               "spec": {"type": "NodePort", "ports": [{"name": "http2", "port": 80, "nodePort": 31080}]}}
    code, out = call(access_summary, capsys, {"nodes": nodes, "ingress_service": ingress,
                                              "versions": {"istioctl": "1.31.0"}})
    assert code == 0 and out["changed"] is False
    assert json.loads(out["json"]) == out["summary"]
    assert out["summary"]["entries"] == [{"name": "productpage", "kind": "ingress", "access": "NodePort", "note": "",
                                          "url": "http://127.0.0.1:31080/productpage",
                                          "service": "istio-system/istio-ingressgateway:http2"}]
    assert "| productpage | http://127.0.0.1:31080/productpage | NodePort |" in out["markdown"]
