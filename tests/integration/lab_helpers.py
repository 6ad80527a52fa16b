"""Small helpers the lab integration tests share: waiting, and reading pods and their sidecars.

Not a test module (pytest collects only test_*.py); the test files import it by name, their
directory being on sys.path as for conftest.py.
"""

import json
import subprocess
import time
from dataclasses import dataclass

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


# Namespaces whose workloads run without sidecar by design: the cluster's own and Istio's (the
# addons); the STRICT gate of site.yml leaves them out by default too.
SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "istio-system")


def plaintext_pods(kube, exclude=SYSTEM_NAMESPACES):
    """'namespace/name' of the running pods without istio-proxy outside `exclude`: the clients that
    the STRICT gate of a later site.yml would rightly refuse to lock out."""
    return sorted("%s/%s" % (p["metadata"]["namespace"], p["metadata"]["name"])
                  for p in kube.list("v1", "Pod")
                  if p["metadata"]["namespace"] not in exclude and not has_proxy(p)
                  and not p["metadata"].get("deletionTimestamp")
                  and (p.get("status") or {}).get("phase") in ("Pending", "Running"))


def plaintext_namespaces(kube, exclude=SYSTEM_NAMESPACES):
    """The namespaces of plaintext_pods(kube, exclude), sorted."""
    return sorted(set(pod.split("/")[0] for pod in plaintext_pods(kube, exclude)))


def delete_namespaces(kube, names, timeout=180):
    """Delete the namespaces (those that exist) and wait until they are gone."""
    for name in names:
        if kube.get("v1", "Namespace", name) is not None:
            kube.resource("v1", "Namespace").delete(name=name)
    wait_for(lambda: all(kube.get("v1", "Namespace", name) is None for name in names),
             "namespaces %s to go" % ", ".join(names), timeout)


def forget_drift_records(lab):
    """Delete every desired-state record (ConfigMaps meshops.istio/drift-stage=*) in the lab.

    On a shared xdist lab the files run before this one leave records of their own stages (models
    and namespaces they removed by hand, revisions they tried); a drift test that expects `clean`
    starts from the records of the stages it converges itself."""
    subprocess.run([lab.kubectl, "--kubeconfig", lab.kubeconfig, "delete", "configmap", "--all-namespaces",
                    "-l", "meshops.istio/drift-stage", "--ignore-not-found"],
                   check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@dataclass
class HostOutcome:
    """One inventory host's part of a run: its recap counts and the text of the tasks that failed on it
    (every string in those results, msg and argument_errors among them; not the echoed input, such as
    the role's whole argument spec, which quotes every accepted value)."""

    failed: int  # failed and unreachable tasks
    changed: int
    text: str


# What a failed result echoes of its input rather than says about it.
ECHOED = ("argument_spec_data", "validate_args_context", "invocation", "_ansible_no_log")


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def outcomes_by_host(output):
    """{host: HostOutcome} from the output of a run with the ansible.posix.json stdout callback (other text, such as
    warnings on stderr, comes before its one top-level object)."""
    start = output.find("\n{\n") + 1 if not output.startswith("{") else 0
    report = json.JSONDecoder().raw_decode(output[start:])[0]
    texts = {host: [] for host in report["stats"]}
    for play in report["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                if result.get("failed") or result.get("unreachable"):
                    texts[host].extend(_strings({key: value for key, value in result.items() if key not in ECHOED}))
    return {host: HostOutcome(failed=stats["failures"] + stats["unreachable"], changed=stats["changed"],
                              text="\n".join(texts[host]))
            for host, stats in report["stats"].items()}
