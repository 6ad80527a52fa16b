"""What the lab takes from the collection, in one place.

- The Istio version the collection installs: ``istioctl_version`` in
  roles/istioctl/defaults/main.yml is its one home; the lab builds and mirrors that release.
- The names Istio derives from a control-plane revision (istiod's Deployment, the injector
  ConfigMap and webhook): plugins/module_utils/istio/operator.py computes them for the roles,
  and the lab imports them from there rather than keeping a copy.
"""

import os
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROLE_DEFAULTS = os.path.join(ROOT, "roles", "istioctl", "defaults", "main.yml")
LINK_ROOT = os.path.join(ROOT, ".collections")


def istio_version(path=ROLE_DEFAULTS):
    """The collection's Istio version: istioctl_version in the istioctl role's defaults."""
    with open(path, encoding="utf-8") as handle:
        version = (yaml.safe_load(handle) or {}).get("istioctl_version")
    if not isinstance(version, str) or not version:
        raise SystemExit("[lab] %s sets no istioctl_version string" % os.path.relpath(path, ROOT))
    return version


# `ansible_collections.meshops.istio` resolves to this checkout through the link that
# scripts/collection-link makes (make, `lab up` and tests/conftest.py make it too).
if not os.path.islink(os.path.join(LINK_ROOT, "ansible_collections", "meshops", "istio")):
    subprocess.run([os.path.join(ROOT, "scripts", "collection-link")], check=True)
if LINK_ROOT not in sys.path:
    sys.path.insert(0, LINK_ROOT)

# Re-exported for the rest of the lab (lab.py, istiod_supervisor.py).
# pylint: disable=wrong-import-position,unused-import
from ansible_collections.meshops.istio.plugins.module_utils.istio.operator import (  # noqa: E402,F401
    injector_webhook_name,
    istiod_name,
    revision_label,
)
from ansible_collections.meshops.istio.plugins.module_utils.kube.names import is_dns_label  # noqa: E402,F401
# pylint: enable=wrong-import-position,unused-import

# Istio gives a revision's injector ConfigMap (its templates) the name of its injector webhook.
injector_configmap_name = injector_webhook_name
