"""kube/manifest.py: the C loader when PyYAML has it, with the objects yaml.safe_load_all builds."""

import pytest
import yaml

from ansible_collections.meshops.istio.plugins.module_utils.kube import manifest

TEXT = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: a, namespace: istio-system}
data:
  mesh: |
    defaultConfig:
      holdApplicationUntilProxyStarts: true
  number: "8080"
---
---
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Service, metadata: {name: b}, spec: {ports: [{port: 80, targetPort: 9080}]}}
"""


def test_load_all_builds_what_safe_load_all_builds_with_libyaml_when_there():
    assert manifest.load_all(TEXT) == list(yaml.safe_load_all(TEXT))
    assert manifest.load_all(TEXT)[1] is None
    assert manifest.LOADER is getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    assert manifest.load("a: [1, '2', yes]") == {"a": [1, "2", True]}


def test_unsafe_tags_and_bad_yaml_are_refused():
    with pytest.raises(manifest.YAMLError):
        manifest.load("!!python/object/apply:os.system ['true']")
    with pytest.raises(manifest.YAMLError):
        manifest.load_all("a: [1,\n")
