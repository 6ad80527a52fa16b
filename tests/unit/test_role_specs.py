"""Every role's defaults and argument spec list the same keys, and every option is documented."""

import glob
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES = sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(os.path.join(ROOT, "roles", "*", "meta")))


def _load(path):
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def test_there_are_roles():
    assert "mesh" in ROLES and len(ROLES) >= 3


@pytest.mark.parametrize("role", ROLES)
def test_defaults_match_argument_spec(role):
    spec = _load(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml"))
    assert spec is not None, "roles/%s has no meta/argument_specs.yml" % role
    options = spec["argument_specs"]["main"].get("options") or {}
    defaults = _load(os.path.join(ROOT, "roles", role, "defaults", "main.yml")) or {}
    missing_in_spec = sorted(set(defaults) - set(options))
    # required options have no default by design
    optional = {k for k, v in options.items() if not v.get("required")}
    missing_in_defaults = sorted(optional - set(defaults))
    assert not missing_in_spec, "roles/%s: in defaults but not in the spec: %s" % (role, missing_in_spec)
    assert not missing_in_defaults, "roles/%s: in the spec but not in defaults: %s" % (role, missing_in_defaults)


@pytest.mark.parametrize("role", ROLES)
def test_every_option_is_documented_and_prefixed(role):
    spec = _load(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml"))
    for name, option in (spec["argument_specs"]["main"].get("options") or {}).items():
        assert name.startswith(role + "_"), "roles/%s: option %s lacks the role prefix" % (role, name)
        assert option.get("description"), "roles/%s: option %s has no description" % (role, name)
        assert option.get("type"), "roles/%s: option %s has no type" % (role, name)


def _preflight_tasks(role):
    """Tasks of the role's preflight (tasks/preflight.yml; tasks/main.yml for the mesh role itself)."""
    name = "checks.yml" if role == "mesh" else "preflight.yml"
    return _load(os.path.join(ROOT, "roles", role, "tasks", name)) or []


@pytest.mark.parametrize("role", ROLES)
def test_every_role_preflight_calls_the_unknown_variable_guard(role):
    tasks = _preflight_tasks(role)
    assert tasks, "roles/%s has no preflight tasks" % role
    first = tasks[0]
    if role == "mesh":
        assert first.get("ansible.builtin.include_tasks") == "unknown_vars.yml", first
    else:
        assert first.get("ansible.builtin.include_role") == {"name": "meshops.istio.mesh", "tasks_from": "unknown_vars"}, \
            "roles/%s: the first preflight task must be the shared unknown-variable guard" % role
    assert first["vars"]["__mesh_guard_role"] == role
    if role != "mesh":
        main = _load(os.path.join(ROOT, "roles", role, "tasks", "main.yml")) or []
        imports = [t.get("ansible.builtin.import_tasks") for t in main]
        imports += [t.get("ansible.builtin.import_tasks") for b in main for t in b.get("block") or []]
        assert "preflight.yml" in imports, "roles/%s/tasks/main.yml does not import preflight.yml" % role


LINKED = os.path.isdir(os.path.join(ROOT, ".collections", "ansible_collections", "meshops", "istio"))


def _run_plays(tmp_path, plays, extra):
    """ansible-playbook of `plays` (a list of plays, as data) on localhost with the extra vars `extra`."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(plays))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"), ANSIBLE_NOCOLOR="1")
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
            "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook)]
    argv += ["-e", json.dumps(extra)]
    return subprocess.run(argv, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(not LINKED, reason="the collection is not linked under .collections")
def test_mesh_checks_run_once_per_run_and_again_for_other_settings(tmp_path):
    """The mesh role runs in every play of site.yml; its checks run in the first play, are skipped in
    a play with the same settings, run again in a play with another output directory, and catch a
    misspelled mesh_ variable that a later play brings."""
    def play(name, extra_vars=None):
        return {"name": name, "hosts": "localhost", "gather_facts": False, "vars": dict(extra_vars or {}),
                "roles": ["meshops.istio.mesh"]}
    res = _run_plays(tmp_path, [
        play("first", {"mesh_output_dir": str(tmp_path / "out")}), play("same", {"mesh_output_dir": str(tmp_path / "out")}),
        play("other dir", {"mesh_output_dir": str(tmp_path / "out2")}),
        play("typo", {"mesh_output_dir": str(tmp_path / "out2"), "mesh_outptu_dir": "x"})],
        {"mesh_kubeconfig": os.devnull})
    plays = re.split(r"^PLAY \[", res.stdout, flags=re.M)[1:]
    ran = [(p.split("]")[0], "TASK [meshops.istio.mesh : Create the output directory]" in p) for p in plays]
    assert ran == [("first", True), ("same", False), ("other dir", True), ("typo", False)], res.stdout
    assert res.returncode == 2 and "mesh_outptu_dir: the mesh role has no such variable" in res.stdout, res.stdout
    assert (tmp_path / "out2").is_dir()


def _ansible_playbook(tmp_path, extra):
    return _run_plays(tmp_path, [{
        "hosts": "localhost", "gather_facts": False,
        "vars": {"mesh_kubeconfig": os.devnull, "mesh_output_dir": str(tmp_path / "out")},
        "roles": [{"role": "meshops.istio.verify", "vars": {"verify_areas": []}}],
    }], extra)


@pytest.mark.skipif(not LINKED, reason="the collection is not linked under .collections")
def test_the_guard_refuses_a_misspelled_variable_before_anything_runs(tmp_path):
    result = _ansible_playbook(tmp_path, {"verify_data_plan": False})
    assert result.returncode != 0
    assert "verify_data_plan: the verify role has no such variable (misspelled?)" in result.stdout, result.stdout[-2000:]
    assert "verify_data_plane, " in result.stdout and "verify_results" in result.stdout
    assert not (tmp_path / "out" / "verify.json").exists()
    # a fact the role sets and the variables of another role are accepted
    result = _ansible_playbook(tmp_path, {"verify_results": [], "mesh_security_state": "present"})
    assert result.returncode == 0, result.stdout[-2000:]
    assert (tmp_path / "out" / "verify.json").exists()


CONNECTED = ["access_summary", "addons", "control_plane", "injection", "mesh_security", "verify"]


@pytest.mark.parametrize("role", CONNECTED)
def test_role_sets_the_connection_once_with_module_defaults(role):
    main = _load(os.path.join(ROOT, "roles", role, "tasks", "main.yml"))
    assert len(main) == 1 and "block" in main[0], "roles/%s/tasks/main.yml: one block with module_defaults" % role
    defaults = main[0]["module_defaults"]
    for group in ("group/meshops.istio.kube", "group/kubernetes.core.k8s"):
        assert defaults[group]["kubeconfig"] == "{{ mesh_kubeconfig }}"
    # entry points reached with tasks_from (default_tag.yml) set their own connection
    for path in glob.glob(os.path.join(ROOT, "roles", role, "tasks", "*.yml")):
        if os.path.basename(path) in ("main.yml", "default_tag.yml"):
            continue
        with open(path, encoding="utf-8") as handle:
            assert "kubeconfig: \"{{ mesh_kubeconfig }}\"" not in handle.read(), path


def test_the_kube_action_group_lists_every_module_with_the_connection_options():
    runtime = _load(os.path.join(ROOT, "meta", "runtime.yml"))
    modules = []
    for path in sorted(glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))):
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
            if "meshops.istio.kube" in text or "kubeconfig=dict(" in text:
                modules.append(os.path.basename(path)[:-3])
    assert sorted(runtime["action_groups"]["kube"]) == modules
