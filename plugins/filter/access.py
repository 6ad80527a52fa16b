# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over plugins/module_utils/access/observed.py: the access matrix against a data plane."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.module_utils.access import observed


def access_probe_plan(matrix, count=1, timeout=5.0):
    """The probes (a JSON list for a probe command's --batch) that test every probeable cell of an access_matrix result."""
    return observed.probe_plan(matrix, count, timeout)


def access_observed(matrix, results, allow_nothing=None):
    """Compare an access_matrix result with the probe results of access_probe_plan (same order)."""
    try:
        return observed.compare(matrix, results, allow_nothing or ())
    except ValueError as exc:
        raise AnsibleFilterError("access_observed: %s" % exc)


def access_cell(compared, source, destination):
    """One compared cell (source id, destination id) of access_observed, or {} when it was not probed."""
    return observed.cell_result(compared, source, destination) or {}


class FilterModule(object):
    def filters(self):
        return {"access_probe_plan": access_probe_plan, "access_observed": access_observed, "access_cell": access_cell}
