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
options:
  kubeconfig:
    description: Path to the kubeconfig.
    type: path
    required: true
  context:
    description: Kubeconfig context; empty means the current context.
    type: str
    default: ""
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
  - kubernetes (Python client)
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

import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.meshops.istio.plugins.module_utils.addons import (
    describe,
    label_selector,
    removal_order,
)

KUBERNETES_IMPORT_ERROR = None
try:
    from kubernetes import config as kube_config
    from kubernetes.client import Configuration, api_client
    from kubernetes.dynamic import DynamicClient
    from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError
except ImportError:
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()
    NotFoundError = ResourceNotFoundError = Exception


def client_for(kubeconfig, context):
    cfg = Configuration()
    kube_config.load_kube_config(config_file=kubeconfig, context=context or None, client_configuration=cfg,
                                 persist_config=False)
    return DynamicClient(api_client.ApiClient(configuration=cfg))


def resource_for(client, api_version, kind, refreshed):
    """The API resource, or None when the server does not serve the kind. The discovery cache
    is refreshed once when a kind is missing (a CRD may have been created since it was written)."""
    try:
        return client.resources.get(api_version=api_version, kind=kind)
    except ResourceNotFoundError:
        if refreshed:
            return None
        refreshed.append(True)
        client.resources.invalidate_cache()
        try:
            return client.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            return None


def find_labelled(client, kinds, selector):
    """[(resource, object dict)] of every labelled object of the given kinds."""
    found = []
    refreshed = []
    for pair in kinds:
        resource = resource_for(client, pair["apiVersion"], pair["kind"], refreshed)
        if resource is None:
            continue
        try:
            items = resource.get(label_selector=selector).items
        except NotFoundError:
            # Served when discovery was cached, gone now (its CRD was deleted): no such objects.
            continue
        for item in items:
            obj = item.to_dict()
            obj["apiVersion"], obj["kind"] = pair["apiVersion"], pair["kind"]
            found.append((resource, obj))
    return found


def still_there(client, targets):
    remaining = []
    for resource, obj in targets:
        meta = obj["metadata"]
        try:
            current = resource.get(name=meta["name"], namespace=meta.get("namespace") if resource.namespaced else None)
        except NotFoundError:
            continue
        if current.metadata.uid == meta.get("uid"):
            remaining.append((resource, obj))
    return remaining


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kubeconfig=dict(type="path", required=True),
            context=dict(type="str", default=""),
            addons=dict(type="list", elements="str", required=True),
            kinds=dict(type="list", elements="dict", required=True),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )
    if KUBERNETES_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=KUBERNETES_IMPORT_ERROR)
    params = module.params
    selector = label_selector(params["addons"])
    try:
        client = client_for(params["kubeconfig"], params["context"])
        found = find_labelled(client, params["kinds"], selector)
        by_description = dict((describe(obj), (res, obj)) for res, obj in found)
        ordered = [by_description[describe(obj)] for obj in removal_order([obj for _res, obj in found])]
        removed = [describe(obj) for _res, obj in ordered]
        if not module.check_mode:
            for resource, obj in ordered:
                meta = obj["metadata"]
                try:
                    resource.delete(name=meta["name"], namespace=meta.get("namespace") if resource.namespaced else None,
                                    body={"propagationPolicy": "Background"})
                except NotFoundError:
                    pass
            if params["wait"]:
                deadline = time.monotonic() + params["wait_timeout"]
                remaining = still_there(client, ordered)
                while remaining and time.monotonic() < deadline:
                    time.sleep(2)
                    remaining = still_there(client, remaining)
                if remaining:
                    module.fail_json(msg="Timed out after %ss waiting for %s to be deleted"
                                     % (params["wait_timeout"], ", ".join(describe(o) for _r, o in remaining)),
                                     removed=removed, selector=selector)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="Removing the addons failed: %s" % exc, exception=traceback.format_exc())
    module.exit_json(changed=bool(removed), removed=removed, selector=selector)


if __name__ == "__main__":
    main()
