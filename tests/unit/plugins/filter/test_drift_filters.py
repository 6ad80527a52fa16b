"""plugins/filter/drift.py: thin wrappers over module_utils/drift and the injection label rule."""

from ansible_collections.meshops.istio.plugins.filter import drift


def test_injection_objects_follow_the_revision():
    assert drift.drift_injection_objects(["default"]) == [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default", "labels": {"istio-injection": "enabled"}}}]
    assert drift.drift_injection_objects(["shop"], "canary")[0]["metadata"]["labels"] == {"istio.io/rev": "canary"}


def test_ignore_errors_and_summary():
    assert drift.drift_ignore_errors([{"kind": "Service", "json_pointers": ["/spec/type"]}]) == []
    assert drift.drift_ignore_errors([{"kind": "Service"}], "x")[0].startswith("x[0].json_pointers")
    summary = drift.drift_summary({"a": {"report": {"status": "clean", "checked": 1, "drifted": 0, "corrected": 0}}, "b": "undefined"})
    assert summary["clusters"]["b"]["status"] == "error" and summary["failed"]


def test_lines():
    entry = {"stage": "addons", "kind": "Service", "namespace": "istio-system", "name": "kiali", "corrected": False,
             "fields": [{"path": "/spec/type", "before": "NodePort", "after": "ClusterIP"}]}
    assert drift.drift_lines(entry) == ["DRIFT Service istio-system/kiali [addons] /spec/type: NodePort -> ClusterIP"]
