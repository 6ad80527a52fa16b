# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a kubeconfig says about reaching one API server: pure logic, no network.

`settings(config, base_dir, context)` picks the context (the given one or current-context) and
returns a `Settings`: the server URL, how to trust it (CA file or data, tls-server-name, or
insecure-skip-tls-verify), how to prove who we are (client certificate and key as files or data,
a bearer token or token file, basic auth, or an exec credential plugin) and a proxy URL. Relative
file paths are relative to the kubeconfig's directory, as kubectl reads them.

`exec_credential(spec, run)` runs an exec plugin (client.authentication.k8s.io ExecCredential) and
returns its status: a token, or client certificate and key data.

Legacy auth-provider entries (gcp, azure, oidc) are refused with a clear error: kubectl itself
replaced them with exec plugins.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import base64
import json
import os
import subprocess


class KubeconfigError(Exception):
    """The kubeconfig cannot be used: a missing context, cluster or user, or an unsupported entry."""


class Settings(object):
    """How to reach and authenticate to one API server."""

    def __init__(self, server, **kwargs):
        self.server = server.rstrip("/")
        self.ca_file = kwargs.get("ca_file")
        self.ca_data = kwargs.get("ca_data")
        self.insecure = bool(kwargs.get("insecure"))
        self.tls_server_name = kwargs.get("tls_server_name")
        self.cert_file = kwargs.get("cert_file")
        self.key_file = kwargs.get("key_file")
        self.cert_data = kwargs.get("cert_data")
        self.key_data = kwargs.get("key_data")
        self.token = kwargs.get("token")
        self.token_file = kwargs.get("token_file")
        self.username = kwargs.get("username")
        self.password = kwargs.get("password")
        self.exec_spec = kwargs.get("exec_spec")
        self.proxy_url = kwargs.get("proxy_url")

    def __repr__(self):
        # never the token, key or password
        return "Settings(server=%r)" % self.server


def _named(entries, name, what):
    for entry in entries or []:
        if entry.get("name") == name:
            return entry.get(what) or {}
    raise KubeconfigError("%s %r is not in the kubeconfig" % (what, name))


def _path(base_dir, value):
    if not value:
        return None
    value = os.path.expanduser(value)
    return value if os.path.isabs(value) else os.path.join(base_dir, value)


def _data(value, field):
    """The PEM text of a *-data field (base64 in the kubeconfig)."""
    if not value:
        return None
    try:
        return base64.b64decode(value).decode("utf-8")
    except (ValueError, TypeError, UnicodeDecodeError):
        raise KubeconfigError("%s is not base64-encoded PEM" % field)


def settings(config, base_dir, context=None):
    """The Settings of `context` (default: current-context) in the parsed kubeconfig `config`."""
    if not isinstance(config, dict):
        raise KubeconfigError("not a kubeconfig (no mapping at the top)")
    name = context or config.get("current-context")
    if not name:
        raise KubeconfigError("no context given and no current-context set")
    ctx = _named(config.get("contexts"), name, "context")
    cluster = _named(config.get("clusters"), ctx.get("cluster"), "cluster")
    user = _named(config.get("users"), ctx.get("user"), "user") if ctx.get("user") else {}
    if not cluster.get("server"):
        raise KubeconfigError("cluster %r has no server" % ctx.get("cluster"))
    if user.get("auth-provider"):
        raise KubeconfigError("user %r uses auth-provider %r, which meshops.istio does not support: use an exec "
                              "credential plugin or a token" % (ctx.get("user"), user["auth-provider"].get("name")))
    return Settings(
        cluster["server"],
        ca_file=_path(base_dir, cluster.get("certificate-authority")),
        ca_data=_data(cluster.get("certificate-authority-data"), "certificate-authority-data"),
        insecure=cluster.get("insecure-skip-tls-verify"),
        tls_server_name=cluster.get("tls-server-name"),
        proxy_url=cluster.get("proxy-url"),
        cert_file=_path(base_dir, user.get("client-certificate")),
        key_file=_path(base_dir, user.get("client-key")),
        cert_data=_data(user.get("client-certificate-data"), "client-certificate-data"),
        key_data=_data(user.get("client-key-data"), "client-key-data"),
        token=user.get("token"),
        token_file=_path(base_dir, user.get("tokenFile")),
        username=user.get("username"),
        password=user.get("password"),
        exec_spec=user.get("exec"),
    )


def exec_credential(spec, run=subprocess.run, environ=None):
    """Run an exec credential plugin; its ExecCredential status ({token} or {clientCertificateData,
    clientKeyData})."""
    command = spec.get("command")
    if not command:
        raise KubeconfigError("exec plugin without a command")
    env = dict(os.environ if environ is None else environ)
    for item in spec.get("env") or []:
        env[item["name"]] = item["value"]
    api_version = spec.get("apiVersion") or "client.authentication.k8s.io/v1"
    env["KUBERNETES_EXEC_INFO"] = json.dumps({"apiVersion": api_version, "kind": "ExecCredential",
                                              "spec": {"interactive": False}})
    try:
        proc = run([command] + list(spec.get("args") or []), env=env, stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE, check=False)
    except OSError as exc:
        raise KubeconfigError("exec plugin %s cannot run: %s" % (command, exc))
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace") if isinstance(proc.stderr, bytes) else proc.stderr
        raise KubeconfigError("exec plugin %s exited %d: %s" % (command, proc.returncode, (err or "").strip()))
    try:
        status = json.loads(proc.stdout).get("status") or {}
    except (ValueError, AttributeError):
        raise KubeconfigError("exec plugin %s did not print an ExecCredential" % command)
    if not (status.get("token") or (status.get("clientCertificateData") and status.get("clientKeyData"))):
        raise KubeconfigError("exec plugin %s gave neither a token nor a client certificate and key" % command)
    return status


def basic_auth(username, password):
    """The Authorization header value of basic auth."""
    raw = ("%s:%s" % (username, password or "")).encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")
