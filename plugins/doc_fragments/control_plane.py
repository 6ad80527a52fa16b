# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which control plane a module works on: its revision and namespace."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  revision:
    description: Istio revision of the control plane; empty for the default revision.
    type: str
    default: ""
  namespace:
    description: Namespace of the control plane.
    type: str
    default: istio-system
"""
