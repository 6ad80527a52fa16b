# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one Kubernetes client of the collection's modules.

`Kube` reads a kubeconfig and context (what it says: kube/kubeconfig.py) and talks JSON to the API
server over one urllib3 connection pool sized for `workers` threads:

- raw calls (`call`, `each` over a thread pool, and a few core reads and writes): no API
  discovery, so a run that knows its paths pays for none;
- object calls by apiVersion and kind (`resource`, `get`, `list`, `create`, `dry_run_apply`,
  `merge_patch`, `delete`), which learn a kind's resource name and scope from its group version's
  discovery document, fetched once per run and group version (once more for a kind not found, in
  case its CRD was created since).

It does not import the kubernetes Python client: importing that package (with its config loaders,
models and their dependencies) took about 0.17 s of every module run, more than the API calls of
most runs; urllib3 and PyYAML, which it brings along, are all this needs.

The decisions live in the istio, addons, traffic and security packages; this file only moves data
to and from the API server. Waiting for objects lives in kube/waiter.py.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import shutil
import ssl
import tempfile
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.six.moves.urllib.parse import quote, urlencode
from ansible_collections.meshops.istio.plugins.module_utils.kube import kubeconfig as kcfg
from ansible_collections.meshops.istio.plugins.module_utils.kube.names import COLLECTION
from ansible_collections.meshops.istio.plugins.module_utils.kube.waiter import wait_gone  # noqa: F401 pylint: disable=unused-import

IMPORT_ERROR = None
try:
    import urllib3
    import yaml
except ImportError:  # pragma: no cover - reported by the modules through missing_required_lib
    IMPORT_ERROR = traceback.format_exc()
HAS_LIBS = IMPORT_ERROR is None

DEFAULT_WORKERS = 8
FIELD_MANAGER = COLLECTION
# No API call of a module waits on the server for long (watches are polls): a connection that
# cannot be made in 10 s or an answer that takes 5 minutes is an error, not a hang.
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 300.0


class KubeError(Exception):
    """The API server answered a call with an error status."""

    def __init__(self, status, reason, message):
        self.status = status
        self.reason = reason
        self.message = message
        super(KubeError, self).__init__("%s %s: %s" % (status, reason, message))


class KubeClientError(Exception):
    """No client could be made: urllib3 or PyYAML is missing, or the kubeconfig cannot be loaded."""


class Resource(object):
    """A kind the API server serves: its resource (plural) name and whether it is namespaced."""

    def __init__(self, api_version, kind, name, namespaced):
        self.api_version = api_version
        self.kind = kind
        self.name = name
        self.namespaced = namespaced

    def path(self, name=None, namespace=None):
        """The API path of the collection (namespace None: every namespace) or of one object."""
        return api_path(self.api_version, self.name, namespace if self.namespaced else None, name)


def api_path(api_version, plural=None, namespace=None, name=None):
    """The API path of a group version (no plural), of a resource's objects (in `namespace`, or in
    every namespace) or of one object."""
    parts = [("/apis/%s" if "/" in api_version else "/api/%s") % api_version]
    if plural:
        if namespace:
            parts.append("namespaces/%s" % quote(namespace, safe=""))
        parts.append(plural)
        if name:
            parts.append(quote(name, safe=""))
    return "/".join(parts)


def default_kubeconfig():
    """$KUBECONFIG's first file, else ~/.kube/config (as kubectl)."""
    paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return paths[0] if paths else os.path.expanduser("~/.kube/config")


def _ssl_context(settings, cert_pem=None, key_pem=None):
    """Trust the cluster's CA (or the system's when none is given; nothing with insecure-skip-tls-verify)
    and present the client certificate, from files or from PEM text."""
    context = ssl.create_default_context(cafile=settings.ca_file, cadata=settings.ca_data)
    if settings.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert_pem and key_pem:
        # load_cert_chain reads only files: a private directory that is gone again once they are read
        private = tempfile.mkdtemp(prefix="meshops-kube-")
        try:
            for name, text in (("cert.pem", cert_pem), ("key.pem", key_pem)):
                fd = os.open(os.path.join(private, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as handle:
                    handle.write(text)
            context.load_cert_chain(os.path.join(private, "cert.pem"), os.path.join(private, "key.pem"))
        finally:
            shutil.rmtree(private, ignore_errors=True)
    elif settings.cert_file:
        context.load_cert_chain(settings.cert_file, settings.key_file)
    return context


class Kube(object):
    """One kubeconfig and context: raw JSON calls, and object calls by apiVersion and kind."""

    def __init__(self, kubeconfig=None, context=None, workers=DEFAULT_WORKERS):
        if not HAS_LIBS:
            raise KubeClientError("urllib3 and PyYAML are required: %s" % IMPORT_ERROR)
        path = os.path.expanduser(kubeconfig or default_kubeconfig())
        with open(path) as handle:
            config = yaml.safe_load(handle)
        settings = kcfg.settings(config, os.path.dirname(os.path.abspath(path)), context or None)
        self.server = settings.server
        self.headers = {"Accept": "application/json"}
        token, cert_pem, key_pem = settings.token, settings.cert_data, settings.key_data
        if settings.token_file:
            with open(settings.token_file) as handle:
                token = handle.read().strip()
        if settings.exec_spec:
            status = kcfg.exec_credential(settings.exec_spec)
            token = status.get("token") or token
            cert_pem = status.get("clientCertificateData") or cert_pem
            key_pem = status.get("clientKeyData") or key_pem
        if token:
            self.headers["Authorization"] = "Bearer %s" % token
        elif settings.username:
            self.headers["Authorization"] = kcfg.basic_auth(settings.username, settings.password)
        self.workers = max(1, workers)
        pool = {"num_pools": 2, "maxsize": max(4, workers),
                "timeout": urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT)}
        if self.server.startswith("https://"):
            pool["ssl_context"] = _ssl_context(settings, cert_pem, key_pem)
            if settings.insecure:
                pool.update(cert_reqs="CERT_NONE", assert_hostname=False)
                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            if settings.tls_server_name:
                pool["server_hostname"] = settings.tls_server_name
        if settings.proxy_url:
            self.http = urllib3.ProxyManager(settings.proxy_url, **pool)
        else:
            self.http = urllib3.PoolManager(**pool)
        self.calls = 0
        self._lock = threading.Lock()
        self._discovery_lock = threading.Lock()
        self._discovered = {}
        self._refreshed = set()

    # ------------------------------------------------------------------ raw JSON calls
    def call(self, method, path, query=None, body=None, content_type="application/json"):
        """One API call; the decoded JSON answer, or KubeError for a status of 400 and above."""
        headers = dict(self.headers)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode("utf-8")
        url = self.server + path + ("?" + urlencode(query) if query else "")
        with self._lock:
            self.calls += 1
        response = self.http.request(method, url, body=data, headers=headers, redirect=False)
        return decode_response(response.status, response.reason, response.data)

    def call_found(self, method, path, query=None, body=None, missing=None):
        """As `call`, but `missing` when the server answers 404 Not Found."""
        try:
            return self.call(method, path, query, body)
        except KubeError as err:
            if err.status == 404:
                return missing
            raise

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
        return self.call_found("GET", "/api/v1/namespaces/%s" % namespace, missing=False) is not False

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

    # ------------------------------------------------------------------ objects by apiVersion and kind
    def _kinds(self, api_version, refresh=False):
        """{kind: Resource} of a group version ({} when the server does not serve it)."""
        with self._discovery_lock:
            if refresh or api_version not in self._discovered:
                document = self.call_found("GET", api_path(api_version), missing={})
                kinds = {}
                for entry in document.get("resources") or []:
                    if "/" not in entry["name"]:  # subresources such as deployments/scale
                        kinds.setdefault(entry["kind"], Resource(api_version, entry["kind"], entry["name"],
                                                                 bool(entry.get("namespaced"))))
                self._discovered[api_version] = kinds
            return self._discovered[api_version]

    def resource(self, api_version, kind):
        """The API resource for apiVersion/kind, or None when the server does not serve it."""
        found = self._kinds(api_version).get(kind)
        if found is None and api_version not in self._refreshed:
            # CRDs may have been created since the group version was read: look once more.
            self._refreshed.add(api_version)
            found = self._kinds(api_version, refresh=True).get(kind)
        return found

    def _served(self, api_version, kind):
        resource = self.resource(api_version, kind)
        if resource is None:
            raise KubeError(404, "NotFound", "the server does not serve %s %s" % (api_version, kind))
        return resource

    def get(self, api_version, kind, name, namespace=None):
        resource = self.resource(api_version, kind)
        if resource is None:
            return None
        return self.call_found("GET", resource.path(name, namespace))

    def list(self, api_version, kind, namespace=None, label_selector=None):
        resource = self.resource(api_version, kind)
        if resource is None:
            return []
        query = [("labelSelector", label_selector)] if label_selector else None
        # 404: served when discovery was read, gone now (its CRD was deleted): no such objects
        items = self.call_found("GET", resource.path(namespace=namespace), query, missing={}).get("items") or []
        for obj in items:
            obj.setdefault("apiVersion", api_version)
            obj.setdefault("kind", kind)
        return items

    def namespaced(self, api_version, kind):
        resource = self.resource(api_version, kind)
        return None if resource is None else resource.namespaced

    def create(self, obj):
        """Create `obj` (a dict with apiVersion, kind and metadata); the object the server stored."""
        resource = self._served(obj["apiVersion"], obj["kind"])
        metadata = obj.get("metadata") or {}
        return self.call("POST", resource.path(namespace=metadata.get("namespace")), body=obj)

    def replace(self, obj):
        """Replace `obj` (PUT); with metadata.resourceVersion set, the server refuses (409) when the
        object changed since it was read. The object the server stored."""
        resource = self._served(obj["apiVersion"], obj["kind"])
        metadata = obj.get("metadata") or {}
        return self.call("PUT", resource.path(metadata.get("name"), metadata.get("namespace")), body=obj)

    def dry_run_apply(self, obj, field_manager):
        """What a server-side apply of `obj` by `field_manager` would leave on the server."""
        resource = self._served(obj["apiVersion"], obj["kind"])
        metadata = obj.get("metadata") or {}
        query = [("fieldManager", field_manager), ("force", "true"), ("dryRun", "All")]
        return self.call("PATCH", resource.path(metadata.get("name"), metadata.get("namespace")), query,
                         body=obj, content_type="application/apply-patch+yaml")

    def merge_patch(self, api_version, kind, name, patch, namespace=None, dry_run=False):
        resource = self._served(api_version, kind)
        query = [("dryRun", "All")] if dry_run else None
        return self.call("PATCH", resource.path(name, namespace), query, body=patch,
                         content_type="application/merge-patch+json")

    def delete(self, api_version, kind, name, namespace=None, propagation=None):
        """Delete one object; False when it was not there. `propagation` is the
        propagationPolicy (Background, Foreground, Orphan); None leaves the server's default."""
        resource = self.resource(api_version, kind)
        if resource is None:
            return False
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation} if propagation else None
        return self.call_found("DELETE", resource.path(name, namespace), body=body, missing=False) is not False


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


def require_client_libs(module):
    """Fail the module, naming the library, when urllib3 or PyYAML is not installed."""
    if IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("urllib3 and PyYAML"), exception=IMPORT_ERROR)


def kube_from_params(params, workers=DEFAULT_WORKERS, factory=Kube):
    """The Kube of a module's kubeconfig and context; KubeClientError naming the kubeconfig when it
    cannot be loaded."""
    try:
        return factory(params["kubeconfig"], params.get("context") or None, workers)
    except KubeClientError:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        raise KubeClientError("cannot load kubeconfig %s: %s" % (params["kubeconfig"], exc))
