"""drift/record.py: what a record keeps, and its ConfigMap."""

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.drift import record as rec
from ansible_collections.meshops.istio.plugins.module_utils.drift.compare import is_digest


def test_desired_object_drops_server_bookkeeping_and_sets_the_namespace():
    obj = {"apiVersion": "v1", "kind": "Service", "status": {"x": 1},
           "metadata": {"name": "kiali", "uid": "u", "resourceVersion": "3", "creationTimestamp": None, "labels": {"a": "b"},
                        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
           "spec": {"type": "NodePort"}}
    out = rec.desired_object(obj, "istio-system", True)
    assert out == {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kiali", "namespace": "istio-system", "labels": {"a": "b"}},
                   "spec": {"type": "NodePort"}}
    assert "namespace" not in rec.desired_object(dict(obj, metadata={"name": "x", "namespace": "y"}), None, False)["metadata"]


def test_secret_data_is_kept_as_digests():
    out = rec.desired_object({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "c2VjcmV0"}})
    assert is_digest(out["data"]["k"])


def test_a_record_round_trips_and_is_deterministic():
    objects = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default", "labels": {"istio-injection": "enabled"}}}]
    cm = rec.configmap("injection", "istio-system", objects)
    assert cm["metadata"]["name"] == "meshops-drift-injection"
    assert cm["metadata"]["labels"][rec.STAGE_LABEL] == "injection"
    assert cm["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "meshops.istio"
    assert rec.decode(cm)["objects"] == objects
    assert rec.configmap("injection", "istio-system", objects) == cm


def test_large_records_keep_large_strings_as_digests():
    import os
    import base64
    blob = base64.b64encode(os.urandom(800 * 1024)).decode()
    cm = rec.configmap("addons", "istio-system", [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"d": blob}}])
    assert is_digest(rec.decode(cm)["objects"][0]["data"]["d"])


def test_bad_stages_and_objects_are_refused():
    assert rec.stage_problem("control-plane") is None
    assert "stage=" in rec.stage_problem("Control_Plane")
    with pytest.raises(rec.RecordError):
        rec.desired_object({"kind": "Service"})
    with pytest.raises(rec.RecordError):
        rec.decode({"metadata": {"name": "x"}, "binaryData": {rec.DATA_KEY: "bm90Z3ppcA=="}})
