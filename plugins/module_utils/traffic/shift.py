# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canary weight shifts of a raw traffic model, and the canary's error-rate query."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import copy

from ansible_collections.meshops.istio.plugins.module_utils.traffic.schema import DEFAULT_SUBSETS, is_int


def shift_weights(model, service, weight, stable="stable", canary="canary"):
    """Return a copy of a (raw) model with ``weight`` percent of ``service`` on ``canary``.

    Every route of the service whose destinations are only the stable and canary subsets gets
    ``[stable: 100 - weight, canary: weight]``; other routes (header matches pinned to one
    subset, for example) keep theirs. A service without routes gets one such route.
    """
    if not is_int(weight) or not 0 <= weight <= 100:
        raise ValueError("canary weight must be an integer from 0 to 100, got %r" % (weight,))
    if not isinstance(model, dict):
        raise ValueError("the model must be a mapping")
    out = copy.deepcopy(model)
    services = [s for s in (out.get("services") or []) if isinstance(s, dict) and s.get("name") == service]
    if not services:
        raise ValueError("service %r is not in the model (services: %s)" % (
            service, ", ".join(str(s.get("name")) for s in (out.get("services") or []) if isinstance(s, dict))))
    svc = services[0]
    pair = [{"subset": stable, "weight": 100 - weight}, {"subset": canary, "weight": weight}]
    if "routes" not in svc:
        svc["routes"] = [{"destinations": pair}]
        return out
    shifted = 0
    for route in svc["routes"] or []:
        dests = route.get("destinations") or []
        subsets = set(d.get("subset") for d in dests if isinstance(d, dict))
        if not dests or not subsets <= set([stable, canary]):
            continue
        if route.get("match") and len(dests) < 2:
            continue  # a match pinned to one subset (testers to canary, say) keeps its route
        extra = dict((k, v) for k, v in dests[0].items() if k in ("host", "port"))
        route["destinations"] = [dict(extra, **item) for item in pair]
        shifted += 1
    if not shifted:
        raise ValueError("service %r has no route between subsets %r and %r to shift" % (service, stable, canary))
    return out


def route_weights(model, service):
    """{subset: weight} of the shiftable routes of ``service`` in a raw model (for reports)."""
    for svc in model.get("services") or []:
        if isinstance(svc, dict) and svc.get("name") == service:
            for route in svc.get("routes") or []:
                dests = route.get("destinations") or []
                if len(dests) > 1:
                    return dict((d.get("subset"), d.get("weight")) for d in dests)
    return {}


def canary_error_query(model, service, canary="canary"):
    """PromQL for the share of 5xx answers (0..1) of ``service``'s ``canary`` subset in a raw model.

    Selects istio_requests_total reported by the destination for the service's host (its name
    when it has none), the model's namespace and the ``version`` label of the canary subset (the
    subset name when the subset is not in the model or has no such label); subsets left out of
    the model are DEFAULT_SUBSETS, as validation fills them in.
    """
    found = [s for s in (model.get("services") or []) if isinstance(s, dict) and s.get("name") == service]
    svc = found[0] if found else {}
    subsets = svc.get("subsets", DEFAULT_SUBSETS)
    chosen = [s for s in subsets or [] if isinstance(s, dict) and s.get("name") == canary]
    version = ((chosen[0].get("labels") or {}) if chosen else {}).get("version", canary)
    selector = ('reporter="destination",destination_service_name="%s",destination_service_namespace="%s",'
                'destination_version="%s"' % (svc.get("host", service), model.get("namespace", "default"), version))
    return ('sum(rate(istio_requests_total{%s,response_code=~"5.."}[1m])) / sum(rate(istio_requests_total{%s}[1m]))'
            % (selector, selector))
