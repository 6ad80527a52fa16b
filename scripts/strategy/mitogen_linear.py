"""Strategy `mitogen_linear`, the default of this checkout's runs (ansible.cfg's `strategy` and
`strategy_plugins`, which names this directory); `ANSIBLE_STRATEGY=linear` runs without it.

Mitogen for Ansible (the `mitogen` package, pinned in requirements.txt) runs each task's module in
a warm interpreter forked from one that already imported Ansible's module code, instead of
starting a new Python that imports it again for every task: the same tasks and results (its -vvv
output differs; figures in docs/DEVELOPING.md). This file only gives
Ansible's plugin loader the strategy under the package's canonical import name, so that its
classes are loaded once; naming the package's own plugin directory in ansible.cfg would hard-code
the venv's Python version.

It also keeps on disk the work Mitogen's controller repeats in every run. Each run starts a new
interpreter for its tasks, and the controller sends it the Python modules they import: before
sending, it compiles each module's source only to list the modules that one imports
(mitogen.master.ModuleFinder, ansible_mitogen.module_finder.scan), and strips the comments out of
Mitogen's own modules (mitogen.minify). That was about 1.4 of the 8.6 CPU-seconds of a no-op
`playbooks/security.yml` (docs/benchmarks.md, the test loop). `install_cache()` hands those two
places a `compile` and a `minimize_source` that keep their results in
<cache root>/mitogen/<python>-mitogen-<version>/ (the lab's cache root, ~/.cache/meshops-istio by
default), keyed by a
SHA-256 of their whole input (source and file name), so an entry is only ever found for the input
that made it: an edited module gets a new key. Each entry is one file, written to a temporary name
and renamed, so parallel runs share the cache safely; an entry that cannot be read or written
means doing the work, as without the cache. MESHOPS_MITOGEN_CACHE=0 turns it off.
"""

import builtins
import hashlib
import marshal
import os
import sys
import tempfile

import mitogen  # pylint: disable=import-error
import mitogen.master  # pylint: disable=import-error
import mitogen.minify  # pylint: disable=import-error
import ansible_mitogen.loaders  # pylint: disable=import-error
import ansible_mitogen.module_finder  # pylint: disable=import-error
import ansible_mitogen.strategy  # pylint: disable=import-error

_TAG = "%s-mitogen-%s" % (sys.implementation.cache_tag, ".".join(str(p) for p in mitogen.__version__))


def cache_dir():
    """Under the checkout's cache root, by lab.build.cache_root()'s rule ($MESHOPS_LAB_CACHE, else
    $XDG_CACHE_HOME/meshops-istio, else ~/.cache/meshops-istio). The rule is repeated here rather than
    imported: lab.build imports the collection's module_utils, about 0.1 s added to every run."""
    root = os.environ.get("MESHOPS_LAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "meshops-istio")
    return os.path.join(root, "mitogen", _TAG)


def _key(kind, *parts):
    digest = hashlib.sha256(kind.encode("ascii"))
    for part in parts:
        digest.update(b"\0")
        digest.update(part if isinstance(part, bytes) else str(part).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _read(key):
    try:
        with open(os.path.join(cache_dir(), key[:2], key), "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _write(key, data):
    folder = os.path.join(cache_dir(), key[:2])
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, os.path.join(folder, key))
    except OSError:
        try:
            os.unlink(tmp)  # a full disk leaves no half-written file behind
        except OSError:
            pass


def cached_compile(source, filename, mode, flags=0, dont_inherit=False, optimize=-1):
    """builtins.compile, with the code object of a whole module kept on disk (marshal)."""
    if mode != "exec" or flags or optimize != -1:
        return builtins.compile(source, filename, mode, flags, dont_inherit, optimize)
    key = _key("compile", source, filename)
    data = _read(key)
    if data is not None:
        try:
            return marshal.loads(data)
        except (EOFError, ValueError, TypeError):
            pass
    code = builtins.compile(source, filename, mode, 0, True)
    _write(key, marshal.dumps(code))
    return code


_MINIMIZE = mitogen.minify.minimize_source


def cached_minimize_source(source):
    """mitogen.minify.minimize_source (comments and docstrings out), kept on disk."""
    key = _key("minify", source)
    data = _read(key)
    if data is not None:
        return data.decode("utf-8")
    result = _MINIMIZE(source)
    _write(key, result.encode("utf-8"))
    return result


def install_cache():
    if os.environ.get("MESHOPS_MITOGEN_CACHE", "1") == "0":
        return
    mitogen.master.compile = cached_compile
    ansible_mitogen.module_finder.compile = cached_compile
    mitogen.minify.minimize_source = cached_minimize_source


install_cache()

_LINEAR = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)


class StrategyModule(ansible_mitogen.strategy.StrategyMixin, _LINEAR):  # pylint: disable=too-few-public-methods
    """Ansible's linear strategy, with modules run by Mitogen."""
