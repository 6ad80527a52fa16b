"""kube/names.py: the one home of Kubernetes name, label and principal rules and object references."""

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.kube import names


@pytest.mark.parametrize("value, ok", [
    ("bookinfo", True), ("a", True), ("1-31-0", True), ("a" * 63, True),
    ("a" * 64, False), ("", False), ("Bookinfo", False), ("-a", False), ("a-", False), ("a.b", False),
    ("a_b", False), (None, False), (7, False),
])
def test_dns_label(value, ok):
    assert names.is_dns_label(value) is ok


@pytest.mark.parametrize("value, ok", [
    ("istio-ca-root-cert", True), ("virtualservices.networking.istio.io", True), ("a" * 253, True),
    ("a" * 254, False), ("a..b", False), ("a.-b", False), (".a", False), ("a.", False), ("A.b", False), (None, False),
])
def test_dns_subdomain(value, ok):
    assert names.is_dns_subdomain(value) is ok


@pytest.mark.parametrize("value, ok", [
    ("app", True), ("app.kubernetes.io/name", True), ("istio.io/rev", True), ("Version_2.x", True),
    ("a" * 63, True), ("a" * 64, False), ("x/", False), ("/app", False), ("Istio.io/rev", False),
    ("a/b/c", False), ("-app", False), ("app-", False), ("", False), (None, False),
])
def test_label_key(value, ok):
    assert names.is_label_key(value) is ok


@pytest.mark.parametrize("value, ok", [
    ("", True), ("v1", True), ("enabled", True), ("A-b_c.d", True), ("a" * 63, True),
    ("a" * 64, False), ("-v1", False), ("v1.", False), ("a b", False), (None, False), (1, False),
])
def test_label_value(value, ok):
    assert names.is_label_value(value) is ok


def test_label_name_is_the_key_without_prefix():
    assert names.is_label_name("app") is True
    assert names.is_label_name("istio.io/rev") is False


def test_principals():
    assert names.parse_principal("cluster.local/ns/bookinfo/sa/bookinfo-reviews") == (
        "cluster.local", "bookinfo", "bookinfo-reviews")
    for bad in ("cluster.local/ns/bookinfo", "ns/bookinfo/sa/x", "cluster.local/ns//sa/x", "a/ns/b/sa/c/d", None, 3):
        assert names.parse_principal(bad) is None
    assert names.principal("bookinfo", "reviews") == "cluster.local/ns/bookinfo/sa/reviews"
    assert names.principal("shop", "order", trust_domain="example.org") == "example.org/ns/shop/sa/order"
    assert names.parse_principal(names.principal("shop", "order")) == ("cluster.local", "shop", "order")


def test_object_references():
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "istiod", "namespace": "istio-system"}}
    webhook = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
               "metadata": {"name": "istio-sidecar-injector"}}
    assert names.api_group("v1") == "" and names.api_group("apps/v1") == "apps" and names.api_group(None) == ""
    assert names.object_key(service) == ("", "Service", "istio-system", "istiod")
    assert names.object_key(webhook) == ("admissionregistration.k8s.io", "MutatingWebhookConfiguration", "",
                                         "istio-sidecar-injector")
    assert names.ref(service) == ("Service", "istio-system", "istiod")
    assert names.ref({}) == ("", "", "")
    assert names.describe(service) == "Service istio-system/istiod"
    assert names.describe(webhook) == "MutatingWebhookConfiguration istio-sidecar-injector"
    assert names.describe_ref("AuthorizationPolicy", "bookinfo", "deny-all") == "AuthorizationPolicy bookinfo/deny-all"
    assert names.metadata({"metadata": None}) == {}


def test_managed_labels_and_their_selectors():
    assert names.managed_labels() == {"app.kubernetes.io/managed-by": "meshops.istio"}
    assert names.managed_labels("mesh_security") == {"app.kubernetes.io/managed-by": "meshops.istio",
                                                     "meshops.istio/role": "mesh_security"}
    assert names.ROLE_LABEL == names.collection_key("role") == "meshops.istio/role"
    assert all(names.is_label_key(k) and names.is_label_value(v) for k, v in names.managed_labels("bookinfo").items())
    assert names.label_selectors(names.managed_labels("mesh_security")) == [
        "app.kubernetes.io/managed-by=meshops.istio", "meshops.istio/role=mesh_security"]
    assert names.label_selectors({}) == []
