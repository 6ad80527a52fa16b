"""The lab itself: a real API server, real istioctl, a real istiod answering webhooks.

These tests use a lab of their own ("labcheck") because they take it down and kill its
processes; the rest of the suite shares the session lab.
"""

import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The lab package, run from the checkout's root.
LAB = [sys.executable, "-m", "lab"]
# Beside the session's lab: <MESHOPS_LAB_NAME>-labcheck when that is set, so parallel runs do not collide.
NAME = "%s-labcheck" % os.environ["MESHOPS_LAB_NAME"] if os.environ.get("MESHOPS_LAB_NAME") else "labcheck"

if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
from lab import build, dataplane, lab as labmod  # noqa: E402  pylint: disable=wrong-import-position


def lab_cmd(*args, check=True):
    return subprocess.run(LAB + list(args) + ["--name", NAME], text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, check=check, cwd=ROOT)


class SocketWatch(threading.Thread):
    """Samples the TCP sockets of every lab process until stopped."""

    def __init__(self, lab):
        super().__init__(daemon=True)
        self.lab = lab
        self.samples = 0
        self.peers = set()
        self.listeners = set()
        self.netns_peers = {}
        self.netns_seen = set()
        self.pod_ips = set()  # every pod address the data plane ran while watched (pods come and go)
        self.stop = threading.Event()

    def pids(self):
        return {pid for _name, pid, alive in labmod.lab_processes(self.lab) if alive}

    def run(self):
        while not self.stop.is_set():
            self.pod_ips.update(r["ip"] for r in dataplane.load_pods(self.lab).values())
            pids = self.pids()
            out = subprocess.run(["ss", "-tuanpH"], text=True, stdout=subprocess.PIPE, check=False).stdout
            for line in out.splitlines():
                found = [int(p) for p in re.findall(r"pid=(\d+)", line)]
                if not pids.intersection(found):
                    continue
                cols = line.split()
                state, local, peer = cols[1], cols[4], cols[5]
                if state == "LISTEN" or (cols[0] == "udp" and state == "UNCONN"):
                    self.listeners.add(local.rsplit(":", 1)[0])
                else:
                    self.peers.add(peer.rsplit(":", 1)[0])
            # the data plane's namespaces: every socket there belongs to a lab process
            for netns in dataplane.netns_list(dataplane.lab_netns(self.lab)):
                out = subprocess.run(["ip", "netns", "exec", netns, "ss", "-tuanH"], text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False).stdout
                for line in out.splitlines():
                    cols = line.split()
                    if len(cols) >= 6 and cols[1] not in ("LISTEN", "UNCONN"):
                        self.netns_peers.setdefault(netns, set()).add(cols[5].rsplit(":", 1)[0])
                self.netns_seen.add(netns)
            self.samples += 1
            time.sleep(0.3)


def is_loopback(addr):
    addr = addr.strip("[]")
    if addr.startswith("::ffff:"):
        addr = addr[len("::ffff:"):]
    if addr in ("*", "0.0.0.0", "::"):
        return False
    return ipaddress.ip_address(addr.split("%")[0]).is_loopback


@pytest.fixture(scope="module")
def own_lab():
    lab_cmd("down", check=False)
    res = lab_cmd("up")
    assert res.returncode == 0, res.stdout
    lab = labmod.Lab(NAME)
    yield lab
    if os.environ.get("MESHOPS_LAB_KEEP") != "1":
        lab_cmd("down", check=False)


def kubectl(lab, *args, stdin=None, check=True):
    res = lab.kubectl_run(list(args), check=False, stdin=stdin)
    if check:
        assert res.returncode == 0, res.stderr + res.stdout
    return res


def istioctl(lab):
    return os.path.join(build.path_of("istio", lab.specs["istio"]), "istioctl")


@pytest.fixture(scope="module")
def installed(own_lab):
    """istioctl install of the demo profile, with the lab's webhook URLs, while sockets are watched."""
    lab = own_lab
    port = lab.load_info()["ports"]["istiod_https"]
    watch = SocketWatch(lab)
    watch.start()
    res = subprocess.run([istioctl(lab), "install", "--kubeconfig", lab.kubeconfig, "-y",
                          "--set", "profile=demo",
                          "--set", "values.istiodRemote.injectionURL=https://localhost:%d/inject" % port,
                          "--set", "values.base.validationURL=https://localhost:%d/validate" % port],
                         text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600, check=False)
    assert res.returncode == 0, res.stdout
    # istiod (started by the supervisor) patches the CA bundle into the injector webhook.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        bundle = kubectl(lab, "get", "mutatingwebhookconfiguration", "istio-sidecar-injector", "-o",
                         "jsonpath={.webhooks[0].clientConfig.caBundle}", check=False).stdout
        if bundle and labmod._istiod_ready(labmod.istiod_ports(lab.load_info(), "")):  # pylint: disable=protected-access
            break
        time.sleep(1)
    yield {"output": res.stdout, "watch": watch}
    watch.stop.set()


def test_install_reports_completion(installed):
    assert "Installation complete" in installed["output"]


@pytest.mark.parametrize("name", ["istiod", "istio-ingressgateway", "istio-egressgateway"])
def test_control_plane_deployments_available(own_lab, installed, name):
    status = kubectl(own_lab, "get", "deployment", "-n", "istio-system", name, "-o",
                     "jsonpath={.status.conditions[?(@.type=='Available')].status}").stdout
    assert status == "True"


def test_pod_in_labelled_namespace_gets_istio_proxy(own_lab, installed):
    lab = own_lab
    kubectl(lab, "create", "namespace", "injected", check=False)
    kubectl(lab, "label", "namespace", "injected", "istio-injection=enabled", "--overwrite")
    kubectl(lab, "apply", "-n", "injected", "-f", "-", stdin="""
apiVersion: v1
kind: Pod
metadata: {name: app, labels: {app: app}}
spec:
  containers:
  - {name: app, image: docker.io/library/busybox:1.36, command: [sleep, "3600"]}
""")
    containers = json.loads(kubectl(lab, "get", "pod", "-n", "injected", "app", "-o", "json").stdout)
    names = [c["name"] for c in containers["spec"]["containers"]] + \
            [c["name"] for c in containers["spec"].get("initContainers", [])]
    assert "istio-proxy" in names, names
    annotations = containers["metadata"].get("annotations", {})
    assert annotations.get("sidecar.istio.io/status"), annotations


def test_pod_in_plain_namespace_is_not_injected(own_lab, installed):
    lab = own_lab
    kubectl(lab, "create", "namespace", "plain", check=False)
    kubectl(lab, "apply", "-n", "plain", "-f", "-", stdin="""
apiVersion: v1
kind: Pod
metadata: {name: app}
spec:
  containers:
  - {name: app, image: docker.io/library/busybox:1.36}
""")
    pod = json.loads(kubectl(lab, "get", "pod", "-n", "plain", "app", "-o", "json").stdout)
    assert [c["name"] for c in pod["spec"]["containers"]] == ["app"]


VS_UNKNOWN_FIELD = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bad-field, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
      wieght: 100
"""

VS_WEIGHT_OVER_100 = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bad-weight, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 150
    - destination: {host: reviews, subset: v2}
      weight: -50
"""

# Istio treats route weights as relative since they stopped having to add up to 100: a lone
# weight of 150 is valid to istiod. The collection's traffic model is stricter (weights of a
# route must sum to 100); that check is tested with the model.
VS_RELATIVE_WEIGHTS = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: relative-weights, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 150
    - destination: {host: reviews, subset: v2}
      weight: 50
"""


def test_virtualservice_with_unknown_field_is_refused(own_lab, installed):
    res = kubectl(own_lab, "apply", "-f", "-", stdin=VS_UNKNOWN_FIELD, check=False)
    assert res.returncode != 0
    assert 'unknown field "spec.http[0].route[0].wieght"' in res.stderr, res.stderr


def test_virtualservice_with_a_negative_weight_is_refused_by_istiod(own_lab, installed):
    res = kubectl(own_lab, "apply", "-f", "-", stdin=VS_WEIGHT_OVER_100, check=False)
    assert res.returncode != 0
    # the refusal comes from istiod's validation webhook, through the API server, to the user
    assert 'admission webhook "validation.istio.io" denied the request' in res.stderr, res.stderr
    assert "weight -50 < 0" in res.stderr, res.stderr
    assert kubectl(own_lab, "get", "virtualservice", "-n", "default", "bad-weight", check=False).returncode != 0


def test_istiod_accepts_relative_weights_over_100(own_lab, installed):
    res = kubectl(own_lab, "apply", "-f", "-", stdin=VS_RELATIVE_WEIGHTS, check=False)
    assert res.returncode == 0, res.stderr
    kubectl(own_lab, "delete", "virtualservice", "-n", "default", "relative-weights")


def test_peerauthentication_bad_mode_rejected_by_crd_schema(own_lab, installed):
    res = kubectl(own_lab, "apply", "-f", "-", check=False, stdin="""
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: bad-mode, namespace: default}
spec:
  mtls: {mode: STRICt}
""")
    assert res.returncode != 0
    assert "STRICt" in res.stderr and "Unsupported value" in res.stderr, res.stderr


APP = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: echo}
---
apiVersion: v1
kind: Service
metadata: {name: echo, labels: {app: echo}}
spec:
  selector: {app: echo}
  ports: [{name: grpc, port: 9080}]
---
# proxyless clients use mTLS only when a DestinationRule says so, and istiod serves PERMISSIVE as
# STRICT to gRPC servers of injected pods (gRPC has no permissive mode)
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo-v7}
spec:
  replicas: 1
  selector: {matchLabels: {app: echo, version: v7}}
  template:
    metadata: {labels: {app: echo, version: v7}}
    spec:
      serviceAccountName: echo
      containers:
      - {name: app, image: docker.io/library/busybox:1.36, ports: [{containerPort: 9080}]}
"""


def try_probe(source, to, *extra):
    """(`python -m lab probe` output, its JSON answer or None when it failed)."""
    res = lab_cmd("probe", "--from", source, "--to", to, *extra, check=False)
    if res.returncode != 0:
        return res.stdout, None
    try:
        return res.stdout, json.loads(res.stdout.splitlines()[-1])
    except (ValueError, IndexError):
        return res.stdout, None


def probe(source, to, *extra):
    output, answer = try_probe(source, to, *extra)
    assert answer is not None, output
    return answer


@pytest.fixture(scope="module")
def dataplane_app(own_lab, installed):
    """A Deployment with a Service in the injected namespace, answered by the lab's data plane."""
    kubectl(own_lab, "apply", "-n", "injected", "-f", "-", stdin=APP)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        pods = dataplane.load_pods(own_lab)
        if any(r["app"] == "echo" and r["state"] == "running" for r in pods.values()) and \
                any(r["pod"] == "app" and r["state"] == "running" for r in pods.values()):
            break
        time.sleep(1)
    # Running is not yet served: istiod pushes the echo endpoint to the caller's xDS a moment
    # later (as in any mesh), so the first call may be Unavailable. Wait for one answer (the test
    # then asserts five in a row).
    while time.monotonic() < deadline + 60:
        answer = try_probe("injected/app", "echo.injected.svc.cluster.local:9080")[1]
        if answer and [c["code"] for c in answer.get("calls", [])] == ["OK"]:
            break
        time.sleep(1)
    return dataplane.load_pods(own_lab)


def test_dataplane_runs_mesh_pods_with_their_identity(own_lab, dataplane_app):
    records = {r["pod"]: r for r in dataplane_app.values() if r["namespace"] == "injected"}
    echo = next(r for r in records.values() if r["app"] == "echo")
    assert echo["state"] == "running" and echo["mesh"] and echo["ports"] == [9080], echo
    assert records["app"]["state"] == "running", records
    status = lab_cmd("status", check=False).stdout
    assert "pod injected/%s" % echo["pod"] in status and "pilot-agent injected/%s" % echo["pod"] in status, status
    # the workload certificate istiod's CA issued carries the pod's ServiceAccount identity
    cert = os.path.join(echo["workdir"], "var/lib/istio/data/cert-chain.pem")
    text = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", cert], text=True,
                          stdout=subprocess.PIPE, check=True).stdout
    assert "spiffe://cluster.local/ns/injected/sa/echo" in text, text
    # its address is the one the cluster gave the pod, inside a namespace of the lab
    pod_ip = kubectl(own_lab, "get", "pod", "-n", "injected", echo["pod"], "-o", "jsonpath={.status.podIP}").stdout
    addrs = subprocess.run(["ip", "-n", echo["netns"], "-4", "-o", "addr", "show", "dev", "eth0"], text=True,
                           stdout=subprocess.PIPE, check=True).stdout
    assert pod_ip and " %s/" % pod_ip in addrs, (pod_ip, addrs)


def test_dataplane_processes_never_probe_a_cloud(own_lab, dataplane_app):
    pids = [pid for name, pid, alive in dataplane.processes(own_lab) if alive and name != "dataplane-supervisor"]
    assert len(pids) >= 3, pids
    for pid in pids:
        with open("/proc/%d/environ" % pid, "rb") as handle:
            env = dict(item.split(b"=", 1) for item in handle.read().split(b"\0") if b"=" in item)
        assert env.get(b"CLOUD_PLATFORM") == b"none", (pid, env.get(b"CLOUD_PLATFORM"))


def test_dataplane_answers_a_mesh_call_with_the_pods_version(own_lab, dataplane_app):
    result = probe("injected/app", "echo.injected.svc.cluster.local:9080", "--count", "5")
    assert result["mode"] == "mesh" and result["source"]["pod"] == "app", result
    assert [(c["code"], c["version"]) for c in result["calls"]] == [("OK", "v7")] * 5, result


def link_mac(netns, device):
    out = subprocess.run(["ip", "-n", netns, "-o", "link", "show", "dev", device], text=True, stdout=subprocess.PIPE,
                         check=True).stdout
    return out.split("link/ether ")[1].split()[0]


def running_echo(lab, not_pods=()):
    return next((r for r in dataplane.load_pods(lab).values()
                 if r["app"] == "echo" and r["state"] == "running" and r["pod"] not in not_pods), None)


def test_replaced_pods_are_reached_at_once(own_lab, dataplane_app):
    """KWOK hands a freed pod IP to the next pod at once, and a bridge takes its lowest port's MAC:
    a long-lived pod's neighbour cache must never point at a MAC that went with an old pod (the
    call would time out in the dial until the ARP entry expires). Pods' MACs follow their IPs and
    the lab bridge's MAC is fixed."""
    bridge = link_mac(dataplane.lab_netns(own_lab), "br0")
    assert bridge == dataplane.BRIDGE_MAC
    probe("injected/app", "echo.injected.svc.cluster.local:9080", "--count", "2")  # fills app's neighbour cache
    seen = set()
    for _round in range(2):  # the second replacement usually gets the IP the first one freed
        old = running_echo(own_lab)
        seen.add(old["pod"])
        kubectl(own_lab, "delete", "pod", "-n", "injected", old["pod"], "--wait=true")
        lab_wait = time.monotonic() + 90
        while running_echo(own_lab, seen) is None:
            assert time.monotonic() < lab_wait, dataplane.load_pods(own_lab)
            time.sleep(0.5)
        new = running_echo(own_lab, seen)
        # the new pod's MAC is its IP's, so every cached entry for that IP stays right
        assert link_mac(new["netns"], "eth0") == dataplane.pod_mac(new["ip"]), new
        assert link_mac(dataplane.lab_netns(own_lab), "br0") == bridge
        # the first answers: none may be a dial that went unanswered (stale MAC); a moment while
        # istiod pushes the new endpoint is normal
        deadline = time.monotonic() + 30
        while True:
            answer = probe("injected/app", "echo.injected.svc.cluster.local:9080", "--count", "3", "--timeout", "5")
            assert not any("i/o timeout" in (c.get("error") or "") for c in answer["calls"]), answer
            if [c["code"] for c in answer["calls"]] == ["OK"] * 3:
                break
            assert time.monotonic() < deadline, answer
            time.sleep(1)
        assert {c["host"] for c in answer["calls"]} == {new["pod"]}, answer
    for record in dataplane.load_pods(own_lab).values():
        assert link_mac(record["netns"], "eth0") == dataplane.pod_mac(record["ip"]), record


def test_every_dataplane_namespace_routes_only_lab_addresses(own_lab, dataplane_app):
    namespaces = dataplane.netns_list(dataplane.lab_netns(own_lab))
    assert len(namespaces) >= 3, namespaces
    allowed = [ipaddress.ip_network(labmod.POD_CIDR), ipaddress.ip_network(labmod.SERVICE_CIDR)]
    for netns in namespaces:
        routes = subprocess.run(["ip", "-n", netns, "-4", "route", "show", "table", "all"], text=True,
                                stdout=subprocess.PIPE, check=True).stdout.splitlines()
        routes6 = subprocess.run(["ip", "-n", netns, "-6", "route", "show", "table", "all"], text=True,
                                 stdout=subprocess.PIPE, check=True).stdout.strip()
        assert not routes6, (netns, routes6)
        for route in routes:
            dest = route.split()[0]
            if dest in ("local", "broadcast"):  # the local table: the namespace's own addresses
                address = ipaddress.ip_address(route.split()[1].split("/")[0])
                assert address.is_loopback or any(address in net for net in allowed), (netns, route)
                continue
            assert dest != "default", (netns, route)
            network = ipaddress.ip_network(dest, strict=False)
            assert network.is_loopback or any(network.subnet_of(net) for net in allowed), (netns, route)
    # and the machine's own namespace has no route into the lab's networks
    for route in subprocess.run(["ip", "-4", "route", "show", "table", "all"], text=True, stdout=subprocess.PIPE,
                                check=True).stdout.splitlines():
        dest = route.split()[0]
        if dest in ("local", "broadcast", "default", "unreachable", "prohibit", "blackhole"):
            continue
        network = ipaddress.ip_network(dest, strict=False)
        assert not any(network.overlaps(net) for net in allowed), route


def test_dataplane_talks_only_to_lab_addresses(own_lab, installed, dataplane_app):
    watch = installed["watch"]
    probe("injected/app", "echo.injected.svc.cluster.local:9080", "--count", "3")
    time.sleep(1)
    pod_ips = watch.pod_ips | {r["ip"] for r in dataplane.load_pods(own_lab).values()}
    relays = set(subprocess.run(["ip", "-n", dataplane.lab_netns(own_lab), "-4", "-o", "addr", "show", "dev", "br0"],
                                text=True, stdout=subprocess.PIPE, check=True).stdout.split())
    relay_ips = {w.split("/")[0] for w in relays if re.match(r"^\d+\.\d+\.\d+\.\d+/32$", w)}
    assert relay_ips, relays
    assert watch.netns_seen, "the watch saw no data-plane namespace"
    seen = set()
    for netns, peers in watch.netns_peers.items():
        for peer in peers:
            address = peer.strip("[]")
            seen.add(address)
            assert address in pod_ips or address in relay_ips or ipaddress.ip_address(address).is_loopback, (netns, peer)
    assert seen & relay_ips, "no connection to istiod's relay was seen: %s" % seen


def test_no_lab_process_talks_outside_loopback(installed):
    watch = installed["watch"]
    watch.stop.set()
    watch.join(5)
    assert watch.samples > 3
    assert watch.peers, "no connections seen: the watch saw nothing"
    outside = sorted(p for p in watch.peers if not is_loopback(p))
    assert not outside, "lab processes talked to %s" % outside
    wide = sorted(l for l in watch.listeners if not is_loopback(l))
    assert not wide, "lab processes listen on %s" % wide


def test_killed_istiod_is_reported_and_restored(own_lab, installed):
    lab = own_lab
    pid = labmod.read_pid(os.path.join(lab.state, "istiod.pid"))
    assert labmod.pid_alive(pid)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and lab_cmd("status", check=False).returncode == 0:
        time.sleep(1)
    status = lab_cmd("status", check=False)
    assert status.returncode == 1 and "DOWN" in status.stdout, status.stdout
    assert lab_cmd("up").returncode == 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and lab_cmd("status", check=False).returncode != 0:
        time.sleep(1)
    status = lab_cmd("status", check=False)
    assert status.returncode == 0, status.stdout


def test_killed_apiserver_is_reported_and_restored(own_lab, installed):
    lab = own_lab
    pid_file = os.path.join(lab.kwok_workdir, "clusters", lab.cluster, "pids", "kube-apiserver.pid")
    os.kill(labmod.read_pid(pid_file), signal.SIGKILL)
    time.sleep(1)
    status = lab_cmd("status", check=False)
    assert status.returncode == 1 and "kube-apiserver" in status.stdout and "DOWN" in status.stdout, status.stdout
    assert lab_cmd("up").returncode == 0
    assert kubectl(lab, "get", "deployment", "-n", "istio-system", "istiod", "-o", "name").stdout.strip()


def test_down_then_up_gives_a_fresh_cluster(own_lab, installed):
    lab = own_lab
    down = lab_cmd("down", check=False)
    assert down.returncode == 0, down.stdout
    assert "no lab process running" in down.stdout and "no network namespace left" in down.stdout
    assert not [p for p in labmod.lab_processes(lab) if p[2]]
    assert not dataplane.netns_list(dataplane.lab_netns(lab))
    assert not [n for n in os.listdir("/etc/netns") if n.startswith(dataplane.lab_netns(lab))] \
        if os.path.isdir("/etc/netns") else True
    assert lab_cmd("up").returncode == 0
    res = kubectl(lab, "get", "namespace", "injected", check=False)
    assert res.returncode != 0 and "NotFound" in res.stderr
    nodes = kubectl(lab, "get", "nodes", "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
    assert sorted(nodes) == ["k3s-s", "k3s-w1", "k3s-w2"]
