# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The work of the access_matrix module: read the cluster, compute the matrix before and after the
proposed change, run the gates and guards, and write the report files.

Decisions come from the access/ package; this file reads their inputs from the API server (and
Prometheus, through an injected `fetch(url) -> (response, info)`, the module's fetch_url). `run`
returns the module result and raises RunnerError; it never exits.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os

from ansible.module_utils.six.moves.urllib.parse import urlencode
from ansible_collections.meshops.istio.plugins.module_utils.access import gates as ag, identity as aid, matrix as am
from ansible_collections.meshops.istio.plugins.module_utils.access import plaintext as apt, report as ar, workloads as aw
from ansible_collections.meshops.istio.plugins.module_utils.kube.client import Kube
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import RunnerError, connect

READ = (
    ("v1", "Pod"), ("v1", "Service"),
    ("security.istio.io/v1", "PeerAuthentication"), ("security.istio.io/v1", "AuthorizationPolicy"),
    ("networking.istio.io/v1", "Gateway"), ("networking.istio.io/v1", "VirtualService"),
)
CHECKS = ("strict_gate", "required_flows", "ingress", "probes", "prometheus_scrape", "identity_mtls", "prometheus_plaintext",
          "principals")


def read_cluster(kube):
    objects = []
    for api_version, kind in READ:
        objects.extend(kube.list(api_version, kind))
    return objects


def run_checks(params, kube, before, after, fetch=None):
    checks = []
    wanted = params["checks"]
    proposed_aps = [o for o in params["proposed"] if o.get("kind") == "AuthorizationPolicy"]
    namespaces = params["namespaces"] or None
    if "strict_gate" in wanted:
        checks.append(ag.strict_gate(before, after, params["clients"], params["gate_exclude_namespaces"],
                                     params["requests"], namespaces))
    if "required_flows" in wanted:
        checks.append(ag.required_flows_gate(after, params["required_flows"]))
    if "ingress" in wanted:
        checks.append(ag.ingress_guard(before, after))
    if "probes" in wanted:
        checks.append(ag.probe_guard(before, after, namespaces, params["exclude_namespaces"]))
    if "prometheus_scrape" in wanted:
        checks.append(ag.scrape_guard(before, after, params["prometheus"], namespaces, params["exclude_namespaces"]))
    if "identity_mtls" in wanted:
        policies = params["identity_policies"] if params["identity_policies"] is not None else (proposed_aps or None)
        checks.append(aid.identity_guard(after, policies))
    if "prometheus_plaintext" in wanted:
        checks.append(plaintext_check(params, before, after, fetch))
    if "principals" in wanted:
        accounts = ["%s/%s" % (o["metadata"].get("namespace"), o["metadata"]["name"]) for o in kube.list("v1", "ServiceAccount")]
        checks.append(aid.principals_check(after, accounts))
    return checks


def plaintext_check(params, before, after, fetch):
    scope = apt.newly_strict(before, after)
    response = params["prometheus_response"]
    if response is None and params["prometheus_url"] and scope:
        query = apt.plaintext_query(sorted(set(w["namespace"] for w in scope)), sorted(set(w["name"] for w in scope)),
                                    params["prometheus_window"])
        url = params["prometheus_url"].rstrip("/") + "/api/v1/query?" + urlencode({"query": query})
        resp, info = fetch(url)
        if info["status"] != 200:
            raise ValueError("Prometheus at %s answered %s: %s" % (params["prometheus_url"], info["status"], info.get("msg")))
        response = json.loads(resp.read())
    if response is None:
        result = apt.prometheus_gate(None)
        result["skipped"] = "no workload becomes STRICT" if not scope else "no Prometheus URL given"
        return result
    result = apt.prometheus_gate(response)
    result["scope"] = [w["id"] for w in scope]
    return result


def write_if_changed(path, content, check_mode):
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == content:
                return False
    except (IOError, OSError):
        pass
    if not check_mode:
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.rename(tmp, path)
    return True


def _run(params, check_mode, kube_factory, fetch):
    kube = connect(params, kube_factory)
    current = read_cluster(kube)
    root, td = params["root_namespace"], params["trust_domain"]
    after = aw.build_index(aw.overlay(current, params["proposed"], params["removed"]), root, td)
    if params["baseline"] == "open":
        before = aw.build_index(aw.without_security_policies(current), root, td)
    else:
        before = aw.build_index(current, root, td)
    kwargs = dict(requests=params["requests"], namespaces=params["namespaces"] or None,
                  exclude_namespaces=params["exclude_namespaces"])
    matrix = am.compute_matrix(after, **kwargs)
    changes = []
    if params["proposed"] or params["removed"] or params["baseline"] == "open":
        changes = ar.diff_matrices(am.compute_matrix(before, **kwargs), matrix)
    checks = run_checks(params, kube, before, after, fetch)
    refusals = ["%s: %s" % (c["name"], r) for c in checks for r in c["refusals"]]
    result = dict(changed=False, matrix=matrix, table=ar.render_table(matrix), grid=ar.render_grid(matrix), changes=changes,
                  checks=checks,
                  refusals=refusals, passed=not refusals, summary=[ar.check_summary(c) for c in checks])
    if params["output_dir"]:
        base = os.path.join(params["output_dir"], params["report_name"])
        files = [(base + ".json", json.dumps(matrix, indent=2, sort_keys=True) + "\n"),
                 (base + ".md", ar.render_markdown(matrix))]
        for path, content in files:
            if write_if_changed(path, content, check_mode):
                result["changed"] = True
        result["files"] = [f[0] for f in files]
    return result


def run(params, check_mode=False, kube_factory=Kube, fetch=None):
    """Do what the access_matrix module was asked; return the module result (a dict).

    `fetch(url) -> (response, info)` asks Prometheus (only for the prometheus_plaintext check without
    prometheus_response). A ValueError (an input or an answer that cannot be used) becomes a
    RunnerError with its message. Raises RunnerError.
    """
    try:
        return _run(params, check_mode, kube_factory, fetch)
    except ValueError as exc:
        raise RunnerError(str(exc))
