# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The work of the istio_injection module: check every namespace, label, restart, wait.

Decisions come from istio/injection.py; this file reads their inputs from the API server
and applies the answer. `run` returns the module result and raises RunnerError; it never exits.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime

from ansible_collections.meshops.istio.plugins.module_utils.istio import injection as inj
from ansible_collections.meshops.istio.plugins.module_utils.kube.client import Kube
from ansible_collections.meshops.istio.plugins.module_utils.kube.waiter import wait_rollout
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import RunnerError, connect


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _workloads(kube, namespace):
    """(Deployments, ReplicaSets, Pods) of a namespace: what the restart decisions read."""
    return (kube.list("apps/v1", "Deployment", namespace=namespace),
            kube.list("apps/v1", "ReplicaSet", namespace=namespace),
            kube.list("v1", "Pod", namespace=namespace))


def _restart(kube, items, revision, timeout, now=_now, **wait):
    """`kubectl rollout restart` the Deployments in `items` (stamped for `revision`), then wait;
    RunnerError naming the Deployments still rolling out at the deadline."""
    if not items:
        return
    stamp = now()
    for item in items:
        kube.merge_patch("apps/v1", "Deployment", item["name"], inj.restart_patch(stamp, revision), item["namespace"])
    pending = wait_rollout(kube, [(item["namespace"], item["name"]) for item in items], timeout, **wait)
    if pending:
        raise RunnerError("rollout not finished after %ds: %s" % (timeout, ", ".join("%s/%s" % item for item in pending)))


def _result(created, labelled, restarted, lines):
    result = {"changed": bool(created or labelled or restarted), "created": created, "labelled": labelled,
              "restarted": [{"deployment": i["deployment"], "reason": i["reason"]} for i in restarted]}
    if result["changed"]:
        lines += ["~ restart deployment %s: %s" % (i["deployment"], i["reason"]) for i in restarted]
        result["diff"] = {"prepared": "\n".join(lines) + "\n"}
    return result


def _restart_item(namespace, deployment, reason):
    return {"deployment": "%s/%s" % (namespace, deployment), "reason": reason, "namespace": namespace, "name": deployment}


def remove(params, kube, check_mode=False, **wait):
    """state=absent: take the injection labels off the namespaces that exist, and restart the
    Deployments whose pods still carry a sidecar so they come back without it."""
    unlabelled, restarted = {}, []
    for name in params["namespaces"]:
        namespace = kube.get("v1", "Namespace", name)
        if namespace is None:
            continue
        patch = inj.removal_patch((namespace.get("metadata") or {}).get("labels"))
        if patch:
            unlabelled[name] = patch["metadata"]["labels"]
        if params["restart"]:
            for deployment, reason in inj.deployments_with_sidecar(*_workloads(kube, name)):
                restarted.append(_restart_item(name, deployment, reason))
    if not check_mode:
        for name, labels in unlabelled.items():
            kube.merge_patch("v1", "Namespace", name, {"metadata": {"labels": labels}})
        _restart(kube, restarted, "none", params["wait_timeout"], **wait)
    lines = ["~ namespace %s remove labels %s" % (n, ", ".join(sorted(l))) for n, l in sorted(unlabelled.items())]
    return _result([], unlabelled, restarted, lines)


def apply(params, kube, check_mode=False, **wait):
    """state=present: label (or create) the namespaces, then restart what lacks the right sidecar."""
    revision = params["revision"] or ""
    # 1. decide for every namespace before anything changes
    created, labelled, errors = [], {}, []
    for name in params["namespaces"]:
        namespace = kube.get("v1", "Namespace", name)
        if namespace is None:
            created.append(name)
            continue
        try:
            patch = inj.label_patch(name, (namespace.get("metadata") or {}).get("labels"), revision,
                                    params["label_conflict"])
        except inj.InjectionError as exc:
            errors.append(str(exc))
            continue
        if patch:
            labelled[name] = patch["metadata"]["labels"]
    if errors:
        raise RunnerError("; ".join(errors))

    # 2. label (or create) the namespaces
    if not check_mode:
        for name in created:
            kube.create({"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": name, "labels": inj.wanted_labels(revision)}})
        for name, labels in labelled.items():
            kube.merge_patch("v1", "Namespace", name, {"metadata": {"labels": labels}})

    # 3. restart what lacks the right sidecar (a new namespace has nothing to restart)
    restarted = []
    if params["restart"]:
        for name in params["namespaces"]:
            if name in created:
                continue
            for deployment, reason in inj.deployments_to_restart(*_workloads(kube, name), revision=revision):
                restarted.append(_restart_item(name, deployment, reason))
        if not check_mode:
            _restart(kube, restarted, revision, params["wait_timeout"], **wait)

    lines = ["+ namespace %s %s" % (n, inj.wanted_labels(revision)) for n in created]
    lines += ["~ namespace %s labels %s" % (n, l) for n, l in sorted(labelled.items())]
    return _result(created, labelled, restarted, lines)


def run(params, check_mode=False, kube_factory=Kube, **wait):
    """Do what the istio_injection module was asked; return the module result (a dict).

    Namespace names are checked before the cluster is contacted. `wait` (clock, sleep, interval)
    goes to the rollout waiter. Raises RunnerError.
    """
    problems = [p for p in (inj.namespace_problem(n) for n in params["namespaces"]) if p]
    if problems:
        raise RunnerError("; ".join(problems))
    kube = connect(params, kube_factory)
    if params.get("state") == "absent":
        return remove(params, kube, check_mode, **wait)
    return apply(params, kube, check_mode, **wait)
