# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drift report of one cluster: its JSON, Markdown, JUnit XML and Prometheus textfile.

report.json: {"cluster", "mode", "status", "started", "finished", "duration", "checked", "drifted",
"corrected", "error", "objects": [{"stage", "kind", "apiVersion", "namespace", "name", "missing",
"corrected", "fields": [{"path", "before", "after"}]}]}. `objects` lists the drifted objects only;
`before` is the value the collection applied, `after` the value found in the cluster (null when the
field or the object is missing). A Secret's values are redacted.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import re
from xml.sax.saxutils import escape, quoteattr

STATUSES = ("clean", "drift", "corrected", "error")
MODES = ("check", "correct")
REDACTED = "<redacted>"
METRIC = "meshops_istio_drift"
_REDACT_PATHS = re.compile(r"^/(data|stringData)(/|$)")


def redact(kind, path, value):
    """A Secret's data values are never shown."""
    if value is not None and kind == "Secret" and (_REDACT_PATHS.match(path) or path in ("", "/")):
        return REDACTED
    return value


def object_entry(stage, obj, fields, missing=False):
    meta = obj.get("metadata") or {}
    kind = obj.get("kind") or ""
    return {"stage": stage, "kind": kind, "apiVersion": obj.get("apiVersion") or "",
            "namespace": meta.get("namespace") or "", "name": meta.get("name") or "",
            "missing": bool(missing), "corrected": False,
            "fields": [{"path": f["path"], "before": redact(kind, f["path"], f["before"]),
                        "after": redact(kind, f["path"], f["after"])} for f in fields]}


def status_of(mode, drifted, corrected, error=None):
    """clean | drift | corrected | error for a run that found `drifted` objects and corrected `corrected` of them."""
    if error:
        return "error"
    if not drifted:
        return "clean"
    if mode == "correct" and corrected == drifted:
        return "corrected"
    return "drift"


def label(entry):
    where = "%s/%s" % (entry["namespace"], entry["name"]) if entry.get("namespace") else entry["name"]
    return "%s %s" % (entry["kind"], where)


def _short(value, limit=120):
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def markdown(report):
    lines = ["# Drift report: %s" % report["cluster"], "",
             "- status: **%s** (mode %s)" % (report["status"], report["mode"]),
             "- checked objects: %d, drifted: %d, corrected: %d" % (report["checked"], report["drifted"], report["corrected"]),
             "- started %s, finished %s (%.2f s)" % (report["started"], report["finished"], report["duration"])]
    if report.get("error"):
        lines += ["", "Error: %s" % report["error"]]
    if report["objects"]:
        lines += ["", "| stage | object | field | applied (before) | in the cluster (after) |", "| --- | --- | --- | --- | --- |"]
        for entry in report["objects"]:
            for field in entry["fields"]:
                cells = [entry["stage"], label(entry) + (" (corrected)" if entry.get("corrected") else ""),
                         "`%s`" % (field["path"] or "/"), _short(field["before"]), _short(field["after"])]
                lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    elif not report.get("error"):
        lines += ["", "No drift."]
    return "\n".join(lines) + "\n"


def junit(report, managed):
    """JUnit XML: one test case per managed object (`managed`: [(stage, kind, namespace, name)]), failed when drifted."""
    drifted = dict(((e["stage"], e["kind"], e["namespace"], e["name"]), e) for e in report["objects"])
    cases = []
    failures = 0
    for stage, kind, namespace, name in managed:
        entry = drifted.get((stage, kind, namespace, name))
        title = label({"kind": kind, "namespace": namespace, "name": name})
        case = '  <testcase classname=%s name=%s time="0">' % (quoteattr("%s.%s" % (report["cluster"], stage)), quoteattr(title))
        if entry and not entry.get("corrected"):
            failures += 1
            text = "\n".join("%s: %s -> %s" % (f["path"] or "/", _short(f["before"], 400), _short(f["after"], 400))
                             for f in entry["fields"])
            what = "missing" if entry.get("missing") else "%d field(s) differ" % len(entry["fields"])
            case += "<failure message=%s>%s</failure>" % (quoteattr("drift: " + what), escape(text))
        elif entry:
            case += "<system-out>%s</system-out>" % escape("corrected: " + ", ".join(f["path"] for f in entry["fields"]))
        cases.append(case + "</testcase>")
    errors = 0
    if report.get("error"):
        errors = 1
        cases.append('  <testcase classname=%s name="drift check" time="0"><error message=%s/></testcase>'
                     % (quoteattr("%s.cluster" % report["cluster"]), quoteattr(report["error"])))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites>\n<testsuite name=%s tests="%d" failures="%d" errors="%d" time="%.3f" '
            'timestamp=%s>\n%s\n</testsuite>\n</testsuites>\n'
            % (quoteattr("meshops.istio drift %s" % report["cluster"]), len(cases), failures, errors, report["duration"],
               quoteattr(report["started"]), "\n".join(cases)))


def _label_value(text):
    return str(text).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def previous_success(text, cluster):
    """The last-success timestamp of `cluster` in an earlier textfile, or None."""
    want = '%s_last_success_timestamp_seconds{cluster="%s"}' % (METRIC, _label_value(cluster))
    for line in (text or "").splitlines():
        if line.startswith(want):
            try:
                return float(line.split()[-1])
            except ValueError:
                return None
    return None


def prometheus(report, finished_epoch, previous=None):
    """Prometheus textfile (node_exporter's textfile collector). An error keeps the previous
    last-success timestamp (`previous`), so an alert on its age fires."""
    cluster = 'cluster="%s"' % _label_value(report["cluster"])
    last = previous if report["status"] == "error" else finished_epoch
    lines = [
        "# HELP %s_objects Managed objects that differ from the recorded desired state (after correction)." % METRIC,
        "# TYPE %s_objects gauge" % METRIC,
        "%s_objects{%s} %d" % (METRIC, cluster, report["drifted"] - report["corrected"]),
        "# HELP %s_checked_objects Managed objects compared." % METRIC,
        "# TYPE %s_checked_objects gauge" % METRIC,
        "%s_checked_objects{%s} %d" % (METRIC, cluster, report["checked"]),
        "# HELP %s_corrected_objects Objects the last run corrected." % METRIC,
        "# TYPE %s_corrected_objects gauge" % METRIC,
        "%s_corrected_objects{%s} %d" % (METRIC, cluster, report["corrected"]),
        "# HELP %s_duration_seconds Duration of the last drift run." % METRIC,
        "# TYPE %s_duration_seconds gauge" % METRIC,
        "%s_duration_seconds{%s} %.3f" % (METRIC, cluster, report["duration"]),
        "# HELP %s_status Status of the last drift run (1 for the current status)." % METRIC,
        "# TYPE %s_status gauge" % METRIC,
    ]
    lines += ['%s_status{%s,status="%s"} %d' % (METRIC, cluster, s, 1 if s == report["status"] else 0) for s in STATUSES]
    if last is not None:
        lines += ["# HELP %s_last_success_timestamp_seconds End of the last run that could check the cluster." % METRIC,
                  "# TYPE %s_last_success_timestamp_seconds gauge" % METRIC,
                  "%s_last_success_timestamp_seconds{%s} %.3f" % (METRIC, cluster, last)]
    return "\n".join(lines) + "\n"


def lines(entry):
    """One line per drifted field of a report entry, for the run's output."""
    state = "CORRECTED" if entry.get("corrected") else "DRIFT"
    out = []
    for field in entry.get("fields") or []:
        out.append("%s %s [%s] %s: %s -> %s" % (
            state, label(entry), entry.get("stage"), field["path"] or "/", _short(field["before"]), _short(field["after"])))
    if entry.get("not_corrected"):
        out.append("NOT CORRECTED %s: %s" % (label(entry), entry["not_corrected"]))
    return out


_SEVERITY = {"clean": 0, "corrected": 1, "drift": 2, "error": 3}


def summary(results):
    """The fleet summary from {cluster: mesh_drift result or None (the host did not get that far)}."""
    clusters = {}
    for cluster in sorted(results):
        result = results[cluster]
        report = result.get("report") if isinstance(result, dict) else None
        if not report:
            clusters[cluster] = {"status": "error", "checked": 0, "drifted": 0, "corrected": 0,
                                 "error": "the drift check did not run on this host (unreachable, or a task failed before it; "
                                          "see the run's output)"}
            continue
        keys = ("status", "checked", "drifted", "corrected", "error", "started", "finished", "duration")
        clusters[cluster] = dict((k, report.get(k)) for k in keys)
    statuses = [c["status"] for c in clusters.values()]
    worst = max(statuses, key=lambda s: _SEVERITY.get(s, 3)) if statuses else "error"
    counts = dict((s, statuses.count(s)) for s in STATUSES)
    text = ["%s: %s%s" % (name, c["status"], " (%s)" % c["error"] if c.get("error") else
                          " (%d drifted, %d corrected of %d)" % (c["drifted"], c["corrected"], c["checked"]))
            for name, c in sorted(clusters.items())]
    if not clusters:
        text = ["no cluster was checked (group mesh_controller is empty or outside --limit)"]
    return {"status": worst, "clusters": clusters, "counts": counts, "failed": worst in ("drift", "error"), "lines": text}
