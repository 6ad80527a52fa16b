"""plugins/filter/probe.py: route_probe_plan and route_observed over module_utils/probe/routes.py."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.filter import probe as probe_filters

VS = [{"metadata": {"name": "vsvc-reviews", "namespace": "default"},
       "spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}]}}]
DR = [{"metadata": {"name": "destrule-reviews", "namespace": "default"},
       "spec": {"host": "reviews", "subsets": [{"name": "v1", "labels": {"version": "v1"}}]}}]
SVC = [{"metadata": {"name": "reviews", "namespace": "default"}, "spec": {"ports": [{"port": 9080}]}}]


def test_filters_are_registered():
    assert set(probe_filters.FilterModule().filters()) == {"route_probe_plan", "route_observed"}


def test_plan_and_observe():
    plan = probe_filters.route_probe_plan(VS, DR, SVC, {"reviews": "default/productpage"}, "100", "5")
    assert plan["probes"] == [{"source": "default/productpage", "to": "reviews.default.svc.cluster.local:9080", "headers": {},
                               "count": 5, "timeout": 5.0}]
    observed = probe_filters.route_observed(plan, [{"calls": [{"i": i, "code": "OK", "version": "v1", "ms": 1.0} for i in range(5)]}])
    assert [(c["status"], c["detail"]) for c in observed] == [("passed", "v1 5/5 (expected every answer from v1)")]
    with pytest.raises(AnsibleFilterError, match="route_observed: 0 probe results for 1 probes"):
        probe_filters.route_observed(plan, [])
