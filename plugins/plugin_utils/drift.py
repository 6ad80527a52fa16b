# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of the drift report: which task results are drift, and how to show them."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

MAX_DIFF_CHARS = 4000


def _diff_text(diffs):
    """Flatten Ansible's diff structures (dict or list of dicts) to unified-looking text."""
    if not diffs:
        return ""
    if isinstance(diffs, dict):
        diffs = [diffs]
    parts = []
    for diff in diffs:
        if not isinstance(diff, dict):
            continue
        if diff.get("prepared"):
            parts.append(str(diff["prepared"]))
            continue
        before, after = diff.get("before"), diff.get("after")
        if before is None and after is None:
            continue
        header = diff.get("before_header") or diff.get("after_header") or ""
        parts.append("--- before %s\n+++ after %s\n- %s\n+ %s" % (header, header, _short(before), _short(after)))
    text = "\n".join(parts)
    if len(text) > MAX_DIFF_CHARS:
        text = text[:MAX_DIFF_CHARS] + "\n... (%d more characters)" % (len(text) - MAX_DIFF_CHARS)
    return text


def _short(value):
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def drift_entry(host, play, role, task, action, result):
    """Return a report entry for a changed result, or None when the task did not change."""
    if not result.get("changed"):
        return None
    diff = result.get("diff")
    if diff is None and "results" in result:
        diff = [r.get("diff") for r in result["results"] if isinstance(r, dict) and r.get("changed") and r.get("diff")]
        flat = []
        for item in diff:
            flat.extend(item if isinstance(item, list) else [item])
        diff = flat
    return {
        "host": host, "play": play, "role": role, "task": task, "action": action,
        "diff": _diff_text(diff),
    }


def summarize(entries, check_mode, started):
    roles = sorted({e["role"] or "(play)" for e in entries})
    if check_mode:
        summary = ("no drift" if not entries
                   else "%d task(s) would change in %s" % (len(entries), ", ".join(roles)))
    else:
        summary = ("nothing changed" if not entries
                   else "%d task(s) changed in %s" % (len(entries), ", ".join(roles)))
    return {"mode": "check" if check_mode else "apply", "started": started, "summary": summary,
            "drift": bool(entries), "count": len(entries), "entries": entries}


def render_markdown(report):
    lines = ["# Drift report", "",
             "- mode: %s (%s)" % (report["mode"], "nothing was changed" if report["mode"] == "check" else "changes were applied"),
             "- started: %s" % report["started"],
             "- summary: %s" % report["summary"], ""]
    if report["entries"]:
        lines += ["| host | role | task |", "| --- | --- | --- |"]
        for entry in report["entries"]:
            lines.append("| %s | %s | %s |" % (entry["host"], entry["role"] or "-", entry["task"].replace("|", "\\|")))
        for entry in report["entries"]:
            if entry["diff"]:
                lines += ["", "## %s / %s" % (entry["role"] or entry["play"], entry["task"]), "", "```diff", entry["diff"], "```"]
    return "\n".join(lines) + "\n"
