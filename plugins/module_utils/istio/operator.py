# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers for the control plane: render an IstioOperator, compare rendered objects with
live ones, and decide whether a version change is allowed.

Nothing here talks to a cluster or runs a program, so unit tests call every function directly.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import copy
import re

from ansible_collections.meshops.istio.plugins.module_utils.kube.names import (  # noqa: F401 pylint: disable=unused-import
    describe,
    is_dns_label,
    object_key,
)
from ansible_collections.meshops.istio.plugins.module_utils.istio.release import (
    ReleaseError,
    is_version,
    parse_version,
)

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
TRAFFIC_POLICIES = ("Cluster", "Local")
NODE_PORT_KEYS = ("http", "https", "status")
NODE_PORT_RANGE = (30000, 32767)
# Istio's ingress gateway Service ports, by the names Istio gives them.
INGRESS_PORTS = (
    {"key": "status", "name": "status-port", "port": 15021, "targetPort": 15021},
    {"key": "http", "name": "http2", "port": 80, "targetPort": 8080},
    {"key": "https", "name": "https", "port": 443, "targetPort": 8443},
)
INGRESS_GATEWAY = "istio-ingressgateway"
EGRESS_GATEWAY = "istio-egressgateway"
RETIRED_HUBS = ("gcr.io/istio-release",)


class OperatorError(Exception):
    """An input cannot be turned into an IstioOperator."""


# --------------------------------------------------------------------------- rendering
def deep_merge(base, overlay):
    """Return base updated by overlay: dicts merge key by key, anything else is replaced.

    Neither argument is modified. A key whose overlay value is a dict merges into a dict in
    base; lists and scalars from the overlay win as a whole.
    """
    result = copy.deepcopy(base) if isinstance(base, dict) else {}
    for key, value in (overlay or {}).items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def control_plane_argument_spec():
    """The revision and namespace options (documented by the meshops.istio.control_plane doc fragment)."""
    return dict(revision=dict(type="str", default=""), namespace=dict(type="str", default="istio-system"))


def revision_problem(revision):
    """None when `revision` is usable as an Istio revision name ("" = the default revision)."""
    if revision in (None, ""):
        return None
    if not is_dns_label(revision):
        return ("control_plane_revision=%r is not a valid revision name; use lower-case letters, digits "
                "and '-' (a DNS label such as canary or 1-31-0), or \"\" for the default revision" % (revision,))
    return None


def node_ports_problems(node_ports, service_type):
    """Messages for every problem with control_plane_ingress_node_ports (empty list = fine)."""
    problems = []
    node_ports = node_ports or {}
    if not isinstance(node_ports, dict):
        return ["control_plane_ingress_node_ports must be a dict with keys %s, got %r"
                % (", ".join(NODE_PORT_KEYS), node_ports)]
    unknown = sorted(set(node_ports) - set(NODE_PORT_KEYS))
    if unknown:
        problems.append("control_plane_ingress_node_ports has unknown key(s) %s; accepted keys: %s"
                        % (", ".join(unknown), ", ".join(NODE_PORT_KEYS)))
    if node_ports and service_type == "ClusterIP":
        problems.append("control_plane_ingress_node_ports=%r needs control_plane_ingress_service_type NodePort or "
                        "LoadBalancer, not ClusterIP" % (node_ports,))
    seen = {}
    for key in NODE_PORT_KEYS:
        if key not in node_ports or node_ports[key] in (None, ""):
            continue
        value = node_ports[key]
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = None
        if number is None or isinstance(value, bool) or str(number) != str(value).strip():
            problems.append("control_plane_ingress_node_ports.%s=%r is not a port number" % (key, value))
            continue
        if not NODE_PORT_RANGE[0] <= number <= NODE_PORT_RANGE[1]:
            problems.append("control_plane_ingress_node_ports.%s=%d is outside the NodePort range %d-%d"
                            % (key, number, NODE_PORT_RANGE[0], NODE_PORT_RANGE[1]))
        if number in seen:
            problems.append("control_plane_ingress_node_ports.%s and .%s both use %d" % (seen[number], key, number))
        seen[number] = key
    return problems


def hub_warning(hub):
    """A warning text when `hub` is a registry Istio no longer publishes to, else None."""
    clean = (hub or "").rstrip("/")
    if clean in RETIRED_HUBS:
        return ("control_plane_hub=%s: Istio no longer publishes images there (the gcr.io/istio-release "
                "registry is retired); use docker.io/istio or a mirror of it" % clean)
    return None


def ingress_service(service_type, node_ports=None, external_traffic_policy="Cluster"):
    """The `k8s.service` overlay of the ingress gateway component."""
    if service_type not in SERVICE_TYPES:
        raise OperatorError("control_plane_ingress_service_type=%r is not one of %s"
                            % (service_type, ", ".join(SERVICE_TYPES)))
    if external_traffic_policy not in TRAFFIC_POLICIES:
        raise OperatorError("control_plane_external_traffic_policy=%r is not one of %s"
                            % (external_traffic_policy, ", ".join(TRAFFIC_POLICIES)))
    problems = node_ports_problems(node_ports, service_type)
    if problems:
        raise OperatorError("; ".join(problems))
    service = {"type": service_type}
    if service_type != "ClusterIP":
        # externalTrafficPolicy only applies to Services reachable from outside the cluster.
        service["externalTrafficPolicy"] = external_traffic_policy
    node_ports = dict((k, v) for k, v in (node_ports or {}).items() if v not in (None, ""))
    if node_ports:
        ports = []
        for spec in INGRESS_PORTS:
            port = {"name": spec["name"], "port": spec["port"], "targetPort": spec["targetPort"], "protocol": "TCP"}
            if spec["key"] in node_ports:
                port["nodePort"] = int(node_ports[spec["key"]])
            ports.append(port)
        service["ports"] = ports
    return service


def render_istio_operator(profile="default", revision="", namespace="istio-system", hub="docker.io/istio",
                          tag="", ingress_gateway_enabled=True, egress_gateway_enabled=False,
                          ingress_service_type="LoadBalancer", ingress_node_ports=None,
                          external_traffic_policy="Cluster", mesh_config=None, values=None):
    """Return the IstioOperator (a dict) for these inputs.

    `values` is deep-merged over the values this function sets itself, so an inventory can add
    keys (for example istiodRemote.injectionURL) without dropping ours; `mesh_config` likewise.
    """
    if not profile:
        raise OperatorError("control_plane_profile must not be empty")
    problem = revision_problem(revision)
    if problem:
        raise OperatorError(problem)
    if not hub:
        raise OperatorError("control_plane_hub must not be empty")
    if not tag:
        raise OperatorError("control_plane_tag must not be empty")
    if not isinstance(values or {}, dict):
        raise OperatorError("control_plane_values must be a dict, got %r" % (values,))
    if not isinstance(mesh_config or {}, dict):
        raise OperatorError("control_plane_mesh_config must be a dict, got %r" % (mesh_config,))

    name = "control-plane" if not revision else "control-plane-%s" % revision
    own_values = {"global": {"istioNamespace": namespace}}
    ingress = {"name": INGRESS_GATEWAY, "enabled": bool(ingress_gateway_enabled)}
    if ingress_gateway_enabled:
        ingress["k8s"] = {"service": ingress_service(ingress_service_type, ingress_node_ports,
                                                     external_traffic_policy)}
    spec = {
        "profile": profile,
        "hub": hub,
        "tag": str(tag),
        "namespace": namespace,
        "components": {
            "ingressGateways": [ingress],
            "egressGateways": [{"name": EGRESS_GATEWAY, "enabled": bool(egress_gateway_enabled)}],
        },
        "values": deep_merge(own_values, values or {}),
    }
    if revision:
        spec["revision"] = revision
    if mesh_config:
        spec["meshConfig"] = copy.deepcopy(mesh_config)
    return {
        "apiVersion": "install.istio.io/v1alpha1",
        "kind": "IstioOperator",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def operator_file_name(revision=""):
    """File name of the rendered IstioOperator: one file per revision."""
    return "istiooperator.yaml" if not revision else "istiooperator-%s.yaml" % revision


def istiod_name(revision=""):
    """Name of istiod's Deployment (and of the injector webhook suffix) for a revision."""
    return "istiod" if not revision else "istiod-%s" % revision


def injector_webhook_name(revision=""):
    return "istio-sidecar-injector" if not revision else "istio-sidecar-injector-%s" % revision


def revision_label(revision=""):
    """Value of the istio.io/rev label Istio puts on a revision's objects."""
    return revision or "default"


# --------------------------------------------------------------------------- comparison
# Fields the API server or istiod write and the comparison must not count as drift.
_METADATA_NOISE = ("managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink")
# Labels `istioctl install` adds to every object it applies (they are not in `manifest generate`
# output); they name the installer, not the configuration, so they are not compared.
INSTALLER_LABELS = (
    "install.operator.istio.io/owning-resource",
    "install.operator.istio.io/owning-resource-namespace",
    "operator.istio.io/component",
    "operator.istio.io/managed",
    "operator.istio.io/version",
    "istio.io/rev",
)
# istioctl points the default revision's injector at the `default` tag webhook
# (istio-revision-tag-default) and switches the revision's own webhooks off with this selector.
DEACTIVATED_SELECTOR = {"matchLabels": {"istio.io/deactivated": "never-match"}}
DEFAULT_TAG_WEBHOOK = "istio-revision-tag-default"


def deactivated(hook):
    """True when istioctl has switched this injector webhook off in favour of a tag webhook."""
    return hook.get("namespaceSelector") == DEACTIVATED_SELECTOR and hook.get("objectSelector") == DEACTIVATED_SELECTOR


def normalize(obj, ignore_selectors=False):
    """A copy of `obj` without status, server bookkeeping and the fields istiod or istioctl rewrite.

    istiod patches every webhook's clientConfig.caBundle and switches the validating webhook's
    failurePolicy once it answers; istioctl labels what it applies (INSTALLER_LABELS) and, for
    the default revision, deactivates the revision's injector selectors (ignore_selectors).
    None of that is drift.
    """
    clean = copy.deepcopy(obj or {})
    clean.pop("status", None)
    metadata = clean.get("metadata") or {}
    for key in _METADATA_NOISE:
        metadata.pop(key, None)
    labels = metadata.get("labels")
    if isinstance(labels, dict):
        for key in INSTALLER_LABELS:
            labels.pop(key, None)
        if not labels:
            metadata.pop("labels")
    kind = clean.get("kind")
    if kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        for hook in clean.get("webhooks") or []:
            (hook.get("clientConfig") or {}).pop("caBundle", None)
            if kind == "ValidatingWebhookConfiguration":
                hook.pop("failurePolicy", None)
            if ignore_selectors and kind == "MutatingWebhookConfiguration":
                hook.pop("namespaceSelector", None)
                hook.pop("objectSelector", None)
    if kind == "CustomResourceDefinition":
        (clean.get("spec") or {}).get("conversion", {}).get("webhook", {}).get("clientConfig", {}).pop("caBundle", None)
    return clean


def diff_paths(before, after, prefix=""):
    """Dotted paths where `before` and `after` differ, each with both values."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes = []
        for key in sorted(set(before) | set(after), key=str):
            path = "%s.%s" % (prefix, key) if prefix else str(key)
            if key not in before:
                changes.append((path, None, after[key]))
            elif key not in after:
                changes.append((path, before[key], None))
            else:
                changes.extend(diff_paths(before[key], after[key], path))
        return changes
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        changes = []
        for index, (left, right) in enumerate(zip(before, after)):
            changes.extend(diff_paths(left, right, "%s[%d]" % (prefix, index)))
        return changes
    if before != after:
        return [(prefix, before, after)]
    return []


def compare(live, planned):
    """Paths that differ between a live object and what applying the manifest would make.

    `planned` is the server-side dry-run result of applying the rendered object, so defaults
    are filled in on both sides and only real differences remain. When istioctl has
    deactivated a live injector webhook (default revision), its selectors are not compared.
    """
    ignore = (live or {}).get("kind") == "MutatingWebhookConfiguration" and any(
        deactivated(hook) for hook in (live or {}).get("webhooks") or [])
    return diff_paths(normalize(live, ignore), normalize(planned, ignore))


def split_manifest(documents):
    """Objects from parsed YAML documents (None and empty documents dropped, Lists flattened)."""
    objects = []
    for doc in documents:
        if not doc:
            continue
        if not isinstance(doc, dict):
            raise OperatorError("manifest document is not an object: %r" % (doc,))
        if doc.get("kind", "").endswith("List") and isinstance(doc.get("items"), list):
            objects.extend(split_manifest(doc["items"]))
            continue
        if not doc.get("kind") or not (doc.get("metadata") or {}).get("name"):
            raise OperatorError("manifest object without kind or name: %r" % (doc,))
        objects.append(doc)
    return objects


def extra_objects(live_objects, planned_objects):
    """Live objects (of the same install) that the manifest no longer contains: istioctl prunes them."""
    wanted = set(object_key(obj) for obj in planned_objects)
    return [obj for obj in live_objects if object_key(obj) not in wanted]


def format_value(value, limit=80):
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit - 3] + "..."


def summarize(differences):
    """Readable lines for --diff: one per object, with up to five changed paths each."""
    lines = []
    for item in differences:
        action = item["action"]
        if action == "create":
            lines.append("+ %s" % item["object"])
        elif action == "prune":
            lines.append("- %s" % item["object"])
        else:
            lines.append("~ %s" % item["object"])
            changes = item.get("changes") or []
            for path, old, new in changes[:5]:
                lines.append("    %s: %s -> %s" % (path, format_value(old), format_value(new)))
            if len(changes) > 5:
                lines.append("    ... %d more" % (len(changes) - 5))
    return lines


# --------------------------------------------------------------------------- versions
def release_of(text):
    """MAJOR.MINOR.PATCH from a tag or label such as 1.31.0, v1.31.0 or 1.31.0-distroless; None if none."""
    match = re.match(r"^v?([0-9]+\.[0-9]+\.[0-9]+)(?:-([0-9A-Za-z.-]+))?$", (text or "").strip())
    if not match:
        return None
    suffix = match.group(2)
    if suffix and suffix.startswith("distroless"):
        return match.group(1)
    candidate = match.group(1) + ("-" + suffix if suffix else "")
    return candidate if is_version(candidate) else match.group(1)


def istiod_version(deployment):
    """Istio version of an istiod Deployment: its discovery image tag, else its operator version label.

    The chart labels (app.kubernetes.io/version, helm.sh/chart) carry the chart's version, which
    need not be Istio's, so they are not used.
    """
    metadata = deployment.get("metadata") or {}
    containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    for container in containers:
        image = container.get("image") or ""
        if container.get("name") == "discovery" or len(containers) == 1:
            tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
            found = release_of(tag)
            if found:
                return found
    return release_of((metadata.get("labels") or {}).get("operator.istio.io/version"))


def upgrade_decision(live, target, revision=""):
    """Decide what moving a control plane from `live` to `target` means.

    Returns a dict with `action` (install, none, patch, upgrade, downgrade, unknown, refuse) and
    `message`. Istio supports moving one MINOR release at a time, up or down; a bigger step
    or a change of MAJOR is refused with a message naming both versions.
    """
    where = "revision %s" % revision_label(revision)
    try:
        target_key = parse_version(target)
    except ReleaseError as exc:
        raise OperatorError("target version: %s" % exc)
    if not live:
        return {"action": "install", "message": "no control plane for %s; installing %s" % (where, target)}
    try:
        live_key = parse_version(live)
    except ReleaseError:
        # A custom image tag hides the version: the manifests still decide, but say so.
        return {"action": "unknown",
                "message": "cannot read the Istio version of the live control plane (%s, %r); the one-minor "
                           "rule cannot be checked before moving it to %s" % (where, live, target)}
    (lmaj, lmin), (tmaj, tmin) = live_key[0][:2], target_key[0][:2]
    if live_key == target_key:
        return {"action": "none", "message": "%s already runs %s" % (where, target)}
    if lmaj != tmaj or abs(tmin - lmin) > 1:
        direction = "upgrade" if target_key > live_key else "downgrade"
        step = "%d.%d" % (lmaj, lmin + 1) if target_key > live_key else "%d.%d" % (lmaj, lmin - 1)
        return {"action": "refuse",
                "message": "refusing to %s the control plane (%s) from %s to %s: Istio supports one minor "
                           "release at a time; go through %s.x first"
                           % (direction, where, live, target, step if lmaj == tmaj else "each minor release")}
    if (lmaj, lmin) == (tmaj, tmin):
        return {"action": "patch", "message": "%s: patch change %s -> %s" % (where, live, target)}
    if target_key > live_key:
        return {"action": "upgrade", "message": "%s: in-place upgrade %s -> %s" % (where, live, target)}
    return {"action": "downgrade", "message": "%s: in-place downgrade %s -> %s" % (where, live, target)}
