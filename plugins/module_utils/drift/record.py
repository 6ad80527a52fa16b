# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The desired-state records: what each managed stage applied, kept in the cluster itself.

One ConfigMap per stage, `meshops-drift-<stage>` in the mesh's namespace, labelled with the
collection's managed labels (role `drift`) and `meshops.istio/drift-stage=<stage>`; its binaryData
`desired.json.gz` is the gzipped JSON {"version": 1, "stage": ..., "objects": [...]} (the ConfigMap
API carries it base64-encoded). Each object keeps only what the collection sets: apiVersion, kind,
metadata name/namespace/labels/annotations and the rest of the body as applied; the API server's
bookkeeping is dropped. A Secret's data is kept as digests (a record is readable by whoever reads
ConfigMaps), and so is any string too large for a ConfigMap.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import base64
import copy
import gzip
import json
import re

from ansible_collections.meshops.istio.plugins.module_utils.drift.compare import digest_marker
from ansible_collections.meshops.istio.plugins.module_utils.kube.names import (
    collection_key, is_dns_subdomain, managed_labels,
)

VERSION = 1
ROLE = "drift"
STAGE_LABEL = collection_key("drift-stage")
PREFIX = "meshops-drift-"
DATA_KEY = "desired.json.gz"
# ConfigMaps hold at most 1 MiB; strings longer than this are kept as digests when a record would not fit.
MAX_RECORD = 900 * 1024
LARGE_STRING = 16 * 1024
_METADATA_KEPT = ("name", "namespace", "labels", "annotations")
_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
_STAGE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$")


class RecordError(Exception):
    pass


def stage_problem(stage):
    """None, or why `stage` cannot name a record (a DNS label of at most 42 characters)."""
    if not isinstance(stage, str) or not _STAGE.match(stage):
        return ("stage=%r is not accepted: lower-case letters, digits and '-', at most 42 characters, "
                "such as control-plane or traffic-bookinfo" % (stage,))
    return None


def record_name(stage):
    return PREFIX + stage


def record_labels(stage):
    labels = managed_labels(ROLE)
    labels[STAGE_LABEL] = stage
    return labels


def selector():
    """Label selector of every record."""
    return ",".join(["%s=%s" % (k, v) for k, v in managed_labels(ROLE).items()] + [STAGE_LABEL])


def desired_object(obj, default_namespace=None, namespaced=None):
    """The part of an applied object that the record keeps (a new dict)."""
    if not isinstance(obj, dict) or not obj.get("kind") or not obj.get("apiVersion"):
        raise RecordError("not a Kubernetes object (apiVersion and kind are required): %r" % (obj,))
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    if not meta.get("name"):
        raise RecordError("%s without metadata.name cannot be recorded" % obj.get("kind"))
    meta = dict((k, meta[k]) for k in _METADATA_KEPT if meta.get(k) not in (None, {}, ""))
    annotations = dict((k, v) for k, v in (meta.get("annotations") or {}).items() if k not in _DROPPED_ANNOTATIONS)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    if namespaced is False:
        meta.pop("namespace", None)
    elif not meta.get("namespace") and namespaced and default_namespace:
        meta["namespace"] = default_namespace
    out["metadata"] = meta
    if out["kind"] == "Secret" and out["apiVersion"] == "v1":
        for key in ("data", "stringData"):
            if isinstance(out.get(key), dict):
                out[key] = dict((k, digest_marker(v)) for k, v in out[key].items())
    return out


def _shrink(value):
    if isinstance(value, str) and len(value) > LARGE_STRING:
        return digest_marker(value)
    if isinstance(value, dict):
        return dict((k, _shrink(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_shrink(v) for v in value]
    return value


def encode(stage, objects):
    """The binaryData value (base64 text) of a record holding `objects`."""
    payload = {"version": VERSION, "stage": stage, "objects": objects}
    data = _gzip(payload)
    if len(data) * 4 // 3 > MAX_RECORD:
        payload["objects"] = [_shrink(o) for o in objects]
        data = _gzip(payload)
        if len(data) * 4 // 3 > MAX_RECORD:
            raise RecordError("the desired state of stage %s is too large for a ConfigMap (%d bytes gzipped)"
                              % (stage, len(data)))
    return base64.b64encode(data).decode("ascii")


def _gzip(payload):
    text = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return gzip.compress(text, 9, mtime=0) if _HAS_MTIME else gzip.compress(text, 9)


try:
    gzip.compress(b"", 9, mtime=0)
    _HAS_MTIME = True
except TypeError:  # pragma: no cover - Python < 3.8
    _HAS_MTIME = False


def decode(configmap):
    """The record payload {"version", "stage", "objects"} of a record ConfigMap; RecordError when unreadable."""
    name = (configmap.get("metadata") or {}).get("name")
    raw = (configmap.get("binaryData") or {}).get(DATA_KEY)
    if not raw:
        raise RecordError("ConfigMap %s has no %s" % (name, DATA_KEY))
    try:
        payload = json.loads(gzip.decompress(base64.b64decode(raw)).decode("utf-8"))
    except (ValueError, OSError, TypeError) as exc:
        raise RecordError("ConfigMap %s: cannot read %s: %s" % (name, DATA_KEY, exc))
    if not isinstance(payload, dict) or payload.get("version") != VERSION or not isinstance(payload.get("objects"), list):
        raise RecordError("ConfigMap %s: %s is not a version %d record" % (name, DATA_KEY, VERSION))
    return payload


def configmap(stage, namespace, objects):
    """The record ConfigMap of a stage."""
    name = record_name(stage)
    if not is_dns_subdomain(name):
        raise RecordError("record name %s is not a valid ConfigMap name" % name)
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": record_labels(stage)},
            "binaryData": {DATA_KEY: encode(stage, objects)}}
