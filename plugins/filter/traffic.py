# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over meshops.istio traffic models (the logic lives in module_utils/traffic/)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.module_utils.traffic.dot import render_dot
from ansible_collections.meshops.istio.plugins.module_utils.traffic.render import render, render_manifest
from ansible_collections.meshops.istio.plugins.module_utils.traffic.schema import ModelError
from ansible_collections.meshops.istio.plugins.module_utils.traffic.shift import (
    canary_error_query, route_weights, shift_weights,
)
from ansible_collections.meshops.istio.plugins.module_utils.traffic.validate import (
    check_shape, check_tls, validate, with_default_tls,
)


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump(data, **kwargs):
    return yaml.dump(data, Dumper=_DUMPER, **kwargs)


def _plain(value):
    """Ansible's templated values (tagged str subclasses and the like) as plain JSON data."""
    return json.loads(json.dumps(value))


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(model):
    """(model as plain data, None) or (None, (errors, message)) for a mapping or YAML text."""
    if isinstance(model, (str, bytes)):
        # the C loader wants exactly str (Ansible hands over str subclasses)
        text = model.decode("utf-8") if isinstance(model, bytes) else str.__str__(model)
        try:
            model = yaml.load(text, Loader=_LOADER)  # nosec B506 - a safe loader
        except yaml.YAMLError as err:
            return None, (["the model is not valid YAML: %s" % err], "traffic model is invalid: not valid YAML: %s" % err)
    try:
        return _plain(model), None
    except (TypeError, ValueError) as err:
        return None, (["the model is not plain data: %s" % err], "traffic model is invalid: not plain data: %s" % err)


def traffic_load(model, tls=None):
    """Read a model (a mapping, or YAML text) without validating it: the traffic_model module does.

    ``tls`` (the traffic role's ``traffic_tls``) is checked and becomes the model's top-level
    ``tls`` (the default of every DestinationRule) unless the model has its own; its errors name
    it ``traffic_tls``. Returns ``errors`` (empty when the model is a non-empty mapping and ``tls``
    is valid) and ``message``, and ``model`` (the model as plain data) when there are no errors.
    """
    if tls:
        try:
            tls = _plain(tls)
            errors = check_tls(tls, "traffic_tls")
        except (TypeError, ValueError) as err:
            errors = ["traffic_tls: must be plain data: %s" % err]
        if errors:
            return {"errors": errors, "message": "traffic_tls is invalid: %s" % "; ".join(errors), "source": ""}
    data, failure = _load(model)
    if failure is not None:
        return {"errors": failure[0], "message": failure[1]}
    try:
        check_shape(data)
    except ModelError as err:
        return {"errors": err.errors, "message": str(err)}
    return {"errors": [], "message": "", "model": with_default_tls(data, tls)}


def traffic_render(model):
    """Validate and render a model (a mapping, or YAML text) in the controller process.

    Returns ``errors`` (empty when the model is valid) and ``message``; for a valid model also
    ``model`` (the model as data), ``name``, ``namespace``, ``services``, ``objects`` (how many),
    ``manifest`` (multi-document YAML) and ``dot``.
    """
    model, failure = _load(model)
    if failure is not None:
        return {"errors": failure[0], "message": failure[1]}
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


def traffic_canary_query(model, service, canary="canary"):
    """PromQL for the 5xx share of ``service``'s ``canary`` subset (see canary_error_query)."""
    if not isinstance(model, dict):
        raise AnsibleFilterError("traffic_canary_query: the model must be a mapping")
    return canary_error_query(_plain(model), service, canary=canary)


class FilterModule(object):
    def filters(self):
        return {"traffic_canary_query": traffic_canary_query, "traffic_load": traffic_load, "traffic_render": traffic_render,
                "traffic_shift": traffic_shift, "traffic_weights": traffic_weights}
