# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/istio/release.py and the role values that must agree with it."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import re

import pytest
import yaml

from ansible_collections.meshops.istio.plugins.module_utils.istio import release
from ansible_collections.meshops.istio.plugins.module_utils.istio.release import ReleaseError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))))
DIGEST = "0123456789abcdef" * 4
OTHER = "fedcba9876543210" * 4


def _yaml(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


# --- the role agrees with this module -----------------------------------------------------------

def test_role_default_version_is_a_release_and_the_spec_says_the_same():
    # roles/istioctl/defaults/main.yml is the one home of the collection's Istio version; the lab
    # reads it from there (tests/unit/test_lab_versions.py checks the lab builds that release).
    defaults = _yaml("roles", "istioctl", "defaults", "main.yml")
    spec = _yaml("roles", "istioctl", "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert release.is_version(defaults["istioctl_version"])
    assert spec["istioctl_version"]["default"] == defaults["istioctl_version"]


def test_role_platform_maps_match_module_utils():
    role_vars = _yaml("roles", "istioctl", "vars", "main.yml")
    assert role_vars["__istioctl_os_names"] == release.OS_ALIASES
    assert role_vars["__istioctl_arch_names"] == release.ARCH_ALIASES
    spec = _yaml("roles", "istioctl", "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert spec["istioctl_os"]["choices"] == [""] + list(release.SUPPORTED_OSES)
    assert spec["istioctl_arch"]["choices"] == [""] + list(release.SUPPORTED_ARCHES)


def test_role_checks_versions_and_digests_with_this_module():
    # The role has no copy of the version or digest rule: its preflight asks release.py through
    # the filters istio_version_ok and istio_digest_ok (tests/unit/plugins/filter/test_mesh_filters.py).
    role_vars = _yaml("roles", "istioctl", "vars", "main.yml")
    assert not [name for name in role_vars if "pattern" in name]
    with open(os.path.join(ROOT, "roles", "istioctl", "tasks", "preflight.yml"), encoding="utf-8") as handle:
        preflight = handle.read()
    assert "istioctl_version | meshops.istio.istio_version_ok" in preflight
    assert "item.value | meshops.istio.istio_digest_ok" in preflight


def test_role_known_facts_are_the_facts_it_sets():
    # Its inputs are the spec's options: the shared unknown-variable guard reads them from there.
    role_vars = _yaml("roles", "istioctl", "vars", "main.yml")
    assert sorted(role_vars["__istioctl_facts"]) == sorted(
        ["istioctl_path", "istioctl_release_dir", "istioctl_samples_dir", "istioctl_installed_version"])
    with open(os.path.join(ROOT, "roles", "istioctl", "tasks", "install.yml"), encoding="utf-8") as handle:
        install = yaml.safe_load(handle)
    set_facts = [task["ansible.builtin.set_fact"] for task in install if "ansible.builtin.set_fact" in task]
    assert sorted(name for facts in set_facts for name in facts) == sorted(role_vars["__istioctl_facts"])


def test_module_default_base_url_matches_role_default():
    defaults = _yaml("roles", "istioctl", "defaults", "main.yml")
    assert defaults["istioctl_base_url"] == "https://github.com/istio/istio/releases/download"
    with open(os.path.join(ROOT, "plugins", "modules", "istio_release.py"), encoding="utf-8") as handle:
        source = handle.read()
    assert 'default="%s"' % defaults["istioctl_base_url"] in source


# --- platform mapping --------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("x86_64", "amd64"), ("amd64", "amd64"), ("aarch64", "arm64"), ("arm64", "arm64"), ("X86_64", "amd64"),
])
def test_resolve_arch(value, expected):
    assert release.resolve_arch(value) == expected


@pytest.mark.parametrize("value", ["sparc", "ppc64le", "armv7l", "i386", "", None])
def test_resolve_arch_rejects_unsupported_and_lists_supported(value):
    with pytest.raises(ReleaseError) as err:
        release.resolve_arch(value)
    text = str(err.value)
    assert "unsupported architecture %r" % (value or "") in text
    assert "amd64 (amd64/x86_64)" in text and "arm64 (aarch64/arm64)" in text


@pytest.mark.parametrize("value, expected", [("Linux", "linux"), ("linux", "linux"), ("Darwin", "osx"), ("osx", "osx")])
def test_resolve_os(value, expected):
    assert release.resolve_os(value) == expected


def test_resolve_os_rejects_windows():
    with pytest.raises(ReleaseError, match=r"unsupported operating system 'Windows'.*linux \(Linux\), osx \(Darwin\)"):
        release.resolve_os("Windows")


# --- names and URLs ----------------------------------------------------------------------------

@pytest.mark.parametrize("os_name, arch, expected", [
    ("linux", "amd64", "istio-1.31.0-linux-amd64.tar.gz"),
    ("Linux", "aarch64", "istio-1.31.0-linux-arm64.tar.gz"),
    ("osx", "amd64", "istio-1.31.0-osx.tar.gz"),
    ("Darwin", "x86_64", "istio-1.31.0-osx.tar.gz"),
    ("osx", "arm64", "istio-1.31.0-osx-arm64.tar.gz"),
    ("Darwin", "arm64", "istio-1.31.0-osx-arm64.tar.gz"),
])
def test_archive_name_follows_istio_naming(os_name, arch, expected):
    assert release.archive_name("1.31.0", os_name, arch) == expected


@pytest.mark.parametrize("base", ["https://github.com/istio/istio/releases/download",
                                  "https://github.com/istio/istio/releases/download/"])
def test_archive_url_and_checksum_url(base):
    url = release.archive_url(base, "1.31.0", "linux", "amd64")
    assert url == "https://github.com/istio/istio/releases/download/1.31.0/istio-1.31.0-linux-amd64.tar.gz"
    assert release.checksum_url(url) == url + ".sha256"


def test_archive_url_for_a_mirror_and_osx_arm():
    assert (release.archive_url("http://127.0.0.1:8080/mirror", "1.30.4", "osx", "arm64")
            == "http://127.0.0.1:8080/mirror/1.30.4/istio-1.30.4-osx-arm64.tar.gz")


@pytest.mark.parametrize("base", ["ftp://example.invalid/x", "github.com/istio", "", "https://"])
def test_archive_url_rejects_non_http_bases(base):
    with pytest.raises(ReleaseError, match="must start with http:// or https://"):
        release.archive_url(base, "1.31.0", "linux", "amd64")


def test_release_dir_name():
    assert release.release_dir_name("1.31.0") == "istio-1.31.0"


# --- versions ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["1.31.0", "1.0.0", "10.20.30", "1.24.0-beta.0", "1.22.0-rc.1", "1.25.0-alpha.abc123"])
def test_valid_versions(value):
    assert release.is_version(value)
    assert release.validate_version(value) == value


@pytest.mark.parametrize("value", ["1.x", "1.31", "v1.31.0", "1.31.0.1", "latest", "", "1.31.0-", "1.31.0 ", "../1.31.0"])
def test_invalid_versions(value):
    assert not release.is_version(value)
    with pytest.raises(ReleaseError, match="is not an Istio release version; expected MAJOR.MINOR.PATCH"):
        release.validate_version(value)


@pytest.mark.parametrize("value, expected", [
    (DIGEST, True), (DIGEST.upper(), True), (DIGEST[:-1], False), (DIGEST + "0", False),
    ("sha256:" + DIGEST, False), (" " + DIGEST, False), ("g" * 64, False), ("", False), (None, False),
])
def test_is_digest(value, expected):
    assert release.is_digest(value) is expected


@pytest.mark.parametrize("first, second, expected", [
    ("1.31.0", "1.31.0", 0),
    ("1.30.4", "1.31.0", -1),
    ("1.31.0", "1.30.4", 1),
    ("1.9.0", "1.10.0", -1),          # numeric, not text
    ("1.31.0-rc.0", "1.31.0", -1),    # a pre-release comes before its release
    ("1.31.0-beta.1", "1.31.0-rc.0", -1),
    ("1.31.0-rc.2", "1.31.0-rc.10", -1),
    ("1.31.0-rc.1", "1.30.9", 1),
    ("2.0.0", "1.99.99", 1),
])
def test_compare_versions(first, second, expected):
    assert release.compare_versions(first, second) == expected
    assert release.compare_versions(second, first) == -expected


def test_sort_versions():
    assert release.sort_versions(["1.31.0", "1.9.2", "1.31.0-rc.0", "1.30.4", "1.10.0"]) == [
        "1.9.2", "1.10.0", "1.30.4", "1.31.0-rc.0", "1.31.0"]


# --- checksum files ----------------------------------------------------------------------------

NAME = "istio-1.31.0-linux-amd64.tar.gz"


@pytest.mark.parametrize("text", [
    "%s  %s\n" % (DIGEST, NAME),          # sha256sum text mode, two spaces
    "%s %s\n" % (DIGEST, NAME),           # one space
    "%s *%s\n" % (DIGEST, NAME),          # binary marker
    "%s\n" % DIGEST,                      # digest alone
    "%s" % DIGEST.upper(),                # upper case, no newline
    "%s  ./dist/%s\r\n" % (DIGEST, NAME),  # path in front of the name, CRLF
])
def test_parse_checksum_file_formats(text):
    assert release.parse_checksum_file(text, NAME) == DIGEST


def test_parse_checksum_file_picks_the_named_line():
    text = "%s  istio-1.31.0-osx.tar.gz\n%s  %s\n" % (OTHER, DIGEST, NAME)
    assert release.parse_checksum_file(text, NAME) == DIGEST


def test_parse_checksum_file_refuses_a_file_for_another_archive():
    with pytest.raises(ReleaseError, match="does not list %s \\(it lists: istio-1.30.4-linux-amd64.tar.gz\\)" % re.escape(NAME)):
        release.parse_checksum_file("%s  istio-1.30.4-linux-amd64.tar.gz\n" % DIGEST, NAME)


@pytest.mark.parametrize("text, message", [
    ("", "holds no sha256 digest"),
    ("\n# comment\n", "holds no sha256 digest"),
    ("<html>Not Found</html>", "line 1 of the checksum file is not"),
    ("abc123  %s" % NAME, "line 1 of the checksum file is not"),
])
def test_parse_checksum_file_rejects_garbage(text, message):
    with pytest.raises(ReleaseError, match=message):
        release.parse_checksum_file(text, NAME)


def test_normalize_digest():
    assert release.normalize_digest("sha256:" + DIGEST.upper()) == DIGEST
    with pytest.raises(ReleaseError, match="'abc' is not a sha256 digest"):
        release.normalize_digest("abc")


def test_digest_mismatch_names_both_digests_and_where_they_come_from():
    url = "http://127.0.0.1/1.31.0/" + NAME
    assert release.digest_mismatch(url, DIGEST, DIGEST, None, DIGEST) is None
    published = release.digest_mismatch(url, DIGEST, OTHER)
    assert published == ("sha256 mismatch for %s: expected %s (published in %s.sha256), got %s; nothing was extracted"
                         % (url, OTHER, url, DIGEST))
    pinned = release.digest_mismatch(url, DIGEST, DIGEST, None, OTHER)
    assert "expected %s (the pinned digest), got %s" % (OTHER, DIGEST) in pinned


# --- archive members ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, kind, link", [
    ("istio-1.31.0", "dir", None),
    ("istio-1.31.0/bin/istioctl", "file", None),
    ("istio-1.31.0/samples/a/../b.yaml", "file", None),
    ("istio-1.31.0/bin/link", "symlink", "istioctl"),
    ("istio-1.31.0/bin/hard", "hardlink", "istio-1.31.0/bin/istioctl"),
])
def test_check_member_accepts_members_inside_the_release(name, kind, link):
    assert release.check_member(name, "istio-1.31.0", kind, link).startswith("istio-1.31.0")


@pytest.mark.parametrize("name, kind, link, message", [
    ("/etc/passwd", "file", None, "absolute"),
    ("istio-1.31.0/../../evil", "file", None, "outside istio-1.31.0/"),
    ("istio-1.30.4/bin/istioctl", "file", None, "outside istio-1.31.0/"),
    ("istio-1.31.0-evil/x", "file", None, "outside istio-1.31.0/"),
    ("istio-1.31.0/bin/link", "symlink", "../../../etc/passwd", "links to ../../../etc/passwd, outside"),
    ("istio-1.31.0/bin/link", "symlink", "/usr/bin/sh", "links to the absolute path"),
    ("istio-1.31.0/bin/hard", "hardlink", "etc/passwd", "outside istio-1.31.0/"),
    ("istio-1.31.0/dev/null", "special file", None, "only files, directories and links"),
])
def test_check_member_refuses_escapes(name, kind, link, message):
    with pytest.raises(ReleaseError, match=re.escape(message)):
        release.check_member(name, "istio-1.31.0", kind, link)


# --- marker ------------------------------------------------------------------------------------

def test_marker_round_trip_and_checks():
    url = "http://127.0.0.1/1.31.0/" + NAME
    marker = release.make_marker("1.31.0", "linux", "amd64", url, DIGEST)
    loaded = release.load_marker(release.dump_marker(marker))
    assert loaded == marker and loaded["archive"] == NAME
    assert release.marker_problem(loaded, "1.31.0", "linux", "amd64") is None
    assert release.marker_problem(loaded, "1.31.0", "linux", "amd64", DIGEST) is None
    assert release.marker_problem(loaded, "1.31.0", "linux", "arm64") == "marker records arch 'amd64', not 'arm64'"
    assert "but %s is pinned" % OTHER in release.marker_problem(loaded, "1.31.0", "linux", "amd64", OTHER)
    assert release.marker_problem(None, "1.31.0", "linux", "amd64") == "no valid .meshops-release.json marker"


@pytest.mark.parametrize("text", ["", "not json", "[]", json.dumps({"format": 99, "version": "1.31.0"})])
def test_load_marker_ignores_foreign_content(text):
    assert release.load_marker(text) is None


def test_marker_without_digest_is_not_verified():
    marker = release.make_marker("1.31.0", "linux", "amd64", "http://x/y", "")
    assert release.marker_problem(marker, "1.31.0", "linux", "amd64") == "marker holds no valid sha256 digest"


# --- istioctl version output -------------------------------------------------------------------

@pytest.mark.parametrize("output, expected", [
    ('{"clientVersion":{"version":"1.31.0","revision":"abc","golang_version":"go1.25","status":"Clean","tag":"1.31.0"}}',
     "1.31.0"),
    ("client version: 1.31.0\n", "1.31.0"),
    ("1.30.4\n", "1.30.4"),
    ("no version here", None),
    ("", None),
])
def test_parse_istioctl_version(output, expected):
    assert release.parse_istioctl_version(output) == expected
