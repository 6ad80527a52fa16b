"""Every role's defaults and argument spec list the same keys, and every option is documented."""

import glob
import os

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
