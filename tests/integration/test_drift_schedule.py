"""The drift_schedule role: its unit files pass `systemd-analyze verify`, it is idempotent, `absent`
removes everything, bad input fails before anything is written, the cron entry's command line
works under /bin/sh, and on a real systemd host the timer fires and the run writes its report: with a
stand-in command (clean, then drift: the arguments, the lock, the hook) and with the collection's real
`ansible-playbook meshops.istio.drift` from this checkout (an unreachable cluster: an `error` report,
exit 2, the OnFailure= hook).

No lab here: the schedule needs no cluster. The role runs with ansible-playbook against localhost
(PID 1 of this machine is not systemd, so `drift_schedule_activate: false` only writes the units)
and, for the timer, against a Debian host booted with systemd-nspawn (lab/nspawn.py).
"""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from lab_helpers import outcomes_by_host, wait_for  # pylint: disable=import-error

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
UNITS = ("meshops-drift.service", "meshops-drift.timer", "meshops-drift-failure@.service")
CHANGED = re.compile(r"^\S+\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def run_role(tmp_path, role_vars, inventory="localhost,", extra_env=None, hosts="localhost"):
    """ansible-playbook with the role and `role_vars` as extra vars: (rc, output, changed)."""
    play = tmp_path / "schedule.yml"
    play.write_text(yaml.safe_dump([{"name": "Schedule drift runs", "hosts": hosts, "gather_facts": False,
                                     "roles": [{"role": "meshops.istio.drift_schedule"}]}]))
    extra = tmp_path / "schedule-vars.json"
    extra.write_text(json.dumps(role_vars))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".collections"),
               PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    env.update(extra_env or {})
    argv = [os.path.join(BIN, "ansible-playbook"), "-i", inventory, str(play), "-e", "@%s" % extra]
    if inventory == "localhost,":
        argv += ["-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable]
    proc = subprocess.run(argv, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=600, check=False)
    recap = CHANGED.findall(proc.stdout)
    return proc.returncode, proc.stdout + proc.stderr, sum(int(changed) for changed, _unreachable, _failed in recap)


def unit_vars(tmp_path, **more):
    values = {
        "drift_schedule_unit_dir": str(tmp_path / "units"),
        "drift_schedule_activate": False,
        "drift_schedule_inventory": "/srv/meshops/inventories/my fleet",
        "drift_schedule_project_dir": ROOT,
        "drift_schedule_environment": {"ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"), "NOTE": "50% \"quoted\" $HOME"},
        "drift_schedule_extra_args": ["-e", "@/etc/meshops/drift vars.yml"],
        "drift_schedule_on_failure_command": ["/usr/bin/logger", "-t", "meshops", "drift failed: %i"],
    }
    values.update(more)
    return values


def test_units_pass_systemd_analyze_verify_idempotent_and_absent_removes_them(tmp_path):
    (tmp_path / "units").mkdir()
    rc, out, changed = run_role(tmp_path, unit_vars(tmp_path))
    assert rc == 0, out[-3000:]
    assert changed == 1  # one loop task wrote the three units
    files = sorted(p.name for p in (tmp_path / "units").iterdir())
    assert files == sorted(UNITS)
    service = (tmp_path / "units" / "meshops-drift.service").read_text()
    assert "ExecStart=flock -n -E 75 /run/lock/meshops-drift.lock ansible-playbook meshops.istio.drift " \
           "-i \"/srv/meshops/inventories/my fleet\" -e drift_mode=check -e \"@/etc/meshops/drift vars.yml\"" in service
    assert "OnFailure=meshops-drift-failure@%n.service" in service
    assert "SuccessExitStatus=75" in service
    assert "Environment=\"NOTE=50%% \\\"quoted\\\" $$HOME\"" in service
    timer = (tmp_path / "units" / "meshops-drift.timer").read_text()
    assert "OnCalendar=*:0/15" in timer and "RandomizedDelaySec=1min" in timer

    # offline: systemd-analyze verify loads the files as units (the OnFailure= template instance is
    # found beside them) and checks every setting and the executables; PID 1 is not asked
    verify = shutil.which("systemd-analyze")
    if verify is None:
        pytest.skip("systemd-analyze is not installed")
    proc = subprocess.run([verify, "verify"] + [str(tmp_path / "units" / name) for name in UNITS]
                          + [str(tmp_path / "units" / "meshops-drift-failure@meshops-drift.service.service")],
                          capture_output=True, text=True, check=False,
                          env=dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", "")))
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr

    rc, out, changed = run_role(tmp_path, unit_vars(tmp_path))
    assert rc == 0 and changed == 0, out[-3000:]

    rc, out, changed = run_role(tmp_path, unit_vars(tmp_path, drift_schedule_state="absent"))
    assert rc == 0 and changed == 1, out[-3000:]
    assert not list((tmp_path / "units").iterdir())
    rc, out, changed = run_role(tmp_path, unit_vars(tmp_path, drift_schedule_state="absent"))
    assert rc == 0 and changed == 0, out[-3000:]


def test_a_broken_unit_fails_systemd_analyze_verify(tmp_path):
    """The check above would notice: a unit systemd cannot parse makes verify exit non-zero."""
    verify = shutil.which("systemd-analyze")
    if verify is None:
        pytest.skip("systemd-analyze is not installed")
    (tmp_path / "units").mkdir()
    rc, out, _changed = run_role(tmp_path, unit_vars(tmp_path))
    assert rc == 0, out[-3000:]
    timer = tmp_path / "units" / "meshops-drift.timer"
    timer.write_text(timer.read_text().replace("OnCalendar=*:0/15", "OnCalendar=every quarter"))
    proc = subprocess.run([verify, "verify", str(timer)], capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and "calendar" in proc.stderr, proc.stderr


BAD_CHOICES = [
    ("drift_schedule_backend", "anacron", "systemd, cron"),
    ("drift_schedule_mode", "fix", "check, correct"),
    ("drift_schedule_state", "gone", "present, absent"),
]
BAD_VALUES = [
    ("drift_schedule_calendar", "every quarter", "drift_schedule_calendar=every quarter is not a systemd calendar"),
    ("drift_schedule_randomized_delay", "a bit", "drift_schedule_randomized_delay=a bit is not a systemd timespan"),
    ("drift_schedule_inventory", "", "drift_schedule_inventory is empty"),
    ("drift_schedule_name", "drift/check", "drift_schedule_name=drift/check is not a unit name"),
    ("drift_schedule_calender", "hourly", "drift_schedule_calender: the drift_schedule role has no such variable"),
]


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    """Every bad choice and value in one run: each is a host of its own, with its own unit directory.
    {variable: (HostOutcome, unit directory)}."""
    base = tmp_path_factory.mktemp("bad-schedule")
    hosts, units = {}, {}
    for index, (name, value, _expected) in enumerate(BAD_CHOICES + BAD_VALUES):
        folder = base / ("case-%d" % index)
        folder.mkdir()
        (folder / "units").mkdir()
        hosts["case-%d" % index] = dict(unit_vars(folder, **{name: value}), ansible_connection="local",
                                        ansible_python_interpreter=sys.executable)
        units[name] = folder / "units"
    inventory = base / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    _rc, out, _changed = run_role(base, {}, inventory=str(inventory), hosts="all",
                                  extra_env={"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_FORKS": "1"})
    outcomes = outcomes_by_host(out)
    assert sorted(outcomes) == sorted(hosts), out[-3000:]
    return {name: (outcomes["case-%d" % index], units[name])
            for index, name in enumerate(case[0] for case in BAD_CHOICES + BAD_VALUES)}


@pytest.mark.parametrize("name, value, accepted", BAD_CHOICES)
def test_bad_choice_fails_naming_the_variable_and_the_accepted_values(bad_inputs, name, value, accepted):
    outcome, units = bad_inputs[name]
    assert outcome.failed and outcome.changed == 0, outcome
    assert "value of %s must be one of: %s, got: %s" % (name, accepted, value) in outcome.text, outcome.text
    assert not list(units.iterdir())


@pytest.mark.parametrize("name, value, message", BAD_VALUES)
def test_bad_value_fails_before_anything_is_written(bad_inputs, name, value, message):
    outcome, units = bad_inputs[name]
    assert outcome.failed and outcome.changed == 0, outcome
    assert message in outcome.text, outcome.text
    assert not list(units.iterdir())


@pytest.fixture
def cron_tools(tmp_path):
    """ansible.builtin.cron insists on finding a `crontab` program even when it writes a cron file
    (this machine has none): a stand-in that is never called; and a stand-in ansible-playbook."""
    tools = tmp_path / "tools"
    tools.mkdir()
    crontab = tools / "crontab"
    crontab.write_text("#!/bin/sh\necho 'not used with a cron file' >&2\nexit 1\n")
    playbook = tools / "ansible-playbook"
    playbook.write_text("#!/bin/sh\nprintf '%s\\n' \"$PWD\" \"$NOTE\" \"$@\" > \"$OUT/args\"\nexit \"${EXIT_STATUS:-0}\"\n")
    for path in (crontab, playbook):
        path.chmod(0o755)
    return tools


def cron_job(cron_file):
    """The command of the one entry of `cron_file`, as cron hands it to /bin/sh (\\% -> %)."""
    lines = [line for line in cron_file.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) == 1, lines
    fields = lines[0].split(None, 6)
    assert fields[:5] == ["*/5", "*", "*", "*", "*"] and fields[5] == "root"
    assert "%" not in fields[6].replace("\\%", ""), "an unescaped % would end the command"
    return fields[6].replace("\\%", "%")


def test_cron_entry_runs_under_flock_and_calls_the_hook_on_failure(tmp_path, cron_tools):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    cron_file = tmp_path / "meshops-drift.cron"
    role_vars = unit_vars(
        tmp_path, drift_schedule_backend="cron", drift_schedule_cron_file=str(cron_file),
        drift_schedule_cron={"minute": "*/5"}, drift_schedule_project_dir=str(tmp_path),
        drift_schedule_ansible_playbook=str(cron_tools / "ansible-playbook"),
        drift_schedule_lock_file=str(tmp_path / "drift.lock"),
        drift_schedule_on_failure_command=["sh", "-c", "echo \"$DRIFT_SCHEDULE_MODE $DRIFT_SCHEDULE_STATUS\" > \"$OUT/hook\""])
    env = {"PATH": str(cron_tools) + os.pathsep + BIN + os.pathsep + os.environ.get("PATH", "")}
    rc, out, changed = run_role(tmp_path, role_vars, extra_env=env)
    assert rc == 0 and changed == 1, out[-3000:]
    rc, out, changed = run_role(tmp_path, role_vars, extra_env=env)
    assert rc == 0 and changed == 0, out[-3000:]
    job = cron_job(cron_file)
    assert "flock -n -E 75 " in job

    def run(status):
        for name in ("args", "hook"):
            if (out_dir / name).exists():
                (out_dir / name).unlink()
        return subprocess.run(["/bin/sh", "-c", job], env={"PATH": "/usr/bin:/bin", "OUT": str(out_dir),
                                                           "EXIT_STATUS": str(status)}, check=False)

    # a clean run: the playbook gets its arguments word for word, in the project directory, no hook
    assert run(0).returncode == 0
    assert (out_dir / "args").read_text().splitlines() == [
        str(tmp_path), "50% \"quoted\" $HOME", "meshops.istio.drift", "-i", "/srv/meshops/inventories/my fleet",
        "-e", "drift_mode=check", "-e", "@/etc/meshops/drift vars.yml"]
    assert not (out_dir / "hook").exists()
    # drift (the playbook exits non-zero): the hook runs with the mode and the status
    run(2)
    assert (out_dir / "hook").read_text().strip() == "check 2"
    # the previous run still holds the lock: this one is skipped, no playbook, no hook
    with open(tmp_path / "drift.lock", "w", encoding="utf-8") as lock:
        holder = subprocess.Popen(["flock", str(tmp_path / "drift.lock"), "sleep", "30"], stdout=lock)  # pylint: disable=consider-using-with
        try:
            subprocess.run(["sleep", "0.5"], check=True)
            run(0)
            assert not (out_dir / "args").exists() and not (out_dir / "hook").exists()
        finally:
            holder.kill()
            holder.wait()

    rc, out, changed = run_role(tmp_path, dict(role_vars, drift_schedule_state="absent"), extra_env=env)
    assert rc == 0 and changed == 1, out[-3000:]
    # the module removes a cron file left empty
    assert not cron_file.exists() or "meshops-drift" not in cron_file.read_text()


# The scheduled command on the systemd host. The real drift playbook cannot run there (the host has
# neither ansible nor a cluster: it is a bare Debian root), so this stand-in takes its place: it takes
# the same arguments, writes report.json and summary.json where drift.yml writes them
# ({{ mesh_output_dir }}/drift/<host>/report.json, {{ mesh_output_dir }}/drift/summary.json) and exits as
# drift.yml does: 0 when clean, non-zero on drift or error (status from /etc/meshops/next-status).
STAND_IN = r"""#!/usr/bin/python3
import datetime, json, os, sys
args = sys.argv[1:]
mode = next(a.split("=", 1)[1] for a in args if a.startswith("drift_mode="))
status = open("/etc/meshops/next-status").read().strip()
out = os.path.join(os.environ["MESH_OUTPUT_DIR"], "drift")
os.makedirs(os.path.join(out, "cluster-a"), exist_ok=True)
now = datetime.datetime.now(datetime.timezone.utc).isoformat()
report = {"cluster": "cluster-a", "mode": mode, "status": status, "objects": [], "finished": now, "argv": args}
for path, data in ((os.path.join(out, "cluster-a", "report.json"), report),
                   (os.path.join(out, "summary.json"), {"clusters": {"cluster-a": {"status": status}}})):
    with open(path + ".tmp", "w") as handle:
        json.dump(data, handle)
    os.replace(path + ".tmp", path)
with open(os.path.join(out, "runs.log"), "a") as handle:
    handle.write(now + " " + status + "\n")
sys.exit(0 if status in ("clean", "corrected") else 2)
"""


def wait_until(predicate, what, timeout=90):
    """lab_helpers.wait_for with this file's shorter bound (a timer fires every few seconds)."""
    return wait_for(predicate, what, timeout=timeout)


@pytest.fixture(scope="module")
def systemd_host():
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    try:
        from lab import nspawn  # pylint: disable=import-outside-toplevel
    except ImportError:
        pytest.skip("lab/nspawn.py is not there")
    missing = nspawn.missing_tools()
    if missing or os.geteuid() != 0:
        pytest.skip("systemd-nspawn hosts need root and %s" % (", ".join(missing) or "nothing else"))
    with nspawn.hosts(["sched"]) as fleet:
        yield fleet


def test_timer_fires_on_a_systemd_host_and_the_run_writes_its_report(tmp_path, systemd_host):
    host = systemd_host.host("sched")
    inventory = str(tmp_path / "hosts.yml")
    systemd_host.write_inventory(inventory, groups={"schedulers": ["sched"]})
    assert host.run(["sh", "-c", "mkdir -p /etc/meshops /opt/meshops && cat > /opt/meshops/ansible-playbook "
                     "&& chmod 755 /opt/meshops/ansible-playbook && echo clean > /etc/meshops/next-status"],
                    input=STAND_IN, check=True).returncode == 0
    role_vars = {
        "drift_schedule_inventory": "/etc/meshops/fleet",
        "drift_schedule_ansible_playbook": "/opt/meshops/ansible-playbook",
        "drift_schedule_environment": {"MESH_OUTPUT_DIR": "/var/lib/meshops"},
        # every 5 s, so that the test sees it fire; a real schedule keeps the quarter-hour default
        "drift_schedule_calendar": "*:*:0/5",
        "drift_schedule_randomized_delay": "0",
    }
    rc, out, changed = run_role(tmp_path, role_vars, inventory=inventory, hosts="schedulers")
    assert rc == 0 and changed >= 2, out[-3000:]  # units written, timer enabled and started
    rc, out, changed = run_role(tmp_path, role_vars, inventory=inventory, hosts="schedulers")
    assert rc == 0 and changed == 0, out[-3000:]

    assert host.run(["systemctl", "is-enabled", "meshops-drift.timer"]).stdout.strip() == "enabled"
    assert host.run(["systemctl", "is-active", "meshops-drift.timer"]).stdout.strip() == "active"
    # systemd itself (PID 1 of the host) finds nothing to say about the installed units
    verify = host.run(["systemd-analyze", "verify", "/etc/systemd/system/meshops-drift.timer",
                       "/etc/systemd/system/meshops-drift.service"])
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr

    # the timer fires by itself and the run writes its report
    report = wait_until(lambda: host.read("/var/lib/meshops/drift/cluster-a/report.json"), "the first scheduled run")
    report = json.loads(report)
    assert report["status"] == "clean" and report["mode"] == "check"
    assert report["argv"] == ["meshops.istio.drift", "-i", "/etc/meshops/fleet", "-e", "drift_mode=check"]
    assert json.loads(host.read("/var/lib/meshops/drift/summary.json"))["clusters"]["cluster-a"]["status"] == "clean"
    wait_until(lambda: len((host.read("/var/lib/meshops/drift/runs.log") or "").splitlines()) >= 2, "a second run")
    assert "meshops-drift.service" in host.run(["systemctl", "list-timers", "--all", "--no-pager"]).stdout

    # drift: the run exits non-zero, the service fails and its OnFailure= hook logs the failure
    host.run(["sh", "-c", "echo drift > /etc/meshops/next-status"], check=True)
    wait_until(lambda: "failed (drift_mode=check)" in host.run(
        ["journalctl", "-t", "meshops-drift", "--no-pager", "-o", "cat"]).stdout, "the OnFailure= hook's log line")
    assert json.loads(host.read("/var/lib/meshops/drift/cluster-a/report.json"))["status"] == "drift"
    host.run(["sh", "-c", "echo clean > /etc/meshops/next-status"], check=True)

    # absent: timer stopped and disabled, units gone
    rc, out, changed = run_role(tmp_path, dict(role_vars, drift_schedule_state="absent"), inventory=inventory,
                                hosts="schedulers")
    assert rc == 0 and changed >= 2, out[-3000:]
    assert host.run(["systemctl", "is-active", "meshops-drift.timer"]).stdout.strip() != "active"
    for name in UNITS:
        assert not host.exists("/etc/systemd/system/" + name), name
    rc, out, changed = run_role(tmp_path, dict(role_vars, drift_schedule_state="absent"), inventory=inventory,
                                hosts="schedulers")
    assert rc == 0 and changed == 0, out[-3000:]


@pytest.fixture(scope="module")
def host_with_checkout():
    """A systemd host that sees this checkout (and the Python its .venv was made from) read-only at
    the same paths, so its timer can run the collection's real drift playbook."""
    if ROOT not in sys.path:
        sys.path.insert(0, ROOT)
    from lab import nspawn  # pylint: disable=import-outside-toplevel
    missing = nspawn.missing_tools()
    if missing or os.geteuid() != 0:
        pytest.skip("systemd-nspawn hosts need root and %s" % (", ".join(missing) or "nothing else"))
    binds = [ROOT]
    # the venv's python is a link to its base Python; /usr is the host's own (Debian's python3.11)
    base = os.path.realpath(sys.base_prefix)
    if base not in ("/", "/usr") and not ROOT.startswith(base + os.sep):
        binds.append(base)
    with nspawn.hosts(["real"], binds_ro=binds) as fleet:
        yield fleet


def test_the_timer_runs_the_real_drift_playbook_and_its_failure_hook(tmp_path, host_with_checkout):
    """The scheduled command is the collection's own `ansible-playbook meshops.istio.drift` from this
    checkout, run by systemd on the host. The host has no cluster: its one cluster's API server
    (127.0.0.1:9 inside the host's own namespace) refuses, so the run writes an `error` report and
    exits 2, and the OnFailure= hook logs it; the clean path is the stand-in test above."""
    host = host_with_checkout.host("real")
    inventory = str(tmp_path / "hosts.yml")
    host_with_checkout.write_inventory(inventory, groups={"schedulers": ["real"]})
    fleet = {"mesh_controller": {"hosts": {"cluster-x": {
        "ansible_connection": "local", "ansible_python_interpreter": os.path.join(ROOT, ".venv", "bin", "python"),
        "mesh_kubeconfig": "/etc/meshops/cluster-x.kubeconfig"}}},
        "all": {"vars": {"mesh_output_dir": "/var/lib/meshops"}}}
    kubeconfig = {"apiVersion": "v1", "kind": "Config", "current-context": "x",
                  "clusters": [{"name": "x", "cluster": {"server": "https://127.0.0.1:9", "insecure-skip-tls-verify": True}}],
                  "users": [{"name": "x", "user": {"token": "not-a-real-token"}}],
                  "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}
    script = ("mkdir -p /etc/meshops && cat > /etc/meshops/fleet.yml && printf '%s' '" + json.dumps(kubeconfig)
              + "' > /etc/meshops/cluster-x.kubeconfig")
    assert host.run(["sh", "-c", script], input=json.dumps(fleet), check=True).returncode == 0
    role_vars = {
        "drift_schedule_inventory": "/etc/meshops/fleet.yml",
        "drift_schedule_ansible_playbook": os.path.join(ROOT, ".venv", "bin", "ansible-playbook"),
        "drift_schedule_project_dir": ROOT,
        "drift_schedule_environment": {"ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
                                       "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".collections"),
                                       "ANSIBLE_LOCAL_TEMP": "/tmp/ansible-local", "HOME": "/root"},
        "drift_schedule_calendar": "*:*:0/10",
        "drift_schedule_randomized_delay": "0",
    }
    rc, out, _changed = run_role(tmp_path, role_vars, inventory=inventory, hosts="schedulers")
    assert rc == 0, out[-3000:]

    report = wait_until(lambda: host.read("/var/lib/meshops/drift/cluster-x/report.json"), "the real playbook's report",
                        timeout=150)
    report = json.loads(report)
    assert report["status"] == "error" and report["cluster"] == "cluster-x" and report["mode"] == "check", report
    assert report["error"], report
    summary = json.loads(wait_until(lambda: host.read("/var/lib/meshops/drift/summary.json"), "the run's summary"))
    assert summary["status"] == "error" and summary["clusters"]["cluster-x"]["status"] == "error", summary
    assert '<error' in (host.read("/var/lib/meshops/drift/cluster-x/junit.xml") or "")
    wait_until(lambda: "failed (drift_mode=check)" in host.run(
        ["journalctl", "-t", "meshops-drift", "--no-pager", "-o", "cat"]).stdout, "the OnFailure= hook's log line")
    # The timer fires every 10 s and a new start resets Result/ExecMainStatus: stop it and let the
    # run in progress (if any; it fails the same way) end before reading the last run's exit.
    host.run(["systemctl", "stop", "meshops-drift.timer"], check=True)
    wait_until(lambda: host.run(["systemctl", "is-active", "meshops-drift.service"]).stdout.strip()
               in ("failed", "inactive"), "the last drift run to end", timeout=150)
    result = host.run(["systemctl", "show", "meshops-drift.service", "-p", "Result", "-p", "ExecMainStatus"]).stdout
    assert "Result=exit-code" in result and "ExecMainStatus=2" in result, result
