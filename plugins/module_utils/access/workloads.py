# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Workloads, Services and ports of a mesh, from objects as the API server returns them.

A workload is the set of pods of one owner (a Deployment's pods form one workload); it is in the
mesh when every pod carries an ``istio-proxy`` container (or a native-sidecar init container).
build_index() groups a flat object list by kind and pods into workloads; everything else in this
package reads that index. Nothing here talks to a cluster.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils.kube.names import metadata, ref

ROOT_NAMESPACE = "istio-system"
TRUST_DOMAIN = "cluster.local"
PROXY_CONTAINER = "istio-proxy"
# Ports served by the sidecar itself; iptables never sends them through the inbound chain, so no
# PeerAuthentication or AuthorizationPolicy applies to them (merged metrics, health, Envoy stats).
SIDECAR_OWN_PORTS = (15020, 15021, 15090)
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
HTTP_PROTOCOLS = ("http", "http2", "grpc", "grpc-web")
SECURITY_KINDS = ("PeerAuthentication", "AuthorizationPolicy")


# --------------------------------------------------------------------------- small helpers
def ns_name(obj):
    """"namespace/name" of an object: how reports and messages name a policy."""
    meta = metadata(obj)
    return "%s/%s" % (meta.get("namespace") or "", meta.get("name"))


def labels_of(obj):
    return metadata(obj).get("labels") or {}


def selector_labels(spec):
    """matchLabels of a policy's selector, or None when the policy has no (or an empty) selector."""
    selector = (spec or {}).get("selector") or {}
    match = selector.get("matchLabels") or {}
    return dict(match) if match else None


def labels_match(match, labels):
    return all(labels.get(k) == v for k, v in (match or {}).items())


def age_key(obj):
    """Sort key putting the oldest object first (then by namespace and name)."""
    meta = metadata(obj)
    return (meta.get("creationTimestamp") or "", meta.get("namespace") or "", meta.get("name") or "")


def int_port(value):
    """A port number from an int or a string, or None when it is not one."""
    try:
        port = int(value)
    except (TypeError, ValueError):
        return None
    return port if 1 <= port <= 65535 else None


def namespace_filter(namespaces, exclude_namespaces):
    """A predicate: the namespace is in ``namespaces`` or, when that is empty, not excluded."""
    def wanted(ns):
        if namespaces:
            return ns in namespaces
        return ns not in (exclude_namespaces or ())
    return wanted


# --------------------------------------------------------------------------- objects in
def overlay(objects, proposed=None, removed=None):
    """The object list as it would be after applying ``proposed`` and deleting ``removed``.

    ``proposed`` objects replace objects of the same kind, namespace and name (or are added);
    ``removed`` is a list of dicts or objects with kind, namespace and name.
    """
    proposed = list(proposed or [])
    gone = set()
    for item in removed or []:
        if "metadata" in item:
            gone.add(ref(item))
        else:
            gone.add((item.get("kind") or "", item.get("namespace") or "", item.get("name") or ""))
    replaced = set(ref(o) for o in proposed)
    out = [o for o in objects if ref(o) not in replaced and ref(o) not in gone]
    out.extend(o for o in proposed if ref(o) not in gone)
    return out


def _active_pod(pod):
    if metadata(pod).get("deletionTimestamp"):
        return False
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed")


def has_sidecar(pod):
    spec = pod.get("spec") or {}
    if any(c.get("name") == PROXY_CONTAINER for c in spec.get("containers") or []):
        return True
    return any(c.get("name") == PROXY_CONTAINER and c.get("restartPolicy") == "Always"
               for c in spec.get("initContainers") or [])


def is_gateway(pod):
    """A gateway pod: Envoy runs as ``proxy router`` (or the gateway injection template, or a Gateway
    API gateway). Its listeners come from Gateway objects, not from PeerAuthentication."""
    meta = metadata(pod)
    if labels_of(pod).get("gateway.networking.k8s.io/gateway-name"):
        return True
    if "gateway" in str((meta.get("annotations") or {}).get("inject.istio.io/templates", "")).split(","):
        return True
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == PROXY_CONTAINER and "router" in (container.get("args") or []):
            return True
    return False


def workload_identity(pod):
    """(kind, name) of the workload a pod belongs to: Deployment behind a ReplicaSet, else owner."""
    m = metadata(pod)
    owners = [o for o in m.get("ownerReferences") or [] if o.get("controller")] or (m.get("ownerReferences") or [])
    if not owners:
        return "Pod", m.get("name")
    owner = owners[0]
    name = owner.get("name")
    pod_hash = labels_of(pod).get("pod-template-hash")
    if owner.get("kind") == "ReplicaSet" and pod_hash and name.endswith("-" + pod_hash):
        return "Deployment", name[:-len(pod_hash) - 1]
    return owner.get("kind"), name


def build_index(objects, root_namespace=ROOT_NAMESPACE, trust_domain=TRUST_DOMAIN):
    """Group objects by kind and pods into workloads. ``objects`` is a flat list of dicts."""
    idx = {"root_namespace": root_namespace, "trust_domain": trust_domain, "pods": [], "services": [],
           "peer_authentications": [], "authorization_policies": [], "virtual_services": [],
           "gateways": [], "service_accounts": [], "workloads": []}
    kinds = {"Pod": "pods", "Service": "services", "PeerAuthentication": "peer_authentications",
             "AuthorizationPolicy": "authorization_policies", "VirtualService": "virtual_services",
             "Gateway": "gateways", "ServiceAccount": "service_accounts"}
    for obj in objects:
        key = kinds.get(obj.get("kind"))
        if key == "gateways" and not str(obj.get("apiVersion", "")).startswith("networking.istio.io/"):
            continue
        if key:
            idx[key].append(obj)
    groups = {}
    for pod in sorted(idx["pods"], key=lambda p: (metadata(p).get("namespace") or "", metadata(p).get("name") or "")):
        if not _active_pod(pod):
            continue
        kind, name = workload_identity(pod)
        groups.setdefault((metadata(pod).get("namespace") or "", kind, name), []).append(pod)
    for (namespace, kind, name), pods in sorted(groups.items()):
        rep = pods[0]
        sidecars = [has_sidecar(p) for p in pods]
        labels = dict(labels_of(rep))
        labels.pop("pod-template-hash", None)
        idx["workloads"].append({
            "namespace": namespace, "name": name, "kind": kind,
            "id": "%s/%s" % (namespace, name),
            "service_account": (rep.get("spec") or {}).get("serviceAccountName") or "default",
            "sidecar": all(sidecars), "mixed_sidecar": len(set(sidecars)) > 1, "gateway": is_gateway(rep),
            "labels": labels,
            "pods": [metadata(p).get("name") for p in pods],
            "ip": (rep.get("status") or {}).get("podIP") or "",
            "host_ip": (rep.get("status") or {}).get("hostIP") or "",
            "pod": rep,
        })
    return idx


def find_workload(idx, namespace, name=None, labels=None):
    """The workloads in ``namespace`` named ``name`` or carrying ``labels``."""
    out = []
    for wl in idx["workloads"]:
        if wl["namespace"] != namespace:
            continue
        if name and wl["name"] != name and name not in wl["pods"]:
            continue
        if labels and not labels_match(labels, wl["labels"]):
            continue
        out.append(wl)
    return out


def synthetic_workload(namespace, name, service_account="default", sidecar=False, labels=None, ip="", host_ip=""):
    """A source that is not a pod (the kubelet, a Prometheus not found, a gateway to come)."""
    return {"namespace": namespace or "", "name": name, "kind": "Synthetic", "id": "%s/%s" % (namespace or "-", name),
            "service_account": service_account, "sidecar": sidecar, "mixed_sidecar": False, "gateway": False,
            "labels": dict(labels or {}), "pods": [], "ip": ip, "host_ip": host_ip, "pod": {}}


# --------------------------------------------------------------------------- services and ports
def port_protocol(port):
    """'http' or 'tcp' for a Service port, by appProtocol, then name prefix; unnamed ports are sniffed (http)."""
    app = (port.get("appProtocol") or "").lower()
    name = (port.get("name") or "").lower()
    proto = app or name.split("-", 1)[0]
    if (port.get("protocol") or "TCP").upper() != "TCP":
        return "other"
    if not proto:
        return "http"
    if proto in HTTP_PROTOCOLS or proto.startswith("kubernetes.io/h2c") or proto.startswith("kubernetes.io/ws"):
        return "http"
    if not app and name and proto not in ("tcp", "tls", "https", "mongo", "mysql", "redis", "udp", "sctp"):
        # an unknown name prefix is not a protocol declaration: Istio sniffs the traffic
        return "http"
    return "tcp"


def resolve_target_port(service_port, pod):
    """The container port a Service port sends to on ``pod`` (named target ports resolved)."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == PROXY_CONTAINER:
            continue
        for cport in container.get("ports") or []:
            if cport.get("name") == target:
                return int(cport.get("containerPort"))
    return None


def service_backends(idx, service):
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        return []
    ns = metadata(service).get("namespace") or ""
    return [wl for wl in idx["workloads"] if wl["namespace"] == ns and labels_match(selector, wl["labels"])]


def destinations(idx, namespaces=None):
    """Every (service, port) with at least one backend workload, sorted."""
    out = []
    for svc in sorted(idx["services"], key=lambda s: (metadata(s).get("namespace") or "", metadata(s).get("name"))):
        ns = metadata(svc).get("namespace") or ""
        if namespaces is not None and ns not in namespaces:
            continue
        backends = service_backends(idx, svc)
        if not backends:
            continue
        for port in (svc.get("spec") or {}).get("ports") or []:
            protocol = port_protocol(port)
            if protocol == "other":
                continue
            out.append({"service": metadata(svc).get("name"), "namespace": ns, "port": int(port.get("port")),
                        "protocol": protocol, "service_port": port, "backends": backends,
                        "id": "%s.%s:%s" % (metadata(svc).get("name"), ns, port.get("port"))})
    return out


def service_destination(idx, namespace, service, port=None):
    """destinations() entries of one Service (all ports, or the one numbered ``port``)."""
    return [d for d in destinations(idx, [namespace]) if d["service"] == service and (port is None or d["port"] == int(port))]


def workload_in(idx, workload):
    """The same workload looked up in another index (pods do not change between before and after)."""
    for wl in idx["workloads"]:
        if wl["id"] == workload["id"]:
            return wl
    return workload


def workload_ports(idx, wl):
    """The target ports of ``wl``: those its Services send to and those its containers declare."""
    ports = set()
    for svc in idx["services"]:
        if (metadata(svc).get("namespace") or "") != wl["namespace"]:
            continue
        if wl not in service_backends(idx, svc):
            continue
        for sport in (svc.get("spec") or {}).get("ports") or []:
            target = resolve_target_port(sport, wl["pod"])
            if target is not None:
                ports.add(target)
    for container in (wl["pod"].get("spec") or {}).get("containers") or []:
        if container.get("name") != PROXY_CONTAINER:
            ports.update(int(p["containerPort"]) for p in container.get("ports") or [] if p.get("containerPort"))
    return sorted(ports)


def as_index(objects, root_namespace=ROOT_NAMESPACE, trust_domain=TRUST_DOMAIN):
    """``objects`` as an index: an index is returned as it is, a list goes through build_index()."""
    if isinstance(objects, dict) and "workloads" in objects:
        return objects
    return build_index(objects, root_namespace, trust_domain)


def without_security_policies(objects):
    """The objects minus every PeerAuthentication and AuthorizationPolicy: the open baseline."""
    return [o for o in objects if o.get("kind") not in SECURITY_KINDS]
