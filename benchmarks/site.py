#!/usr/bin/env python
"""Time the whole site.yml against the by-hand istioctl/kubectl sequence (a script, not a test).

    python benchmarks/site.py [--lab bench-site] [--keep] [--write-doc]
    python benchmarks/site.py --from-results /tmp/site-bench-XXXX/results.json [--write-doc]   # no lab

In one run, each side on a fresh lab (``python -m lab down`` then ``up --skip-previous``, with the
lab's release directory and output directory removed, so nothing is cached from a previous run):

1. **By hand** (USER-FLOWS.md, sections 2 to 6), with the lab's own istioctl and kubectl:
   ``istioctl install -f <IstioOperator> -y`` (demo profile, egress gateway off, the hub, the
   lab-only webhook URLs of the lab inventory), ``kubectl apply`` of the four addon samples,
   ``kubectl patch`` of their UI Services and of the ingress gateway to NodePort, ``kubectl label``
   of the application namespace for injection, ``kubectl apply`` of Bookinfo, of its gateway,
   DestinationRules and VirtualServices (the reviews-v2-for-jason scenario) and of the
   PeerAuthentication STRICT and the AuthorizationPolicies. Timed: the commands only (they do no
   waiting and no checking). Measured after, outside the ratio: how long until every Deployment is
   Available (``kubectl wait``).
2. **site.yml** on a fresh lab with the same choices (``-e control_plane_profile=demo
   -e bookinfo_scenario=reviews-v2-for-jason``): the first converge, the no-op re-run and
   ``--check``, with a timing callback (per task and per play; ansible.posix.profile_tasks too).

The manifests of the by-hand side are rendered once, before anything is timed, from what the
collection applies: the sample manifests of the lab's release mirror (lab/fixtures/samples: the
addons and Bookinfo's application), and the objects the roles render from their defaults and the
lab inventory (the IstioOperator through plugins/module_utils/istio/operator.py, the Bookinfo
traffic model through plugins/module_utils/traffic, the security policies through
plugins/module_utils/security/model.py). Nothing comes from Istio's own release or Go module.

Prints the figures, the ratio (goal: first converge within 1.3x of the by-hand commands), the
15 tasks site.yml spends most time in and the time per play; --write-doc replaces the block of
docs/benchmarks.md. Tears the lab down at the end unless --keep. Logs, timings and results.json
stay in the work directory it prints (--from-results writes the report of a saved run again).
"""

import argparse
import collections
import configparser
import datetime
import json
import os
import platform
import re
import shutil
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
from ansible_collections.meshops.istio.plugins.filter.traffic import traffic_load  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.meshops.istio.plugins.module_utils.istio.operator import render_istio_operator  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.meshops.istio.plugins.module_utils.security.model import render_model  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.meshops.istio.plugins.module_utils.traffic.render import render, render_manifest  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.meshops.istio.plugins.module_utils.traffic.validate import validate  # noqa: E402  pylint: disable=wrong-import-position

DOC = os.path.join(ROOT, "docs", "benchmarks.md")
START, END = "<!-- site:start -->", "<!-- site:end -->"
RECAP = re.compile(r"^\S+\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)
FIXTURES = os.path.join(ROOT, "lab", "fixtures", "samples")
# The choices both sides make (USER-FLOWS.md: demo profile, the jason route).
SITE_EXTRA = ["-e", "control_plane_profile=demo", "-e", "bookinfo_scenario=reviews-v2-for-jason"]
# Addon sample -> its UI Service (what people patch to NodePort).
ADDON_SERVICES = (("kiali", "kiali"), ("prometheus", "prometheus"), ("grafana", "grafana"), ("jaeger", "tracing"))
# What both sides are compared on once they are done (kind, namespaced).
COMPARED = ("deployments.apps", "services", "serviceaccounts", "gateways.networking.istio.io",
            "virtualservices.networking.istio.io", "destinationrules.networking.istio.io",
            "peerauthentications.security.istio.io", "authorizationpolicies.security.istio.io")

# Vars the render playbook resolves with Ansible from the roles' defaults and vars and the lab
# inventory (later files win, as inventory group_vars win over role defaults in a real run).
RENDER_VARS_FILES = ("roles/mesh/defaults/main.yml", "roles/istioctl/defaults/main.yml",
                     "roles/control_plane/defaults/main.yml", "roles/addons/defaults/main.yml",
                     "roles/traffic/defaults/main.yml", "roles/bookinfo/defaults/main.yml",
                     "roles/bookinfo/vars/main.yml", "roles/mesh_security/defaults/main.yml")
RENDER_KEYS = ("istioctl_version", "control_plane_hub", "control_plane_values", "mesh_istio_namespace", "mesh_app_namespace",
               "bookinfo_namespace", "bookinfo_namespace_labels", "__bookinfo_model", "traffic_tls", "addons_enabled",
               "mesh_security_peer_authentications", "mesh_security_authorization_policies")

# A timing callback: per task (start to the next task's start, as profile_tasks counts) and per play.
CALLBACK = '''
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._t0 = time.monotonic()
        self._plays, self._tasks = [], []
        self._play = self._task = None

    def _close_task(self):
        if self._task is not None:
            self._task["seconds"] = time.monotonic() - self._task.pop("t0")
            self._tasks.append(self._task)
            self._task = None

    def _close_play(self):
        self._close_task()
        if self._play is not None:
            self._play["seconds"] = time.monotonic() - self._play.pop("t0")
            self._plays.append(self._play)
            self._play = None

    def v2_playbook_on_play_start(self, play):
        self._close_play()
        self._play = {"name": play.get_name().strip(), "t0": time.monotonic()}

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._close_task()
        self._task = {"name": task.get_name().strip(), "path": task.get_path() or "", "action": task.action,
                      "play": self._play["name"] if self._play else "", "status": "", "t0": time.monotonic()}

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def _status(self, status):
        if self._task is not None and self._task["status"] in ("", "skipped", "ok"):
            self._task["status"] = status

    def v2_runner_on_ok(self, result):
        self._status("changed" if result._result.get("changed") else "ok")

    def v2_runner_on_skipped(self, result):
        self._status("skipped")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._status("failed")

    def v2_playbook_on_stats(self, stats):
        self._close_play()
        with open(os.environ["BENCH_TIMER_OUT"], "w", encoding="utf-8") as handle:
            json.dump({"seconds": time.monotonic() - self._t0, "plays": self._plays, "tasks": self._tasks}, handle)
'''


def log(msg):
    print("[bench-site %s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def env(extra=None):
    out = dict(os.environ)
    out.update({"ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".collections"),
                "PATH": os.path.dirname(sys.executable) + os.pathsep + out.get("PATH", "")})
    out.update(extra or {})
    return out


def strategy():
    """The Ansible strategy site.yml runs with: $ANSIBLE_STRATEGY, else the checkout's ansible.cfg."""
    if os.environ.get("ANSIBLE_STRATEGY"):
        return os.environ["ANSIBLE_STRATEGY"]
    config = configparser.ConfigParser(interpolation=None)
    config.read(os.path.join(ROOT, "ansible.cfg"))
    return config.get("defaults", "strategy", fallback="linear")


def run(cmd, ok=(0,), extra_env=None, stdin=None):
    """Run a command; return (seconds, CompletedProcess). Exits on an unexpected return code."""
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env(extra_env), text=True, input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, check=False)
    elapsed = time.monotonic() - started
    if ok is not None and proc.returncode not in ok:
        sys.exit("command failed (rc %d): %s\n%s" % (proc.returncode, " ".join(cmd), proc.stdout[-4000:]))
    return elapsed, proc


# --------------------------------------------------------------------------- the lab
def fresh_lab(name):
    """Down, forget the lab's downloads and outputs, up: what a newcomer's first run finds."""
    run([sys.executable, "-m", "lab", "down", "--name", name], ok=None)
    state = os.path.join(build.cache_root(), "labs", name)
    for sub in ("out", "istio-releases", "bin"):
        shutil.rmtree(os.path.join(state, sub), ignore_errors=True)
    seconds = run([sys.executable, "-m", "lab", "up", "--name", name, "--skip-previous"])[0]
    with open(os.path.join(state, "lab.json"), encoding="utf-8") as handle:
        info = json.load(handle)
    log("lab %s up in %.0f s" % (name, seconds))
    return info


def binaries():
    specs = build.pieces(build.load_versions())
    return (os.path.join(build.path_of("kubernetes", specs["kubernetes"]), "kubectl"),
            os.path.join(build.path_of("istio", specs["istio"]), "istioctl"))


def inventory_objects(kube):
    """(kind, namespace, name) of what both sides are compared on, in istio-system and default."""
    proc = run(kube + ["get", ",".join(COMPARED), "-A", "--no-headers",
                       "-o", "custom-columns=KIND:.kind,NS:.metadata.namespace,NAME:.metadata.name"])[1]
    rows = set()
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in ("istio-system", "default"):
            rows.add(tuple(parts))
    return rows


# --------------------------------------------------------------------------- rendering (untimed)
def resolve_vars(inventory, workdir):
    """The roles' variables as a site.yml run against this inventory sees them (one localhost play)."""
    out = os.path.join(workdir, "vars.json")
    files = [os.path.join(ROOT, f) for f in RENDER_VARS_FILES] + [os.path.abspath(os.path.join(inventory, "group_vars", "all.yml"))]
    play = [{
        "name": "Resolve the roles' variables for the by-hand manifests",
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars": {"ansible_python_interpreter": sys.executable},
        "vars_files": files,
        "tasks": [{"name": "Write them", "ansible.builtin.copy": {
            "dest": out, "mode": "0644",
            "content": "{{ {%s} | to_json }}" % ", ".join("'%s': %s" % (k, k) for k in RENDER_KEYS)}}],
    }]
    path = os.path.join(workdir, "resolve.yml")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(play, handle, sort_keys=False)
    run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", path] + SITE_EXTRA)
    with open(out, encoding="utf-8") as handle:
        return json.load(handle)


def dump_all(objects):
    return yaml.safe_dump_all(objects, sort_keys=False)


def render_byhand(values, workdir):
    """Write the by-hand manifests; return {step: path}."""
    files = {}

    def write(name, text):
        files[name] = os.path.join(workdir, name)
        with open(files[name], "w", encoding="utf-8") as handle:
            handle.write(text)

    # demo profile, egress off, the hub, the lab-only webhook URLs; the ingress Service as the
    # profile has it (LoadBalancer): people patch it to NodePort afterwards.
    operator = render_istio_operator(profile="demo", hub=values["control_plane_hub"], tag=values["istioctl_version"],
                                     egress_gateway_enabled=False, ingress_service_type="LoadBalancer",
                                     namespace=values["mesh_istio_namespace"], values=values["control_plane_values"])
    write("istio-operator.yaml", yaml.safe_dump(operator, sort_keys=False))
    loaded = traffic_load(values["__bookinfo_model"], tls=values["traffic_tls"])
    if loaded["errors"]:
        sys.exit("bookinfo model: %s" % loaded["message"])
    traffic = render(validate(loaded["model"]))
    write("bookinfo-networking.yaml", render_manifest(traffic, yaml.safe_dump))
    security = render_model(values["mesh_security_peer_authentications"], values["mesh_security_authorization_policies"])
    write("security.yaml", dump_all(security["peer_authentications"]["final"] + security["authorization_policies"]["final"]))
    files["addons"] = [os.path.join(FIXTURES, "addons", "%s.yaml" % addon) for addon, _service in ADDON_SERVICES]
    files["bookinfo"] = os.path.join(FIXTURES, "bookinfo", "platform", "kube", "bookinfo.yaml")
    counts = {"traffic": len(traffic), "peer_authentications": len(security["peer_authentications"]["final"]),
              "authorization_policies": len(security["authorization_policies"]["final"])}
    return files, counts


# --------------------------------------------------------------------------- by hand
def byhand(kubectl, istioctl, kubeconfig, files, values):
    kube = [kubectl, "--kubeconfig", kubeconfig]
    istio_ns, app_ns = values["mesh_istio_namespace"], values["bookinfo_namespace"]
    labels = ["%s=%s" % kv for kv in sorted(values["bookinfo_namespace_labels"].items())]
    nodeport = '{"spec":{"type":"NodePort"}}'
    steps = [
        ("istioctl install -f istio-operator.yaml -y",
         [istioctl, "install", "--kubeconfig", kubeconfig, "-f", files["istio-operator.yaml"], "-y"]),
        ("kubectl apply -f samples/addons (4 files)",
         kube + ["apply"] + [arg for path in files["addons"] for arg in ("-f", path)]),
    ]
    for _addon, service in ADDON_SERVICES:
        steps.append(("kubectl patch svc %s (NodePort)" % service,
                      kube + ["patch", "svc", "-n", istio_ns, service, "-p", nodeport]))
    steps += [
        ("kubectl patch svc istio-ingressgateway (NodePort)",
         kube + ["patch", "svc", "-n", istio_ns, "istio-ingressgateway", "-p", nodeport]),
        ("kubectl label namespace %s %s" % (app_ns, " ".join(labels)),
         kube + ["label", "namespace", app_ns, "--overwrite"] + labels),
        ("kubectl apply -f bookinfo.yaml", kube + ["apply", "-n", app_ns, "-f", files["bookinfo"]]),
        ("kubectl apply -f gateway, DestinationRules, VirtualServices",
         kube + ["apply", "-f", files["bookinfo-networking.yaml"]]),
        ("kubectl apply -f PeerAuthentication + AuthorizationPolicies", kube + ["apply", "-f", files["security.yaml"]]),
    ]
    timings = []
    started = time.monotonic()
    for label, cmd in steps:
        # A person retries a command the API server refused (for example while istiod, just
        # installed, does not answer its webhooks yet); the retries count in the time.
        tries, t0 = 0, time.monotonic()
        while True:
            tries += 1
            proc = run(cmd, ok=None)[1]
            if proc.returncode == 0:
                break
            if tries >= 30:
                sys.exit("by hand: %s failed %d times:\n%s" % (label, tries, proc.stdout[-3000:]))
            time.sleep(1)
        timings.append({"step": label, "seconds": time.monotonic() - t0, "tries": tries})
        log("by hand: %-58s %6.2f s%s" % (label, timings[-1]["seconds"], " (%d tries)" % tries if tries > 1 else ""))
    commands = time.monotonic() - started
    # Outside the ratio: until the cluster has caught up with the commands.
    for namespace in (istio_ns, app_ns):
        run(kube + ["wait", "--for=condition=Available", "deployment", "--all", "-n", namespace, "--timeout=600s"])
    settled = time.monotonic() - started
    pods = json.loads(run(kube + ["get", "pods", "-n", app_ns, "-o", "json"])[1].stdout)["items"]
    injected = sum(1 for pod in pods if any(c["name"] == "istio-proxy" for c in pod["spec"].get("containers", [])
                                            + pod["spec"].get("initContainers", [])))
    return {"steps": timings, "commands": commands, "settled": settled, "pods": len(pods), "injected": injected}


# --------------------------------------------------------------------------- site.yml
def site_run(info, workdir, label, *extra):
    timer = os.path.join(workdir, "timer-%s.json" % label)
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", info["inventory"],
           os.path.join(ROOT, "site.yml")] + SITE_EXTRA + list(extra)
    seconds, proc = run(cmd, ok=None, extra_env={
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(workdir, "callbacks"),
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks,bench_timer",
        "BENCH_TIMER_OUT": timer})
    with open(os.path.join(workdir, "site-%s.log" % label), "w", encoding="utf-8") as handle:
        handle.write(proc.stdout)
    if proc.returncode != 0:
        sys.exit("site.yml (%s) failed (rc %d), log in %s:\n%s" % (label, proc.returncode, workdir, proc.stdout[-4000:]))
    recap = RECAP.search(proc.stdout)
    with open(timer, encoding="utf-8") as handle:
        timing = json.load(handle)
    result = {"seconds": seconds, "timing": timing,
              "recap": dict(zip(("ok", "changed", "unreachable", "failed", "skipped"), [int(g) for g in recap.groups()]))}
    recap = result["recap"]
    log("site.yml %s: %.1f s (ok=%d changed=%d skipped=%d)" % (label, seconds, recap["ok"], recap["changed"], recap["skipped"]))
    return result


def short_path(path):
    path = path.split("ansible_collections/meshops/istio/")[-1]
    return path[len(ROOT) + 1:] if path.startswith(ROOT + "/") else path


def top_tasks(timing, count=15):
    """Tasks by total time, the same task (file:line) summed over its runs (included tasks repeat)."""
    total = collections.OrderedDict()
    for task in timing["tasks"]:
        key = short_path(task["path"]) or task["name"]
        entry = total.setdefault(key, {"names": [], "path": key, "seconds": 0.0, "runs": 0, "status": collections.Counter()})
        entry["seconds"] += task["seconds"]
        entry["runs"] += 1
        entry["status"][task["status"] or "-"] += 1
        if task["name"] not in entry["names"]:
            entry["names"].append(task["name"])
    for entry in total.values():
        entry["name"] = common_name(entry["names"])
    return sorted(total.values(), key=lambda e: -e["seconds"])[:count]


def common_name(names):
    """One name for a task that runs under several (its name templated per include): the shared words, then '...'."""
    if len(names) == 1:
        return names[0]
    words = [name.split() for name in names]
    shared = []
    for column in zip(*words):
        if len(set(column)) > 1:
            break
        shared.append(column[0])
    return " ".join(shared) + " ... (%d variants)" % len(names)


def per_role(timing):
    roles = collections.Counter()
    for task in timing["tasks"]:
        match = re.search(r"roles/([^/]+)/", task["path"])
        roles[match.group(1) if match else "(playbook)"] += task["seconds"]
    return roles.most_common()


# --------------------------------------------------------------------------- report
def report(hand, first, noop, check, counts, versions, loads, diff, taken=None):  # pylint: disable=too-many-arguments
    ratio = first["seconds"] / hand["commands"]
    lines = [
        "Run %s on %s (%d CPU), Python %s, Ansible strategy %s; lab: kube-apiserver %s, Istio %s (istiod as a local "
        "process, the proxyless gRPC data plane). 1-minute load average %s (at the start of each side and at the end; "
        "all but the first include the benchmark's own lab and runs): %s." % (
            taken or datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), platform.machine(), os.cpu_count() or 0,
            platform.python_version(), versions.get("ANSIBLE_STRATEGY", "linear"),
            versions["KUBERNETES_VERSION"], versions["ISTIO_VERSION"],
            " / ".join("%.1f" % load for load in loads),
            # only the load before anything of the benchmark ran says whether other work was running
            "other work was running at the start, figures taken under load" if loads[0] > 1.0 else "machine otherwise idle"),
        "",
        "| run | time | ratio to by hand | what it waits for and checks |",
        "| --- | ---: | ---: | --- |",
        "| by hand: the %d commands | %.1f s | 1.00x | nothing: each command returns once the API server has stored "
        "the objects (istioctl install waits for its Deployments' readiness) |" % (len(hand["steps"]), hand["commands"]),
        "| by hand, until every Deployment is Available | %.1f s | %.2fx | `kubectl wait` (not part of the sequence) |" % (
            hand["settled"], hand["settled"] / hand["commands"]),
        "| `site.yml` first converge | %.1f s | **%.2fx** (goal 1.3x: %s) | release download and checksum, rollouts, injector CA "
        "bundle, staged mTLS/authorization with gates and guards, drift records, verification with real calls, "
        "reports (ok=%d changed=%d) |" % (
            first["seconds"], ratio, "met" if ratio <= 1.3 else "missed", first["recap"]["ok"], first["recap"]["changed"]),
        "| `site.yml` again (no-op) | %.1f s | %.2fx | the same checks; changed=%d |" % (
            noop["seconds"], noop["seconds"] / hand["commands"], noop["recap"]["changed"]),
        "| `site.yml --check` | %.1f s | %.2fx | the same reads, no writes; changed=%d |" % (
            check["seconds"], check["seconds"] / hand["commands"], check["recap"]["changed"]),
        "",
        "Both sides apply the same objects: the release samples (four addons, Bookinfo's application), the "
        "IstioOperator (demo, egress gateway off, hub %s, the lab-only webhook URLs), the Bookinfo routes rendered "
        "from the bookinfo role's reviews-v2-for-jason model (%d objects: the gateway, DestinationRules, "
        "VirtualServices) and the security role's defaults (%d PeerAuthentication, %d AuthorizationPolicies). "
        "By hand, %d of %d Bookinfo pods got their istio-proxy. %s" % (
            "docker.io/istio", counts["traffic"], counts["peer_authentications"], counts["authorization_policies"],
            hand["injected"], hand["pods"], diff),
        "",
        "By-hand steps:",
        "",
        "| command | time |",
        "| --- | ---: |",
    ]
    lines += ["| `%s` | %.2f s%s |" % (s["step"], s["seconds"], " (%d tries)" % s["tries"] if s["tries"] > 1 else "")
              for s in hand["steps"]]
    lines += ["", "Where the first converge spends its time, per play (no-op re-run and `--check` beside it):", "",
              "| play | first converge | no-op | --check |", "| --- | ---: | ---: | ---: |"]
    for index, play in enumerate(first["timing"]["plays"]):
        other = [run_["timing"]["plays"][index]["seconds"] if index < len(run_["timing"]["plays"]) else 0.0
                 for run_ in (noop, check)]
        lines.append("| %s | %.1f s | %.1f s | %.1f s |" % (play["name"], play["seconds"], other[0], other[1]))
    tasks = first["timing"]["tasks"]
    small = [t["seconds"] for t in tasks if t["seconds"] < 1.0]
    skipped = [t["seconds"] for t in tasks if t["status"] == "skipped"]
    lines += ["", "The first converge started %d tasks: %d of them took under 1 s each and %.1f s together (ansible-playbook's "
              "cost per task: templating, module start-up, callbacks), %d were skipped (%.1f s together); the %d tasks of "
              "1 s or more took %.1f s." % (len(tasks), len(small), sum(small), len(skipped), sum(skipped),
                                            len(tasks) - len(small), sum(t["seconds"] for t in tasks) - sum(small))]
    lines += ["", "Per role (first converge): " + ", ".join("%s %.1f s" % kv for kv in per_role(first["timing"])[:10]) + ".",
              "", "The 15 tasks the first converge spends most time in (a task included several times is summed):", "",
              "| task | where | runs | time |", "| --- | --- | ---: | ---: |"]
    for entry in top_tasks(first["timing"]):
        lines.append("| %s | `%s` | %d | %.1f s |" % (entry["name"].replace("|", "/"), entry["path"], entry["runs"], entry["seconds"]))
    return "\n".join(lines), ratio


def write_doc(text):
    with open(DOC, encoding="utf-8") as handle:
        doc = handle.read()
    if START not in doc or END not in doc:
        sys.exit("%s has no %s ... %s block" % (DOC, START, END))
    head, rest = doc.split(START, 1)
    tail = rest.split(END, 1)[1]
    with open(DOC, "w", encoding="utf-8") as handle:
        handle.write(head + START + "\n" + text + "\n" + END + tail)


def compare(hand_objects, site_objects):
    only_hand = sorted(hand_objects - site_objects)
    only_site = sorted(site_objects - hand_objects)
    if not only_hand and not only_site:
        return "Both end with the same %d objects of the compared kinds in istio-system and default." % len(site_objects)

    def fmt(rows):
        return ", ".join("%s %s/%s" % row for row in rows[:12]) + (" ..." if len(rows) > 12 else "")

    return ("Compared kinds in istio-system and default: %d objects by hand, %d by site.yml; only by hand: %s; "
            "only site.yml: %s." % (len(hand_objects), len(site_objects), fmt(only_hand) or "none", fmt(only_site) or "none"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--lab", default="bench-site", help="lab name; the lab is torn down and brought up twice")
    parser.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    parser.add_argument("--write-doc", action="store_true", help="replace the results block of docs/benchmarks.md")
    parser.add_argument("--from-results", metavar="RESULTS_JSON",
                        help="no lab: print (and with --write-doc write) the report of a saved run's results.json")
    args = parser.parse_args()
    if args.from_results:
        with open(args.from_results, encoding="utf-8") as handle:
            saved = json.load(handle)
        text, ratio = report(saved["by_hand"], saved["first"], saved["noop"], saved["check"], saved["counts"],
                             saved["versions"], saved["loads"], saved["compare"], saved.get("taken"))
        print(text)
        print("\nfirst converge ratio %.2fx (goal <= 1.3): %s" % (ratio, "met" if ratio <= 1.3 else "MISSED"))
        if args.write_doc:
            write_doc(text)
            print("wrote %s" % os.path.relpath(DOC, ROOT))
        return 0

    kubectl, istioctl = binaries()
    workdir = tempfile.mkdtemp(prefix="site-bench-")
    os.makedirs(os.path.join(workdir, "callbacks"))
    with open(os.path.join(workdir, "callbacks", "bench_timer.py"), "w", encoding="utf-8") as handle:
        handle.write(CALLBACK)
    log("work directory %s" % workdir)
    loads = []
    try:
        loads.append(os.getloadavg()[0])
        info = fresh_lab(args.lab)
        values = resolve_vars(info["inventory"], workdir)
        files, counts = render_byhand(values, workdir)
        log("rendered the by-hand manifests (%s)" % ", ".join("%s %d" % kv for kv in counts.items()))
        hand = byhand(kubectl, istioctl, info["kubeconfig"], files, values)
        hand_objects = inventory_objects([kubectl, "--kubeconfig", info["kubeconfig"]])
        log("by hand: commands %.1f s, every Deployment Available at %.1f s" % (hand["commands"], hand["settled"]))

        loads.append(os.getloadavg()[0])
        info = fresh_lab(args.lab)
        first = site_run(info, workdir, "first")
        site_objects = inventory_objects([kubectl, "--kubeconfig", info["kubeconfig"]])
        noop = site_run(info, workdir, "noop")
        check = site_run(info, workdir, "check", "--check")
        loads.append(os.getloadavg()[0])

        versions = dict(info["versions"], ANSIBLE_STRATEGY=strategy())
        text, ratio = report(hand, first, noop, check, counts, versions, loads, compare(hand_objects, site_objects))
        print()
        print(text)
        print()
        print("first converge ratio %.2fx (goal <= 1.3): %s" % (ratio, "met" if ratio <= 1.3 else "MISSED"))
        with open(os.path.join(workdir, "results.json"), "w", encoding="utf-8") as handle:
            json.dump({"by_hand": hand, "first": first, "noop": noop, "check": check, "loads": loads, "counts": counts,
                       "versions": versions, "compare": compare(hand_objects, site_objects),
                       "taken": datetime.datetime.now().strftime("%Y-%m-%d %H:%M")}, handle, indent=1)
        if args.write_doc:
            write_doc(text)
            print("wrote %s" % os.path.relpath(DOC, ROOT))
        log("logs and timings kept in %s" % workdir)
    finally:
        if not args.keep:
            run([sys.executable, "-m", "lab", "down", "--name", args.lab], ok=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
