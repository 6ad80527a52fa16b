#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: mesh_read
short_description: Read several kinds of Kubernetes objects in one module run
version_added: "0.3.0"
description:
  - Runs each query of I(queries) against the API server, in order, and returns the objects found, in the
    shape a loop of M(kubernetes.core.k8s_info) registers (C(results[i].resources)). One run pays once for the
    Python start and the client's set-up, where a loop of k8s_info pays once per kind.
  - A kind the server does not serve, a namespace that does not exist and a named object that is not there read
    as no resources. Any other error fails the module, naming the query.
  - Reads only; runs in check mode too.
author:
  - meshops developers (@meshops)
requirements:
  - urllib3 and PyYAML
extends_documentation_fragment:
  - meshops.istio.kube
options:
  queries:
    description:
      - What to read, each C({api_version, kind, namespace, name, label_selectors}); C(api_version) and C(kind) are
        required. Without C(namespace) a namespaced kind is read in every namespace; C(label_selectors) is a list
        of selectors that all apply (as in k8s_info).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Read the control plane objects
  meshops.istio.mesh_read:
    kubeconfig: "{{ mesh_kubeconfig }}"
    queries:
      - {api_version: apps/v1, kind: Deployment, namespace: istio-system, label_selectors: ["app=istiod"]}
      - {api_version: v1, kind: Service, namespace: istio-system, name: istio-ingressgateway}
  register: reads

- name: Show istiod's Deployments
  ansible.builtin.debug:
    msg: "{{ reads.results[0].resources | map(attribute='metadata.name') | list }}"
"""

RETURN = r"""
results:
  description: One entry per query, in order, with the query's keys and C(resources), the objects found.
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.meshops.istio.plugins.module_utils.kube.client import kube_argument_spec, require_client_libs
from ansible_collections.meshops.istio.plugins.module_utils.runners.errors import run_module
from ansible_collections.meshops.istio.plugins.module_utils.runners.read import run


def main():
    module = AnsibleModule(
        argument_spec=dict(kube_argument_spec(), queries=dict(type="list", elements="dict", required=True)),
        supports_check_mode=True,
    )
    require_client_libs(module)
    run_module(module, run, what="read")


if __name__ == "__main__":
    main()
