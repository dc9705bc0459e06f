"""The built-in KNN-Shapley variants: ``jia``, ``soft``, ``threshold``.

Each is one registration: the variant's recursion (or the threshold closed
form) on the exact engine (:func:`~ads_jax.valuation.knn_shapley.knn_variant`)
plus its game written from the definition in NumPy (``utility``), which the
brute-force test of :mod:`ads_jax.valuation.testing` enumerates over every
subset -- so a new variant registered with a utility is tested by that
registration alone.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ads_jax import _validation as V
from ads_jax.valuation.insertion import joining_values
from ads_jax.valuation.knn_shapley import knn_variant
from ads_jax.valuation.recursions import JIA, SOFT
from ads_jax.valuation.registry import register_valuation

__all__ = ["ThresholdOptions", "jia_utility", "soft_utility", "threshold_utility",
           "BUILTIN_VALUATIONS"]


def _top_k_members(member: np.ndarray, k: int) -> np.ndarray:
    return member & (np.cumsum(member, axis=1) <= k)


def jia_utility(member, match, dist, *, k, num_classes, options):
    """Jia et al.: ``U(S) = (1/K) sum_{j <= min(K, |S|)} a_j``; ``U(empty) = 0``."""
    return (_top_k_members(member, k) * match).sum(1) / k


def soft_utility(member, match, dist, *, k, num_classes, options):
    """Soft-label: ``U(S) = mean of a_j over the min(K, |S|) nearest``; ``U(empty) = 1/C``."""
    size = member.sum(1)
    hit = (_top_k_members(member, k) * match).sum(1)
    return np.where(size > 0, hit / np.maximum(np.minimum(size, k), 1), 1.0 / num_classes)


def threshold_utility(member, match, dist, *, k, num_classes, options):
    """Threshold: fraction of matches among members with distance <= tau; 1/C if none."""
    ball = member & (dist <= options.tau)[None, :]
    cnt = ball.sum(1)
    return np.where(cnt > 0, (ball * match).sum(1) / np.maximum(cnt, 1), 1.0 / num_classes)


@dataclasses.dataclass(frozen=True)
class ThresholdOptions:
    """Options of ``"threshold"``.

    Attributes:
      tau: the neighbourhood radius, in the units of ``metric`` (e.g. a
        quantile of the validation-to-training distances); required.
    """

    tau: float

    def __post_init__(self):
        V.check_number("valuation.options.tau", self.tau, lo=0)


def _threshold_examples(dist: np.ndarray) -> list[dict]:
    """Radii for the tests: empty balls, halfway between distinct distances, everything."""
    u = np.unique(dist)
    mids = [0.5 * (u[j] + u[j + 1]) for j in (int(0.3 * (u.size - 1)), int(0.7 * (u.size - 1)))
            if j + 1 < u.size]
    return [{"tau": float(t)} for t in [0.0, *mids, float(u.max()) + 1.0]]


register_valuation("jia", knn_variant(JIA, joining_values=joining_values), utility=jia_utility)
register_valuation("soft", knn_variant(SOFT), utility=soft_utility)
register_valuation("threshold", knn_variant(None, options=ThresholdOptions),
                   utility=threshold_utility, example_options=_threshold_examples)

#: The KNN-Shapley variants ads_jax registers itself.
BUILTIN_VALUATIONS = ("jia", "soft", "threshold")
