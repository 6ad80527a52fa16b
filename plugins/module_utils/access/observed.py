# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The access matrix's predictions against what a data plane did.

``probe_plan`` turns matrix cells into probes (a source workload calls a destination Service
port); ``compare`` takes the probes' results (the JSON of a probe command such as the lab's
``lab.py probe --batch``) and says, cell by cell, whether the observed outcome is the predicted
decision. Calls are gRPC: a call answered is ``allow``, ``PermissionDenied`` is ``deny`` (Istio's
RBAC answer, an HTTP 403 on Envoy), a connection the server refuses or closes before answering
(plaintext against STRICT mTLS) is ``reset``.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils.access.authz import ALLOW, DENY, RESET
from ansible_collections.meshops.istio.plugins.module_utils.probe import result

# What a proxyless gRPC data plane cannot show, and why (the cell is reported skipped).
ALLOW_NOTHING_NOT_SENT = "proxyless data plane: allow-nothing (an AuthorizationPolicy with an empty spec) is not sent by istiod"
PERMISSIVE_IS_STRICT = ("proxyless data plane: gRPC has no permissive mode; istiod serves PERMISSIVE as STRICT to the gRPC "
                        "servers of injected pods, so a plaintext client is refused")
# A probe call's outcome (probe/result.py) in the access matrix's words.
DECISION_OF_OUTCOME = {result.ALLOWED: ALLOW, result.DENIED: DENY, result.REFUSED: RESET, result.TIMEOUT: "timeout"}


def call_outcome(call):
    """allow, deny, reset, timeout or error:<code> for one call of a probe."""
    outcome = result.outcome(call)
    return DECISION_OF_OUTCOME.get(outcome, "error:%s" % outcome)


def host_of(cell):
    """The name a mesh client dials for a cell's destination: <service>.<namespace>.svc.cluster.local:<port>."""
    return "%s.%s.svc.cluster.local:%s" % (cell["service"], cell["namespace"], cell["port"])


def unprobeable(cell):
    """Why a cell cannot be probed ("" when it can): TCP ports and undecided cells are not."""
    if cell.get("protocol", "").upper() == "TCP" or not cell.get("method"):
        return "TCP port: the test client speaks gRPC"
    if cell.get("decision") not in (ALLOW, DENY, RESET):
        return "decision %s cannot be observed" % cell.get("decision")
    return ""


def probed_cells(matrix):
    """The cells a probe plan covers, in the matrix's order."""
    return [cell for cell in matrix.get("cells", []) if not unprobeable(cell)]


def probe_plan(matrix, count=1, timeout=5.0):
    """One probe per probeable cell, in the matrix's order: {"from", "to", "count", "timeout"}."""
    return [{"from": cell["source"], "to": host_of(cell), "count": int(count), "timeout": float(timeout)}
            for cell in probed_cells(matrix)]


def _allow_nothing_only(cell, allow_nothing):
    """The prediction is a deny that only an allow-nothing policy makes."""
    return cell["decision"] == DENY and cell.get("policy") in allow_nothing


def allow_nothing_refs(items):
    """namespace/name of every allow-nothing policy (empty spec) among AuthorizationPolicy objects;
    strings are taken as such references already."""
    refs = []
    for item in items or ():
        if isinstance(item, dict):
            if not item.get("spec"):
                meta = item.get("metadata") or {}
                refs.append("%s/%s" % (meta.get("namespace", ""), meta.get("name", "")))
        else:
            refs.append(str(item))
    return refs


def compare(matrix, results, allow_nothing=()):
    """Each probed cell with its prediction, observation and status (passed, failed, skipped).

    ``results`` are the probe results in the order of ``probe_plan(matrix)``; ``allow_nothing``
    names (namespace/name) the allow-nothing policies, whose denies a proxyless data plane cannot
    show, or is the list of AuthorizationPolicy objects to find them in. Returns {"cells": [...], "passed": n, "failed": n, "skipped": n, "mismatches": [text]}.
    """
    allow_nothing = set(allow_nothing_refs(allow_nothing))
    cells = probed_cells(matrix)
    if len(cells) != len(results):
        raise ValueError("%d probe results for %d probeable cells: the probes do not belong to this matrix"
                         % (len(results), len(cells)))
    out = {"cells": [], "passed": 0, "failed": 0, "skipped": 0, "mismatches": []}
    for cell, probed in zip(cells, results):
        outcomes = sorted(set(call_outcome(c) for c in probed.get("calls") or []))
        observed = outcomes[0] if len(outcomes) == 1 else ("+".join(outcomes) or "no answer")
        label = "%s -> %s" % (cell["source"], cell["destination"])
        entry = {"source": cell["source"], "destination": cell["destination"], "predicted": cell["decision"],
                 "policy": cell.get("policy") or "", "observed": observed}
        if probed.get("error") and not probed.get("calls"):
            entry.update(status="skipped", detail="%s: not probed: %s" % (label, probed["error"]))
        elif observed == cell["decision"]:
            entry.update(status="passed", detail="%s: %s as predicted" % (label, observed))
        elif observed == RESET and cell.get("mtls") == "plaintext" and str(cell.get("mode", "")).startswith("PERMISSIVE"):
            entry.update(status="skipped", detail="%s: predicted %s (PERMISSIVE accepts plaintext), observed reset: %s"
                         % (label, cell["decision"], PERMISSIVE_IS_STRICT))
        elif _allow_nothing_only(cell, allow_nothing) and observed == ALLOW:
            entry.update(status="skipped", detail="%s: predicted deny by %s, observed allow: %s"
                         % (label, cell.get("policy"), ALLOW_NOTHING_NOT_SENT))
        else:
            detail = "%s: predicted %s%s, observed %s" % (
                label, cell["decision"], " (%s)" % cell["policy"] if cell.get("policy") else "", observed)
            errors = [c.get("error") for c in probed.get("calls") or [] if c.get("error")]
            if errors:
                detail += " (%s)" % errors[0][-160:]
            entry.update(status="failed", detail=detail)
            out["mismatches"].append(detail)
        out[entry["status"]] += 1
        out["cells"].append(entry)
    return out


def cell_result(compared, source, destination):
    """The compared entry for one source and destination, or None."""
    for entry in compared.get("cells", []):
        if entry["source"] == source and entry["destination"] == destination:
            return entry
    return None
