# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers for Istio release archives.

Naming of the published archives, platform mapping, checksum-file parsing, version parsing
and comparison, archive member checks and the marker that records a verified install.
Nothing here touches the network or the file system, so unit tests call it directly.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import posixpath
import re

# Istio's own platform names and the platform names hosts report (Ansible facts
# ansible_system / ansible_architecture, Python's platform.system() / platform.machine()).
SUPPORTED_OSES = ("linux", "osx")
SUPPORTED_ARCHES = ("amd64", "arm64")
OS_ALIASES = {"Linux": "linux", "Darwin": "osx"}
ARCH_ALIASES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}

# MAJOR.MINOR.PATCH with an optional pre-release such as 1.24.0-beta.0 or 1.22.0-rc.1.
VERSION_PATTERN = r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z]+(\.[0-9A-Za-z]+)*)?$"
_VERSION_RE = re.compile(VERSION_PATTERN)
_DIGEST_RE = re.compile(r"^[0-9a-fA-F]{64}$")

MARKER_NAME = ".meshops-release.json"
MARKER_FORMAT = 1


class ReleaseError(Exception):
    """An input or an archive is not what an Istio release should be."""


def _choices(mapping, names):
    return ", ".join("%s (%s)" % (name, "/".join(sorted(k for k, v in mapping.items() if v == name)))
                     for name in names)


def resolve_os(value):
    """Map an OS as Istio names it or as the host reports it to Istio's name."""
    value = (value or "").strip()
    if value in SUPPORTED_OSES:
        return value
    if value in OS_ALIASES:
        return OS_ALIASES[value]
    if value.lower() in SUPPORTED_OSES:
        return value.lower()
    raise ReleaseError("unsupported operating system %r for Istio release archives; supported: %s"
                       % (value, _choices(OS_ALIASES, SUPPORTED_OSES)))


def resolve_arch(value):
    """Map a CPU architecture as Istio names it or as the host reports it to Istio's name."""
    value = (value or "").strip()
    if value in ARCH_ALIASES:
        return ARCH_ALIASES[value]
    if value.lower() in ARCH_ALIASES:
        return ARCH_ALIASES[value.lower()]
    raise ReleaseError("unsupported architecture %r for Istio release archives; supported: %s"
                       % (value, _choices(ARCH_ALIASES, SUPPORTED_ARCHES)))


def is_version(value):
    return bool(_VERSION_RE.match(value or ""))


def is_digest(value):
    """True for a sha256 digest as a release's checksum file gives it: 64 hexadecimal digits."""
    return bool(_DIGEST_RE.match(value or ""))


def validate_version(value):
    if not is_version(value):
        raise ReleaseError("%r is not an Istio release version; expected MAJOR.MINOR.PATCH such as 1.31.0, "
                           "optionally with a pre-release suffix such as 1.31.0-rc.0" % (value,))
    return value


def parse_version(value):
    """Return a key for ordering versions: ((major, minor, patch), pre-release key).

    A release sorts after its pre-releases; pre-release fields compare numerically when
    both are numbers and as text otherwise, numbers first (semantic versioning's rules).
    """
    validate_version(value)
    core, pre = (value.split("-", 1) + [""])[:2]
    numbers = tuple(int(part) for part in core.split("."))
    if not pre:
        return (numbers, (1,))
    fields = []
    for field in pre.split("."):
        if field.isdigit():
            fields.append((0, int(field), ""))
        else:
            fields.append((1, 0, field))
    return (numbers, (0, tuple(fields)))


def compare_versions(left, right):
    """-1, 0 or 1 as left is older than, the same as, or newer than right."""
    a, b = parse_version(left), parse_version(right)
    return (a > b) - (a < b)


def sort_versions(values):
    return sorted(values, key=parse_version)


def archive_name(version, os_name, arch):
    """File name of the full release archive, as Istio publishes it.

    Linux archives carry OS and arch (istio-1.31.0-linux-amd64.tar.gz); the macOS ones are
    istio-<v>-osx.tar.gz for amd64 and istio-<v>-osx-arm64.tar.gz for arm64.
    """
    validate_version(version)
    os_name = resolve_os(os_name)
    arch = resolve_arch(arch)
    if os_name == "osx":
        suffix = "osx" if arch == "amd64" else "osx-arm64"
    else:
        suffix = "%s-%s" % (os_name, arch)
    return "istio-%s-%s.tar.gz" % (version, suffix)


def release_dir_name(version):
    return "istio-%s" % validate_version(version)


def archive_url(base_url, version, os_name, arch):
    """<base>/<version>/<archive name>; base may end with a slash or not."""
    base = (base_url or "").strip()
    if not re.match(r"^https?://[^/]", base):
        raise ReleaseError("base URL %r must start with http:// or https://" % (base_url,))
    return "%s/%s/%s" % (base.rstrip("/"), version, archive_name(version, os_name, arch))


def checksum_url(url):
    return url + ".sha256"


def normalize_digest(value, what="sha256 digest"):
    """Lower-case hex digest; raises ReleaseError unless it is 64 hex digits."""
    digest = (value or "").strip()
    if digest.lower().startswith("sha256:"):
        digest = digest[len("sha256:"):]
    if not _DIGEST_RE.match(digest):
        raise ReleaseError("%s %r is not a sha256 digest (64 hexadecimal digits)" % (what, value))
    return digest.lower()


def parse_checksum_file(text, name=None):
    """Digest for `name` from a sha256sum-style file.

    Accepted lines: `<hex>  <name>`, `<hex> <name>`, `<hex> *<name>` (binary marker) and a
    bare `<hex>`. With several lines, the one naming `name` wins. A file that names only
    other archives is an error: it belongs to a different download.
    """
    entries = []
    for number, raw in enumerate((text or "").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        try:
            digest = normalize_digest(parts[0])
        except ReleaseError:
            raise ReleaseError("line %d of the checksum file is not `<sha256> <file name>`: %r" % (number, raw))
        listed = parts[1].strip() if len(parts) > 1 else ""
        if listed.startswith("*"):
            listed = listed[1:]
        entries.append((digest, posixpath.basename(listed)))
    if not entries:
        raise ReleaseError("the checksum file holds no sha256 digest")
    if name is None:
        if len(entries) > 1:
            raise ReleaseError("the checksum file lists %d digests and no file name was given" % len(entries))
        return entries[0][0]
    named = [digest for digest, listed in entries if listed == name]
    if named:
        return named[0]
    unnamed = [digest for digest, listed in entries if not listed]
    if len(entries) == 1 and unnamed:
        return unnamed[0]
    raise ReleaseError("the checksum file does not list %s (it lists: %s)"
                       % (name, ", ".join(entry[1] or "<no name>" for entry in entries)))


def digest_mismatch(url, actual, published=None, published_from=None, pinned=None):
    """None when `actual` matches every expected digest, else the message naming both."""
    if published is not None and actual != published:
        return ("sha256 mismatch for %s: expected %s (published in %s), got %s; nothing was extracted"
                % (url, published, published_from or checksum_url(url), actual))
    if pinned is not None and actual != pinned:
        return ("sha256 mismatch for %s: expected %s (the pinned digest), got %s; nothing was extracted"
                % (url, pinned, actual))
    return None


def check_member(name, top, kind="file", linkname=None):
    """Raise ReleaseError unless an archive member stays inside `top`.

    `kind` is one of file, dir, symlink, hardlink; anything else (devices, fifos) is refused.
    Link targets must resolve inside `top` as well.
    """
    if kind not in ("file", "dir", "symlink", "hardlink"):
        raise ReleaseError("archive member %s is a %s; only files, directories and links are allowed" % (name, kind))
    if name.startswith("/") or "\\" in name:
        raise ReleaseError("archive member %s has an absolute or non-POSIX path" % name)
    clean = posixpath.normpath(name)
    if clean != top and not clean.startswith(top + "/"):
        raise ReleaseError("archive member %s is outside %s/" % (name, top))
    if kind in ("symlink", "hardlink"):
        target = linkname or ""
        if target.startswith("/"):
            raise ReleaseError("archive member %s links to the absolute path %s" % (name, target))
        if kind == "symlink":
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(clean), target))
        else:
            resolved = posixpath.normpath(target)
        if resolved != top and not resolved.startswith(top + "/"):
            raise ReleaseError("archive member %s links to %s, outside %s/" % (name, target, top))
    return clean


def make_marker(version, os_name, arch, url, digest):
    """Content of the marker file written into a verified release directory."""
    return {
        "format": MARKER_FORMAT,
        "version": version,
        "os": os_name,
        "arch": arch,
        "archive": posixpath.basename(url),
        "url": url,
        "sha256": digest,
    }


def dump_marker(marker):
    return json.dumps(marker, indent=2, sort_keys=True) + "\n"


def load_marker(text):
    """Parse a marker; None when it is not a marker this code wrote."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("format") != MARKER_FORMAT:
        return None
    return data


def marker_problem(marker, version, os_name, arch, pinned=None):
    """None when the marker proves a verified install of this release, else why not."""
    if marker is None:
        return "no valid %s marker" % MARKER_NAME
    for key, want in (("version", version), ("os", os_name), ("arch", arch)):
        if marker.get(key) != want:
            return "marker records %s %r, not %r" % (key, marker.get(key), want)
    try:
        digest = normalize_digest(marker.get("sha256"))
    except ReleaseError:
        return "marker holds no valid sha256 digest"
    if pinned is not None and digest != pinned:
        return "installed archive had sha256 %s, but %s is pinned" % (digest, pinned)
    return None


def parse_istioctl_version(output):
    """Client version from `istioctl version --remote=false` output (json, yaml-less short or text)."""
    text = (output or "").strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            client = data.get("clientVersion") or {}
            if isinstance(client, dict) and client.get("version"):
                return str(client["version"])
    for line in text.splitlines():
        line = line.strip()
        match = re.match(r"^client version:\s*(\S+)$", line, re.IGNORECASE)
        if match:
            return match.group(1)
        if is_version(line):
            return line
    return None
