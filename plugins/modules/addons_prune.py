#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: addons_prune
short_description: Remove the objects meshops.istio applied for Istio addons, and nothing else
version_added: "0.1.0"
description:
  - Finds, for each given apiVersion and kind, the objects labelled
    C(meshops.istio/addon=<addon>) for the given addons (in every namespace) and deletes them,
    CustomResourceDefinitions last.
  - Objects without the label are never touched, so neither the Istio namespace nor the
    control plane nor anything a user created by hand is removed.
  - Kinds the server does not serve (a CRD already gone) are skipped.
  - In check mode the objects are listed and reported as RV(removed) but not deleted.
author:
  - meshops developers (@meshops)
extends_documentation_fragment:
  - meshops.istio.kube
options:
  addons:
    description: Addons whose objects are removed.
    type: list
    elements: str
    required: true
  kinds:
    description:
      - The apiVersion and kind of the objects to look for (as returned by M(meshops.istio.addons_plan)).
    type: list
    elements: dict
    required: true
  wait:
    description: Wait until the deleted objects are gone.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the objects to be gone.
    type: int
    default: 120
requirements:
  - urllib3 and PyYAML
notes:
  - Supports check mode.
"""

EXAMPLES = r"""
- name: Remove the addons
  meshops.istio.addons_prune:
    kubeconfig: "{{ mesh_kubeconfig }}"
    addons: [kiali, grafana]
    kinds: "{{ plan.kinds }}"
"""

RETURN = r"""
removed:
  description: The objects deleted (or, in check mode, that would be), as C(Kind namespace/name).
  returned: always
  type: list
  elements: str
  sample: ["Deployment istio-system/kiali", "CustomResourceDefinition monitoringdashboards.monitoring.kiali.io"]
selector:
  description: The label selector used.
  returned: always
  type: str
  sample: meshops.istio/addon in (grafana,kiali)
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshops.istio.plugins.module_utils.addons.plan import (
    describe,
    label_selector,
    removal_order,
)
from ansible_collections.meshops.istio.plugins.module_utils.kube.client import (
    kube_argument_spec,
    kube_from_params,
    require_client_libs,
)
from ansible_collections.meshops.istio.plugins.module_utils.kube.waiter import wait_gone


def find_labelled(kube, kinds, selector):
    """Every labelled object of the given kinds (kinds the server does not serve have none)."""
    found = []
    for pair in kinds:
        for obj in kube.list(pair["apiVersion"], pair["kind"], label_selector=selector):
            obj["apiVersion"], obj["kind"] = pair["apiVersion"], pair["kind"]
            found.append(obj)
    return found


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kube_argument_spec(),
            addons=dict(type="list", elements="str", required=True),
            kinds=dict(type="list", elements="dict", required=True),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )
    require_client_libs(module)
    params = module.params
    selector = label_selector(params["addons"])
    try:
        kube = kube_from_params(params)
        ordered = removal_order(find_labelled(kube, params["kinds"], selector))
        removed = [describe(obj) for obj in ordered]
        if not module.check_mode:
            for obj in ordered:
                meta = obj["metadata"]
                kube.delete(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"), propagation="Background")
            remaining = wait_gone(kube, ordered, params["wait_timeout"], interval=2) if params["wait"] else []
            if remaining:
                module.fail_json(msg="Timed out after %ss waiting for %s to be deleted"
                                 % (params["wait_timeout"], ", ".join(describe(o) for o in remaining)),
                                 removed=removed, selector=selector)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="Removing the addons failed: %s" % exc, exception=traceback.format_exc())
    module.exit_json(changed=bool(removed), removed=removed, selector=selector)


if __name__ == "__main__":
    main()
