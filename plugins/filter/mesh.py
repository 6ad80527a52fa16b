# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over rules the collection's Python already knows, so roles do not copy them in Jinja.

The rules live in module_utils (istio/operator.py, istio/release.py, istio/access_summary.py,
kube/names.py); these are thin wrappers.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.module_utils.istio.access_summary import ingress_facts, node_address
from ansible_collections.meshops.istio.plugins.module_utils.istio.operator import (
    injector_webhook_name, istiod_name, operator_file_name, revision_label, revision_problem,
)
from ansible_collections.meshops.istio.plugins.module_utils.istio.release import is_digest, is_version
from ansible_collections.meshops.istio.plugins.module_utils.kube.names import label_selectors, managed_labels


def _text(value):
    return "" if value is None else str.__str__(str(value))


def istio_names(revision=""):
    """The names Istio derives from a revision: istiod's Deployment, the injector webhook,
    the rendered IstioOperator's file name and the istio.io/rev label value."""
    revision = _text(revision)
    problem = revision_problem(revision)
    if problem:
        raise AnsibleFilterError("istio_names: %s" % problem)
    return {"istiod": istiod_name(revision), "injector": injector_webhook_name(revision),
            "operator_file": operator_file_name(revision), "revision_label": revision_label(revision)}


def istio_version_ok(value):
    """True when ``value`` is an Istio release number (MAJOR.MINOR.PATCH, optional pre-release)."""
    return isinstance(value, str) and is_version(str.__str__(value))


def istio_revision_ok(value):
    """True when ``value`` is usable as a control plane revision name: "" (the default revision) or a DNS label."""
    return isinstance(value, str) and revision_problem(str.__str__(value)) is None


def istio_digest_ok(value):
    """True when ``value`` is a sha256 digest of a release archive (64 hexadecimal digits)."""
    return isinstance(value, str) and is_digest(str.__str__(value))


def mesh_managed_labels(role=""):
    """The labels on the objects the collection's role ``role`` creates (managed-by and the role)."""
    return managed_labels(_text(role))


def mesh_label_selectors(labels):
    """A mapping of labels as the equality selectors ["key=value", ...] of kubernetes.core's label_selectors."""
    if not isinstance(labels, dict):
        raise AnsibleFilterError("mesh_label_selectors: the input must be a mapping of labels")
    return label_selectors(dict((_text(k), _text(v)) for k, v in labels.items()))


def mesh_ingress(service, nodes=None):
    """nodePorts and URLs of the ingress gateway Service: http_node_port, https_node_port, urls, node_address."""
    if service is not None and not isinstance(service, dict):
        raise AnsibleFilterError("mesh_ingress: the input must be a Service (a mapping)")
    facts = ingress_facts(service or {}, nodes or [])
    facts["node_address"] = node_address(nodes or [])[0]
    return facts


def mesh_unknown_vars(names, role, accepted, roles=None):
    """Names among ``names`` that carry the prefix ``<role>_`` but are not in ``accepted``.

    Names that belong to another role whose prefix starts with this one (mesh_security_* for
    the role mesh) are not this role's and are left out.
    """
    prefix = "%s_" % role
    others = sorted("%s_" % other for other in (roles or []) if other != role and ("%s_" % other).startswith(prefix))
    accepted = set(accepted or [])
    unknown = []
    for name in names or []:
        name = _text(name)
        if not name.startswith(prefix) or name in accepted or any(name.startswith(o) for o in others):
            continue
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            continue
        unknown.append(name)
    return sorted(set(unknown))


class FilterModule(object):
    def filters(self):
        return {
            "istio_digest_ok": istio_digest_ok,
            "istio_names": istio_names,
            "istio_revision_ok": istio_revision_ok,
            "istio_version_ok": istio_version_ok,
            "mesh_ingress": mesh_ingress,
            "mesh_label_selectors": mesh_label_selectors,
            "mesh_managed_labels": mesh_managed_labels,
            "mesh_unknown_vars": mesh_unknown_vars,
        }
