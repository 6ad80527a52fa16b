"""The security_model runner: the cluster it reads (through kube_factory) and the errors it raises."""

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.runners import security as run
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import RunnerError

PA = {"name": "default", "namespace": "bookinfo", "mode": "STRICT"}


class FakeKube:
    def __init__(self, objects=(), serves=True):
        self.objects = list(objects)
        self.serves = serves

    def resource(self, api_version, kind):
        return object() if self.serves else None

    def list(self, api_version, kind, namespace=None, label_selector=None):
        return [o for o in self.objects if o["kind"] == kind]


def factory(kube):
    return lambda kubeconfig, context, workers: kube


def _params(**overrides):
    return dict({"kubeconfig": None, "context": None, "peer_authentications": [PA], "authorization_policies": [],
                 "mtls_stage": "strict", "authz_stage": "enforce", "step": "validate", "snapshot": None,
                 "check_service_accounts": True, "current": [], "service_accounts": None,
                 "peer_authentications_var": "peer_authentications",
                 "authorization_policies_var": "authorization_policies"}, **overrides)


def _account(namespace, name):
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"namespace": namespace, "name": name}}


def test_without_kubeconfig_it_plans_from_the_given_objects():
    result = run.run(_params(step="mtls_final"))
    assert result["changed"] is False
    assert [d["spec"]["mtls"]["mode"] for d in result["definitions"]] == ["STRICT"]
    assert result["definitions"][0]["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "meshops.istio",
                                                              "meshops.istio/role": "mesh_security"}


def test_with_kubeconfig_it_reads_the_service_accounts_of_the_cluster():
    ap = {"name": "v", "namespace": "bookinfo", "rules": [{"from": [{"source": {"principals": [
        "cluster.local/ns/bookinfo/sa/reviews"]}}]}]}
    kube = FakeKube([_account("bookinfo", "reviews")])
    assert run.run(_params(kubeconfig="kc", authorization_policies=[ap]), kube_factory=factory(kube))["plan"]
    with pytest.raises(RunnerError) as err:
        run.run(_params(kubeconfig="kc", authorization_policies=[ap]), kube_factory=factory(FakeKube()))
    assert err.value.msg.startswith("The mesh_security model is invalid; nothing was applied:\n")
    assert err.value.details["errors"] == [
        "authorization_policies[0].rules[0].from[0].source.principals[0]: ServiceAccount bookinfo/reviews does not "
        "exist (principal cluster.local/ns/bookinfo/sa/reviews)"]


def test_a_cluster_without_istio_is_refused_before_anything_is_applied():
    with pytest.raises(RunnerError, match="^The API server does not serve security.istio.io/v1 PeerAuthentication: "
                                          r"install Istio's control plane first \(playbooks/install.yml\); nothing was applied.$"):
        run.run(_params(kubeconfig="kc"), kube_factory=factory(FakeKube(serves=False)))


def test_a_kubeconfig_that_cannot_be_loaded_is_named():
    def broken(kubeconfig, context, workers):
        raise ValueError("Invalid kube-config file")

    with pytest.raises(RunnerError, match="^cannot load kubeconfig kc: Invalid kube-config file$"):
        run.run(_params(kubeconfig="kc"), kube_factory=broken)


def test_restore_errors_are_runner_errors_with_the_same_text():
    with pytest.raises(RunnerError, match="^step=restore needs a snapshot$"):
        run.run(_params(step="restore"))
    with pytest.raises(RunnerError, match="not a mesh_security snapshot"):
        run.run(_params(step="restore", snapshot={"format": 1}))
