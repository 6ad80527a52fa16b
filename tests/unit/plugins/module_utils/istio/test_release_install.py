# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/istio/release_install.py: download, verify, unpack, move into place."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import io
import json
import os
import tarfile

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.istio.release import ReleaseError
from ansible_collections.meshops.istio.plugins.module_utils.istio.release_install import (
    FetchError,
    ensure,
    installed_versions,
    plan,
)
from ansible_collections.meshops.istio.tests.support.istio_release_archives import (
    archive_name,
    build_release,
    checksum_file,
    sha256,
)

BASE = "http://mirror.test/releases"
V = "1.31.0"


class FakeMirror(object):
    """fetch(url) over a dict; records every URL asked for."""

    def __init__(self):
        self.files = {}
        self.calls = []

    def publish(self, version, archive, checksum=None, os_name="linux", arch="amd64"):
        name = archive_name(version, os_name, arch)
        url = "%s/%s/%s" % (BASE, version, name)
        self.files[url] = archive
        self.files[url + ".sha256"] = checksum if checksum is not None else checksum_file(archive, name)
        return url

    def __call__(self, url):
        self.calls.append(url)
        if url not in self.files:
            raise FetchError(url, 404, "Not Found")
        return io.BytesIO(self.files[url])


def run(root, mirror, version=V, **kwargs):
    args = dict(install_dir=str(root), version=version, os_name="linux", arch="amd64", base_url=BASE, fetch=mirror)
    args.update(kwargs)
    return ensure(**args)


def tree(path):
    """Every path under `path` with file contents, to show nothing changed."""
    found = {}
    for base, dirs, files in os.walk(str(path)):
        for name in dirs:
            found[os.path.relpath(os.path.join(base, name), str(path))] = None
        for name in files:
            full = os.path.join(base, name)
            with open(full, "rb") as handle:
                found[os.path.relpath(full, str(path))] = handle.read()
    return found


@pytest.fixture
def mirror():
    return FakeMirror()


@pytest.fixture
def root(tmp_path):
    return tmp_path / "share" / "meshops-istio"


def test_install_downloads_verifies_and_unpacks(root, mirror):
    archive = build_release(V)
    url = mirror.publish(V, archive)
    result = run(root, mirror)
    release_dir = root / ("istio-%s" % V)
    assert result["changed"] and result["downloaded"] and result["operation"] == "install" and result["present"]
    assert result["release_dir"] == str(release_dir)
    assert result["istioctl"] == str(release_dir / "bin" / "istioctl")
    assert result["samples_dir"] == str(release_dir / "samples")
    assert result["sha256"] == sha256(archive)
    assert result["url"] == url and result["installed_versions"] == [V]
    assert mirror.calls == [url + ".sha256", url]
    assert os.access(result["istioctl"], os.X_OK)
    assert (release_dir / "samples" / "bookinfo" / "platform" / "kube" / "bookinfo.yaml").is_file()
    assert (release_dir / "manifests" / "profiles" / "default.yaml").is_file()
    marker = json.loads((release_dir / ".meshops-release.json").read_text())
    assert marker == {"format": 1, "version": V, "os": "linux", "arch": "amd64", "url": url,
                      "archive": "istio-1.31.0-linux-amd64.tar.gz", "sha256": sha256(archive)}
    assert sorted(os.listdir(str(root))) == ["istio-1.31.0"], "staging files left behind"


def test_second_run_makes_no_network_access(root, mirror):
    mirror.publish(V, build_release(V))
    first = run(root, mirror)
    mirror.calls[:] = []
    before = tree(root)
    second = run(root, mirror)
    assert mirror.calls == []
    assert not second["changed"] and not second["downloaded"] and second["operation"] == "none"
    assert second["sha256"] == first["sha256"]
    assert tree(root) == before


def test_check_mode_reports_and_touches_nothing(root, mirror):
    url = mirror.publish(V, build_release(V))
    result = run(root, mirror, check_mode=True, diff=True)
    assert result["changed"] and result["operation"] == "install"
    assert not result["downloaded"] and not result["present"] and result["sha256"] == ""
    assert result["msg"].startswith("would download %s" % url)
    assert result["diff"]["before"].endswith(": absent\n")
    assert "Istio 1.31.0 linux-amd64 from %s" % url in result["diff"]["after"]
    assert mirror.calls == []
    assert not root.parent.exists()


def test_tampered_archive_fails_and_leaves_nothing(root, mirror):
    good = build_release(V)
    url = mirror.publish(V, good)
    tampered = build_release(V, reports="6.6.6")
    mirror.files[url] = tampered
    with pytest.raises(ReleaseError) as err:
        run(root, mirror)
    assert str(err.value) == ("sha256 mismatch for %s: expected %s (published in %s.sha256), got %s; nothing was extracted"
                              % (url, sha256(good), url, sha256(tampered)))
    assert not root.parent.exists(), "created directories or partial files were left"


def test_wrong_checksum_file_keeps_the_previous_release_and_its_files(root, mirror):
    mirror.publish("1.30.4", build_release("1.30.4"))
    run(root, mirror, version="1.30.4")
    before = tree(root)
    archive = build_release(V)
    mirror.publish(V, archive, checksum=checksum_file(b"something else", archive_name(V)))
    with pytest.raises(ReleaseError, match="expected %s .*got %s" % (sha256(b"something else"), sha256(archive))):
        run(root, mirror)
    assert tree(root) == before


@pytest.mark.parametrize("style", ["two", "one", "star", "bare"])
def test_checksum_file_styles(root, mirror, style):
    archive = build_release(V)
    mirror.publish(V, archive, checksum=checksum_file(archive, archive_name(V), style))
    assert run(root, mirror)["sha256"] == sha256(archive)


def test_pinned_digest_must_match_too(root, mirror):
    archive = build_release(V)
    url = mirror.publish(V, archive)
    pin = "ab" * 32
    with pytest.raises(ReleaseError) as err:
        run(root, mirror, pinned=pin)
    assert "sha256 mismatch for %s: expected %s (the pinned digest), got %s" % (url, pin, sha256(archive)) in str(err.value)
    assert not root.parent.exists()
    result = run(root, mirror, pinned=sha256(archive).upper())
    assert result["changed"] and result["sha256"] == sha256(archive)


def test_a_new_pin_on_an_installed_release_downloads_again(root, mirror):
    archive = build_release(V)
    mirror.publish(V, archive)
    run(root, mirror)
    mirror.calls[:] = []
    check = run(root, mirror, pinned="cd" * 32, check_mode=True)
    assert check["operation"] == "reinstall" and check["changed"] and mirror.calls == []
    assert "is pinned" in check["msg"]
    before = tree(root)
    with pytest.raises(ReleaseError, match="the pinned digest"):
        run(root, mirror, pinned="cd" * 32)
    assert tree(root) == before


def test_missing_version_names_version_and_url(root, mirror):
    with pytest.raises(ReleaseError) as err:
        run(root, mirror, version="1.99.0")
    url = "%s/1.99.0/istio-1.99.0-linux-amd64.tar.gz" % BASE
    assert str(err.value) == "Istio release 1.99.0 was not found: %s.sha256 returned HTTP 404 (archive %s)" % (url, url)
    assert not root.parent.exists()


def test_missing_archive_with_a_checksum_names_the_archive_url(root, mirror):
    url = mirror.publish(V, build_release(V))
    del mirror.files[url]
    with pytest.raises(ReleaseError, match="Istio release 1.31.0 was not found: %s returned HTTP 404" % url):
        run(root, mirror)
    assert not root.parent.exists()


def test_server_errors_are_reported_with_the_url(root, mirror):
    def failing(url):
        raise FetchError(url, None, "connection refused")
    with pytest.raises(ReleaseError, match="cannot download the checksum of Istio 1.31.0: cannot fetch .*sha256: connection refused"):
        run(root, mirror, fetch=failing)
    assert not root.parent.exists()


def test_unsupported_arch_fails_before_any_fetch(root, mirror):
    with pytest.raises(ReleaseError, match="unsupported architecture 'sparc'.*supported: amd64"):
        run(root, mirror, arch="sparc")
    assert mirror.calls == [] and not root.parent.exists()


def test_invalid_version_fails_before_any_fetch(root, mirror):
    with pytest.raises(ReleaseError, match="'1.x' is not an Istio release version"):
        run(root, mirror, version="1.x")
    assert mirror.calls == []


def test_releases_live_side_by_side(root, mirror):
    mirror.publish("1.30.4", build_release("1.30.4"))
    mirror.publish(V, build_release(V))
    run(root, mirror, version="1.30.4")
    result = run(root, mirror)
    assert result["installed_versions"] == ["1.30.4", V]
    assert installed_versions(str(root)) == ["1.30.4", V]
    assert (root / "istio-1.30.4" / "bin" / "istioctl").is_file()


def test_unverified_directory_is_replaced(root, mirror):
    archive = build_release(V)
    mirror.publish(V, archive)
    stale = root / ("istio-%s" % V)
    (stale / "bin").mkdir(parents=True)
    (stale / "bin" / "istioctl").write_text("#!/bin/sh\nexit 1\n")
    (stale / "leftover").write_text("old")
    planned = plan(str(root), V, "linux", "amd64", BASE)
    assert planned["operation"] == "reinstall" and "no valid .meshops-release.json marker" in planned["reason"]
    check = run(root, mirror, check_mode=True)
    assert check["changed"] and check["present"] and (stale / "leftover").exists()
    result = run(root, mirror)
    assert result["operation"] == "reinstall" and result["downloaded"]
    assert not (stale / "leftover").exists() and (stale / ".meshops-release.json").is_file()
    assert sorted(os.listdir(str(root))) == ["istio-1.31.0"]


def test_marker_without_binary_is_reinstalled(root, mirror):
    mirror.publish(V, build_release(V))
    result = run(root, mirror)
    os.remove(result["istioctl"])
    assert plan(str(root), V, "linux", "amd64", BASE)["operation"] == "reinstall"
    assert run(root, mirror)["downloaded"]


def _evil(extra):
    return build_release(V, extra=extra)


@pytest.mark.parametrize("extra, message", [
    ([("istio-1.31.0/../escaped", b"x", 0o644, tarfile.REGTYPE, "")], "outside istio-1.31.0/"),
    ([("other-top/file", b"x", 0o644, tarfile.REGTYPE, "")], "outside istio-1.31.0/"),
    ([("istio-1.31.0/bin/sh", b"", 0o777, tarfile.SYMTYPE, "/bin/sh")], "links to the absolute path /bin/sh"),
    ([("istio-1.31.0/dev", b"", 0o644, tarfile.CHRTYPE, "")], "only files, directories and links"),
])
def test_archives_with_escaping_members_are_refused(root, mirror, tmp_path, extra, message):
    mirror.publish(V, _evil(extra))
    with pytest.raises(ReleaseError, match=message):
        run(root, mirror)
    assert not root.parent.exists()
    assert not (tmp_path / "escaped").exists()


def test_archive_without_istioctl_is_refused(root, mirror):
    url = mirror.publish(V, build_release(V, without_istioctl=True))
    with pytest.raises(ReleaseError, match="%s does not contain istio-1.31.0/bin/istioctl" % url):
        run(root, mirror)
    assert not root.parent.exists()


def test_a_verified_file_that_is_not_an_archive_is_refused(root, mirror):
    mirror.publish(V, b"<html>captive portal</html>")
    with pytest.raises(ReleaseError, match="is not a gzip-compressed tar archive"):
        run(root, mirror)
    assert not root.parent.exists()


def test_existing_install_dir_is_kept_on_failure(root, mirror):
    root.mkdir(parents=True)
    (root / "notes.txt").write_text("mine")
    with pytest.raises(ReleaseError):
        run(root, mirror, version="1.99.0")
    assert tree(root) == {"notes.txt": b"mine"}


def test_install_dir_that_is_a_file_is_refused(tmp_path, mirror):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(ReleaseError, match="exists and is not a directory"):
        run(target, mirror)


def test_absent_removes_only_that_version(root, mirror):
    mirror.publish("1.30.4", build_release("1.30.4"))
    mirror.publish(V, build_release(V))
    run(root, mirror, version="1.30.4")
    run(root, mirror)
    check = run(root, mirror, version="1.30.4", state="absent", check_mode=True)
    assert check["changed"] and check["operation"] == "remove" and (root / "istio-1.30.4").is_dir()
    removed = run(root, mirror, version="1.30.4", state="absent")
    assert removed["changed"] and not removed["present"] and removed["installed_versions"] == [V]
    assert sorted(os.listdir(str(root))) == ["istio-1.31.0"]
    again = run(root, mirror, version="1.30.4", state="absent")
    assert not again["changed"] and again["operation"] == "none"
