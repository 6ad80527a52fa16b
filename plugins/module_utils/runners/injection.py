# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The work of the istio_injection module: check every namespace, label, restart, wait.

Decisions come from sidecar_injection.py; this file reads their inputs from the API server
and applies the answer.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import time

from ansible_collections.meshops.istio.plugins.module_utils.istio import injection as inj
from ansible_collections.meshops.istio.plugins.module_utils.kube.client import Kube


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _workloads(kube, namespace):
    """(Deployments, ReplicaSets, Pods) of a namespace: what the restart decisions read."""
    return (kube.list("apps/v1", "Deployment", namespace=namespace),
            kube.list("apps/v1", "ReplicaSet", namespace=namespace),
            kube.list("v1", "Pod", namespace=namespace))


def _wait(module, kube, names, timeout):
    deadline = time.time() + timeout
    pending = list(names)
    while pending:
        still = []
        for namespace, name in pending:
            deployment = kube.get("apps/v1", "Deployment", name, namespace)
            if deployment is not None and not inj.rollout_done(deployment):
                still.append((namespace, name))
        pending = still
        if not pending:
            return
        if time.time() > deadline:
            module.fail_json(msg="rollout not finished after %ds: %s"
                             % (timeout, ", ".join("%s/%s" % item for item in pending)))
        time.sleep(2)


def _restart(module, kube, items, revision, timeout):
    """`kubectl rollout restart` the Deployments in `items` (stamped for `revision`), then wait."""
    if not items:
        return
    stamp = _now()
    for item in items:
        kube.merge_patch("apps/v1", "Deployment", item["name"], inj.restart_patch(stamp, revision), item["namespace"])
    _wait(module, kube, [(item["namespace"], item["name"]) for item in items], timeout)


def _remove(module, kube, params):
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
                restarted.append({"deployment": "%s/%s" % (name, deployment), "reason": reason,
                                  "namespace": name, "name": deployment})
    if not module.check_mode:
        for name, labels in unlabelled.items():
            kube.merge_patch("v1", "Namespace", name, {"metadata": {"labels": labels}})
        _restart(module, kube, restarted, "none", params["wait_timeout"])
    changed = bool(unlabelled or restarted)
    result = {"changed": changed, "created": [], "labelled": unlabelled,
              "restarted": [{"deployment": i["deployment"], "reason": i["reason"]} for i in restarted]}
    if changed:
        lines = ["~ namespace %s remove labels %s" % (n, ", ".join(sorted(l))) for n, l in sorted(unlabelled.items())]
        lines += ["~ restart deployment %s: %s" % (i["deployment"], i["reason"]) for i in restarted]
        result["diff"] = {"prepared": "\n".join(lines) + "\n"}
    module.exit_json(**result)


def run_module(module):
    params = module.params
    revision = params["revision"] or ""
    problems = [p for p in (inj.namespace_problem(n) for n in params["namespaces"]) if p]
    if problems:
        module.fail_json(msg="; ".join(problems))
    try:
        kube = Kube(params["kubeconfig"], params.get("context") or None)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="cannot load kubeconfig %s: %s" % (params["kubeconfig"], exc))
    if params.get("state") == "absent":
        _remove(module, kube, params)

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
        module.fail_json(msg="; ".join(errors))

    # 2. label (or create) the namespaces
    if not module.check_mode:
        for name in created:
            kube.client.create(kube.resource("v1", "Namespace"),
                               body={"apiVersion": "v1", "kind": "Namespace",
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
                restarted.append({"deployment": "%s/%s" % (name, deployment), "reason": reason,
                                  "namespace": name, "name": deployment})
        if not module.check_mode:
            _restart(module, kube, restarted, revision, params["wait_timeout"])

    changed = bool(created or labelled or restarted)
    result = {"changed": changed, "created": created, "labelled": labelled,
              "restarted": [{"deployment": i["deployment"], "reason": i["reason"]} for i in restarted]}
    if changed:
        lines = ["+ namespace %s %s" % (n, inj.wanted_labels(revision)) for n in created]
        lines += ["~ namespace %s labels %s" % (n, l) for n, l in sorted(labelled.items())]
        lines += ["~ restart deployment %s: %s" % (i["deployment"], i["reason"]) for i in restarted]
        result["diff"] = {"prepared": "\n".join(lines) + "\n"}
    module.exit_json(**result)
