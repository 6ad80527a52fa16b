# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The access matrix for people: text lines, an aligned grid, a Markdown report, the cells a change
turns around, and one line per check.

A column is a destination and, on HTTP ports, a request named by access.matrix.request_label().
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils.access.matrix import cell_key, request_extras, request_label


def cell_text(cell):
    text = cell["decision"].upper()
    if cell["policy"]:
        text += " (%s)" % cell["policy"]
    if cell.get("would"):
        text += " would %s (%s)" % (cell["would"]["decision"], cell["would"]["policy"])
    return text


def column(cell):
    """The column of a cell: its destination and, on HTTP, its request_label()."""
    col = cell["destination"]
    if cell.get("method"):
        col += " " + request_label(cell)
    return col


def table_rows(matrix):
    """[header, row, ...]: sources down, destination x request across."""
    columns = []
    for cell in matrix["cells"]:
        col = column(cell)
        if col not in columns:
            columns.append(col)
    grid = {}
    for cell in matrix["cells"]:
        grid[(cell["source"], column(cell))] = cell_text(cell)
    rows = [["source"] + columns]
    for src in matrix["sources"]:
        label = src["id"] + ("" if src["sidecar"] else " (no sidecar)")
        rows.append([label] + [grid.get((src["id"], col), "-") for col in columns])
    return rows


def render_grid(matrix):
    """The table as aligned text rows, one per source, for the run's output."""
    rows = table_rows(matrix)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["| " + " | ".join(cell.ljust(width) for cell, width in zip(row, widths)) + " |" for row in rows]


def render_table(matrix):
    """Plain-text lines, one per source, for the run's output."""
    lines = []
    for cell in matrix["cells"]:
        lines.append("%s -> %s: %s" % (cell["source"], column(cell), cell_text(cell)))
    return lines


def render_markdown(matrix, title="Access matrix"):
    rows = table_rows(matrix)
    out = ["# %s" % title, ""]
    out.append("Decisions: ALLOW, DENY (403 by an AuthorizationPolicy), RESET (plaintext refused by STRICT mTLS), "
               "CUSTOM (an external authorizer decides), MIXED (the Service's workloads disagree). "
               "`would` shows what dry-run policies would decide once enforced.")
    out.append("")
    out.append("| " + " | ".join(c.replace("|", "\\|") for c in rows[0]) + " |")
    out.append("|" + "---|" * len(rows[0]))
    for row in rows[1:]:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    out.append("")
    if matrix.get("non_mesh_sources"):
        out.append("Sources without a sidecar: " + ", ".join(matrix["non_mesh_sources"]))
        out.append("")
    out.append("## Cells")
    out.append("")
    for cell in matrix["cells"]:
        out.append("- %s -> %s: **%s** (%s; mTLS %s; %s)" % (
            cell["source"], column(cell), cell["decision"], cell["reason"], cell["mode"] or "none", cell["mtls"]))
    return "\n".join(out) + "\n"


def diff_matrices(before, after):
    """Cells whose decision (or dry-run verdict) differs between two matrices."""
    old = dict((cell_key(c), c) for c in before["cells"])
    changes = []
    for cell in after["cells"]:
        prev = old.get(cell_key(cell))
        was = cell_text(prev) if prev else "-"
        now = cell_text(cell)
        if prev is None or prev["decision"] != cell["decision"] or (prev.get("would") or {}).get("decision") != \
                (cell.get("would") or {}).get("decision"):
            change = {"source": cell["source"], "destination": cell["destination"], "method": cell.get("method"),
                      "path": cell.get("path"), "before": was, "after": now,
                      "text": "%s -> %s: %s => %s" % (cell["source"], column(cell), was, now)}
            change.update(request_extras(cell))
            changes.append(change)
    return changes


def check_summary(check):
    """One line for a check result."""
    if check.get("skipped"):
        return "%s: SKIPPED (%s)" % (check["name"], check["skipped"])
    line = "%s: %s (%d checked" % (check["name"], "PASSED" if check["passed"] else "REFUSED", check["checked"])
    if check["refusals"]:
        line += ", %d refused" % len(check["refusals"])
    if check.get("notes"):
        line += "; " + "; ".join(check["notes"])
    return line + ")"
