# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers for sidecar injection: namespace labels and which Deployments need a restart.

Objects are plain dicts as the API server returns them; nothing here talks to a cluster.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

from ansible_collections.meshops.istio.plugins.module_utils.kube.names import collection_key, is_dns_label
# rollout_done is a Kubernetes rule, kept importable from here for the callers of this module.
from ansible_collections.meshops.istio.plugins.module_utils.kube.waiter import rollout_done  # noqa: F401 pylint: disable=unused-import

INJECTION_LABEL = "istio-injection"
REVISION_LABEL = "istio.io/rev"
PROXY_CONTAINER = "istio-proxy"
STATUS_ANNOTATION = "sidecar.istio.io/status"
INJECT_OPT_OUT = "sidecar.istio.io/inject"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
DEPLOYMENT_REVISION = "deployment.kubernetes.io/revision"
# Set on the pod template when this collection restarts a Deployment: the revision it restarted for.
# A sidecar whose status names another revision triggers a restart only while this differs, so
# an injector that reports a different revision name cannot cause a restart on every run.
RESTARTED_FOR = collection_key("restarted-for-revision")
CONFLICT_POLICIES = ("fail", "replace")


class InjectionError(Exception):
    """The requested labelling cannot be done as asked."""


def namespace_problem(name):
    if not is_dns_label(name):
        return ("injection_namespaces: %r is not a namespace name (lower-case letters, digits and '-', "
                "at most 63 characters)" % (name,))
    if name in ("kube-system", "kube-public", "kube-node-lease"):
        return "injection_namespaces: %s is a Kubernetes system namespace and must not be injected" % name
    return None


def wanted_labels(revision=""):
    """The one label that turns injection on for the default revision or a named one."""
    if revision:
        return {REVISION_LABEL: revision}
    return {INJECTION_LABEL: "enabled"}


def label_patch(name, labels, revision="", conflict="fail"):
    """Merge-patch body for a namespace's labels, or None when they are already right.

    A namespace must not carry both istio-injection and istio.io/rev (istio-injection wins and the
    revision is silently ignored). When the other label is present: conflict=fail raises
    InjectionError naming the namespace; conflict=replace removes it in the same patch.
    """
    if conflict not in CONFLICT_POLICIES:
        raise InjectionError("injection_label_conflict=%r is not one of %s" % (conflict, ", ".join(CONFLICT_POLICIES)))
    labels = labels or {}
    want = wanted_labels(revision)
    other = REVISION_LABEL if not revision else INJECTION_LABEL
    patch = {}
    for key, value in want.items():
        if labels.get(key) != value:
            patch[key] = value
    if other in labels:
        if conflict == "fail":
            wanted = ", ".join("%s=%s" % kv for kv in want.items())
            raise InjectionError(
                "namespace %s already has label %s=%s; labelling it %s would give it both istio-injection and "
                "istio.io/rev. Remove %s first or set injection_label_conflict=replace (accepted: %s)"
                % (name, other, labels[other], wanted, other, ", ".join(CONFLICT_POLICIES)))
        patch[other] = None
    if not patch:
        return None
    return {"metadata": {"labels": patch}}


def _owner_uids(obj, kind):
    return [ref.get("uid") for ref in (obj.get("metadata") or {}).get("ownerReferences") or []
            if ref.get("kind") == kind]


def _template(deployment):
    return ((deployment.get("spec") or {}).get("template") or {})


def opted_out(deployment):
    """True when the pod template opts out of injection or cannot be injected (host network)."""
    template = _template(deployment)
    metadata = template.get("metadata") or {}
    for source in (metadata.get("labels") or {}, metadata.get("annotations") or {}):
        if str(source.get(INJECT_OPT_OUT, "")).lower() == "false":
            return True
    return bool((template.get("spec") or {}).get("hostNetwork"))


def pod_has_proxy(pod):
    spec = pod.get("spec") or {}
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if container.get("name") == PROXY_CONTAINER:
            return True
    return False


def pod_revision(pod):
    """Revision that injected the pod's sidecar (from sidecar.istio.io/status), None when unknown."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(STATUS_ANNOTATION)
    if not raw:
        return None
    try:
        status = json.loads(raw)
    except ValueError:
        return None
    return status.get("revision") if isinstance(status, dict) else None


def current_pods(deployment, replicasets, pods):
    """Pods of the Deployment's current ReplicaSet that are not being deleted."""
    uid = (deployment.get("metadata") or {}).get("uid")
    want = ((deployment.get("metadata") or {}).get("annotations") or {}).get(DEPLOYMENT_REVISION)
    owned = [rs for rs in replicasets if uid in _owner_uids(rs, "Deployment")]
    if want is not None:
        current = [rs for rs in owned if ((rs.get("metadata") or {}).get("annotations") or {}).get(DEPLOYMENT_REVISION) == want]
    else:
        current = owned
    uids = set((rs.get("metadata") or {}).get("uid") for rs in current)
    return [pod for pod in pods
            if uids.intersection(_owner_uids(pod, "ReplicaSet"))
            and not (pod.get("metadata") or {}).get("deletionTimestamp")]


def restart_reason(deployment, replicasets, pods, revision=""):
    """Why the Deployment's pods need a restart to get the right sidecar, or None."""
    if opted_out(deployment):
        return None
    want_revision = revision or "default"
    for pod in current_pods(deployment, replicasets, pods):
        name = (pod.get("metadata") or {}).get("name")
        if not pod_has_proxy(pod):
            return "pod %s has no %s container" % (name, PROXY_CONTAINER)
        injected = pod_revision(pod)
        restarted_for = ((_template(deployment).get("metadata") or {}).get("annotations") or {}).get(RESTARTED_FOR)
        if injected is not None and injected != want_revision and restarted_for != want_revision:
            return "pod %s has a sidecar from revision %s, not %s" % (name, injected, want_revision)
    return None


def deployments_to_restart(deployments, replicasets, pods, revision=""):
    """[(deployment name, reason)] for the Deployments whose pods lack the right sidecar."""
    found = []
    for deployment in deployments:
        reason = restart_reason(deployment, replicasets, pods, revision)
        if reason:
            found.append(((deployment.get("metadata") or {}).get("name"), reason))
    return found


def removal_patch(labels):
    """The namespace patch that removes both injection labels, or None when neither is there."""
    present = [key for key in (INJECTION_LABEL, REVISION_LABEL) if key in (labels or {})]
    return {"metadata": {"labels": dict((key, None) for key in present)}} if present else None


def deployments_with_sidecar(deployments, replicasets, pods):
    """[(deployment name, reason)] for the Deployments whose current pods still carry the sidecar
    (what a restart removes once the namespace is no longer labelled for injection); Deployments
    that opt out of injection are left alone, as deployments_to_restart does."""
    found = []
    for deployment in deployments:
        if opted_out(deployment):
            continue
        for pod in current_pods(deployment, replicasets, pods):
            if pod_has_proxy(pod):
                found.append(((deployment.get("metadata") or {}).get("name"),
                              "pod %s has an %s container" % ((pod.get("metadata") or {}).get("name"), PROXY_CONTAINER)))
                break
    return found


def restart_patch(timestamp, revision=""):
    """What `kubectl rollout restart` does (stamp the pod template with the restart time), plus
    the revision the restart is for."""
    return {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: timestamp,
                                                               RESTARTED_FOR: revision or "default"}}}}}
