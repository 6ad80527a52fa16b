"""Run istiod (pilot-discovery) as local processes for a lab, the way a kubelet would run the pods.

One istiod runs per installed control-plane revision. A revision is installed when its injector
ConfigMap exists (``istio-sidecar-injector`` for the default revision,
``istio-sidecar-injector-<rev>`` for revision <rev>): istiod reads its injection templates from
that ConfigMap only if it exists when istiod starts, so the supervisor starts a revision's istiod
once ``istioctl install`` has created it, stops it when the ConfigMap goes (uninstall), and
restarts it when the revision's istiod image tag changes (in-place upgrade), choosing the
pilot-discovery built for that version when the lab has one. Each revision listens on its own
ports (lab.json); the lab inventory points each revision's webhooks at them. If an istiod dies
on its own, the supervisor logs it and exits: ``lab status`` then reports it and ``lab up``
starts a new supervisor.

Started by `python -m lab up` as ``python -m lab.istiod_supervisor --lab NAME``.
"""

import argparse
import os
import subprocess
import sys
import time

from . import build, lab as labmod
from .collection import injector_configmap_name, injector_webhook_name, istiod_name, revision_label

NAMESPACE = "istio-system"


def log(msg):
    print("%s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


CONFIGMAPS = "/api/v1/namespaces/%s/configmaps" % NAMESPACE


def installed_revisions(api, seen=None):
    """{revision: installed istiod image tag} for every revision whose injector ConfigMap exists;
    seen (a dict) gets the resourceVersion of the ConfigMap list."""
    configmaps = api.get(CONFIGMAPS)
    if configmaps is None:
        return None  # API server not answering: change nothing
    if seen is not None:
        seen["resourceVersion"] = configmaps.get("metadata", {}).get("resourceVersion")
    names = "\n".join(item["metadata"]["name"] for item in configmaps.get("items", []))
    revisions = dict.fromkeys(labmod.injector_revisions(names), "")
    if revisions:
        deployments = api.get("/apis/apps/v1/namespaces/%s/deployments" % NAMESPACE) or {}
        images = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0].get("image", "")
                  for d in deployments.get("items", [])}
        for revision in revisions:
            image = images.get(istiod_name(revision), "")
            revisions[revision] = image.rsplit(":", 1)[-1] if ":" in image else ""
    return revisions


def binary_for(lab, tag):
    """pilot-discovery for the installed tag if the lab built it, else the default version."""
    for piece in ("istio", "istio-previous"):
        spec = lab.specs[piece]
        path = os.path.join(build.path_of(piece, spec), "pilot-discovery")
        if spec["version"] == tag and os.access(path, os.X_OK):
            return path, spec["version"]
    spec = lab.specs["istio"]
    return os.path.join(build.path_of("istio", spec), "pilot-discovery"), spec["version"]


def start_istiod(lab, revision, ports, tag):
    binary, version = binary_for(lab, tag)
    workdir = os.path.join(lab.istiod_dir, revision_label(revision))
    os.makedirs(workdir, exist_ok=True)
    env = dict(os.environ)
    env.update({
        "POD_NAMESPACE": NAMESPACE, "POD_NAME": istiod_name(revision) + "-lab", "SERVICE_ACCOUNT": istiod_name(revision),
        "REVISION": revision_label(revision), "ISTIOD_CUSTOM_HOST": "localhost", "PILOT_CERT_PROVIDER": "istiod",
        "CLUSTER_ID": "Kubernetes", "KUBECONFIG": lab.kubeconfig, "JWT_POLICY": "third-party-jwt",
        "INJECTION_WEBHOOK_CONFIG_NAME": injector_webhook_name(revision),
        # istio-validator[-<rev>]-<namespace>: only istiod and this lab need the name
        "VALIDATION_WEBHOOK_CONFIG_NAME": "istio-validator%s-%s" % ("-" + revision if revision else "", NAMESPACE),
        "PILOT_ENABLE_ANALYSIS": "false", "GOMAXPROCS": "2",
    })
    cmd = [binary, "discovery", "--kubeconfig", lab.kubeconfig,
           "--httpAddr", "127.0.0.1:%d" % ports["http"],
           "--httpsAddr", "127.0.0.1:%d" % ports["https"],
           "--grpcAddr", "127.0.0.1:%d" % ports["grpc"],
           "--secureGRPCAddr", "127.0.0.1:%d" % ports["sgrpc"],
           "--monitoringAddr", "127.0.0.1:%d" % ports["monitoring"],
           "--domain", "cluster.local", "--log_output_level", "default:info"]
    out = open(labmod.istiod_log(lab, revision), "ab")  # pylint: disable=consider-using-with
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    with open(labmod.istiod_pid_path(lab, revision), "w", encoding="utf-8") as handle:
        handle.write(str(proc.pid))
    log("started istiod %s (pid %d) for revision %s, installed tag %r, webhooks on https://localhost:%d"
        % (version, proc.pid, revision_label(revision), tag, ports["https"]))
    return proc


def stop_istiod(lab, revision, proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    path = labmod.istiod_pid_path(lab, revision)
    if os.path.exists(path):
        os.remove(path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lab", required=True)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--idle", type=float, default=10.0)
    args = parser.parse_args()
    lab = labmod.Lab(args.lab)
    info = lab.load_info()
    api = None  # in-process GETs (lab.Api): a kubectl process per poll cost a tenth of a core
    running = {}  # revision -> (process, tag)
    unsupported = set()
    stop = labmod.StopSignals()
    log("supervising istiod for lab %s (revisions with ports: %s)"
        % (lab.name, ", ".join(revision_label(r) for r in labmod.istiod_revisions(info))))
    while not stop.requested:
        for revision, (proc, _tag) in running.items():
            if proc.poll() is not None:
                log("istiod of revision %s exited on its own (code %s); supervisor exits so that `lab status` "
                    "reports it" % (revision_label(revision), proc.returncode))
                for other, (other_proc, _t) in running.items():
                    if other != revision:
                        stop_istiod(lab, other, other_proc)
                return 1
        if api is None and os.path.exists(lab.kubeconfig):
            api = labmod.Api(lab)
        seen = {}
        installed = installed_revisions(api, seen) if api else None
        if installed is not None:
            for revision in sorted(set(running) - set(installed)):
                log("ConfigMap %s/%s is gone (revision %s uninstalled): stopping its istiod"
                    % (NAMESPACE, injector_configmap_name(revision), revision_label(revision)))
                stop_istiod(lab, revision, running.pop(revision)[0])
            for revision, tag in sorted(installed.items()):
                ports = labmod.istiod_ports(info, revision)
                if ports is None:
                    if revision not in unsupported:
                        unsupported.add(revision)
                        log("revision %s is installed, but the lab has no istiod ports for it (it has: %s): "
                            "its webhooks stay unanswered" % (revision, ", ".join(
                                revision_label(r) for r in labmod.istiod_revisions(info))))
                    continue
                if revision not in running:
                    running[revision] = (start_istiod(lab, revision, ports, tag), tag)
                elif tag and tag != running[revision][1]:
                    log("installed istiod tag of revision %s changed %r -> %r: restarting"
                        % (revision_label(revision), running[revision][1], tag))
                    stop_istiod(lab, revision, running.pop(revision)[0])
                    running[revision] = (start_istiod(lab, revision, ports, tag), tag)
        if installed is None or stop.requested:
            time.sleep(args.interval)
            continue
        # Sleep until a ConfigMap of an Istio revision changes (installed, upgraded, removed), at
        # most --idle seconds (an istiod that exits and an image tag are still looked at):
        # listing every 2 s kept the API server busier than the rest of an idle lab.
        stop.wait_for_change(api, CONFIGMAPS + "?labelSelector=istio.io%2Frev", seen.get("resourceVersion"), args.idle)
    for revision, (proc, _tag) in running.items():
        stop_istiod(lab, revision, proc)
    log("supervisor stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
