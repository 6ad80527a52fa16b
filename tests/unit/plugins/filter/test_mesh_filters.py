"""Unit tests for plugins/filter/mesh.py: the filters over rules module_utils already knows."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.filter import mesh
from ansible_collections.meshops.istio.plugins.module_utils.security import model as sm


def node(name, *addresses):
    return {"metadata": {"name": name}, "status": {"addresses": [{"type": t, "address": a} for t, a in addresses]}}


def service(ports, lb=None, kind="NodePort"):
    svc = {"metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
           "spec": {"type": kind, "ports": ports}}
    if lb is not None:
        svc["status"] = {"loadBalancer": {"ingress": lb}}
    return svc


def test_filters_are_registered():
    assert sorted(mesh.FilterModule().filters()) == [
        "istio_digest_ok", "istio_names", "istio_revision_ok", "istio_version_ok", "mesh_ingress", "mesh_label_selectors",
        "mesh_managed_labels", "mesh_unknown_vars"]


@pytest.mark.parametrize("revision,names", [
    ("", {"istiod": "istiod", "injector": "istio-sidecar-injector", "operator_file": "istiooperator.yaml",
          "revision_label": "default"}),
    ("1-31-0", {"istiod": "istiod-1-31-0", "injector": "istio-sidecar-injector-1-31-0",
                "operator_file": "istiooperator-1-31-0.yaml", "revision_label": "1-31-0"}),
])
def test_istio_names(revision, names):
    assert mesh.istio_names(revision) == names


def test_istio_names_refuses_a_bad_revision():
    with pytest.raises(AnsibleFilterError, match="1.31"):
        mesh.istio_names("1.31")


@pytest.mark.parametrize("value,ok", [("1.31.0", True), ("1.31.0-rc.0", True), ("1.31", False), ("v1.31.0", False),
                                      (1.31, False), ("", False), (None, False)])
def test_istio_version_ok(value, ok):
    assert mesh.istio_version_ok(value) is ok


@pytest.mark.parametrize("value,ok", [("", True), ("canary", True), ("1-31-0", True), ("a" * 63, True),
                                      ("1.31", False), ("Canary", False), ("-a", False), ("a-", False), ("a" * 64, False),
                                      ("a_b", False), (None, False), (1, False)])
def test_istio_revision_ok(value, ok):
    # the rule of control_plane_revision (istio/operator.py revision_problem over kube/names.py is_dns_label)
    assert mesh.istio_revision_ok(value) is ok


@pytest.mark.parametrize("value,ok", [("0123456789abcdef" * 4, True), ("0123456789ABCDEF" * 4, True), ("0" * 63, False),
                                      ("sha256:" + "0" * 64, False), ("", False), (None, False), (12, False)])
def test_istio_digest_ok(value, ok):
    assert mesh.istio_digest_ok(value) is ok


def test_mesh_managed_labels_are_the_labels_the_modules_set():
    # the values the integration tests read back from the cluster: keep them
    assert mesh.mesh_managed_labels("mesh_security") == {"app.kubernetes.io/managed-by": "meshops.istio",
                                                         "meshops.istio/role": "mesh_security"}
    assert mesh.mesh_managed_labels("") == {"app.kubernetes.io/managed-by": "meshops.istio"}
    assert mesh.mesh_managed_labels() == {"app.kubernetes.io/managed-by": "meshops.istio"}
    assert mesh.mesh_managed_labels("mesh_security") == sm.MANAGED_LABELS


def test_mesh_label_selectors():
    assert mesh.mesh_label_selectors(mesh.mesh_managed_labels("mesh_security")) == [
        "app.kubernetes.io/managed-by=meshops.istio", "meshops.istio/role=mesh_security"]
    assert mesh.mesh_label_selectors({}) == []
    with pytest.raises(AnsibleFilterError, match="mapping"):
        mesh.mesh_label_selectors(["app=x"])


def test_mesh_ingress_nodeports_and_urls_of_every_node():
    svc = service([{"name": "status-port", "port": 15021, "nodePort": 31021},
                   {"name": "http2", "port": 80, "nodePort": 31080},
                   {"name": "https", "port": 443, "nodePort": 31443}])
    nodes = [node("a", ("InternalIP", "10.0.0.1"), ("ExternalIP", "1.2.3.4")), node("b", ("InternalIP", "10.0.0.2")),
             node("c", ("InternalIP", "10.0.0.2")), node("d", ("Hostname", "d"))]
    facts = mesh.mesh_ingress(svc, nodes)
    assert facts == {"http_node_port": 31080, "https_node_port": 31443, "node_address": "1.2.3.4",
                     "urls": ["http://1.2.3.4:31080/", "http://10.0.0.2:31080/"]}


def test_mesh_ingress_cluster_ip_and_load_balancer():
    assert mesh.mesh_ingress(service([{"name": "http2", "port": 80}], kind="ClusterIP"), []) == {
        "http_node_port": "", "https_node_port": "", "urls": [], "node_address": ""}
    svc = service([{"name": "http2", "port": 80, "nodePort": 30080}], lb=[{"ip": "5.6.7.8"}, {"hostname": "lb.example"}],
                  kind="LoadBalancer")
    assert mesh.mesh_ingress(svc, [node("a", ("InternalIP", "10.0.0.1"))])["urls"] == [
        "http://10.0.0.1:30080/", "http://5.6.7.8/", "http://lb.example/"]


def test_mesh_ingress_refuses_a_non_mapping():
    with pytest.raises(AnsibleFilterError):
        mesh.mesh_ingress(["not", "a", "service"])


def test_mesh_unknown_vars():
    names = ["mesh_kubeconfig", "mesh_kubeconfg", "mesh_security_state", "verify_areas", "__mesh_private"]
    assert mesh.mesh_unknown_vars(names, "mesh", ["mesh_kubeconfig"], ["mesh", "mesh_security", "verify"]) == ["mesh_kubeconfg"]
    # without the list of roles another role's variables look like misspellings
    assert mesh.mesh_unknown_vars(names, "mesh", ["mesh_kubeconfig"]) == ["mesh_kubeconfg", "mesh_security_state"]
    assert mesh.mesh_unknown_vars(["verify_results"], "verify", ["verify_results"]) == []
