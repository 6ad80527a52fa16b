"""The offline lab: a real Kubernetes control plane with KWOK nodes, istiod and a release mirror.

A package, run from the checkout's root:

    python -m lab up|status|down|env [--name NAME]   the lab itself (lab/lab.py)
    python -m lab.build [--list] [piece ...]          build its programs (lab/build.py)
    python -m lab.mirror build|serve ...              the Istio release mirror (lab/mirror.py)

The lab takes what it needs from the collection through lab/collection.py (the Istio version the
collection installs, the names Istio derives from a revision); the collection never reads the lab.
"""
