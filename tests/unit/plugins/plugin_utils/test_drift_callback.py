from ansible_collections.meshops.istio.plugins.plugin_utils.drift import drift_entry, render_markdown, summarize


def test_unchanged_result_is_not_drift():
    assert drift_entry("h", "p", "r", "t", "a", {"changed": False, "diff": {"before": 1, "after": 2}}) is None


def test_changed_result_keeps_its_diff():
    entry = drift_entry("localhost", "Install", "control_plane", "Apply", "kubernetes.core.k8s",
                        {"changed": True, "diff": {"before": {"spec": {"type": "ClusterIP"}},
                                                   "after": {"spec": {"type": "NodePort"}}}})
    assert entry["role"] == "control_plane"
    assert '"type": "ClusterIP"' in entry["diff"] and '"type": "NodePort"' in entry["diff"]


def test_loop_results_collect_changed_items_only():
    entry = drift_entry("h", "p", "r", "t", "a", {"changed": True, "results": [
        {"changed": True, "diff": {"prepared": "+weight: 90"}},
        {"changed": False, "diff": {"prepared": "+weight: 10"}},
    ]})
    assert "+weight: 90" in entry["diff"] and "+weight: 10" not in entry["diff"]


def test_long_diffs_are_cut_and_say_so():
    entry = drift_entry("h", "p", "r", "t", "a", {"changed": True, "diff": {"prepared": "x" * 5000}})
    assert "more characters" in entry["diff"] and len(entry["diff"]) < 4100


def test_summary_in_check_mode_names_roles():
    entries = [drift_entry("h", "p", "traffic", "t", "a", {"changed": True}),
               drift_entry("h", "p", "addons", "t2", "a", {"changed": True})]
    report = summarize(entries, check_mode=True, started="now")
    assert report["drift"] is True and report["count"] == 2
    assert report["summary"] == "2 task(s) would change in addons, traffic"
    assert summarize([], check_mode=True, started="now")["summary"] == "no drift"
    assert summarize([], check_mode=False, started="now")["summary"] == "nothing changed"


def test_markdown_lists_every_entry_and_escapes_pipes():
    report = summarize([drift_entry("h", "p", "traffic", "weights a|b", "a",
                                    {"changed": True, "diff": {"prepared": "-90\n+100"}})],
                       check_mode=True, started="now")
    text = render_markdown(report)
    assert "| h | traffic | weights a\\|b |" in text
    assert "```diff\n-90\n+100\n```" in text
    assert "nothing was changed" in text
