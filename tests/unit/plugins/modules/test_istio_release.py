# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The istio_release module end to end in-process: argument handling, open_url against a
loopback HTTP server, exit and fail JSON."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.meshops.istio.plugins.modules import istio_release
from ansible_collections.meshops.istio.tests.support.istio_release_archives import (
    ReleaseServer,
    build_release,
    sha256,
)

V = "1.31.0"


@pytest.fixture
def server():
    with ReleaseServer() as srv:
        yield srv


def call(capsys, args, check_mode=False):
    if check_mode:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exit_info:
            istio_release.main()
    out = json.loads(capsys.readouterr().out)
    return exit_info.value.code, out


def test_present_then_idempotent(server, tmp_path, capsys):
    archive = build_release(V)
    url = server.publish(V, archive)
    args = dict(version=V, os="Linux", arch="x86_64", base_url=server.base_url, install_dir=str(tmp_path / "r"))
    code, out = call(capsys, args)
    assert code == 0, out
    assert out["changed"] and out["downloaded"] and out["sha256"] == sha256(archive)
    assert out["os"] == "linux" and out["arch"] == "amd64" and out["url"] == url
    assert server.requests == ["/releases/1.31.0/istio-1.31.0-linux-amd64.tar.gz.sha256",
                               "/releases/1.31.0/istio-1.31.0-linux-amd64.tar.gz"]
    code, again = call(capsys, args)
    assert code == 0 and not again["changed"] and not again["downloaded"]
    assert len(server.requests) == 2


def test_http_404_fails_naming_version_and_url(server, tmp_path, capsys):
    args = dict(version="1.99.0", os="linux", arch="amd64", base_url=server.base_url, install_dir=str(tmp_path / "r"))
    code, out = call(capsys, args)
    url = server.base_url + "/1.99.0/istio-1.99.0-linux-amd64.tar.gz"
    assert code == 1 and out["failed"]
    assert out["msg"] == "Istio release 1.99.0 was not found: %s.sha256 returned HTTP 404 (archive %s)" % (url, url)
    assert not (tmp_path / "r").exists()


def test_connection_refused_is_a_clear_failure(tmp_path, capsys):
    with ReleaseServer() as srv:
        base = srv.base_url  # a port that is closed once the server stops
    args = dict(version=V, os="linux", arch="amd64", base_url=base, install_dir=str(tmp_path / "r"), timeout=5)
    code, out = call(capsys, args)
    assert code == 1
    assert out["msg"].startswith("cannot download the checksum of Istio 1.31.0: cannot fetch %s/1.31.0/" % base)
    assert not (tmp_path / "r").exists()


def test_check_mode_makes_no_request(server, tmp_path, capsys):
    server.publish(V, build_release(V))
    args = dict(version=V, os="linux", arch="arm64", base_url=server.base_url, install_dir=str(tmp_path / "r"))
    code, out = call(capsys, args, check_mode=True)
    assert code == 0 and out["changed"] and out["operation"] == "install" and not out["downloaded"]
    assert server.requests == [] and not (tmp_path / "r").exists()


def test_unsupported_arch_fails(server, tmp_path, capsys):
    args = dict(version=V, os="linux", arch="sparc", base_url=server.base_url, install_dir=str(tmp_path / "r"))
    code, out = call(capsys, args)
    assert code == 1 and "unsupported architecture 'sparc'" in out["msg"] and "amd64" in out["msg"]
    assert server.requests == []


def test_bad_state_is_rejected_by_the_argument_spec(tmp_path, capsys):
    code, out = call(capsys, dict(version=V, state="latest", install_dir=str(tmp_path)))
    assert code == 1 and "value of state must be one of: present, absent, got: latest" in out["msg"]
