"""Systemd hosts for tests: Debian bookworm booted with systemd-nspawn in network namespaces the test makes.

Roles that manage a machine's services (k3s, timers) need a host whose PID 1 is systemd. This
module gives a test such hosts on this machine, offline apart from Debian's package mirror:

- ``ensure_root()`` builds a Debian root with ``debootstrap --variant=minbase`` (systemd,
  systemd-sysv, dbus, python3 for Ansible) once and caches it under
  ``<lab cache>/debootstrap/<sha256 of suite, mirror and sorted package list>/root`` (the cache
  of ``lab.build.cache_root()``). It is built in a temporary directory next to it and renamed
  into place, under a file lock, so concurrent pytest-xdist workers build it once.
- ``hosts([...])`` is a context manager: it makes a bridge namespace ``meshops-ns-<tag>`` with
  ``br0`` = ``10.250.0.1/24`` and, per host, a namespace ``meshops-ns-<tag>.<host>`` holding
  ``eth0`` (``10.250.0.<10+i>/24``) on that bridge. Only on-link routes: no default route, no
  IPv6, nothing can leave. Each host boots as ``systemd-nspawn --boot --keep-unit --register=no
  --volatile=overlay -D <cached root> --network-namespace-path=/run/netns/<its namespace>`` (the
  cached root stays read-only under a tmpfs overlay, so a host costs no copy and leaves nothing
  behind), and the context waits until ``systemctl is-system-running`` says running or degraded.
  On exit every host is powered off (SIGKILL after a timeout), the namespaces are deleted and
  the state directory removed.

Ansible reaches a host through ``community.docker.nsenter`` with ``ansible_nsenter_pid`` = the
host's PID 1 as seen from here (``Host.pid``); ``Fleet.write_inventory()`` writes that.

Use::

    from lab import nspawn

    with nspawn.hosts(["server", "agent"]) as fleet:
        fleet.write_inventory(path, groups={"k3s_server": ["server"], "k3s_agent": ["agent"]})
        with fleet.serve(directory) as server:          # HTTP on the bridge address, 10.250.0.1
            ... ansible-playbook -i path ... -e base_url=server.url
        fleet.host("agent").run(["systemctl", "is-active", "k3s-agent"])

``python -m lab.nspawn build`` builds (or finds) the cached root; ``python -m lab.nspawn boot
NAME...`` boots hosts and waits for Enter (for poking at them by hand); ``python -m lab.nspawn
cleanup`` deletes the namespaces of a killed test (its hosts power off when it dies). Needs root,
systemd-nspawn (systemd-container), debootstrap, ip and nsenter. Standard library only.
"""

import argparse
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from . import build as labbuild
from . import mirror as labmirror

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("dbus", "python3", "systemd", "systemd-sysv")
# Units of a minbase Debian that a test host does not need: a getty on the console, apt and
# housekeeping timers (they would fire during tests and only cost CPU).
MASKED_UNITS = ("console-getty.service", "getty@.service", "apt-daily.timer", "apt-daily-upgrade.timer",
                "dpkg-db-backup.timer", "e2scrub_all.timer", "fstrim.timer")
SUBNET = "10.250.0"
PREFIX = 24
BRIDGE_IP = SUBNET + ".1"
FIRST_HOST = 10
BOOT_TIMEOUT = 120
STOP_TIMEOUT = 30
CLONE_NEWNET = 0x40000000
NSENTER = ("nsenter", "--mount", "--uts", "--ipc", "--net", "--pid")
READY_STATES = ("running", "degraded")


def log(msg):
    print("%s [lab nspawn] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def missing_tools():
    """The programs this module needs that are not on PATH (their Debian packages in brackets)."""
    needs = {"systemd-nspawn": "systemd-container", "debootstrap": "debootstrap", "ip": "iproute2",
             "nsenter": "util-linux"}
    return ["%s (%s)" % (tool, pkg) for tool, pkg in sorted(needs.items()) if shutil.which(tool) is None]


# --------------------------------------------------------------------------- the cached root
def root_key(suite=SUITE, mirror=MIRROR, packages=PACKAGES):
    text = json.dumps({"suite": suite, "mirror": mirror, "packages": sorted(set(packages)),
                       "masked": sorted(MASKED_UNITS)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_dir(suite=SUITE, mirror=MIRROR, packages=PACKAGES):
    return os.path.join(labbuild.cache_root(), "debootstrap", root_key(suite, mirror, packages))


@contextlib.contextmanager
def _locked(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_root(suite=SUITE, mirror=MIRROR, packages=PACKAGES):
    """Path of the cached root for these inputs, built with debootstrap when missing."""
    final = cache_dir(suite, mirror, packages)
    root = os.path.join(final, "root")
    if os.path.exists(os.path.join(final, "meta.json")):
        return root
    missing = missing_tools()
    if missing:
        raise RuntimeError("lab.nspawn needs %s: apt-get install them (make system-deps does)" % ", ".join(missing))
    with _locked(os.path.join(labbuild.cache_root(), "locks", "debootstrap-%s.lock" % os.path.basename(final))):
        if os.path.exists(os.path.join(final, "meta.json")):
            return root
        parent = os.path.dirname(final)
        os.makedirs(parent, exist_ok=True)
        work = tempfile.mkdtemp(prefix=".build-", dir=parent)
        try:
            started = time.monotonic()
            log("debootstrap %s (%s) from %s into %s" % (suite, ", ".join(sorted(set(packages))), mirror, final))
            cmd = ["debootstrap", "--variant=minbase", "--include=" + ",".join(sorted(set(packages))),
                   suite, os.path.join(work, "root"), mirror]
            done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError("debootstrap failed (exit %d):\n%s" % (done.returncode, done.stdout[-4000:]))
            _prepare_root(os.path.join(work, "root"))
            meta = {"suite": suite, "mirror": mirror, "packages": sorted(set(packages)), "masked": list(MASKED_UNITS),
                    "seconds": round(time.monotonic() - started, 1), "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            with open(os.path.join(work, "meta.json"), "w", encoding="utf-8") as handle:
                json.dump(meta, handle, indent=2, sort_keys=True)
            shutil.rmtree(final, ignore_errors=True)  # a half-built leftover without meta.json
            os.rename(work, final)
            log("root built in %.0fs: %s" % (meta["seconds"], root))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return root


def _prepare_root(root):
    """Make the fresh root a neutral template: no hostname, no machine id, no apt cache, quiet units."""
    for name in ("etc/hostname",):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(root, name))
    # systemd takes the machine id nspawn passes (--uuid) when this file is empty
    with open(os.path.join(root, "etc/machine-id"), "w", encoding="utf-8"):
        pass
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(root, "var/lib/dbus/machine-id"))
    for unit in MASKED_UNITS:
        link = os.path.join(root, "etc/systemd/system", unit)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(link)
        os.symlink("/dev/null", link)
    shutil.rmtree(os.path.join(root, "var/cache/apt/archives"), ignore_errors=True)
    os.makedirs(os.path.join(root, "var/cache/apt/archives/partial"), exist_ok=True)


# --------------------------------------------------------------------------- network namespaces
def ip(*args, check=True):
    done = subprocess.run(["ip"] + list(args), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if check and done.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), done.stderr.strip()))
    return done


def _netns_exists(name):
    return os.path.exists(os.path.join("/run/netns", name))


def _no_ipv6(netns):
    subprocess.run(["ip", "netns", "exec", netns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1"], check=True)


def _veth_name(netns):
    return "n" + hashlib.sha256(netns.encode()).hexdigest()[:12]


_libc = None


def _setns(fd):
    global _libc  # pylint: disable=global-statement
    if _libc is None:
        import ctypes  # pylint: disable=import-outside-toplevel
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        import ctypes  # pylint: disable=import-outside-toplevel
        raise OSError(ctypes.get_errno(), "setns failed")


@contextlib.contextmanager
def in_netns(netns):
    """Run the body (this thread only) inside a network namespace; sockets made there stay there."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    other = os.open(os.path.join("/run/netns", netns), os.O_RDONLY)
    try:
        _setns(other)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)
        os.close(other)


# --------------------------------------------------------------------------- hosts
class Host:
    """One booted host. ``pid`` is its PID 1 (systemd) as seen from this machine."""

    def __init__(self, name, machine, ip_address, netns, state_dir):
        self.name = name
        self.machine = machine
        self.ip = ip_address
        self.netns = netns
        self.state_dir = state_dir
        self.console_log = os.path.join(state_dir, "%s.console.log" % name)
        self.process = None
        self.pid = None

    def __repr__(self):
        return "Host(%s, ip=%s, pid=%s)" % (self.name, self.ip, self.pid)

    def command(self, argv):
        """argv run inside the host (all its namespaces, its root)."""
        return list(NSENTER) + ["--target=%d" % self.pid, "--"] + list(argv)

    def run(self, argv, check=False, timeout=120, input=None):  # pylint: disable=redefined-builtin
        """Run argv inside the host; a CompletedProcess with text stdout/stderr."""
        return subprocess.run(self.command(argv), text=True, input=input, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout, check=check)

    def read(self, path):
        """A file's text inside the host, or None when it does not exist."""
        done = self.run(["cat", path])
        return done.stdout if done.returncode == 0 else None

    def exists(self, path):
        return self.run(["test", "-e", path]).returncode == 0

    def state(self):
        return self.run(["systemctl", "is-system-running"], timeout=30).stdout.strip()

    def inventory_vars(self):
        return {"ansible_connection": "community.docker.nsenter", "ansible_nsenter_pid": self.pid,
                "ansible_host": self.ip, "ansible_python_interpreter": "/usr/bin/python3"}


class Fleet:
    """The hosts of one ``hosts()`` context, their bridge namespace and state directory."""

    def __init__(self, tag, state_dir):
        self.tag = tag
        self.bridge_netns = "meshops-ns-%s" % tag
        self.bridge_ip = BRIDGE_IP
        self.state_dir = state_dir
        self.hosts = []

    def host(self, name):
        return next(h for h in self.hosts if h.name == name)

    def __iter__(self):
        return iter(self.hosts)

    def __len__(self):
        return len(self.hosts)

    def inventory(self, groups=None, host_vars=None, group_vars=None):
        """An Ansible YAML inventory (a dict) of these hosts; see ``inventory()``."""
        return inventory(self.hosts, groups, host_vars, group_vars)

    def write_inventory(self, path, groups=None, host_vars=None, group_vars=None, fmt=None):
        """Write the inventory of these hosts to path; see ``write_inventory()``."""
        return write_inventory(path, self.hosts, groups, host_vars, group_vars, fmt)

    @contextlib.contextmanager
    def serve(self, directory, log_path=None):
        """Serve directory over HTTP on the bridge address (reachable from every host, nowhere else).

        Yields the server: ``server.url`` (``http://10.250.0.1:<port>``), ``server.log_path`` (one
        line per request, read with ``lab.mirror.read_log``). The lab mirror's handler: GET/HEAD of
        files, 404 for the rest.
        """
        log_path = log_path or os.path.join(self.state_dir, "http-%d.log" % len(os.listdir(self.state_dir)))
        handler = functools.partial(labmirror.MirrorHandler, directory=os.path.abspath(directory),
                                    request_log=labmirror._RequestLog(log_path))  # pylint: disable=protected-access
        with in_netns(self.bridge_netns):
            server = labmirror.MirrorServer((self.bridge_ip, 0), handler)
        server.root = os.path.abspath(directory)
        server.log_path = log_path
        thread = threading.Thread(target=server.serve_forever, name="nspawn-http", daemon=True)
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()
            server.server_close()


def inventory(hosts, groups=None, host_vars=None, group_vars=None):
    """An Ansible YAML inventory (a dict): every host under all with its connection variables, then
    ``host_vars`` ({host: {var: value}}), ``groups`` ({group: [host, ...]}) and ``group_vars``
    ({group or "all": {var: value}})."""
    hosts = list(hosts)
    host_vars = host_vars or {}
    data = {"all": {"hosts": {h.name: dict(h.inventory_vars(), **host_vars.get(h.name, {})) for h in hosts}}}
    if group_vars and group_vars.get("all"):
        data["all"]["vars"] = dict(group_vars["all"])
    children = {}
    for group, members in (groups or {}).items():
        unknown = sorted(set(members) - {h.name for h in hosts})
        if unknown:
            raise ValueError("group %s names hosts that do not exist: %s" % (group, ", ".join(unknown)))
        children[group] = {"hosts": {m: None for m in members}}
        if group_vars and group_vars.get(group):
            children[group]["vars"] = dict(group_vars[group])
    if children:
        data["all"]["children"] = children
    return data


def write_inventory(path, hosts, groups=None, host_vars=None, group_vars=None, fmt=None):
    """Write ``inventory(hosts, ...)`` to path as YAML (JSON text, which YAML reads), or as INI when
    fmt='ini' or path ends in .ini; returns path. ``hosts`` is a Fleet or a list of Host."""
    fmt = fmt or ("ini" if path.endswith(".ini") else "yaml")
    data = inventory(hosts, groups, host_vars, group_vars)
    with open(path, "w", encoding="utf-8") as handle:
        if fmt == "ini":
            handle.write(_ini(data))
        else:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
    return path


def _ini(data):
    lines = ["[all]"]
    for name, hvars in sorted(data["all"]["hosts"].items()):
        lines.append(" ".join([name] + ["%s=%s" % (k, v) for k, v in sorted(hvars.items())]))
    if data["all"].get("vars"):
        lines += ["", "[all:vars]"] + ["%s=%s" % (k, json.dumps(v) if not isinstance(v, str) else v)
                                       for k, v in sorted(data["all"]["vars"].items())]
    for group, body in sorted(data["all"].get("children", {}).items()):
        lines += ["", "[%s]" % group] + sorted(body["hosts"])
        if body.get("vars"):
            lines += ["", "[%s:vars]" % group] + ["%s=%s" % (k, json.dumps(v) if not isinstance(v, str) else v)
                                                  for k, v in sorted(body["vars"].items())]
    return "\n".join(lines) + "\n"


def _network_up(fleet, names):
    bridge = fleet.bridge_netns
    _network_down(fleet, names)
    ip("netns", "add", bridge)
    _no_ipv6(bridge)
    ip("-n", bridge, "link", "set", "lo", "up")
    ip("-n", bridge, "link", "add", "br0", "type", "bridge")
    ip("-n", bridge, "addr", "add", "%s/%d" % (BRIDGE_IP, PREFIX), "dev", "br0")
    ip("-n", bridge, "link", "set", "br0", "up")
    for index, name in enumerate(names):
        netns = "%s.%s" % (bridge, name)
        ip("netns", "add", netns)
        _no_ipv6(netns)
        ip("-n", netns, "link", "set", "lo", "up")
        veth = _veth_name(netns)
        ip("link", "add", "eth0", "netns", netns, "type", "veth", "peer", "name", veth, "netns", bridge)
        ip("-n", bridge, "link", "set", veth, "master", "br0", "up")
        address = "%s.%d" % (SUBNET, FIRST_HOST + index)
        ip("-n", netns, "addr", "add", "%s/%d" % (address, PREFIX), "dev", "eth0")
        ip("-n", netns, "link", "set", "eth0", "up")
        fleet.hosts.append(Host(name, "%s-%s" % (fleet.tag, name), address, netns, fleet.state_dir))


def _network_down(fleet, names):
    for name in names:
        netns = "%s.%s" % (fleet.bridge_netns, name)
        if _netns_exists(netns):
            ip("netns", "delete", netns, check=False)
    if _netns_exists(fleet.bridge_netns):
        ip("netns", "delete", fleet.bridge_netns, check=False)


def _hosts_file(fleet):
    path = os.path.join(fleet.state_dir, "hosts")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("127.0.0.1 localhost\n%s gateway\n" % BRIDGE_IP)
        handle.writelines("%s %s %s\n" % (h.ip, h.name, h.machine) for h in fleet.hosts)
    return path


def _leader(nspawn_pid, timeout):
    """PID of the container's init: the child of systemd-nspawn in another PID namespace."""
    own = os.readlink("/proc/self/ns/pid")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/task/%d/children" % (nspawn_pid, nspawn_pid), encoding="utf-8") as handle:
                children = [int(c) for c in handle.read().split()]
        except OSError:
            return None
        for child in children:
            try:
                if os.readlink("/proc/%d/ns/pid" % child) != own:
                    return child
            except OSError:
                continue
        time.sleep(0.05)
    return None


PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """In the child before exec: SIGTERM (an orderly poweroff for systemd-nspawn) when the test process dies."""
    import ctypes  # pylint: disable=import-outside-toplevel
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _boot(host, root, hosts_file, binds_ro=()):
    cmd = ["systemd-nspawn", "--quiet", "--boot", "--keep-unit", "--register=no", "--volatile=overlay",
           "--directory=" + root, "--network-namespace-path=/run/netns/" + host.netns,
           "--machine=" + host.machine, "--hostname=" + host.name, "--uuid=" + str(uuid.uuid4()),
           "--console=read-only", "--bind-ro=%s:/etc/hosts" % hosts_file, "--resolv-conf=off",
           "--timezone=off", "--link-journal=no"] + ["--bind-ro=" + path for path in binds_ro]
    # pylint: disable=consider-using-with
    console = open(host.console_log, "wb")
    host.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=_die_with_parent)
    console.close()


def _wait_ready(host, deadline):
    last = ""
    while time.monotonic() < deadline:
        if host.process.poll() is not None:
            raise RuntimeError("systemd-nspawn for %s exited with %s; console:\n%s"
                               % (host.name, host.process.returncode, _tail(host.console_log)))
        if host.pid is None:
            host.pid = _leader(host.process.pid, 1)
        if host.pid is not None:
            try:
                last = host.state()
            except subprocess.TimeoutExpired:
                last = "timeout"
            if last in READY_STATES:
                return
        time.sleep(0.2)
    raise RuntimeError("host %s did not boot (systemctl is-system-running: %r); console:\n%s"
                       % (host.name, last, _tail(host.console_log)))


def _tail(path, size=3000):
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - size))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _stop(host, timeout=STOP_TIMEOUT):
    if host.process is None or host.process.poll() is not None:
        return
    # systemd-nspawn turns SIGTERM into an orderly poweroff of the container's systemd
    with contextlib.suppress(ProcessLookupError):
        host.process.send_signal(signal.SIGTERM)
    try:
        host.process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(host.process.pid, signal.SIGKILL)
        if host.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(host.pid, signal.SIGKILL)
        host.process.wait(10)


def new_tag():
    """A short unique tag for namespace and machine names (interface names allow 15 characters)."""
    return uuid.uuid4().hex[:8]


@contextlib.contextmanager
def hosts(names, tag=None, suite=SUITE, mirror=MIRROR, packages=PACKAGES, boot_timeout=BOOT_TIMEOUT, keep_state=False,
          binds_ro=()):
    """Boot one systemd host per name (in parallel); yields a Fleet. Everything goes on exit.

    binds_ro: directories of this machine each host sees read-only at the same path (e.g. the
    checkout and its Python, to run the collection's own playbooks inside a host)."""
    names = list(names)
    if not names or len(set(names)) != len(names):
        raise ValueError("hosts() needs distinct host names, got %r" % (names,))
    for name in names:
        if not name.replace("-", "").isalnum() or not name[0].isalpha() or len(name) > 40:
            raise ValueError("host name %r: accepted are letters, digits and '-', starting with a letter" % name)
    if os.geteuid() != 0:
        raise RuntimeError("lab.nspawn needs root (network namespaces, systemd-nspawn)")
    root = ensure_root(suite, mirror, packages)
    tag = tag or new_tag()
    state_dir = tempfile.mkdtemp(prefix="meshops-nspawn-%s-" % tag)
    fleet = Fleet(tag, state_dir)
    try:
        started = time.monotonic()
        _network_up(fleet, names)
        hosts_file = _hosts_file(fleet)
        for host in fleet.hosts:
            _boot(host, root, hosts_file, binds_ro)
        deadline = time.monotonic() + boot_timeout
        for host in fleet.hosts:
            _wait_ready(host, deadline)
        log("%d host(s) up in %.1fs: %s" % (len(fleet.hosts), time.monotonic() - started,
                                            ", ".join("%s=%s pid %d" % (h.name, h.ip, h.pid) for h in fleet.hosts)))
        yield fleet
    finally:
        for host in fleet.hosts:
            _stop(host)
        _network_down(fleet, names)
        if not keep_state:
            shutil.rmtree(state_dir, ignore_errors=True)


def stale_namespaces():
    """meshops-ns-* network namespaces no process is in (left by a test that was killed)."""
    inodes = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with contextlib.suppress(OSError):
                inodes.add(os.stat("/proc/%s/ns/net" % pid).st_ino)
    try:
        names = sorted(n for n in os.listdir("/run/netns") if n.startswith("meshops-ns-"))
    except OSError:
        return []
    return [n for n in names if os.stat(os.path.join("/run/netns", n)).st_ino not in inodes]


def cleanup():
    """Delete stale namespaces (run it when no test is booting hosts); returns their names."""
    stale = stale_namespaces()
    for name in sorted(stale, reverse=True):  # hosts' namespaces before their bridge's
        ip("netns", "delete", name, check=False)
    return stale


# --------------------------------------------------------------------------- command line
def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lab.nspawn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build (or find) the cached Debian root and print its path")
    boot = sub.add_parser("boot", help="boot hosts, print an inventory, wait for Enter, clean up")
    boot.add_argument("names", nargs="+")
    sub.add_parser("cleanup", help="delete meshops-ns-* namespaces no process is in (when no test runs)")
    args = parser.parse_args(argv)
    if args.command == "build":
        print(ensure_root())
        return 0
    if args.command == "cleanup":
        for name in cleanup():
            print("deleted network namespace %s" % name)
        return 0
    with hosts(args.names) as fleet:
        print(json.dumps(fleet.inventory(), indent=2, sort_keys=True))
        with contextlib.suppress(EOFError, KeyboardInterrupt):
            input("hosts are up; press Enter to stop them\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
