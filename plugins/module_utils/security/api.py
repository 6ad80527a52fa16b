# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Istio security API values that both the security model and the access matrix rely on."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

# An AuthorizationPolicy annotated with this key set to "true" is evaluated but not enforced.
DRY_RUN_ANNOTATION = "istio.io/dry-run"
# PeerAuthentication mtls.mode values.
MTLS_MODES = ("UNSET", "DISABLE", "PERMISSIVE", "STRICT")
# AuthorizationPolicy actions.
ACTIONS = ("ALLOW", "DENY", "AUDIT", "CUSTOM")
