#!/usr/bin/env python
"""Run istiod (pilot-discovery) as a local process for a lab, the way a kubelet would run its pod.

istiod reads its injection templates from the ``istio-sidecar-injector`` ConfigMap only if the
ConfigMap exists when it starts, so this supervisor starts istiod once ``istioctl install``
has created it, stops istiod when the ConfigMap goes (uninstall), and restarts it when the
installed istiod image tag changes (in-place upgrade), choosing the pilot-discovery built for
that version when the lab has one. If istiod dies on its own, the supervisor logs it and
exits: ``lab status`` then reports it and ``lab up`` starts a new supervisor.
"""

import argparse
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lab as labmod  # noqa: E402  pylint: disable=wrong-import-position

NAMESPACE = "istio-system"
CONFIGMAP = "istio-sidecar-injector"


def log(msg):
    print("%s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def installed_tag(lab):
    res = lab.kubectl_run(["get", "deployment", "-n", NAMESPACE, "istiod", "-o",
                           "jsonpath={.spec.template.spec.containers[0].image}"], check=False)
    image = res.stdout.strip() if res.returncode == 0 else ""
    return image.rsplit(":", 1)[-1] if ":" in image else ""


def binary_for(lab, tag):
    """pilot-discovery for the installed tag if the lab built it, else the default version."""
    for piece in ("istio", "istio-previous"):
        spec = lab.specs[piece]
        path = os.path.join(labmod.build.path_of(piece, spec), "pilot-discovery")
        if spec["version"] == tag and os.access(path, os.X_OK):
            return path, spec["version"]
    spec = lab.specs["istio"]
    return os.path.join(labmod.build.path_of("istio", spec), "pilot-discovery"), spec["version"]


def start_istiod(lab, ports, tag):
    binary, version = binary_for(lab, tag)
    os.makedirs(lab.istiod_dir, exist_ok=True)
    env = dict(os.environ)
    env.update({
        "POD_NAMESPACE": NAMESPACE, "POD_NAME": "istiod-lab", "SERVICE_ACCOUNT": "istiod",
        "REVISION": "default", "ISTIOD_CUSTOM_HOST": "localhost", "PILOT_CERT_PROVIDER": "istiod",
        "CLUSTER_ID": "Kubernetes", "KUBECONFIG": lab.kubeconfig, "JWT_POLICY": "third-party-jwt",
        "INJECTION_WEBHOOK_CONFIG_NAME": "istio-sidecar-injector",
        "VALIDATION_WEBHOOK_CONFIG_NAME": "istio-validator-istio-system",
        "PILOT_ENABLE_ANALYSIS": "false", "GOMAXPROCS": "2",
    })
    cmd = [binary, "discovery", "--kubeconfig", lab.kubeconfig,
           "--httpAddr", "127.0.0.1:%d" % ports["istiod_http"],
           "--httpsAddr", "127.0.0.1:%d" % ports["istiod_https"],
           "--grpcAddr", "127.0.0.1:%d" % ports["istiod_grpc"],
           "--secureGRPCAddr", "127.0.0.1:%d" % ports["istiod_sgrpc"],
           "--monitoringAddr", "127.0.0.1:%d" % ports["istiod_monitoring"],
           "--domain", "cluster.local", "--log_output_level", "default:info"]
    out = open(os.path.join(lab.state, "istiod.log"), "ab")  # pylint: disable=consider-using-with
    proc = subprocess.Popen(cmd, cwd=lab.istiod_dir, env=env, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    with open(os.path.join(lab.state, "istiod.pid"), "w", encoding="utf-8") as handle:
        handle.write(str(proc.pid))
    log("started istiod %s (pid %d) for installed tag %r" % (version, proc.pid, tag))
    return proc


def stop_istiod(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lab", required=True)
    parser.add_argument("--interval", type=float, default=2.0)
    args = parser.parse_args()
    lab = labmod.Lab(args.lab)
    ports = lab.load_info()["ports"]
    proc = None
    running_tag = None
    stopping = []

    def on_term(_signum, _frame):
        stopping.append(True)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    log("supervising istiod for lab %s" % lab.name)
    while not stopping:
        present = lab.kubectl_run(["get", "configmap", "-n", NAMESPACE, CONFIGMAP, "-o", "name"],
                                  check=False).returncode == 0
        if proc is not None and proc.poll() is not None:
            log("istiod exited on its own (code %s); supervisor exits so that `lab status` reports it"
                % proc.returncode)
            return 1
        if present:
            tag = installed_tag(lab)
            if proc is None:
                proc, running_tag = start_istiod(lab, ports, tag), tag
            elif tag and tag != running_tag:
                log("installed istiod tag changed %r -> %r: restarting" % (running_tag, tag))
                stop_istiod(proc)
                proc, running_tag = start_istiod(lab, ports, tag), tag
        elif proc is not None:
            log("ConfigMap %s/%s is gone (Istio uninstalled): stopping istiod" % (NAMESPACE, CONFIGMAP))
            stop_istiod(proc)
            proc, running_tag = None, None
            os.remove(os.path.join(lab.state, "istiod.pid"))
        time.sleep(args.interval)
    stop_istiod(proc)
    log("supervisor stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
