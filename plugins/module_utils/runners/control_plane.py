# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The work of the istio_control_plane module: read, compare, and run istioctl only when needed.

Decisions (what differs, which version change is allowed) come from istio/operator.py; this
file gathers the inputs for them from istioctl and the API server and acts on the answer.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import shutil
import tempfile

from ansible_collections.meshops.istio.plugins.module_utils.istio import operator as iop
from ansible_collections.meshops.istio.plugins.module_utils.kube.client import Kube
from ansible_collections.meshops.istio.plugins.module_utils.kube import manifest
from ansible_collections.meshops.istio.plugins.module_utils.kube.names import describe
from ansible_collections.meshops.istio.plugins.module_utils.kube.waiter import wait_gone
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import RunnerError, connect

# Kinds istioctl installs that can be left behind when a component is switched off.
PRUNE_KINDS = (
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("v1", "ServiceAccount"),
    ("v1", "ConfigMap"),
    ("policy/v1", "PodDisruptionBudget"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
)
CLUSTER_KINDS = (
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
)
COMPONENT_LABEL = "operator.istio.io/component"
BASE_COMPONENT = "Base"
REVISION_LABEL = "istio.io/rev"
NOT_PRUNED_LABEL = "install.operator.istio.io/owning-resource-not-pruned"


def _istioctl_common(params):
    args = ["--kubeconfig", params["kubeconfig"]]
    if params.get("context"):
        args += ["--context", params["context"]]
    return args


def _run(run_command, cmd, what, data=None):
    rc, out, err = run_command(cmd, data=data)
    if rc != 0:
        raise RunnerError("%s failed (rc=%d): %s" % (what, rc, (err or out).strip()), rc=rc,
                          stdout=out, stderr=err, command=cmd)
    return out


def generate(params, run_command, operator_path):
    """Objects of `istioctl manifest generate -f operator_path`; fails with istioctl's own message."""
    out = _run(run_command, [params["istioctl"], "manifest", "generate", "-f", operator_path],
               "istioctl manifest generate")
    try:
        return iop.split_manifest(manifest.load_all(out))
    except (manifest.YAMLError, iop.OperatorError) as exc:
        raise RunnerError("cannot parse the output of istioctl manifest generate: %s" % exc)


def live_istiods(kube, namespace):
    return kube.list("apps/v1", "Deployment", namespace=namespace, label_selector="app=istiod")


def revision_istiod(istiods, revision):
    want = iop.istiod_name(revision)
    for deployment in istiods:
        if (deployment.get("metadata") or {}).get("name") == want:
            return deployment
    return None


def _difference(kube, obj, namespace, field_manager):
    """The difference of one rendered object from the cluster (a dict), or None when there is none."""
    metadata = obj.setdefault("metadata", {})
    namespaced = kube.namespaced(obj["apiVersion"], obj["kind"])
    if namespaced and not metadata.get("namespace"):
        metadata["namespace"] = namespace
    label = describe(obj)
    live = None
    if namespaced is not None:
        live = kube.get(obj["apiVersion"], obj["kind"], metadata["name"], metadata.get("namespace"))
    if live is None:
        return {"object": label, "action": "create", "changes": []}
    changes = iop.compare(live, kube.dry_run_apply(obj, field_manager))
    return {"object": label, "action": "update", "changes": changes} if changes else None


def plan(kube, objects, namespace, revision, field_manager):
    """Differences between the manifest and the cluster, as dicts for istio_operator.summarize.

    Each object's GET and server-side dry-run apply run on the client's thread pool (the demo
    profile renders about 60 objects: one after the other, their round trips were most of a no-op
    converge's install task); the differences keep the manifest's order."""
    differences = []
    for _obj, difference, error in kube.each(lambda obj: _difference(kube, obj, namespace, field_manager), objects):
        if error is not None:
            raise error
        if difference:
            differences.append(difference)
    if not revision and kube.get("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration",
                                 iop.DEFAULT_TAG_WEBHOOK) is None:
        # istioctl creates the `default` tag webhook after applying the default revision
        differences.append({"object": "MutatingWebhookConfiguration %s" % iop.DEFAULT_TAG_WEBHOOK,
                            "action": "create", "changes": []})
    live_owned = []
    # objects istioctl makes for revision tags carry NOT_PRUNED_LABEL and are not part of the manifest
    selector = "%s,%s=%s,!%s" % (COMPONENT_LABEL, REVISION_LABEL, iop.revision_label(revision), NOT_PRUNED_LABEL)
    for api_version, kind in PRUNE_KINDS:
        live_owned.extend(kube.list(api_version, kind, namespace=namespace, label_selector=selector))
    for obj in iop.extra_objects(live_owned, objects):
        differences.append({"object": describe(obj), "action": "prune", "changes": []})
    return differences


def _public(differences):
    return [{"object": d["object"], "action": d["action"], "paths": [c[0] for c in d.get("changes") or []]}
            for d in differences]


def present(params, kube, run_command, check_mode=False, warn=None):
    """state=present: the module result; RunnerError when istioctl fails or the version change is refused."""
    workdir = tempfile.mkdtemp(prefix="meshops-iop-")
    try:
        operator_path = os.path.join(workdir, "istiooperator.yaml")
        with open(operator_path, "w") as handle:
            handle.write(params["operator"])
        objects = generate(params, run_command, operator_path)
        istiods = live_istiods(kube, params["namespace"])
        current = revision_istiod(istiods, params["revision"])
        live_version = None
        if current:
            live_version = iop.istiod_version(current) or "unknown (image %s)" % ",".join(
                c.get("image", "") for c in current["spec"]["template"]["spec"].get("containers") or [])
        try:
            decision = iop.upgrade_decision(live_version, params["version"], params["revision"])
        except iop.OperatorError as exc:
            raise RunnerError(str(exc))
        if decision["action"] == "refuse":
            raise RunnerError(decision["message"], live_version=live_version, target_version=params["version"])
        if decision["action"] == "unknown" and warn is not None:
            warn(decision["message"])
        differences = plan(kube, objects, params["namespace"], params["revision"], params["field_manager"])
        result = {"changed": False, "live_version": live_version, "target_version": params["version"],
                  "objects": len(objects), "differences": _public(differences), "command": [],
                  "action": "none", "message": decision["message"]}
        if not differences:
            return result
        result["changed"] = True
        result["action"] = decision["action"] if decision["action"] != "none" else "reconcile"
        lines = iop.summarize(differences)
        result["diff"] = {"before_header": "cluster", "after_header": "rendered IstioOperator",
                          "prepared": "\n".join(["%s (%s)" % (decision["message"], result["action"])] + lines) + "\n"}
        cmd = [params["istioctl"], "install", "-y", "-f", operator_path,
               "--readiness-timeout", "%ds" % params["readiness_timeout"]] + _istioctl_common(params)
        result["command"] = cmd
        if not check_mode:
            result["stdout"] = _run(run_command, cmd, "istioctl install")
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _istio_crds(kube):
    return [crd for crd in kube.list("apiextensions.k8s.io/v1", "CustomResourceDefinition")
            if ((crd.get("spec") or {}).get("group") or "").endswith("istio.io")]


def _installed(kube, namespace, selector):
    """Objects istioctl installed that match `selector`, namespaced and cluster-scoped."""
    found = []
    for api_version, kind in PRUNE_KINDS:
        found.extend(kube.list(api_version, kind, namespace=namespace, label_selector=selector))
    for api_version, kind in CLUSTER_KINDS:
        found.extend(kube.list(api_version, kind, label_selector=selector))
    return found


def absent(params, kube, run_command, check_mode=False):
    """Uninstall a revision (or, with purge, every revision and the shared base objects).

    `istioctl uninstall --revision` keeps the shared base objects (CRDs, istio-reader account);
    `istioctl uninstall --purge` would delete the CRDs too, so purge is done revision by
    revision plus the base objects, and CRDs go only with remove_crds.
    Returns the module result; RunnerError when istioctl fails or objects outlive the uninstall.
    """
    namespace = params["namespace"]
    istiods = live_istiods(kube, namespace)
    current = revision_istiod(istiods, params["revision"])
    live_version = iop.istiod_version(current) if current else None
    not_base = "%s,%s!=%s" % (COMPONENT_LABEL, COMPONENT_LABEL, BASE_COMPONENT)
    if params["purge"]:
        owned = _installed(kube, namespace, not_base)
        revisions = sorted(set(((o.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL) or "default"
                               for o in owned))
        base = _installed(kube, namespace, "%s=%s" % (COMPONENT_LABEL, BASE_COMPONENT))
    else:
        label = iop.revision_label(params["revision"])
        owned = _installed(kube, namespace, "%s=%s,%s" % (REVISION_LABEL, label, not_base))
        revisions = [label] if owned else []
        base = []
    crds = _istio_crds(kube) if params["remove_crds"] else []
    differences = [{"object": describe(obj), "action": "prune", "changes": []} for obj in owned + base + crds]
    commands = [[params["istioctl"], "uninstall", "--revision", revision, "-y"] + _istioctl_common(params)
                for revision in revisions]
    result = {"changed": bool(differences), "live_version": live_version, "differences": _public(differences),
              "command": commands[0] if commands else [], "commands": commands, "action": "none"}
    if not differences:
        return result
    result["action"] = "uninstall"
    result["diff"] = {"before_header": "cluster", "after_header": "absent",
                      "prepared": "\n".join(iop.summarize(differences)) + "\n"}
    if check_mode:
        return result
    outputs = []
    for cmd in commands:
        outputs.append(_run(run_command, cmd, "istioctl uninstall"))
    result["stdout"] = "\n".join(outputs)
    for obj in base + crds:
        kube.delete(obj.get("apiVersion") or "v1", obj["kind"], obj["metadata"]["name"],
                    (obj.get("metadata") or {}).get("namespace"))
    lingering = [describe(obj) for obj in wait_gone(kube, owned + base + crds, params["readiness_timeout"])]
    if lingering:
        msg = ("istioctl uninstall ran, but after %ds these objects still exist (finalizers or garbage "
               "collection holding them): %s" % (params["readiness_timeout"], ", ".join(lingering)))
        raise RunnerError(msg, **result)
    return result


def run(params, check_mode=False, run_command=None, warn=None, kube_factory=Kube):
    """Do what the istio_control_plane module was asked; return the module result (a dict).

    `run_command(cmd, data=None) -> (rc, stdout, stderr)` runs istioctl (module.run_command);
    `warn(msg)` reports a warning (module.warn). Raises RunnerError (msg and result keys).
    """
    kube = connect(params, kube_factory)
    if params["state"] == "present":
        return present(params, kube, run_command, check_mode, warn)
    return absent(params, kube, run_command, check_mode)
