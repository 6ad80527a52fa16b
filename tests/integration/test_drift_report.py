"""Drift: a hand edit is reported by a --check --diff run (which changes nothing), corrected by
the next run, and the run after that reports no drift. The report comes from the
meshops.istio.drift_report callback."""

import json
import os
import subprocess

import pytest

CALLBACK = {"ANSIBLE_CALLBACKS_ENABLED": "meshops.istio.drift_report"}


def ingress_type(kube):
    svc = kube.get("v1", "Service", "istio-ingressgateway", "istio-system")
    return svc["spec"]["type"] if svc else None


def report(path):
    with open(os.path.join(path, "drift-report.json"), encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def converged(lab, playbook):
    res = playbook("playbooks/install.yml")
    assert res.rc == 0, res.tail()
    return res


def test_hand_edit_is_reported_not_changed_then_corrected(lab, playbook, kube, converged, tmp_path):
    assert ingress_type(kube) == "NodePort"
    subprocess.run([lab.kubectl, "--kubeconfig", lab.kubeconfig, "patch", "service", "-n", "istio-system",
                    "istio-ingressgateway", "--type", "merge", "-p", '{"spec":{"type":"ClusterIP"}}'],
                   check=True, stdout=subprocess.PIPE)
    assert ingress_type(kube) == "ClusterIP"

    env = dict(CALLBACK, MESHOPS_DRIFT_REPORT_DIR=str(tmp_path / "check"))
    check = playbook("playbooks/install.yml", check=True, diff=True, env=env)
    assert check.rc == 0, check.tail()
    assert check.changed >= 1
    drift = report(tmp_path / "check")
    assert drift["mode"] == "check" and drift["drift"] is True
    assert "meshops.istio.control_plane" in {e["role"] for e in drift["entries"]}, drift
    assert "DRIFT REPORT:" in check.output
    assert ingress_type(kube) == "ClusterIP", "a --check run changed the cluster"

    env = dict(CALLBACK, MESHOPS_DRIFT_REPORT_DIR=str(tmp_path / "correct"))
    correct = playbook("playbooks/install.yml", diff=True, env=env)
    assert correct.rc == 0, correct.tail()
    assert report(tmp_path / "correct")["mode"] == "apply"
    assert report(tmp_path / "correct")["count"] >= 1
    assert ingress_type(kube) == "NodePort"

    env = dict(CALLBACK, MESHOPS_DRIFT_REPORT_DIR=str(tmp_path / "after"))
    after = playbook("playbooks/install.yml", check=True, diff=True, env=env)
    assert after.rc == 0 and after.changed == 0, after.tail()
    assert report(tmp_path / "after")["summary"] == "no drift"
    with open(tmp_path / "after" / "drift-report.md", encoding="utf-8") as handle:
        assert "summary: no drift" in handle.read()
