# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which mutual-TLS mode a workload's port accepts, from PeerAuthentications.

The oldest workload policy (selector, same namespace) wins over the oldest namespace policy, which
wins over the oldest mesh policy (root namespace, no selector). ``UNSET`` inherits from the next
level; nothing set means PERMISSIVE. ``portLevelMtls`` only counts on workload policies and is keyed
by the workload (target) port.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.meshops.istio.plugins.module_utils.access.workloads import (
    age_key, int_port, labels_match, ns_name, selector_labels)
from ansible_collections.meshops.istio.plugins.module_utils.kube.names import metadata


def peer_authentication_chain(idx, workload):
    """(workload PA, namespace PA, mesh PA) that apply to ``workload``; each may be None."""
    root = idx["root_namespace"]
    ns = workload["namespace"]
    wl_pas, ns_pas, mesh_pas = [], [], []
    for pa in idx["peer_authentications"]:
        pns = metadata(pa).get("namespace") or ""
        match = selector_labels(pa.get("spec"))
        if match is None:
            if pns == root:
                mesh_pas.append(pa)
            if pns == ns and pns != root:
                ns_pas.append(pa)
        elif pns == ns and labels_match(match, workload["labels"]):
            wl_pas.append(pa)
    pick = [sorted(group, key=age_key)[0] if group else None for group in (wl_pas, ns_pas, mesh_pas)]
    return tuple(pick)


def _mode_of(pa):
    mode = (((pa or {}).get("spec") or {}).get("mtls") or {}).get("mode") or "UNSET"
    return mode.upper()


def port_level_mode(pa, port):
    levels = ((pa or {}).get("spec") or {}).get("portLevelMtls") or {}
    for key, value in levels.items():
        if int_port(key) == port:
            return ((value or {}).get("mode") or "UNSET").upper()
    return "UNSET"


def effective_mtls(idx, workload, port):
    """(mode, decided_by) for ``workload`` on target ``port``; decided_by is 'ns/name' or 'default'."""
    wl_pa, ns_pa, mesh_pa = peer_authentication_chain(idx, workload)
    if wl_pa is not None and port is not None:
        mode = port_level_mode(wl_pa, port)
        if mode != "UNSET":
            return mode, "%s port %s" % (ns_name(wl_pa), port)
    for pa in (wl_pa, ns_pa, mesh_pa):
        if pa is not None and _mode_of(pa) != "UNSET":
            return _mode_of(pa), ns_name(pa)
    return "PERMISSIVE", "default"
