# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure transforms behind the addons role.

Everything here works on plain Python data (the documents of an Istio release's
``samples/addons`` manifests, the Services read from a cluster, the role's variables) and
returns plain data: which objects to apply in which order, what to validate, what to warn
about. Nothing here talks to a cluster or imports Ansible; the modules
``meshops.istio.addons_plan`` and ``meshops.istio.addons_prune`` move data in and out.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import copy
import hashlib
import json
import re

from ansible_collections.meshops.istio.plugins.module_utils.kube import manifest
from ansible_collections.meshops.istio.plugins.module_utils.kube.names import (  # noqa: F401 pylint: disable=unused-import
    api_group,
    collection_key,
    describe,
    object_key,
)

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - PyYAML ships with ansible-core
    HAS_YAML = False

# Label put on every object this collection applies for an addon; its value is the addon.
ADDON_LABEL = collection_key("addon")
# Pod-template annotation holding a digest of the ConfigMaps a workload mounts.
CHECKSUM_ANNOTATION = collection_key("config-checksum")
# Annotations on the Service that serves an addon's UI; the access summary reads them.
UI_PORT_ANNOTATION = collection_key("ui-port")
UI_PATH_ANNOTATION = collection_key("ui-path")
DASHBOARD_ANNOTATION = collection_key("dashboard")
NOTE_ANNOTATION = collection_key("access-note")

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
EXPOSURE_KEYS = ("type", "node_port")
KIALI_AUTH_STRATEGIES = ("auto", "anonymous", "token", "openid", "openshift", "header")
GRAFANA_ROLES = ("Viewer", "Editor", "Admin")
DEFAULT_NODE_PORT_RANGE = "30000-32767"

# What each addon is: where its manifest lives under the release's samples directory, which
# Service serves its UI (and on which Service port), the `istioctl dashboard` name, and the
# UI's path when the manifest does not say otherwise.
CATALOGUE = {
    "kiali": {"manifest": "addons/kiali.yaml", "service": "kiali", "port": 20001,
              "dashboard": "kiali", "path": "/kiali"},
    "prometheus": {"manifest": "addons/prometheus.yaml", "service": "prometheus", "port": 9090,
                   "dashboard": "prometheus", "path": "/"},
    "grafana": {"manifest": "addons/grafana.yaml", "service": "grafana", "port": 3000,
                "dashboard": "grafana", "path": "/"},
    "jaeger": {"manifest": "addons/jaeger.yaml", "service": "tracing", "port": 80,
               "dashboard": "jaeger", "path": "/"},
    "zipkin": {"manifest": "addons/extras/zipkin.yaml", "service": "zipkin", "port": 9411,
               "dashboard": "zipkin", "path": "/zipkin/"},
}
ADDON_NAMES = ("kiali", "prometheus", "grafana", "jaeger", "zipkin")

# Kinds that have no namespace; every other kind found in a manifest without one is put in
# the Istio namespace.
CLUSTER_SCOPED_KINDS = frozenset([
    "APIService", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "MutatingWebhookConfiguration", "Namespace", "PersistentVolume", "PriorityClass",
    "StorageClass", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
])
WORKLOAD_KINDS = frozenset(["Deployment", "StatefulSet", "DaemonSet"])

# Verbs that let Kiali change the cluster; dropped from its ClusterRole in view-only mode.
MUTATING_VERBS = frozenset(["create", "delete", "deletecollection", "patch", "update", "*"])
# Resources Kiali must still "create" to work at all (reviews of the caller, proxy config dumps).
KIALI_CREATE_RESOURCES = frozenset(["tokenreviews", "selfsubjectaccessreviews", "pods/portforward"])


class AddonsError(Exception):
    """A problem with the role's input or with a release's sample manifests."""


def _sorted_names(names):
    return ", ".join(names)


# --------------------------------------------------------------------------- documents

def load_documents(text, source="manifest"):
    """The objects of a multi-document YAML text, with empty documents dropped and
    ``kind: List`` documents flattened."""
    if not HAS_YAML:  # pragma: no cover
        raise AddonsError("PyYAML is required to read %s" % source)
    try:
        raw = manifest.load_all(text)
    except manifest.YAMLError as exc:
        raise AddonsError("%s is not valid YAML: %s" % (source, exc))
    docs = []
    for doc in raw:
        if doc is None:
            continue
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise AddonsError("%s holds a document that is not a Kubernetes object: %r" % (source, doc))
        if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
            docs.extend(item for item in doc["items"] if item)
        else:
            docs.append(doc)
    return docs


def set_default_namespace(docs, namespace):
    """Put namespaced objects without a namespace into `namespace` (in place)."""
    for doc in docs:
        if doc["kind"] in CLUSTER_SCOPED_KINDS:
            continue
        meta = doc.setdefault("metadata", {})
        if not meta.get("namespace"):
            meta["namespace"] = namespace
    return docs


def label_documents(docs, addon):
    """Label every object with the addon it belongs to (in place)."""
    for doc in docs:
        labels = doc.setdefault("metadata", {}).setdefault("labels", None) or {}
        labels[ADDON_LABEL] = addon
        doc["metadata"]["labels"] = labels
    return docs


def split_documents(docs):
    """Split objects into (crds, custom_resources, others): custom resources are objects
    whose kind one of the CRDs in the same set defines, so they can only be applied once
    those CRDs are Established. Namespace objects are left out: the namespace belongs to
    the control plane, never to an addon."""
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    defined = set()
    for crd in crds:
        spec = crd.get("spec") or {}
        defined.add((spec.get("group"), (spec.get("names") or {}).get("kind")))
    custom, others = [], []
    for doc in docs:
        if doc["kind"] in ("CustomResourceDefinition", "Namespace"):
            continue
        if (api_group(doc["apiVersion"]), doc["kind"]) in defined:
            custom.append(doc)
        else:
            others.append(doc)
    return crds, custom, others


def find_object(docs, kind, name, namespace=None):
    for doc in docs:
        meta = doc.get("metadata") or {}
        if doc["kind"] == kind and meta.get("name") == name and (namespace is None or meta.get("namespace") == namespace):
            return doc
    return None


# --------------------------------------------------------------------------- validation

def validate_selection(enabled):
    """Problems with `addons_enabled`: unknown or repeated names."""
    errors = []
    if not isinstance(enabled, list):
        return ["addons_enabled must be a list of addon names (accepted: %s), got %r" % (_sorted_names(ADDON_NAMES), enabled)]
    unknown = [name for name in enabled if name not in CATALOGUE]
    for name in unknown:
        errors.append("addons_enabled: unknown addon %r; accepted addons: %s" % (name, _sorted_names(ADDON_NAMES)))
    seen = set()
    for name in enabled:
        if name in seen and name in CATALOGUE:
            errors.append("addons_enabled: addon %r is listed twice" % name)
        seen.add(name)
    return errors


def parse_node_port_range(value):
    """(low, high) from "30000-32767"; raises AddonsError naming addons_node_port_range."""
    match = re.match(r"^\s*(\d+)\s*-\s*(\d+)\s*$", str(value))
    if not match:
        raise AddonsError("addons_node_port_range=%r is not a range like %s" % (value, DEFAULT_NODE_PORT_RANGE))
    low, high = int(match.group(1)), int(match.group(2))
    if not 1 <= low <= high <= 65535:
        raise AddonsError("addons_node_port_range=%r is not a range of ports (1-65535, low <= high)" % (value,))
    return low, high


def node_ports_in_use(services):
    """{nodePort: "namespace/name"} for every Service read from the cluster."""
    used = {}
    for svc in services or []:
        meta = svc.get("metadata") or {}
        owner = "%s/%s" % (meta.get("namespace", ""), meta.get("name", ""))
        for port in (svc.get("spec") or {}).get("ports") or []:
            if port.get("nodePort"):
                used.setdefault(int(port["nodePort"]), owner)
    return used


def normalize_exposure(exposure):
    """{addon: {"type": ..., "node_port": int|None}} with defaults filled in; no validation."""
    result = {}
    for name, entry in (exposure or {}).items():
        entry = entry or {}
        result[name] = {"type": entry.get("type", "ClusterIP"), "node_port": entry.get("node_port")}
    return result


def validate_exposure(exposure, enabled, node_port_range, services, namespace_of=None):
    """Problems with `addons_exposure`, each naming the addon and the bad value.

    `services` are the Services read from the cluster (all namespaces); a nodePort taken by a
    Service other than the addon's own UI Service is a conflict. `namespace_of` maps an addon
    to the namespace of its UI Service (default istio-system)."""
    errors = []
    namespace_of = namespace_of or {}
    if exposure is None:
        exposure = {}
    if not isinstance(exposure, dict):
        return ["addons_exposure must be a mapping of addon name to {type, node_port}, got %r" % (exposure,)]
    try:
        low, high = parse_node_port_range(node_port_range)
    except AddonsError as exc:
        return [str(exc)]
    used = node_ports_in_use(services)
    claimed = {}
    for name in sorted(exposure):
        entry = exposure[name]
        where = "addons_exposure.%s" % name
        if name not in CATALOGUE:
            errors.append("addons_exposure: unknown addon %r; accepted addons: %s" % (name, _sorted_names(ADDON_NAMES)))
            continue
        if entry is None:
            entry = {}
        if not isinstance(entry, dict):
            errors.append("%s must be a mapping with keys %s, got %r" % (where, _sorted_names(EXPOSURE_KEYS), entry))
            continue
        for key in sorted(set(entry) - set(EXPOSURE_KEYS)):
            errors.append("%s: unknown key %r; accepted keys: %s" % (where, key, _sorted_names(EXPOSURE_KEYS)))
        svc_type = entry.get("type", "ClusterIP")
        if svc_type not in SERVICE_TYPES:
            errors.append("%s.type=%r is not a Service type this role sets; accepted: %s"
                          % (where, svc_type, _sorted_names(SERVICE_TYPES)))
            continue
        node_port = entry.get("node_port")
        if node_port is None or node_port == "":
            continue
        if isinstance(node_port, bool) or not re.match(r"^\d+$", str(node_port)):
            errors.append("%s.node_port=%r is not a port number" % (where, node_port))
            continue
        node_port = int(node_port)
        if svc_type == "ClusterIP":
            errors.append("%s.node_port=%d needs type NodePort or LoadBalancer, but %s.type is ClusterIP"
                          % (where, node_port, where))
            continue
        if not low <= node_port <= high:
            errors.append("%s.node_port=%d is outside the cluster's nodePort range %d-%d (addons_node_port_range)"
                          % (where, node_port, low, high))
            continue
        if name not in enabled:
            continue
        own = "%s/%s" % (namespace_of.get(name, "istio-system"), CATALOGUE[name]["service"])
        if node_port in used and used[node_port] != own:
            errors.append("%s.node_port=%d is already used by Service %s" % (where, node_port, used[node_port]))
        elif node_port in claimed:
            errors.append("%s.node_port=%d is also asked for by addons_exposure.%s" % (where, node_port, claimed[node_port]))
        claimed.setdefault(node_port, name)
    return errors


def duplicate_objects(rendered):
    """Problems where two enabled addons define the same object (jaeger and zipkin both
    define the Services tracing and zipkin)."""
    owners = {}
    errors = []
    for name, docs in rendered:
        for doc in docs:
            key = object_key(doc)[1:]
            if key in owners and owners[key] != name:
                errors.append("addons_enabled: %s and %s both define %s; enable only one of them"
                              % (owners[key], name, describe(doc)))
            owners.setdefault(key, name)
    return errors


# --------------------------------------------------------------------------- transforms

def expose_service(doc, svc_type, node_port, ui_port):
    """Set a Service's type and (optionally) the nodePort of its UI port (in place).

    ClusterIP drops nodePort from the UI port; the other ports keep whatever the cluster
    allocates."""
    spec = doc.setdefault("spec", {})
    spec["type"] = svc_type
    found = False
    for port in spec.get("ports") or []:
        if int(port.get("port", -1)) != int(ui_port):
            continue
        found = True
        if svc_type != "ClusterIP" and node_port:
            port["nodePort"] = int(node_port)
        else:
            port.pop("nodePort", None)
    if not found:
        raise AddonsError("%s has no port %s to expose" % (describe(doc), ui_port))
    return doc


def kiali_auth(exposure_type, requested):
    """(strategy, view_only, warnings) for Kiali's auth settings.

    `requested` is addons_kiali_auth_strategy; "auto" keeps the sample's strategy while Kiali
    is only reachable inside the cluster (ClusterIP) and requires a token login once it is
    exposed. An explicitly requested anonymous strategy on an exposed Kiali is made
    view-only."""
    exposed = exposure_type != "ClusterIP"
    warnings = []
    if requested == "auto":
        return ("token" if exposed else None), False, warnings
    if requested == "anonymous" and exposed:
        warnings.append(
            "Kiali is exposed as %s with auth.strategy anonymous (addons_kiali_auth_strategy=anonymous): "
            "anyone who reaches it sees the whole mesh. It is set to view_only_mode and its ClusterRole is "
            "reduced to read-only; use addons_kiali_auth_strategy=auto (token) to require a login." % exposure_type)
        return "anonymous", True, warnings
    return requested, False, warnings


def patch_kiali_config(text, strategy, view_only):
    """Kiali's config.yaml with auth.strategy and deployment.view_only_mode set; the text is
    returned unchanged when it already says so (or when there is nothing to set)."""
    if strategy is None and not view_only:
        return text
    config = manifest.load(text) or {}
    if not isinstance(config, dict):
        raise AddonsError("Kiali's config.yaml is not a mapping")
    before = copy.deepcopy(config)
    if strategy is not None:
        auth = config.get("auth") if isinstance(config.get("auth"), dict) else {}
        auth["strategy"] = strategy
        config["auth"] = auth
    if view_only:
        deployment = config.get("deployment") if isinstance(config.get("deployment"), dict) else {}
        deployment["view_only_mode"] = True
        config["deployment"] = deployment
    if config == before:
        return text
    return yaml.safe_dump(config, default_flow_style=False, sort_keys=False)


def kiali_config_values(text):
    """(auth.strategy, view_only_mode, web_root) read from Kiali's config.yaml."""
    config = manifest.load(text) or {}
    auth = config.get("auth") or {}
    deployment = config.get("deployment") or {}
    server = config.get("server") or {}
    return auth.get("strategy"), bool(deployment.get("view_only_mode", False)), server.get("web_root")


def read_only_rules(rules):
    """ClusterRole rules without verbs that change the cluster (Kiali's view-only mode);
    reviews and port-forwards, which Kiali needs to read, keep "create"."""
    result = []
    for rule in rules or []:
        rule = copy.deepcopy(rule)
        resources = set(rule.get("resources") or [])
        verbs = list(rule.get("verbs") or [])
        if resources and resources <= KIALI_CREATE_RESOURCES:
            result.append(rule)
            continue
        kept = [v for v in verbs if v not in MUTATING_VERBS]
        if "*" in verbs:
            kept = sorted(set(kept) | {"get", "list", "watch"})
        if kept:
            rule["verbs"] = kept
            result.append(rule)
    return result


_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")


def _option_re(key):
    return re.compile(r"^(\s*)" + re.escape(key) + r"\s*=")


def get_ini_option(text, section, key):
    """The value of `key` in `[section]` of an INI text, or None."""
    current = None
    pattern = _option_re(key)
    for line in text.splitlines():
        head = _SECTION.match(line)
        if head:
            current = head.group(1).strip()
            continue
        if current == section and pattern.match(line):
            return line.split("=", 1)[1].strip()
    return None


def set_ini_option(text, section, key, value):
    """INI text with `key = value` in `[section]`: an existing line is rewritten in place, a
    missing one is added at the end of the section, a missing section is appended. Other
    lines are kept as they are."""
    lines = text.splitlines()
    pattern = _option_re(key)
    start = end = None
    for index, line in enumerate(lines):
        head = _SECTION.match(line)
        if head:
            if start is not None and end is None:
                end = index
            if head.group(1).strip() == section and start is None:
                start = index
    if start is None:
        body = list(lines)
        while body and not body[-1].strip():
            body.pop()
        if body:
            body.append("")
        body += ["[%s]" % section, "%s = %s" % (key, value)]
        return "\n".join(body) + "\n"
    if end is None:
        end = len(lines)
    for index in range(start + 1, end):
        match = pattern.match(lines[index])
        if match:
            lines[index] = "%s%s = %s" % (match.group(1), key, value)
            return "\n".join(lines) + "\n"
    insert = end
    while insert > start + 1 and not lines[insert - 1].strip():
        insert -= 1
    lines.insert(insert, "%s = %s" % (key, value))
    return "\n".join(lines) + "\n"


def _truthy(value):
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def grafana_anonymous(text, requested_role, exposure_type):
    """(grafana.ini text, warnings): anonymous users get `requested_role` (Viewer unless
    Admin is asked for explicitly); a warning says what anonymous users can do either way."""
    if not _truthy(get_ini_option(text, "auth.anonymous", "enabled") or "false"):
        return text, []
    new_text = text
    if get_ini_option(text, "auth.anonymous", "org_role") != requested_role:
        new_text = set_ini_option(text, "auth.anonymous", "org_role", requested_role)
    where = ("exposed as %s" % exposure_type) if exposure_type != "ClusterIP" else "reachable inside the cluster"
    if requested_role == "Admin":
        warning = ("Grafana (%s) lets anonymous users in as Admin (addons_grafana_anonymous_role=Admin): "
                   "anyone who reaches it can change dashboards, data sources and users." % where)
    else:
        warning = ("Grafana (%s) lets anonymous users in with role %s: anyone who reaches it can read "
                   "every dashboard and query Prometheus through it." % (where, requested_role))
    return new_text, [warning]


def referenced_config_maps(pod_spec):
    """Names of the ConfigMaps a pod spec mounts or reads into its environment."""
    names = []

    def add(name):
        if name and name not in names:
            names.append(name)

    for volume in pod_spec.get("volumes") or []:
        add((volume.get("configMap") or {}).get("name"))
        for source in (volume.get("projected") or {}).get("sources") or []:
            add((source.get("configMap") or {}).get("name"))
    for container in (pod_spec.get("initContainers") or []) + (pod_spec.get("containers") or []):
        for env_from in container.get("envFrom") or []:
            add((env_from.get("configMapRef") or {}).get("name"))
        for env in container.get("env") or []:
            add(((env.get("valueFrom") or {}).get("configMapKeyRef") or {}).get("name"))
    return names


def config_checksum(config_maps):
    """A stable digest of ConfigMaps' data."""
    payload = [[cm["metadata"]["name"], cm.get("data") or {}, cm.get("binaryData") or {}]
               for cm in sorted(config_maps, key=lambda c: c["metadata"]["name"])]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()


def add_config_checksums(docs):
    """Annotate each workload's pod template with a digest of the ConfigMaps (from the same
    documents) it uses, so a configuration change rolls it (in place)."""
    for doc in docs:
        if doc["kind"] not in WORKLOAD_KINDS:
            continue
        namespace = doc["metadata"].get("namespace")
        template = doc.setdefault("spec", {}).setdefault("template", {})
        names = referenced_config_maps(template.get("spec") or {})
        found = [cm for cm in (find_object(docs, "ConfigMap", n, namespace) for n in names) if cm is not None]
        if not found:
            continue
        meta = template.setdefault("metadata", {})
        annotations = meta.get("annotations") or {}
        annotations[CHECKSUM_ANNOTATION] = config_checksum(found)
        meta["annotations"] = annotations
    return docs


def env_value(docs, kind, name, env_name):
    """The literal value of an environment variable in a workload's containers, or None."""
    workload = find_object(docs, kind, name)
    if workload is None:
        return None
    for container in ((workload.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
        for env in container.get("env") or []:
            if env.get("name") == env_name and "value" in env:
                return env["value"]
    return None


def ui_path(name, docs):
    """Path of an addon's UI, from its manifest when it says (Kiali's web_root, Jaeger's
    QUERY_BASE_PATH)."""
    path = CATALOGUE[name]["path"]
    if name == "kiali":
        cm = find_object(docs, "ConfigMap", "kiali")
        if cm and (cm.get("data") or {}).get("config.yaml"):
            path = kiali_config_values(cm["data"]["config.yaml"])[2] or path
    elif name == "jaeger":
        path = env_value(docs, "Deployment", "jaeger", "QUERY_BASE_PATH") or path
    if not path.startswith("/"):
        path = "/" + path
    return path


# --------------------------------------------------------------------------- the plan

def transform_addon(name, docs, exposure, kiali_auth_strategy="auto", grafana_anonymous_role="Viewer",
                    namespace="istio-system"):
    """(docs, warnings, notes) for one addon: its sample documents made safe and exposed as
    asked, labelled with the addon, workloads annotated with their config checksum."""
    docs = copy.deepcopy(docs)
    set_default_namespace(docs, namespace)
    entry = CATALOGUE[name]
    exp = normalize_exposure(exposure).get(name, {"type": "ClusterIP", "node_port": None})
    warnings, notes = [], []

    service = find_object(docs, "Service", entry["service"])
    if service is None:
        raise AddonsError("%s has no Service %s (the %s UI)" % (entry["manifest"], entry["service"], name))
    expose_service(service, exp["type"], exp["node_port"], entry["port"])

    if name == "kiali":
        cm = find_object(docs, "ConfigMap", "kiali")
        if cm is None or "config.yaml" not in (cm.get("data") or {}):
            raise AddonsError("%s has no ConfigMap kiali with config.yaml" % entry["manifest"])
        strategy, view_only, more = kiali_auth(exp["type"], kiali_auth_strategy)
        warnings += more
        cm["data"]["config.yaml"] = patch_kiali_config(cm["data"]["config.yaml"], strategy, view_only)
        final_strategy, final_view_only, _root = kiali_config_values(cm["data"]["config.yaml"])
        if final_view_only:
            role = find_object(docs, "ClusterRole", "kiali")
            if role is not None:
                role["rules"] = read_only_rules(role.get("rules"))
        if final_strategy == "token":
            notes.append("log in with a ServiceAccount token, e.g. kubectl -n %s create token kiali"
                         % service["metadata"]["namespace"])
        elif final_strategy == "anonymous" and exp["type"] != "ClusterIP":
            notes.append("anonymous, view-only")
    elif name == "grafana":
        cm = find_object(docs, "ConfigMap", "grafana")
        if cm is not None and "grafana.ini" in (cm.get("data") or {}):
            cm["data"]["grafana.ini"], more = grafana_anonymous(cm["data"]["grafana.ini"], grafana_anonymous_role,
                                                                exp["type"])
            warnings += more
            if more:
                notes.append("anonymous role %s" % grafana_anonymous_role)

    meta = service["metadata"]
    annotations = meta.get("annotations") or {}
    annotations[UI_PORT_ANNOTATION] = str(entry["port"])
    annotations[UI_PATH_ANNOTATION] = ui_path(name, docs)
    annotations[DASHBOARD_ANNOTATION] = entry["dashboard"]
    if notes:
        annotations[NOTE_ANNOTATION] = "; ".join(notes)
    else:
        annotations.pop(NOTE_ANNOTATION, None)
    meta["annotations"] = annotations

    label_documents(docs, name)
    add_config_checksums(docs)
    return docs, warnings, notes


def plan(manifests, enabled, exposure=None, node_port_range=DEFAULT_NODE_PORT_RANGE, services=None,
         kiali_auth_strategy="auto", grafana_anonymous_role="Viewer", namespace="istio-system", state="present"):
    """Everything the addons role applies or removes, as data.

    `manifests` maps addon name to the text of its sample manifest (only enabled addons are
    needed). Returns a dict with `errors` (when not empty nothing may be applied), `warnings`,
    `crds`, `custom_resources`, `objects` (the apply order is crds, objects, custom_resources),
    `workloads`, `namespaces` the objects need, `kinds` (apiVersion/kind pairs, for removal)
    and `addons` (per addon: UI Service, port, exposure, notes)."""
    result = {"errors": [], "warnings": [], "crds": [], "custom_resources": [], "objects": [],
              "workloads": [], "namespaces": [], "kinds": [], "addons": {}}
    errors = validate_selection(enabled)
    if errors:
        result["errors"] = errors
        return result
    if kiali_auth_strategy not in KIALI_AUTH_STRATEGIES:
        errors.append("addons_kiali_auth_strategy=%r is not accepted; accepted: %s"
                      % (kiali_auth_strategy, _sorted_names(KIALI_AUTH_STRATEGIES)))
    if grafana_anonymous_role not in GRAFANA_ROLES:
        errors.append("addons_grafana_anonymous_role=%r is not accepted; accepted: %s"
                      % (grafana_anonymous_role, _sorted_names(GRAFANA_ROLES)))

    rendered = []
    for name in enabled:
        if name not in manifests:
            errors.append("addons_enabled: no manifest for %s (%s)" % (name, CATALOGUE[name]["manifest"]))
            continue
        try:
            docs = load_documents(manifests[name], CATALOGUE[name]["manifest"])
        except AddonsError as exc:
            errors.append(str(exc))
            continue
        rendered.append((name, set_default_namespace(docs, namespace)))
    errors += duplicate_objects(rendered)

    namespace_of = {}
    for name, docs in rendered:
        service = find_object(docs, "Service", CATALOGUE[name]["service"])
        if service is not None:
            namespace_of[name] = service["metadata"]["namespace"]
    if state == "present":
        errors += validate_exposure(exposure, enabled, node_port_range, services, namespace_of)
    if errors:
        result["errors"] = errors
        return result

    exposure = normalize_exposure(exposure) if state == "present" else {}
    all_docs = []
    for name, docs in rendered:
        try:
            docs, warnings, notes = transform_addon(name, docs, exposure, kiali_auth_strategy,
                                                    grafana_anonymous_role, namespace)
        except AddonsError as exc:
            errors.append(str(exc))
            continue
        if state == "present":
            result["warnings"] += warnings
        exp = exposure.get(name, {"type": "ClusterIP", "node_port": None})
        result["addons"][name] = {
            "namespace": namespace_of.get(name, namespace), "service": CATALOGUE[name]["service"],
            "port": CATALOGUE[name]["port"], "type": exp["type"], "node_port": exp["node_port"],
            "dashboard": CATALOGUE[name]["dashboard"], "path": ui_path(name, docs), "notes": notes,
        }
        all_docs += docs
    if errors:
        result["errors"] = errors
        return result

    crds, custom, others = split_documents(all_docs)
    result["crds"], result["custom_resources"], result["objects"] = crds, custom, others
    result["workloads"] = ["%s %s/%s" % (d["kind"], d["metadata"]["namespace"], d["metadata"]["name"])
                           for d in others if d["kind"] in WORKLOAD_KINDS]
    result["namespaces"] = sorted(set(d["metadata"]["namespace"] for d in all_docs
                                      if d["kind"] not in CLUSTER_SCOPED_KINDS))
    kinds = []
    for doc in others + custom + crds:
        pair = {"apiVersion": doc["apiVersion"], "kind": doc["kind"]}
        if pair not in kinds:
            kinds.append(pair)
    result["kinds"] = kinds
    return result


# --------------------------------------------------------------------------- removal

def label_selector(addons):
    """The label selector matching objects applied for `addons`."""
    return "%s in (%s)" % (ADDON_LABEL, ",".join(sorted(addons)))


def removal_order(objects):
    """Objects to delete, custom resource definitions last (their custom resources go first,
    and with them)."""
    return sorted(objects, key=lambda o: (o["kind"] == "CustomResourceDefinition", describe(o)))


# --------------------------------------------------------------------------- metrics

def prometheus_scalar(response):
    """The sum of the values of a Prometheus instant-query response (0.0 when empty).

    Raises AddonsError when the response is not a successful vector/scalar result."""
    if not isinstance(response, dict) or response.get("status") != "success":
        raise AddonsError("Prometheus query failed: %s" % (response.get("error") if isinstance(response, dict) else response))
    data = response.get("data") or {}
    kind = data.get("resultType")
    values = data.get("result")
    if kind == "scalar":
        return float(values[1])
    if kind != "vector":
        raise AddonsError("Prometheus returned a %s, expected a vector" % kind)
    return float(sum(float(item["value"][1]) for item in values or []))
