# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over the drift rules (module_utils/drift) and the injection label rule the records need."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils.drift.ignore import validate_rules
from ansible_collections.meshops.istio.plugins.module_utils.drift.report import lines, summary
from ansible_collections.meshops.istio.plugins.module_utils.istio.injection import wanted_labels


def drift_ignore_errors(rules, var="mesh_drift_ignore"):
    """Why `rules` are not valid ignore rules (empty when they are)."""
    return validate_rules(rules, str(var))


def drift_injection_objects(namespaces, revision=""):
    """The Namespace objects the injection role applies: each namespace with its injection label."""
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": str(name), "labels": wanted_labels(revision or "")}}
            for name in namespaces or []]


def drift_lines(entry):
    """The output lines of one drifted object of a drift report."""
    return lines(entry)


def drift_summary(results):
    """The fleet summary ({status, clusters, counts, failed, lines}) from {cluster: mesh_drift result or undefined}."""
    return summary(dict((k, v if isinstance(v, dict) else None) for k, v in (results or {}).items()))


class FilterModule(object):
    def filters(self):
        return {
            "drift_ignore_errors": drift_ignore_errors,
            "drift_injection_objects": drift_injection_objects,
            "drift_lines": drift_lines,
            "drift_summary": drift_summary,
        }
