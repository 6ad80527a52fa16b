# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small wrapper over the kubernetes dynamic client for the control plane and injection modules.

Reads objects, dry-runs server-side applies and patches. The decisions live in
istio_operator.py and sidecar_injection.py; this file only moves data to and from the API server.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

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
        result = resource.get(namespace=namespace if resource.namespaced else None, label_selector=label_selector)
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

    def delete(self, api_version, kind, name, namespace=None):
        resource = self.resource(api_version, kind)
        if resource is None:
            return False
        try:
            resource.delete(name=name, namespace=namespace if resource.namespaced else None)
        except NotFoundError:
            return False
        return True
