"""The offline lab: a real Kubernetes control plane with KWOK nodes, istiod and a release mirror.

Run from the checkout's root:

    python -m lab up     [--name NAME]   build what is missing, start everything (idempotent)
    python -m lab status [--name NAME]   what runs and where; exit 1 when something is down
    python -m lab down   [--name NAME]   stop everything; checks no process or port is left
    python -m lab env    [--name NAME]   print shell exports (KUBECONFIG, PATH) for the lab
    python -m lab probe  [--name NAME] --from NS/APP --to HOST:PORT [-H k=v] [--count N]
                                         gRPC calls from a pod of the data plane, as JSON

Every control-plane process binds to 127.0.0.1; the data plane (lab/dataplane.py) runs the mesh's
pods in network namespaces of their own, with no route out of the lab's addresses. The lab's state lives in
``<cache>/labs/<name>/`` (``<cache>`` as in lab/build.py); the default lab ("meshops") also
writes ``inventories/lab/`` in the checkout so ``ansible-playbook site.yml -i inventories/lab``
works. See ../shared/LAB.md for the design.
"""

if __name__ == "__main__" and not __package__:
    # `python lab/lab.py ...`, the spelling from before lab/ was a package: run `python -m lab ...`.
    import os
    import subprocess
    import sys

    _ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    _ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p))
    sys.exit(subprocess.call([sys.executable, "-m", "lab"] + sys.argv[1:], env=_ENV))

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from . import build, collection, mirror

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

DEFAULT_NAME = "meshops"
NODES = ("k3s-s", "k3s-w1", "k3s-w2")
# Pod and Service addresses cannot be in 127.0.0.0/8: EndpointSlice validation rejects loopback
# addresses. They exist only inside the network namespaces the lab makes for its data plane
# (lab/dataplane.py): a pod the lab runs holds its IP there; the root namespace has no route to
# either range, and nothing outside those namespaces dials them (tests/integration/test_lab.py).
POD_CIDR = "10.244.0.0/16"
POD_PREFIX = 16
SERVICE_CIDR = "10.96.0.0/16"
NODE_IP = "127.0.0.1"


def log(msg):
    print("[lab] %s" % msg, flush=True)


# --------------------------------------------------------------------------- state and paths
class Lab:
    def __init__(self, name):
        if not name.replace("-", "").isalnum() or name != name.lower():
            raise SystemExit("lab name %r: use lower-case letters, digits and '-'" % name)
        self.name = name
        self.versions = build.load_versions()
        self.specs = build.pieces(self.versions)
        self.state = os.path.join(build.cache_root(), "labs", name)
        self.kwok_workdir = os.path.join(self.state, "kwok")
        self.cluster = "meshops-%s" % name
        self.kubeconfig = os.path.join(self.state, "kubeconfig")
        # release archives are the same for every lab: build them once, serve them per lab
        self.mirror_root = os.path.join(build.cache_root(), "mirror")
        self.istiod_dir = os.path.join(self.state, "istiod")
        self.info_path = os.path.join(self.state, "lab.json")
        if name == DEFAULT_NAME:
            self.inventory = os.path.join(ROOT, "inventories", "lab")
        else:
            self.inventory = os.path.join(self.state, "inventory")

    # binaries
    def bin(self, piece, binary):
        return os.path.join(build.path_of(piece, self.specs[piece]), binary)

    @property
    def kubectl(self):
        return self.bin("kubernetes", "kubectl")

    def load_info(self):
        try:
            with open(self.info_path, encoding="utf-8") as handle:
                return json.load(handle)
        except (OSError, ValueError):
            return {}

    def save_info(self, info):
        os.makedirs(self.state, exist_ok=True)
        tmp = self.info_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(info, handle, indent=2, sort_keys=True)
        os.replace(tmp, self.info_path)

    def env(self):
        env = dict(os.environ)
        env["KWOK_WORKDIR"] = self.kwok_workdir
        env["KUBECONFIG"] = self.kubeconfig
        return env

    def kubectl_run(self, args, check=True, capture=True, stdin=None):
        return subprocess.run([self.kubectl, "--kubeconfig", self.kubeconfig] + args,
                              check=check, text=True, input=stdin,
                              stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.PIPE if capture else None)


class Stopped(Exception):
    """Raised by StopSignals' handler while a supervisor waits in Api.wait_for_change."""


class StopSignals:
    """SIGTERM and SIGINT for a supervisor's loop: `requested` turns true, and a wait in
    wait_for_change ends at once instead of when its watch times out (the loop then ends)."""

    def __init__(self):
        self.requested = False
        self._waiting = False
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, _signum, _frame):
        self.requested = True
        if self._waiting:
            raise Stopped()

    def wait_for_change(self, api, path, resource_version, timeout):
        """api.wait_for_change(path, resource_version, timeout) unless a stop is requested first or
        meanwhile."""
        try:
            self._waiting = True
            if not self.requested:
                api.wait_for_change(path, resource_version, timeout)
            self._waiting = False
        except Stopped:
            self._waiting = False


class Api:
    """GETs on the lab's API server from this process, over one kept-alive connection, and a watch
    to wait on. The data plane and istiod supervisors list, then wait for the next change: a kubectl
    process per poll cost a tenth of a core per lab, a new TLS connection per poll kept the API
    server busy with RSA handshakes, and a list every second or two was half of an idle lab's API
    server. Writes go through kubectl."""

    def __init__(self, lab):
        import ssl  # pylint: disable=import-outside-toplevel
        import yaml  # pylint: disable=import-outside-toplevel

        with open(lab.kubeconfig, encoding="utf-8") as handle:
            config = yaml.safe_load(handle)
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        self.server = urllib.parse.urlsplit(cluster["server"])
        self.context = ssl.create_default_context(cafile=cluster["certificate-authority"])
        self.context.load_cert_chain(user["client-certificate"], user["client-key"])
        self.conn = None

    def _connection(self):
        if self.conn is None:
            self.conn = http.client.HTTPSConnection(self.server.hostname, self.server.port, context=self.context,
                                                    timeout=10)
        return self.conn

    def get(self, path):
        """The decoded JSON at path, or None when the API server does not answer with it."""
        for _attempt in (1, 2):  # a kept-alive connection that the server has closed fails once
            try:
                conn = self._connection()
                conn.request("GET", self.server.path.rstrip("/") + path, headers={"Accept": "application/json"})
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                continue
            if resp.status != 200:
                return None
            try:
                return json.loads(body)
            except ValueError:
                return None
        return None

    def wait_for_change(self, path, resource_version, timeout):
        """Block until the collection at path changes after resource_version (the first event of a
        watch), at most timeout seconds. True when something changed or the watch could not be
        held (the caller lists again), False when timeout passed without a change. This is what
        lets the supervisors list once per change instead of once a second."""
        if not resource_version:
            time.sleep(min(timeout, 1.0))
            return True
        query = urllib.parse.urlencode({"watch": "1", "resourceVersion": resource_version,
                                        "timeoutSeconds": str(max(1, int(timeout))),
                                        "allowWatchBookmarks": "false"})
        sep = "&" if "?" in path else "?"
        conn = http.client.HTTPSConnection(self.server.hostname, self.server.port, context=self.context,
                                           timeout=timeout + 10)
        try:
            conn.request("GET", self.server.path.rstrip("/") + path + sep + query,
                         headers={"Accept": "application/json"})
            resp = conn.getresponse()
            if resp.status != 200:
                time.sleep(min(timeout, 1.0))
                return True
            return bool(resp.readline().strip())  # the stream ends empty when timeoutSeconds passed
        except (OSError, http.client.HTTPException):
            time.sleep(min(timeout, 1.0))
            return True
        finally:
            conn.close()


# --------------------------------------------------------------------------- helpers
def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def pid_alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def read_pid(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return int(handle.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def stop_pid(pid, name, timeout=15):
    if not pid_alive(pid):
        return
    log("stopping %s (pid %d)" % (name, pid))
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        time.sleep(0.2)
    if pid_alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            os.kill(pid, signal.SIGKILL)


def spawn(cmd, log_path, env=None, cwd=None):
    """Start a daemon in its own session; returns its pid."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
    return proc.pid


def module_cmd(module, *args):
    """Command line that runs a module of this package (`python -m lab.<module> ...`)."""
    return [sys.executable, "-m", "%s.%s" % (__package__, module)] + list(args)


def module_env():
    """Environment for module_cmd: the checkout's root on PYTHONPATH, whatever the working directory."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))


def wait_for(predicate, what, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    raise SystemExit("[lab] timed out after %ds waiting for %s" % (timeout, what))


# --------------------------------------------------------------------------- the cluster
def kwokctl_config(lab, info):
    k8s = build.path_of("kubernetes", lab.specs["kubernetes"])
    kwok = build.path_of("kwok", lab.specs["kwok"])
    etcd = build.path_of("etcd", lab.specs["etcd"])
    return """\
kind: KwokctlConfiguration
apiVersion: config.kwok.x-k8s.io/v1alpha1
options:
  runtime: binary
  bindAddress: 127.0.0.1
  kubeApiserverPort: {apiserver}
  etcdPort: {etcd_port}
  etcdPeerPort: {etcd_peer}
  kubeControllerManagerPort: {kcm}
  kubeSchedulerPort: {sched}
  kwokControllerPort: {kwok_port}
  securePort: true
  kubeAuthorization: true
  kubeAdmission: true
  kubeVersion: {kver}
  kubeApiserverBinary: {k8s}/kube-apiserver
  kubeControllerManagerBinary: {k8s}/kube-controller-manager
  kubeSchedulerBinary: {k8s}/kube-scheduler
  kubectlBinary: {k8s}/kubectl
  etcdBinary: {etcd}/etcd
  kwokControllerBinary: {kwok}/kwok
  cacheDir: {cache}
componentsPatches:
  - name: kube-apiserver
    extraArgs:
      - key: advertise-address
        value: 127.0.0.1
      - key: service-cluster-ip-range
        value: {service_cidr}
      # The "kubernetes" Service's endpoint reconciler refuses 127.0.0.1 (loopback) and retried
      # it every 10 s: nothing in the lab reads that Service's endpoints.
      - key: endpoint-reconciler-type
        value: none
  # One controller manager and one scheduler per lab: no leader election (it renewed a Lease every
  # 2 s each). No HorizontalPodAutoscaler controller: the lab has no metrics API, so it could only
  # fail every 15 s and write a warning Event; the HPAs the control plane installs stay as written.
  - name: kube-controller-manager
    extraArgs:
      - key: leader-elect
        value: "false"
      - key: controllers
        value: "*,-horizontal-pod-autoscaler-controller"
  - name: kube-scheduler
    extraArgs:
      - key: leader-elect
        value: "false"
  - name: kwok-controller
    extraArgs:
      # kwokctl passes an empty --node-ip that hides the KwokConfiguration value below.
      - key: node-ip
        value: {node_ip}
        override: true
---
kind: KwokConfiguration
apiVersion: config.kwok.x-k8s.io/v1alpha1
options:
  cidr: {pod_cidr}
  nodeIP: {node_ip}
  # kwokctl writes this document out without its defaults: state them.
  podPlayStageParallelism: 4
  nodePlayStageParallelism: 4
  nodeLeaseParallelism: 4
  podsOnNodeSyncParallelism: 1
  enablePodsOnNodeSyncListPager: true
  enablePodsOnNodeSyncStreamWatch: false
  enableDebuggingHandlers: false
""".format(k8s=k8s, kwok=kwok, etcd=etcd, kver=lab.versions["KUBERNETES_VERSION"],
           cache=os.path.join(lab.kwok_workdir, "cache"), service_cidr=SERVICE_CIDR,
           pod_cidr=POD_CIDR, node_ip=NODE_IP, **info["ports"])


def nodes_manifest():
    docs = []
    for name in NODES:
        role = ('      node-role.kubernetes.io/control-plane: "true"\n'
                '      node-role.kubernetes.io/master: "true"\n') if name == "k3s-s" else ""
        docs.append("""\
apiVersion: v1
kind: Node
metadata:
  name: {name}
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: {name}
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    beta.kubernetes.io/os: linux
    beta.kubernetes.io/arch: amd64
    type: kwok
{role}spec: {{}}
status:
  allocatable: {{cpu: "8", memory: 32Gi, pods: "250"}}
  capacity: {{cpu: "8", memory: 32Gi, pods: "250"}}
  nodeInfo: {{architecture: amd64, operatingSystem: linux, kubeletVersion: fake}}
""".format(name=name, role=role.replace("      ", "    ")))
    return "---\n".join(docs)


def cluster_components(lab):
    """Map component name -> running? from kwokctl's own pid files."""
    pids = {}
    pid_dir = os.path.join(lab.kwok_workdir, "clusters", lab.cluster, "pids")
    if os.path.isdir(pid_dir):
        for entry in sorted(os.listdir(pid_dir)):
            name = entry[:-4] if entry.endswith(".pid") else entry
            pids[name] = pid_alive(read_pid(os.path.join(pid_dir, entry)))
    return pids


def apiserver_ready(lab):
    if not os.path.exists(lab.kubeconfig):
        return False
    res = lab.kubectl_run(["get", "--raw", "/readyz"], check=False)
    return res.returncode == 0 and res.stdout.strip() == "ok"


def cluster_up(lab, info):
    kwokctl = lab.bin("kwok", "kwokctl")
    exists = os.path.isdir(os.path.join(lab.kwok_workdir, "clusters", lab.cluster))
    common = ["--name", lab.cluster]
    if exists:
        comps = cluster_components(lab)
        if comps and all(comps.values()) and apiserver_ready(lab):
            log("cluster %s already running" % lab.cluster)
            return
        down = [name for name, alive in comps.items() if not alive]
        log("cluster %s: restarting (down: %s)" % (lab.cluster, ", ".join(down) or "unknown"))
        subprocess.run([kwokctl] + common + ["stop", "cluster"], env=lab.env(), check=False)
        subprocess.run([kwokctl] + common + ["start", "cluster", "--wait", "120s"], env=lab.env(), check=True)
    else:
        os.makedirs(lab.kwok_workdir, exist_ok=True)
        config_path = os.path.join(lab.state, "kwokctl.yaml")
        with open(config_path, "w", encoding="utf-8") as handle:
            handle.write(kwokctl_config(lab, info))
        log("creating cluster %s (apiserver 127.0.0.1:%d)" % (lab.cluster, info["ports"]["apiserver"]))
        subprocess.run([kwokctl] + common + ["--config", config_path, "create", "cluster",
                                             "--kubeconfig", lab.kubeconfig, "--wait", "120s"],
                       env=lab.env(), check=True)
    wait_for(lambda: apiserver_ready(lab), "the API server to be ready", 120)
    lab.kubectl_run(["apply", "-f", "-"], stdin=nodes_manifest())
    wait_for(lambda: all(_node_ready(lab, n) for n in NODES), "nodes %s Ready" % ", ".join(NODES), 60)


def _node_ready(lab, node):
    res = lab.kubectl_run(["get", "node", node, "-o",
                           "jsonpath={.status.conditions[?(@.type=='Ready')].status}"], check=False)
    return res.returncode == 0 and res.stdout.strip() == "True"


# --------------------------------------------------------------------------- the mirror
def mirror_up(lab, info):
    import fcntl  # pylint: disable=import-outside-toplevel

    os.makedirs(lab.mirror_root, exist_ok=True)
    with open(os.path.join(lab.mirror_root, ".lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for piece in ("istio", build.PREVIOUS):
            spec = lab.specs[piece]
            if piece == build.PREVIOUS and not os.access(lab.bin(piece, "istioctl"), os.X_OK):
                continue  # `up --skip-previous` did not build it; a later full `up` packs it
            started = time.monotonic()
            res = mirror.build_release(spec["version"], lab.bin(piece, "istioctl"), lab.mirror_root)
            if res["rebuilt"]:
                log("mirror: packed %s in %.0f s" % (os.path.basename(res["path"]), time.monotonic() - started))
    pid_path = os.path.join(lab.state, "mirror.pid")
    port = info["ports"]["mirror"]
    if pid_alive(read_pid(pid_path)) and port_open(port):
        log("mirror already serving on 127.0.0.1:%d" % port)
        return
    pid = spawn(module_cmd("mirror", "serve", "--root", lab.mirror_root, "--port", str(port),
                           "--log", os.path.join(lab.state, "mirror-requests.log")),
                os.path.join(lab.state, "mirror.log"), env=module_env())
    with open(pid_path, "w", encoding="utf-8") as handle:
        handle.write(str(pid))
    wait_for(lambda: port_open(port), "the release mirror on port %d" % port, 30)
    log("mirror serving %s on http://127.0.0.1:%d" % (lab.mirror_root, port))


# --------------------------------------------------------------------------- istiod
ISTIOD_PORT_KINDS = ("http", "https", "grpc", "sgrpc", "monitoring")


def extra_revisions(lab):
    """Control-plane revisions, besides the default one, that get istiod ports of their own: a
    revision named `canary` and the lab's two Istio versions with dashes (1-31-0), the names a
    canary upgrade uses."""
    return ["canary"] + [lab.specs[piece]["version"].replace(".", "-") for piece in ("istio", "istio-previous")]


def injector_revisions(names):
    """Installed revisions ("" = default) from ConfigMap names, one per line, bare or as `kubectl get
    configmaps -o name` prints them: a revision is installed while its injector ConfigMap
    istio-sidecar-injector[-<rev>] exists."""
    prefix = collection.injector_configmap_name("") + "-"
    revisions = []
    for line in names.split():
        name = line.split("/", 1)[-1]
        revision = name[len(prefix):] if name.startswith(prefix) else ""
        if name == collection.injector_configmap_name(revision) and (not revision or collection.is_dns_label(revision)):
            revisions.append(revision)
    return revisions


def istiod_revisions(info):
    """Revisions the lab can run an istiod for ("" is the default revision)."""
    return [""] + sorted(info.get("revision_ports") or {})


def istiod_ports(info, revision):
    """{http, https, grpc, sgrpc, monitoring} of a revision's istiod, or None if it has none."""
    if not revision:
        return dict((kind, info["ports"]["istiod_" + kind]) for kind in ISTIOD_PORT_KINDS)
    return (info.get("revision_ports") or {}).get(revision)


def istiod_pid_path(lab, revision):
    return os.path.join(lab.state, "istiod-rev-%s.pid" % revision if revision else "istiod.pid")


def istiod_log(lab, revision):
    return os.path.join(lab.state, "istiod-rev-%s.log" % revision if revision else "istiod.log")


def istiod_pid_files(lab):
    """{process name: pid file} of every istiod the supervisor has started."""
    files = {}
    for revision in istiod_revisions(lab.load_info()):
        path = istiod_pid_path(lab, revision)
        if os.path.exists(path):
            files[collection.istiod_name(revision)] = path
    return files


def istiod_up(lab, info):
    pid_path = os.path.join(lab.state, "istiod-supervisor.pid")
    if pid_alive(read_pid(pid_path)):
        # the supervisor removes an istiod's pid file when it stops it; a file naming a dead
        # process is an istiod that died, which the supervisor may not have noticed yet
        dead = [name for name, path in istiod_pid_files(lab).items() if not pid_alive(read_pid(path))]
        if not dead:
            log("istiod supervisor already running")
            return
        log("%s died: restarting the istiod supervisor" % ", ".join(dead))
        stop_pid(read_pid(pid_path), "istiod supervisor")
    for name, path in istiod_pid_files(lab).items():
        stop_pid(read_pid(path), "orphaned " + name)
    pid = spawn(module_cmd("istiod_supervisor", "--lab", lab.name), os.path.join(lab.state, "istiod-supervisor.log"),
                env=module_env())
    with open(pid_path, "w", encoding="utf-8") as handle:
        handle.write(str(pid))
    log("istiod supervisor started (istiod starts once Istio's injector ConfigMap exists)")


# --------------------------------------------------------------------------- inventory
def write_inventory(lab, info):
    ports = info["ports"]
    os.makedirs(os.path.join(lab.inventory, "group_vars"), exist_ok=True)
    with open(os.path.join(lab.inventory, "hosts.yml"), "w", encoding="utf-8") as handle:
        handle.write("""---
# Written by `python -m lab up --name {name}`; do not edit (it is rewritten on every up).
mesh_controller:
  hosts:
    localhost:
      ansible_connection: local
      ansible_python_interpreter: "{python}"
""".format(name=lab.name, python=sys.executable))
    with open(os.path.join(lab.inventory, "group_vars", "all.yml"), "w", encoding="utf-8") as handle:
        handle.write("""---
# Lab-only settings, written by `python -m lab up --name {name}`. Real clusters set none
# of these: see inventories/example/.
mesh_kubeconfig: "{kubeconfig}"
mesh_output_dir: "{out}"
istioctl_base_url: "http://127.0.0.1:{mirror}"
istioctl_install_dir: "{install}"
istioctl_bin_link: "{link}"
# istiod runs as a local process per control-plane revision (lab/istiod_supervisor.py); the API
# server reaches its webhooks by URL on localhost instead of through the istiod Service. Each
# revision the lab knows ("" is the default one) has its own port.
lab_istiod_webhook_ports:
{webhooks}
control_plane_values:
  istiodRemote:
    injectionURL: "https://localhost:{{{{ lab_istiod_webhook_ports[control_plane_revision | default('')] }}}}/inject"
  base:
    validationURL: "https://localhost:{{{{ lab_istiod_webhook_ports[control_plane_revision | default('')] }}}}/validate"
control_plane_ingress_service_type: NodePort
# Dashboards on fixed nodePorts, so the access summary's URLs stay the same between runs.
addons_exposure:
  kiali: {{type: NodePort, node_port: 30001}}
  grafana: {{type: NodePort, node_port: 30002}}
  jaeger: {{type: NodePort, node_port: 30003}}
  prometheus: {{type: NodePort, node_port: 30004}}
# The lab's data plane is proxyless gRPC (lab/dataplane.py): no Envoy. Checks only Envoy can
# answer report themselves skipped; the others send real calls with the lab's test client.
verify_data_plane: true
verify_envoy: false
verify_envoy_skip_reason: "proxyless gRPC data plane, no Envoy"
verify_probe_command: ["{python}", "{lab_py}", "probe", "--name", "{name}"]
# gRPC calls are POSTs: the Bookinfo viewer policies allow them besides GET.
mesh_security_viewer_methods: [GET, POST]
# Proxyless clients use mTLS only when a DestinationRule says so (no auto mTLS as with Envoy).
traffic_tls: {{mode: ISTIO_MUTUAL}}
""".format(name=lab.name, lab_py=os.path.join(HERE, "lab.py"), python=sys.executable, kubeconfig=lab.kubeconfig, out=os.path.join(lab.state, "out"),
           mirror=ports["mirror"], install=os.path.join(lab.state, "istio-releases"),
           link=os.path.join(lab.state, "bin", "istioctl"),
           webhooks="\n".join('  "%s": %d' % (rev, istiod_ports(info, rev)["https"]) for rev in istiod_revisions(info))))


# --------------------------------------------------------------------------- commands
PORT_NAMES = ("apiserver", "etcd_port", "etcd_peer", "kcm", "sched", "kwok_port", "mirror",
              "istiod_http", "istiod_https", "istiod_grpc", "istiod_sgrpc", "istiod_monitoring")


def allocate_ports(ports, keys, used):
    """Give every key missing from `ports` a free loopback port not in `used` (kept across ups)."""
    for key in keys:
        if key not in ports:
            port = free_port()
            while port in used:
                port = free_port()
            ports[key] = port
            used.add(port)


def cmd_up(lab, args):
    started = time.monotonic()
    for piece in build.default_pieces(lab.specs, args.skip_previous):
        build.build(piece, lab.specs[piece])
    subprocess.run([os.path.join(ROOT, "scripts", "collection-link")], check=True)
    info = lab.load_info()
    ports = info.setdefault("ports", {})
    revision_ports = info.setdefault("revision_ports", {})
    used = set(ports.values()) | set(p for slot in revision_ports.values() for p in slot.values())
    allocate_ports(ports, PORT_NAMES, used)
    for revision in extra_revisions(lab):
        allocate_ports(revision_ports.setdefault(revision, {}), ISTIOD_PORT_KINDS, used)
    info.update({"name": lab.name, "cluster": lab.cluster, "kubeconfig": lab.kubeconfig,
                 "inventory": lab.inventory, "mirror_url": "http://127.0.0.1:%d" % ports["mirror"],
                 "versions": lab.versions, "state": lab.state})
    lab.save_info(info)
    cluster_up(lab, info)
    mirror_up(lab, info)
    istiod_up(lab, info)
    dataplane().up(lab)
    write_inventory(lab, info)
    log("up in %.0f s" % (time.monotonic() - started))
    print("kubeconfig: %s\ninventory:  %s\nmirror:     %s" % (lab.kubeconfig, lab.inventory, info["mirror_url"]))
    return 0


def dataplane():
    from . import dataplane as module  # pylint: disable=import-outside-toplevel

    return module


def lab_processes(lab):
    """(name, pid, alive) for every process the lab started."""
    procs = []
    pid_dir = os.path.join(lab.kwok_workdir, "clusters", lab.cluster, "pids")
    if os.path.isdir(pid_dir):
        for entry in sorted(os.listdir(pid_dir)):
            pid = read_pid(os.path.join(pid_dir, entry))
            procs.append((entry.replace(".pid", ""), pid, pid_alive(pid)))
    for name in ("mirror", "istiod-supervisor"):
        pid = read_pid(os.path.join(lab.state, name + ".pid"))
        if pid:
            procs.append((name, pid, pid_alive(pid)))
    for name, path in sorted(istiod_pid_files(lab).items()):
        pid = read_pid(path)
        if pid:
            procs.append((name, pid, pid_alive(pid)))
    return procs + dataplane().processes(lab)


def cmd_status(lab, args):
    info = lab.load_info()
    if not info:
        print("lab %s: not created (run: python -m lab up --name %s)" % (lab.name, lab.name))
        return 1
    ports = info["ports"]
    rows = []
    problems = 0
    expected = _istiod_expected(lab)
    for name, pid, alive in lab_processes(lab):
        revision = name[len("istiod-"):] if name.startswith("istiod-") and name != "istiod-supervisor" else ""
        if name.startswith("istiod") and name != "istiod-supervisor" and not alive and revision not in expected:
            rows.append((name, pid, "waiting", "starts when Istio (revision %s) is installed" % collection.revision_label(revision)))
            continue
        rows.append((name, pid, "running" if alive else "DOWN", ""))
        problems += 0 if alive else 1
    for key, record in sorted(dataplane().load_pods(lab).items()):
        what = "mesh pod %s" % record["ip"] if record["mesh"] else "plain pod %s" % record["ip"]
        rows.append(("pod " + key, "", record["state"], (what + " " + record.get("detail", "")).strip()))
        problems += 1 if record["state"] == "failed" else 0
    ready = apiserver_ready(lab)
    problems += 0 if ready else 1
    rows.append(("api /readyz", "", "ok" if ready else "DOWN", "https://127.0.0.1:%d" % ports["apiserver"]))
    mirror_ok = port_open(ports["mirror"])
    problems += 0 if mirror_ok else 1
    rows.append(("mirror", "", "ok" if mirror_ok else "DOWN", info["mirror_url"]))
    for revision in expected:
        revision_ports = istiod_ports(info, revision)
        name = "%s /ready" % collection.istiod_name(revision)
        if revision_ports is None:
            rows.append((name, "", "n/a", "revision %s is installed; the lab runs no istiod for it" % revision))
            continue
        ok = _istiod_ready(revision_ports)
        problems += 0 if ok else 1
        rows.append((name, "", "ok" if ok else "DOWN", "https://localhost:%d (webhooks)" % revision_ports["https"]))
    if args.json:
        print(json.dumps({"name": lab.name, "problems": problems, "rows": rows, "info": info}, indent=2))
    else:
        print("lab %s  kubeconfig %s  inventory %s" % (lab.name, lab.kubeconfig, lab.inventory))
        for row in rows:
            print("  %-26s %-8s %-8s %s" % tuple(str(c) for c in row))
        print("  %s" % ("all up" if not problems else "%d problem(s): run `python -m lab up --name %s`" % (problems, lab.name)))
    return 0 if not problems else 1


def _istiod_expected(lab):
    """Revisions whose istiod should run: those whose injector ConfigMap exists."""
    if not apiserver_ready(lab):
        return []
    res = lab.kubectl_run(["get", "configmaps", "-n", "istio-system", "-o", "name"], check=False)
    return sorted(injector_revisions(res.stdout)) if res.returncode == 0 else []


def _istiod_ready(ports):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/ready" % ports["http"], timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def cmd_down(lab, _args):
    info = lab.load_info()
    netns_left = dataplane().down(lab)
    pid_files = [(name, os.path.join(lab.state, name + ".pid")) for name in ("istiod-supervisor", "mirror")]
    for name, path in pid_files[:1] + sorted(istiod_pid_files(lab).items()) + pid_files[1:]:
        stop_pid(read_pid(path), name)
        if os.path.exists(path):
            os.remove(path)
    cluster_dir = os.path.join(lab.kwok_workdir, "clusters", lab.cluster)
    if os.path.isdir(cluster_dir):
        log("deleting cluster %s" % lab.cluster)
        subprocess.run([lab.bin("kwok", "kwokctl"), "--name", lab.cluster, "delete", "cluster"],
                       env=lab.env(), check=False)
    leftovers = [(n, p) for n, p, alive in lab_processes(lab) if alive]
    for name, pid in leftovers:
        stop_pid(pid, name)
    ports = dict(info.get("ports") or {})
    for revision, slot in (info.get("revision_ports") or {}).items():
        ports.update(("istiod_%s_%s" % (revision, kind), port) for kind, port in slot.items())
    # processes close their listening sockets while they exit: give them a moment
    deadline = time.monotonic() + 20
    while True:
        open_ports = [p for p in ports.values() if port_open(p)]
        still = [(n, p) for n, p, alive in lab_processes(lab) if alive]
        if not (open_ports or still) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for path in [lab.kubeconfig] + list(istiod_pid_files(lab).values()):
        if os.path.exists(path):
            os.remove(path)
    shutil.rmtree(lab.istiod_dir, ignore_errors=True)
    if still or open_ports or netns_left:
        log("NOT clean: processes %s, listening ports %s, network namespaces %s" % (still, open_ports, netns_left))
        return 1
    log("down: no lab process running, none of its ports listening, no network namespace left")
    return 0


def cmd_env(lab, _args):
    print("export KUBECONFIG=%s" % lab.kubeconfig)
    print("export PATH=%s:%s:$PATH" % (build.path_of("kubernetes", lab.specs["kubernetes"]),
                                       build.path_of("istio", lab.specs["istio"])))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab", description="The meshops.istio offline lab")
    parser.add_argument("command", choices=["up", "down", "status", "env", "probe"])
    parser.add_argument("--name", default=os.environ.get("MESHOPS_LAB_NAME", DEFAULT_NAME),
                        help="lab name (default $MESHOPS_LAB_NAME or %s)" % DEFAULT_NAME)
    parser.add_argument("--json", action="store_true", help="status as JSON")
    parser.add_argument("--skip-previous", action="store_true",
                        help="up: do not build or mirror the previous Istio release (only the canary-upgrade tests need it)")
    probe = parser.add_argument_group("probe: send gRPC calls from a running pod of the lab's data plane, print JSON")
    probe.add_argument("--from", dest="source", help="NAMESPACE/APP[/VERSION] or NAMESPACE/POD")
    probe.add_argument("--to", help="HOST:PORT, e.g. reviews.bookinfo.svc.cluster.local:9080")
    probe.add_argument("--header", "-H", action="append", default=[], help="request header key=value (repeatable)")
    probe.add_argument("--count", type=int, default=1)
    probe.add_argument("--timeout", type=float, default=10.0, help="seconds per call")
    probe.add_argument("--plain", action="store_true", help="call without mesh (no xDS, no mTLS) even from a mesh pod")
    probe.add_argument("--batch", action="store_true", help="read a JSON list of probes from stdin, print a JSON list")
    probe.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the source pod to run")
    args = parser.parse_args(argv)
    lab = Lab(args.name)
    if args.command == "probe":
        if not args.batch and not (args.source and args.to):
            parser.error("probe needs --from and --to (or --batch)")
        return dataplane().cmd_probe(lab, args)
    return {"up": cmd_up, "down": cmd_down, "status": cmd_status, "env": cmd_env}[args.command](lab, args)


if __name__ == "__main__":
    sys.exit(main())
