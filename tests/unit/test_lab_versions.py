"""Where versions live: the collection's Istio version is istioctl_version in the istioctl role's
defaults, and lab/versions.env pins only what the lab alone needs, including the Istio commit
it builds for exactly that version."""

import os
import re
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from lab import build, collection  # noqa: E402  pylint: disable=wrong-import-position,import-error

PSEUDO = re.compile(r"^v0\.0\.0-[0-9]{14}-[0-9a-f]{12}$")


def _role_version():
    with open(os.path.join(ROOT, "roles", "istioctl", "defaults", "main.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["istioctl_version"]


def test_the_lab_reads_the_istio_version_from_the_istioctl_role():
    assert collection.istio_version() == _role_version()
    assert build.load_versions()["ISTIO_VERSION"] == _role_version()


def test_versions_env_does_not_own_the_collections_istio_version():
    assert "ISTIO_VERSION" not in build.read_env()


def test_versions_env_pins_the_istio_commit_of_exactly_the_roles_version():
    env = build.read_env()
    pinned = sorted(key for key in env if key.startswith("ISTIO_PSEUDO_"))
    assert pinned == ["ISTIO_PSEUDO_" + build.version_key(_role_version())], (
        "lab/versions.env must pin the commit of istioctl_version %s (roles/istioctl/defaults/main.yml) and no other"
        % _role_version())
    assert PSEUDO.match(env[pinned[0]])
    replaces = [key for key in env if key.startswith("ISTIO_REPLACE_")]
    assert replaces in ([], ["ISTIO_REPLACE_" + build.version_key(_role_version())])


def test_the_previous_release_is_older_than_the_collections():
    env = build.read_env()

    def number(version):
        return tuple(int(part) for part in version.split("."))

    assert number(env["ISTIO_PREVIOUS_VERSION"]) < number(_role_version())
    assert PSEUDO.match(env["ISTIO_PREVIOUS_PSEUDO"])


def test_a_version_without_a_pinned_commit_fails_the_build_with_the_key_to_add():
    with pytest.raises(SystemExit, match="ISTIO_PSEUDO_9_9_9=") as err:
        build.load_versions(istio_version="9.9.9")
    assert "istioctl_version" in str(err.value)


def test_the_istio_piece_is_built_from_the_pinned_commit():
    versions = build.load_versions()
    spec = build.pieces(versions)["istio"]
    assert spec["version"] == _role_version()
    assert "require istio.io/istio %s" % versions["ISTIO_PSEUDO_" + build.version_key(_role_version())] in spec["mod"]


def test_skip_previous_leaves_out_only_the_previous_istio():
    specs = build.pieces(build.load_versions())
    assert build.default_pieces(specs) == ["kubernetes", "etcd", "kwok", "istio", "istio-dataplane", "istio-previous"]
    assert build.default_pieces(specs, skip_previous=True) == ["kubernetes", "etcd", "kwok", "istio", "istio-dataplane"]


def test_dataplane_piece_is_built_from_the_istio_module_and_keyed_by_the_probe_source():
    specs = build.pieces(build.load_versions())
    piece = specs["istio-dataplane"]
    assert piece["mod"] == specs["istio"]["mod"] and piece["x"] == specs["istio"]["x"]
    assert piece["version"].startswith(specs["istio"]["version"] + "-") and len(piece["version"].rsplit("-", 1)[1]) == 10
    assert piece["binaries"] == ["pilot-agent", "server", "meshops-probe"]
