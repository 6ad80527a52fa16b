"""Fixtures shared by the lab integration tests.

`lab` brings the lab up once per session (``python -m lab up`` is idempotent) and describes it;
`playbook` runs ansible-playbook against it and sums the recap; `kube` reads objects back from
its API server. Set MESHOPS_LAB_NAME to use a lab of another name (parallel work),
MESHOPS_LAB_FRESH=1 to start from an empty cluster (any earlier lab of that name, with the
objects an interrupted run left in it, is deleted first; the test command sets it), and
MESHOPS_LAB_TEARDOWN=1 to take the lab down at the end of the session.
"""

import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import pytest
import yaml
from lab_helpers import outcomes_by_host  # pylint: disable=import-error

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
# The lab package, run from the checkout's root.
LAB = [sys.executable, "-m", "lab"]
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)"
                   r"\s+skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)", re.M)


@dataclass
class LabInfo:
    name: str
    kubeconfig: str
    inventory: str
    mirror_url: str
    state: str
    versions: dict
    ports: dict
    kubectl: str
    istioctl: str
    istioctl_previous: str
    output_dir: str


@dataclass
class PlaybookResult:
    rc: int
    output: str
    hosts: dict = field(default_factory=dict)

    def _sum(self, key):
        return sum(h[key] for h in self.hosts.values())

    @property
    def changed(self):
        return self._sum("changed")

    @property
    def failed(self):
        return self._sum("failed") + self._sum("unreachable")

    @property
    def ok(self):
        return self._sum("ok")

    @property
    def skipped(self):
        return self._sum("skipped")

    def tail(self, lines=80):
        return "\n".join(self.output.splitlines()[-lines:])


def parse_recap(output):
    hosts = {}
    for match in RECAP.finditer(output):
        keys = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
        hosts[match.group(1)] = dict(zip(keys, (int(g) for g in match.groups()[1:])))
    return hosts


# The control plane the integration tests converge to (test_control_plane.py's CONVERGE is the
# same), so that test files sharing a lab do not fight over it.
CONTROL_PLANE = {
    "control_plane_ingress_service_type": "NodePort",
    "control_plane_ingress_node_ports": {"http": 31080, "https": 31443, "status": 31021},
    "control_plane_external_traffic_policy": "Local",
    "control_plane_egress_gateway_enabled": False,
}


def lab_name(worker_id="master"):
    """The session's lab: $MESHOPS_LAB_NAME (default meshops); each pytest-xdist worker gets its own."""
    name = os.environ.get("MESHOPS_LAB_NAME", "meshops")
    return name if worker_id == "master" else "%s-%s" % (name, worker_id)


@pytest.fixture(scope="session")
def lab(worker_id):
    name = lab_name(worker_id)
    if os.environ.get("MESHOPS_LAB_FRESH") == "1":
        subprocess.run(LAB + ["down", "--name", name], cwd=ROOT, check=True)
    subprocess.run(LAB + ["up", "--name", name], cwd=ROOT, check=True)
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from lab import build  # pylint: disable=import-outside-toplevel

    specs = build.pieces(build.load_versions())
    with open(os.path.join(build.cache_root(), "labs", name, "lab.json"), encoding="utf-8") as handle:
        info = json.load(handle)
    yield LabInfo(
        name=name, kubeconfig=info["kubeconfig"], inventory=info["inventory"],
        mirror_url=info["mirror_url"], state=info["state"], versions=info["versions"],
        ports=info["ports"],
        kubectl=os.path.join(build.path_of("kubernetes", specs["kubernetes"]), "kubectl"),
        istioctl=os.path.join(build.path_of("istio", specs["istio"]), "istioctl"),
        istioctl_previous=os.path.join(build.path_of("istio-previous", specs["istio-previous"]), "istioctl"),
        output_dir=os.path.join(info["state"], "out"),
    )
    if os.environ.get("MESHOPS_LAB_TEARDOWN") == "1":
        subprocess.run(LAB + ["down", "--name", name], cwd=ROOT, check=False)


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _log_run(path, result, seconds, cpu):
    """With MESHOPS_PLAYBOOK_LOG set, append one JSON line per ansible-playbook run (test, playbook,
    wall and CPU seconds, recap): where the test loop's time goes (docs/benchmarks.md, the test loop)."""
    log = os.environ.get("MESHOPS_PLAYBOOK_LOG")
    if not log:
        return
    line = {"test": os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" ", 1)[0], "playbook": path,
            "seconds": round(seconds, 2), "cpu": round(cpu, 2), "rc": result.rc,
            "ok": result.ok, "changed": result.changed, "skipped": result.skipped}
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


@pytest.fixture(scope="session")
def playbook(lab):
    """run(path, extra_vars=None, check=False, diff=False, tags=None, inventory=None) -> PlaybookResult

    Always passes -i: the lab's inventory unless `inventory` names another (ansible.cfg has none)."""

    def run(path, extra_vars=None, check=False, diff=False, tags=None, skip_tags=None, inventory=None,
            env=None, timeout=1800):
        cmd = [os.path.join(BIN, "ansible-playbook"), "-i", inventory or lab.inventory,
               os.path.join(ROOT, path) if not os.path.isabs(path) else path]
        tmp = None
        if extra_vars:
            tmp = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)  # pylint: disable=consider-using-with
            json.dump(extra_vars, tmp)
            tmp.close()
            cmd += ["-e", "@" + tmp.name]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if tags:
            cmd += ["--tags", tags]
        if skip_tags:
            cmd += ["--skip-tags", skip_tags]
        run_env = dict(os.environ)
        run_env.update({"ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                        "ANSIBLE_FORCE_COLOR": "0", "PATH": BIN + os.pathsep + run_env.get("PATH", "")})
        run_env.update(env or {})
        started, cpu = time.monotonic(), _children_cpu()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=run_env, text=True, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=timeout, check=False)
        finally:
            if tmp:
                os.unlink(tmp.name)
        result = PlaybookResult(rc=proc.returncode, output=proc.stdout, hosts=parse_recap(proc.stdout))
        _log_run(path, result, time.monotonic() - started, _children_cpu() - cpu)
        return result

    return run


@pytest.fixture(scope="session")
def playbook_cases(lab, playbook):
    """run(path, cases, common_vars=None) -> {case: HostOutcome}: one ansible-playbook run for many
    inputs. Each case is one host of mesh_controller, connected like the lab's own, with the case's
    variables, over `common_vars`, as its host vars: above the lab's group_vars and role defaults, as
    -e is, but below play vars.
    The hosts run one at a time (forks 1), so cases of bad input that all fail before changing
    anything cost one start of Ansible instead of one each."""

    def run(path, cases, common_vars=None):
        with open(os.path.join(lab.inventory, "hosts.yml"), encoding="utf-8") as handle:
            connection = yaml.safe_load(handle)["mesh_controller"]["hosts"]["localhost"]
        names = {"case-%d" % index: case for index, case in enumerate(cases)}
        hosts = {name: {**connection, **(common_vars or {}), **cases[case]} for name, case in names.items()}
        with tempfile.TemporaryDirectory() as inventory:
            os.symlink(os.path.join(lab.inventory, "group_vars"), os.path.join(inventory, "group_vars"))
            with open(os.path.join(inventory, "hosts.yml"), "w", encoding="utf-8") as handle:
                yaml.safe_dump({"mesh_controller": {"hosts": hosts}}, handle)
            result = playbook(path, inventory=inventory,
                              env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_FORKS": "1"})
        outcomes = outcomes_by_host(result.output)
        assert sorted(outcomes) == sorted(names), result.tail()
        return {case: outcomes[name] for name, case in names.items()}

    return run


class Kube:
    """Thin reader over the kubernetes dynamic client."""

    def __init__(self, kubeconfig):
        from kubernetes import config, dynamic  # pylint: disable=import-outside-toplevel
        from kubernetes.client import Configuration, api_client  # pylint: disable=import-outside-toplevel

        cfg = Configuration()
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg, persist_config=False)
        self.client = dynamic.DynamicClient(api_client.ApiClient(configuration=cfg))

    def resource(self, api_version, kind):
        return self.client.resources.get(api_version=api_version, kind=kind)

    def get(self, api_version, kind, name, namespace=None):
        from kubernetes.dynamic.exceptions import NotFoundError  # pylint: disable=import-outside-toplevel

        try:
            return self.resource(api_version, kind).get(name=name, namespace=namespace).to_dict()
        except NotFoundError:
            return None

    def list(self, api_version, kind, namespace=None, label_selector=None):
        res = self.resource(api_version, kind).get(namespace=namespace, label_selector=label_selector)
        return [item.to_dict() for item in res.items]


@pytest.fixture(scope="session")
def kube(lab):
    return Kube(lab.kubeconfig)


@pytest.fixture(scope="module", autouse=True)
def leaves_no_plaintext_client(request):
    """A file that used the lab leaves no running workload without sidecar outside the system
    namespaces: the lab is shared by the files an xdist worker runs, and the STRICT gate of a
    later site.yml would rightly refuse to lock such a client out. The file that breaks the rule
    gets the error (at its teardown), not the unlucky file that runs after it."""
    if not any("lab" in item.fixturenames for item in request.session.items if item.module is request.module):
        yield
        return
    from lab_helpers import plaintext_pods  # pylint: disable=import-error,import-outside-toplevel

    kube = request.getfixturevalue("kube")
    yield
    left = plaintext_pods(kube)
    assert not left, "%s left workloads without sidecar in the shared lab: %s" % (request.module.__name__, ", ".join(left))


@pytest.fixture(scope="session")
def control_plane_vars():
    """The extra vars of the shared control plane (a copy: tests may add to it)."""
    return dict(CONTROL_PLANE)


@pytest.fixture(scope="module")
def istio(lab, kube, playbook, control_plane_vars):
    """The lab with Istio: playbooks/install.yml runs unless istiod and the networking and
    security CRDs are already there."""
    crds = [kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
            for name in ("virtualservices.networking.istio.io", "authorizationpolicies.security.istio.io")]
    istiod = kube.get("apps/v1", "Deployment", "istiod", "istio-system")
    if None in crds or istiod is None:
        result = playbook("playbooks/install.yml", extra_vars=control_plane_vars)
        assert result.rc == 0, result.tail()
    return lab
