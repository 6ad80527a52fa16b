# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over meshops.istio traffic models (the logic lives in module_utils/traffic/model.py)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.module_utils.traffic.model import (
    ModelError, render, render_dot, render_manifest, route_weights, shift_weights, validate,
)


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(data, **kwargs):
    return yaml.dump(data, Dumper=_DUMPER, **kwargs)


def _plain(value):
    """Ansible's templated values (tagged str subclasses and the like) as plain JSON data."""
    return json.loads(json.dumps(value))


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def traffic_render(model):
    """Validate and render a model (a mapping, or YAML text) in the controller process.

    Returns ``errors`` (empty when the model is valid) and ``message``; for a valid model also
    ``model`` (the model as data), ``name``, ``namespace``, ``services``, ``objects`` (how many),
    ``manifest`` (multi-document YAML) and ``dot``.
    """
    if isinstance(model, (str, bytes)):
        # the C loader wants exactly str (Ansible hands over str subclasses)
        text = model.decode("utf-8") if isinstance(model, bytes) else str.__str__(model)
        try:
            model = yaml.load(text, Loader=_LOADER)  # nosec B506 - a safe loader
        except yaml.YAMLError as err:
            return {"errors": ["the model is not valid YAML: %s" % err],
                    "message": "traffic model is invalid: not valid YAML: %s" % err}
    try:
        model = _plain(model)
    except (TypeError, ValueError) as err:
        return {"errors": ["the model is not plain data: %s" % err],
                "message": "traffic model is invalid: not plain data: %s" % err}
    try:
        normalized = validate(model)
    except ModelError as err:
        return {"errors": err.errors, "message": str(err), "name": err.model_name}
    objects = render(normalized)
    return {"errors": [], "message": "", "model": model, "name": normalized["name"], "namespace": normalized["namespace"],
            "services": len(normalized["services"]), "objects": len(objects),
            "manifest": render_manifest(objects, _dump), "dot": render_dot(normalized)}


def traffic_shift(model, service, weight, stable="stable", canary="canary"):
    """Put ``weight`` percent of ``service`` on its canary subset."""
    try:
        return shift_weights(_plain(model), service, weight, stable=stable, canary=canary)
    except ValueError as err:
        raise AnsibleFilterError("traffic_shift: %s" % err)


def traffic_weights(model, service):
    """{subset: weight} of the first weighted route of ``service``."""
    if not isinstance(model, dict):
        raise AnsibleFilterError("traffic_weights: the model must be a mapping")
    return route_weights(model, service)


class FilterModule(object):
    def filters(self):
        return {"traffic_render": traffic_render, "traffic_shift": traffic_shift, "traffic_weights": traffic_weights}
