# -*- coding: utf-8 -*-
# Copyright: meshops developers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How far an observed count may be from what a weight predicts before a check fails.

Over ``n`` independent calls a destination of weight ``p`` answers a binomial number of them:
mean ``n*p``, standard deviation ``sqrt(n*p*(1-p))``. A check passes when the observed count is
within ``z`` standard deviations of the mean; z=3.3 fails a correct route about once in a
thousand runs (two-sided normal tail), per destination.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import math

DEFAULT_Z = 3.3


def tolerance(n, p, z=DEFAULT_Z):
    """Allowed distance from n*p (0 when p is 0 or 1: then every call must go the same way)."""
    if n <= 0 or p <= 0 or p >= 1:
        return 0.0
    return z * math.sqrt(n * p * (1 - p))


def within(observed, n, p, z=DEFAULT_Z):
    """(passed, expected, tolerance) for one destination of weight p (a fraction) over n calls."""
    expected = n * p
    tol = tolerance(n, p, z)
    return abs(observed - expected) <= tol + 1e-9, expected, tol


def split(observed, n, weights, z=DEFAULT_Z):
    """Every key of ``weights`` (fractions summing to 1) against ``observed`` counts over n calls.

    Returns (passed, rows) with a row {"key", "weight", "expected", "tolerance", "observed", "passed"}
    per weight, then one per observed key that has no weight (expected 0, it fails).
    """
    rows = []
    for key in sorted(weights):
        ok, expected, tol = within(observed.get(key, 0), n, weights[key], z)
        rows.append({"key": key, "weight": weights[key], "expected": expected, "tolerance": tol,
                     "observed": observed.get(key, 0), "passed": ok})
    for key in sorted(k for k in observed if k not in weights and observed[k]):
        rows.append({"key": key, "weight": 0.0, "expected": 0.0, "tolerance": 0.0, "observed": observed[key], "passed": False})
    return all(row["passed"] for row in rows), rows
