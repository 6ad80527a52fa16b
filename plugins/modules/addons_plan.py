#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: addons_plan
short_description: Validate addon settings and render the addon objects from an Istio release's samples
version_added: "0.1.0"
description:
  - Reads the sample manifests of the selected addons (C(samples/addons/kiali.yaml),
    C(prometheus.yaml), C(grafana.yaml), C(jaeger.yaml), C(extras/zipkin.yaml)) from an unpacked
    Istio release and returns the objects to apply, in the order they can be applied
    (CustomResourceDefinitions, then the other objects, then custom resources of those CRDs).
  - Validates the selection and the exposure before anything is applied and returns every
    problem in RV(errors), each naming the variable, the addon and the bad value.
  - Makes the samples safe to expose. Kiali reached from outside the cluster requires a token
    login, or runs anonymous in view-only mode with a read-only ClusterRole when anonymous is
    asked for; Grafana's anonymous users get the Viewer role unless Admin is asked for. Each of
    these comes with a warning.
  - Labels every object C(meshops.istio/addon=<addon>) so that removal deletes only what was
    applied, and annotates each workload's pod template with a checksum of the ConfigMaps it
    uses so that a configuration change rolls it.
  - Reads local files only and never talks to a cluster; it never changes anything.
author:
  - meshops developers (@meshops)
options:
  samples_dir:
    description:
      - The C(samples) directory of an unpacked Istio release.
    type: path
    required: true
  addons:
    description:
      - Addons to render, from C(kiali), C(prometheus), C(grafana), C(jaeger), C(zipkin).
    type: list
    elements: str
    required: true
  exposure:
    description:
      - "Per addon, how its UI Service is exposed, for example C({kiali: {type: NodePort, node_port: 32001}})."
      - C(type) is one of C(ClusterIP), C(NodePort), C(LoadBalancer); C(node_port) is optional.
      - Addons not named here get C(ClusterIP).
    type: dict
    default: {}
  node_port_range:
    description:
      - The cluster's nodePort range, C(LOW-HIGH).
    type: str
    default: "30000-32767"
  services:
    description:
      - Services read from the cluster (all namespaces), to find nodePorts already in use.
    type: list
    elements: dict
    default: []
  kiali_auth_strategy:
    description:
      - Kiali's C(auth.strategy). C(auto) keeps the sample's strategy while Kiali is ClusterIP
        and uses C(token) once it is exposed.
    type: str
    default: auto
    choices: [auto, anonymous, token, openid, openshift, header]
  grafana_anonymous_role:
    description:
      - Role of Grafana's anonymous users when the sample enables anonymous access.
    type: str
    default: Viewer
    choices: [Viewer, Editor, Admin]
  namespace:
    description:
      - Namespace for namespaced objects whose manifest names none.
    type: str
    default: istio-system
  state:
    description:
      - C(present) validates the exposure and warns about open access; C(absent) only renders
        (to know which kinds to remove).
    type: str
    default: present
    choices: [present, absent]
requirements:
  - PyYAML
notes:
  - Supports check mode; the module never changes anything.
"""

EXAMPLES = r"""
- name: Render the addons
  meshops.istio.addons_plan:
    samples_dir: "{{ istioctl_samples_dir }}"
    addons: [kiali, prometheus, grafana, jaeger]
    exposure:
      kiali: {type: NodePort, node_port: 32001}
    services: "{{ all_services.resources }}"
  register: addons

- name: Stop on bad input
  ansible.builtin.assert:
    that: addons.errors | length == 0
    fail_msg: "{{ addons.errors | join('; ') }}"
"""

RETURN = r"""
errors:
  description: Problems with the input; when not empty, nothing may be applied.
  returned: always
  type: list
  elements: str
  sample: ["addons_exposure.kiali.node_port=40000 is outside the cluster's nodePort range 30000-32767 (addons_node_port_range)"]
crds:
  description: CustomResourceDefinitions to apply (and wait for Established) first.
  returned: always
  type: list
  elements: dict
objects:
  description: The other objects, applied after the CRDs.
  returned: always
  type: list
  elements: dict
custom_resources:
  description: Objects of the kinds the CRDs define, applied last.
  returned: always
  type: list
  elements: dict
workloads:
  description: Workloads among the objects, as C(Kind namespace/name).
  returned: always
  type: list
  elements: str
  sample: ["Deployment istio-system/kiali"]
namespaces:
  description: Namespaces the objects live in (they must exist).
  returned: always
  type: list
  elements: str
  sample: [istio-system]
kinds:
  description: The apiVersion and kind of every object, to find them again for removal.
  returned: always
  type: list
  elements: dict
  sample: [{apiVersion: v1, kind: Service}]
addons:
  description: Per addon, its UI Service, port, path, exposure and notes.
  returned: always
  type: dict
  sample: {kiali: {namespace: istio-system, service: kiali, port: 20001, type: NodePort, node_port: 32001,
           dashboard: kiali, path: /kiali, notes: []}}
label:
  description: The label key that marks the objects of each addon.
  returned: always
  type: str
  sample: meshops.istio/addon
selector:
  description: Label selector matching the selected addons' objects.
  returned: always
  type: str
  sample: meshops.istio/addon in (grafana,kiali)
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshops.istio.plugins.module_utils.addons.plan import (
    ADDON_LABEL,
    CATALOGUE,
    label_selector,
    plan,
)


def read_manifests(samples_dir, addons):
    """{addon: text} for the addons whose manifest exists, and errors for the others."""
    manifests, errors = {}, []
    for name in addons:
        if name not in CATALOGUE:
            continue
        path = os.path.join(samples_dir, CATALOGUE[name]["manifest"])
        try:
            with open(path, encoding="utf-8") as handle:
                manifests[name] = handle.read()
        except (IOError, OSError) as exc:
            errors.append("addons_samples_dir=%s: cannot read the %s manifest %s: %s"
                          % (samples_dir, name, CATALOGUE[name]["manifest"], exc.strerror or exc))
    return manifests, errors


def main():
    module = AnsibleModule(
        argument_spec=dict(
            samples_dir=dict(type="path", required=True),
            addons=dict(type="list", elements="str", required=True),
            exposure=dict(type="dict", default={}),
            node_port_range=dict(type="str", default="30000-32767"),
            services=dict(type="list", elements="dict", default=[]),
            kiali_auth_strategy=dict(type="str", default="auto",
                                     choices=["auto", "anonymous", "token", "openid", "openshift", "header"]),
            grafana_anonymous_role=dict(type="str", default="Viewer", choices=["Viewer", "Editor", "Admin"]),
            namespace=dict(type="str", default="istio-system"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    manifests, read_errors = read_manifests(params["samples_dir"], params["addons"])
    result = plan(manifests, params["addons"], params["exposure"], params["node_port_range"], params["services"],
                  params["kiali_auth_strategy"], params["grafana_anonymous_role"], params["namespace"],
                  params["state"])
    if read_errors:
        result["errors"] = read_errors + [e for e in result["errors"] if "no manifest for" not in e]
    for warning in result.pop("warnings"):
        module.warn(warning)
    result["label"] = ADDON_LABEL
    result["selector"] = label_selector([a for a in params["addons"] if a in CATALOGUE] or ["none"])
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
