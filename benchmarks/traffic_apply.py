#!/usr/bin/env python
"""Time the traffic role against kubectl on the same objects (a script, not a test).

    python benchmarks/traffic_apply.py [--lab NAME] [--services 200] [--repeat 1] [--write-doc]

Builds a traffic model of N services (each with its own host Gateway, a DestinationRule with
stable/canary subsets and a VirtualService with a header route and a weighted route: three
objects per service, 600 for 200 services), renders it with the collection's module_utils,
and in two fresh namespaces of the lab:

1. first apply: ``kubectl apply -f <rendered objects>`` vs ``ansible-playbook playbooks/traffic.yml``
   with the model (the whole role: validation, manifest file, .dot file, apply);
2. no-op re-run: ``kubectl diff -f <rendered objects>`` vs the same playbook again (changed=0).

Prints the figures and the ratios (targets: first apply within 2x kubectl apply, no-op re-run
within 1.5x kubectl diff); --write-doc replaces the results block of docs/benchmarks.md.
The lab must be up with Istio installed (CRDs and the validation webhook):
``python -m lab up --name NAME`` then ``ansible-playbook playbooks/install.yml -i <inventory>``.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, ".collections"))
sys.path.insert(0, ROOT)

import yaml  # noqa: E402  pylint: disable=wrong-import-position

from lab import build  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.meshops.istio.plugins.module_utils.traffic.render import render, render_manifest  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.meshops.istio.plugins.module_utils.traffic.validate import validate  # noqa: E402  pylint: disable=wrong-import-position

DOC = os.path.join(ROOT, "docs", "benchmarks.md")
START, END = "<!-- traffic_apply:start -->", "<!-- traffic_apply:end -->"
RECAP = re.compile(r"^\S+\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def bench_model(services, namespace):
    """A model with `services` services, each exposed on its own host through its own Gateway."""
    model = {"name": "bench", "namespace": namespace, "gateways": [], "services": []}
    for index in range(services):
        name = "svc-%03d" % index
        host = "%s.bench.example" % name
        model["gateways"].append({"name": "gw-" + name, "servers": [{"port": 80, "protocol": "HTTP", "hosts": [host]}]})
        canary = (index * 7) % 50
        model["services"].append({
            "name": name,
            "gateways": ["gw-" + name],
            "hosts": [host],
            "port": 8080,
            "load_balancer": ("ROUND_ROBIN", "RANDOM", "LEAST_REQUEST")[index % 3],
            "outlier_detection": {"consecutive_5xx_errors": 5, "interval": "30s", "base_ejection_time": "1m"},
            "subsets": [{"name": "stable", "labels": {"app": name, "version": "stable"}},
                        {"name": "canary", "labels": {"app": name, "version": "canary"}}],
            "routes": [
                {"name": "testers", "match": [{"uri": {"prefix": "/api"}, "headers": {"x-canary": {"exact": "1"}}}],
                 "destinations": [{"subset": "canary"}]},
                {"name": "main", "match": [{"uri": {"prefix": "/api"}}],
                 "destinations": [{"subset": "stable", "weight": 100 - canary}, {"subset": "canary", "weight": canary}],
                 "timeout": "10s", "retries": {"attempts": 2, "per_try_timeout": "3s"}},
            ],
        })
    return model


def run(cmd, env=None, ok=(0,)):
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          check=False)
    elapsed = time.monotonic() - started
    if proc.returncode not in ok:
        sys.exit("command failed (rc %d): %s\n%s" % (proc.returncode, " ".join(cmd), proc.stdout[-4000:]))
    return elapsed, proc


def lab_info(name):
    subprocess.run([sys.executable, "-m", "lab", "up", "--name", name], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    with open(os.path.join(build.cache_root(), "labs", name, "lab.json"), encoding="utf-8") as handle:
        return json.load(handle)


def playbook_cmd(inventory, model_path):
    bindir = os.path.dirname(sys.executable)
    return [os.path.join(bindir, "ansible-playbook"), "-i", inventory, os.path.join(ROOT, "playbooks", "traffic.yml"),
            "-e", "traffic_model_file=%s" % model_path, "-e", '{"traffic_graph_formats": []}',
            "-e", "traffic_check_hosts=false"]


def playbook_env():
    env = dict(os.environ)
    env.update({"ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                "PATH": os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")})
    return env


def module_timings(output):
    """The traffic module's own figures, from the role's summary line."""
    match = re.search(r"created (\d+), updated (\d+), pruned (\d+), unchanged (\d+) \((\d+) API calls, ([\d.]+) s\)",
                      " ".join(output.split()))
    if not match:
        return {}
    keys = ("created", "updated", "pruned", "unchanged", "api_calls", "module_seconds")
    return dict(zip(keys, [int(g) for g in match.groups()[:5]] + [float(match.group(6))]))


def one_round(kubectl, kubeconfig, inventory, services, workdir, index):
    stamp = "%d-%d" % (int(time.time()) % 100000, index)
    ns_kubectl, ns_ansible = "bench-kubectl-" + stamp, "bench-ansible-" + stamp
    kube = [kubectl, "--kubeconfig", kubeconfig]
    objects_path = os.path.join(workdir, "objects-%s.yaml" % stamp)
    model_path = os.path.join(workdir, "model-%s.yaml" % stamp)
    objects = render(validate(bench_model(services, ns_kubectl)))
    with open(objects_path, "w", encoding="utf-8") as handle:
        handle.write(render_manifest(objects, yaml.safe_dump))
    with open(model_path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(bench_model(services, ns_ansible), handle, sort_keys=False)
    for namespace in (ns_kubectl, ns_ansible):
        run(kube + ["create", "namespace", namespace])
    try:
        env = playbook_env()
        k_apply = run(kube + ["apply", "-f", objects_path])[0]
        a_apply, first = run(playbook_cmd(inventory, model_path), env=env)
        k_diff, diff = run(kube + ["diff", "-f", objects_path], ok=(0,))
        a_noop, second = run(playbook_cmd(inventory, model_path), env=env)
        recap = [int(x) for x in RECAP.search(second.stdout).groups()]
        if recap[1] != 0:
            sys.exit("the no-op re-run reported changed=%d:\n%s" % (recap[1], second.stdout[-3000:]))
        if diff.stdout.strip():
            sys.exit("kubectl diff found differences after kubectl apply:\n" + diff.stdout[-2000:])
        counts = [int(run(kube + ["get", kind, "-n", ns, "--no-headers", "-o", "name"])[1].stdout.count("\n"))
                  for ns in (ns_kubectl, ns_ansible) for kind in ("gateways.networking.istio.io",
                                                                  "destinationrules.networking.istio.io",
                                                                  "virtualservices.networking.istio.io")]
        if counts[:3] != counts[3:] or sum(counts[:3]) != len(objects):
            sys.exit("object counts differ: kubectl %s, ansible %s, rendered %d" % (counts[:3], counts[3:], len(objects)))
        return {"objects": len(objects), "kubectl_apply": k_apply, "ansible_apply": a_apply,
                "kubectl_diff": k_diff, "ansible_noop": a_noop,
                "first": module_timings(first.stdout), "noop": module_timings(second.stdout)}
    finally:
        for namespace in (ns_kubectl, ns_ansible):
            subprocess.run(kube + ["delete", "namespace", namespace, "--wait=false"], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def baseline(inventory, workdir):
    """ansible-playbook's fixed cost: the same playbook with a one-service model, converged."""
    model_path = os.path.join(workdir, "tiny.yaml")
    namespace = "bench-tiny-%d" % (int(time.time()) % 100000)
    with open(model_path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(bench_model(1, namespace), handle)
    env = playbook_env()
    run(playbook_cmd(inventory, model_path), env=env)
    elapsed = run(playbook_cmd(inventory, model_path), env=env)[0]
    return elapsed, namespace


def report(rounds, services, kube_version, istio_version, overhead, loads):
    med = dict((key, statistics.median(r[key] for r in rounds))
               for key in ("kubectl_apply", "ansible_apply", "kubectl_diff", "ansible_noop"))
    first, noop = rounds[-1]["first"], rounds[-1]["noop"]
    lines = [
        "Run %s on %s (%d CPU), Python %s; lab: kube-apiserver %s with Istio %s's validation webhook (istiod as a local "
        "process). %d services, %d objects, median of %d round(s), fresh namespaces per round. 1-minute load "
        "average %.1f at the start, %.1f at the end (the lab, istiod and everything else on the machine share "
        "its CPUs)." % (
            datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), platform.machine(), os.cpu_count() or 0,
            platform.python_version(), kube_version, istio_version, services, rounds[0]["objects"], len(rounds),
            loads[0], loads[1]),
        "",
        "| step | kubectl | meshops.istio traffic role | ratio | target |",
        "| --- | ---: | ---: | ---: | --- |",
        "| first apply | `kubectl apply -f` %.2f s | `ansible-playbook playbooks/traffic.yml` %.2f s | %.2fx | within 2x |" % (
            med["kubectl_apply"], med["ansible_apply"], med["ansible_apply"] / med["kubectl_apply"]),
        "| no-op re-run | `kubectl diff -f` %.2f s | same playbook again (changed=0) %.2f s | %.2fx | within 1.5x |" % (
            med["kubectl_diff"], med["ansible_noop"], med["ansible_noop"] / med["kubectl_diff"]),
        "",
        "Inside the playbook (last round): the traffic_model module spent %.2f s and %s API calls on the first apply "
        "(%s created), %.2f s and %s API calls on the no-op run (%s unchanged). ansible-playbook itself (start-up, "
        "the mesh role, validation and the manifest and .dot files) costs %.2f s: the same playbook with a converged "
        "one-service model." % (first.get("module_seconds", 0), first.get("api_calls", "?"), first.get("created", "?"),
                                noop.get("module_seconds", 0), noop.get("api_calls", "?"), noop.get("unchanged", "?"),
                                overhead),
    ]
    ratios = (med["ansible_apply"] / med["kubectl_apply"], med["ansible_noop"] / med["kubectl_diff"])
    return "\n".join(lines), ratios


def write_doc(text):
    with open(DOC, encoding="utf-8") as handle:
        doc = handle.read()
    if START not in doc or END not in doc:
        sys.exit("%s has no %s ... %s block" % (DOC, START, END))
    head, rest = doc.split(START, 1)
    tail = rest.split(END, 1)[1]
    with open(DOC, "w", encoding="utf-8") as handle:
        handle.write(head + START + "\n" + text + "\n" + END + tail)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--lab", default=os.environ.get("MESHOPS_LAB_NAME", "meshops"), help="lab name (python -m lab --name)")
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--write-doc", action="store_true", help="replace the results block of docs/benchmarks.md")
    args = parser.parse_args()

    info = lab_info(args.lab)
    specs = build.pieces(build.load_versions())
    kubectl = os.path.join(build.path_of("kubernetes", specs["kubernetes"]), "kubectl")
    kube = [kubectl, "--kubeconfig", info["kubeconfig"]]
    probe = subprocess.run(kube + ["get", "crd", "virtualservices.networking.istio.io"], capture_output=True, text=True,
                           check=False)
    if probe.returncode != 0:
        sys.exit("Istio is not installed in lab %s (no VirtualService CRD): run ansible-playbook playbooks/install.yml -i %s"
                 % (args.lab, info["inventory"]))
    workdir = tempfile.mkdtemp(prefix="traffic-bench-")
    load_start = os.getloadavg()[0]
    try:
        print("lab %s: %d services, %d round(s)" % (args.lab, args.services, args.repeat), flush=True)
        overhead, tiny_ns = baseline(info["inventory"], workdir)
        subprocess.run(kube + ["delete", "namespace", tiny_ns, "--wait=false"], check=False, capture_output=True)
        rounds = []
        for index in range(args.repeat):
            result = one_round(kubectl, info["kubeconfig"], info["inventory"], args.services, workdir, index)
            print("round %d: kubectl apply %.2fs, playbook %.2fs; kubectl diff %.2fs, playbook no-op %.2fs" % (
                index + 1, result["kubectl_apply"], result["ansible_apply"], result["kubectl_diff"],
                result["ansible_noop"]), flush=True)
            rounds.append(result)
        text, ratios = report(rounds, args.services, info["versions"]["KUBERNETES_VERSION"],
                              info["versions"]["ISTIO_VERSION"], overhead, (load_start, os.getloadavg()[0]))
        print()
        print(text)
        print()
        print("first apply ratio %.2fx (target <= 2.0): %s" % (ratios[0], "met" if ratios[0] <= 2.0 else "MISSED"))
        print("no-op ratio %.2fx (target <= 1.5): %s" % (ratios[1], "met" if ratios[1] <= 1.5 else "MISSED"))
        if args.write_doc:
            write_doc(text)
            print("wrote %s" % os.path.relpath(DOC, ROOT))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
