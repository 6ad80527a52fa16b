# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The work of the security_model module: read the policies in place, validate and render the model,
and hand back what one step of the mesh_security role sends to the API server.

Decisions come from security/model.py; this file reads their inputs (from the API server, or from
the `current` and `service_accounts` options without a kubeconfig). `run` returns the module result
and raises RunnerError; it never exits.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils.kube.client import Kube
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import RunnerError, connect
from ansible_collections.meshops.istio.plugins.module_utils.security import model as sm

STEP_KINDS = {"mtls": "PeerAuthentication", "authz": "AuthorizationPolicy"}
MODEL_KEYS = {"PeerAuthentication": "peer_authentications", "AuthorizationPolicy": "authorization_policies"}


def _delete_objects(refs):
    return [{"apiVersion": r.get("apiVersion") or sm.API_VERSION, "kind": r["kind"],
             "metadata": {"name": r["name"], "namespace": r["namespace"]}} for r in refs]


def _read_cluster(params, kube_factory):
    """(the managed kinds' objects in place, "namespace/name" of every ServiceAccount or None)."""
    kube = connect(params, kube_factory)
    for kind in sm.KINDS:
        if kube.resource(sm.API_VERSION, kind) is None:
            raise RunnerError("The API server does not serve %s %s: install Istio's control plane first "
                              "(playbooks/install.yml); nothing was applied." % (sm.API_VERSION, kind))
    current = kube.list(sm.API_VERSION, "PeerAuthentication") + kube.list(sm.API_VERSION, "AuthorizationPolicy")
    accounts = None
    if params["check_service_accounts"]:
        accounts = set("%s/%s" % (o["metadata"]["namespace"], o["metadata"]["name"]) for o in kube.list("v1", "ServiceAccount"))
    return current, accounts


def _step(params, result, rendered, plan, current):
    """Fill in what the step sends: definitions to put, objects to delete, the proposed objects."""
    step = params["step"]
    kind = STEP_KINDS.get(step.split("_")[0])
    key = MODEL_KEYS.get(kind)
    if step.endswith("_intermediate"):
        result["definitions"] = sm.intermediate_definitions(rendered[key]["intermediate"], rendered[key]["final"], current)
        result["proposed"] = rendered[key]["intermediate"]
    elif step.endswith("_final"):
        result["definitions"] = sm.put_definitions(rendered[key]["final"], current)
        result["delete"] = _delete_objects([r for r in plan["prune"] if r["kind"] == kind])
        result["proposed"] = rendered[key]["final"]
    elif step == "restore":
        if not params["snapshot"]:
            raise RunnerError("step=restore needs a snapshot")
        restore = sm.restore_plan(params["snapshot"], current)
        result["definitions"] = restore["put"]
        result["delete"] = _delete_objects(restore["delete"])


def _run(params, kube_factory):
    if params["kubeconfig"]:
        current, accounts = _read_cluster(params, kube_factory)
    else:
        current = params["current"]
        accounts = set(params["service_accounts"]) if (params["service_accounts"] is not None and params["check_service_accounts"]) else None

    errors = sm.validate_model(params["peer_authentications"], params["authorization_policies"], accounts,
                               params["peer_authentications_var"], params["authorization_policies_var"])
    if errors:
        raise RunnerError("The mesh_security model is invalid; nothing was applied:\n" + "\n".join(errors), errors=errors)

    rendered = sm.render_model(params["peer_authentications"], params["authorization_policies"], params["mtls_stage"],
                               params["authz_stage"])
    plan = sm.plan(rendered, current)
    result = dict(changed=False, objects=rendered, plan=plan, definitions=[], delete=[], proposed=[],
                  snapshot=sm.snapshot(plan["changes"] + plan["prune"], current))
    _step(params, result, rendered, plan, current)
    return result


def run(params, check_mode=False, kube_factory=Kube):
    """Do what the security_model module was asked; return the module result (a dict).

    Nothing changes on the cluster here (the role applies the definitions), so check mode changes
    nothing either. A ValueError from the model (a snapshot that is not one) becomes a RunnerError
    with its message. Raises RunnerError.
    """
    try:
        return _run(params, kube_factory)
    except ValueError as exc:
        raise RunnerError(str(exc))
