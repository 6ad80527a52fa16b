# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over rules the collection's Python already knows, so roles do not copy them in Jinja.

The rules live in module_utils (istio/operator.py, istio/release.py, istio/access_summary.py,
kube/names.py); these are thin wrappers.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os

import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.module_utils.guard import guard_message, spec_options, unknown_vars
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
    return unknown_vars([_text(name) for name in names or []], _text(role), [_text(a) for a in accepted or []],
                        [_text(r) for r in roles or []])


_SPECS = {}


def _role_options(roles_dir, role):
    """The options of roles/<role>/meta/argument_specs.yml, parsed once per file version and process."""
    path = os.path.join(roles_dir, role, "meta", "argument_specs.yml")
    try:
        key = (path, os.stat(path).st_mtime_ns)
    except OSError as exc:
        raise AnsibleFilterError("mesh_guard_message: no argument spec for the role %s (%s)" % (role, exc))
    if key not in _SPECS:
        with open(path, encoding="utf-8") as handle:
            _SPECS[key] = spec_options(yaml.safe_load(handle))
    return _SPECS[key]


def mesh_guard_message(names, role, roles_dir, facts=None):
    """The unknown-variable guard's error for ``names`` ('' when every name is known).

    Accepted: the options of every entry point of ``<roles_dir>/<role>/meta/argument_specs.yml``
    and ``facts``; variables of the other roles in ``roles_dir`` whose prefix starts with this
    role's are theirs. One Python call, so that the guard does not parse the spec and walk the
    roles directory in Jinja (it runs once per role in every play).
    """
    role, roles_dir = _text(role), _text(roles_dir)
    facts = [_text(fact) for fact in facts or []]
    inputs = _role_options(roles_dir, role)
    roles = [entry for entry in os.listdir(roles_dir) if os.path.isdir(os.path.join(roles_dir, entry))]
    unknown = unknown_vars([_text(name) for name in names or []], role, inputs + facts, roles)
    return guard_message(unknown, role, inputs, facts)


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
            "mesh_guard_message": mesh_guard_message,
            "mesh_unknown_vars": mesh_unknown_vars,
        }
