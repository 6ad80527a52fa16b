"""The lab's Istio release mirror: build release-shaped archives and serve them on loopback.

A release archive looks like the ones Istio publishes::

    <root>/<version>/istio-<version>-<os>-<arch>.tar.gz
    <root>/<version>/istio-<version>-<os>-<arch>.tar.gz.sha256   "<hex>  <archive name>"

and unpacks to ``istio-<version>/`` holding ``bin/istioctl`` (the Go-built binary, mode
0755), ``samples/`` (``lab/fixtures/samples``), ``manifests/`` (``lab/fixtures/manifests``)
and ``manifest.yaml``. So a role pointed at ``http://127.0.0.1:<port>`` through its base-URL
variable fetches ``<base>/<version>/istio-<version>-linux-amd64.tar.gz`` exactly as it would
from the project's download site.

Archives are deterministic (sorted entries, fixed mtime, uid/gid 0, no gzip name or time):
the digest changes only when an input does. A stamp of the inputs' hashes next to the
archive makes a repeated build a no-op.

The server answers GET and HEAD for files under the root, 404 for anything else (dotfiles
included), and appends one line per request to a log file::

    <UTC time> <method> <path without query> <status> <Content-Length or ->

``read_log()`` parses it, so tests can count downloads. It binds only to 127.0.0.0/8.

Library use (lab/lab.py)::

    from lab import mirror
    release = mirror.build_release("1.31.0", "/path/to/istioctl", root)
    server = mirror.serve(root, port=0, log_path=log, background=True)
    url = server.url + release["url_path"]
    ...
    server.shutdown(); server.server_close()

Command line (from the checkout's root)::

    python -m lab.mirror build --version V --istioctl PATH --root DIR [--os linux --arch amd64]
    python -m lab.mirror build --from-lab --root DIR      # every Istio version lab/build.py lists
    python -m lab.mirror serve --root DIR [--host 127.0.0.1] [--port N] [--log FILE] [--port-file F]

Standard library only.
"""

import argparse
import datetime
import functools
import gzip
import hashlib
import http.server
import io
import ipaddress
import json
import os
import re
import sys
import tarfile
import tempfile
import threading
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
SAMPLES_DIR = os.path.join(FIXTURES, "samples")
MANIFESTS_DIR = os.path.join(FIXTURES, "manifests")

# Bump when the archive layout or the way it is written changes: it is part of the stamp.
FORMAT = "meshops-lab-release/1"
# Every archive entry carries this mtime (2020-01-01T00:00:00Z) and uid/gid 0.
FIXED_MTIME = 1577836800
CHUNK = 1 << 20

_VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+(?:-[0-9A-Za-z.]+)?$")
_WORD_RE = re.compile(r"^[a-z0-9_]+$")
LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


# ---------------------------------------------------------------------------- naming


def check_version(version):
    """Return ``version`` if it is an Istio release number (1.31.0, 1.31.0-rc.1), else raise."""
    if not isinstance(version, str) or not _VERSION_RE.match(version):
        raise ValueError("version %r is not an Istio release number like 1.31.0 or 1.31.0-rc.1" % (version,))
    return version


def archive_name(version, os_name="linux", arch="amd64"):
    """File name of a release archive, as Istio names them."""
    check_version(version)
    for label, value in (("os_name", os_name), ("arch", arch)):
        if not isinstance(value, str) or not _WORD_RE.match(value):
            raise ValueError("%s %r must be lower-case letters, digits or '_' (for example linux, amd64)"
                             % (label, value))
    return "istio-%s-%s-%s.tar.gz" % (version, os_name, arch)


def url_path(version, os_name="linux", arch="amd64"):
    """Path of the archive below the mirror's base URL, with a leading slash."""
    return "/%s/%s" % (version, archive_name(version, os_name, arch))


def check_host(host):
    """Return ``host`` if it is an IPv4 address in 127.0.0.0/8, else raise ValueError."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or address.version != 4 or address not in LOOPBACK:
        raise ValueError("host %r refused: the lab mirror binds only to an IPv4 address in 127.0.0.0/8 "
                         "(for example 127.0.0.1)" % (host,))
    return host


# ---------------------------------------------------------------------------- building


def _file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _tree_entries(src_dir, prefix):
    """(arcname, mode, path) for every regular file below src_dir, and its directories."""
    entries = []
    if not os.path.isdir(src_dir):
        raise FileNotFoundError("fixture directory %s does not exist" % src_dir)
    for current, dirs, files in os.walk(src_dir):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        rel = os.path.relpath(current, src_dir)
        base = prefix if rel == "." else "%s/%s" % (prefix, rel.replace(os.sep, "/"))
        entries.append((base + "/", 0o755, None))
        for name in sorted(files):
            if name.startswith(".") or name.endswith((".pyc", "~")):
                continue
            path = os.path.join(current, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            entries.append(("%s/%s" % (base, name), mode, path))
    return entries


def _manifest_yaml(version, os_name, arch):
    return (
        "# Release manifest of the meshops.istio lab mirror (lab/mirror.py).\n"
        "version: %s\n"
        "hub: docker.io/istio\n"
        "os: %s\n"
        "arch: %s\n"
        "format: %s\n" % (version, os_name, arch, FORMAT)
    ).encode("utf-8")


def release_entries(version, istioctl_path, os_name="linux", arch="amd64",
                    samples_dir=SAMPLES_DIR, manifests_dir=MANIFESTS_DIR):
    """Everything that goes into the archive, sorted by name: (arcname, mode, path or bytes)."""
    top = "istio-%s" % version
    if not os.path.isfile(istioctl_path):
        raise FileNotFoundError("istioctl binary %s does not exist" % istioctl_path)
    entries = [
        (top + "/", 0o755, None),
        (top + "/bin/", 0o755, None),
        (top + "/bin/istioctl", 0o755, os.path.abspath(istioctl_path)),
        (top + "/manifest.yaml", 0o644, _manifest_yaml(version, os_name, arch)),
    ]
    entries += _tree_entries(samples_dir, top + "/samples")
    entries += _tree_entries(manifests_dir, top + "/manifests")
    entries.sort(key=lambda entry: entry[0])
    names = [entry[0] for entry in entries]
    if len(names) != len(set(names)):
        raise ValueError("duplicate archive entries: %s" % sorted({n for n in names if names.count(n) > 1}))
    return entries


def inputs_digest(version, os_name, arch, entries):
    """sha256 over the format, the target and every entry's name, mode and content hash."""
    digest = hashlib.sha256()
    digest.update(("%s\n%s\n%s\n%s\n" % (FORMAT, version, os_name, arch)).encode("utf-8"))
    for name, mode, source in entries:
        if source is None:
            content = "dir"
        elif isinstance(source, bytes):
            content = hashlib.sha256(source).hexdigest()
        else:
            content = _file_sha256(source)
        digest.update(("%s\0%o\0%s\n" % (name, mode, content)).encode("utf-8"))
    return digest.hexdigest()


def _tarinfo(name, mode, size):
    info = tarfile.TarInfo(name.rstrip("/") if name.endswith("/") else name)
    info.mode = mode
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if name.endswith("/"):
        info.type = tarfile.DIRTYPE
        info.size = 0
    else:
        info.type = tarfile.REGTYPE
        info.size = size
    return info


def _partial_name(path):
    """A fresh hidden temporary file beside path (so concurrent builders never share one)."""
    handle, partial = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".partial",
                                       dir=os.path.dirname(path))
    os.close(handle)
    return partial


def _write_archive(path, entries):
    """Write a deterministic .tar.gz of entries to path (atomically); return its sha256."""
    partial = _partial_name(path)
    try:
        with open(partial, "wb") as raw:
            # filename="" and mtime=0 keep the gzip header free of names and times.
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=1) as gz:
                with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    for name, mode, source in entries:
                        if source is None:
                            tar.addfile(_tarinfo(name, mode, 0))
                        elif isinstance(source, bytes):
                            tar.addfile(_tarinfo(name, mode, len(source)), io.BytesIO(source))
                        else:
                            with open(source, "rb") as handle:
                                size = os.fstat(handle.fileno()).st_size
                                tar.addfile(_tarinfo(name, mode, size), handle)
        digest = _file_sha256(partial)
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    except BaseException:
        _discard(partial)
        raise
    return digest


def _write_text(path, text):
    partial = _partial_name(path)
    try:
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    except BaseException:
        _discard(partial)
        raise


def _discard(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def build_release(version, istioctl_path, root, os_name="linux", arch="amd64",
                  samples_dir=SAMPLES_DIR, manifests_dir=MANIFESTS_DIR):
    """Write ``<root>/<version>/istio-<version>-<os>-<arch>.tar.gz`` and its ``.sha256``.

    Returns a dict: ``path`` (the archive), ``sha256`` (its hex digest), ``url_path``
    (``/<version>/<archive>``, to append to the mirror's base URL), ``sha256_path`` and
    ``rebuilt`` (False when the stamp of the inputs matched and nothing was written).
    """
    name = archive_name(version, os_name, arch)
    entries = release_entries(version, istioctl_path, os_name, arch, samples_dir, manifests_dir)
    inputs = inputs_digest(version, os_name, arch, entries)
    out_dir = os.path.join(os.path.abspath(root), version)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    sha_path = path + ".sha256"
    stamp_path = os.path.join(out_dir, ".%s.stamp" % name)
    result = {"path": path, "sha256_path": sha_path, "url_path": url_path(version, os_name, arch)}

    stamp = _read_json(stamp_path)
    if stamp and stamp.get("inputs") == inputs and os.path.isfile(path) and os.path.isfile(sha_path):
        digest = _file_sha256(path)
        with open(sha_path, encoding="utf-8") as handle:
            recorded = handle.read().split()
        if digest == stamp.get("sha256") and recorded[:2] == [digest, name]:
            result.update(sha256=digest, rebuilt=False)
            return result

    digest = _write_archive(path, entries)
    _write_text(sha_path, "%s  %s\n" % (digest, name))
    _write_text(stamp_path, json.dumps({"inputs": inputs, "sha256": digest, "format": FORMAT}) + "\n")
    result.update(sha256=digest, rebuilt=True)
    return result


def lab_istio_releases():
    """[(version, istioctl path)] for every Istio piece lab/build.py knows (current, previous)."""
    from . import build  # pylint: disable=import-outside-toplevel

    specs = build.pieces(build.load_versions())
    releases = []
    for piece, piece_spec in sorted(specs.items()):
        if "istioctl" in piece_spec.get("binaries", ()):
            releases.append((piece_spec["version"],
                             os.path.join(build.path_of(piece, piece_spec), "istioctl")))
    return releases


# ---------------------------------------------------------------------------- serving


class _RequestLog:
    """Appends one line per request to a file; safe across the server's threads."""

    def __init__(self, path):
        self.path = path
        self._lock = threading.Lock()
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def write(self, method, path, status, size):
        if not self.path:
            return
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        line = "%s %s %s %d %s\n" % (stamp, method, path, int(status), size)
        with self._lock:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)


def read_log(log_path):
    """Parse a request log: a list of dicts with time, method, path, status (int), size."""
    entries = []
    if not os.path.exists(log_path):
        return entries
    with open(log_path, encoding="utf-8") as handle:
        for line in handle:
            parts = line.split()
            if len(parts) != 5:
                continue
            entries.append({"time": parts[0], "method": parts[1], "path": parts[2],
                            "status": int(parts[3]), "size": parts[4]})
    return entries


class MirrorHandler(http.server.SimpleHTTPRequestHandler):
    """Files under the root, 404 for the rest; no directory listings, no dotfiles."""

    server_version = "meshops-lab-mirror/1"

    def __init__(self, *args, request_log=None, **kwargs):
        self.request_log = request_log  # set per server through functools.partial
        super().__init__(*args, **kwargs)

    def _refused(self):
        parsed = urllib.parse.urlsplit(self.path).path
        parts = [p for p in urllib.parse.unquote(parsed).split("/") if p]
        if any(p.startswith(".") for p in parts):
            return True
        target = self.translate_path(self.path)
        return not os.path.isfile(target)

    def send_head(self):
        if self._refused():
            self.send_error(404, "Not Found")
            return None
        return super().send_head()

    # The line is written in end_headers, before the headers reach the client, so a client
    # that has its answer always finds its request in the log.
    def send_response(self, code, message=None):
        self._status = int(code)
        self._length = "-"
        super().send_response(code, message)

    def send_header(self, keyword, value):
        if keyword.lower() == "content-length":
            self._length = str(value)
        super().send_header(keyword, value)

    def end_headers(self):
        if self.request_log is not None and getattr(self, "_status", None) is not None:
            method = getattr(self, "command", None) or "-"
            path = (getattr(self, "path", None) or "-").split("?", 1)[0] or "-"
            self.request_log.write(method, path, self._status, self._length)
            self._status = None
        super().end_headers()

    def log_request(self, code="-", size="-"):
        """Requests are logged to the request log file by end_headers."""

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """Keep stderr quiet: the request log file is the record."""


class MirrorServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    @property
    def url(self):
        host, port = self.server_address[:2]
        return "http://%s:%d" % (host, port)


def make_server(root, host="127.0.0.1", port=0, log_path=None):
    """A bound (not yet serving) MirrorServer for root; refuses hosts outside 127.0.0.0/8."""
    check_host(host)
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError("port %r must be an integer from 0 to 65535 (0 picks a free port)" % (port,))
    root = os.path.abspath(root)
    os.makedirs(root, exist_ok=True)
    handler = functools.partial(MirrorHandler, directory=root, request_log=_RequestLog(log_path))
    server = MirrorServer((host, port), handler)
    server.root = root
    server.log_path = log_path
    return server


def serve(root, host="127.0.0.1", port=0, log_path=None, background=False):
    """Serve root over HTTP on host:port (port 0 picks one; see ``server.url``).

    With ``background=True`` the server runs in a daemon thread and is returned at once;
    stop it with ``server.shutdown(); server.server_close()``. Otherwise this blocks until
    interrupted and returns the closed server.
    """
    server = make_server(root, host, port, log_path)
    if background:
        thread = threading.Thread(target=server.serve_forever, name="lab-mirror", daemon=True)
        thread.start()
        server.thread = thread
        return server
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return server


# ---------------------------------------------------------------------------- CLI


def _cmd_build(args):
    if args.from_lab:
        if args.version or args.istioctl:
            raise SystemExit("mirror build: --from-lab takes no --version/--istioctl")
        targets = lab_istio_releases()
    else:
        if not (args.version and args.istioctl):
            raise SystemExit("mirror build: give --version and --istioctl, or --from-lab")
        targets = [(args.version, args.istioctl)]
    results = []
    for version, istioctl in targets:
        result = build_release(version, istioctl, args.root, args.os, args.arch)
        results.append(result)
        print("[lab mirror] %s %s %s" % ("built " if result["rebuilt"] else "cached", result["sha256"],
                                         result["path"]), file=sys.stderr, flush=True)
    print(json.dumps(results if args.from_lab else results[0], indent=2, sort_keys=True))
    return 0


def _cmd_serve(args):
    server = make_server(args.root, args.host, args.port, args.log)
    if args.port_file:
        _write_text(args.port_file, "%d\n" % server.server_address[1])
    print("[lab mirror] serving %s at %s" % (server.root, server.url), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.mirror", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build release archives into --root")
    build.add_argument("--root", required=True, help="mirror root directory")
    build.add_argument("--version", help="Istio release number, e.g. 1.31.0")
    build.add_argument("--istioctl", help="path of the istioctl binary to pack")
    build.add_argument("--os", default="linux", help="target OS in the archive name (default linux)")
    build.add_argument("--arch", default="amd64", help="target arch in the archive name (default amd64)")
    build.add_argument("--from-lab", action="store_true",
                       help="build every Istio version lab/build.py lists, from its cached istioctl")
    srv = sub.add_parser("serve", help="serve --root over HTTP on loopback")
    srv.add_argument("--root", required=True, help="mirror root directory")
    srv.add_argument("--host", default="127.0.0.1", help="IPv4 address in 127.0.0.0/8 (default 127.0.0.1)")
    srv.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one)")
    srv.add_argument("--log", help="append one line per request to this file")
    srv.add_argument("--port-file", help="write the bound port to this file once listening")
    args = parser.parse_args(argv)
    try:
        return _cmd_build(args) if args.command == "build" else _cmd_serve(args)
    except (ValueError, FileNotFoundError) as exc:
        print("mirror.py %s: %s" % (args.command, exc), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
