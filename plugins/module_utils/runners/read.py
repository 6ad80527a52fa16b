# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The work of the mesh_read module: several reads of the API server in one module run.

A role that reads five kinds used to run kubernetes.core.k8s_info five times, and each run pays for
a Python start and the kubernetes client's import (most of a second); one mesh_read pays once.
Each query is ``{api_version, kind, namespace?, name?, label_selectors?}`` and its answer is
``{..the query.., resources: [...]}``, the shape of a registered k8s_info loop's ``results``. A kind
the server does not serve, a missing namespace or a missing named object read as no resources,
as with k8s_info.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils.kube.client import Kube
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import RunnerError, connect

QUERY_KEYS = ("api_version", "kind", "namespace", "name", "label_selectors")


def query_of(index, raw):
    """One query, checked: RunnerError naming queries[index] and the accepted keys."""
    if not isinstance(raw, dict):
        raise RunnerError("queries[%d] must be a mapping with %s, not %r" % (index, ", ".join(QUERY_KEYS), raw))
    unknown = sorted(set(raw) - set(QUERY_KEYS))
    if unknown:
        raise RunnerError("queries[%d]: unknown key %s; accepted: %s" % (index, ", ".join(unknown), ", ".join(QUERY_KEYS)))
    missing = [key for key in ("api_version", "kind") if not raw.get(key)]
    if missing:
        raise RunnerError("queries[%d]: %s required" % (index, " and ".join(missing)))
    selectors = raw.get("label_selectors") or []
    if isinstance(selectors, str):
        selectors = [selectors]
    if not isinstance(selectors, list) or not all(isinstance(s, str) for s in selectors):
        raise RunnerError("queries[%d]: label_selectors must be a list of strings" % index)
    return {"api_version": str(raw["api_version"]), "kind": str(raw["kind"]), "namespace": raw.get("namespace") or "",
            "name": raw.get("name") or "", "label_selectors": selectors}


def read_one(kube, query):
    """The objects one query names (a list)."""
    namespace = query["namespace"] or None
    if query["name"]:
        obj = kube.get(query["api_version"], query["kind"], query["name"], namespace=namespace)
        return [obj] if obj else []
    return kube.list(query["api_version"], query["kind"], namespace=namespace,
                     label_selector=",".join(query["label_selectors"]) or None)


def run(params, check_mode=False, kube_factory=Kube):  # pylint: disable=unused-argument
    """Read every query in order; never changes anything (so check mode reads too)."""
    queries = [query_of(i, q) for i, q in enumerate(params.get("queries") or [])]
    if not queries:
        return {"changed": False, "results": []}
    kube = connect(params, kube_factory)
    results = []
    for query in queries:
        try:
            resources = read_one(kube, query)
        except Exception as exc:  # pylint: disable=broad-except
            where = " in %s" % query["namespace"] if query["namespace"] else ""
            raise RunnerError("cannot read %s %s%s: %s" % (query["api_version"], query["kind"], where, exc), results=results)
        results.append(dict(query, resources=resources))
    return {"changed": False, "results": results}
