"""plugins/module_utils/runners/probe.py and plugins/modules/mesh_probe.py: run the probe command, never change anything."""

import importlib
import json

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.runners import probe
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import RunnerError

COMMAND = ["python", "lab/lab.py", "probe", "--name", "x"]
ANSWER = {"source": {"namespace": "bookinfo", "pod": "productpage-v1-abc", "app": "productpage", "version": "v1", "mesh": True,
                     "service_account": "bookinfo-productpage"},
          "target": "xds:///reviews.bookinfo.svc.cluster.local:9080", "to": "reviews.bookinfo.svc.cluster.local:9080",
          "mode": "mesh", "headers": ["end-user=jason"],
          "calls": [{"i": 0, "code": "OK", "version": "v2", "host": "reviews-v2-x", "ms": 4.0},
                    {"i": 1, "code": "OK", "version": "v2", "host": "reviews-v2-x", "ms": 2.0}]}


def params(**kwargs):
    base = {"command": COMMAND, "source": None, "to": None, "headers": {}, "count": 1, "timeout": 10.0, "plain": False, "probes": []}
    base.update(kwargs)
    return base


class Recorder(object):
    def __init__(self, rc=0, out="", err=""):
        self.rc, self.out, self.err, self.seen = rc, out, err, []

    def __call__(self, argv, data=None):
        self.seen.append((argv, data))
        return self.rc, self.out, self.err


def test_one_probe():
    runner = Recorder(out=json.dumps(ANSWER))
    result = probe.run(params(source="bookinfo/productpage", to="reviews.bookinfo.svc.cluster.local:9080",
                              headers={"end-user": "jason"}, count=2), runner)
    assert runner.seen == [(COMMAND + ["--from", "bookinfo/productpage", "--to", "reviews.bookinfo.svc.cluster.local:9080",
                                       "--count", "2", "--timeout", "10", "-H", "end-user=jason"], None)]
    assert result["changed"] is False and result["calls"] == ANSWER["calls"] and result["source"] == ANSWER["source"]
    assert result["summary"]["versions"] == {"v2": 2} and result["summary"]["outcomes"] == {"allowed": 2}
    assert result["summary"]["latency_ms"] == {"min": 2.0, "median": 3.0, "max": 4.0}


def test_batch():
    runner = Recorder(out=json.dumps([ANSWER, dict(ANSWER, calls=[])]))
    result = probe.run(params(probes=[{"source": "a/b", "to": "h:1"}, {"source": "a/b", "to": "h:2", "count": 3}]), runner)
    argv, data = runner.seen[0]
    assert argv == COMMAND + ["--batch"]
    assert json.loads(data)[1] == {"from": "a/b", "to": "h:2", "headers": {}, "count": 3, "timeout": 10.0, "plain": False}
    assert result["changed"] is False and len(result["results"]) == 2 and result["results"][1]["summary"]["calls"] == 0


def test_failures_are_clear():
    with pytest.raises(RunnerError, match=r"probe command failed \(rc 1\): --from a/b: no running data-plane pod"):
        probe.run(params(source="a/b", to="h:1"), Recorder(rc=1, out=json.dumps(dict(ANSWER, error="x")),
                                                           err="--from a/b: no running data-plane pod"))
    with pytest.raises(RunnerError, match="did not print JSON"):
        probe.run(params(source="a/b", to="h:1"), Recorder(out="hello"))
    with pytest.raises(RunnerError, match="either probes or source and to"):
        probe.run(params(source="a/b", probes=[{"source": "a/b", "to": "h:1"}]), Recorder())
    with pytest.raises(RunnerError, match="1 results for 2 probes"):
        probe.run(params(probes=[{"source": "a/b", "to": "h:1"}] * 2), Recorder(out=json.dumps([ANSWER])))
    with pytest.raises(RunnerError, match="command is empty"):
        probe.run(params(command=[], source="a/b", to="h:1"), Recorder())


def test_module_argument_spec(monkeypatch):
    module = importlib.import_module("ansible_collections.meshops.istio.plugins.modules.mesh_probe")
    seen = {}

    class Captured(Exception):
        pass

    def fake_module(argument_spec, **kwargs):
        seen.update(argument_spec)
        seen["__check_mode"] = kwargs.get("supports_check_mode")
        raise Captured()
    monkeypatch.setattr(module, "AnsibleModule", fake_module)
    with pytest.raises(Captured):
        module.main()
    assert seen.pop("__check_mode") is True
    assert set(seen) == {"command", "source", "to", "headers", "count", "timeout", "plain", "probes"}
    assert seen["command"] == {"type": "list", "elements": "str", "required": True}
