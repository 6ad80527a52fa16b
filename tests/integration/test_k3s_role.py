# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The k3s role against real systemd hosts, with a stand-in for the k3s binary.

Three Debian hosts boot with systemd-nspawn in network namespaces this test makes
(lab/nspawn.py): ``server`` and ``agent`` form the cluster, ``fresh`` stays empty for the
check-mode and checksum tests. The release mirror (``<version>/k3s`` + ``sha256sum-amd64.txt``)
is served on the hosts' bridge address and reaches the role through ``k3s_release_base_url``, as
an air-gap mirror would. The binary it serves is NOT k3s but tests/fixtures/k3s-standin/k3s_standin.py,
which records every start (argv, K3S_* environment, config.yaml) and plays the server's token and
kubeconfig. No lab cluster is used.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import hashlib
import json
import os
import re
import subprocess
import sys
import time

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
STANDIN = os.path.join(ROOT, "tests", "fixtures", "k3s-standin", "k3s_standin.py")
V1 = "v1.35.0+k3s1"
V2 = "v1.35.1+k3s1"
ARCH = "amd64"
RECORD = "/var/lib/rancher/k3s-standin/starts.jsonl"
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
PLAY = [{"name": "k3s servers", "hosts": "k3s_server", "gather_facts": False,
         "roles": [{"role": "meshops.istio.k3s", "vars": {"k3s_role": "server"}}]},
        {"name": "k3s agents", "hosts": "k3s_agent", "gather_facts": False,
         "roles": [{"role": "meshops.istio.k3s", "vars": {"k3s_role": "agent"}}]}]
FRESH_PLAY = [{"name": "a server on the fresh host", "hosts": "fresh", "gather_facts": False,
               "roles": [{"role": "meshops.istio.k3s", "vars": {"k3s_role": "server"}}]}]

if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
from lab import nspawn  # noqa: E402  pylint: disable=wrong-import-position


def _skip_reason():
    if sys.platform != "linux" or os.geteuid() != 0:
        return "systemd hosts need root on Linux (network namespaces, systemd-nspawn)"
    missing = nspawn.missing_tools()
    if missing:
        return "systemd hosts need %s (make system-deps installs them)" % ", ".join(missing)
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


def standin_release(root, version):
    """<root>/<version>/k3s (the stand-in, an executable stamped with version) and sha256sum-amd64.txt; returns the sha256."""
    with open(STANDIN, encoding="utf-8") as handle:
        text = handle.read()
    stamped = re.sub(r'^STANDIN_VERSION = ".*"$', 'STANDIN_VERSION = "%s"' % version, text, count=1, flags=re.M)
    stamped = "#!/usr/bin/python3\n" + stamped
    assert 'STANDIN_VERSION = "%s"' % version in stamped
    directory = os.path.join(root, version)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "k3s")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(stamped)
    os.chmod(path, 0o755)
    digest = hashlib.sha256(stamped.encode()).hexdigest()
    with open(os.path.join(directory, "sha256sum-%s.txt" % ARCH), "w", encoding="utf-8") as handle:
        handle.write("%s  k3s\n%s  k3s-airgap-images-amd64.tar\n" % (digest, "0" * 64))
    return digest


class Run(object):
    def __init__(self, proc):
        self.rc = proc.returncode
        self.output = proc.stdout
        self.hosts = {m.group(1): {"ok": int(m.group(2)), "changed": int(m.group(3)), "unreachable": int(m.group(4)),
                                   "failed": int(m.group(5))} for m in RECAP.finditer(proc.stdout)}

    def changed(self, host=None):
        return sum(h["changed"] for name, h in self.hosts.items() if host in (None, name))

    def tail(self, lines=60):
        return "\n".join(self.output.splitlines()[-lines:])


class Cluster(object):
    """The booted hosts, the mirror and a way to run the role against them."""

    def __init__(self, fleet, tmp, server):
        self.fleet = fleet
        self.tmp = tmp
        self.url = server.url
        self.mirror_log = server.log_path
        self.kubeconfig = os.path.join(tmp, "out", "kubeconfig")
        self.digests = {}
        self.inventory = fleet.write_inventory(os.path.join(tmp, "inventory.yml"), groups={
            "k3s_server": ["server"], "k3s_agent": ["agent"], "fresh": ["fresh"]})
        self.play = os.path.join(tmp, "k3s.yml")
        self.fresh_play = os.path.join(tmp, "fresh.yml")
        for path, play in ((self.play, PLAY), (self.fresh_play, FRESH_PLAY)):
            with open(path, "w", encoding="utf-8") as handle:
                yaml.safe_dump(play, handle, sort_keys=False)

    def vars(self, version=V1, **overrides):
        values = {"k3s_version": version, "k3s_sha256": {ARCH: self.digests[version]},
                  "k3s_release_base_url": self.url, "k3s_kubeconfig_dest": self.kubeconfig,
                  "k3s_tls_san": ["k3s.example.test"], "k3s_start_timeout": 30}
        values.update(overrides)
        return values

    def run(self, extra_vars, play=None, check=False, verbose=False, limit=None):
        path = os.path.join(self.tmp, "vars-%d.json" % time.monotonic_ns())
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(extra_vars, handle)
        cmd = [os.path.join(BIN, "ansible-playbook"), "-i", self.inventory, play or self.play, "-e", "@" + path]
        cmd += ["--check"] if check else []
        cmd += ["-vvv"] if verbose else []
        cmd += ["--limit", limit] if limit else []
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_FORCE_COLOR="0", PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
        proc = subprocess.run(cmd, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=900, check=False)
        return Run(proc)

    def starts(self, host):
        text = self.fleet.host(host).read(RECORD) or ""
        return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("k3s"))
    mirror = os.path.join(tmp, "mirror")
    with nspawn.hosts(["server", "agent", "fresh"]) as fleet:
        with fleet.serve(mirror) as server:
            result = Cluster(fleet, tmp, server)
            result.digests = {V1: standin_release(mirror, V1), V2: standin_release(mirror, V2)}
            yield result


@pytest.fixture(scope="module")
def first_run(cluster):
    """The role's first run on server and agent, with -vvv (the token must not show)."""
    run = cluster.run(cluster.vars(), verbose=True)
    assert run.rc == 0, run.tail(120)
    return run


def test_first_run_installs_server_and_agent(cluster, first_run):
    assert first_run.changed("server") > 0 and first_run.changed("agent") > 0
    server, agent = cluster.fleet.host("server"), cluster.fleet.host("agent")
    for host, service in ((server, "k3s"), (agent, "k3s-agent")):
        assert host.run(["systemctl", "is-active", service]).stdout.strip() == "active"
        assert host.run(["systemctl", "is-enabled", service]).stdout.strip() == "enabled"
        unit = host.read("/etc/systemd/system/%s.service" % service)
        assert "Type=notify" in unit and "EnvironmentFile=-/etc/systemd/system/%s.service.env" % service in unit
        assert "ExecStart=/usr/local/bin/k3s %s" % ("server" if service == "k3s" else "agent") in unit
        mode = host.run(["stat", "-c", "%a %U", "/etc/systemd/system/%s.service.env" % service]).stdout.split()
        assert mode == ["600", "root"]
        assert host.run(["/usr/local/bin/k3s", "--version"]).stdout.startswith("k3s version %s (NOT k3s" % V1)
        assert host.run(["ls", "-A", "/usr/local/bin"]).stdout.split() == ["k3s"]  # no download left behind

    config = yaml.safe_load(server.read("/etc/rancher/k3s/config.yaml"))
    assert config["disable"] == ["traefik", "servicelb"]
    assert config["node-name"] == "server"
    assert set(config["tls-san"]) == {server.ip, "k3s.example.test"}
    agent_config = yaml.safe_load(agent.read("/etc/rancher/k3s/config.yaml"))
    assert agent_config == {"node-name": "agent", "server": "https://%s:6443" % server.ip}

    token = server.read("/var/lib/rancher/k3s/server/node-token").strip()
    assert token.startswith("K10")
    # the server generated the token (no k3s_token): its env file holds none, the agent's holds it
    assert "K3S_TOKEN" not in server.read("/etc/systemd/system/k3s.service.env")
    assert "K3S_TOKEN=%s\n" % token in agent.read("/etc/systemd/system/k3s-agent.service.env")

    [agent_start] = cluster.starts("agent")
    assert agent_start["argv"][1:] == ["agent"]
    assert agent_start["server"] == "https://%s:6443" % server.ip
    assert agent_start["env"]["K3S_TOKEN"] == token
    assert len(cluster.starts("server")) == 1


def test_token_never_logged(cluster, first_run):
    token = cluster.fleet.host("server").read("/var/lib/rancher/k3s/server/node-token").strip()
    secret = token.rsplit(":", 1)[-1]
    assert "EXEC" in first_run.output  # -vvv really was on
    assert token not in first_run.output and secret not in first_run.output


def test_kubeconfig_fetched_with_api_address(cluster, first_run):
    assert oct(os.stat(cluster.kubeconfig).st_mode & 0o777) == "0o600"
    with open(cluster.kubeconfig, encoding="utf-8") as handle:
        kubeconfig = yaml.safe_load(handle)
    assert [c["cluster"]["server"] for c in kubeconfig["clusters"]] == ["https://%s:6443" % cluster.fleet.host("server").ip]
    assert kubeconfig["current-context"] == "default"


def test_second_run_changes_nothing(cluster, first_run):
    run = cluster.run(cluster.vars())
    assert run.rc == 0 and run.changed() == 0, run.tail(120)
    assert len(cluster.starts("server")) == 1 and len(cluster.starts("agent")) == 1


def test_version_bump_restarts_each_service_once(cluster, first_run):
    before = {h: len(cluster.starts(h)) for h in ("server", "agent")}
    run = cluster.run(cluster.vars(V2))
    assert run.rc == 0, run.tail(120)
    for host in ("server", "agent"):
        starts = cluster.starts(host)
        assert len(starts) == before[host] + 1, starts
        assert starts[-1]["version"] == V2
        out = cluster.fleet.host(host).run(["/usr/local/bin/k3s", "--version"]).stdout
        assert out.startswith("k3s version %s" % V2)
    again = cluster.run(cluster.vars(V2))
    assert again.rc == 0 and again.changed() == 0, again.tail(120)
    checked = cluster.run(cluster.vars(V2), check=True)
    assert checked.rc == 0 and checked.changed() == 0, checked.tail(120)


def test_check_mode_on_fresh_host_changes_nothing(cluster):
    fresh = cluster.fleet.host("fresh")
    run = cluster.run(cluster.vars(k3s_kubeconfig_dest=""), play=cluster.fresh_play, check=True)
    assert run.rc == 0, run.tail(120)
    assert run.changed("fresh") > 0
    for path in ("/usr/local/bin/k3s", "/etc/systemd/system/k3s.service", "/etc/systemd/system/k3s.service.env",
                 "/etc/rancher/k3s/config.yaml"):
        assert not fresh.exists(path), path
    assert fresh.run(["ls", "-A", "/usr/local/bin"]).stdout.strip() == ""


def test_checksum_mismatch_installs_nothing(cluster):
    fresh = cluster.fleet.host("fresh")
    wrong = "0123456789abcdef" * 4
    run = cluster.run(cluster.vars(k3s_sha256={ARCH: wrong}, k3s_kubeconfig_dest=""), play=cluster.fresh_play)
    assert run.rc != 0
    assert "was not installed" in run.output and "did not match" in run.output and wrong in run.output, run.tail(80)
    assert not fresh.exists("/usr/local/bin/k3s")
    assert fresh.run(["ls", "-A", "/usr/local/bin"]).stdout.strip() == ""  # nor the download
    assert not fresh.exists("/etc/systemd/system/k3s.service")


def test_published_checksum_used_when_not_pinned(cluster):
    """An architecture missing from k3s_sha256 is checked against the release's sha256sum file."""
    fresh = cluster.fleet.host("fresh")
    run = cluster.run(cluster.vars(k3s_sha256={}, k3s_token="fresh-test-token-1234567890", k3s_kubeconfig_dest=""), play=cluster.fresh_play,
                      verbose=True)
    assert run.rc == 0, run.tail(120)
    assert "fresh-test-token-1234567890" not in run.output
    assert fresh.read("/etc/systemd/system/k3s.service.env").count("K3S_TOKEN=fresh-test-token-1234567890\n") == 1
    [start] = cluster.starts("fresh")
    assert start["env"]["K3S_TOKEN"] == "fresh-test-token-1234567890"
    sha = fresh.run(["sha256sum", "/usr/local/bin/k3s"]).stdout.split()[0]
    assert sha == cluster.digests[V1]
