# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The work of the drift_record and mesh_drift modules.

`record`: keep what a stage applied in its record ConfigMap (drift/record.py), writing only when
it differs. `check`: read every record and the live objects of one cluster in one module call,
compare them (drift/compare.py) minus the ignored fields (drift/ignore.py), with drift_mode
`correct` server-side apply the desired fields of the drifted objects, and write the reports
(drift/report.py).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import copy
import json
import os
import shutil
import tempfile
import time
import traceback

from ansible_collections.meshops.istio.plugins.module_utils.drift import compare as cmp
from ansible_collections.meshops.istio.plugins.module_utils.drift import ignore as ign
from ansible_collections.meshops.istio.plugins.module_utils.drift import record as rec
from ansible_collections.meshops.istio.plugins.module_utils.drift import report as rep
from ansible_collections.meshops.istio.plugins.module_utils.kube.client import FIELD_MANAGER, Kube, KubeError, api_path
from ansible_collections.meshops.istio.plugins.module_utils.kube import manifest
from ansible_collections.meshops.istio.plugins.module_utils.kube.names import object_key
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import RunnerError, connect

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
# Correction order: what other objects live in or are defined by first.
_FIRST = {"Namespace": 0, "CustomResourceDefinition": 1, "ServiceAccount": 2, "ConfigMap": 3, "Secret": 3}


def _path(api_version, plural, namespaced, namespace, name=None):
    return api_path(api_version, plural, namespace if namespaced else None, name)


def _get(kube, path):
    try:
        return kube.call("GET", path)
    except KubeError as err:
        if err.status == 404:
            return None
        raise


def _apply(kube, path, body, field_manager=FIELD_MANAGER):
    return kube.call("PATCH", path, [("fieldManager", field_manager), ("force", "true")], body=body,
                     content_type=APPLY_CONTENT_TYPE)


# ---------------------------------------------------------------------- record
def _load_files(paths):
    objects = []
    for path in paths or []:
        try:
            with open(path) as handle:
                docs = manifest.load_all(handle)
        except (IOError, OSError, manifest.YAMLError) as exc:
            raise RunnerError("cannot read manifest %s: %s" % (path, exc))
        for doc in docs:
            if not doc:
                continue
            if doc.get("kind", "").endswith("List") and isinstance(doc.get("items"), list):
                objects.extend(doc["items"])
            else:
                objects.append(doc)
    return objects


def _generated(params, run_command):
    """The objects `istioctl manifest generate` renders for the IstioOperator (the control plane's desired state)."""
    from ansible_collections.meshops.istio.plugins.module_utils.runners.control_plane import generate
    workdir = tempfile.mkdtemp(prefix="meshops-drift-")
    try:
        path = os.path.join(workdir, "istiooperator.yaml")
        with open(path, "w") as handle:
            handle.write(params["operator"])
        return generate(params, run_command, path)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _scopes(kube, objects):
    """{(apiVersion, kind): namespaced or None}; kinds the server does not serve yet take the scope
    of a CRD among `objects`."""
    crd_scope = {}
    for obj in objects:
        if obj.get("kind") == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            for version in spec.get("versions") or []:
                crd_scope[("%s/%s" % (spec.get("group"), version.get("name")), (spec.get("names") or {}).get("kind"))] = \
                    spec.get("scope") == "Namespaced"
    scopes = {}
    for obj in objects:
        key = (obj.get("apiVersion"), obj.get("kind"))
        if key not in scopes:
            namespaced = kube.namespaced(*key)
            scopes[key] = crd_scope.get(key) if namespaced is None else namespaced
    return scopes


def record(params, check_mode=False, run_command=None, kube_factory=Kube):
    """drift_record: the module result; RunnerError for a bad stage or unreadable input."""
    problem = rec.stage_problem(params["stage"])
    if problem:
        raise RunnerError(problem)
    kube = connect(params, kube_factory)
    namespace = params["namespace"]
    name = rec.record_name(params["stage"])
    path = "/api/v1/namespaces/%s/configmaps/%s" % (namespace, name)
    live = _get(kube, path)
    result = {"changed": False, "record": "%s/%s" % (namespace, name), "objects": 0}
    if params["state"] == "absent":
        if live is not None:
            result["changed"] = True
            if not check_mode:
                try:
                    kube.call("DELETE", path)
                except KubeError as err:
                    if err.status != 404:
                        raise
        return result
    objects = list(params.get("objects") or []) + _load_files(params.get("files"))
    if params.get("operator"):
        objects += _generated(params, run_command)
    scopes = _scopes(kube, objects)
    desired = {}
    try:
        for obj in objects:
            one = rec.desired_object(obj, params.get("default_namespace"), scopes.get((obj.get("apiVersion"), obj.get("kind"))))
            desired[object_key(one)] = one
        wanted = rec.configmap(params["stage"], namespace, list(desired.values()))
    except rec.RecordError as exc:
        raise RunnerError("stage %s: %s" % (params["stage"], exc))
    result["objects"] = len(desired)
    if live is not None:
        try:
            same = rec.decode(live)["objects"] == list(desired.values())
        except rec.RecordError:
            same = False
        labels = (live.get("metadata") or {}).get("labels") or {}
        if same and all(labels.get(k) == v for k, v in rec.record_labels(params["stage"]).items()):
            return result
    result["changed"] = True
    if check_mode:
        return result
    if _get(kube, "/api/v1/namespaces/%s" % namespace) is None:
        kube.create_namespace(namespace)
    _apply(kube, path, wanted)
    return result


# ---------------------------------------------------------------------- check and correct
def _now_iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _records(kube, namespace):
    answer = kube.call("GET", "/api/v1/namespaces/%s/configmaps" % namespace, [("labelSelector", rec.selector())])
    entries = []
    for item in sorted(answer.get("items") or [], key=lambda i: i["metadata"]["name"]):
        payload = rec.decode(item)
        stage = ((item.get("metadata") or {}).get("labels") or {}).get(rec.STAGE_LABEL) or payload.get("stage")
        entries.extend((stage, obj) for obj in payload["objects"])
    return entries


def _hpas(kube):
    try:
        return kube.call("GET", "/apis/autoscaling/v2/horizontalpodautoscalers").get("items") or []
    except KubeError as err:
        if err.status == 404:
            return []
        raise


def compare_object(desired, live, user_rules, hpa):
    """[{path, before, after}] of `live` against `desired` minus the ignored fields."""
    patterns = ign.pointers_for(desired, user_rules, hpa, live)
    fields = []
    for tokens, before, after in cmp.diff(desired, live):
        if ign.ignored(tokens, patterns):
            continue
        fields.append({"path": cmp.join_pointer(tokens), "before": before, "after": after})
    return fields


def apply_body(desired, user_rules, hpa, live=None):
    """The desired object without its ignored fields (never fight the controller that owns them)."""
    body = copy.deepcopy(desired)
    for tokens in ign.pointers_for(desired, user_rules, hpa, live):
        if tokens and tokens[0] not in ("apiVersion", "kind") and tokens[:2] not in (["metadata", "name"], ["metadata", "namespace"]):
            cmp.remove_pointer(body, tokens)
    return body


def _inspect(kube, entries, user_rules):
    """([(stage, desired, resource, live, fields)], hpa) for every recorded object."""
    resources = {}
    for _stage, obj in entries:
        key = (obj["apiVersion"], obj["kind"])
        if key not in resources:
            resource = kube.resource(*key)
            resources[key] = None if resource is None else (resource.name, resource.namespaced)
    hpa = ign.hpa_targets(_hpas(kube))

    def read(entry):
        obj = entry[1]
        resource = resources[(obj["apiVersion"], obj["kind"])]
        if resource is None:
            return None
        meta = obj["metadata"]
        return _get(kube, _path(obj["apiVersion"], resource[0], resource[1], meta.get("namespace"), meta["name"]))

    out = []
    for entry, live, error in kube.each(read, entries):
        if error is not None:
            raise error
        stage, desired = entry
        fields = compare_object(desired, live, user_rules, hpa) if live is not None else \
            [{"path": "", "before": "present", "after": None}]
        out.append((stage, desired, resources[(desired["apiVersion"], desired["kind"])], live, fields))
    return out, hpa


def _correct(kube, item, user_rules, hpa):
    """Apply the desired fields of one drifted object; (fields left, why not corrected or None)."""
    _stage, desired, resource, live, _fields = item
    if cmp.has_digest(desired):
        return None, "recorded by digest only (a Secret's data or a very large value): re-run the stage's playbook"
    if resource is None:
        return None, "%s/%s is not served by the API server (its CRD is missing)" % (desired["apiVersion"], desired["kind"])
    meta = desired["metadata"]
    answer = _apply(kube, _path(desired["apiVersion"], resource[0], resource[1], meta.get("namespace"), meta["name"]),
                    apply_body(desired, user_rules, hpa, live))
    left = compare_object(desired, answer, user_rules, hpa)
    return left, ("fields still differ after the apply: %s" % ", ".join(f["path"] for f in left)) if left else None


def write_reports(report_dir, report, managed, now_epoch):
    """report.json, report.md, junit.xml and drift.prom in `report_dir` (each replaced whole)."""
    os.makedirs(report_dir, exist_ok=True)
    previous = None
    prom_path = os.path.join(report_dir, "drift.prom")
    if os.path.exists(prom_path):
        with open(prom_path) as handle:
            previous = rep.previous_success(handle.read(), report["cluster"])
    files = {"report.json": json.dumps(report, indent=2, sort_keys=True) + "\n",
             "report.md": rep.markdown(report),
             "junit.xml": rep.junit(report, managed),
             "drift.prom": rep.prometheus(report, now_epoch, previous)}
    for name, text in files.items():
        tmp = os.path.join(report_dir, ".%s.tmp" % name)
        with open(tmp, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o640)
        os.rename(tmp, os.path.join(report_dir, name))
    return sorted(os.path.join(report_dir, n) for n in files)


def check(params, check_mode=False, kube_factory=Kube, clock=time.time):
    """mesh_drift: the module result (never fails for the cluster's sake: an unreachable cluster is
    status `error`); RunnerError only for invalid settings, before anything is read or changed."""
    errors = ign.validate_rules(params.get("ignore"), params.get("ignore_var") or "mesh_drift_ignore")
    if params["mode"] not in rep.MODES:
        errors.insert(0, "drift_mode=%s is not accepted; accepted: %s" % (params["mode"], ", ".join(rep.MODES)))
    if errors:
        raise RunnerError("; ".join(errors), errors=errors)
    user_rules = params.get("ignore") or []
    started = clock()
    mode = "check" if check_mode else params["mode"]
    report = {"cluster": params["cluster"], "mode": mode, "status": "clean", "started": _now_iso(started),
              "checked": 0, "drifted": 0, "corrected": 0, "error": params.get("error") or None, "objects": [],
              "api_calls": 0}
    managed = []
    result = {"changed": False}
    if not report["error"]:
        try:
            kube = connect(params, kube_factory)
            entries = _records(kube, params["namespace"])
            if not entries:
                raise RunnerError("no desired-state records (ConfigMaps labelled %s) in namespace %s: converge the cluster "
                                  "with site.yml (or the stage playbooks) first" % (rec.STAGE_LABEL, params["namespace"]))
            inspected, hpa = _inspect(kube, entries, user_rules)
            report["checked"] = len(inspected)
            managed = [(s, d["kind"], d["metadata"].get("namespace") or "", d["metadata"]["name"]) for s, d, _r, _l, _f in inspected]
            drifted = [item for item in inspected if item[4]]
            drifted.sort(key=lambda item: _FIRST.get(item[1]["kind"], 9))
            for item in drifted:
                entry = rep.object_entry(item[0], item[1], item[4], missing=item[3] is None)
                if mode == "correct":
                    left, why = _correct(kube, item, user_rules, hpa)
                    entry["corrected"] = why is None
                    if why:
                        entry["not_corrected"] = why
                report["objects"].append(entry)
            report["drifted"] = len(drifted)
            report["corrected"] = len([e for e in report["objects"] if e["corrected"]])
            report["api_calls"] = kube.calls
        except RunnerError as exc:
            report["error"] = exc.msg
        except Exception as exc:  # pylint: disable=broad-except
            # the cluster cannot be read (down, refused, forbidden): this cluster's status is error
            reason = getattr(exc, "reason", None)
            report["error"] = ("cannot reach the API server: %s" % reason if reason is not None and not isinstance(exc, KubeError)
                               else "%s: %s" % (type(exc).__name__, exc))
            result["exception"] = traceback.format_exc()
    finished = clock()
    report["finished"] = _now_iso(finished)
    report["duration"] = round(finished - started, 3)
    report["status"] = rep.status_of(mode, report["drifted"], report["corrected"], report["error"])
    report["objects"].sort(key=lambda e: (e["stage"], e["kind"], e["namespace"], e["name"]))
    if params.get("report_dir"):
        result["files"] = write_reports(params["report_dir"], report, managed, finished)
    result.update({"changed": report["corrected"] > 0, "status": report["status"], "report": report,
                   "msg": "%s: %s (%d checked, %d drifted, %d corrected)%s" % (
                       params["cluster"], report["status"], report["checked"], report["drifted"], report["corrected"],
                       ": " + report["error"] if report["error"] else "")})
    if report["objects"]:
        result["diff"] = [{"before_header": rep.label(e), "after_header": rep.label(e),
                           "prepared": "\n".join("%s: %s -> %s" % (f["path"] or "/", json.dumps(f["before"]), json.dumps(f["after"]))
                                                 for f in e["fields"]) + "\n"} for e in report["objects"]]
    return result
