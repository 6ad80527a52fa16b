# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection options of the modules that talk to the API server."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  kubeconfig:
    description: Path to the kubeconfig used for the API calls (and by istioctl, where the module runs it).
    type: path
    required: true
  context:
    description: Kubeconfig context; empty means the current context.
    type: str
    default: ""
"""
