"""run_module: the one hand-off from a module's main() to its runner."""

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import RunnerError, connect, run_module


class Exited(Exception):
    pass


class FakeModule:
    def __init__(self, params=None, check_mode=False):
        self.params = params or {"kubeconfig": "kc", "context": ""}
        self.check_mode = check_mode
        self.exited = self.failed = None

    def exit_json(self, **result):
        self.exited = result
        raise Exited()

    def fail_json(self, **result):
        self.failed = result
        raise Exited()


def test_exits_with_the_result_and_passes_params_check_mode_and_keywords():
    seen = {}

    def run(params, check_mode=False, extra=None):
        seen.update(params=params, check_mode=check_mode, extra=extra)
        return {"changed": True}

    module = FakeModule(check_mode=True)
    with pytest.raises(Exited):
        run_module(module, run, extra="x")
    assert module.exited == {"changed": True} and module.failed is None
    assert seen == {"params": module.params, "check_mode": True, "extra": "x"}


def test_a_runner_error_fails_with_its_message_and_details():
    def run(params, check_mode=False):
        raise RunnerError("bad model", errors=["a", "b"])

    for what in (None, "security model"):
        module = FakeModule()
        with pytest.raises(Exited):
            run_module(module, run, what)
        assert module.failed == {"msg": "bad model", "errors": ["a", "b"]}


def test_an_unexpected_error_names_what_failed_with_the_traceback():
    def run(params, check_mode=False):
        raise KeyError("metadata")

    module = FakeModule()
    with pytest.raises(Exited):
        run_module(module, run, "security model")
    assert module.failed["msg"] == "security model failed: 'metadata'"
    assert "KeyError" in module.failed["exception"] and "Traceback" in module.failed["exception"]


def test_without_what_an_unexpected_error_is_not_caught():
    def run(params, check_mode=False):
        raise KeyError("metadata")

    with pytest.raises(KeyError):
        run_module(FakeModule(), run)


def test_connect_names_the_kubeconfig_it_cannot_load():
    def factory(kubeconfig, context, workers):
        raise IOError("no such file")

    with pytest.raises(RunnerError, match="cannot load kubeconfig kc: no such file"):
        connect({"kubeconfig": "kc", "context": ""}, factory)
