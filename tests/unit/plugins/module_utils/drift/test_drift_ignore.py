"""drift/ignore.py: built-in and user rules, and their validation."""

from ansible_collections.meshops.istio.plugins.module_utils.drift import ignore as ign

WEBHOOK = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
           "metadata": {"name": "istio-validator-istio-system"}}
DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "istiod", "namespace": "istio-system"}}


def test_builtin_rules_cover_istiod_webhooks():
    patterns = ign.pointers_for(WEBHOOK)
    assert ign.ignored(["webhooks", 0, "clientConfig", "caBundle"], patterns)
    assert ign.ignored(["webhooks", 3, "failurePolicy"], patterns)
    assert not ign.ignored(["webhooks", 0, "clientConfig", "url"], patterns)


def test_replicas_are_ignored_only_for_hpa_targets():
    hpa = ign.hpa_targets([{"metadata": {"namespace": "istio-system"},
                            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "istiod"}}}])
    assert ign.ignored(["spec", "replicas"], ign.pointers_for(DEPLOY, hpa=hpa))
    assert not ign.ignored(["spec", "replicas"], ign.pointers_for(DEPLOY, hpa=set()))


def test_restarted_at_is_builtin():
    tokens = ["spec", "template", "metadata", "annotations", "kubectl.kubernetes.io/restartedAt"]
    assert ign.ignored(tokens, ign.pointers_for(DEPLOY))


def test_user_rules_match_group_kind_name_glob_and_namespace():
    rule = {"group": "apps", "kind": "Deployment", "name": "isti*", "namespace": "istio-system",
            "json_pointers": ["/spec/template/spec/containers/*/image"]}
    assert ign.rule_matches(rule, DEPLOY)
    assert not ign.rule_matches(dict(rule, namespace="default"), DEPLOY)
    assert not ign.rule_matches(dict(rule, group=""), DEPLOY)
    assert not ign.rule_matches(dict(rule, name="reviews-*"), DEPLOY)
    assert ign.rule_matches({"kind": "Deployment", "json_pointers": ["/x"]}, DEPLOY)
    patterns = ign.pointers_for(DEPLOY, [rule])
    assert ign.ignored(["spec", "template", "spec", "containers", "0", "image"], patterns)


def test_validation_names_the_variable_the_rule_and_the_accepted_values():
    assert ign.validate_rules([]) == []
    assert ign.validate_rules([{"kind": "Deployment", "json_pointers": ["/spec/replicas"]}]) == []
    errors = ign.validate_rules([{"kind": "Deployment", "json_pointers": ["spec/replicas"]}])
    assert len(errors) == 1 and errors[0].startswith("mesh_drift_ignore[0].json_pointers") and "/spec/replicas" in errors[0]
    errors = ign.validate_rules([{"json_pointers": ["/a"], "colour": "x"}])
    assert any("unknown keys colour" in e for e in errors) and any(".kind" in e for e in errors)
    assert "is not a list" in ign.validate_rules({"kind": "x"})[0]
    assert "json_pointers" in ign.validate_rules([{"kind": "Service"}])[0]


def test_webhooks_istioctl_deactivated_and_the_owning_resource_label_are_builtin():
    live = {"kind": "MutatingWebhookConfiguration", "webhooks": [
        {"name": "a", "namespaceSelector": {"matchLabels": {"istio.io/deactivated": "never-match"}}},
        {"name": "b", "namespaceSelector": {"matchLabels": {"istio-injection": "enabled"}}}]}
    desired = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
               "metadata": {"name": "istio-sidecar-injector"}}
    patterns = ign.pointers_for(desired, live=live)
    assert ign.ignored(["webhooks", 0, "namespaceSelector", "matchExpressions"], patterns)
    assert ign.ignored(["webhooks", 0, "objectSelector"], patterns)
    assert not ign.ignored(["webhooks", 1, "namespaceSelector"], patterns)
    assert ign.ignored(["metadata", "labels", "install.operator.istio.io/owning-resource"], ign.pointers_for(DEPLOY))
