"""plugins/module_utils/probe/result.py: the probe command line, its output, outcomes and summaries."""

import json

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.probe import result


def test_argv_appends_options_and_sorted_headers():
    argv = result.probe_argv(["python", "lab.py", "probe", "--name", "x"], "bookinfo/productpage",
                             "reviews.bookinfo.svc.cluster.local:9080", {"x-b": "2", "end-user": "jason"}, 10, 2.5, True)
    assert argv == ["python", "lab.py", "probe", "--name", "x", "--from", "bookinfo/productpage",
                    "--to", "reviews.bookinfo.svc.cluster.local:9080", "--count", "10", "--timeout", "2.5",
                    "-H", "end-user=jason", "-H", "x-b=2", "--plain"]


@pytest.mark.parametrize("command, source, to, text", [
    ([], "a/b", "h:1", "command is empty"),
    (["probe"], "", "h:1", "source and to are required"),
])
def test_argv_errors(command, source, to, text):
    with pytest.raises(result.ProbeError, match=text):
        result.probe_argv(command, source, to)


def test_batch_spec_accepts_source_or_from():
    assert result.batch_spec({"source": "a/b", "to": "h:1", "count": 3}) == {
        "from": "a/b", "to": "h:1", "headers": {}, "count": 3, "timeout": 10.0, "plain": False}
    assert result.batch_spec({"from": "a/b", "to": "h:1", "headers": {"k": "v"}})["headers"] == {"k": "v"}
    with pytest.raises(result.ProbeError, match="every probe needs source and to"):
        result.batch_spec({"to": "h:1"})


def test_parse_output_single_batch_and_log_lines():
    single = {"source": {}, "calls": [{"i": 0, "code": "OK"}]}
    assert result.parse_output(json.dumps(single)) == single
    assert result.parse_output("some log line\n" + json.dumps(single)) == single
    assert result.parse_output(json.dumps([single]), batch=True) == [single]
    with pytest.raises(result.ProbeError, match="printed nothing"):
        result.parse_output("  ")
    with pytest.raises(result.ProbeError, match="did not print JSON"):
        result.parse_output("Traceback: boom")
    with pytest.raises(result.ProbeError, match="JSON list"):
        result.parse_output(json.dumps(single), batch=True)
    with pytest.raises(result.ProbeError, match="object with calls"):
        result.parse_output(json.dumps([single]))


@pytest.mark.parametrize("call, expected", [
    ({"code": "OK"}, "allowed"),
    ({"code": "PermissionDenied", "error": "incoming RPC did not match an allow policy"}, "denied"),
    ({"code": "Unavailable", "error": "connection error: desc = \"error reading server preface: EOF\""}, "refused"),
    ({"code": "Unavailable", "error": "connection error: desc = \"transport: Error while dialing: dial tcp 10.244.0.2:9080: i/o timeout\""},
     "unreachable"),
    ({"code": "Unavailable", "error": "error received from xDS stream: rpc error: code = Unavailable desc = connection error: "
      "desc = \"transport: Error while dialing: dial tcp 10.96.124.240:15012: i/o timeout\""}, "unreachable"),
    ({"code": "Unavailable", "error": "connection error: desc = \"transport: Error while dialing: dial tcp 10.1.2.3:80: connect: "
      "no route to host\""}, "unreachable"),
    ({"code": "Unavailable", "error": "max retries exhausted: failed after 3 attempts: rpc error: code = Unavailable"}, "Unavailable"),
    ({"code": "DeadlineExceeded", "error": "context deadline exceeded"}, "timeout"),
    ({"code": "Unknown", "error": "RPC terminated due to fault injection"}, "Unknown"),
    ({}, "none"),
])
def test_outcome(call, expected):
    assert result.outcome(call) == expected


def test_summarize_counts_and_latency():
    calls = [{"i": 0, "code": "OK", "version": "v1", "ms": 3.0}, {"i": 1, "code": "OK", "version": "v2", "ms": 1.0},
             {"i": 2, "code": "OK", "version": "v1", "ms": 2.0},
             {"i": 3, "code": "PermissionDenied", "version": "", "ms": 10.0, "error": "denied"}]
    summary = result.summarize({"calls": calls})
    assert summary == {"calls": 4, "codes": {"OK": 3, "PermissionDenied": 1}, "versions": {"v1": 2, "v2": 1},
                       "outcomes": {"allowed": 3, "denied": 1}, "latency_ms": {"min": 1.0, "median": 2.5, "max": 10.0}}
    assert result.summarize({"calls": []})["latency_ms"] == {"min": None, "median": None, "max": None}
    assert result.with_summary({"calls": calls[:1]})["summary"]["latency_ms"]["median"] == 3.0
