# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/istio/access_summary.py."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

from ansible_collections.meshops.istio.plugins.module_utils.istio import access_summary as summary_mod

NODES = [
    {"metadata": {"name": "k3s-s"}, "status": {"addresses": [{"type": "Hostname", "address": "k3s-s"},
                                                             {"type": "InternalIP", "address": "10.0.0.5"}]}},
    {"metadata": {"name": "k3s-w1"}, "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.6"},
                                                              {"type": "ExternalIP", "address": "203.0.113.9"}]}},
]


def addon_service(addon, name, port, svc_type="ClusterIP", node_port=None, path="/", note=None, lb=None,
                  namespace="istio-system"):
    port_entry = {"name": "http", "port": port}
    if node_port:
        port_entry["nodePort"] = node_port
    annotations = {"meshops.istio/ui-port": str(port), "meshops.istio/ui-path": path, "meshops.istio/dashboard": addon}
    if note:
        annotations["meshops.istio/access-note"] = note
    svc = {"metadata": {"name": name, "namespace": namespace, "labels": {"meshops.istio/addon": addon},
                        "annotations": annotations},
           "spec": {"type": svc_type, "ports": [{"name": "other", "port": 1, "nodePort": 30001}, port_entry]}}
    if lb:
        svc["status"] = {"loadBalancer": {"ingress": [lb]}}
    return svc


INGRESS = {"metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
           "spec": {"type": "LoadBalancer", "ports": [{"name": "status-port", "port": 15021, "nodePort": 31021},
                                                      {"name": "http2", "port": 80, "nodePort": 31080},
                                                      {"name": "https", "port": 443, "nodePort": 31443}]}}


def test_node_address_is_the_first_nodes_and_prefers_external():
    assert summary_mod.node_address(NODES) == ("10.0.0.5", "k3s-s")
    assert summary_mod.node_address(NODES[1:]) == ("203.0.113.9", "k3s-w1")
    assert summary_mod.node_address(NODES, "lab.example") == ("lab.example", "")
    assert summary_mod.node_address([]) == ("", "")


def test_node_port_addon_url_uses_the_ui_port_and_path():
    svc = addon_service("kiali", "kiali", 20001, "NodePort", 32001, "/kiali", note="log in with a token")
    [entry] = summary_mod.addon_entries([svc], "127.0.0.1")
    assert entry == {"name": "kiali", "kind": "addon", "url": "http://127.0.0.1:32001/kiali", "access": "NodePort",
                     "service": "istio-system/kiali:20001", "note": "log in with a token"}


def test_cluster_ip_addon_gets_the_istioctl_dashboard_command():
    [entry] = summary_mod.addon_entries([addon_service("jaeger", "tracing", 80)], "127.0.0.1")
    assert entry["url"] == "istioctl dashboard jaeger"
    assert entry["access"] == "ClusterIP (port-forward)"
    [other] = summary_mod.addon_entries([addon_service("grafana", "grafana", 3000, namespace="obs")], "127.0.0.1")
    assert other["url"] == "istioctl dashboard grafana --namespace obs"


def test_load_balancer_address_or_node_port_while_pending():
    ready = addon_service("grafana", "grafana", 3000, "LoadBalancer", 30300, lb={"hostname": "lb.example"})
    pending = addon_service("prometheus", "prometheus", 9090, "LoadBalancer", 30900)
    entries = summary_mod.addon_entries([ready, pending], "127.0.0.1")
    assert [e["url"] for e in entries] == ["http://lb.example:3000/", "http://127.0.0.1:30900/"]
    assert entries[1]["access"] == "LoadBalancer (pending), NodePort"
    assert entries[1]["note"] == "no load-balancer address yet"


def test_services_without_the_ui_annotation_are_not_listed():
    collector = addon_service("jaeger", "jaeger-collector", 14268)
    del collector["metadata"]["annotations"]
    assert summary_mod.addon_entries([collector], "127.0.0.1") == []


def test_ingress_entry_finds_the_http_port_by_name_not_position():
    entry = summary_mod.ingress_entry(INGRESS, "127.0.0.1")
    assert entry["url"] == "http://127.0.0.1:31080/productpage"
    assert entry["service"] == "istio-system/istio-ingressgateway:http2"
    lb = dict(INGRESS, status={"loadBalancer": {"ingress": [{"ip": "198.51.100.7"}]}})
    assert summary_mod.ingress_entry(lb, "127.0.0.1")["url"] == "http://198.51.100.7:80/productpage"


def test_ingress_entry_when_missing():
    assert summary_mod.ingress_entry(None, "127.0.0.1")["note"] == "ingress gateway Service not found"
    no_port = {"metadata": {"name": "gw", "namespace": "x"}, "spec": {"type": "NodePort", "ports": [{"name": "tcp", "port": 1}]}}
    assert summary_mod.ingress_entry(no_port, "127.0.0.1")["note"] == "the ingress gateway Service has no port named http2"


def test_ipv6_node_address_is_bracketed():
    svc = addon_service("kiali", "kiali", 20001, "NodePort", 32001, "/kiali")
    assert summary_mod.addon_entries([svc], "fd00::1")[0]["url"] == "http://[fd00::1]:32001/kiali"


def test_control_plane_versions_from_istiod_images():
    deployments = [
        {"metadata": {"name": "istiod", "labels": {"app": "istiod"}},
         "spec": {"template": {"spec": {"containers": [{"name": "discovery", "image": "docker.io/istio/pilot:1.31.0"}]}}}},
        {"metadata": {"name": "istiod-1-30-4", "labels": {"istio.io/rev": "1-30-4"}},
         "spec": {"template": {"spec": {"containers": [
             {"name": "discovery", "image": "registry:5000/istio/pilot:1.30.4@sha256:ab"}]}}}},
    ]
    assert summary_mod.control_plane_versions(deployments) == "1.30.4 (revision 1-30-4), 1.31.0"
    assert summary_mod.image_version("pilot") == ""


def test_summary_json_and_markdown_come_from_the_same_entries():
    services = [addon_service("kiali", "kiali", 20001, "NodePort", 32001, "/kiali", note="a | b"),
                addon_service("grafana", "grafana", 3000)]
    summary = summary_mod.build_summary(NODES[:1], services, INGRESS, versions={"istioctl": "1.31.0", "empty": ""},
                                        node_address_override="127.0.0.1")
    assert summary["versions"] == {"istioctl": "1.31.0"}
    assert [e["name"] for e in summary["entries"]] == ["grafana", "kiali", "productpage"]
    assert json.loads(summary_mod.render_json(summary)) == summary
    markdown = summary_mod.render_markdown(summary)
    lines = markdown.splitlines()
    assert lines[0] == "# Mesh access summary"
    assert "Node address: 127.0.0.1" in lines
    assert "Istioctl version: 1.31.0" in lines
    table = [line for line in lines if line.startswith("|")]
    assert table[0] == "| Name | URL | Access | Service | Note |"
    assert table[2] == "| grafana | istioctl dashboard grafana | ClusterIP (port-forward) | istio-system/grafana:3000 | - |"
    assert table[3] == "| kiali | http://127.0.0.1:32001/kiali | NodePort | istio-system/kiali:20001 | a \\| b |"
    assert table[4] == ("| productpage | http://127.0.0.1:31080/productpage | LoadBalancer (pending), NodePort | "
                        "istio-system/istio-ingressgateway:http2 | no load-balancer address yet |")
    assert all(line == line.rstrip() for line in lines)
