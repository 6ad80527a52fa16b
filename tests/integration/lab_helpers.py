"""Small helpers the lab integration tests share: waiting, and reading pods and their sidecars.

Not a test module (pytest collects only test_*.py); the test files import it by name, their
directory being on sys.path as for conftest.py.
"""

import subprocess
import time

import pytest

PROXY = "istio-proxy"


def wait_for(predicate, what, timeout=180):
    """predicate()'s first truthy value, polled every second; the test fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    pytest.fail("timed out waiting for %s" % what)


def running_pods(kube, namespace, selector):
    """Pods matching the label selector that are Running and not being deleted."""
    return [p for p in kube.list("v1", "Pod", namespace=namespace, label_selector=selector)
            if not p["metadata"].get("deletionTimestamp") and (p.get("status") or {}).get("phase") == "Running"]


def proxy_container(pod):
    """The pod's istio-proxy container (a sidecar or a native init-container sidecar), or None."""
    spec = pod["spec"]
    for container in spec.get("containers", []) + (spec.get("initContainers") or []):
        if container["name"] == PROXY:
            return container
    return None


def has_proxy(pod):
    return proxy_container(pod) is not None


def forget_drift_records(lab):
    """Delete every desired-state record (ConfigMaps meshops.istio/drift-stage=*) in the lab.

    On a shared xdist lab the files run before this one leave records of their own stages (models
    and namespaces they removed by hand, revisions they tried); a drift test that expects `clean`
    starts from the records of the stages it converges itself."""
    subprocess.run([lab.kubectl, "--kubeconfig", lab.kubeconfig, "delete", "configmap", "--all-namespaces",
                    "-l", "meshops.istio/drift-stage", "--ignore-not-found"],
                   check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
