"""Unit tests for plugins/filter/mesh.py: the filters over rules module_utils already knows."""

import os

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
        "istio_digest_ok", "istio_names", "istio_revision_ok", "istio_version_ok", "mesh_guard_message", "mesh_ingress",
        "mesh_label_selectors", "mesh_managed_labels", "mesh_unknown_vars"]


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


def _roles(tmp_path):
    for role, options in (("mesh", ["mesh_kubeconfig", "mesh_output_dir"]), ("mesh_security", ["mesh_security_state"])):
        meta = tmp_path / role / "meta"
        meta.mkdir(parents=True)
        entry = "\n".join("      %s: {type: str}" % option for option in options)
        (meta / "argument_specs.yml").write_text("argument_specs:\n  main:\n    options:\n%s\n  other:\n    options:\n"
                                                 "      %s: {type: str}\n" % (entry, options[0]))
    (tmp_path / "README.md").write_text("not a role")
    return str(tmp_path)


def test_mesh_guard_message_names_the_unknown_and_the_accepted(tmp_path):
    roles = _roles(tmp_path)
    names = ["mesh_kubeconfig", "mesh_kubeconfg", "mesh_security_state", "mesh_fact", "verify_areas"]
    assert mesh.mesh_guard_message(names, "mesh", roles, ["mesh_fact"]) == (
        "mesh_kubeconfg: the mesh role has no such variable (misspelled?); accepted: mesh_kubeconfig, mesh_output_dir"
        " (and the facts it sets: mesh_fact).")
    assert mesh.mesh_guard_message(["mesh_x", "mesh_a"], "mesh", roles) == (
        "mesh_a, mesh_x: the mesh role has no such variable (misspelled?); accepted: mesh_kubeconfig, mesh_output_dir.")
    assert mesh.mesh_guard_message(["mesh_kubeconfig", "mesh_security_state"], "mesh", roles) == ""
    assert mesh.mesh_guard_message(["mesh_security_typo"], "mesh_security", roles).startswith("mesh_security_typo: ")


def test_mesh_guard_message_rereads_a_changed_spec_and_refuses_a_missing_one(tmp_path):
    roles = _roles(tmp_path)
    assert mesh.mesh_guard_message(["mesh_new"], "mesh", roles) != ""
    spec = tmp_path / "mesh" / "meta" / "argument_specs.yml"
    spec.write_text("argument_specs:\n  main:\n    options:\n      mesh_new: {type: str}\n")
    os.utime(spec, ns=(1, 1))
    assert mesh.mesh_guard_message(["mesh_new"], "mesh", roles) == ""
    with pytest.raises(AnsibleFilterError, match="no argument spec for the role nosuch"):
        mesh.mesh_guard_message([], "nosuch", roles)
