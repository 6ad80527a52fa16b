# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plaintext traffic that Prometheus saw reaching the workloads a change makes STRICT."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils.access.gates import check_result
from ansible_collections.meshops.istio.plugins.module_utils.access.mtls import effective_mtls
from ansible_collections.meshops.istio.plugins.module_utils.access.workloads import workload_in, workload_ports
from ansible_collections.meshops.istio.plugins.module_utils.kube.names import is_dns_subdomain


def _promql_alternatives(names):
    r"""A regex alternation of Kubernetes names inside a PromQL string literal.

    Names are DNS names, so '.' is the only regex metacharacter they hold; its backslash is
    doubled because PromQL strings use Go escapes (a bare '\-' or '\.' would not parse).
    """
    for name in names:
        if not is_dns_subdomain(name):
            raise ValueError("%r is not a Kubernetes name" % name)
    return "|".join(n.replace(".", "\\\\.") for n in sorted(names))


def plaintext_query(namespaces=None, workloads=None, window="10m"):
    """PromQL for plaintext requests received by the scope over ``window``."""
    selector = 'reporter="destination",connection_security_policy!="mutual_tls"'
    if namespaces:
        selector += ',destination_workload_namespace=~"%s"' % _promql_alternatives(namespaces)
    if workloads:
        selector += ',destination_workload=~"%s"' % _promql_alternatives(workloads)
    return ("sum by (source_workload_namespace, source_workload, destination_workload_namespace, destination_workload) "
            "(increase(istio_requests_total{%s}[%s])) > 0" % (selector, window))


def plaintext_offenders(response):
    """Offenders from a Prometheus /api/v1/query response to plaintext_query()."""
    if not isinstance(response, dict) or response.get("status") != "success":
        what = response.get("error") or response.get("status") if isinstance(response, dict) else response
        raise ValueError("Prometheus answered %r" % (what,))
    out = []
    for sample in (response.get("data") or {}).get("result") or []:
        metric = sample.get("metric") or {}
        value = float((sample.get("value") or [0, "0"])[1])
        if value <= 0:
            continue
        src = "%s/%s" % (metric.get("source_workload_namespace", "unknown"), metric.get("source_workload", "unknown"))
        dst = "%s/%s" % (metric.get("destination_workload_namespace", "unknown"), metric.get("destination_workload", "unknown"))
        out.append({"source": src, "destination": dst, "requests": value,
                    "text": "%s -> %s: %g plaintext requests" % (src, dst, value)})
    return sorted(out, key=lambda o: (o["source"], o["destination"]))


def prometheus_gate(response):
    if response is None:
        return {"name": "prometheus_plaintext", "passed": True, "checked": 0, "refusals": [], "notes": [],
                "skipped": "no Prometheus URL given"}
    offenders = plaintext_offenders(response)
    return check_result("prometheus_plaintext", len(offenders), [o["text"] for o in offenders])


def newly_strict(before, after):
    """Workloads (with sidecar) that have a port STRICT after the change and not before."""
    out = []
    for wl in after["workloads"]:
        if not wl["sidecar"] or wl.get("gateway"):
            continue
        was = workload_in(before, wl)
        for port in workload_ports(after, wl) or [None]:
            if effective_mtls(after, wl, port)[0] == "STRICT" and effective_mtls(before, was, port)[0] != "STRICT":
                out.append(wl)
                break
    return out
