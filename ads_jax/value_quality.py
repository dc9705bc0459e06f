"""Value-quality metrics: how well data values find bad data and good data.

Pure NumPy functions (host side, float64), for evaluating a valuation
(:mod:`ads_jax.valuation`) or a value estimator on data whose corruption is
known. Conventions, fixed here because libraries use the same names for
different computations:

* A LOW value flags a point as bad. The detection metrics score each labeled
  point by ``-value`` for the positive class "corrupted"; the pool metrics
  score pool points by ``value`` for "clean".
* "AUROC" is the Mann-Whitney probability over pairs, ties counted 1/2 --
  exactly scikit-learn's ``roc_auc_score`` (trapezoidal ROC area), never a
  thresholded or interpolated variant.
* "average precision" is scikit-learn's step-wise
  ``average_precision_score`` (``sum_n (R_n - R_{n-1}) P_n`` over the distinct
  thresholds, no interpolation).
* "F1" is the binary F1 of the positive class "corrupted" for a fixed number
  of flagged points (``2 TP / (2 TP + FP + FN)``, scikit-learn's
  ``f1_score(corrupted, flagged)``), not a best-threshold F1.
* Counts ``ceil(fraction * n)`` are computed with a relative tolerance of
  1e-9 on the float product (so ``0.3 * 10`` flags 3 points, not 4).
* Ties in value are broken by index: of two equal values the lower index
  counts as lower-valued when taking the LOWEST points and as higher-valued
  when taking the HIGHEST points (i.e. it is taken first in both cases).

Undefined cases raise ``ValueError`` (never return NaN): an AUROC needs at
least one point of each class; every detection metric needs at least one
corrupted point; values must be finite.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

__all__ = [
    "MODES",
    "ORDERS",
    "detection_auroc",
    "detection_average_precision",
    "detection_f1",
    "pool_auroc",
    "removal_curve",
    "top_fraction_non_clean",
]

ORDERS = ("high_first", "low_first")
MODES = ("remove", "add")

_TOL = 1e-9


# ------------------------------------------------------------------ checks
def _values(name: str, values) -> np.ndarray:
    try:
        v = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(f"`{name}` must be a 1-D array of numbers.") from e
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"`{name}` must be a non-empty 1-D array, got shape {v.shape}.")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"`{name}` contains {int((~np.isfinite(v)).sum())} non-finite "
                         "value(s); value every point with a finite number.")
    return v


def _flags(name: str, x, n: int) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype != np.bool_:
        raise TypeError(f"`{name}` must be a boolean array, got dtype {a.dtype}. "
                        "Cast it with .astype(bool).")
    if a.shape != (n,):
        raise ValueError(f"`{name}` must have shape ({n},) like the values, got {a.shape}.")
    return a


def _need_both(name: str, positive: np.ndarray, pos_word: str, neg_word: str) -> None:
    if not positive.any() or positive.all():
        which = neg_word if positive.all() else pos_word
        raise ValueError(f"`{name}` has no {which} point: the AUROC is undefined "
                         f"(it needs at least one {pos_word} and one {neg_word} point).")


def _need_corrupted(corrupted: np.ndarray) -> None:
    if not corrupted.any():
        raise ValueError("`corrupted` has no corrupted point: there is nothing to detect "
                         "and the metric is undefined.")


def _ceil_count(fraction: float, n: int) -> int:
    """``ceil(fraction * n)`` with a relative tolerance on the float product."""
    x = float(fraction) * n
    return int(min(n, max(0, math.ceil(x - _TOL * x))))


def _fraction(name: str, f, *, zero_ok: bool) -> float:
    if isinstance(f, bool) or not isinstance(f, (int, float, np.integer, np.floating)):
        raise TypeError(f"`{name}` must be a number in {'[0' if zero_ok else '(0'}, 1], "
                        f"got {type(f).__name__}.")
    f = float(f)
    if not (math.isfinite(f) and (f >= 0 if zero_ok else f > 0) and f <= 1):
        raise ValueError(f"`{name}` must lie in {'[0' if zero_ok else '(0'}, 1], got {f}.")
    return f


def _rank_order(values: np.ndarray, *, lowest_first: bool) -> np.ndarray:
    """Indices by value (ascending or descending), ties to the lower index first."""
    idx = np.arange(values.size)
    return np.lexsort((idx, values if lowest_first else -values))


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney AUC: P(score_pos > score_neg) + 1/2 P(equal), via average ranks."""
    order = np.argsort(scores, kind="stable")
    s = scores[order]
    n = s.size
    # average 1-based rank of each group of equal scores
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    ends = np.r_[starts[1:], n]
    group_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(n)
    ranks[order] = np.repeat(group_rank, ends - starts)
    n_pos = int(positive.sum())
    n_neg = n - n_pos
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


# ----------------------------------------------------------- detection
def detection_auroc(values, corrupted) -> float:
    """AUROC of low values for detecting corrupted points.

    ``P(v_c < v_k) + 1/2 P(v_c == v_k)`` for a uniformly random corrupted
    point ``c`` and clean point ``k`` (Mann-Whitney U / (n_corrupted
    n_clean)); equals scikit-learn's ``roc_auc_score(corrupted, -values)``.
    1.0: every corrupted point is valued below every clean one; 0.5: chance.

    Args:
      values: (N,) finite float values of the labeled points.
      corrupted: (N,) bool, True for corrupted points (e.g. flipped labels).

    Returns:
      float in [0, 1].

    Raises:
      ValueError: no corrupted or no clean point (undefined), non-finite
      values, shape mismatch. TypeError: ``corrupted`` not boolean.
    """
    v = _values("values", values)
    c = _flags("corrupted", corrupted, v.size)
    _need_both("corrupted", c, "corrupted", "clean")
    return _auc(-v, c)


def detection_average_precision(values, corrupted) -> float:
    """Average precision of low values for detecting corrupted points.

    scikit-learn's step-wise ``average_precision_score(corrupted, -values)``:
    with the points ranked by increasing value and a threshold at every
    distinct value (equal values enter together), ``AP = sum_n (R_n - R_{n-1})
    P_n`` where ``P_n``, ``R_n`` are the precision and recall of "corrupted"
    among the points valued ``<=`` the n-th threshold (``R_0 = 0``; no
    interpolation). All points corrupted gives 1.

    Args / Raises: as :func:`detection_auroc`, except that only "no corrupted
    point" is undefined.

    Returns:
      float in [0, 1].
    """
    v = _values("values", values)
    c = _flags("corrupted", corrupted, v.size)
    _need_corrupted(c)
    order = np.argsort(v, kind="stable")  # increasing value = decreasing score
    sv, sc = v[order], c[order]
    last = np.r_[sv[1:] != sv[:-1], True]  # last index of each group of equal values
    tp = np.cumsum(sc)[last].astype(np.float64)
    seen = (np.flatnonzero(last) + 1).astype(np.float64)
    precision = tp / seen
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def detection_f1(values, corrupted, fraction: float | None = None) -> float:
    """F1 of flagging the lowest-valued points as corrupted.

    Flags the ``ceil(fraction * N)`` lowest-valued points (ties: lower index
    first) and returns the binary F1 of the class "corrupted":
    ``2 TP / (2 TP + FP + FN)``, i.e. scikit-learn's
    ``f1_score(corrupted, flagged)``. With the default fraction (the
    corruption rate) exactly as many points are flagged as are corrupted, so
    F1 = precision = recall.

    Args:
      values: (N,) finite float values. corrupted: (N,) bool.
      fraction: share of points to flag in [0, 1]; None: ``corrupted.mean()``
        (then exactly ``corrupted.sum()`` points).

    Returns:
      float in [0, 1].

    Raises:
      ValueError: no corrupted point (undefined), fraction outside [0, 1],
      non-finite values, shape mismatch. TypeError: ``corrupted`` not boolean.
    """
    v = _values("values", values)
    c = _flags("corrupted", corrupted, v.size)
    _need_corrupted(c)
    if fraction is None:
        count = int(c.sum())
    else:
        count = _ceil_count(_fraction("fraction", fraction, zero_ok=True), v.size)
    flagged = np.zeros(v.size, bool)
    flagged[_rank_order(v, lowest_first=True)[:count]] = True
    tp = int((flagged & c).sum())
    fp = int((flagged & ~c).sum())
    fn = int((~flagged & c).sum())
    return 2.0 * tp / (2.0 * tp + fp + fn)


# ------------------------------------------------------------ removal curves
def removal_curve(values, fit_eval: Callable[[np.ndarray], float], *,
                  fractions: Sequence[float], order: str,
                  mode: str = "remove") -> tuple[np.ndarray, np.ndarray, float]:
    """Point-removal (or point-addition) curve of a valuation.

    Ranks the N labeled points by value (``order="high_first"``: highest
    first; ``"low_first"``: lowest first; ties: lower index first) and, for
    each fraction ``f``, takes the first ``ceil(f N)`` points of that ranking:
    ``mode="remove"`` keeps all OTHER points, ``mode="add"`` keeps ONLY those
    (starting from nothing). ``fit_eval(keep_mask)`` -- supplied by the
    caller, e.g. the test accuracy of a model retrained on the kept points --
    scores each kept set (it may receive an all-True or all-False mask at
    ``f = 0`` / ``f = 1``; handle those).

    ``area`` is the normalised trapezoid area ``trapz(scores, fractions) /
    (fractions[-1] - fractions[0])``: the mean score over the curve. Good
    valuations give a LOW area for ``("remove", "high_first")`` and a HIGH one
    for ``("remove", "low_first")`` and ``("add", "high_first")``.

    Args:
      values: (N,) finite float values.
      fit_eval: ``fit_eval(keep_mask (N,) bool) -> float``; called once per
        fraction, in order, with a fresh array.
      fractions: increasing fractions in [0, 1], at least two.
      order: ``"high_first"`` | ``"low_first"``.
      mode: ``"remove"`` (default) | ``"add"``.

    Returns:
      ``(fractions (F,) float64, scores (F,) float64, area float)``.

    Raises:
      ValueError: bad ``fractions`` / ``order`` / ``mode`` / values, or a
      non-finite score from ``fit_eval``. TypeError: ``fit_eval`` not callable.
    """
    v = _values("values", values)
    if not callable(fit_eval):
        raise TypeError("`fit_eval` must be a callable keep_mask (N,) bool -> float.")
    if order not in ORDERS:
        raise ValueError(f"`order` must be one of {list(ORDERS)}, got {order!r}.")
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {list(MODES)}, got {mode!r}.")
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.ndim != 1 or fr.size < 2:
        raise ValueError(f"`fractions` must be a 1-D sequence of at least two fractions, got "
                         f"shape {fr.shape}.")
    if not (np.all(np.isfinite(fr)) and fr.min() >= 0 and fr.max() <= 1
            and np.all(np.diff(fr) > 0)):
        raise ValueError(f"`fractions` must be strictly increasing in [0, 1], got {fr.tolist()}.")
    ranked = _rank_order(v, lowest_first=(order == "low_first"))
    scores = np.empty(fr.size)
    for i, f in enumerate(fr):
        chosen = np.zeros(v.size, bool)
        chosen[ranked[:_ceil_count(f, v.size)]] = True
        keep = chosen if mode == "add" else ~chosen
        s = float(fit_eval(keep))
        if not math.isfinite(s):
            raise ValueError(f"`fit_eval` returned a non-finite score {s} at fraction {f}.")
        scores[i] = s
    area = float(np.sum(np.diff(fr) * (scores[1:] + scores[:-1]) / 2.0) / (fr[-1] - fr[0]))
    return fr, scores, area


# -------------------------------------------------------------- pool metrics
def top_fraction_non_clean(values, non_clean,
                           fractions: Sequence[float] = (0.1, 0.2, 0.3)) -> Mapping[float, float]:
    """Share of non-clean points among the highest-valued pool points.

    For each ``f``: the ``ceil(f U)`` highest values (ties: lower index
    first), and the fraction of them that are non-clean (e.g. noisy labels,
    out-of-distribution). Lower is better for a value estimator meant to
    avoid bad data.

    Args:
      values: (U,) finite float predicted values of the pool points.
      non_clean: (U,) bool, True for non-clean points.
      fractions: fractions in (0, 1].

    Returns:
      dict ``{f: share}`` (floats in [0, 1]), one entry per fraction.

    Raises:
      ValueError: a fraction outside (0, 1], non-finite values, shape
      mismatch. TypeError: ``non_clean`` not boolean.
    """
    v = _values("values", values)
    nc = _flags("non_clean", non_clean, v.size)
    ranked = _rank_order(v, lowest_first=False)
    out = {}
    for f in fractions:
        f = _fraction("fractions", f, zero_ok=False)
        top = ranked[:max(1, _ceil_count(f, v.size))]
        out[f] = float(nc[top].mean())
    return out


def pool_auroc(values, clean) -> float:
    """AUROC of predicted values for "clean" (higher value = clean).

    ``P(v_clean > v_other) + 1/2 P(equal)`` over pairs of a clean and a
    non-clean pool point (Mann-Whitney); equals scikit-learn's
    ``roc_auc_score(clean, values)``.

    Args:
      values: (U,) finite float predicted values. clean: (U,) bool.

    Returns:
      float in [0, 1].

    Raises:
      ValueError: all points clean or none clean (undefined), non-finite
      values, shape mismatch. TypeError: ``clean`` not boolean.
    """
    v = _values("values", values)
    c = _flags("clean", clean, v.size)
    _need_both("clean", c, "clean", "non-clean")
    return _auc(v, c)
