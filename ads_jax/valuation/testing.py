"""Brute-force Shapley values of a registered KNN valuation game, for tests.

:func:`brute_force_values` enumerates every subset of a tiny training set
(N <= ~14) and computes exact Shapley values from the utility a variant was
registered with (``register_valuation(..., utility=...)``), independently of
its recursion. The test suite runs it over every registered variant, and a
researcher checks a new variant the same way::

    from ads_jax.valuation.testing import brute_force_values
    want = brute_force_values("harmonic", dist, train_y, val_y, k=3, num_classes=2)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ads_jax.valuation.registry import VALUATIONS

__all__ = ["brute_force_values", "stable_order"]


def stable_order(row: np.ndarray) -> np.ndarray:
    """Indices by distance, ties to the lower index (the library's convention)."""
    return np.lexsort((np.arange(row.shape[0]), row))


def brute_force_values(name: str, dist: np.ndarray, train_y: np.ndarray, val_y: np.ndarray, *,
                       k: int, num_classes: int, options: Any = None) -> np.ndarray:
    """Exact Shapley values of every training point, per validation point.

    Args:
      name: a registered valuation with a ``utility``.
      dist: (M, N) float distances, validation x training (in the variant's metric).
      train_y: (N,) int labels; val_y: (M,) int labels.
      k: K; num_classes: C.
      options: the variant's options (mapping or typed); None = defaults.

    Returns:
      (M, N) float64 Shapley values (players in training order).

    Raises:
      ValueError: the variant has no registered utility, or N > 16.
    """
    entry = VALUATIONS.get(name)
    utility = entry.meta.get("utility")
    if utility is None:
        raise ValueError(f"valuation {name!r} was registered without a `utility`; "
                         "brute force needs the game's definition.")
    if options is None or isinstance(options, dict):
        options = VALUATIONS.typed(name, options or {})
    dist = np.asarray(dist, np.float64)
    train_y, val_y = np.asarray(train_y), np.asarray(val_y)
    m, n = dist.shape
    if n > 16:
        raise ValueError(f"brute force enumerates 2**N subsets; N={n} is too many (<= 16).")
    masks = np.arange(2**n)
    fact = [math.factorial(i) for i in range(n + 1)]
    out = np.zeros((m, n))
    for b in range(m):
        order = stable_order(dist[b])
        match = (train_y[order] == val_y[b]).astype(np.float64)
        member = ((masks[:, None] >> order[None, :]) & 1).astype(bool)  # (2^n, n), sorted
        size = member.sum(1)
        util = np.asarray(utility(member, match, dist[b][order], k=k, num_classes=num_classes,
                                  options=options), np.float64)
        for i in range(n):
            without = masks[((masks >> i) & 1) == 0]
            s = size[without]
            w = np.array([fact[j] * fact[n - j - 1] / fact[n] for j in s])
            out[b, i] = np.sum(w * (util[without | (1 << i)] - util[without]))
    return out
