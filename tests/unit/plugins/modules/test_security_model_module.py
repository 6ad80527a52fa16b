"""The security_model module without a cluster (``current`` and ``service_accounts`` stand in)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.meshops.istio.plugins.modules import security_model

PA = {"name": "default", "namespace": "bookinfo", "mode": "STRICT"}
AP = {"name": "allow-nothing", "namespace": "bookinfo"}


def call(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exit_info:
            security_model.main()
    return exit_info.value.code, json.loads(capsys.readouterr().out)


def on_server(obj, rv):
    obj = json.loads(json.dumps(obj))
    obj["metadata"].update(resourceVersion=rv, uid="u-" + rv)
    return obj


def test_invalid_model_fails_listing_every_field(capsys):
    code, out = call(capsys, peer_authentications=[dict(PA, mode="STRICt")],
                     authorization_policies=[{"name": "v", "namespace": "bookinfo", "rules": [
                         {"from": [{"source": {"principals": ["cluster.local/ns/bookinfo/sa/missing"]}}]}]}],
                     service_accounts=["bookinfo/default"], peer_authentications_var="mesh_security_peer_authentications",
                     authorization_policies_var="mesh_security_authorization_policies")
    assert code == 1 and out["failed"]
    assert out["errors"] == [
        "mesh_security_peer_authentications[0].mode: 'STRICt' is not one of UNSET, DISABLE, PERMISSIVE, STRICT",
        "mesh_security_authorization_policies[0].rules[0].from[0].source.principals[0]: ServiceAccount bookinfo/missing "
        "does not exist (principal cluster.local/ns/bookinfo/sa/missing)"]
    assert "nothing was applied" in out["msg"]


def test_steps_from_nothing_to_strict_and_enforced(capsys):
    code, out = call(capsys, peer_authentications=[PA], authorization_policies=[AP], service_accounts=[])
    assert code == 0 and out["changed"] is False
    assert out["plan"]["change_text"] == ["PeerAuthentication bookinfo/default", "AuthorizationPolicy bookinfo/allow-nothing"]
    assert [e["object"] for e in out["snapshot"]["entries"]] == [None, None]
    _code, step = call(capsys, peer_authentications=[PA], authorization_policies=[AP], step="mtls_intermediate")
    assert [d["spec"]["mtls"]["mode"] for d in step["definitions"]] == ["PERMISSIVE"]
    assert "resourceVersion" not in step["definitions"][0]["metadata"]
    permissive = on_server(step["definitions"][0], "11")
    _code, step = call(capsys, peer_authentications=[PA], authorization_policies=[AP], step="mtls_final", current=[permissive])
    assert step["definitions"][0]["spec"]["mtls"]["mode"] == "STRICT"
    assert step["definitions"][0]["metadata"]["resourceVersion"] == "11"
    _code, step = call(capsys, peer_authentications=[PA], authorization_policies=[AP], step="authz_intermediate")
    assert step["definitions"][0]["metadata"]["annotations"] == {"istio.io/dry-run": "true"}


def test_final_step_prunes_managed_objects_the_model_dropped(capsys):
    _code, first = call(capsys, peer_authentications=[PA], authorization_policies=[AP, dict(AP, name="old")], step="authz_final")
    current = [on_server(d, str(10 + i)) for i, d in enumerate(first["definitions"])]
    _code, step = call(capsys, peer_authentications=[PA], authorization_policies=[AP], step="authz_final", current=current)
    assert step["definitions"] == []
    assert step["delete"] == [{"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
                               "metadata": {"name": "old", "namespace": "bookinfo"}}]


def test_restore_needs_a_snapshot(capsys):
    code, out = call(capsys, step="restore")
    assert code == 1 and out["msg"] == "step=restore needs a snapshot"
    code, out = call(capsys, step="restore", snapshot={"format": 2})
    assert code == 1 and "not a mesh_security snapshot" in out["msg"]
