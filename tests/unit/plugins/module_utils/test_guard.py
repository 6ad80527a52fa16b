"""Unit tests for plugins/module_utils/guard.py: the unknown-variable guard's rules."""

from ansible_collections.meshops.istio.plugins.module_utils import guard


def test_spec_options_in_file_order_once_each():
    spec = {"argument_specs": {"main": {"options": {"b_one": {}, "a_two": {}}},
                               "absent": {"options": {"a_two": {}, "c_three": {}}},
                               "bare": {}, "empty": None}}
    assert guard.spec_options(spec) == ["b_one", "a_two", "c_three"]
    assert guard.spec_options(None) == [] and guard.spec_options({}) == []


def test_unknown_vars_leaves_out_known_other_roles_and_odd_names():
    names = ["mesh_ok", "mesh_typo", "mesh_security_state", "verify_areas", "mesh_bad-name", "mesh_typo"]
    assert guard.unknown_vars(names, "mesh", ["mesh_ok"], ["mesh", "mesh_security", "verify"]) == ["mesh_typo"]
    assert guard.unknown_vars(names, "mesh", ["mesh_ok"]) == ["mesh_security_state", "mesh_typo"]
    assert guard.unknown_vars([], "mesh", []) == []


def test_guard_message():
    assert guard.guard_message([], "mesh", ["mesh_ok"]) == ""
    assert guard.guard_message(["mesh_a", "mesh_b"], "mesh", ["mesh_ok", "mesh_out"]) == (
        "mesh_a, mesh_b: the mesh role has no such variable (misspelled?); accepted: mesh_ok, mesh_out.")
    assert guard.guard_message(["mesh_a"], "mesh", ["mesh_ok"], ["mesh_fact"]) == (
        "mesh_a: the mesh role has no such variable (misspelled?); accepted: mesh_ok (and the facts it sets: mesh_fact).")
