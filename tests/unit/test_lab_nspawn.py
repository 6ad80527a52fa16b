"""lab/nspawn.py (lab.nspawn): the parts that need no root: cache key, inventories, name checks."""

import configparser
import json
import os
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from lab import nspawn  # noqa: E402  pylint: disable=wrong-import-position,import-error


def fleet(tmp_path, names=("server", "agent")):
    result = nspawn.Fleet("t1", str(tmp_path))
    for index, name in enumerate(names):
        host = nspawn.Host(name, "t1-" + name, "10.250.0.%d" % (10 + index), "meshops-ns-t1." + name, str(tmp_path))
        host.pid = 1000 + index
        result.hosts.append(host)
    return result


def test_root_key_depends_on_suite_mirror_and_package_set_only():
    key = nspawn.root_key()
    assert key == nspawn.root_key(packages=tuple(reversed(nspawn.PACKAGES)) + ("dbus",))
    assert key != nspawn.root_key(packages=nspawn.PACKAGES + ("cron",))
    assert key != nspawn.root_key(suite="trixie")
    assert key != nspawn.root_key(mirror="http://mirror.example/debian")
    assert nspawn.cache_dir().endswith(os.path.join("debootstrap", key))


def test_yaml_inventory_has_connection_vars_groups_and_vars(tmp_path):
    path = fleet(tmp_path).write_inventory(str(tmp_path / "inv.yml"), groups={"k3s_server": ["server"]},
                                           host_vars={"agent": {"k3s_role": "agent"}},
                                           group_vars={"all": {"x": 1}, "k3s_server": {"k3s_role": "server"}})
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    assert data["all"]["hosts"]["server"] == {
        "ansible_connection": "community.docker.nsenter", "ansible_nsenter_pid": 1000, "ansible_host": "10.250.0.10",
        "ansible_python_interpreter": "/usr/bin/python3"}
    assert data["all"]["hosts"]["agent"]["k3s_role"] == "agent"
    assert data["all"]["vars"] == {"x": 1}
    assert data["all"]["children"]["k3s_server"] == {"hosts": {"server": None}, "vars": {"k3s_role": "server"}}


def test_ini_inventory(tmp_path):
    path = fleet(tmp_path).write_inventory(str(tmp_path / "inv.ini"), groups={"k3s_agent": ["agent"]},
                                           group_vars={"k3s_agent": {"k3s_role": "agent", "n": [1]}})
    parser = configparser.ConfigParser(allow_no_value=True, delimiters=(" ",))
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    assert "agent ansible_connection=community.docker.nsenter ansible_host=10.250.0.11 ansible_nsenter_pid=1001" in text
    parser.read_string(text)
    assert list(parser["k3s_agent"]) == ["agent"]
    assert "k3s_role=agent" in text and "n=%s" % json.dumps([1]) in text


def test_groups_must_name_existing_hosts(tmp_path):
    with pytest.raises(ValueError, match="nobody"):
        fleet(tmp_path).inventory(groups={"g": ["nobody"]})


@pytest.mark.parametrize("names", [[], ["a", "a"], ["1a"], ["a_b"], ["x" * 41]])
def test_hosts_refuses_bad_names(names):
    with pytest.raises(ValueError):
        with nspawn.hosts(names):
            pass


def test_host_command_enters_every_namespace(tmp_path):
    host = fleet(tmp_path).host("agent")
    assert host.command(["true"]) == ["nsenter", "--mount", "--uts", "--ipc", "--net", "--pid", "--target=1001", "--", "true"]


def test_module_level_writer_takes_a_list_of_hosts(tmp_path):
    hosts = fleet(tmp_path).hosts
    path = nspawn.write_inventory(str(tmp_path / "inv.yml"), hosts[:1])
    with open(path, encoding="utf-8") as handle:
        assert list(yaml.safe_load(handle)["all"]["hosts"]) == ["server"]
