# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting for the API server to catch up: objects gone, Deployments rolled out.

Each waiter takes `clock` and `sleep` so that unit tests run it without waiting, and returns what
is still pending at the deadline (empty when done) instead of failing: the caller words the error.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import time


def rollout_done(deployment):
    """True when the Deployment's latest generation is fully rolled out and available."""
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    replicas = spec.get("replicas", 1)
    if status.get("observedGeneration", 0) < metadata.get("generation", 0):
        return False
    return (status.get("updatedReplicas", 0) == replicas and status.get("replicas", 0) == replicas
            and status.get("availableReplicas", 0) == replicas)


def wait_until(pending, still_pending, timeout, interval=1.0, clock=time.monotonic, sleep=time.sleep):
    """Poll: `still_pending(items)` returns the items not done yet; stop when none is left or the
    deadline has passed. Returns the items still pending (empty when all are done)."""
    deadline = clock() + timeout
    remaining = list(pending)
    while True:
        remaining = list(still_pending(remaining))
        if not remaining or clock() >= deadline:
            return remaining
        sleep(interval)


def wait_gone(kube, objects, timeout, interval=1.0, clock=time.monotonic, sleep=time.sleep):
    """Wait until none of `objects` exists any more (deletion is asynchronous: finalizers and
    foreground deletion keep an object until its dependents are gone). An object of the same name
    with another uid is a new object and does not count. Returns the objects still there at the
    deadline."""
    def lingering(items):
        found = []
        for obj in items:
            meta = obj.get("metadata") or {}
            current = kube.get(obj.get("apiVersion") or "v1", obj["kind"], meta["name"], meta.get("namespace"))
            if current is not None and (not meta.get("uid") or (current.get("metadata") or {}).get("uid") == meta["uid"]):
                found.append(obj)
        return found
    return wait_until(objects, lingering, timeout, interval, clock, sleep)


def wait_rollout(kube, deployments, timeout, interval=2.0, clock=time.monotonic, sleep=time.sleep):
    """Wait until the Deployments named by `deployments` ((namespace, name) pairs) are rolled out;
    a Deployment that no longer exists counts as done. Returns the pairs still rolling out at the
    deadline."""
    def rolling(items):
        found = []
        for namespace, name in items:
            deployment = kube.get("apps/v1", "Deployment", name, namespace)
            if deployment is not None and not rollout_done(deployment):
                found.append((namespace, name))
        return found
    return wait_until(deployments, rolling, timeout, interval, clock, sleep)
