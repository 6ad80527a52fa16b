# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over meshops.istio traffic models (the logic lives in module_utils/traffic_model.py)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.module_utils.traffic_model import (
    route_weights, shift_weights,
)


def traffic_shift(model, service, weight, stable="stable", canary="canary"):
    """Put ``weight`` percent of ``service`` on its canary subset."""
    try:
        return shift_weights(model, service, weight, stable=stable, canary=canary)
    except ValueError as err:
        raise AnsibleFilterError("traffic_shift: %s" % err)


def traffic_weights(model, service):
    """{subset: weight} of the first weighted route of ``service``."""
    if not isinstance(model, dict):
        raise AnsibleFilterError("traffic_weights: the model must be a mapping")
    return route_weights(model, service)


class FilterModule(object):
    def filters(self):
        return {"traffic_shift": traffic_shift, "traffic_weights": traffic_weights}
