#!/usr/bin/env python
"""Time drift detection against a first converge on the same lab (a script, not a test).

    python benchmarks/drift.py [--lab NAME] [--repeat 3] [--write-doc]

On a fresh lab (``python -m lab down`` then ``up``): the first ``ansible-playbook site.yml``
(the whole story), then ``playbooks/drift.yml`` in check mode on the converged lab (status clean)
and in correct mode with nothing to correct (a no-op correct), each --repeat times (median), and
``site.yml --check`` once (what ``make drift`` ran before playbooks/drift.yml). Prints the times,
the ratios to the first converge (target: within 0.25x) and where the drift run's time goes:
ansible-playbook start-up (an empty play), the module's own time (report.json's duration) and
its API calls, the rest (task overhead). --write-doc replaces the block of docs/benchmarks.md.
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from lab import build  # noqa: E402  pylint: disable=wrong-import-position

DOC = os.path.join(ROOT, "docs", "benchmarks.md")
START, END = "<!-- drift:start -->", "<!-- drift:end -->"
RECAP = re.compile(r"^\S+\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def env():
    bindir = os.path.dirname(sys.executable)
    out = dict(os.environ)
    out.update({"ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".collections"),
                "PATH": bindir + os.pathsep + out.get("PATH", "")})
    return out


def timed(cmd, ok=(0,)):
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode not in ok:
        sys.exit("%s failed (rc=%d):\n%s" % (" ".join(cmd), proc.returncode, proc.stdout[-4000:]))
    return elapsed, proc.stdout


def playbook(inventory, path, *extra):
    return [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory, os.path.join(ROOT, path)] + list(extra)


def fleet(inventory, info, repeat):
    """Seconds of `repeat` checks of a 2-cluster fleet (both clean): two mesh_controller hosts on one kubeconfig."""
    hosts = {}
    for name in ("cluster-a", "cluster-b"):
        hosts[name] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                       "mesh_kubeconfig": info["kubeconfig"]}
    out = os.path.join(info["state"], "out")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"mesh_controller": {"hosts": hosts}, "all": {"vars": {"mesh_output_dir": out}}}, handle)
    times = []
    try:
        for _round in range(repeat):
            times.append(timed(playbook(handle.name, "playbooks/drift.yml"))[0])
            with open(os.path.join(out, "drift", "summary.json"), encoding="utf-8") as summary:
                data = json.load(summary)
            assert sorted(data["clusters"]) == ["cluster-a", "cluster-b"], data
            assert data["status"] == "clean", data
    finally:
        os.unlink(handle.name)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="bench-drift")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    subprocess.run([sys.executable, "-m", "lab", "down", "--name", args.lab], cwd=ROOT, check=True)
    subprocess.run([sys.executable, "-m", "lab", "up", "--name", args.lab, "--skip-previous"], cwd=ROOT, check=True)
    with open(os.path.join(build.cache_root(), "labs", args.lab, "lab.json"), encoding="utf-8") as handle:
        info = json.load(handle)
    inventory = info["inventory"]
    report_path = os.path.join(info["state"], "out", "drift", "localhost", "report.json")

    converge, _output = timed(playbook(inventory, "site.yml"))
    check_mode, out = timed(playbook(inventory, "site.yml", "--check"))
    check_changed = sum(int(m.group(2)) for m in RECAP.finditer(out))
    checks, corrects, module, calls, objects = [], [], [], [], 0
    for _round in range(args.repeat):
        checks.append(timed(playbook(inventory, "playbooks/drift.yml"))[0])
        with open(report_path, encoding="utf-8") as handle:
            rep = json.load(handle)
        assert rep["status"] == "clean", rep
        module.append(rep["duration"])
        calls.append(rep.get("api_calls", 0))
        objects = rep["checked"]
        corrects.append(timed(playbook(inventory, "playbooks/drift.yml", "-e", "drift_mode=correct"))[0])
        with open(report_path, encoding="utf-8") as handle:
            assert json.load(handle)["status"] == "clean"
    fleet_checks = fleet(inventory, info, args.repeat)
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as empty:
        empty.write("- hosts: localhost\n  gather_facts: false\n  tasks: []\n")
    startup = statistics.median(timed(playbook(inventory, empty.name))[0] for _try in range(3))
    os.unlink(empty.name)
    check, correct = statistics.median(checks), statistics.median(corrects)
    lines = [
        "Run %s on %s (%d CPU), Python %s; lab %s (kube-apiserver %s, Istio %s). 1-minute load average %.1f at the start, "
        "%.1f at the end." % (datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), platform.machine(), os.cpu_count(),
                              platform.python_version(), args.lab, info["versions"].get("KUBERNETES_VERSION", "?"),
                              info["versions"].get("ISTIO_VERSION", "?"), load_start, os.getloadavg()[0]),
        "",
        "| run | seconds | ratio to the first converge |",
        "| --- | --- | --- |",
        "| first converge, `site.yml` | %.1f | 1.00 |" % converge,
        "| `site.yml --check` (before: `make drift`), changed=%d | %.1f | %.2f |" % (check_changed, check_mode, check_mode / converge),
        "| `playbooks/drift.yml` check, clean (median of %d) | %.1f | %.2f |" % (args.repeat, check, check / converge),
        "| `playbooks/drift.yml -e drift_mode=correct`, nothing to correct (median of %d) | %.1f | %.2f |" % (args.repeat, correct, correct / converge),
        "| `playbooks/drift.yml` check of a 2-cluster fleet, both clean (median of %d) | %.1f | %.2f (%.2fx one cluster) |" % (
            args.repeat, statistics.median(fleet_checks), statistics.median(fleet_checks) / converge,
            statistics.median(fleet_checks) / check),
        "",
        "The fleet is an inventory of two clusters checked in parallel (forks) whose kubeconfigs both name this lab's "
        "API server: each cluster's whole check (records, live objects, reports) runs, and both lean on the same 2 "
        "cores as two labs on this machine would (tests/integration/test_drift_fleet.py runs two real labs, one of them "
        "down). Target: within 1.5x of one cluster.",
        "",
        "Where a check's %.1f s go: ansible-playbook start-up (an empty play) %.1f s; the one `mesh_drift` call %.2f s "
        "(%d objects, %d API calls: one LIST of the records, one LIST of the HorizontalPodAutoscalers, a GET per object "
        "on 8 threads, after the kubernetes client's API discovery); the rest, %.1f s, is the two plays' other tasks "
        "(the mesh role's shared checks, the preflight, the summary)." % (
            check, startup, statistics.median(module), objects, int(statistics.median(calls)),
            max(0.0, check - startup - statistics.median(module))),
    ]
    text = "\n".join(lines)
    print(text)
    if args.write_doc:
        with open(DOC, encoding="utf-8") as handle:
            doc = handle.read()
        block = "%s\n%s\n%s" % (START, text, END)
        doc = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _m: block, doc, flags=re.S) if START in doc else \
            doc.rstrip("\n") + "\n\n## Drift check (`benchmarks/drift.py`)\n\n```sh\npython benchmarks/drift.py --write-doc\n```\n\n" \
            "A fresh lab converged once by `site.yml`, then `playbooks/drift.yml` on it. Target: a check of the converged " \
            "cluster and a no-op correct each within 0.25x of the first converge.\n\n### Latest results\n\n" + block + "\n"
        with open(DOC, "w", encoding="utf-8") as handle:
            handle.write(doc)
    subprocess.run([sys.executable, "-m", "lab", "down", "--name", args.lab], cwd=ROOT, check=False)


if __name__ == "__main__":
    main()
