# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The declarative traffic model of meshops.istio: its keys, constants and value rules.

A model describes the Istio routing of one namespace::

    name: shop                      # becomes the label meshops.istio/model=shop
    namespace: shop
    tls: {mode: ISTIO_MUTUAL}       # optional: the tls of every service without its own
    gateways:
      - name: main-gw               # rendered as Gateway main-gw
        selector: {istio: ingressgateway}
        servers: [{port: 80, protocol: HTTP, hosts: ["*"]}]
    services:
      - name: order                 # rendered as vsvc-order and destrule-order
        gateways: [main-gw]         # omitted or [] = mesh only
        tls: {mode: ISTIO_MUTUAL}   # DestinationRule trafficPolicy.tls; default: the model's tls
        subsets:                    # default: stable (version=stable), canary (version=canary)
          - {name: stable, labels: {version: stable}}
          - {name: canary, labels: {version: canary}, load_balancer: RANDOM,
             tls: {mode: SIMPLE, credential_name: order-canary-client}}
        routes:
          - match: [{uri: {prefix: /orders}}]
            destinations: [{subset: stable, weight: 90}, {subset: canary, weight: 10}]
            timeout: 10s

The package splits the work: validate.py (with checker.py) checks a model and fills in
its defaults, render.py makes the Istio objects, plan.py compares them with the live ones,
shift.py moves canary weights and dot.py draws the model. Every function is plain Python
with no Ansible import, so unit tests call them directly. Model keys are snake_case; the
rendered Istio objects use Istio's camelCase field names.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

API_GROUP = "networking.istio.io"
API_VERSION = "v1"
GROUP_VERSION = API_GROUP + "/" + API_VERSION
# kind -> plural, in the order objects are applied (gateways and subsets exist before the
# routes that use them); pruning walks the list backwards.
KINDS = (("Gateway", "gateways"), ("DestinationRule", "destinationrules"),
         ("VirtualService", "virtualservices"))
PLURALS = dict(KINDS)

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "meshops.istio"
MODEL_LABEL = "meshops.istio/model"
SERVICE_LABEL = "meshops.istio/service"
FIELD_MANAGER = "meshops.istio"

VS_PREFIX = "vsvc-"
DR_PREFIX = "destrule-"

LOAD_BALANCERS = ("ROUND_ROBIN", "RANDOM", "LEAST_REQUEST")
PROTOCOLS = ("HTTP", "HTTPS", "GRPC", "HTTP2", "MONGO", "TCP", "TLS")
TLS_MODES = ("SIMPLE", "MUTUAL", "PASSTHROUGH", "ISTIO_MUTUAL", "AUTO_PASSTHROUGH", "OPTIONAL_MUTUAL")
STRING_MATCH_TYPES = ("exact", "prefix", "regex")
DEFAULT_SUBSETS = ({"name": "stable", "labels": {"version": "stable"}},
                   {"name": "canary", "labels": {"version": "canary"}})
DEFAULT_SELECTOR = {"istio": "ingressgateway"}

MODEL_KEYS = ("name", "namespace", "tls", "gateways", "services")
GATEWAY_KEYS = ("name", "selector", "servers")
SERVER_KEYS = ("port", "protocol", "hosts", "name", "tls")
TLS_KEYS = ("mode", "credential_name")
SERVICE_KEYS = ("name", "host", "hosts", "gateways", "port", "subsets", "routes",
                "load_balancer", "connection_pool", "outlier_detection", "tls")
SUBSET_KEYS = ("name", "labels", "load_balancer", "connection_pool", "outlier_detection", "tls")
# The client side TLS of a DestinationRule (trafficPolicy.tls, per service and per subset; the
# model's top-level tls is the default of every service). Modes that present a credential need
# credential_name (a Secret in the client's namespace) and may set sni; the others take neither.
DESTINATION_TLS_KEYS = ("mode", "credential_name", "sni")
DESTINATION_TLS_MODES = ("ISTIO_MUTUAL", "DISABLE", "SIMPLE", "MUTUAL")
CREDENTIAL_TLS_MODES = ("SIMPLE", "MUTUAL")
ROUTE_KEYS = ("name", "match", "destinations", "timeout", "retries", "fault")
DESTINATION_KEYS = ("subset", "weight", "host", "port")
MATCH_KEYS = ("name", "uri", "method", "authority", "scheme", "headers", "query_params", "port",
              "source_labels", "source_namespace", "gateways", "ignore_uri_case")
RETRY_KEYS = ("attempts", "per_try_timeout", "retry_on")
FAULT_KEYS = ("delay", "abort")
DELAY_KEYS = ("fixed", "percentage")
ABORT_KEYS = ("http_status", "percentage")
# traffic-policy blocks: key -> kind of value
TCP_POOL = {"max_connections": "count", "connect_timeout": "duration"}
HTTP_POOL = {"http1_max_pending_requests": "count", "http2_max_requests": "count",
             "max_requests_per_connection": "count", "max_retries": "count",
             "idle_timeout": "duration"}
OUTLIER = {"consecutive_5xx_errors": "count", "consecutive_gateway_errors": "count",
           "interval": "duration", "base_ejection_time": "duration",
           "max_ejection_percent": "percent", "min_health_percent": "percent"}

# Traffic-specific value rules (Kubernetes names and labels live in kube/names.py).
# A host: '*', or a lower-case DNS name, optionally starting with '*.'.
_HOST = re.compile(r"^(\*|(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$")
# An HTTP header (or query parameter) name as Istio matches it: a lower-case token.
_HEADER = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(h|ms|m|s|us|\u00b5s|ns))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|\u00b5s|ns)")
_DURATION_MS = {"h": 3600000.0, "m": 60000.0, "s": 1000.0, "ms": 1.0, "us": 0.001,
                u"\u00b5s": 0.001, "ns": 0.000001}


class ModelError(Exception):
    """The model is invalid; ``errors`` lists every problem, each naming where it is."""

    def __init__(self, errors, model_name=None):
        self.errors = list(errors)
        self.model_name = model_name
        head = "traffic model %r is invalid" % model_name if model_name else "traffic model is invalid"
        super(ModelError, self).__init__("%s (%d error%s):\n  - %s" % (
            head, len(self.errors), "" if len(self.errors) == 1 else "s", "\n  - ".join(self.errors)))


# --------------------------------------------------------------------------- small helpers
def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_str(value):
    return isinstance(value, str)


def fmt_number(value):
    """100.0 -> 100, 12.5 -> 12.5 (keeps rendered objects stable against YAML number styles)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def is_host(value):
    """True for a host of a gateway server, a service or a destination ('*' allowed; callers narrow it)."""
    return is_str(value) and bool(_HOST.match(value))


def is_header_name(value):
    """True for a header or query-parameter name a match may test."""
    return is_str(value) and bool(_HEADER.match(value))


def snake_to_camel(key):
    parts = key.split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def camel_to_snake(key):
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), key)


def parse_duration_ms(value):
    """Return the duration in milliseconds, or None when ``value`` is not a duration.

    Accepts Go/Istio duration strings (``"7s"``, ``"1.5s"``, ``"100ms"``, ``"1m30s"``) and plain
    numbers (seconds). A leading minus gives a negative number so callers can name the problem.
    """
    if is_number(value):
        return float(value) * 1000.0
    if not is_str(value) or not value:
        return None
    sign = 1.0
    text = value.strip()
    if text.startswith("-"):
        sign, text = -1.0, text[1:]
    if not _DURATION.match(text):
        return None
    total = 0.0
    for number, unit in _DURATION_PART.findall(text):
        total += float(number) * _DURATION_MS[unit]
    return sign * total


def duration_text(value):
    """Render a validated duration: strings stay as written, numbers become seconds."""
    if is_number(value):
        return "%ss" % fmt_number(value)
    return value.strip()


def short_host(host, namespace):
    """'reviews', 'reviews.<ns>', 'reviews.<ns>.svc', 'reviews.<ns>.svc.cluster.local' -> 'reviews'.

    Hosts that name another namespace or an external name come back unchanged.
    """
    for suffix in (".%s.svc.cluster.local" % namespace, ".%s.svc" % namespace, ".%s" % namespace):
        if host.endswith(suffix):
            return host[:-len(suffix)]
    return host
