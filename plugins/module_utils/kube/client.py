# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small wrapper over the kubernetes dynamic client for the control plane and injection modules.

Reads objects, dry-runs server-side applies and patches. The decisions live in
istio_operator.py and sidecar_injection.py; this file only moves data to and from the API server.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import time
import traceback

KUBERNETES_IMPORT_ERROR = None
try:
    from kubernetes import config as kube_config
    from kubernetes.client import Configuration
    from kubernetes.client import api_client
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError
except ImportError:  # pragma: no cover - reported by the modules through missing_required_lib
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()
    NotFoundError = ResourceNotFoundError = Exception


class Kube(object):
    """A dynamic client for one kubeconfig and context."""

    def __init__(self, kubeconfig, context=None):
        cfg = Configuration()
        kube_config.load_kube_config(config_file=kubeconfig, context=context or None,
                                     client_configuration=cfg, persist_config=False)
        self.client = DynamicClient(api_client.ApiClient(configuration=cfg))
        self._refreshed = False

    def resource(self, api_version, kind):
        """The API resource for apiVersion/kind, or None when the server does not serve it."""
        try:
            return self.client.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            if self._refreshed:
                return None
            # CRDs may have been created since discovery was cached: look once more.
            self._refreshed = True
            self.client.resources.invalidate_cache()
            try:
                return self.client.resources.get(api_version=api_version, kind=kind)
            except ResourceNotFoundError:
                return None

    def get(self, api_version, kind, name, namespace=None):
        resource = self.resource(api_version, kind)
        if resource is None:
            return None
        try:
            return resource.get(name=name, namespace=namespace if resource.namespaced else None).to_dict()
        except NotFoundError:
            return None

    def list(self, api_version, kind, namespace=None, label_selector=None):
        resource = self.resource(api_version, kind)
        if resource is None:
            return []
        try:
            result = resource.get(namespace=namespace if resource.namespaced else None, label_selector=label_selector)
        except NotFoundError:
            # served when discovery was cached, gone now (its CRD was deleted): no such objects
            return []
        items = []
        for item in result.items:
            obj = item.to_dict()
            obj.setdefault("apiVersion", api_version)
            obj.setdefault("kind", kind)
            items.append(obj)
        return items

    def namespaced(self, api_version, kind):
        resource = self.resource(api_version, kind)
        return None if resource is None else resource.namespaced

    def dry_run_apply(self, obj, field_manager):
        """What a server-side apply of `obj` by `field_manager` would leave on the server."""
        resource = self.resource(obj["apiVersion"], obj["kind"])
        metadata = obj.get("metadata") or {}
        return self.client.server_side_apply(
            resource, body=obj, name=metadata.get("name"),
            namespace=metadata.get("namespace") if resource.namespaced else None,
            field_manager=field_manager, force_conflicts=True, dry_run="All").to_dict()

    def merge_patch(self, api_version, kind, name, patch, namespace=None, dry_run=False):
        resource = self.resource(api_version, kind)
        kwargs = {"dry_run": "All"} if dry_run else {}
        return self.client.patch(resource, body=patch, name=name,
                                 namespace=namespace if resource.namespaced else None,
                                 content_type="application/merge-patch+json", **kwargs).to_dict()

    def delete(self, api_version, kind, name, namespace=None, propagation=None):
        """Delete one object; False when it was not there. `propagation` is the
        propagationPolicy (Background, Foreground, Orphan); None leaves the server's default."""
        resource = self.resource(api_version, kind)
        if resource is None:
            return False
        kwargs = {"body": {"propagationPolicy": propagation}} if propagation else {}
        try:
            resource.delete(name=name, namespace=namespace if resource.namespaced else None, **kwargs)
        except NotFoundError:
            return False
        return True


def kube_argument_spec():
    """The connection options (documented by the meshops.istio.kube doc fragment)."""
    return dict(kubeconfig=dict(type="path", required=True), context=dict(type="str", default=""))


def wait_gone(kube, objects, timeout, interval=1.0, clock=time.monotonic, sleep=time.sleep):
    """Wait until none of `objects` exists any more (deletion is asynchronous: finalizers and
    foreground deletion keep an object until its dependents are gone). An object of the same name
    with another uid is a new object and does not count. Returns the objects still there at the
    deadline."""
    deadline = clock() + timeout
    remaining = list(objects)
    while True:
        lingering = []
        for obj in remaining:
            meta = obj.get("metadata") or {}
            current = kube.get(obj.get("apiVersion") or "v1", obj["kind"], meta["name"], meta.get("namespace"))
            if current is not None and (not meta.get("uid") or (current.get("metadata") or {}).get("uid") == meta["uid"]):
                lingering.append(obj)
        if not lingering or clock() >= deadline:
            return lingering
        remaining = lingering
        sleep(interval)
