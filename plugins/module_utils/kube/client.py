# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one Kubernetes client of the collection's modules.

`Kube` holds one kubernetes Configuration and one ApiClient (auth, TLS, a connection pool sized for
`workers` threads) for a kubeconfig and context, and talks to the API server two ways:

- raw JSON calls (`call`, `each` over a thread pool, and a few core reads and writes): no API
  discovery, so a run that knows its paths pays for none;
- the kubernetes dynamic client (`resource`, `get`, `list`, `dry_run_apply`, `merge_patch`,
  `create`, `delete`), created on first use, since its discovery costs round trips.

The decisions live in the istio, addons, traffic and security packages; this file only moves data
to and from the API server. Waiting for objects lives in kube/waiter.py.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.meshops.istio.plugins.module_utils.kube.names import COLLECTION
from ansible_collections.meshops.istio.plugins.module_utils.kube.waiter import wait_gone  # noqa: F401 pylint: disable=unused-import

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
HAS_KUBERNETES = KUBERNETES_IMPORT_ERROR is None

DEFAULT_WORKERS = 8
FIELD_MANAGER = COLLECTION


class KubeError(Exception):
    """The API server answered a raw call with an error status."""

    def __init__(self, status, reason, message):
        self.status = status
        self.reason = reason
        self.message = message
        super(KubeError, self).__init__("%s %s: %s" % (status, reason, message))


class KubeClientError(Exception):
    """No client could be made: the kubernetes library is missing, or the kubeconfig cannot be loaded."""


class Kube(object):
    """One kubeconfig and context: raw JSON calls and, on first use, a dynamic client."""

    def __init__(self, kubeconfig=None, context=None, workers=DEFAULT_WORKERS):
        if not HAS_KUBERNETES:
            raise KubeClientError("the kubernetes Python client is required: %s" % KUBERNETES_IMPORT_ERROR)
        cfg = Configuration()
        kube_config.load_kube_config(config_file=kubeconfig, context=context or None,
                                     client_configuration=cfg, persist_config=False)
        cfg.connection_pool_maxsize = max(4, workers)
        self.api = api_client.ApiClient(configuration=cfg)
        self.workers = max(1, workers)
        self.calls = 0
        self._dynamic = None
        self._lock = threading.Lock()
        self._refreshed = False

    # ------------------------------------------------------------------ raw JSON calls
    def supports_raw_calls(self):
        """False with a kubernetes client too old for `call` (no ApiClient.param_serialize)."""
        return hasattr(self.api, "param_serialize")

    def call(self, method, path, query=None, body=None, content_type="application/json"):
        """One API call; the decoded JSON answer, or KubeError for a status of 400 and above."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        serialized = self.api.param_serialize(method=method, resource_path=path, query_params=query or [],
                                              header_params=headers, body=body, auth_settings=["BearerToken"])
        with self._lock:
            self.calls += 1
        response = self.api.call_api(*serialized)
        return decode_response(response.status, response.reason, response.read())

    def each(self, func, items):
        """Run func over items on the thread pool; returns [(item, result, error)] in order, where
        error is the KubeError func raised (other exceptions propagate)."""
        def one(item):
            try:
                return item, func(item), None
            except KubeError as err:
                return item, None, err
        if len(items) <= 1 or self.workers == 1:
            return [one(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
            return list(pool.map(one, items))

    def namespace_exists(self, namespace):
        try:
            self.call("GET", "/api/v1/namespaces/%s" % namespace)
            return True
        except KubeError as err:
            if err.status == 404:
                return False
            raise

    def create_namespace(self, namespace, field_manager=FIELD_MANAGER, labels=None):
        """Create a namespace; one that already exists is left as it is."""
        metadata = {"name": namespace}
        if labels:
            metadata["labels"] = dict(labels)
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
        try:
            self.call("POST", "/api/v1/namespaces", [("fieldManager", field_manager)], body=body)
        except KubeError as err:
            if err.status != 409:
                raise

    def service_names(self, namespace):
        items = self.call("GET", "/api/v1/namespaces/%s/services" % namespace).get("items") or []
        return [item["metadata"]["name"] for item in items]

    def pod_labels(self, namespace):
        """Labels of the namespace's pods that are neither being deleted nor finished."""
        items = self.call("GET", "/api/v1/namespaces/%s/pods" % namespace).get("items") or []
        return [item["metadata"].get("labels") or {} for item in items
                if not item["metadata"].get("deletionTimestamp")
                and (item.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]

    # ------------------------------------------------------------------ dynamic client
    @property
    def client(self):
        """The kubernetes DynamicClient over the same ApiClient, made (with its discovery) on first use."""
        if self._dynamic is None:
            with self._lock:
                if self._dynamic is None:
                    self._dynamic = DynamicClient(self.api)
        return self._dynamic

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

    def create(self, obj):
        """Create `obj` (a dict with apiVersion, kind and metadata); the object the server stored."""
        resource = self.resource(obj["apiVersion"], obj["kind"])
        metadata = obj.get("metadata") or {}
        return self.client.create(resource, body=obj,
                                  namespace=metadata.get("namespace") if resource.namespaced else None).to_dict()

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


def decode_response(status, reason, data):
    """The JSON payload of a raw answer; KubeError (with the server's reason and message) for status >= 400."""
    try:
        payload = json.loads(data) if data else {}
    except ValueError:
        payload = {"message": data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)}
    if status >= 400:
        raise KubeError(status, payload.get("reason") or reason, payload.get("message") or str(payload))
    return payload


# ---------------------------------------------------------------------- module helpers
def kube_argument_spec():
    """The connection options (documented by the meshops.istio.kube doc fragment)."""
    return dict(kubeconfig=dict(type="path", required=True), context=dict(type="str", default=""))


def require_kubernetes(module):
    """Fail the module, naming the library, when the kubernetes client is not installed."""
    if KUBERNETES_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)


def kube_from_params(params, workers=DEFAULT_WORKERS, factory=Kube):
    """The Kube of a module's kubeconfig and context; KubeClientError naming the kubeconfig when it
    cannot be loaded."""
    try:
        return factory(params["kubeconfig"], params.get("context") or None, workers)
    except KubeClientError:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        raise KubeClientError("cannot load kubeconfig %s: %s" % (params["kubeconfig"], exc))
