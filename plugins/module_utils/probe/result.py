# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a probe command prints, and what it means.

A probe command (the lab's ``lab.py probe``; on another data plane anything that keeps the same
contract) sends gRPC calls from a pod and prints one JSON object: ``source``, ``target``, ``to``,
``mode``, ``headers`` and ``calls`` (each ``{"i", "code", "version", "host", "ms", "error"}``), plus
``error`` when the client itself failed. With ``--batch`` it reads a JSON list of probes on stdin
and prints a JSON list of such objects, in the same order.

This file builds the command line, parses the output, names each call's outcome and summarises a
probe: counts by code, by version and by outcome, and latency min/median/max.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

ALLOWED = "allowed"
DENIED = "denied"
REFUSED = "refused"
TIMEOUT = "timeout"
UNREACHABLE = "unreachable"
# Texts of a call whose client never reached a server: the TCP dial went unanswered or had no
# route, or the client's own xDS stream to the control plane failed (it has no configuration to
# call with). Such a call says nothing about the mesh's decision: it is "unreachable", never
# "refused" (their text also contains "connection error").
NETWORK_ERRORS = ("i/o timeout", "no route to host", "network is unreachable", "from xDS stream")
# Texts of a connection the server refused or closed before answering (plaintext against STRICT
# mTLS, a failed TLS handshake): an Unavailable call with one of them is "refused".
CONNECTION_ERRORS = ("connection error", "error reading server preface", "handshake", "connection reset",
                     "connection refused", "connection closed", "EOF")


class ProbeError(Exception):
    """The probe command failed or printed something that is not a probe result."""


def probe_argv(command, source, to, headers=None, count=1, timeout=10.0, plain=False):
    """The argv of one probe: the command prefix, then --from, --to, --count, --timeout, -H per header
    (sorted by name) and --plain."""
    if not command:
        raise ProbeError("command is empty: give the probe command's argv prefix (verify_probe_command)")
    if not source or not to:
        raise ProbeError("source and to are required for one probe (or give probes)")
    argv = [str(part) for part in command]
    argv += ["--from", source, "--to", to, "--count", str(int(count)), "--timeout", "%g" % float(timeout)]
    for key in sorted(headers or {}):
        argv += ["-H", "%s=%s" % (key, (headers or {})[key])]
    if plain:
        argv.append("--plain")
    return argv


def batch_spec(probe):
    """One probe of a --batch list: {"from", "to", "headers", "count", "timeout", "plain"}."""
    source = probe.get("source") or probe.get("from")
    if not source or not probe.get("to"):
        raise ProbeError("every probe needs source and to: %r" % (probe,))
    return {"from": source, "to": probe["to"], "headers": dict(probe.get("headers") or {}),
            "count": int(probe.get("count") or 1), "timeout": float(probe.get("timeout") or 10.0),
            "plain": bool(probe.get("plain"))}


def parse_output(stdout, batch=False):
    """The JSON a probe command printed: one object, or with ``batch`` a list of objects."""
    text = (stdout or "").strip()
    if not text:
        raise ProbeError("the probe command printed nothing")
    try:
        data = json.loads(text)
    except ValueError:
        # Tolerate log lines before the JSON: take the last line that parses.
        data = None
        for line in reversed(text.splitlines()):
            try:
                data = json.loads(line)
                break
            except ValueError:
                continue
        if data is None:
            raise ProbeError("the probe command did not print JSON: %s" % text[-300:])
    if batch:
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise ProbeError("the probe command (--batch) did not print a JSON list of objects: %s" % text[-300:])
        return data
    if not isinstance(data, dict) or not isinstance(data.get("calls", []), list):
        raise ProbeError("the probe command did not print a JSON object with calls: %s" % text[-300:])
    return data


def outcome(call):
    """allowed (OK), denied (PermissionDenied), unreachable (Unavailable because the client reached
    no server: NETWORK_ERRORS), refused (Unavailable on a connection or handshake error),
    timeout (DeadlineExceeded), otherwise the code's name."""
    code = call.get("code") or "none"
    if code == "OK":
        return ALLOWED
    if code == "PermissionDenied":
        return DENIED
    if code == "DeadlineExceeded":
        return TIMEOUT
    if code == "Unavailable" and any(text in (call.get("error") or "") for text in NETWORK_ERRORS):
        return UNREACHABLE
    if code == "Unavailable" and any(text in (call.get("error") or "") for text in CONNECTION_ERRORS):
        return REFUSED
    return code


def _count(values):
    counts = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def median(values):
    ordered = sorted(values)
    if not ordered:
        return None
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def summarize(result):
    """{"calls", "codes", "versions", "outcomes", "latency_ms": {"min", "median", "max"}} of one probe
    result; versions count the answered (OK) calls only."""
    calls = result.get("calls") or []
    answered = [c for c in calls if c.get("code") == "OK"]
    latencies = [float(c["ms"]) for c in calls if isinstance(c.get("ms"), (int, float))]
    return {
        "calls": len(calls),
        "codes": _count(c.get("code") or "none" for c in calls),
        "versions": _count(c.get("version") or "" for c in answered),
        "outcomes": _count(outcome(c) for c in calls),
        "latency_ms": {"min": min(latencies) if latencies else None, "median": median(latencies),
                       "max": max(latencies) if latencies else None},
    }


def with_summary(result):
    """The result with its summary under "summary"."""
    out = dict(result)
    out["summary"] = summarize(result)
    return out
