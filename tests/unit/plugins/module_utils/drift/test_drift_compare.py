"""drift/compare.py: only the fields the desired object sets count, by JSON pointer."""

from ansible_collections.meshops.istio.plugins.module_utils.drift import compare as cmp


def paths(desired, live):
    return [cmp.join_pointer(t) for t, _b, _a in cmp.diff(desired, live)]


def test_fields_the_server_adds_never_count():
    desired = {"spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80}]}}
    live = {"spec": {"type": "NodePort", "clusterIP": "10.0.0.1", "sessionAffinity": "None",
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}]},
            "status": {}, "metadata": {"uid": "x"}}
    assert cmp.diff(desired, live) == []


def test_a_changed_value_is_reported_with_its_pointer_and_values():
    desired = {"spec": {"type": "NodePort"}}
    live = {"spec": {"type": "ClusterIP"}}
    assert cmp.diff(desired, live) == [(["spec", "type"], "NodePort", "ClusterIP")]


def test_a_missing_field_has_no_live_value():
    assert cmp.diff({"metadata": {"labels": {"istio-injection": "enabled"}}}, {"metadata": {"labels": {}}}) == \
        [(["metadata", "labels", "istio-injection"], "enabled", None)]


def test_named_list_items_match_by_name_and_added_items_count():
    desired = {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}
    live = {"containers": [{"name": "b", "image": "y:1"}, {"name": "a", "image": "x:2"}, {"name": "c", "image": "z"}]}
    assert paths(desired, live) == ["/containers/1/image", "/containers/2"]


def test_positional_lists_and_removed_items():
    assert paths({"hosts": ["a", "b"]}, {"hosts": ["a"]}) == ["/hosts/1"]
    assert paths({"hosts": ["a"]}, {"hosts": ["a", "c"]}) == ["/hosts/1"]


def test_empty_desired_values_match_missing_fields():
    assert cmp.diff({"spec": {"resources": {}, "args": [], "x": None, "s": ""}}, {"spec": {}}) == []


def test_quantities_compare_by_value():
    assert cmp.diff({"cpu": "1000m", "memory": "1Gi"}, {"cpu": "1", "memory": "1024Mi"}) == []
    assert cmp.diff({"cpu": "500m"}, {"cpu": "1"}) != []
    assert cmp.diff({"port": 8080}, {"port": "8080"}) == []
    assert cmp.diff({"flag": True}, {"flag": "true"}) != []


def test_pointer_escaping_round_trips():
    tokens = ["metadata", "annotations", "kubectl.kubernetes.io/restartedAt"]
    pointer = cmp.join_pointer(tokens)
    assert pointer == "/metadata/annotations/kubectl.kubernetes.io~1restartedAt"
    assert cmp.split_pointer(pointer) == tokens


def test_digest_markers_compare_the_live_value():
    desired = {"data": {"key": cmp.digest_marker("secret")}}
    assert cmp.diff(desired, {"data": {"key": "secret"}}) == []
    assert paths(desired, {"data": {"key": "other"}}) == ["/data/key"]
    assert cmp.has_digest(desired) and not cmp.has_digest({"data": {"key": "v"}})


def test_remove_pointer_with_wildcards():
    obj = {"webhooks": [{"clientConfig": {"caBundle": "x", "url": "u"}}, {"clientConfig": {"caBundle": "y"}}]}
    cmp.remove_pointer(obj, ["webhooks", "*", "clientConfig", "caBundle"])
    assert obj == {"webhooks": [{"clientConfig": {"url": "u"}}, {"clientConfig": {}}]}
