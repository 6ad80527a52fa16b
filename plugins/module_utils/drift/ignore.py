# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which differences never count as drift: the built-in rules (fields that controllers or the API
server own) and the user's rules (mesh_drift_ignore), in the shape of Argo CD's ignoreDifferences:

    {group: apps, kind: Deployment, name: "istio*", namespace: istio-system, json_pointers: [/spec/replicas]}

`kind` is required; `group` ("" is the core group) and `namespace` match exactly when given, `name`
is a shell-style glob (default "*"); a pointer covers the field and everything under it, and a
token "*" matches any key or list index.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import fnmatch

from ansible_collections.meshops.istio.plugins.module_utils.drift.compare import split_pointer
from ansible_collections.meshops.istio.plugins.module_utils.kube.names import api_group

RULE_KEYS = ("group", "kind", "name", "namespace", "json_pointers")
RESTARTED_AT = "/spec/template/metadata/annotations/kubectl.kubernetes.io~1restartedAt"

# Listed in the README (section "Drift"); keep the two in step.
BUILTIN_RULES = [
    {"kind": "*", "reason": "bookkeeping the API server writes",
     "json_pointers": ["/metadata/managedFields", "/metadata/resourceVersion", "/metadata/uid", "/metadata/generation",
                       "/metadata/creationTimestamp", "/metadata/selfLink", "/metadata/deletionTimestamp",
                       "/metadata/ownerReferences", "/metadata/finalizers", "/status",
                       "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration",
                       "/metadata/annotations/deployment.kubernetes.io~1revision"]},
    {"kind": "*", "reason": "istioctl install names its IstioOperator here; istioctl manifest generate writes 'unknown'",
     "json_pointers": ["/metadata/labels/install.operator.istio.io~1owning-resource"]},
    {"group": "admissionregistration.k8s.io", "kind": "MutatingWebhookConfiguration",
     "reason": "istiod patches its CA bundle into its webhooks",
     "json_pointers": ["/webhooks/*/clientConfig/caBundle"]},
    {"group": "admissionregistration.k8s.io", "kind": "ValidatingWebhookConfiguration",
     "reason": "istiod patches its CA bundle and switches failurePolicy to Fail once it serves",
     "json_pointers": ["/webhooks/*/clientConfig/caBundle", "/webhooks/*/failurePolicy"]},
    {"group": "apps", "kind": "Deployment", "reason": "kubectl rollout restart (and the injection role's restarts)",
     "json_pointers": [RESTARTED_AT]},
    {"group": "apps", "kind": "DaemonSet", "reason": "kubectl rollout restart", "json_pointers": [RESTARTED_AT]},
    {"group": "apps", "kind": "StatefulSet", "reason": "kubectl rollout restart", "json_pointers": [RESTARTED_AT]},
]
# Also built in, decided per object: /spec/replicas of a Deployment or StatefulSet that a
# HorizontalPodAutoscaler scales (see `hpa_targets`).
HPA_POINTER = "/spec/replicas"


def validate_rules(rules, var="mesh_drift_ignore"):
    """Error messages (empty when valid) naming the variable, the rule and the accepted values."""
    accepted = ("accepted: a list of {group, kind, name, namespace, json_pointers} such as "
                "{group: apps, kind: Deployment, name: 'istio*', json_pointers: [/spec/replicas]}")
    if rules is None:
        return []
    if not isinstance(rules, list):
        return ["%s=%r is not a list; %s" % (var, rules, accepted)]
    errors = []
    for index, rule in enumerate(rules):
        where = "%s[%d]" % (var, index)
        if not isinstance(rule, dict):
            errors.append("%s=%r is not a mapping; %s" % (where, rule, accepted))
            continue
        unknown = sorted(set(rule) - set(RULE_KEYS))
        if unknown:
            errors.append("%s has unknown keys %s; accepted keys: %s" % (where, ", ".join(unknown), ", ".join(RULE_KEYS)))
        if not isinstance(rule.get("kind"), str) or not rule.get("kind"):
            errors.append("%s.kind=%r: a kind such as Deployment (or '*') is required" % (where, rule.get("kind")))
        for key in ("group", "name", "namespace"):
            if key in rule and rule[key] is not None and not isinstance(rule[key], str):
                errors.append("%s.%s=%r is not a string" % (where, key, rule[key]))
        pointers = rule.get("json_pointers")
        if not isinstance(pointers, list) or not pointers:
            errors.append("%s.json_pointers=%r: a non-empty list of JSON pointers such as /spec/replicas is required"
                          % (where, pointers))
            continue
        for pointer in pointers:
            if not isinstance(pointer, str) or not pointer.startswith("/") or pointer == "/":
                errors.append("%s.json_pointers: %r is not a JSON pointer; accepted: a path starting with '/' "
                              "such as /spec/replicas or /webhooks/*/failurePolicy" % (where, pointer))
    return errors


def rule_matches(rule, obj):
    """True when the rule is about `obj` (a Kubernetes object with apiVersion, kind, metadata)."""
    meta = obj.get("metadata") or {}
    if rule.get("kind") not in ("*", obj.get("kind")):
        return False
    if rule.get("group") is not None and rule.get("group") != "*" and rule["group"] != api_group(obj.get("apiVersion")):
        return False
    if rule.get("namespace") and rule["namespace"] != (meta.get("namespace") or ""):
        return False
    return fnmatch.fnmatchcase(meta.get("name") or "", rule.get("name") or "*")


def hpa_targets(hpas):
    """{(namespace, kind, name)} of the workloads the HorizontalPodAutoscalers scale."""
    targets = set()
    for hpa in hpas or []:
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        targets.add(((hpa.get("metadata") or {}).get("namespace") or "", ref.get("kind") or "", ref.get("name") or ""))
    return targets


# istioctl deactivates a revision's own injector webhooks when the `default` revision tag serves
# instead: it replaces their selectors by this never-matching label.
DEACTIVATED = ("istio.io/deactivated", "never-match")


def deactivated_webhooks(live):
    """Pointers of the selectors of the live webhooks that istioctl deactivated."""
    pointers = []
    if not isinstance(live, dict) or live.get("kind") != "MutatingWebhookConfiguration":
        return pointers
    for index, hook in enumerate(live.get("webhooks") or []):
        labels = ((hook or {}).get("namespaceSelector") or {}).get("matchLabels") or {}
        if labels.get(DEACTIVATED[0]) == DEACTIVATED[1]:
            pointers += ["/webhooks/%d/namespaceSelector" % index, "/webhooks/%d/objectSelector" % index]
    return pointers


def pointers_for(obj, user_rules=None, hpa=None, live=None):
    """Token lists of every ignored field of `obj`: built-in rules, HPA-owned replicas, webhooks
    istioctl deactivated (seen on `live`), user rules."""
    pointers = deactivated_webhooks(live)
    for rule in BUILTIN_RULES + list(user_rules or []):
        if rule_matches(rule, obj):
            pointers.extend(rule["json_pointers"])
    meta = obj.get("metadata") or {}
    if hpa and (meta.get("namespace") or "", obj.get("kind"), meta.get("name")) in hpa:
        pointers.append(HPA_POINTER)
    return [split_pointer(p) for p in pointers]


def ignored(tokens, patterns):
    """True when the field at `tokens` is at or under one of the pointer patterns."""
    tokens = [str(t) for t in tokens]
    for pattern in patterns:
        if len(pattern) <= len(tokens) and all(p in ("*", t) for p, t in zip(pattern, tokens)):
            return True
    return False
