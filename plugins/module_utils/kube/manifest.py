# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading YAML manifests with libyaml's C parser when PyYAML has it.

PyYAML's ``safe_load_all`` parses in pure Python: the 1.1 MB that ``istioctl manifest generate``
renders for the demo profile (Istio's CRDs) took 1.26 s to parse, and 0.26 s with ``CSafeLoader``,
the same objects. Every manifest the modules read goes through here. Nothing here imports Ansible.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

try:
    import yaml
    HAS_YAML = True
    YAMLError = yaml.YAMLError
    # the C loader builds the same objects as yaml.SafeLoader (safe tags only)
    LOADER = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader
except ImportError:  # pragma: no cover
    yaml = None
    HAS_YAML = False
    LOADER = None

    class YAMLError(Exception):
        pass


def load(text):
    """One YAML document (text or an open file) as Python data, like yaml.safe_load."""
    return yaml.load(text, Loader=LOADER)


def load_all(text):
    """Every document of a multi-document YAML text (or open file), like list(yaml.safe_load_all())."""
    return list(yaml.load_all(text, Loader=LOADER))
