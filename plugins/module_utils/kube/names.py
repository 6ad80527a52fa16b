# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes names, labels, principals and object references: the one home of these rules.

Every module_utils file that validates a name or a label, parses a SPIFFE principal, or names an
object in a message uses these functions, so that the rules cannot drift apart.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

# RFC 1123 label (namespaces, Services, most object names): at most 63 characters.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_LABEL_MAX = 63
# RFC 1123 subdomain (ConfigMaps, CRD objects, label-key prefixes): dot-separated labels, at most 253.
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_SUBDOMAIN_MAX = 253
# The name part of a label key and a label value: alphanumerics with -_. inside, at most 63.
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
LABEL_NAME_MAX = 63
# Istio's workload principal: <trust domain>/ns/<namespace>/sa/<service account>.
_PRINCIPAL = re.compile(r"^(?P<td>[^/]+)/ns/(?P<ns>[^/]+)/sa/(?P<sa>[^/]+)$")


def is_dns_label(value):
    """True for an RFC 1123 label such as a namespace or Service name."""
    return isinstance(value, str) and len(value) <= DNS_LABEL_MAX and bool(_DNS_LABEL.match(value))


def is_dns_subdomain(value):
    """True for an RFC 1123 subdomain such as most object names."""
    return isinstance(value, str) and len(value) <= DNS_SUBDOMAIN_MAX and bool(_DNS_SUBDOMAIN.match(value))


def is_label_name(value):
    """True for the name part of a label key (no prefix)."""
    return isinstance(value, str) and len(value) <= LABEL_NAME_MAX and bool(_LABEL_NAME.match(value))


def is_label_key(value):
    """True for a label or annotation key: an optional DNS-subdomain prefix and '/', then a name."""
    if not isinstance(value, str):
        return False
    prefix, slash, name = value.rpartition("/")
    if slash and not is_dns_subdomain(prefix):
        return False
    return is_label_name(name)


def is_label_value(value):
    """True for a label value: empty, or a label name."""
    return value == "" or is_label_name(value)


def parse_principal(value):
    """(trust domain, namespace, service account) of an Istio principal, or None when `value`
    is not of the form <trust domain>/ns/<namespace>/sa/<service account>."""
    match = _PRINCIPAL.match(value) if isinstance(value, str) else None
    if not match:
        return None
    return match.group("td"), match.group("ns"), match.group("sa")


def principal(namespace, service_account, trust_domain="cluster.local"):
    """The principal of a workload running as `service_account` in `namespace`."""
    return "%s/ns/%s/sa/%s" % (trust_domain, namespace, service_account)


# --------------------------------------------------------------------------- object references
def metadata(obj):
    return obj.get("metadata") or {}


def api_group(api_version):
    """The group part of an apiVersion ("" for the core group)."""
    return (api_version or "").rpartition("/")[0]


def object_key(obj):
    """(group, kind, namespace, name): the identity of an object on a cluster."""
    meta = metadata(obj)
    return (api_group(obj.get("apiVersion")), obj.get("kind") or "", meta.get("namespace") or "",
            meta.get("name") or "")


def ref(obj):
    """(kind, namespace, name): the identity of an object among objects of known groups."""
    meta = metadata(obj)
    return (obj.get("kind") or "", meta.get("namespace") or "", meta.get("name") or "")


def describe(obj):
    """"Kind namespace/name", or "Kind name" for a cluster-scoped object, for messages."""
    kind, namespace, name = ref(obj)
    return "%s %s" % (kind, "%s/%s" % (namespace, name) if namespace else name)


def describe_ref(kind, namespace, name):
    """describe() of the object named by kind, namespace and name (a reference rather than an object)."""
    return describe({"kind": kind, "metadata": {"namespace": namespace, "name": name}})


# --------------------------------------------------------------------------- the collection's own keys
# The collection's name as a field manager and managed-by value, and the prefix of its label and annotation keys.
COLLECTION = "meshops.istio"


def collection_key(name):
    """The label or annotation key `meshops.istio/<name>` that this collection sets."""
    return "%s/%s" % (COLLECTION, name)


# --------------------------------------------------------------------------- managed labels
# Every object a role of this collection creates carries the managed-by label and the role's name;
# removal selects by both, so objects made by hand or by other tools are never touched.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
ROLE_LABEL = collection_key("role")


def managed_labels(role=None):
    """The labels of an object that the collection's role `role` manages ({managed-by} alone without a role)."""
    labels = {MANAGED_BY_LABEL: COLLECTION}
    if role:
        labels[ROLE_LABEL] = role
    return labels


def label_selectors(labels):
    """`labels` as equality selectors ["key=value", ...], in the order given."""
    return ["%s=%s" % (key, value) for key, value in labels.items()]
