"""The control plane module's planning and uninstall decisions, with an in-memory API server."""

import pytest
import yaml

from ansible_collections.meshops.istio.plugins.module_utils.kube import waiter
from ansible_collections.meshops.istio.plugins.module_utils.kube.client import Kube, KubeError
from ansible_collections.meshops.istio.plugins.module_utils.runners import control_plane as run
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import RunnerError


class FakeKube:
    """Objects by (kind, namespace, name); dry-run apply returns the object merged over the live one."""

    workers = 4
    each = Kube.each  # the client's own thread pool: plan() calls get and dry_run_apply from it

    def __init__(self, objects, cluster_scoped=(
            "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
            "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition")):
        self.objects = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects}
        self.cluster_scoped = cluster_scoped
        self.deleted = []
        self.refuse = set()  # names whose dry run the API server refuses

    def namespaced(self, api_version, kind):
        return kind not in self.cluster_scoped

    def get(self, api_version, kind, name, namespace=None):
        return self.objects.get((kind, namespace or "", name))

    def list(self, api_version, kind, namespace=None, label_selector=None):
        found = []
        for (k, ns, _name), obj in sorted(self.objects.items()):
            if k != kind or (namespace and ns != namespace):
                continue
            if label_selector and not _matches(obj["metadata"].get("labels") or {}, label_selector):
                continue
            found.append(obj)
        return found

    def dry_run_apply(self, obj, field_manager):
        if obj["metadata"]["name"] in self.refuse:
            raise KubeError(422, "Unprocessable Entity", "%s is invalid" % obj["metadata"]["name"])
        live = self.get(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace"))
        merged = dict(live)
        merged.update({k: v for k, v in obj.items() if k != "metadata"})
        return merged

    def delete(self, api_version, kind, name, namespace=None):
        self.deleted.append((kind, name))
        return self.objects.pop((kind, namespace or "", name), None) is not None


def _matches(labels, selector):
    for term in selector.split(","):
        if term.startswith("!"):
            if term[1:] in labels:
                return False
        elif "!=" in term:
            key, value = term.split("!=")
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=")
            if labels.get(key) != value:
                return False
        elif term not in labels:
            return False
    return True


def _obj(kind, name, namespace="istio-system", component="Pilot", rev="default", spec=None, api_version="v1", **labels):
    metadata = {"name": name, "labels": dict(labels)}
    if namespace:
        metadata["namespace"] = namespace
    if component:
        metadata["labels"]["operator.istio.io/component"] = component
    if rev:
        metadata["labels"]["istio.io/rev"] = rev
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec or {}}


TAG = _obj("MutatingWebhookConfiguration", "istio-revision-tag-default", namespace=None,
           api_version="admissionregistration.k8s.io/v1",
           **{"install.operator.istio.io/owning-resource-not-pruned": "true"})


def test_plan_finds_create_update_and_prune():
    live = [
        _obj("Deployment", "istiod", spec={"replicas": 1}, api_version="apps/v1"),
        _obj("Service", "istio-ingressgateway", component="IngressGateways", spec={"type": "LoadBalancer"}),
        _obj("Deployment", "istio-egressgateway", component="EgressGateways", api_version="apps/v1"),
        _obj("Service", "istiod-revision-tag-default", **{"install.operator.istio.io/owning-resource-not-pruned": "true"}),
        TAG,
    ]
    manifest = [
        _obj("Deployment", "istiod", spec={"replicas": 1}, api_version="apps/v1"),
        _obj("Service", "istio-ingressgateway", component="IngressGateways", spec={"type": "NodePort"}),
        _obj("ConfigMap", "istio"),
    ]
    differences = run.plan(FakeKube(live), manifest, "istio-system", "", "istio-operator")
    by_object = {d["object"]: d for d in differences}
    assert set(by_object) == {"Service istio-system/istio-ingressgateway", "ConfigMap istio-system/istio",
                              "Deployment istio-system/istio-egressgateway"}
    assert by_object["Service istio-system/istio-ingressgateway"]["changes"] == [("spec.type", "LoadBalancer", "NodePort")]
    assert by_object["ConfigMap istio-system/istio"]["action"] == "create"
    assert by_object["Deployment istio-system/istio-egressgateway"]["action"] == "prune"


def test_plan_keeps_the_manifest_order_and_raises_what_the_api_server_refuses():
    names = ["cm-%02d" % i for i in range(20)]
    live = [_obj("ConfigMap", name, spec={"v": 1}) for name in names[::2]] + [TAG]
    manifest = [_obj("ConfigMap", name, spec={"v": 2}) for name in names]
    differences = run.plan(FakeKube(live), manifest, "istio-system", "", "istio-operator")
    assert [d["object"] for d in differences] == ["ConfigMap istio-system/%s" % name for name in names]
    assert [d["action"] for d in differences] == ["update", "create"] * 10
    kube = FakeKube(live)
    kube.refuse = {"cm-04"}
    with pytest.raises(KubeError, match="cm-04 is invalid"):
        run.plan(kube, manifest, "istio-system", "", "istio-operator")


def test_plan_of_the_default_revision_wants_the_default_tag_webhook():
    live = [_obj("Deployment", "istiod", api_version="apps/v1")]
    manifest = [_obj("Deployment", "istiod", api_version="apps/v1")]
    differences = run.plan(FakeKube(live), manifest, "istio-system", "", "istio-operator")
    assert differences == [{"object": "MutatingWebhookConfiguration istio-revision-tag-default", "action": "create", "changes": []}]
    # a named revision has no default tag to look for
    live = [_obj("Deployment", "istiod-canary", rev="canary", api_version="apps/v1")]
    manifest = [_obj("Deployment", "istiod-canary", rev="canary", api_version="apps/v1")]
    assert run.plan(FakeKube(live), manifest, "istio-system", "canary", "istio-operator") == []


def test_plan_sets_the_namespace_of_namespaced_objects():
    manifest = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio"}}]
    differences = run.plan(FakeKube([TAG]), manifest, "mesh", "", "istio-operator")
    assert differences == [{"object": "ConfigMap mesh/istio", "action": "create", "changes": []}]


class FakeIstioctl:
    """`istioctl uninstall --revision R` removes the revision's non-Base objects from `kube`, unless
    `keep` names objects a finalizer holds."""

    def __init__(self, kube=None, keep=()):
        self.commands = []
        self.kube = kube
        self.keep = keep

    def __call__(self, cmd, data=None):
        self.commands.append(cmd)
        if self.kube is not None and cmd[1] == "uninstall":
            revision = cmd[cmd.index("--revision") + 1]
            for key, obj in list(self.kube.objects.items()):
                labels = obj["metadata"].get("labels") or {}
                if labels.get("istio.io/rev") == revision and labels.get("operator.istio.io/component") != "Base" \
                        and key[2] not in self.keep:
                    del self.kube.objects[key]
        return 0, "removed", ""


class Outcome:
    """What the module would exit with: the result (failed=True for a RunnerError) and the commands run."""

    def __init__(self, result, commands):
        self.result = result
        self.commands = commands


def _absent(kube, check_mode=False, keep=(), **params):
    params = dict({"istioctl": "istioctl", "namespace": "istio-system", "revision": "", "purge": False, "state": "absent",
                   "remove_crds": False, "kubeconfig": "kc", "context": "", "readiness_timeout": 0}, **params)
    istioctl = FakeIstioctl(kube, keep)
    try:
        result = run.run(params, check_mode=check_mode, run_command=istioctl, kube_factory=lambda *_args: kube)
    except RunnerError as exc:
        result = dict(exc.result(), failed=True)
    return Outcome(result, istioctl.commands)


def _cluster():
    return FakeKube([
        _obj("Deployment", "istiod", api_version="apps/v1"),
        _obj("Deployment", "istiod-canary", rev="canary", api_version="apps/v1"),
        _obj("ServiceAccount", "istio-reader-service-account", component="Base"),
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
         "metadata": {"name": "virtualservices.networking.istio.io"}, "spec": {"group": "networking.istio.io"}},
    ])


def test_absent_uninstalls_only_the_revision_and_keeps_base_and_crds():
    kube = _cluster()
    module = _absent(kube)
    assert module.result["changed"] is True
    assert module.commands == [["istioctl", "uninstall", "--revision", "default", "-y", "--kubeconfig", "kc"]]
    assert kube.deleted == []


def test_absent_in_check_mode_runs_nothing():
    kube = _cluster()
    module = _absent(kube, check_mode=True, revision="canary")
    assert module.result["changed"] is True
    assert module.result["commands"] == [["istioctl", "uninstall", "--revision", "canary", "-y", "--kubeconfig", "kc"]]
    assert module.commands == [] and kube.deleted == []


def test_absent_is_a_no_op_when_the_revision_is_gone():
    module = _absent(FakeKube([_obj("ServiceAccount", "istio-reader-service-account", component="Base")]))
    assert module.result["changed"] is False and module.commands == []


def test_purge_uninstalls_every_revision_and_the_base_but_not_the_crds():
    kube = _cluster()
    module = _absent(kube, purge=True)
    assert [c[3] for c in module.commands] == ["canary", "default"]
    assert kube.deleted == [("ServiceAccount", "istio-reader-service-account")]
    assert kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "virtualservices.networking.istio.io")


def test_remove_crds_deletes_istio_crds_only():
    kube = _cluster()
    kube.objects[("CustomResourceDefinition", "", "widgets.example.com")] = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"}, "spec": {"group": "example.com"}}
    _absent(kube, purge=True, remove_crds=True)
    assert ("CustomResourceDefinition", "virtualservices.networking.istio.io") in kube.deleted
    assert ("CustomResourceDefinition", "widgets.example.com") not in kube.deleted


def test_absent_fails_naming_objects_that_outlive_the_uninstall():
    kube = _cluster()
    module = _absent(kube, keep=("istiod",))
    assert module.result["failed"] is True
    assert "after 0s these objects still exist" in module.result["msg"]
    assert "Deployment istio-system/istiod" in module.result["msg"]


def test_wait_gone_polls_until_the_objects_disappear():
    kube = _cluster()
    istiod = kube.get("apps/v1", "Deployment", "istiod", "istio-system")
    polls = []

    def sleep(_seconds):
        polls.append(1)
        if len(polls) == 3:  # the garbage collector catches up on the third poll
            kube.objects.pop(("Deployment", "istio-system", "istiod"))

    now = [0.0]
    assert waiter.wait_gone(kube, [istiod], timeout=60, clock=lambda: now[0], sleep=sleep) == []
    assert len(polls) == 3
    kube = _cluster()
    ticks = iter(range(0, 1000, 10))
    assert waiter.wait_gone(kube, [istiod], timeout=30, clock=lambda: next(ticks), sleep=lambda _s: None) == [istiod]


def test_wait_gone_does_not_wait_for_a_new_object_of_the_same_name():
    kube = _cluster()
    old = dict(kube.get("apps/v1", "Deployment", "istiod", "istio-system"))
    old["metadata"] = dict(old["metadata"], uid="uid-old")
    kube.objects[("Deployment", "istio-system", "istiod")]["metadata"]["uid"] = "uid-new"
    assert waiter.wait_gone(kube, [old], timeout=0) == []


def _istiod(image="docker.io/istio/pilot:1.30.2"):
    istiod = _obj("Deployment", "istiod", api_version="apps/v1", app="istiod")
    istiod["spec"] = {"template": {"spec": {"containers": [{"name": "discovery", "image": image}]}}}
    return istiod


def _present(kube, manifest, version="1.30.2", check_mode=False, install_rc=0):
    commands, warnings = [], []

    def istioctl(cmd, data=None):
        commands.append(cmd)
        if cmd[1] == "manifest":
            return 0, yaml.safe_dump_all(manifest), ""
        return install_rc, "installed" if install_rc == 0 else "", "" if install_rc == 0 else "webhook timeout"
    params = {"istioctl": "istioctl", "state": "present", "operator": "kind: IstioOperator\n", "version": version,
              "namespace": "istio-system", "revision": "", "field_manager": "istio-operator", "readiness_timeout": 60,
              "kubeconfig": "kc", "context": "lab"}
    result = run.run(params, check_mode=check_mode, run_command=istioctl, warn=warnings.append,
                     kube_factory=lambda *_args: kube)
    return result, commands, warnings


def test_present_on_a_converged_cluster_runs_only_manifest_generate():
    kube = FakeKube([_istiod(), TAG])
    result, commands, warnings = _present(kube, [_istiod()])
    assert result["changed"] is False and result["action"] == "none" and result["command"] == []
    assert result["live_version"] == "1.30.2" and result["message"].endswith("already runs 1.30.2")
    assert [c[1] for c in commands] == ["manifest"] and warnings == []


def test_present_installs_what_differs_and_check_mode_only_reports_it():
    manifest = [_istiod(), _obj("ConfigMap", "istio")]
    result, commands, _warnings = _present(FakeKube([_istiod(), TAG]), manifest, check_mode=True)
    assert result["changed"] is True and result["action"] == "reconcile"
    assert result["differences"] == [{"object": "ConfigMap istio-system/istio", "action": "create", "paths": []}]
    assert result["command"][:2] == ["istioctl", "install"] and result["command"][-4:] == [
        "--kubeconfig", "kc", "--context", "lab"]
    assert [c[1] for c in commands] == ["manifest"]
    result, commands, _warnings = _present(FakeKube([_istiod(), TAG]), manifest)
    assert result["stdout"] == "installed" and [c[1] for c in commands] == ["manifest", "install"]


def test_present_refuses_two_minor_releases_at_once():
    with pytest.raises(RunnerError) as info:
        _present(FakeKube([_istiod("docker.io/istio/pilot:1.28.0"), TAG]), [_istiod()], version="1.30.2")
    assert info.value.msg.startswith("refusing to upgrade the control plane")
    assert info.value.details == {"live_version": "1.28.0", "target_version": "1.30.2"}


def test_a_failing_istioctl_install_is_a_runner_error_with_its_output():
    with pytest.raises(RunnerError) as info:
        _present(FakeKube([_istiod(), TAG]), [_istiod(), _obj("ConfigMap", "istio")], install_rc=1)
    assert info.value.msg == "istioctl install failed (rc=1): webhook timeout"
    assert info.value.details["rc"] == 1 and info.value.details["stderr"] == "webhook timeout"
    assert info.value.details["command"][:2] == ["istioctl", "install"]
