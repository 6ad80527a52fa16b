"""The scheduling examples around the drift playbook: the AWX job template and schedule
(examples/awx/), and the execution environment for ansible-builder 3 (execution-environment.yml)."""

import datetime
import glob
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
AWX_PLAYBOOK = os.path.join(ROOT, "examples", "awx", "drift_schedule.yml")
EE = os.path.join(ROOT, "execution-environment.yml")
COLLECTIONS = ("kubernetes.core", "amazon.aws", "community.general")


def _load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _pins(path):
    """name -> version of the `name==version` lines of a pip requirements file."""
    pins = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            match = re.match(r"^\s*([A-Za-z0-9_.-]+)==(\S+)", line)
            if match:
                pins[match.group(1).lower()] = match.group(2)
    return pins


def _awx_vars():
    return _load(AWX_PLAYBOOK)[0]["vars"]


def _tasks(module):
    return [t[module] for t in _load(AWX_PLAYBOOK)[0]["tasks"] if module in t]


def test_awx_example_passes_syntax_check():
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"))
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "--syntax-check", "-i", "localhost,", AWX_PLAYBOOK],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_awx_job_template_runs_the_drift_check():
    template, = _tasks("awx.awx.job_template")
    assert template["playbook"] == "playbooks/drift.yml"
    assert template["extra_vars"] == {"drift_mode": "check"}
    assert template["allow_simultaneous"] is False
    schedule, = _tasks("awx.awx.schedule")
    assert schedule["unified_job_template"] == template["name"]
    assert schedule["rrule"] == "{{ meshops_awx_rrule }}"


def test_awx_schedule_uses_a_literal_rrule_not_the_lookups():
    """awx.awx's rrule lookups fail on ansible-core 2.19: the example never calls them."""
    with open(AWX_PLAYBOOK, encoding="utf-8") as handle:
        text = handle.read()
    assert "lookup(" not in text and "query(" not in text
    assert re.match(r"^DTSTART;TZID=[A-Za-z_/]+:\d{8}T\d{6} RRULE:[A-Z0-9=;,]+$", _awx_vars()["meshops_awx_rrule"])


def test_awx_rrule_parses_every_15_minutes():
    rrule = pytest.importorskip("dateutil.rrule")
    # the controller keeps DTSTART and RRULE on one line, separated by a space; iCalendar puts them on two
    rule = rrule.rrulestr(_awx_vars()["meshops_awx_rrule"].replace(" RRULE:", "\nRRULE:"))
    first = list(rule[:4])
    utc = datetime.timezone.utc
    assert first[0] == datetime.datetime(2026, 1, 1, 0, 0, tzinfo=first[0].tzinfo)
    assert first[0].utcoffset() == datetime.timedelta(0)
    assert [b - a for a, b in zip(first, first[1:])] == [datetime.timedelta(minutes=15)] * 3
    later = rule.after(datetime.datetime(2026, 6, 1, 12, 7, tzinfo=utc))
    assert (later.hour, later.minute) == (12, 15)


def _installed_collection_version(name):
    namespace, collection = name.split(".")
    for base in sys.path:
        manifest = os.path.join(base, "ansible_collections", namespace, collection, "MANIFEST.json")
        if os.path.exists(manifest):
            with open(manifest, encoding="utf-8") as handle:
                return json.load(handle)["collection_info"]["version"]
    return None


def test_execution_environment_names_the_collections_and_pins_them_as_the_checkout():
    ee = _load(EE)
    assert ee["version"] == 3
    deps = ee["dependencies"]
    checkout = _pins(os.path.join(ROOT, "requirements.txt"))
    assert deps["ansible_core"]["package_pip"] == "ansible-core==%s" % checkout["ansible-core"]
    galaxy = _load(os.path.join(ROOT, deps["galaxy"]))
    listed = {c["name"]: c["version"] for c in galaxy["collections"]}
    assert sorted(listed) == sorted(COLLECTIONS)
    for name, version in listed.items():
        installed = _installed_collection_version(name)
        if installed is not None:  # the releases the `ansible` package of requirements.txt carries
            assert version == installed, name
    python = _pins(os.path.join(ROOT, deps["python"]))
    assert {"kubernetes", "jsonpatch", "pyyaml"} <= set(python)
    for name, version in python.items():
        if name in checkout:
            assert version == checkout[name], name


def test_ansible_builder_create_writes_the_build_context_offline(tmp_path):
    builder = shutil.which("ansible-builder", path=BIN + os.pathsep + os.environ.get("PATH", ""))
    if builder is None:
        pytest.skip("ansible-builder is not installed (pip install ansible-builder)")
    context = tmp_path / "context"
    argv = [builder, "create", "-f", EE, "--context", str(context), "--output-filename", "Containerfile"]
    # as root, in a network namespace of its own: no network at all, so the context is made offline
    unshare = shutil.which("unshare")
    if os.geteuid() == 0 and unshare:
        argv = [unshare, "--net", "--"] + argv
    proc = subprocess.run(argv, cwd=str(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-core==2.19" in containerfile
    assert "ansible-galaxy collection install" in containerfile and "-r requirements.yml" in containerfile
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert sorted(c["name"] for c in galaxy["collections"]) == sorted(COLLECTIONS)
    assert "kubernetes==" in (context / "_build" / "requirements.txt").read_text()
    assert glob.glob(str(context / "_build" / "scripts" / "*"))


def test_fleet_inventory_has_one_local_host_per_cluster():
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"))
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", os.path.join(ROOT, "inventories", "fleet"), "--list"],
                          env=env, capture_output=True, text=True, timeout=120, check=True)
    data = json.loads(proc.stdout)
    clusters = data["mesh_controller"]["hosts"]
    assert len(clusters) >= 2
    kubeconfigs = set()
    for name in clusters:
        host = data["_meta"]["hostvars"][name]
        assert host["ansible_connection"] == "local", name
        assert host["mesh_kubeconfig"] and host["mesh_context"], name
        kubeconfigs.add((host["mesh_kubeconfig"], host["mesh_context"]))
    assert len(kubeconfigs) == len(clusters), "two hosts point at the same cluster"
    # one output directory for the fleet, where the summary play (implicit localhost) writes too
    assert len({data["_meta"]["hostvars"][n]["mesh_output_dir"] for n in clusters}) == 1
