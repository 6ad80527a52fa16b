"""The drift_webhook role POSTs the fleet summary to a receiver on 127.0.0.1 on drift or error,
sends nothing when every cluster is clean, never logs the URL's token or the headers, and fails the
run, saying so, when the receiver refuses the notification."""

import http.server
import json
import os
import subprocess
import sys
import threading

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
TOKEN = "s3cr3t-t0ken"


class Receiver(http.server.BaseHTTPRequestHandler):
    """Records each POST (path, headers, JSON body) and answers with the server's `answer` status."""

    def do_POST(self):  # pylint: disable=invalid-name
        length = int(self.headers.get("Content-Length", "0"))
        self.server.received.append({"path": self.path, "headers": dict(self.headers),
                                     "body": json.loads(self.rfile.read(length) or b"null")})
        self.send_response(self.server.answer)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


@pytest.fixture
def receiver():
    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    server.received = []
    server.answer = 204
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def summary(statuses):
    clusters = {name: {"status": status, "checked": 12, "drifted": 1 if status == "drift" else 0, "corrected": 0,
                       "error": "connection refused" if status == "error" else None}
                for name, status in statuses.items()}
    worst = max(statuses.values(), key=["clean", "corrected", "drift", "error"].index)
    return {"status": worst, "clusters": clusters, "failed": worst in ("drift", "error"),
            "counts": {s: list(statuses.values()).count(s) for s in ("clean", "drift", "corrected", "error")},
            "lines": ["%s: %s" % (n, s) for n, s in sorted(statuses.items())]}


def run(tmp_path, statuses, role_vars):
    out = tmp_path / "out"
    (out / "drift").mkdir(parents=True, exist_ok=True)
    (out / "drift" / "summary.json").write_text(json.dumps(summary(statuses)))
    play = tmp_path / "notify.yml"
    play.write_text(yaml.safe_dump([{"name": "Notify", "hosts": "localhost", "gather_facts": False,
                                     "vars": {"mesh_output_dir": str(out)},
                                     "roles": [{"role": "meshops.istio.drift_webhook"}]}]))
    (tmp_path / "vars.json").write_text(json.dumps(role_vars))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"))
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", "@%s" % (tmp_path / "vars.json"),
                           str(play)], env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def hook_vars(server, **more):
    values = {"drift_webhook_url": "http://127.0.0.1:%d/hooks/%s" % (server.server_port, TOKEN),
              "drift_webhook_headers": {"Authorization": "Bearer " + TOKEN, "X-Team": "mesh"}}
    values.update(more)
    return values


@pytest.mark.parametrize("statuses", [{"east": "clean", "west": "drift"}, {"east": "error", "west": "clean"}])
def test_drift_or_error_posts_the_summary(tmp_path, receiver, statuses):
    rc, out = run(tmp_path, statuses, hook_vars(receiver))
    assert rc == 0, out[-3000:]
    assert len(receiver.received) == 1
    post = receiver.received[0]
    assert post["path"] == "/hooks/" + TOKEN
    assert post["headers"]["Authorization"] == "Bearer " + TOKEN and post["headers"]["X-Team"] == "mesh"
    assert post["headers"]["Content-Type"].startswith("application/json")
    body = post["body"]
    expected = summary(statuses)
    assert {k: body[k] for k in expected} == expected
    assert body["source"] == "meshops.istio drift"
    assert body["text"] == "meshops.istio drift: %s - %s" % (expected["status"], "; ".join(expected["lines"]))
    assert TOKEN not in out
    assert "drift notification sent to 127.0.0.1" in out


def test_clean_fleet_sends_nothing(tmp_path, receiver):
    rc, out = run(tmp_path, {"east": "clean", "west": "corrected"}, hook_vars(receiver))
    assert rc == 0, out[-3000:]
    assert receiver.received == []


def test_statuses_to_notify_on_are_a_variable(tmp_path, receiver):
    rc, out = run(tmp_path, {"east": "corrected"}, hook_vars(receiver, drift_webhook_on=["corrected", "drift", "error"]))
    assert rc == 0, out[-3000:]
    assert [p["body"]["status"] for p in receiver.received] == ["corrected"]


def test_no_url_sends_nothing(tmp_path, receiver):
    rc, out = run(tmp_path, {"east": "drift"}, {})
    assert rc == 0, out[-3000:]
    assert receiver.received == []


def test_a_refused_notification_fails_the_run_without_showing_the_token(tmp_path, receiver):
    receiver.answer = 500
    rc, out = run(tmp_path, {"east": "drift"}, hook_vars(receiver))
    assert rc != 0
    assert len(receiver.received) == 1
    assert "drift_webhook_url (host 127.0.0.1) did not take the drift notification: HTTP status 500" in out, out[-3000:]
    assert TOKEN not in out


def test_an_unreachable_receiver_fails_the_run(tmp_path, receiver):
    port = receiver.server_port
    receiver.shutdown()
    receiver.server_close()
    rc, out = run(tmp_path, {"east": "error"}, {"drift_webhook_url": "http://127.0.0.1:%d/x?token=%s" % (port, TOKEN),
                                                "drift_webhook_timeout": 5})
    assert rc != 0
    assert "drift_webhook_url (host 127.0.0.1) did not take the drift notification" in out, out[-3000:]
    assert TOKEN not in out


@pytest.mark.parametrize("name, value, message", [
    ("drift_webhook_on", ["drifted"], "drift_webhook_on"),
    ("drift_webhook_url", "ftp://127.0.0.1/x", "drift_webhook_url is not an http:// or https:// URL"),
    ("drift_webhook_ulr", "http://127.0.0.1/", "drift_webhook_ulr: the drift_webhook role has no such variable"),
])
def test_bad_input_fails_before_anything_is_sent(tmp_path, receiver, name, value, message):
    role_vars = hook_vars(receiver)
    role_vars[name] = value
    rc, out = run(tmp_path, {"east": "drift"}, role_vars)
    assert rc != 0 and message in out, out[-3000:]
    assert receiver.received == []
