"""The lab's data plane: the pods a kubelet would run, run as processes in network namespaces.

No Envoy exists here, so the data plane is Istio's proxyless gRPC one (../shared/LAB.md). For
every pod the lab runs, the supervisor in this file (``python -m lab.dataplane --lab NAME``,
started by ``python -m lab up``):

- makes a network namespace ``meshops-<lab>.<namespace>.<pod>`` holding ``eth0`` with the IP
  the cluster gave the pod, on a bridge inside the lab's own namespace ``meshops-<lab>``. The
  pod's routing table holds only the pod network and the Service network, both on-link: no
  default route, so nothing can leave the machine even by mistake. Link addresses never go
  stale in a neighbour cache: ``eth0``'s MAC is derived from the pod's IP (KWOK hands a freed IP
  to the next pod at once, and a long-lived pod would otherwise keep sending to the old pod's
  MAC until its ARP entry expires: dial timeouts), and the bridge has a fixed MAC (a bridge
  takes its lowest port's MAC and changes it when that pod goes, which cut every pod off from
  istiod's relay address);
- for a pod with an injected ``istio-proxy`` container (a mesh pod): writes the pod's files
  (a ServiceAccount token for audience ``istio-ca``, the namespace's ``istio-ca-root-cert``) into
  a directory of its own and runs ``pilot-agent`` in grpc-agent mode there (it gets the
  workload certificate from istiod's CA and proxies xDS; no Envoy), then Istio's echo server
  on the pod's container ports as xDS-enabled gRPC servers (so PeerAuthentication and
  AuthorizationPolicy are enforced on what it receives), answering with the pod's ``version``
  label and its name;
- for a pod without sidecar outside istio-system (a test client such as the verify role's
  netpod): the namespace and a plain echo server on its container ports, no agent;
- relays istiod's Service address (its ClusterIP, port 15012) inside the lab namespace to the
  istiod process on 127.0.0.1, the way kube-proxy would: the pods reach istiod by its ordinary
  name ``istiod.istio-system.svc`` (``/etc/netns/<ns>/hosts``).

Pods in istio-system and kube-system (the ingress gateway is an Envoy, the addons are not in the
mesh) are not run, and nothing ever dials them. Every process runs with ``CLOUD_PLATFORM=none``.
What runs is written to ``<lab state>/dataplane/pods.json``; ``lab status`` lists it and
``lab down`` removes every process, namespace and link.

``python -m lab probe`` (cmd_probe) sends calls from a running pod with the lab's test client.
"""

import argparse
import ctypes
import hashlib
import json
import os
import resource
import selectors
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

from . import lab as labmod

SKIP_NAMESPACES = ("istio-system", "kube-system", "kube-public", "kube-node-lease")
ISTIOD_XDS_PORT = 15012
# Ports of the echo server that no Bookinfo or test pod declares (it always opens an HTTP and a TCP port).
ECHO_SPARE_HTTP, ECHO_SPARE_TCP = 18080, 19090
CLONE_NEWNET = 0x40000000
RUN_DIR = "/run/meshops-istio"


BRIDGE_MAC = "0a:58:00:00:00:01"  # locally administered; no pod has IP 0.0.0.1, so no pod's MAC


def log(msg):
    print("%s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


# --------------------------------------------------------------------------- names and paths
def lab_netns(lab):
    return "meshops-%s" % lab.name


def pod_netns(lab, namespace, pod):
    return "%s.%s.%s" % (lab_netns(lab), namespace, pod)


def state_dir(lab):
    return os.path.join(lab.state, "dataplane")


def pods_file(lab):
    return os.path.join(state_dir(lab), "pods.json")


def pid_file(lab):
    return os.path.join(lab.state, "dataplane-supervisor.pid")


def bin_path(lab, binary):
    return lab.bin("istio-dataplane", binary)


def pod_mac(address):
    """A pod's MAC from its IPv4 address: 0a:58 and the address' four bytes (locally administered,
    unicast; the convention of the CNI bridge plugin). The same IP always has the same MAC."""
    return "0a:58:" + ":".join("%02x" % int(part) for part in address.split("."))


def veth_name(netns):
    """The lab-side end of a pod's veth pair (interface names have at most 15 characters)."""
    return "v" + hashlib.sha256(netns.encode()).hexdigest()[:12]


def load_pods(lab):
    try:
        with open(pods_file(lab), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def save_pods(lab, pods):
    os.makedirs(state_dir(lab), exist_ok=True)
    tmp = pods_file(lab) + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(pods, handle, indent=2, sort_keys=True)
    os.replace(tmp, pods_file(lab))


def ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), check=check, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def netns_list(prefix):
    try:
        return sorted(n for n in os.listdir("/run/netns") if n == prefix or n.startswith(prefix + "."))
    except OSError:
        return []


# --------------------------------------------------------------------------- which pods run
def pod_plan(pod):
    """What the lab runs for a pod (a dict), or None when it runs nothing for it."""
    meta, spec, status = pod["metadata"], pod.get("spec", {}), pod.get("status", {})
    if meta["namespace"] in SKIP_NAMESPACES or meta.get("deletionTimestamp"):
        return None
    if status.get("phase") != "Running" or not status.get("podIP"):
        return None
    containers = spec.get("containers", [])
    proxy = next((c for c in containers if c.get("name") == "istio-proxy"), None)
    ports = sorted({p["containerPort"] for c in containers if c.get("name") != "istio-proxy"
                    for p in c.get("ports", []) if p.get("protocol", "TCP") == "TCP"})
    labels = meta.get("labels") or {}
    plan = {"namespace": meta["namespace"], "pod": meta["name"], "uid": meta.get("uid", ""),
            "ip": status["podIP"], "ports": ports, "mesh": proxy is not None,
            "service_account": spec.get("serviceAccountName") or "default",
            "app": labels.get("app", ""), "version": labels.get("version", ""),
            "revision": labels.get("istio.io/rev", "")}
    if proxy is not None:
        plan["env"] = dict((e["name"], e["value"]) for e in proxy.get("env", []) if "value" in e)
    return plan


def same_pod(old, new):
    keys = ("uid", "ip", "ports", "mesh", "service_account", "version")
    return all(old.get(k) == new.get(k) for k in keys)


# --------------------------------------------------------------------------- network
def ensure_lab_network(lab):
    name = lab_netns(lab)
    if name not in netns_list(name):
        ip("netns", "add", name)
        no_ipv6(name)
    ip("-n", name, "link", "set", "lo", "up")
    if ip("-n", name, "link", "show", "br0", check=False).returncode != 0:
        ip("-n", name, "link", "add", "br0", "type", "bridge")
    # a MAC set by hand stays: the bridge no longer follows its ports' addresses
    ip("-n", name, "link", "set", "br0", "address", BRIDGE_MAC)
    ip("-n", name, "link", "set", "br0", "up")
    # answers (ARP, SYN-ACK) from the relay addresses on the bridge go back to the pods
    ip("-n", name, "route", "replace", labmod.POD_CIDR, "dev", "br0")


def no_ipv6(netns):
    """The lab's addresses are IPv4: a namespace gets no IPv6 address (not even link-local) and no IPv6 route."""
    subprocess.run(["ip", "netns", "exec", netns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1"], check=True)


def ensure_address(lab, address):
    """Put a Service address (relay) on the lab bridge."""
    name = lab_netns(lab)
    if address + "/32" not in ip("-n", name, "-o", "addr", "show", "dev", "br0").stdout:
        ip("-n", name, "addr", "add", address + "/32", "dev", "br0")


def pod_network_up(lab, plan, hosts):
    netns = pod_netns(lab, plan["namespace"], plan["pod"])
    pod_network_down(lab, netns)
    ip("netns", "add", netns)
    no_ipv6(netns)
    ip("-n", netns, "link", "set", "lo", "up")
    veth = veth_name(netns)
    ip("link", "add", "eth0", "netns", netns, "address", pod_mac(plan["ip"]), "type", "veth",
       "peer", "name", veth, "netns", lab_netns(lab))
    ip("-n", lab_netns(lab), "link", "set", veth, "master", "br0", "up")
    ip("-n", netns, "addr", "add", "%s/%d" % (plan["ip"], labmod.POD_PREFIX), "dev", "eth0")
    ip("-n", netns, "link", "set", "eth0", "up")
    ip("-n", netns, "route", "add", labmod.SERVICE_CIDR, "dev", "eth0")
    etc = os.path.join("/etc/netns", netns)
    os.makedirs(etc, exist_ok=True)
    with open(os.path.join(etc, "hosts"), "w", encoding="utf-8") as handle:
        handle.write("127.0.0.1 localhost\n%s %s\n" % (plan["ip"], plan["pod"]))
        handle.writelines("%s %s\n" % (address, " ".join(names)) for address, names in sorted(hosts.items()))
    return netns


def pod_network_down(lab, netns):
    if netns in netns_list(netns):
        ip("netns", "delete", netns, check=False)
    shutil.rmtree(os.path.join("/etc/netns", netns), ignore_errors=True)
    # the lab-side veth end goes with its peer; remove it if a half-made pod left it behind
    ip("-n", lab_netns(lab), "link", "delete", veth_name(netns), check=False)


def lab_network_down(lab):
    for netns in reversed(netns_list(lab_netns(lab))):
        ip("netns", "delete", netns, check=False)
        shutil.rmtree(os.path.join("/etc/netns", netns), ignore_errors=True)


# --------------------------------------------------------------------------- the istiod relay
_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns failed")


def listen_in(netns, address, port):
    """A listening socket inside a network namespace (the socket stays there after we return)."""
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    other = os.open(os.path.join("/run/netns", netns), os.O_RDONLY)
    try:
        setns(other)
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
            sock.listen(64)
        finally:
            setns(own)
    finally:
        os.close(own)
        os.close(other)
    return sock


class Relay(threading.Thread):
    """Forward connections accepted inside the lab namespace to a port on 127.0.0.1."""

    def __init__(self, sock, target_port, name):
        super().__init__(daemon=True, name=name)
        self.sock, self.target_port, self.stopped = sock, target_port, False

    def run(self):
        while not self.stopped:
            try:
                client = self.sock.accept()[0]
            except OSError as exc:
                if self.stopped:
                    return
                log("%s: accept failed, retrying: %s" % (self.name, exc))  # e.g. out of file descriptors
                time.sleep(0.5)
                continue
            threading.Thread(target=self.pump, args=(client,), daemon=True).start()

    def pump(self, client):
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
        except OSError as exc:
            log("%s: istiod on 127.0.0.1:%d does not answer: %s" % (self.name, self.target_port, exc))
            client.close()
            return
        upstream.settimeout(None)
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, upstream)
        sel.register(upstream, selectors.EVENT_READ, client)
        try:
            while not self.stopped:
                for key, _events in sel.select(timeout=1):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            sel.close()
            client.close()
            upstream.close()

    def stop(self):
        self.stopped = True
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------- processes
def spawn_in(netns, cmd, log_path, env, cwd, hostname=None):
    """Start cmd inside a pod's network namespace (and its own UTS namespace, so the echo
    server's hostname is the pod's name); returns the pid."""
    wrapped = ["ip", "netns", "exec", netns]
    if hostname:
        wrapped += ["unshare", "--uts", "--", "/bin/sh", "-c", 'hostname "$0" && exec "$@"', hostname]
    return labmod.spawn(wrapped + cmd, log_path, env=env, cwd=cwd)


def base_env():
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")}
    env["CLOUD_PLATFORM"] = "none"  # never probe cloud metadata addresses
    return env


def write_pod_files(lab, api, plan, workdir):
    """Token and root certificate where pilot-agent reads them (relative to its working directory)."""
    cm = api.get("/api/v1/namespaces/%s/configmaps/istio-ca-root-cert" % plan["namespace"])
    root = (cm or {}).get("data", {}).get("root-cert.pem")
    if not root:
        return "waiting for ConfigMap %s/istio-ca-root-cert" % plan["namespace"]
    res = lab.kubectl_run(["create", "token", plan["service_account"], "-n", plan["namespace"],
                           "--audience", "istio-ca", "--duration", "24h"], check=False)
    if res.returncode != 0:
        return "token for ServiceAccount %s/%s: %s" % (plan["namespace"], plan["service_account"], res.stderr.strip())
    for rel, content, mode in (("var/run/secrets/istio/root-cert.pem", root, 0o644),
                               ("var/run/secrets/tokens/istio-token", res.stdout.strip(), 0o600)):
        path = os.path.join(workdir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(path, mode)
    for path in (config_dir(workdir), certs_dir(workdir)):
        os.makedirs(path, exist_ok=True)
    return None


def config_dir(workdir):
    """The agent's config directory (bootstrap, xDS socket) under /run: a unix socket's path has at
    most 107 bytes, less than a pod directory in the user's cache may take."""
    return os.path.join(RUN_DIR, hashlib.sha256(workdir.encode()).hexdigest()[:16])


def certs_dir(workdir):
    """Where pilot-agent writes the workload certificate (OUTPUT_CERTS) and the root certificate."""
    return os.path.join(workdir, "var/lib/istio/data")


def xds_env(bootstrap):
    """Environment of a proxyless gRPC program (echo server, test client) reading `bootstrap`."""
    env = base_env()
    env.update({"GRPC_XDS_BOOTSTRAP": bootstrap, "GRPC_XDS_EXPERIMENTAL_SECURITY_SUPPORT": "true"})
    return env


def agent_env(plan, workdir):
    env = base_env()
    env.update(plan.get("env") or {})
    # the injected proxy config, with the agent's files under the pod's directory: gRPC reads the
    # xDS socket's path from the bootstrap, where a relative path would name the host's /etc
    try:
        proxy_config = json.loads(env.get("PROXY_CONFIG") or "{}")
    except ValueError:
        proxy_config = {}
    proxy_config["configPath"] = config_dir(workdir)
    env["PROXY_CONFIG"] = json.dumps(proxy_config)
    env.update({
        "CLOUD_PLATFORM": "none",
        "ISTIO_META_GENERATOR": "grpc", "DISABLE_ENVOY": "true", "ISTIO_META_DNS_CAPTURE": "false",
        "OUTPUT_CERTS": certs_dir(workdir),
        "GRPC_XDS_BOOTSTRAP": os.path.join(config_dir(workdir), "grpc-bootstrap.json"),
        "POD_NAME": plan["pod"], "POD_NAMESPACE": plan["namespace"], "INSTANCE_IP": plan["ip"],
        "SERVICE_ACCOUNT": plan["service_account"], "HOST_IP": labmod.NODE_IP,
        "ISTIO_META_APP_CONTAINERS": "app",
    })
    return env


def echo_cmd(lab, plan):
    ports = plan["ports"]
    cmd = [bin_path(lab, "server"), "--port", str(ECHO_SPARE_HTTP), "--tcp", str(ECHO_SPARE_TCP),
           "--version", plan["version"], "--cluster", "lab"]
    if ports:
        cmd += ["--grpc", ",".join(str(p) for p in ports)]
        if plan["mesh"]:
            cmd += ["--xds-grpc-server", ",".join(str(p) for p in ports)]
    return cmd


def start_echo(lab, record, env):
    """Start the pod's echo server on its ports (none: nothing to serve); returns its pid or 0."""
    if not record["ports"]:
        return 0
    return spawn_in(record["netns"], echo_cmd(lab, record), os.path.join(record["workdir"], "echo.log"),
                    env, record["workdir"], hostname=record["pod"])


def start_pod(lab, api, plan, hosts):
    """Make the pod's namespace and start its processes; returns the pod's record."""
    key = "%s/%s" % (plan["namespace"], plan["pod"])
    workdir = os.path.join(state_dir(lab), plan["namespace"], plan["pod"])
    shutil.rmtree(workdir, ignore_errors=True)
    shutil.rmtree(config_dir(workdir), ignore_errors=True)
    os.makedirs(workdir)
    record = dict(plan, workdir=workdir, netns=pod_netns(lab, plan["namespace"], plan["pod"]),
                  agent_pid=0, echo_pid=0, state="starting", detail="")
    record.pop("env", None)
    if plan["mesh"]:
        problem = write_pod_files(lab, api, plan, workdir)
        if problem:
            record.update(state="waiting", detail=problem)
            return record
    pod_network_up(lab, plan, hosts)
    if plan["mesh"]:
        env = agent_env(plan, workdir)
        record["agent_pid"] = spawn_in(record["netns"], [bin_path(lab, "pilot-agent"), "proxy", "sidecar",
                                                         "--domain", "%s.svc.cluster.local" % plan["namespace"]],
                                       os.path.join(workdir, "pilot-agent.log"), env, workdir)
        record["bootstrap"] = env["GRPC_XDS_BOOTSTRAP"]
        record["discovery_address"] = json.loads(env["PROXY_CONFIG"]).get("discoveryAddress") or env.get("CA_ADDR")
        log("%s: pilot-agent started (pid %d, %s)" % (key, record["agent_pid"], plan["ip"]))
    else:
        record.update(state="running", echo_pid=start_echo(lab, record, base_env()))
        log("%s: plain pod (no sidecar) at %s" % (key, plan["ip"]))
    return record


def log_tail(path, lines=3):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return " | ".join(line.strip() for line in handle.readlines()[-lines:])
    except OSError:
        return "no log at %s" % path


def advance_pod(lab, record):
    """A mesh pod whose agent runs: start the echo server once the agent wrote the bootstrap
    and the workload certificate."""
    if record["state"] == "running":
        dead = [name for name in ("agent_pid", "echo_pid") if record.get(name) and not labmod.pid_alive(record[name])]
        if dead:
            record.update(state="failed", detail="%s exited (see the logs in %s)" % (
                " and ".join("pilot-agent" if d == "agent_pid" else "echo server" for d in dead), record["workdir"]))
        return
    if record["state"] != "starting":
        return
    if not labmod.pid_alive(record["agent_pid"]):
        record.update(state="failed", detail="pilot-agent exited: %s" % log_tail(os.path.join(record["workdir"], "pilot-agent.log")))
        log("%s/%s: %s" % (record["namespace"], record["pod"], record["detail"]))
        return
    certs = certs_dir(record["workdir"])
    if not (os.path.exists(record["bootstrap"]) and os.path.exists(os.path.join(certs, "cert-chain.pem"))):
        return
    record["probe_bootstrap"] = write_probe_bootstrap(record, certs)
    record.update(state="running", detail="", echo_pid=start_echo(lab, record, xds_env(record["bootstrap"])))
    log("%s/%s: running (echo pid %s)" % (record["namespace"], record["pod"], record["echo_pid"] or "-"))


def write_probe_bootstrap(record, certs):
    """The bootstrap of the lab's test client in a mesh pod: the agent's, with its own xDS
    connection to istiod authenticated by the workload certificate. (pilot-agent's xDS proxy
    serves one gRPC process per pod and closes an older stream when a second one opens: the
    echo server keeps the agent's, the test client talks to istiod as the same workload.)"""
    with open(record["bootstrap"], encoding="utf-8") as handle:
        bootstrap = json.load(handle)
    address = record.get("discovery_address") or "istiod.istio-system.svc:15012"
    bootstrap["xds_servers"] = [{
        "server_uri": address,
        "channel_creds": [{"type": "tls", "config": {
            "ca_certificate_file": os.path.join(certs, "root-cert.pem"),
            "certificate_file": os.path.join(certs, "cert-chain.pem"),
            "private_key_file": os.path.join(certs, "key.pem")}}],
        "server_features": ["xds_v3"],
    }]
    path = os.path.join(config_dir(record["workdir"]), "probe-bootstrap.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(bootstrap, handle, indent=2)
    return path


def stop_pod(lab, record):
    for name in ("echo_pid", "agent_pid"):
        labmod.stop_pid(record.get(name), "%s of %s/%s" % (name[:-4], record["namespace"], record["pod"]), timeout=5)
    pod_network_down(lab, record["netns"] if "netns" in record else pod_netns(lab, record["namespace"], record["pod"]))
    if record.get("workdir"):
        shutil.rmtree(config_dir(record["workdir"]), ignore_errors=True)
        shutil.rmtree(record["workdir"], ignore_errors=True)


# --------------------------------------------------------------------------- the supervisor
def istiod_services(api, info):
    """{ClusterIP: (names, istiod secure gRPC port on 127.0.0.1)} for every istiod Service whose
    revision the lab runs an istiod for."""
    svcs = api.get("/api/v1/namespaces/istio-system/services") or {"items": []}
    found = {}
    for svc in svcs["items"]:
        name = svc["metadata"]["name"]
        if name != "istiod" and not name.startswith("istiod-"):
            continue
        revision = "" if name == "istiod" else name[len("istiod-"):]
        ports = labmod.istiod_ports(info, revision)
        address = svc.get("spec", {}).get("clusterIP")
        if ports and address and address != "None":
            names = ["%s.istio-system.svc" % name, "%s.istio-system.svc.cluster.local" % name]
            found[address] = (names, ports["sgrpc"])
    return found


def supervise(lab, interval, idle=10.0):
    info = lab.load_info()
    # two descriptors per relayed connection (and the pods' long-lived xDS streams): not the default 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else max(soft, 65536), hard))
    stop = labmod.StopSignals()
    ensure_lab_network(lab)
    relays = {}
    pods = load_pods(lab)
    for record in pods.values():  # a previous supervisor's pods: start clean
        stop_pod(lab, record)
    pods = {}
    save_pods(lab, pods)
    log("data plane supervisor for lab %s (network namespace %s)" % (lab.name, lab_netns(lab)))
    api = None
    while not stop.requested:
        if api is None and os.path.exists(lab.kubeconfig):
            api = labmod.Api(lab)
        listed = api.get("/api/v1/pods") if api else None
        listed_at = time.monotonic()
        busy = True  # a pod that is starting or waits for istiod is looked at again after interval
        if listed is not None:
            fresh = lab.load_info()  # an istiod revision started since (a canary) adds its ports
            if fresh.get("ports"):
                info = fresh
            services = istiod_services(api, info)
            for address, (_names, port) in services.items():
                if address not in relays:
                    ensure_address(lab, address)
                    relays[address] = Relay(listen_in(lab_netns(lab), address, ISTIOD_XDS_PORT), port, "relay-" + address)
                    relays[address].start()
                    log("istiod relay %s:%d -> 127.0.0.1:%d" % (address, ISTIOD_XDS_PORT, port))
            hosts = dict((address, names) for address, (names, _port) in services.items())
            wanted = {}
            for pod in listed["items"]:
                plan = pod_plan(pod)
                if plan:
                    wanted["%s/%s" % (plan["namespace"], plan["pod"])] = plan
            for key in sorted(set(pods) - set(wanted)):
                log("%s: gone, stopping" % key)
                stop_pod(lab, pods.pop(key))
            for key, plan in sorted(wanted.items()):
                record = pods.get(key)
                if record and not same_pod(record, plan):
                    log("%s: changed, restarting" % key)
                    stop_pod(lab, pods.pop(key))
                    record = None
                if record is None or record["state"] == "waiting":
                    if plan["mesh"] and not services:
                        continue  # no istiod yet
                    pods[key] = start_pod(lab, api, plan, hosts)
                advance_pod(lab, pods[key])
            save_pods(lab, pods)
            busy = len(pods) < len(wanted) or any(r["state"] in ("starting", "waiting") for r in pods.values())
        if busy or stop.requested:
            time.sleep(interval)
        else:
            # Settled: sleep until a pod changes (a watch from the list's resourceVersion), at most
            # idle seconds, so that a running pod's processes are still checked and a new istiod
            # Service is still seen. Listing every second cost the API server more than the rest of
            # an idle lab did.
            stop.wait_for_change(api, "/api/v1/pods", listed.get("metadata", {}).get("resourceVersion"), idle)
            if not stop.requested:
                time.sleep(max(0.0, 0.2 - (time.monotonic() - listed_at)))
    for relay in relays.values():
        relay.stop()
    for record in pods.values():
        stop_pod(lab, record)
    save_pods(lab, {})
    log("data plane supervisor stopped")
    return 0


# --------------------------------------------------------------------------- lab commands
def up(lab):
    path = pid_file(lab)
    if labmod.pid_alive(labmod.read_pid(path)):
        labmod.log("data plane supervisor already running")
        return
    pid = labmod.spawn(labmod.module_cmd("dataplane", "--lab", lab.name), os.path.join(lab.state, "dataplane.log"),
                       env=labmod.module_env())
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(str(pid))
    labmod.log("data plane supervisor started (runs the pods of the mesh as processes in network namespace %s)"
               % lab_netns(lab))


def processes(lab):
    """(name, pid, alive) of the supervisor and every pod process."""
    procs = []
    pid = labmod.read_pid(pid_file(lab))
    if pid:
        procs.append(("dataplane-supervisor", pid, labmod.pid_alive(pid)))
    for key, record in sorted(load_pods(lab).items()):
        for name in ("agent_pid", "echo_pid"):
            if record.get(name):
                label = "pilot-agent" if name == "agent_pid" else "echo"
                procs.append(("%s %s" % (label, key), record[name], labmod.pid_alive(record[name])))
    return procs


def down(lab):
    labmod.stop_pid(labmod.read_pid(pid_file(lab)), "data plane supervisor", timeout=30)
    if os.path.exists(pid_file(lab)):
        os.remove(pid_file(lab))
    for record in load_pods(lab).values():
        stop_pod(lab, record)
    save_pods(lab, {})
    lab_network_down(lab)
    shutil.rmtree(state_dir(lab), ignore_errors=True)
    left = netns_list(lab_netns(lab))
    return left


def find_source(lab, source, wait):
    """The running pod record for NS/POD, NS/APP[/VERSION] or NS/WORKLOAD, waiting up to `wait` seconds for
    the supervisor to start it (a pod created just before the probe)."""
    parts = source.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise SystemExit("--from %r: use NAMESPACE/APP, NAMESPACE/APP/VERSION or NAMESPACE/POD" % source)
    deadline = time.monotonic() + wait
    while True:
        pods = [r for r in load_pods(lab).values() if r["namespace"] == parts[0] and r["state"] == "running"]
        match = [r for r in pods if r["pod"] == parts[1]] or \
            [r for r in pods if r["app"] == parts[1] and (len(parts) == 2 or r["version"] == parts[2])] or \
            [r for r in pods if len(parts) == 2 and r["pod"].startswith(parts[1] + "-")]  # a workload's pods
        if match:
            return sorted(match, key=lambda r: r["pod"])[0]
        if time.monotonic() >= deadline:
            raise SystemExit("--from %s: no running data-plane pod matches after %gs (running in %s: %s)" % (
                source, wait, parts[0], ", ".join(sorted(r["pod"] for r in pods)) or "none"))
        time.sleep(0.5)


def plain_target(lab, host, port):
    """host:port of a Service -> ip:port of one of its running endpoints (a plain client has no
    xDS: it dials a pod address, as a client without sidecar would after kube-proxy)."""
    name, _dot, rest = host.partition(".")
    namespace = rest.split(".")[0] if rest else "default"
    running = dict((r["ip"], r) for r in load_pods(lab).values() if r["state"] == "running")
    slices = labmod.Api(lab).get("/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices?labelSelector=%s"
                                 % (namespace, urllib.parse.quote("kubernetes.io/service-name=" + name)))
    for item in (slices or {}).get("items", []):
        for endpoint in item.get("endpoints", []):
            for address in endpoint.get("addresses", []):
                if address in running:
                    return "%s:%s" % (address, port)
    raise SystemExit("--to %s:%s: Service %s/%s has no endpoint that the lab runs" % (host, port, namespace, name))


def probe(lab, source, to, headers=(), count=1, timeout=10.0, plain=False, wait=60.0):
    """Send `count` calls from a running pod to HOST:PORT with the lab's test client; the result
    as printed by `lab probe` (see the module docstring)."""
    record = find_source(lab, source, wait)
    host, _colon, port = to.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit("--to %r: use HOST:PORT, for example reviews.bookinfo.svc.cluster.local:9080" % to)
    plain = plain or not record["mesh"]
    target = plain_target(lab, host, port) if plain else "xds:///%s:%s" % (host, port)
    env = base_env() if plain else xds_env(record["probe_bootstrap"])
    cmd = ["ip", "netns", "exec", record["netns"], bin_path(lab, "meshops-probe"), "-target", target,
           "-count", str(count), "-timeout", "%gs" % timeout]
    for header in headers:
        cmd += ["-H", header]
    res = subprocess.run(cmd, env=env, cwd=record["workdir"], text=True, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, check=False)
    calls = [json.loads(line) for line in res.stdout.splitlines() if line.strip()]
    result = {"source": {"namespace": record["namespace"], "pod": record["pod"], "app": record["app"],
                         "version": record["version"], "mesh": record["mesh"],
                         "service_account": record["service_account"]},
              "target": target, "to": to, "mode": "plain" if plain else "mesh",
              "headers": list(headers), "calls": calls}
    if res.returncode != 0:
        result["error"] = res.stderr.strip() or "test client exited with %d" % res.returncode
    return result


def cmd_probe(lab, args):
    """`lab probe`: one probe from the flags, or with --batch a JSON list of probes read from
    stdin ({"from", "to", "headers": {k: v}, "count", "timeout", "plain"}), answered by a JSON
    list in the same order; a probe whose source is not running answers {"error": ...}."""
    if not args.batch:
        result = probe(lab, args.source, args.to, args.header, args.count, args.timeout, args.plain, args.wait)
        print(json.dumps(result))
        return 0 if "error" not in result else 1
    try:
        specs = json.load(sys.stdin)
    except ValueError as exc:
        raise SystemExit("--batch: stdin is not a JSON list of probes: %s" % exc)
    results = []
    for spec in specs:
        headers = ["%s=%s" % (k, v) for k, v in sorted((spec.get("headers") or {}).items())]
        try:
            results.append(probe(lab, spec["from"], spec["to"], headers, int(spec.get("count", 1)),
                                 float(spec.get("timeout", 10)), bool(spec.get("plain")), args.wait))
        except SystemExit as exc:
            results.append({"from": spec.get("from"), "to": spec.get("to"), "calls": [], "error": str(exc)})
    print(json.dumps(results))
    return 0


def main():
    parser = argparse.ArgumentParser(prog="python -m lab.dataplane")
    parser.add_argument("--lab", required=True)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--idle", type=float, default=10.0)
    args = parser.parse_args()
    if not shutil.which("ip") or not shutil.which("unshare"):
        raise SystemExit("the lab's data plane needs `ip` (iproute2) and `unshare` (util-linux)")
    return supervise(labmod.Lab(args.lab), args.interval, args.idle)


if __name__ == "__main__":
    sys.exit(main())
