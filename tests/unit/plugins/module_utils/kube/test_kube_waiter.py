"""kube/waiter.py with a fake clock and sleep: nothing here waits."""

from ansible_collections.meshops.istio.plugins.module_utils.kube import waiter


class Clock:
    """Time advances only when the waiter sleeps."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def _deployment(generation=2, observed=2, replicas=1, ready=1):
    return {"metadata": {"generation": generation}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "replicas": replicas, "updatedReplicas": ready,
                       "availableReplicas": ready}}


class Deployments:
    """get() answers from a script: each (namespace, name) moves through its list of states, one per read."""

    def __init__(self, script):
        self.script = {key: list(states) for key, states in script.items()}
        self.reads = []

    def get(self, api_version, kind, name, namespace=None):
        assert (api_version, kind) == ("apps/v1", "Deployment")
        self.reads.append((namespace, name))
        states = self.script.get((namespace, name))
        if not states:
            return None
        return states.pop(0) if len(states) > 1 else states[0]


def test_wait_until_stops_when_nothing_is_pending():
    clock = Clock()
    rounds = []

    def pending(items):
        rounds.append(list(items))
        return items[1:]
    assert waiter.wait_until(["a", "b", "c"], pending, timeout=60, interval=5, clock=clock, sleep=clock.sleep) == []
    assert rounds == [["a", "b", "c"], ["b", "c"], ["c"]]
    assert clock.sleeps == [5, 5]


def test_wait_until_returns_what_is_pending_at_the_deadline():
    clock = Clock()
    assert waiter.wait_until(["a"], lambda items: items, timeout=10, interval=3, clock=clock, sleep=clock.sleep) == ["a"]
    assert clock.sleeps == [3, 3, 3, 3] and clock.now == 12


def test_wait_rollout_waits_for_every_deployment_and_ignores_deleted_ones():
    kube = Deployments({
        ("shop", "order"): [_deployment(observed=1), _deployment(ready=0), _deployment()],
        ("shop", "cart"): [_deployment()],
    })
    clock = Clock()
    pending = waiter.wait_rollout(kube, [("shop", "order"), ("shop", "cart"), ("shop", "gone")], timeout=60,
                                  clock=clock, sleep=clock.sleep)
    assert pending == []
    assert clock.sleeps == [2.0, 2.0]
    assert kube.reads.count(("shop", "cart")) == 1 and kube.reads.count(("shop", "order")) == 3


def test_wait_rollout_names_what_is_still_rolling_out():
    kube = Deployments({("shop", "order"): [_deployment(ready=0)]})
    clock = Clock()
    assert waiter.wait_rollout(kube, [("shop", "order")], timeout=5, clock=clock, sleep=clock.sleep) == [("shop", "order")]


def test_rollout_done_needs_the_latest_generation_fully_available():
    assert waiter.rollout_done(_deployment()) is True
    assert waiter.rollout_done(_deployment(observed=1)) is False
    assert waiter.rollout_done(_deployment(replicas=2, ready=1)) is False
    assert waiter.rollout_done({"metadata": {}, "spec": {}, "status": {}}) is False
