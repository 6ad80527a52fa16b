# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release-shaped Istio archives and a loopback HTTP server that serves them, for tests.

The archives are built here, by the tests: istio-<v>/bin/istioctl is a tiny shell script that
answers `version --remote=false` (text or --output=json) and refuses anything else, next to
samples/ and manifests/ directories with placeholder files.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAKE_ISTIOCTL = """#!/bin/sh
# Stand-in for istioctl built by the meshops.istio tests: it only knows
# `istioctl version --remote=false [--output=json|-o json]`.
[ "$1" = version ] || { echo "fake istioctl: unsupported command: $*" >&2; exit 64; }
remote=true
json=false
prev=""
for arg in "$@"; do
  case "$arg" in
    --remote=false) remote=false ;;
    --output=json|-ojson) json=true ;;
    json) [ "$prev" = "-o" ] || [ "$prev" = "--output" ] && json=true ;;
  esac
  prev="$arg"
done
[ "$remote" = false ] || { echo "fake istioctl: no cluster here, pass --remote=false" >&2; exit 65; }
if [ "$json" = true ]; then
  printf '{"clientVersion":{"version":"%s","revision":"test","golang_version":"none","status":"Clean","tag":"%s"}}\\n' \\
    "@VERSION@" "@VERSION@"
else
  echo "client version: @VERSION@"
fi
"""


def _add(archive, name, data, mode=0o644, kind=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = 1700000000
    info.linkname = linkname
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    else:
        archive.addfile(info)


def build_release(version, reports=None, extra=None, without_istioctl=False):
    """gzip tar bytes of a release-shaped archive for `version`.

    reports: the version the fake istioctl prints (default: `version`).
    extra: list of (name, data, mode, tar type, linkname) members appended as given.
    """
    top = "istio-%s" % version
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as archive:
        for directory in ("", "/bin", "/samples", "/samples/bookinfo", "/samples/bookinfo/platform",
                          "/samples/bookinfo/platform/kube", "/samples/addons", "/manifests", "/manifests/profiles"):
            _add(archive, top + directory, b"", 0o755, tarfile.DIRTYPE)
        if not without_istioctl:
            script = FAKE_ISTIOCTL.replace("@VERSION@", reports or version).encode()
            _add(archive, top + "/bin/istioctl", script, 0o755)
        _add(archive, top + "/samples/bookinfo/platform/kube/bookinfo.yaml", b"# test placeholder for bookinfo\n")
        _add(archive, top + "/samples/addons/README.md", b"test placeholder for the addons\n")
        _add(archive, top + "/manifests/profiles/default.yaml", b"# test placeholder profile\n")
        for name, data, mode, kind, linkname in extra or []:
            _add(archive, name, data, mode, kind, linkname)
    return buf.getvalue()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def checksum_file(data, name, style="two"):
    """The .sha256 text for `data` as `<hex>  name` (two), `<hex> name` (one), `<hex> *name` (star) or `<hex>` (bare)."""
    digest = sha256(data)
    return {
        "two": "%s  %s\n" % (digest, name),
        "one": "%s %s\n" % (digest, name),
        "star": "%s *%s\n" % (digest, name),
        "bare": "%s\n" % digest,
    }[style].encode()


def archive_name(version, os_name="linux", arch="amd64"):
    if os_name == "osx":
        return "istio-%s-%s.tar.gz" % (version, "osx" if arch == "amd64" else "osx-arm64")
    return "istio-%s-%s-%s.tar.gz" % (version, os_name, arch)


class ReleaseServer(object):
    """HTTP server on 127.0.0.1 serving `files` (URL path -> bytes); records every request path."""

    def __init__(self):
        self.files = {}
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self):
        return "http://127.0.0.1:%d/releases" % self._httpd.server_address[1]

    def publish(self, version, archive, checksum=None, os_name="linux", arch="amd64", style="two"):
        """Serve `archive` and its .sha256 (given text, or computed in `style`) for `version`."""
        name = archive_name(version, os_name, arch)
        path = "/releases/%s/%s" % (version, name)
        self.files[path] = archive
        self.files[path + ".sha256"] = checksum if checksum is not None else checksum_file(archive, name, style)
        return "http://127.0.0.1:%d%s" % (self._httpd.server_address[1], path)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
