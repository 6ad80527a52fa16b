"""lab/mirror.py (lab.mirror): deterministic release archives, the stamp, and the loopback HTTP server."""

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from lab import build, mirror  # noqa: E402  pylint: disable=wrong-import-position,import-error

# the command line, run from the checkout's root
MIRROR = [sys.executable, "-m", "lab.mirror"]
VERSION = "1.31.0"
ARCHIVE = "istio-%s-linux-amd64.tar.gz" % VERSION


@pytest.fixture
def istioctl(tmp_path):
    """A stand-in binary: the mirror packs whatever file it is given."""
    path = tmp_path / "in" / "istioctl"
    path.parent.mkdir()
    path.write_bytes(b"\x7fELF fake istioctl\n" + bytes(range(256)) * 64)
    path.chmod(0o700)
    return path


@pytest.fixture
def samples(tmp_path):
    """A private copy of the fixture samples, so a test may tamper with it."""
    dest = tmp_path / "samples"
    shutil.copytree(mirror.SAMPLES_DIR, dest)
    return dest


def _sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _members(path):
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}, {
            m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


# ---------------------------------------------------------------------------- build


def test_archive_layout(tmp_path, istioctl):
    result = mirror.build_release(VERSION, str(istioctl), str(tmp_path / "root"))
    assert result["path"] == str(tmp_path / "root" / VERSION / ARCHIVE)
    assert result["url_path"] == "/%s/%s" % (VERSION, ARCHIVE)
    assert result["rebuilt"] is True
    members, contents = _members(result["path"])
    top = "istio-%s" % VERSION
    assert all(name == top or name.startswith(top + "/") for name in members)
    binary = members[top + "/bin/istioctl"]
    assert binary.isfile() and binary.mode == 0o755
    assert contents[top + "/bin/istioctl"] == istioctl.read_bytes()
    manifest = yaml.safe_load(contents[top + "/manifest.yaml"])
    assert manifest["version"] == VERSION
    assert top + "/samples/bookinfo/platform/kube/bookinfo.yaml" in members
    assert top + "/samples/bookinfo/networking/bookinfo-gateway.yaml" in members
    assert top + "/samples/addons/kiali.yaml" in members
    assert top + "/samples/addons/extras/zipkin.yaml" in members
    assert any(name.startswith(top + "/manifests/") and members[name].isfile() for name in members)
    with open(os.path.join(mirror.SAMPLES_DIR, "addons", "kiali.yaml"), "rb") as handle:
        assert contents[top + "/samples/addons/kiali.yaml"] == handle.read()
    for member in members.values():
        assert member.mtime == mirror.FIXED_MTIME
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
    with tarfile.open(result["path"], "r:gz") as tar:
        names = tar.getnames()
    assert names == sorted(names)


def test_sha256_file_matches_archive(tmp_path, istioctl):
    result = mirror.build_release(VERSION, str(istioctl), str(tmp_path / "root"))
    digest = _sha256(result["path"])
    assert result["sha256"] == digest
    with open(result["path"] + ".sha256", encoding="utf-8") as handle:
        assert handle.read() == "%s  %s\n" % (digest, ARCHIVE)
    assert result["sha256_path"] == result["path"] + ".sha256"


def test_build_twice_same_digest_and_second_is_skipped(tmp_path, istioctl):
    root = str(tmp_path / "root")
    first = mirror.build_release(VERSION, str(istioctl), root)
    before = os.stat(first["path"]).st_mtime_ns
    second = mirror.build_release(VERSION, str(istioctl), root)
    assert second["sha256"] == first["sha256"]
    assert second["rebuilt"] is False
    assert os.stat(second["path"]).st_mtime_ns == before


def test_fresh_builds_are_byte_identical(tmp_path, istioctl):
    one = mirror.build_release(VERSION, str(istioctl), str(tmp_path / "one"))
    two = mirror.build_release(VERSION, str(istioctl), str(tmp_path / "two"))
    assert one["rebuilt"] and two["rebuilt"]
    assert open(one["path"], "rb").read() == open(two["path"], "rb").read()


def test_tampered_istioctl_changes_digest(tmp_path, istioctl):
    root = str(tmp_path / "root")
    first = mirror.build_release(VERSION, str(istioctl), root)
    istioctl.write_bytes(istioctl.read_bytes() + b"tampered")
    second = mirror.build_release(VERSION, str(istioctl), root)
    assert second["rebuilt"] is True
    assert second["sha256"] != first["sha256"]
    assert _sha256(second["path"]) == second["sha256"]
    contents = _members(second["path"])[1]
    assert contents["istio-%s/bin/istioctl" % VERSION].endswith(b"tampered")


def test_tampered_sample_changes_digest(tmp_path, istioctl, samples):
    root = str(tmp_path / "root")
    first = mirror.build_release(VERSION, str(istioctl), root, samples_dir=str(samples))
    target = samples / "bookinfo" / "platform" / "kube" / "bookinfo.yaml"
    target.write_text(target.read_text(encoding="utf-8").replace("9080", "9081"), encoding="utf-8")
    second = mirror.build_release(VERSION, str(istioctl), root, samples_dir=str(samples))
    assert second["rebuilt"] is True and second["sha256"] != first["sha256"]


def test_added_sample_file_changes_digest(tmp_path, istioctl, samples):
    root = str(tmp_path / "root")
    first = mirror.build_release(VERSION, str(istioctl), root, samples_dir=str(samples))
    (samples / "curl" / "extra.yaml").write_text("---\n{}\n", encoding="utf-8")
    second = mirror.build_release(VERSION, str(istioctl), root, samples_dir=str(samples))
    assert second["sha256"] != first["sha256"]
    members = _members(second["path"])[0]
    assert "istio-%s/samples/curl/extra.yaml" % VERSION in members


def test_corrupted_archive_is_rebuilt(tmp_path, istioctl):
    root = str(tmp_path / "root")
    first = mirror.build_release(VERSION, str(istioctl), root)
    with open(first["path"], "ab") as handle:
        handle.write(b"junk")
    second = mirror.build_release(VERSION, str(istioctl), root)
    assert second["rebuilt"] is True
    assert second["sha256"] == first["sha256"] == _sha256(second["path"])


def test_versions_and_targets_have_their_own_archives(tmp_path, istioctl):
    root = str(tmp_path / "root")
    cur = mirror.build_release(VERSION, str(istioctl), root)
    prev = mirror.build_release("1.30.4", str(istioctl), root)
    arm = mirror.build_release(VERSION, str(istioctl), root, arch="arm64")
    assert prev["path"].endswith("/1.30.4/istio-1.30.4-linux-amd64.tar.gz")
    assert arm["path"].endswith("/%s/istio-%s-linux-arm64.tar.gz" % (VERSION, VERSION))
    assert len({cur["sha256"], prev["sha256"], arm["sha256"]}) == 3
    contents = _members(prev["path"])[1]
    assert yaml.safe_load(contents["istio-1.30.4/manifest.yaml"])["version"] == "1.30.4"


@pytest.mark.parametrize("version", ["../1.31.0", "1.31", "v1.31.0", "1.31.0/x", "", None])
def test_bad_version_refused(tmp_path, istioctl, version):
    with pytest.raises(ValueError, match="is not an Istio release number"):
        mirror.build_release(version, str(istioctl), str(tmp_path / "root"))
    assert not (tmp_path / "root").exists()


def test_bad_arch_refused(tmp_path, istioctl):
    with pytest.raises(ValueError, match="arch '../x' must be"):
        mirror.build_release(VERSION, str(istioctl), str(tmp_path / "root"), arch="../x")


def test_missing_istioctl_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="istioctl binary .* does not exist"):
        mirror.build_release(VERSION, str(tmp_path / "nope"), str(tmp_path / "root"))


def test_cli_build(tmp_path, istioctl):
    root = tmp_path / "root"
    cmd = MIRROR + ["build", "--version", VERSION, "--istioctl", str(istioctl), "--root", str(root)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    result = yaml.safe_load(proc.stdout)
    assert result["sha256"] == _sha256(root / VERSION / ARCHIVE)
    assert result["url_path"] == "/%s/%s" % (VERSION, ARCHIVE)
    again = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    assert again.returncode == 0 and yaml.safe_load(again.stdout)["rebuilt"] is False
    assert "cached" in again.stderr


def test_cli_build_bad_version_exit_code(tmp_path, istioctl):
    proc = subprocess.run(MIRROR + ["build", "--version", "latest", "--istioctl",
                                    str(istioctl), "--root", str(tmp_path / "root")],
                          capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 2
    assert "'latest' is not an Istio release number" in proc.stderr


def test_lab_istio_releases_lists_current_and_previous():
    versions = build.load_versions()
    releases = mirror.lab_istio_releases()
    assert sorted(r[0] for r in releases) == sorted([versions["ISTIO_VERSION"],
                                                     versions["ISTIO_PREVIOUS_VERSION"]])
    for version, path in releases:
        assert path.endswith(os.sep + "istioctl") and version in path


# ---------------------------------------------------------------------------- serve


@pytest.fixture
def served(tmp_path, istioctl):
    root = tmp_path / "root"
    release = mirror.build_release(VERSION, str(istioctl), str(root))
    log = tmp_path / "log" / "requests.log"
    server = mirror.serve(str(root), port=0, log_path=str(log), background=True)
    yield server, release, log
    server.shutdown()
    server.server_close()


def _get(url, method="GET"):
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serve_archive_and_checksum(served):
    server, release = served[:2]
    assert server.url.startswith("http://127.0.0.1:") and server.server_address[1] > 0
    status, body = _get(server.url + release["url_path"])
    assert status == 200
    status_sha, sha_body = _get(server.url + release["url_path"] + ".sha256")
    assert status_sha == 200
    digest, name = sha_body.decode().split()
    assert name == ARCHIVE
    assert hashlib.sha256(body).hexdigest() == digest == release["sha256"]
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        assert "istio-%s/bin/istioctl" % VERSION in tar.getnames()


@pytest.mark.parametrize("path", [
    "/9.9.9/istio-9.9.9-linux-amd64.tar.gz",       # a version the mirror does not have
    "/%s/istio-%s-linux-arm64.tar.gz" % (VERSION, VERSION),
    "/%s/.%s.stamp" % (VERSION, ARCHIVE),            # internal bookkeeping is not served
    "/%s/" % VERSION,                                 # no directory listings
    "/../../etc/passwd",
])
def test_serve_404(served, path):
    server = served[0]
    status = _get(server.url + path)[0]
    assert status == 404


def test_request_log_lines(served):
    server, release, log = served
    assert _get(server.url + release["url_path"])[0] == 200
    assert _get(server.url + release["url_path"], method="HEAD")[0] == 200
    assert _get(server.url + "/9.9.9/missing.tar.gz")[0] == 404
    assert _get(server.url + release["url_path"] + ".sha256?x=1")[0] == 200
    entries = mirror.read_log(str(log))
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("GET", release["url_path"], 200),
        ("HEAD", release["url_path"], 200),
        ("GET", "/9.9.9/missing.tar.gz", 404),
        ("GET", release["url_path"] + ".sha256", 200),
    ]
    assert int(entries[0]["size"]) == os.path.getsize(release["path"])
    with open(log, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    assert len(lines) == 4
    assert lines[2].split()[1:4] == ["GET", "/9.9.9/missing.tar.gz", "404"]


def test_no_log_path_still_serves(tmp_path, istioctl):
    root = tmp_path / "root"
    release = mirror.build_release(VERSION, str(istioctl), str(root))
    server = mirror.serve(str(root), background=True)
    try:
        assert _get(server.url + release["url_path"])[0] == 200
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "192.0.2.1", "::1", "localhost", "", "example.com"])
def test_non_loopback_host_refused(tmp_path, host):
    with pytest.raises(ValueError, match="127.0.0.0/8"):
        mirror.serve(str(tmp_path), host=host, background=True)


def test_other_loopback_address_allowed(tmp_path):
    server = mirror.serve(str(tmp_path), host="127.0.0.2", port=0, background=True)
    try:
        assert server.server_address[0] == "127.0.0.2"
        assert server.url.startswith("http://127.0.0.2:")
    finally:
        server.shutdown()
        server.server_close()


def test_cli_serve_refuses_non_loopback(tmp_path):
    proc = subprocess.run(MIRROR + ["serve", "--root", str(tmp_path), "--host", "0.0.0.0"],
                          capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 2
    assert "host '0.0.0.0' refused" in proc.stderr


def test_cli_serve_port_file(tmp_path, istioctl):
    root = tmp_path / "root"
    release = mirror.build_release(VERSION, str(istioctl), str(root))
    port_file = tmp_path / "port"
    log = tmp_path / "requests.log"
    proc = subprocess.Popen(MIRROR + ["serve", "--root", str(root), "--port", "0",
                                      "--log", str(log), "--port-file", str(port_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        # The server writes the port file once it is bound; wait for it (or for the process to die).
        for dummy in range(600):  # pylint: disable=unused-variable
            if port_file.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read()
        port = int(port_file.read_text(encoding="utf-8"))
        assert port > 0
        status, body = _get("http://127.0.0.1:%d%s" % (port, release["url_path"]))
        assert status == 200 and hashlib.sha256(body).hexdigest() == release["sha256"]
        assert [(e["method"], e["status"]) for e in mirror.read_log(str(log))] == [("GET", 200)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()


def test_failed_build_leaves_no_partial_and_keeps_previous(tmp_path, istioctl, samples, monkeypatch):
    root = tmp_path / "root"
    first = mirror.build_release(VERSION, str(istioctl), str(root), samples_dir=str(samples))
    target = samples / "curl" / "curl.yaml"
    target.write_text(target.read_text(encoding="utf-8") + "# changed\n", encoding="utf-8")
    reads = []
    real_open = open

    def flaky_open(path, *args, **kwargs):
        # The first read hashes the input; fail the second, while the archive is being written.
        if str(path) == str(target):
            reads.append(path)
            if len(reads) == 2:
                raise OSError("simulated read failure")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(mirror, "open", flaky_open, raising=False)
    with pytest.raises(OSError, match="simulated read failure"):
        mirror.build_release(VERSION, str(istioctl), str(root), samples_dir=str(samples))
    monkeypatch.undo()
    assert len(reads) == 2
    leftovers = sorted(p.name for p in (root / VERSION).iterdir())
    assert leftovers == sorted([ARCHIVE, ARCHIVE + ".sha256", ".%s.stamp" % ARCHIVE])
    assert _sha256(first["path"]) == first["sha256"]
    assert oct(os.stat(first["path"]).st_mode & 0o777) == "0o644"
    again = mirror.build_release(VERSION, str(istioctl), str(root), samples_dir=str(samples))
    assert again["rebuilt"] is True and again["sha256"] != first["sha256"]
