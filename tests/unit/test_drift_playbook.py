"""playbooks/drift.yml without a cluster: two clusters that cannot be reached each get an error
report, the run goes on, writes summary.json and exits non-zero; bad settings fail first."""

import json
import os
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LINKED = os.path.isdir(os.path.join(ROOT, ".collections", "ansible_collections", "meshops", "istio"))
KUBECONFIG = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
              "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
              "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
              "users": [{"name": "u", "user": {"token": "t"}}]}


def run(tmp_path, *extra):
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(KUBECONFIG))
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({
        "mesh_controller": {"hosts": {"east": dict(host), "west": dict(host)},
                            "vars": {"mesh_kubeconfig": str(tmp_path / "kubeconfig")}},
        "all": {"vars": {"mesh_output_dir": str(tmp_path / "out")}}}))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_NOCOLOR="1")
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"),
            os.path.join(ROOT, "playbooks", "drift.yml")] + list(extra)
    return subprocess.run(argv, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=180, check=False)


@pytest.mark.skipif(not LINKED, reason="the collection is not linked under .collections")
def test_unreachable_clusters_are_errors_and_the_run_fails(tmp_path):
    result = run(tmp_path)
    assert result.returncode == 2, result.stdout[-3000:]
    with open(str(tmp_path / "out" / "drift" / "summary.json")) as handle:
        summary = json.load(handle)
    assert summary["status"] == "error" and summary["failed"] and summary["counts"]["error"] == 2
    for cluster in ("east", "west"):
        with open(str(tmp_path / "out" / "drift" / cluster / "report.json")) as handle:
            report = json.load(handle)
        assert report["status"] == "error" and "cannot reach the API server" in report["error"]
        assert sorted(os.listdir(str(tmp_path / "out" / "drift" / cluster))) == ["drift.prom", "junit.xml", "report.json", "report.md"]


@pytest.mark.skipif(not LINKED, reason="the collection is not linked under .collections")
def test_bad_settings_and_a_limit_without_localhost_fail_before_anything(tmp_path):
    result = run(tmp_path, "-e", "drift_mode=fix")
    assert result.returncode != 0 and "value of drift_mode must be one of: check, correct, got: fix" in result.stdout
    result = run(tmp_path, "-e", json.dumps({"mesh_drift_ignore": [{"kind": "Service", "json_pointers": ["spec"]}]}))
    assert result.returncode != 0
    assert "mesh_drift_ignore[0].json_pointers: 'spec' is not a JSON pointer" in result.stdout
    result = run(tmp_path, "--limit", "east")
    assert result.returncode != 0 and "--limit east leaves out localhost" in result.stdout
    assert not (tmp_path / "out" / "drift" / "east").exists()
