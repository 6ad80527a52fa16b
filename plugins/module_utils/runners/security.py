# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The work of the security_model module: read the policies in place, validate and render the model,
and hand back what one step of the mesh_security role sends to the API server; with `apply`, send it.

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


def _read_cluster(params, kube):
    """(the managed kinds' objects in place, "namespace/name" of every ServiceAccount or None)."""
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


def _send(kube, result):
    """Replace each definition that carries a resourceVersion (the server refuses it when the object
    changed since it was read), create the others, then delete what the step drops."""
    for obj in result["definitions"]:
        if (obj.get("metadata") or {}).get("resourceVersion"):
            kube.replace(obj)
        else:
            kube.create(obj)
    for obj in result["delete"]:
        kube.delete(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], obj["metadata"]["namespace"])


def _diff(result, current):
    """Ansible's --diff of the step: each object as it is (normalized, as the role compares it) and
    as the step leaves it (absent: deleted)."""
    by_ref = dict((sm.ref(o), o) for o in current)

    def entry(obj, after):
        meta = obj.get("metadata") or {}
        header = "%s %s/%s" % (obj.get("kind"), meta.get("namespace"), meta.get("name"))
        return {"before_header": header, "after_header": header,
                "before": sm.normalize(by_ref.get(sm.ref(obj))) or {}, "after": after}

    return ([entry(obj, sm.normalize(obj)) for obj in result["definitions"]]
            + [entry(obj, {}) for obj in result["delete"]])


def _run(params, kube_factory, check_mode, diff):
    if params["apply"] and not params["kubeconfig"]:
        raise RunnerError("apply=true needs kubeconfig: the step is sent to the cluster it was worked out against")
    if params["apply"] and params["step"] == "validate":
        raise RunnerError("apply=true needs a step that sends something (mtls_intermediate, mtls_final, "
                          "authz_intermediate, authz_final, restore), not validate")
    kube = None
    if params["kubeconfig"]:
        kube = connect(params, kube_factory)
        current, accounts = _read_cluster(params, kube)
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
    if params["apply"]:
        result["changed"] = bool(result["definitions"] or result["delete"])
        if diff and result["changed"]:
            result["diff"] = _diff(result, current)
        if result["changed"] and not check_mode:
            _send(kube, result)
    return result


def run(params, check_mode=False, kube_factory=Kube, diff=False):
    """Do what the security_model module was asked; return the module result (a dict).

    Without `apply` nothing changes on the cluster (changed=false). With it, the step's definitions
    and deletions are sent (changed when there are any; in check mode only reported), and with
    `diff` the result carries each object before and after (Ansible's --diff). A ValueError
    from the model (a snapshot that is not one) becomes a RunnerError with its message. Raises
    RunnerError.
    """
    try:
        return _run(params, kube_factory, check_mode, diff)
    except ValueError as exc:
        raise RunnerError(str(exc))
