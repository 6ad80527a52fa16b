# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over plugins/module_utils/probe/routes.py: the VirtualServices in the cluster against real calls."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.module_utils.probe import routes


def route_probe_plan(virtual_services, destination_rules=None, services=None, callers=None, count=100, single_count=10,
                     delay_count=2, timeout=5.0, slack=2.0, z=3.3):
    """The checks and probes (for meshops.istio.mesh_probe's probes) that test every mesh route of the VirtualServices."""
    try:
        return routes.plan(virtual_services or [], destination_rules or [], services or [], callers or {}, int(count),
                           int(single_count), int(delay_count), float(timeout), float(slack), float(z))
    except (TypeError, ValueError, KeyError) as exc:
        raise AnsibleFilterError("route_probe_plan: %s" % exc)


def route_observed(plan, results):
    """Each check of route_probe_plan with status (passed, failed, skipped) and detail, from the probe results."""
    try:
        return routes.observe(plan, results or [])
    except (TypeError, ValueError, KeyError) as exc:
        raise AnsibleFilterError("route_observed: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"route_probe_plan": route_probe_plan, "route_observed": route_observed}
