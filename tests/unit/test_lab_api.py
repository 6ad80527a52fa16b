"""lab.Api (lab/lab.py): the GETs the lab's supervisors poll the API server with, over one kept-alive
HTTPS connection, against a loopback TLS server that counts its connections."""

import http.server
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import types
import urllib.parse

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from lab import lab as labmod  # noqa: E402  pylint: disable=wrong-import-position,import-error


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the API server

    def do_GET(self):  # noqa: N802  pylint: disable=invalid-name
        self.server.seen.append((self.path, self.client_address[1]))
        if "watch=1" in self.path:
            self.watch()
            return
        status, body = {"/missing": (404, b'{"kind": "Status"}'), "/text": (200, b"not json")}.get(
            self.path.split("?")[0], (200, json.dumps({"path": self.path}).encode()))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.path == "/drop":
            # close without saying so (no Connection: close), as a server whose idle timeout ran out
            self.close_connection = True

    def watch(self):
        """A watch, as the API server streams it: resourceVersion=changed sends one event at once,
        any other waits out timeoutSeconds and ends the stream with no event."""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if self.path.startswith("/refused"):
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if query["resourceVersion"] == ["changed"]:
            event = b'{"type": "MODIFIED", "object": {}}\n'
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        else:
            time.sleep(float(query["timeoutSeconds"][0]))
        self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True

    def log_message(self, *_args):
        pass


@pytest.fixture(scope="module")
def pems(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.fail("openssl is needed (make system-deps installs it)")
    base = tmp_path_factory.mktemp("pki")
    cert, key = str(base / "cert.pem"), str(base / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


@pytest.fixture
def server(pems):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*pems)
    srv.socket = context.wrap_socket(srv.socket, server_side=True)
    srv.seen = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def api_for(tmp_path, pems, port):
    cert, key = pems
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "clusters": [{"name": "lab", "cluster": {"server": "https://127.0.0.1:%d" % port, "certificate-authority": cert}}],
        "users": [{"name": "lab", "user": {"client-certificate": cert, "client-key": key}}],
    }))
    return labmod.Api(types.SimpleNamespace(kubeconfig=str(kubeconfig)))


def connections(server):
    return len(set(port for _path, port in server.seen))


def test_polls_share_one_connection(tmp_path, pems, server):
    api = api_for(tmp_path, pems, server.server_address[1])
    for _poll in range(5):
        assert api.get("/api/v1/pods") == {"path": "/api/v1/pods"}
    assert len(server.seen) == 5
    assert connections(server) == 1


def test_a_connection_the_server_dropped_is_made_again_once(tmp_path, pems, server):
    api = api_for(tmp_path, pems, server.server_address[1])
    assert api.get("/drop") == {"path": "/drop"}
    assert api.get("/api/v1/pods?limit=1") == {"path": "/api/v1/pods?limit=1"}
    assert [path for path, _port in server.seen] == ["/drop", "/api/v1/pods?limit=1"]
    assert connections(server) == 2


def test_an_error_status_or_a_body_that_is_not_json_is_none_and_keeps_the_connection(tmp_path, pems, server):
    api = api_for(tmp_path, pems, server.server_address[1])
    assert api.get("/missing") is None
    assert api.get("/text") is None
    assert api.get("/ok") == {"path": "/ok"}
    assert connections(server) == 1


def test_no_server_is_none(tmp_path, pems):
    with http.server.HTTPServer(("127.0.0.1", 0), Handler) as closed:
        port = closed.server_address[1]  # a port nothing listens on once this server is closed
    assert api_for(tmp_path, pems, port).get("/api/v1/pods") is None


def test_wait_for_change_returns_at_the_first_event_of_a_watch_from_the_resource_version(tmp_path, pems, server):
    api = api_for(tmp_path, pems, server.server_address[1])
    started = time.monotonic()
    assert api.wait_for_change("/api/v1/pods", "changed", 30) is True
    assert time.monotonic() - started < 10  # the event, not timeoutSeconds, ended the wait
    path = server.seen[-1][0]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    assert path.startswith("/api/v1/pods?")
    assert query["watch"] == ["1"] and query["resourceVersion"] == ["changed"] and query["timeoutSeconds"] == ["30"]


def test_wait_for_change_is_false_when_the_watch_ends_without_an_event(tmp_path, pems, server):
    api = api_for(tmp_path, pems, server.server_address[1])
    started = time.monotonic()
    assert api.wait_for_change("/api/v1/namespaces/istio-system/configmaps?labelSelector=istio.io%2Frev", "41", 1) is False
    assert time.monotonic() - started >= 1
    path = server.seen[-1][0]
    assert path.startswith("/api/v1/namespaces/istio-system/configmaps?labelSelector=istio.io%2Frev&watch=1&")


def test_wait_for_change_lists_again_when_it_cannot_watch(tmp_path, pems, server):
    api = api_for(tmp_path, pems, server.server_address[1])
    assert api.wait_for_change("/refused", "41", 0.1) is True  # a refused watch: list again
    assert api.wait_for_change("/api/v1/pods", None, 0.1) is True  # no resourceVersion to watch from
    assert [path for path, _port in server.seen] == ["/refused?watch=1&resourceVersion=41&timeoutSeconds=1&allowWatchBookmarks=false"]
    with http.server.HTTPServer(("127.0.0.1", 0), Handler) as closed:
        port = closed.server_address[1]
    assert api_for(tmp_path, pems, port).wait_for_change("/api/v1/pods", "41", 0.1) is True


def test_a_stop_signal_ends_a_supervisor_wait_at_once(tmp_path, pems, server):
    api = api_for(tmp_path, pems, server.server_address[1])
    saved = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        stop = labmod.StopSignals()
        timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
        timer.start()
        started = time.monotonic()
        stop.wait_for_change(api, "/api/v1/pods", "41", 30)  # a quiet watch of 30 s
        assert time.monotonic() - started < 10
        assert stop.requested
        # once a stop is requested, no other wait starts
        seen = len(server.seen)
        stop.wait_for_change(api, "/api/v1/pods", "changed", 30)
        assert len(server.seen) == seen
    finally:
        signal.signal(signal.SIGTERM, saved[0])
        signal.signal(signal.SIGINT, saved[1])
