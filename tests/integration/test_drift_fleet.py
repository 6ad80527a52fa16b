"""A fleet of two clusters (two labs at once) checked by one drift run: both clean and listed in the
summary; then one lab goes down and that cluster is `error`, the other still `clean`, each with its
own report, and the run exits non-zero. The clusters are checked in parallel (one host per cluster,
--forks 2).

Each cluster is converged with the smallest stage that records its desired state (the injection
labels of one namespace), enough for drift.yml to have something to compare; the other stages'
drift is test_site_lifecycle.py's business on one lab.
"""

import datetime
import http.server
import json
import os
import subprocess
import sys
import threading

import pytest
import yaml
from lab_helpers import forget_drift_records  # pylint: disable=import-error

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB = [sys.executable, "-m", "lab"]
NAMESPACE = "fleet-demo"

CONVERGE = [
    {"name": "Converge the fleet's clusters (the injection stage only)", "hosts": "mesh_controller", "gather_facts": False,
     "tasks": [
         {"name": "Create the namespace of the drift records",
          "kubernetes.core.k8s": {"kubeconfig": "{{ mesh_kubeconfig }}", "state": "present",
                                  "definition": {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": "{{ mesh_istio_namespace | default('istio-system') }}"}}}},
         {"name": "Put the namespace in the mesh (records the injection stage)",
          "ansible.builtin.include_role": {"name": "meshops.istio.injection"},
          "vars": {"injection_namespaces": [NAMESPACE], "injection_revision": "", "injection_restart": False}},
     ]},
]


class Receiver(http.server.BaseHTTPRequestHandler):
    """The webhook's receiver on 127.0.0.1: records each POSTed JSON body."""

    def do_POST(self):  # pylint: disable=invalid-name
        length = int(self.headers.get("Content-Length", "0"))
        self.server.received.append(json.loads(self.rfile.read(length) or b"null"))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


@pytest.fixture
def receiver():
    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    server.received = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


WRAPPER = """#!/bin/sh
if [ -n "$FLEET_TRACE" ]; then
  echo "start $(date +%s.%N)" >> "$FLEET_TRACE/{host}"
  sleep 1
  "{python}" "$@"
  rc=$?
  echo "end $(date +%s.%N)" >> "$FLEET_TRACE/{host}"
  exit $rc
fi
exec "{python}" "$@"
"""


def intervals(path):
    """[(start, end)] of the module runs a wrapper logged."""
    lines = path.read_text().split()
    stamps = [float(v) for v in lines[1::2]]
    assert lines[0::2] == ["start", "end"] * (len(stamps) // 2), lines
    return list(zip(stamps[0::2], stamps[1::2]))


def lab_info(name):
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from lab import build  # pylint: disable=import-outside-toplevel

    with open(os.path.join(build.cache_root(), "labs", name, "lab.json"), encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def second_lab(lab):
    """A second lab beside the session's (`<lab name>-fleet2`), taken down at the end."""
    name = "%s-fleet2" % lab.name
    subprocess.run(LAB + ["up", "--name", name, "--skip-previous"], cwd=ROOT, check=True)
    try:
        yield lab_info(name)
    finally:
        subprocess.run(LAB + ["down", "--name", name], cwd=ROOT, check=False)


@pytest.fixture(scope="module")
def fleet(lab, second_lab, tmp_path_factory):
    """Inventory: hosts cluster-a (the session's lab) and cluster-b (the second lab) in mesh_controller."""
    forget_drift_records(lab)  # only the stage this file converges counts on the shared lab
    base = tmp_path_factory.mktemp("fleet")
    inventory = base / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    out = base / "out"
    # a self-contained copy of the second lab's kubeconfig (certificates inline): `lab down` deletes
    # the lab's kubeconfig and certificates, and the cluster should be down (its API server gone,
    # the port closed), not unconfigured
    kubeconfig_b = base / "cluster-b.kubeconfig"
    kubeconfig_b.write_text(subprocess.run([lab.kubectl, "--kubeconfig", second_lab["kubeconfig"], "config", "view",
                                            "--raw", "--flatten"], check=True, capture_output=True, text=True).stdout)
    hosts = {"cluster-a": {"mesh_kubeconfig": lab.kubeconfig}, "cluster-b": {"mesh_kubeconfig": str(kubeconfig_b)}}
    for name, host in hosts.items():
        # the host's Python, through a wrapper that, when FLEET_TRACE names a directory, logs when each
        # module of the host starts and ends (and holds it a second): overlapping intervals of the two
        # hosts show that the clusters are worked on at the same time
        wrapper = base / ("python-" + name)
        wrapper.write_text(WRAPPER.format(python=sys.executable, host=name))
        wrapper.chmod(0o755)
        host["ansible_python_interpreter"] = str(wrapper)
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"mesh_controller": {"hosts": hosts}}))
    (inventory / "group_vars" / "all.yml").write_text(yaml.safe_dump({
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable, "mesh_output_dir": str(out)}))
    converge = base / "converge.yml"
    converge.write_text(yaml.safe_dump(CONVERGE, sort_keys=False))
    return {"inventory": str(inventory), "out": out, "converge": str(converge), "second": second_lab}


def reports(out):
    drift = out / "drift"
    summary = json.loads((drift / "summary.json").read_text())
    per_cluster = {name: json.loads((drift / name / "report.json").read_text())
                   for name in ("cluster-a", "cluster-b") if (drift / name / "report.json").exists()}
    return summary, per_cluster


def when(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_fleet_both_clean_then_one_lab_down_is_error_and_the_other_clean(fleet, playbook, receiver):
    # the webhook (role drift_webhook in the summary play) is told on error, not when all is clean
    hook = {"drift_mode": "check", "drift_webhook_url": "http://127.0.0.1:%d/drift" % receiver.server_port}
    converge = playbook(fleet["converge"], inventory=fleet["inventory"])
    assert converge.rc == 0, converge.tail()
    assert set(converge.hosts) >= {"cluster-a", "cluster-b"}

    trace = fleet["out"].parent / "trace"
    trace.mkdir()
    check = playbook("playbooks/drift.yml", inventory=fleet["inventory"], extra_vars=hook,
                     env={"ANSIBLE_FORKS": "2", "FLEET_TRACE": str(trace)})
    assert check.rc == 0, check.tail()
    assert receiver.received == []
    # in parallel: some module run on cluster-a overlaps one on cluster-b (with one fork none could)
    runs_a, runs_b = intervals(trace / "cluster-a"), intervals(trace / "cluster-b")
    assert runs_a and len(runs_a) == len(runs_b)
    assert any(max(a[0], b[0]) < min(a[1], b[1]) for a in runs_a for b in runs_b), (runs_a, runs_b)
    summary, per_cluster = reports(fleet["out"])
    assert summary["status"] == "clean" and summary["failed"] is False
    assert {name: c["status"] for name, c in summary["clusters"].items()} == {"cluster-a": "clean", "cluster-b": "clean"}
    assert per_cluster["cluster-a"]["checked"] >= 1 and per_cluster["cluster-b"]["checked"] >= 1

    subprocess.run(LAB + ["down", "--name", fleet["second"]["name"]], cwd=ROOT, check=True)
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    check = playbook("playbooks/drift.yml", inventory=fleet["inventory"], extra_vars=hook, env={"ANSIBLE_FORKS": "2"})
    assert check.rc == 2, check.tail()
    summary, per_cluster = reports(fleet["out"])
    assert summary["status"] == "error" and summary["failed"] is True
    assert summary["clusters"]["cluster-a"]["status"] == "clean"
    assert summary["clusters"]["cluster-b"]["status"] == "error"
    # down, not misconfigured: the kubeconfig loads, its API server does not answer
    assert "kubeconfig" not in summary["clusters"]["cluster-b"]["error"], summary["clusters"]["cluster-b"]["error"]
    assert per_cluster["cluster-a"]["status"] == "clean"
    assert per_cluster["cluster-b"]["status"] == "error"
    # the failing cluster did not stop the other: both were checked in this run, after the lab went down
    assert when(per_cluster["cluster-a"]["started"]) >= before
    assert when(per_cluster["cluster-b"]["started"]) >= before
    assert summary["counts"]["clean"] == 1 and summary["counts"]["error"] == 1
    # the summary was POSTed once, before the run failed
    assert len(receiver.received) == 1, check.tail()
    assert receiver.received[0]["status"] == "error"
    assert receiver.received[0]["clusters"]["cluster-b"]["status"] == "error"
    assert receiver.received[0]["clusters"]["cluster-a"]["status"] == "clean"
