"""plugins/module_utils/probe/stats.py: the binomial tolerance of a weighted split."""

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.probe import stats


def test_tolerance_of_80_20_over_100_calls():
    assert stats.tolerance(100, 0.8) == pytest.approx(13.2)
    assert stats.tolerance(100, 0.2, z=2) == pytest.approx(8.0)
    assert stats.tolerance(100, 1.0) == 0 and stats.tolerance(100, 0.0) == 0 and stats.tolerance(0, 0.5) == 0


@pytest.mark.parametrize("observed, passed", [(85, True), (80, True), (67, True), (66, False), (93, True), (94, False)])
def test_within(observed, passed):
    assert stats.within(observed, 100, 0.8)[0] is passed


def test_split_flags_unexpected_keys_and_round_robin():
    ok, rows = stats.split({"v1": 85, "v2": 15}, 100, {"v1": 0.8, "v2": 0.2})
    assert ok and [r["key"] for r in rows] == ["v1", "v2"]
    # Round robin over three versions is not 80/20: v1 far too low and v3 never expected.
    ok, rows = stats.split({"v1": 34, "v2": 33, "v3": 33}, 100, {"v1": 0.8, "v2": 0.2})
    assert not ok
    assert [(r["key"], r["passed"]) for r in rows] == [("v1", False), ("v2", True), ("v3", False)]
    ok, rows = stats.split({"v1": 10}, 10, {"v1": 1.0})
    assert ok and rows[0]["tolerance"] == 0
