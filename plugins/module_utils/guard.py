# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The unknown-variable guard every role runs first (roles/mesh/tasks/unknown_vars.yml).

A role refuses a variable that carries its prefix (``verify_``) but is neither an option of one
of its entry points (meta/argument_specs.yml) nor a fact it sets. Variables of another role whose
prefix starts with this one's (``mesh_security_*`` for the role ``mesh``) are that role's.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def spec_options(spec):
    """The option names of every entry point of a parsed argument_specs.yml, in file order, once each."""
    names = []
    for entry in ((spec or {}).get("argument_specs") or {}).values():
        for name in (entry or {}).get("options") or {}:
            if name not in names:
                names.append(name)
    return names


def unknown_vars(names, role, accepted, roles=None):
    """Names among ``names`` with the prefix ``<role>_`` that are not in ``accepted``, sorted."""
    prefix = "%s_" % role
    others = sorted("%s_" % other for other in (roles or []) if other != role and ("%s_" % other).startswith(prefix))
    accepted = set(accepted or [])
    unknown = set()
    for name in names or []:
        if not name.startswith(prefix) or name in accepted or any(name.startswith(o) for o in others):
            continue
        if _NAME.match(name):
            unknown.add(name)
    return sorted(unknown)


def guard_message(unknown, role, inputs, facts=None):
    """The guard's error for the ``unknown`` names ('' when there are none)."""
    if not unknown:
        return ""
    sets = " (and the facts it sets: %s)" % ", ".join(facts) if facts else ""
    return "%s: the %s role has no such variable (misspelled?); accepted: %s%s." % (
        ", ".join(unknown), role, ", ".join(inputs), sets)
