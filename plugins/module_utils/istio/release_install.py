# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install an Istio release archive side by side under an install root, atomically.

The network is reached only through a `fetch(url)` callable handed in by the caller (the
module passes one built on ansible.module_utils.urls.open_url); it returns a readable
response or raises FetchError. Everything is staged in a temporary directory inside the
install root and moved into place with a rename once the archive is verified.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import hashlib
import os
import shutil
import stat
import tarfile
import tempfile

from ansible_collections.meshops.istio.plugins.module_utils.istio.release import (
    MARKER_NAME,
    ReleaseError,
    archive_name,
    archive_url,
    check_member,
    checksum_url,
    digest_mismatch,
    dump_marker,
    is_version,
    load_marker,
    make_marker,
    marker_problem,
    normalize_digest,
    parse_checksum_file,
    release_dir_name,
    resolve_arch,
    resolve_os,
    sort_versions,
    validate_version,
)

CHUNK = 1024 * 1024


class FetchError(Exception):
    """A download failed; `status` is the HTTP status when there was one."""

    def __init__(self, url, status=None, reason=""):
        self.url = url
        self.status = status
        self.reason = reason
        if status:
            text = "HTTP %s %s for %s" % (status, reason, url)
        else:
            text = "cannot fetch %s: %s" % (url, reason)
        super(FetchError, self).__init__(" ".join(text.split()))


def read_marker(release_dir):
    path = os.path.join(release_dir, MARKER_NAME)
    try:
        with open(path, "r") as handle:
            return load_marker(handle.read())
    except (IOError, OSError):
        return None


def plan(install_dir, version, os_name, arch, base_url, pinned=None):
    """Work out paths, URLs and what needs doing; reads the disk, changes nothing."""
    validate_version(version)
    os_name = resolve_os(os_name)
    arch = resolve_arch(arch)
    if pinned is not None:
        pinned = normalize_digest(pinned, "pinned sha256")
    install_dir = os.path.abspath(os.path.expanduser(install_dir))
    if os.path.exists(install_dir) and not os.path.isdir(install_dir):
        raise ReleaseError("install directory %s exists and is not a directory" % install_dir)
    release_dir = os.path.join(install_dir, release_dir_name(version))
    url = archive_url(base_url, version, os_name, arch)
    result = {
        "version": version,
        "os": os_name,
        "arch": arch,
        "install_dir": install_dir,
        "release_dir": release_dir,
        "istioctl": os.path.join(release_dir, "bin", "istioctl"),
        "samples_dir": os.path.join(release_dir, "samples"),
        "manifests_dir": os.path.join(release_dir, "manifests"),
        "archive": archive_name(version, os_name, arch),
        "url": url,
        "checksum_url": checksum_url(url),
        "pinned": pinned,
        "marker": None,
    }
    if os.path.lexists(release_dir) and not os.path.isdir(release_dir):
        raise ReleaseError("%s exists and is not a directory" % release_dir)
    if not os.path.isdir(release_dir):
        result.update(operation="install", reason="%s does not exist" % release_dir)
        return result
    marker = read_marker(release_dir)
    problem = marker_problem(marker, version, os_name, arch, pinned)
    if problem is None and not os.path.isfile(result["istioctl"]):
        problem = "%s is missing" % result["istioctl"]
    if problem is None:
        result.update(operation="none", reason="%s holds a verified release" % release_dir, marker=marker)
    else:
        result.update(operation="reinstall", reason="%s is not a verified release: %s" % (release_dir, problem))
    return result


def installed_versions(install_dir):
    """Versions with a verified release directory (a marker) under install_dir, oldest first."""
    install_dir = os.path.abspath(os.path.expanduser(install_dir))
    found = []
    try:
        names = os.listdir(install_dir)
    except OSError:
        return []
    for name in names:
        if not name.startswith("istio-") or not is_version(name[len("istio-"):]):
            continue
        marker = read_marker(os.path.join(install_dir, name))
        if marker is not None and marker.get("version") == name[len("istio-"):]:
            found.append(marker["version"])
    return sort_versions(found)


def _make_dirs(path):
    """os.makedirs that returns the directories it created, outermost first."""
    missing = []
    current = path
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for directory in reversed(missing):
        os.mkdir(directory)
    return list(reversed(missing))


def _remove_empty(directories):
    for directory in reversed(directories):
        try:
            os.rmdir(directory)
        except OSError:
            pass


def _fetch_text(fetch, url, limit=65536):
    response = fetch(url)
    try:
        data = response.read(limit + 1)
    finally:
        close = getattr(response, "close", None)
        if close:
            close()
    if len(data) > limit:
        raise ReleaseError("%s is larger than %d bytes; it is not a checksum file" % (url, limit))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ReleaseError("%s is not a text checksum file" % url)


def _download(fetch, url, dest):
    """Stream url into dest; return the sha256 hex digest of what was written."""
    digest = hashlib.sha256()
    response = fetch(url)
    try:
        with open(dest, "wb") as handle:
            while True:
                chunk = response.read(CHUNK)
                if not chunk:
                    break
                digest.update(chunk)
                handle.write(chunk)
    finally:
        close = getattr(response, "close", None)
        if close:
            close()
    return digest.hexdigest()


def _member_kind(member):
    if member.isdir():
        return "dir"
    if member.isfile():
        return "file"
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hardlink"
    return "special file"


def extract(archive_path, dest, top):
    """Unpack archive_path into dest after checking every member stays under `top`."""
    try:
        archive = tarfile.open(archive_path, "r:gz")
    except (tarfile.TarError, IOError, OSError) as exc:
        raise ReleaseError("%s is not a gzip-compressed tar archive: %s" % (os.path.basename(archive_path), exc))
    with archive:
        members = archive.getmembers()
        if not members:
            raise ReleaseError("%s is empty" % os.path.basename(archive_path))
        for member in members:
            check_member(member.name.rstrip("/"), top, _member_kind(member), member.linkname)
        if hasattr(tarfile, "data_filter"):
            archive.extractall(dest, members=members, filter="data")
        else:  # pragma: no cover - Python without extraction filters; members were checked above
            archive.extractall(dest, members=members)
    return os.path.join(dest, top)


def install(planned, fetch):
    """Download, verify, unpack and move the release into place; returns the sha256.

    On any failure the temporary directory and any directories this call created are
    removed, and an existing release directory is left as it was.
    """
    install_dir = planned["install_dir"]
    release_dir = planned["release_dir"]
    top = os.path.basename(release_dir)
    created = _make_dirs(install_dir)
    staging = None
    try:
        staging = tempfile.mkdtemp(prefix=".%s." % top, suffix=".partial", dir=install_dir)
        try:
            published_text = _fetch_text(fetch, planned["checksum_url"])
        except FetchError as exc:
            if exc.status == 404:
                raise ReleaseError("Istio release %s was not found: %s returned HTTP 404 (archive %s)"
                                   % (planned["version"], planned["checksum_url"], planned["url"]))
            raise ReleaseError("cannot download the checksum of Istio %s: %s" % (planned["version"], exc))
        try:
            published = parse_checksum_file(published_text, planned["archive"])
        except ReleaseError as exc:
            raise ReleaseError("%s: %s" % (planned["checksum_url"], exc))

        archive_path = os.path.join(staging, planned["archive"])
        try:
            actual = _download(fetch, planned["url"], archive_path)
        except FetchError as exc:
            if exc.status == 404:
                raise ReleaseError("Istio release %s was not found: %s returned HTTP 404"
                                   % (planned["version"], planned["url"]))
            raise ReleaseError("cannot download Istio %s: %s" % (planned["version"], exc))
        problem = digest_mismatch(planned["url"], actual, published, planned["checksum_url"], planned["pinned"])
        if problem:
            raise ReleaseError(problem)

        unpacked = extract(archive_path, os.path.join(staging, "unpacked"), top)
        os.remove(archive_path)
        binary = os.path.join(unpacked, "bin", "istioctl")
        if not os.path.isfile(binary) or os.path.islink(binary):
            raise ReleaseError("%s does not contain %s/bin/istioctl" % (planned["url"], top))
        mode = os.stat(binary).st_mode
        os.chmod(binary, mode | stat.S_IXUSR | stat.S_IRUSR)
        marker = make_marker(planned["version"], planned["os"], planned["arch"], planned["url"], actual)
        with open(os.path.join(unpacked, MARKER_NAME), "w") as handle:
            handle.write(dump_marker(marker))

        previous = None
        if os.path.lexists(release_dir):
            previous = os.path.join(staging, "previous")
            os.rename(release_dir, previous)
        try:
            os.rename(unpacked, release_dir)
        except OSError:
            if previous is not None:
                os.rename(previous, release_dir)
            raise
        return actual
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
            staging = None
        _remove_empty(created)
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def remove(planned):
    """Delete the release directory; True when there was one."""
    release_dir = planned["release_dir"]
    if not os.path.lexists(release_dir):
        return False
    staging = tempfile.mkdtemp(prefix=".%s." % os.path.basename(release_dir), suffix=".removing",
                               dir=planned["install_dir"])
    try:
        os.rename(release_dir, os.path.join(staging, "release"))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


def describe(planned, present):
    """One line for --diff about the release directory."""
    if not present:
        return "%s: absent\n" % planned["release_dir"]
    return "%s: Istio %s %s-%s from %s\n" % (
        planned["release_dir"], planned["version"], planned["os"], planned["arch"], planned["url"])


def ensure(install_dir, version, os_name, arch, base_url, fetch, pinned=None, state="present",
           check_mode=False, diff=False):
    """Bring the release to `state`; returns the module result (changed, downloaded, paths, msg...)."""
    planned = plan(install_dir, version, os_name, arch, base_url, pinned)
    result = dict((key, planned[key]) for key in (
        "version", "os", "arch", "release_dir", "istioctl", "samples_dir", "manifests_dir", "url", "checksum_url"))
    was_present = planned["operation"] != "install"
    downloaded = False
    digest = (planned["marker"] or {}).get("sha256", "")

    if state == "absent":
        action = "remove" if was_present else "none"
        if action == "remove":
            if not check_mode:
                remove(planned)
            msg = "%s %s" % ("would remove" if check_mode else "removed", planned["release_dir"])
        else:
            msg = "%s is absent" % planned["release_dir"]
        present = was_present and action == "none"
        digest = ""
    else:
        action = planned["operation"]
        if action == "none":
            present = True
            msg = planned["reason"]
        elif check_mode:
            present = was_present
            msg = "would download %s, verify its sha256 and unpack it to %s (%s)" % (
                planned["url"], planned["release_dir"], planned["reason"])
        else:
            digest = install(planned, fetch)
            downloaded = True
            present = True
            msg = "downloaded %s (sha256 %s) and unpacked it to %s" % (planned["url"], digest, planned["release_dir"])

    changed = action != "none"
    result.update(
        changed=changed,
        downloaded=downloaded,
        operation=action,
        present=present,
        sha256=digest if present else "",
        installed_versions=installed_versions(planned["install_dir"]),
        msg=msg,
    )
    if changed and diff:
        result["diff"] = {
            "before_header": planned["release_dir"],
            "after_header": planned["release_dir"],
            "before": describe(planned, was_present),
            "after": describe(planned, state == "present"),
        }
    return result
