# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure functions behind the access summary: where to open each addon and Bookinfo.

The input is what the API server says (Nodes, the addon Services labelled by the addons
role, the ingress gateway Service, istiod Deployments); the output is one data structure
from which both the JSON and the Markdown table are rendered, so the printed table and the
files always agree.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

from ansible_collections.meshops.istio.plugins.module_utils.addons.plan import (
    ADDON_LABEL,
    DASHBOARD_ANNOTATION,
    NOTE_ANNOTATION,
    UI_PATH_ANNOTATION,
    UI_PORT_ANNOTATION,
)

ADDRESS_PREFERENCE = ("ExternalIP", "InternalIP")
COLUMNS = (("name", "Name"), ("url", "URL"), ("access", "Access"), ("service", "Service"), ("note", "Note"))


def node_address(nodes, override=""):
    """(address, node name): `override` when set, else the first node's ExternalIP, else its
    InternalIP (the first node that has either)."""
    if override:
        return override, ""
    for node in nodes or []:
        addresses = (node.get("status") or {}).get("addresses") or []
        for wanted in ADDRESS_PREFERENCE:
            for address in addresses:
                if address.get("type") == wanted and address.get("address"):
                    return address["address"], (node.get("metadata") or {}).get("name", "")
    return "", ""


def _host(address):
    """An address as it goes into a URL (IPv6 in brackets)."""
    return "[%s]" % address if ":" in address and not address.startswith("[") else address


def _url(host, port, path):
    path = path or "/"
    if not path.startswith("/"):
        path = "/" + path
    return "http://%s:%s%s" % (_host(host), port, path)


def load_balancer_address(service):
    for ingress in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        address = ingress.get("ip") or ingress.get("hostname")
        if address:
            return address
    return ""


def find_port(service, number=None, name=None):
    for port in (service.get("spec") or {}).get("ports") or []:
        if number is not None and int(port.get("port", -1)) == int(number):
            return port
        if name is not None and port.get("name") == name:
            return port
    return None


def service_access(service, port, node_addr, path, dashboard=None):
    """(url, access, note) for reaching `port` of a Service from outside the cluster."""
    meta = service.get("metadata") or {}
    namespace = meta.get("namespace", "")
    svc_type = (service.get("spec") or {}).get("type") or "ClusterIP"
    node_port = port.get("nodePort") if port else None
    if svc_type == "LoadBalancer":
        address = load_balancer_address(service)
        if address:
            return _url(address, port["port"], path), "LoadBalancer", ""
        if node_port and node_addr:
            return _url(node_addr, node_port, path), "LoadBalancer (pending), NodePort", "no load-balancer address yet"
        return "", "LoadBalancer (pending)", "no load-balancer address yet"
    if svc_type == "NodePort" and node_port:
        if node_addr:
            return _url(node_addr, node_port, path), "NodePort", ""
        return "", "NodePort", "no node address found"
    if dashboard:
        command = "istioctl dashboard %s" % dashboard
        if namespace and namespace != "istio-system":
            command += " --namespace %s" % namespace
        return command, "ClusterIP (port-forward)", ""
    return "", svc_type, "not reachable from outside the cluster"


def addon_entries(services, node_addr):
    """One entry per addon UI Service (the ones carrying the ui-port annotation)."""
    entries = []
    for service in services or []:
        meta = service.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        addon = (meta.get("labels") or {}).get(ADDON_LABEL)
        if not addon or UI_PORT_ANNOTATION not in annotations:
            continue
        port = find_port(service, number=annotations[UI_PORT_ANNOTATION])
        url, access, note = service_access(service, port, node_addr, annotations.get(UI_PATH_ANNOTATION, "/"),
                                           annotations.get(DASHBOARD_ANNOTATION) or addon)
        notes = [n for n in (note, annotations.get(NOTE_ANNOTATION, "")) if n]
        entries.append({"name": addon, "kind": "addon", "url": url, "access": access,
                        "service": "%s/%s:%s" % (meta.get("namespace", ""), meta.get("name", ""),
                                                 annotations[UI_PORT_ANNOTATION]),
                        "note": "; ".join(notes)})
    return sorted(entries, key=lambda e: e["name"])


def ingress_entry(service, node_addr, port_name="http2", path="/productpage", name="productpage"):
    """The entry for Bookinfo's productpage through the ingress gateway, found by the port's
    name (never by its position)."""
    if not service:
        return {"name": name, "kind": "ingress", "url": "", "access": "", "service": "",
                "note": "ingress gateway Service not found"}
    meta = service.get("metadata") or {}
    port = find_port(service, name=port_name)
    label = "%s/%s:%s" % (meta.get("namespace", ""), meta.get("name", ""), port_name)
    if port is None:
        return {"name": name, "kind": "ingress", "url": "", "access": "", "service": label,
                "note": "the ingress gateway Service has no port named %s" % port_name}
    url, access, note = service_access(service, port, node_addr, path)
    return {"name": name, "kind": "ingress", "url": url, "access": access, "service": label, "note": note}


def image_version(image):
    """The tag of a container image ("docker.io/istio/pilot:1.31.0" -> "1.31.0")."""
    image = (image or "").split("@", 1)[0]
    last = image.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def control_plane_versions(deployments):
    """"1.31.0" or "1.30.4 (revision 1-30-4), 1.31.0" from istiod Deployments."""
    found = []
    for deployment in deployments or []:
        meta = deployment.get("metadata") or {}
        revision = (meta.get("labels") or {}).get("istio.io/rev", "default")
        containers = ((((deployment.get("spec") or {}).get("template") or {}).get("spec") or {})
                      .get("containers") or [])
        version = ""
        for container in containers:
            if container.get("name") == "discovery" or not version:
                version = image_version(container.get("image")) or version
        if version:
            found.append(version if revision in ("default", "") else "%s (revision %s)" % (version, revision))
    return ", ".join(sorted(set(found)))


def build_summary(nodes, services, ingress_service=None, istiod_deployments=None, versions=None,
                  node_address_override="", ingress_port_name="http2", productpage_path="/productpage"):
    """The summary: node address, versions and one entry per addon plus the ingress."""
    address, node_name = node_address(nodes, node_address_override)
    summary_versions = {}
    for key, value in sorted((versions or {}).items()):
        if value:
            summary_versions[key] = str(value)
    control_plane = control_plane_versions(istiod_deployments)
    if control_plane and "control_plane" not in summary_versions:
        summary_versions["control_plane"] = control_plane
    entries = addon_entries(services, address)
    entries.append(ingress_entry(ingress_service, address, ingress_port_name, productpage_path))
    return {"node_address": address, "node": node_name, "versions": summary_versions, "entries": entries}


def _cell(value):
    return str(value or "-").replace("|", "\\|").replace("\n", " ")


def render_markdown(summary):
    """The summary as Markdown: a title, the versions, then a table."""
    lines = ["# Mesh access summary", ""]
    if summary.get("node_address"):
        node = " (%s)" % summary["node"] if summary.get("node") else ""
        lines.append("Node address: %s%s" % (summary["node_address"], node))
    else:
        lines.append("Node address: unknown")
    for key, value in sorted((summary.get("versions") or {}).items()):
        lines.append("%s version: %s" % (key.replace("_", " ").capitalize(), value))
    lines += ["", "| %s |" % " | ".join(title for _key, title in COLUMNS),
              "|%s|" % "|".join(" --- " for _column in COLUMNS)]
    for entry in summary.get("entries") or []:
        lines.append("| %s |" % " | ".join(_cell(entry.get(key)) for key, _title in COLUMNS))
    return "\n".join(lines) + "\n"


def render_json(summary):
    return json.dumps(summary, indent=2, sort_keys=True) + "\n"


def node_addresses(nodes):
    """Every node's preferred address (ExternalIP, else InternalIP), in node order, without repeats."""
    found = []
    for node in nodes or []:
        address, _name = node_address([node])
        if address and address not in found:
            found.append(address)
    return found


def ingress_facts(service, nodes):
    """The ingress gateway as the control_plane role reports it: the nodePorts of the ports named
    http2 and https ("" when none) and the URLs (http://<node>:<http2 nodePort>/ for every node,
    then http://<load-balancer address>/ for every load-balancer ingress)."""
    service = service or {}
    ports = {}
    for name in ("http2", "https"):
        port = find_port(service, name=name) or {}
        ports[name] = port.get("nodePort", "")
    urls = []
    if ports["http2"] not in (None, ""):
        urls.extend(_url(address, ports["http2"], "/") for address in node_addresses(nodes))
    for ingress in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        address = ingress.get("ip") or ingress.get("hostname")
        if address:
            urls.append("http://%s/" % _host(address))
    return {"http_node_port": ports["http2"], "https_node_port": ports["https"], "urls": urls}
