"""drift/report.py: statuses, redaction, Markdown, JUnit, Prometheus textfile, fleet summary."""

import xml.etree.ElementTree as ET

from ansible_collections.meshops.istio.plugins.module_utils.drift import report as rep

SVC = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kiali", "namespace": "istio-system"}}


def _report(objects, status="drift", error=None, corrected=0):
    return {"cluster": "lab", "mode": "check", "status": status, "started": "2026-01-01T00:00:00Z",
            "finished": "2026-01-01T00:00:01Z", "duration": 1.0, "checked": 2, "drifted": len(objects),
            "corrected": corrected, "error": error, "objects": objects}


def test_statuses():
    assert rep.status_of("check", 0, 0) == "clean"
    assert rep.status_of("check", 2, 0) == "drift"
    assert rep.status_of("correct", 2, 2) == "corrected"
    assert rep.status_of("correct", 2, 1) == "drift"
    assert rep.status_of("check", 0, 0, "refused") == "error"


def test_secret_values_are_redacted():
    entry = rep.object_entry("addons", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "n"}},
                             [{"path": "/data/token", "before": "a", "after": "b"},
                              {"path": "/metadata/labels/x", "before": "a", "after": "b"}])
    assert entry["fields"][0]["before"] == rep.REDACTED and entry["fields"][0]["after"] == rep.REDACTED
    assert entry["fields"][1]["after"] == "b"


def test_markdown_and_junit():
    entry = rep.object_entry("addons", SVC, [{"path": "/spec/type", "before": "NodePort", "after": "ClusterIP"}])
    report = _report([entry])
    assert "| addons | Service istio-system/kiali | `/spec/type` | NodePort | ClusterIP |" in rep.markdown(report)
    managed = [("addons", "Service", "istio-system", "kiali"), ("addons", "Service", "istio-system", "grafana")]
    root = ET.fromstring(rep.junit(report, managed))
    suite = root.find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "1"
    failed = [c for c in suite.findall("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["Service istio-system/kiali"]
    assert "/spec/type: NodePort -> ClusterIP" in failed[0].find("failure").text
    error = ET.fromstring(rep.junit(_report([], "error", "connection refused"), []))
    assert error.find("testsuite").get("errors") == "1"


def test_prometheus_textfile_keeps_the_last_success_on_error():
    clean = rep.prometheus(_report([], "clean"), 1700000000.0)
    assert 'meshops_istio_drift_objects{cluster="lab"} 0' in clean
    assert 'meshops_istio_drift_status{cluster="lab",status="clean"} 1' in clean
    assert rep.previous_success(clean, "lab") == 1700000000.0
    failed = rep.prometheus(_report([], "error", "down"), 1800000000.0, rep.previous_success(clean, "lab"))
    assert 'meshops_istio_drift_last_success_timestamp_seconds{cluster="lab"} 1700000000.000' in failed
    assert 'status="error"} 1' in failed


def test_fleet_summary():
    results = {"a": {"report": _report([], "clean")}, "b": {"report": _report([{}], "drift")}, "c": None}
    summary = rep.summary(results)
    assert summary["status"] == "error" and summary["failed"]
    assert summary["clusters"]["c"]["status"] == "error"
    assert summary["counts"] == {"clean": 1, "drift": 1, "corrected": 0, "error": 1}
    ok = rep.summary({"a": {"report": _report([], "clean")}, "b": {"report": _report([], "corrected")}})
    assert ok["status"] == "corrected" and not ok["failed"]
