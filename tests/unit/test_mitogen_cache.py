"""The disk cache of scripts/strategy/mitogen_linear.py: Mitogen's controller-side compile and
minify, kept by a hash of their input, read back instead of redone, and never in the way."""

import importlib.util
import marshal
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHIM = os.path.join(ROOT, "scripts", "strategy", "mitogen_linear.py")

mitogen_master = pytest.importorskip("mitogen.master")
mitogen_minify = pytest.importorskip("mitogen.minify")
module_finder = pytest.importorskip("ansible_mitogen.module_finder")

SOURCE = b"import os\nANSWER = 6 * 7\n"
# importing the strategy imports ansible-core's ssh-agent support, which warns about cryptography's DSA
pytestmark = pytest.mark.filterwarnings("ignore:DSA is deprecated")


@pytest.fixture
def shim(tmp_path, monkeypatch):
    """The shim, imported against an empty cache; the patched names are put back afterwards."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("MESHOPS_MITOGEN_CACHE", raising=False)
    monkeypatch.delenv("MESHOPS_LAB_CACHE", raising=False)
    saved = (mitogen_master.__dict__.get("compile"), module_finder.__dict__.get("compile"), mitogen_minify.minimize_source)
    spec = importlib.util.spec_from_file_location("meshops_test_mitogen_linear", SHIM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    for owner, value in ((mitogen_master, saved[0]), (module_finder, saved[1])):
        if value is None:
            owner.__dict__.pop("compile", None)
        else:
            owner.compile = value
    mitogen_minify.minimize_source = saved[2]


def entries(shim):
    found = []
    for folder, _dirs, files in os.walk(shim.cache_dir()):
        found += [os.path.join(folder, name) for name in files if not name.startswith(".tmp-")]
    return sorted(found)


def run(code):
    namespace = {}
    exec(code, namespace)  # pylint: disable=exec-used
    return namespace["ANSWER"]


def test_importing_the_strategy_hands_mitogen_the_cached_functions(shim):
    assert mitogen_master.compile is shim.cached_compile
    assert module_finder.compile is shim.cached_compile
    assert mitogen_minify.minimize_source is shim.cached_minimize_source
    assert shim.cache_dir().endswith(os.path.join("meshops-istio", "mitogen", shim._TAG))  # pylint: disable=protected-access


def test_a_compiled_module_is_stored_once_and_read_back(shim):
    first = shim.cached_compile(SOURCE, "/x/mod.py", "exec")
    assert run(first) == 42 and first.co_filename == "/x/mod.py"
    (entry,) = entries(shim)
    # what is read back is the stored code object: replace it and the next call returns the replacement
    with open(entry, "wb") as handle:
        handle.write(marshal.dumps(compile(b"ANSWER = 'from the cache'\n", "/x/mod.py", "exec")))
    assert run(shim.cached_compile(SOURCE, "/x/mod.py", "exec")) == "from the cache"
    assert entries(shim) == [entry]


def test_another_source_or_file_name_is_another_entry(shim):
    shim.cached_compile(SOURCE, "/x/mod.py", "exec")
    assert run(shim.cached_compile(SOURCE.replace(b"7", b"8"), "/x/mod.py", "exec")) == 48
    assert shim.cached_compile(SOURCE, "/y/mod.py", "exec").co_filename == "/y/mod.py"
    assert len(entries(shim)) == 3


def test_an_unreadable_entry_is_compiled_again_and_replaced(shim):
    shim.cached_compile(SOURCE, "/x/mod.py", "exec")
    (entry,) = entries(shim)
    with open(entry, "wb") as handle:
        handle.write(b"not marshal data")
    assert run(shim.cached_compile(SOURCE, "/x/mod.py", "exec")) == 42
    with open(entry, "rb") as handle:
        assert run(marshal.loads(handle.read())) == 42


def test_a_cache_that_cannot_be_written_only_costs_the_work(shim, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert run(shim.cached_compile(SOURCE, "/x/mod.py", "exec")) == 42
    source = '"""doc"""\nx = 1\n'
    assert shim.cached_minimize_source(source) == shim._MINIMIZE(source)  # pylint: disable=protected-access


def test_the_cache_sits_under_the_lab_cache_root_when_one_is_set(shim, tmp_path, monkeypatch):
    monkeypatch.setenv("MESHOPS_LAB_CACHE", str(tmp_path / "lab-cache"))
    assert shim.cache_dir() == os.path.join(str(tmp_path / "lab-cache"), "mitogen", shim._TAG)  # pylint: disable=protected-access
    shim.cached_compile(SOURCE, "/x/mod.py", "exec")
    assert len(entries(shim)) == 1 and entries(shim)[0].startswith(str(tmp_path / "lab-cache"))


def test_a_write_that_fails_halfway_leaves_no_temporary_file(shim, monkeypatch):
    def refuse(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(shim.os, "replace", refuse)
    assert run(shim.cached_compile(SOURCE, "/x/mod.py", "exec")) == 42
    left = [name for _folder, _dirs, files in os.walk(shim.cache_dir()) for name in files]
    assert left == []


def test_syntax_errors_still_raise_and_store_nothing(shim):
    with pytest.raises(SyntaxError):
        shim.cached_compile(b"def broken(:\n", "/x/bad.py", "exec")
    assert not entries(shim)


def test_other_compile_modes_are_passed_through_uncached(shim):
    assert eval(shim.cached_compile("6 * 7", "<expr>", "eval")) == 42  # pylint: disable=eval-used
    assert not entries(shim)


def test_minified_source_matches_mitogen_and_is_read_back(shim):
    source = open(mitogen_minify.__file__, "rb").read()  # pylint: disable=consider-using-with
    expected = shim._MINIMIZE(source)  # pylint: disable=protected-access
    assert shim.cached_minimize_source(source) == expected
    (entry,) = entries(shim)
    with open(entry, "wb") as handle:
        handle.write("# from the cache\n".encode("utf-8"))
    assert shim.cached_minimize_source(source) == "# from the cache\n"


def test_meshops_mitogen_cache_0_leaves_mitogen_alone(shim, monkeypatch):
    monkeypatch.setenv("MESHOPS_MITOGEN_CACHE", "0")
    mitogen_master.__dict__.pop("compile", None)
    module_finder.__dict__.pop("compile", None)
    mitogen_minify.minimize_source = shim._MINIMIZE  # pylint: disable=protected-access
    shim.install_cache()
    assert "compile" not in mitogen_master.__dict__ and "compile" not in module_finder.__dict__
    assert mitogen_minify.minimize_source is shim._MINIMIZE  # pylint: disable=protected-access
