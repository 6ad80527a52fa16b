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

    sent = None

    def _record(self, verb, *args):
        self.sent = (self.sent or []) + [(verb,) + args]

    def replace(self, obj):
        self._record("replace", obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"],
                     obj["metadata"].get("resourceVersion"), obj["spec"]["mtls"]["mode"])

    def create(self, obj):
        self._record("create", obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"],
                     obj["metadata"].get("resourceVersion"), obj["spec"]["mtls"]["mode"])

    def delete(self, api_version, kind, name, namespace=None, propagation=None):
        self._record("delete", kind, namespace, name)


def factory(kube):
    return lambda kubeconfig, context, workers: kube


def _params(**overrides):
    return dict({"kubeconfig": None, "context": None, "peer_authentications": [PA], "authorization_policies": [],
                 "mtls_stage": "strict", "authz_stage": "enforce", "step": "validate", "snapshot": None, "apply": False,
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


MANAGED = {"app.kubernetes.io/managed-by": "meshops.istio", "meshops.istio/role": "mesh_security"}


def _pa(namespace, name, mode, resource_version, labels=None):
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": {"namespace": namespace, "name": name, "resourceVersion": resource_version,
                         "labels": dict(labels if labels is not None else MANAGED)},
            "spec": {"mtls": {"mode": mode}}}


def _cluster():
    """bookinfo/default PERMISSIVE (to become STRICT), reviews/old (managed, no longer in the model),
    mine/hand-made (not managed: never pruned)."""
    return FakeKube([_pa("bookinfo", "default", "PERMISSIVE", "11"), _pa("reviews", "old", "STRICT", "12"),
                     _pa("mine", "hand-made", "DISABLE", "13", labels={})])


def test_apply_replaces_at_the_resource_version_read_creates_new_objects_and_prunes():
    kube = _cluster()
    model = [PA, {"name": "default", "namespace": "ratings", "mode": "STRICT"}]
    result = run.run(_params(kubeconfig="kc", check_service_accounts=False, peer_authentications=model,
                             step="mtls_final", apply=True), kube_factory=factory(kube))
    assert result["changed"] is True
    assert kube.sent == [("replace", "PeerAuthentication", "bookinfo", "default", "11", "STRICT"),
                         ("create", "PeerAuthentication", "ratings", "default", None, "STRICT"),
                         ("delete", "PeerAuthentication", "reviews", "old")]


def test_apply_in_check_mode_reports_the_change_and_sends_nothing():
    kube = _cluster()
    result = run.run(_params(kubeconfig="kc", check_service_accounts=False, step="mtls_final", apply=True),
                     check_mode=True, kube_factory=factory(kube))
    assert result["changed"] is True and kube.sent is None
    assert [d["metadata"]["name"] for d in result["definitions"]] == ["default"]
    assert [d["metadata"]["name"] for d in result["delete"]] == ["old"]


def test_apply_with_nothing_to_send_is_unchanged_and_sends_nothing():
    kube = FakeKube([_pa("bookinfo", "default", "STRICT", "11")])
    result = run.run(_params(kubeconfig="kc", check_service_accounts=False, step="mtls_final", apply=True),
                     kube_factory=factory(kube))
    assert result["changed"] is False and kube.sent is None
    # without apply the same step never sends, even with something to send
    kube = _cluster()
    assert run.run(_params(kubeconfig="kc", check_service_accounts=False, step="mtls_final"),
                   kube_factory=factory(kube))["changed"] is False
    assert kube.sent is None


@pytest.mark.parametrize("overrides, message", [
    ({"step": "mtls_final"}, "^apply=true needs kubeconfig: the step is sent to the cluster it was worked out against$"),
    ({"kubeconfig": "kc"}, "^apply=true needs a step that sends something .*, not validate$"),
])
def test_apply_refuses_without_a_cluster_or_a_step(overrides, message):
    kube = _cluster()
    with pytest.raises(RunnerError, match=message):
        run.run(_params(apply=True, **overrides), kube_factory=factory(kube))
    assert kube.sent is None


def test_apply_with_diff_shows_each_object_before_and_after():
    result = run.run(_params(kubeconfig="kc", check_service_accounts=False, step="mtls_final", apply=True),
                     check_mode=True, kube_factory=factory(_cluster()), diff=True)
    changed, pruned = result["diff"]
    assert changed["before_header"] == "PeerAuthentication bookinfo/default"
    assert (changed["before"]["spec"], changed["after"]["spec"]) == ({"mtls": {"mode": "PERMISSIVE"}}, {"mtls": {"mode": "STRICT"}})
    assert "resourceVersion" not in changed["before"]["metadata"]
    assert pruned["before_header"] == "PeerAuthentication reviews/old" and pruned["after"] == {}
    assert "diff" not in run.run(_params(kubeconfig="kc", check_service_accounts=False, step="mtls_final", apply=True),
                                 check_mode=True, kube_factory=factory(_cluster()))
