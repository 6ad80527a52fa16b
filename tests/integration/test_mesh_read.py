"""meshops.istio.mesh_read against the lab's API server: what it returns is what the server holds."""

import json
import os

import pytest

PLAYBOOK = "tests/integration/playbooks/read.yml"


@pytest.fixture
def read(playbook, tmp_path):
    def run(queries, check=False):
        path = str(tmp_path / "results.json")
        result = playbook(PLAYBOOK, extra_vars={"read_queries": queries, "read_results_file": path}, check=check)
        answer = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                answer = json.load(handle)
        return result, answer
    return run


def names(objects):
    return sorted(o["metadata"]["name"] for o in objects)


@pytest.mark.parametrize("check", [False, True], ids=["run", "check mode"])
def test_every_query_answers_what_the_api_server_holds(kube, read, check):
    result, answer = read([
        {"api_version": "v1", "kind": "Namespace", "name": "kube-system"},
        {"api_version": "v1", "kind": "Node"},
        {"api_version": "v1", "kind": "Namespace", "label_selectors": ["kubernetes.io/metadata.name in (default, kube-system)"]},
        {"api_version": "v1", "kind": "ServiceAccount", "namespace": "kube-system"},
        {"api_version": "example.invalid/v1", "kind": "Widget"},
        {"api_version": "v1", "kind": "ConfigMap", "namespace": "no-such-namespace"},
        {"api_version": "v1", "kind": "Namespace", "name": "no-such-namespace"},
    ], check=check)
    assert result.rc == 0, result.tail()
    assert result.changed == 0
    assert [q["kind"] for q in answer] == ["Namespace", "Node", "Namespace", "ServiceAccount", "Widget", "ConfigMap",
                                           "Namespace"]
    assert names(answer[0]["resources"]) == ["kube-system"]
    assert names(answer[1]["resources"]) == names(kube.list("v1", "Node")) != []
    assert names(answer[2]["resources"]) == ["default", "kube-system"]
    assert names(answer[3]["resources"]) == names(kube.list("v1", "ServiceAccount", namespace="kube-system")) != []
    # a kind the server does not serve, a namespace that does not exist, an object that is not there
    assert [q["resources"] for q in answer[4:]] == [[], [], []]


def test_a_bad_query_fails_naming_it_before_anything_is_read(read):
    result, answer = read([{"api_version": "v1", "kind": "Node"},
                           {"api_version": "v1", "kind": "Pod", "labels": ["app=x"]}])
    assert result.rc == 2 and answer is None
    assert "queries[1]: unknown key labels; accepted: api_version, kind, namespace, name, label_selectors" in result.output
