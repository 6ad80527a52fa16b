# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The istioctl role, run by ansible-playbook against localhost.

Most tests need no cluster: a loopback HTTP server serves release-shaped archives built by
the tests (tests/support/istio_release_archives.py) and the role's results are read back
from the ansible.posix.json callback, the file system and the server's request log.
The last test installs the real Go-built istioctl from the lab's mirror (`lab` fixture).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import platform
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
import yaml
from lab_helpers import outcomes_by_host  # pylint: disable=import-error

from ansible_collections.meshops.istio.plugins.module_utils.istio.release import resolve_arch, resolve_os
from ansible_collections.meshops.istio.tests.support.istio_release_archives import (
    ReleaseServer,
    archive_name,
    build_release,
    checksum_file,
    sha256,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
V = "1.31.0"
OLD = "1.30.4"
OS = resolve_os(platform.system())
ARCH = resolve_arch(platform.machine())
PLAY = """---
- name: Run the istioctl role
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: meshops.istio.istioctl
"""
INSTALL_TASK = "Download, verify and unpack Istio"
FACTS_TASK = "Hand the release on to later roles"
LINK_TASK = "Point the istioctl link at Istio"


def ansible_env(**more):
    """The environment of this file's ansible-playbook runs: the checkout's ansible.cfg, the
    ansible.posix.json callback (results read back per task), no colour, no localhost warnings."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    env.update(more)
    return env


class Run(object):
    """One ansible-playbook run: rc, the json callback's document, and helpers over it."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        start = proc.stdout.find("{")
        self.doc = json.loads(proc.stdout[start:]) if start >= 0 else {"plays": [], "stats": {}}

    @property
    def stats(self):
        return self.doc["stats"].get("localhost", {})

    @property
    def changed(self):
        return self.stats.get("changed", 0)

    def results(self):
        for play in self.doc["plays"]:
            for task in play["tasks"]:
                # "<role fqcn> : <task name>" for role tasks
                yield task["task"]["name"].split(" : ", 1)[-1], task["hosts"].get("localhost", {})

    def task(self, prefix):
        found = [result for name, result in self.results() if name.startswith(prefix)]
        assert found, "no task %r ran:\n%s" % (prefix, self.explain())
        return found[-1]

    def failures(self):
        found = []
        for name, result in self.results():
            if result.get("failed"):
                found.append((name, result.get("msg", "")))
                found += [(name, item.get("msg", "")) for item in result.get("results", []) if item.get("failed")]
        return found

    def failure_text(self):
        return "\n".join("%s: %s" % item for item in self.failures())

    def facts(self):
        return self.task(FACTS_TASK)["ansible_facts"]

    def explain(self):
        lines = ["rc=%s stats=%s" % (self.rc, self.stats)]
        lines += ["%-60s changed=%s failed=%s skipped=%s" % (name, r.get("changed"), r.get("failed"), r.get("skipped"))
                  for name, r in self.results()]
        lines += ["failures: " + self.failure_text(), "stderr: " + self.stderr[-2000:]]
        return "\n".join(lines)


class Env(object):
    """A scratch home for the role: install root, link, output dir, dummy kubeconfig."""

    def __init__(self, tmp_path, server):
        self.tmp = tmp_path
        self.server = server
        self.install_dir = tmp_path / "share" / "meshops-istio"
        self.link = tmp_path / "bin" / "istioctl"
        self.kubeconfig = tmp_path / "kubeconfig"
        self.kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
        self.output_dir = tmp_path / "out"
        self.output_dir.mkdir(mode=0o750)
        self.output_dir.chmod(0o750)  # the mode the mesh role wants, so it reports no change
        self.playbook = tmp_path / "play.yml"
        self.playbook.write_text(PLAY)

    def vars(self, **overrides):
        values = {
            "mesh_kubeconfig": str(self.kubeconfig),
            "mesh_output_dir": str(self.output_dir),
            "istioctl_base_url": self.server.base_url if self.server else "http://127.0.0.1:9/unused",
            "istioctl_install_dir": str(self.install_dir),
            "istioctl_bin_link": str(self.link),
            "istioctl_download_timeout": 10,
            "ansible_python_interpreter": sys.executable,
        }
        values.update(overrides)
        return values

    def run(self, check=False, diff=False, **overrides):
        vars_file = self.tmp / "vars.json"
        vars_file.write_text(json.dumps(self.vars(**overrides)))
        cmd = [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", str(self.playbook), "-e", "@%s" % vars_file]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        proc = subprocess.run(cmd, cwd=ROOT, env=ansible_env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=600, check=False)
        return Run(proc)

    def release_dir(self, version=V):
        return self.install_dir / ("istio-%s" % version)

    def listing(self):
        """Every path under the scratch home except the test's own files, with contents of files."""
        found = {}
        for base, dirs, files in os.walk(str(self.tmp)):
            for name in dirs + files:
                full = os.path.join(base, name)
                rel = os.path.relpath(full, str(self.tmp))
                if rel in ("vars.json", "play.yml", "kubeconfig", "out"):
                    continue
                if os.path.islink(full):
                    found[rel] = "-> " + os.readlink(full)
                elif os.path.isfile(full):
                    with open(full, "rb") as handle:
                        found[rel] = sha256(handle.read())
                else:
                    found[rel] = "dir"
        return found


@pytest.fixture
def server():
    with ReleaseServer() as srv:
        yield srv


@pytest.fixture
def env(tmp_path, server):
    return Env(tmp_path, server)


def publish(server, version=V, archive=None, checksum=None):
    archive = archive if archive is not None else build_release(version)
    url = server.publish(version, archive, checksum=checksum, os_name=OS, arch=ARCH)
    return url, archive


def test_good_archive_installs_links_and_sets_facts(env, server):
    url, archive = publish(server)
    run = env.run()
    assert run.rc == 0, run.explain()
    install = run.task(INSTALL_TASK)
    assert install["changed"] and install["downloaded"] and install["sha256"] == sha256(archive)
    assert install["url"] == url
    release_dir = env.release_dir()
    facts = run.facts()
    assert facts == {
        "istioctl_path": str(release_dir / "bin" / "istioctl"),
        "istioctl_release_dir": str(release_dir),
        "istioctl_samples_dir": str(release_dir / "samples"),
        "istioctl_installed_version": V,
    }
    assert os.readlink(str(env.link)) == facts["istioctl_path"]
    assert (release_dir / "samples" / "bookinfo" / "platform" / "kube" / "bookinfo.yaml").is_file()
    assert (release_dir / "manifests").is_dir()
    marker = json.loads((release_dir / ".meshops-release.json").read_text())
    assert marker["sha256"] == sha256(archive) and marker["url"] == url
    # the release, the link's directory and the link
    assert run.changed == 3, run.explain()
    assert server.requests == ["/releases/%s/%s.sha256" % (V, archive_name(V, OS, ARCH)),
                               "/releases/%s/%s" % (V, archive_name(V, OS, ARCH))]
    assert sorted(os.listdir(str(env.install_dir))) == ["istio-%s" % V]


def test_rerun_makes_no_network_access_and_no_change(env, server):
    publish(server)
    assert env.run().rc == 0
    server.requests[:] = []
    before = env.listing()
    run = env.run()
    assert run.rc == 0, run.explain()
    assert run.changed == 0, run.explain()
    assert server.requests == []
    assert run.facts()["istioctl_installed_version"] == V
    assert env.listing() == before
    check = env.run(check=True, diff=True)
    assert check.rc == 0 and check.changed == 0, check.explain()
    assert server.requests == []


def test_check_mode_changes_nothing_and_reports_the_install(env, server):
    url = publish(server)[0]
    run = env.run(check=True, diff=True)
    assert run.rc == 0, run.explain()
    install = run.task(INSTALL_TASK)
    assert install["changed"] and not install["downloaded"] and install["operation"] == "install"
    assert install["msg"].startswith("would download %s" % url)
    assert run.task(LINK_TASK)["changed"]
    assert run.facts()["istioctl_installed_version"] == ""
    assert server.requests == []
    assert env.listing() == {}


def test_check_mode_for_a_new_version_keeps_the_old_link(env, server):
    publish(server, OLD)
    assert env.run(istioctl_version=OLD).rc == 0
    publish(server, V)
    server.requests[:] = []
    before = env.listing()
    run = env.run(check=True)
    assert run.rc == 0, run.explain()
    assert run.task(INSTALL_TASK)["operation"] == "install"
    assert env.listing() == before and server.requests == []


def _install_old_then(env, server):
    publish(server, OLD)
    first = env.run(istioctl_version=OLD)
    assert first.rc == 0, first.explain()
    return env.listing()


def _assert_untouched(env, before):
    assert env.listing() == before
    assert os.readlink(str(env.link)) == str(env.release_dir(OLD) / "bin" / "istioctl")
    assert not env.release_dir(V).exists()


def test_tampered_archive_fails_naming_digests_and_keeps_the_previous_release(env, server):
    before = _install_old_then(env, server)
    url, good = publish(server)
    tampered = build_release(V, reports="6.6.6")
    server.files[urlsplit(url).path] = tampered
    run = env.run()
    assert run.rc == 2, run.explain()
    assert ("sha256 mismatch for %s: expected %s (published in %s.sha256), got %s; nothing was extracted"
            % (url, sha256(good), url, sha256(tampered))) in run.failure_text()
    _assert_untouched(env, before)


def test_wrong_checksum_file_fails_and_keeps_the_previous_release(env, server):
    before = _install_old_then(env, server)
    other = sha256(b"not the archive")
    url, archive = publish(server, checksum=("%s  %s\n" % (other, archive_name(V, OS, ARCH))).encode())
    run = env.run()
    assert run.rc == 2, run.explain()
    assert "expected %s (published in %s.sha256), got %s" % (other, url, sha256(archive)) in run.failure_text()
    _assert_untouched(env, before)


def test_pinned_digest_that_differs_fails(env, server):
    before = _install_old_then(env, server)
    url, archive = publish(server)
    pin = "ab" * 32
    run = env.run(istioctl_sha256={V: pin, OLD: sha256(build_release(OLD))})
    assert run.rc == 2, run.explain()
    assert "sha256 mismatch for %s: expected %s (the pinned digest), got %s" % (url, pin, sha256(archive)) in run.failure_text()
    _assert_untouched(env, before)


def test_matching_pin_and_binary_marker_checksum_install(env, server):
    archive = build_release(V)
    url = publish(server, archive=archive, checksum=checksum_file(archive, archive_name(V, OS, ARCH), "star"))[0]
    run = env.run(istioctl_sha256={V: sha256(archive)})
    assert run.rc == 0, run.explain()
    assert run.task(INSTALL_TASK)["sha256"] == sha256(archive) and run.task(INSTALL_TASK)["url"] == url


def test_missing_version_fails_naming_version_and_url(env, server):
    before = _install_old_then(env, server)
    run = env.run(istioctl_version="1.99.0")
    assert run.rc == 2, run.explain()
    url = "%s/1.99.0/%s" % (server.base_url, archive_name("1.99.0", OS, ARCH))
    assert "Istio release 1.99.0 was not found: %s.sha256 returned HTTP 404 (archive %s)" % (url, url) in run.failure_text()
    assert env.listing() == before
    assert os.readlink(str(env.link)) == str(env.release_dir(OLD) / "bin" / "istioctl")


def test_missing_version_on_a_fresh_host_leaves_no_directories(env, server):
    run = env.run(istioctl_version="1.99.0")
    assert run.rc == 2 and "1.99.0 was not found" in run.failure_text(), run.explain()
    assert env.listing() == {}


BAD_INPUT = [
    ({"istioctl_arch": "sparc"}, "value of istioctl_arch must be one of: , amd64, arm64, got: sparc"),
    ({"istioctl_os": "windows"}, "value of istioctl_os must be one of: , linux, osx, got: windows"),
    ({"istioctl_version": "1.x"}, "istioctl_version=1.x is not an Istio release number; accepted: MAJOR.MINOR.PATCH"),
    ({"istioctl_version": "1.31"}, "istioctl_version=1.31 is not an Istio release number"),
    ({"istioctl_base_url": "ftp://mirror.invalid/istio"}, "istioctl_base_url=ftp://mirror.invalid/istio is not an http:// or https:// URL"),
    ({"istioctl_sha256": {V: "abc"}}, "istioctl_sha256 has 1.31.0: abc; accepted: a mapping of Istio version"),
    ({"istioctl_sha256": "abc"}, "istioctl_sha256"),
    ({"istioctl_download_timeout": "soon"}, "istioctl_download_timeout"),
    ({"istioctl_versoin": "1.30.4"}, "istioctl_versoin: the istioctl role has no such variable (misspelled?); accepted: istioctl_version,"),
]


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    """Every bad input in one run against one published release: each case is a host of its own,
    with its own scratch home. ({case index: (HostOutcome, Env, names of the tasks it ran)},
    the server's requests)."""
    base = tmp_path_factory.mktemp("bad-istioctl")
    with ReleaseServer() as srv:
        publish(srv)
        envs, hosts = {}, {}
        for index, (overrides, _expected) in enumerate(BAD_INPUT):
            folder = base / ("case-%d" % index)
            folder.mkdir()
            envs[index] = Env(folder, srv)
            hosts["case-%d" % index] = dict(envs[index].vars(**overrides), ansible_connection="local")
        (base / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
        (base / "play.yml").write_text(PLAY.replace("hosts: localhost", "hosts: all"))
        proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", str(base / "hosts.yml"), str(base / "play.yml")],
                              cwd=ROOT, env=ansible_env(ANSIBLE_FORKS="1"), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=600, check=False)
        requests = list(srv.requests)
    outcomes = outcomes_by_host(proc.stdout)
    assert sorted(outcomes) == sorted(hosts), proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = Run(proc).doc
    ran = {host: [task["task"]["name"].split(" : ", 1)[-1] for play in doc["plays"] for task in play["tasks"]
                  if host in task["hosts"]] for host in hosts}
    return {index: (outcomes["case-%d" % index], envs[index], ran["case-%d" % index]) for index in envs}, requests


@pytest.mark.parametrize("index", range(len(BAD_INPUT)), ids=[next(iter(case[0])) for case in BAD_INPUT])
def test_bad_input_fails_before_anything_is_touched(bad_inputs, index):
    cases, requests = bad_inputs
    outcome, env, names = cases[index]
    expected = BAD_INPUT[index][1]
    assert outcome.failed, outcome
    assert expected in outcome.text, outcome.text
    assert outcome.changed == 0, outcome
    assert requests == []
    assert env.listing() == {}
    assert not any(name.startswith(INSTALL_TASK) for name in names), names


def test_detected_unsupported_arch_fails_listing_supported_ones(env, server):
    publish(server)
    run = env.run(ansible_facts={"system": "Linux", "architecture": "ppc64le"})
    assert run.rc == 2, run.explain()
    text = run.failure_text()
    assert "ansible_facts.architecture=ppc64le" in text and "istioctl_arch in amd64, arm64" in text, run.explain()
    assert run.changed == 0 and server.requests == [] and env.listing() == {}


def test_bin_link_that_is_a_regular_file_is_not_replaced(env, server):
    publish(server)
    env.link.parent.mkdir()
    env.link.write_text("#!/bin/sh\necho hand-installed\n")
    run = env.run()
    assert run.rc == 2, run.explain()
    assert "istioctl_bin_link=%s exists and is a file, not a symlink" % env.link in run.failure_text()
    assert env.link.read_text() == "#!/bin/sh\necho hand-installed\n"
    assert server.requests == [] and not env.install_dir.exists()


def test_empty_bin_link_manages_no_link(env, server):
    publish(server)
    run = env.run(istioctl_bin_link="")
    assert run.rc == 0, run.explain()
    assert run.changed == 1 and not env.link.parent.exists()
    assert run.facts()["istioctl_installed_version"] == V


def test_archive_reporting_another_version_fails_the_version_check(env, server):
    publish(server, archive=build_release(V, reports="1.30.0"))
    run = env.run()
    assert run.rc == 2, run.explain()
    assert "reports version 1.30.0 but istioctl_version=1.31.0 was requested" in run.failure_text()


def test_upgrade_moves_the_link_and_keeps_the_old_release(env, server):
    _install_old_then(env, server)
    publish(server)
    run = env.run()
    assert run.rc == 0, run.explain()
    assert os.readlink(str(env.link)) == str(env.release_dir(V) / "bin" / "istioctl")
    assert (env.release_dir(OLD) / "bin" / "istioctl").is_file()
    assert run.task(INSTALL_TASK)["installed_versions"] == [OLD, V]


def test_lab_mirror_serves_the_real_istioctl(lab, tmp_path):
    """The role against the lab's mirror: the Go-built istioctl answers with the pinned version."""
    env = Env(tmp_path, None)
    log = os.path.join(lab.state, "mirror-requests.log")

    def mirror_requests():
        if not os.path.exists(log):
            return 0
        with open(log, encoding="utf-8") as handle:
            return sum(1 for line in handle if "/istio-" in line)

    start = mirror_requests()
    run = env.run(istioctl_base_url=lab.mirror_url, istioctl_version=lab.versions["ISTIO_VERSION"])
    assert run.rc == 0, run.explain()
    assert run.facts()["istioctl_installed_version"] == lab.versions["ISTIO_VERSION"]
    assert mirror_requests() - start == 2
    proc = subprocess.run([str(env.link), "version", "--remote=false", "--output=json"], text=True,
                          stdout=subprocess.PIPE, check=True)
    assert json.loads(proc.stdout)["clientVersion"]["version"] == lab.versions["ISTIO_VERSION"]
    again = env.run(istioctl_base_url=lab.mirror_url, istioctl_version=lab.versions["ISTIO_VERSION"])
    assert again.rc == 0 and again.changed == 0, again.explain()
    assert mirror_requests() - start == 2
