"""Test files have unique basenames: pytest (rootdir-relative imports, no __init__.py) cannot
collect two test modules of the same name in one run, which `make test` does."""

import collections
import glob
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_test_modules_have_unique_basenames():
    by_name = collections.defaultdict(list)
    for path in glob.glob(os.path.join(ROOT, "tests", "**", "test_*.py"), recursive=True):
        by_name[os.path.basename(path)].append(os.path.relpath(path, ROOT))
    assert len(by_name) > 10
    assert {name: paths for name, paths in by_name.items() if len(paths) > 1} == {}
