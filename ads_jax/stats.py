"""Statistics for comparing active-learning arms over seeds.

Every arm of an experiment runs with the same seeds, and a seed fixes the
data split and the initial labeled set; two arms are therefore compared
**paired by seed**: the per-seed differences ``a_s - b_s`` remove the
seed-to-seed variation that both arms share, which an unpaired comparison of
the two means would count as noise.

* :func:`paired_difference` -- mean paired difference with a confidence
  interval (Student t or percentile bootstrap) and a verdict.
* :func:`learning_curve_area` -- normalised area under an accuracy vs.
  labeled-count curve (one number for a whole run).
* :func:`balanced_accuracy` -- mean per-class recall.
* :func:`compare` / :func:`format_comparison` -- every arm against a baseline
  from result records (``ads_jax.rundir`` records: ``arm, seed, round,
  labeled, test_accuracy``, ...), final round and curve area, as plain dicts
  and a Markdown table.

Everything here is host-side NumPy (plus ``scipy.stats.t``; SciPy is a
dependency of scikit-learn). Inputs are validated and bad ones raise a
``ValueError`` naming the argument.
"""

from __future__ import annotations

import math
import numbers
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy import stats

from ads_jax import _validation as V

__all__ = [
    "PairedComparison",
    "paired_difference",
    "learning_curve_area",
    "balanced_accuracy",
    "compare",
    "format_comparison",
    "METHODS",
    "VERDICTS",
]

METHODS = ("t", "bootstrap")
VERDICTS = ("better", "worse", "level")


class PairedComparison(NamedTuple):
    """Result of :func:`paired_difference` (difference ``a - b``).

    Attributes:
      mean: mean of the paired differences (NaN if ``n == 0``).
      lo, hi: confidence interval of the mean difference (NaN if ``n < 2``).
      n: number of pairs.
      method: ``"t"`` or ``"bootstrap"``.
      confidence: confidence level of the interval.
      verdict: ``"better"`` (``lo > 0``: ``a`` beats ``b``), ``"worse"``
        (``hi < 0``) or ``"level"`` (the interval contains 0, or no interval).
      note: why there is no interval (``n < 2``), else ``""``.
    """

    mean: float
    lo: float
    hi: float
    n: int
    method: str
    confidence: float
    verdict: str
    note: str = ""


def _vector(name: str, v: Any) -> np.ndarray:
    """1-D finite float64 array or ValueError naming ``name``."""
    if isinstance(v, (str, bytes)) or v is None:
        raise TypeError(f"`{name}` must be a 1-D array of numbers, got {type(v).__name__}.")
    arr = np.asarray(v)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"`{name}` must be a 1-D array of numbers, got dtype {arr.dtype}.")
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be a 1-D array, got shape {arr.shape}.")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"`{name}` contains {int(bad.sum())} non-finite value(s) (NaN or inf), "
                         f"first at index {int(np.argmax(bad))}; drop those seeds or fix the "
                         "records.")
    return arr


def _verdict(lo: float, hi: float) -> str:
    if lo > 0:
        return "better"
    if hi < 0:
        return "worse"
    return "level"


def paired_difference(a: Sequence[float], b: Sequence[float], *, method: str = "t",
                      confidence: float = 0.95, n_boot: int = 10000,
                      seed: int = 0) -> PairedComparison:
    """Mean of ``a - b`` paired by position (seed), with a confidence interval.

    * ``method="t"``: Student t interval, ``mean +- t_{n-1, (1+conf)/2} *
      sd / sqrt(n)`` (``sd`` with ``n - 1`` degrees of freedom), as
      ``scipy.stats.ttest_rel(a, b).confidence_interval(conf)``.
    * ``method="bootstrap"``: percentile bootstrap over the pairs:
      ``n_boot`` resamples of ``n`` pair indices drawn with
      ``numpy.random.default_rng(seed).integers(0, n, (n_boot, n))``; the
      interval is the ``(1 -+ conf) / 2`` quantiles (linear interpolation) of
      the resampled means. These are exactly the draws and quantiles of
      ``scipy.stats.bootstrap((a, b), ..., paired=True, method="percentile",
      rng=numpy.random.default_rng(seed))``. With few seeds (< 10) the
      percentile interval is too narrow; prefer ``"t"``.

    Identical differences (zero spread) give the degenerate interval
    ``[mean, mean]``. With ``n < 2`` there is no interval: ``lo = hi = nan``,
    verdict ``"level"`` and a ``note``.

    Args:
      a, b: (S,) finite numbers, one per seed, same order.
      method: ``"t"`` | ``"bootstrap"``.
      confidence: in (0, 1).
      n_boot: bootstrap resamples >= 1 (bootstrap only).
      seed: NumPy generator seed (bootstrap only).

    Returns:
      :class:`PairedComparison`.
    """
    a = _vector("a", a)
    b = _vector("b", b)
    if a.shape != b.shape:
        raise ValueError(f"`a` and `b` must pair one value per seed: got {a.size} and {b.size} "
                         "values.")
    V.check_choice("method", method, METHODS)
    confidence = V.check_number("confidence", confidence, lo=0, hi=1, lo_open=True, hi_open=True)
    n_boot = V.check_positive_int("n_boot", n_boot)
    seed = V.check_nonneg_int("seed", seed)
    d = a - b
    n = int(d.size)
    nan = float("nan")
    if n < 2:
        mean = float(d[0]) if n else nan
        note = ("no paired seeds" if n == 0 else
                "one paired seed: no interval (needs >= 2 seeds)")
        return PairedComparison(mean, nan, nan, n, method, confidence, "level", note)
    mean = float(np.mean(d))
    if np.all(d == d[0]):
        lo = hi = mean
    elif method == "t":
        se = float(np.std(d, ddof=1)) / math.sqrt(n)
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * se
        lo, hi = mean - half, mean + half
    else:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, (n_boot, n))
        means = np.mean(d[idx], axis=-1)
        alpha = (1 - confidence) / 2
        lo, hi = (float(q) for q in np.quantile(means, [alpha, 1 - alpha]))
    return PairedComparison(mean, float(lo), float(hi), n, method, confidence, _verdict(lo, hi))


def learning_curve_area(labeled: Sequence[float], accuracy: Sequence[float]) -> float:
    """Normalised area under the accuracy vs. labeled-count curve.

    The trapezoid-rule area of ``accuracy`` over ``labeled``, divided by the
    labeled range ``labeled[-1] - labeled[0]``: the mean accuracy over the
    labeling budget, in the units of ``accuracy`` (a curve constant at ``c``
    scores ``c``). Unlike a mean over rounds it weighs each round by the
    labels it spans, so uneven round sizes are handled. A single round
    returns its accuracy.

    Args:
      labeled: (R,) strictly increasing labeled-set sizes, one per round.
      accuracy: (R,) finite metric values of the same rounds.

    Returns:
      float.
    """
    x = _vector("labeled", labeled)
    y = _vector("accuracy", accuracy)
    if x.size == 0:
        raise ValueError("`labeled` must not be empty (at least one round).")
    if x.shape != y.shape:
        raise ValueError(f"`labeled` and `accuracy` must have one entry per round: got "
                         f"{x.size} and {y.size}.")
    if x.size == 1:
        return float(y[0])
    if np.any(np.diff(x) <= 0):
        raise ValueError(f"`labeled` must be strictly increasing over rounds, got {x.tolist()}.")
    area = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))
    return area / float(x[-1] - x[0])


def balanced_accuracy(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> float:
    """Mean per-class recall over the classes present in ``y_true``.

    scikit-learn's ``balanced_accuracy_score`` (``adjusted=False``): classes
    absent from ``y_true`` are left out (their recall is undefined).

    Args:
      y_true: (N,) int labels in ``[0, num_classes)``, N >= 1.
      y_pred: (N,) int predictions in ``[0, num_classes)``.
      num_classes: C >= 1.

    Returns:
      float in [0, 1].
    """
    num_classes = V.check_positive_int("num_classes", num_classes)
    y_true = np.asarray(V.check_labels("y_true", np.asarray(y_true), num_classes))
    y_pred = np.asarray(V.check_labels("y_pred", np.asarray(y_pred), num_classes))
    V.check_same_length(y_true=y_true, y_pred=y_pred)
    if y_true.size == 0:
        raise ValueError("`y_true` must not be empty.")
    support = np.bincount(y_true, minlength=num_classes)
    hits = np.bincount(y_true[y_true == y_pred], minlength=num_classes)
    present = support > 0
    return float(np.mean(hits[present] / support[present]))


# =============================================================================
# Comparing arms from result records
# =============================================================================
_REQUIRED = ("arm", "seed", "round", "labeled")


def _runs(records: Sequence[dict], metric: str) -> dict[str, dict[Any, tuple[np.ndarray, np.ndarray]]]:
    """{arm: {seed: (labeled (R,), metric (R,))}} sorted by round; checks consistency."""
    by_run: dict[tuple[str, Any], dict[int, tuple[float, float]]] = defaultdict(dict)
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise TypeError(f"`records[{i}]` must be a dict, got {type(r).__name__}.")
        for k in (*_REQUIRED, metric):
            if k not in r:
                raise ValueError(f"`records[{i}]` has no key {k!r} (keys: {sorted(r)}); every "
                                 f"record needs {list(_REQUIRED) + [metric]}.")
        arm, seed, rnd, lab, val = r["arm"], r["seed"], r["round"], r["labeled"], r[metric]
        if isinstance(seed, numbers.Integral):
            seed = int(seed)
        if not isinstance(arm, str):
            raise TypeError(f"`records[{i}]['arm']` must be a string, got {arm!r}.")
        for k, v in (("round", rnd), ("labeled", lab)):
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"`records[{i}][{k!r}]` must be an integer, got {v!r}.")
        if isinstance(val, bool) or not isinstance(val, numbers.Real) or not math.isfinite(val):
            raise ValueError(f"`records[{i}][{metric!r}]` must be a finite number, got {val!r}.")
        run = by_run[(arm, seed)]
        entry = (int(lab), float(val))
        if int(rnd) in run and run[int(rnd)] != entry:
            old = run[int(rnd)]
            raise ValueError(
                f"Arm {arm!r}, seed {seed!r}, round {int(rnd)} appears twice with different "
                f"results (labeled={old[0]}, {metric}={old[1]} vs labeled={entry[0]}, "
                f"{metric}={entry[1]}; records[{i}]): these are two different runs. Keep the "
                "records of one run per (arm, seed), e.g. filter by experiment / grid point.")
        run[int(rnd)] = entry
    out: dict[str, dict[Any, tuple[np.ndarray, np.ndarray]]] = defaultdict(dict)
    for (arm, seed), run in by_run.items():
        rounds = sorted(run)
        lab = np.array([run[k][0] for k in rounds], np.int64)
        val = np.array([run[k][1] for k in rounds], np.float64)
        if np.any(np.diff(lab) <= 0):
            raise ValueError(f"Arm {arm!r}, seed {seed!r}: `labeled` must grow with the round, "
                             f"got {lab.tolist()} for rounds {rounds} (records of different "
                             "runs mixed?).")
        out[arm][seed] = (lab, val)
    return out


def _sorted_seeds(seeds) -> list:
    """Seeds in natural order (numbers numerically), as plain JSON-able values."""
    plain = [int(s) if isinstance(s, numbers.Integral) else s for s in seeds]
    try:
        return sorted(plain)
    except TypeError:  # mixed types
        return sorted(plain, key=repr)


def _none_if_nan(v: float) -> float | None:
    return None if isinstance(v, float) and math.isnan(v) else v


def compare(records: Sequence[dict], *, baseline: str, metric: str = "test_accuracy",
            method: str = "t", confidence: float = 0.95, n_boot: int = 10000,
            seed: int = 0) -> list[dict]:
    """Every arm against ``baseline``, paired by seed: final round and curve area.

    The records (one per arm x seed x round, as ``ads_jax.rundir`` writes
    them) are grouped into runs ``(arm, seed)`` ordered by round. For every
    arm other than the baseline, the seeds both arms have are paired and two
    quantities compared with :func:`paired_difference` (``arm - baseline``):
    ``"final"``, the metric at the last round, and ``"area"``, the
    :func:`learning_curve_area` of the metric over ``labeled``.

    Never merges runs silently: a round of one (arm, seed) that appears twice
    with different ``labeled`` or metric values (two runs) raises
    ``ValueError``; so does a paired seed whose arm and baseline runs have
    different ``labeled`` sequences (different budgets, or an unfinished run:
    filter the records first). Identical duplicate records are counted once.

    Args:
      records: dicts with keys ``arm`` (str), ``seed``, ``round`` (int),
        ``labeled`` (int) and ``metric`` (finite number); other keys ignored.
      baseline: the reference arm.
      metric: record key to compare, e.g. ``"test_accuracy"`` or
        ``"test_balanced_accuracy"``.
      method, confidence, n_boot, seed: as :func:`paired_difference`.

    Returns:
      A list of JSON-able dicts, two per arm (``quantity`` ``"final"`` then
      ``"area"``), arms sorted by name: ``arm, baseline, metric, quantity,
      n, seeds`` (the paired seeds, sorted), ``arm_mean, baseline_mean``
      (over the paired seeds), ``mean, lo, hi`` (difference and interval;
      ``None`` where undefined), ``method, confidence, verdict, note``
      (e.g. seeds only one arm has, or why there is no interval).
    """
    if not isinstance(metric, str):
        raise TypeError(f"`metric` must be a record key (string), got {metric!r}.")
    V.check_choice("method", method, METHODS)
    runs = _runs(records, metric)
    if baseline not in runs:
        raise ValueError(f"`baseline` {baseline!r} has no records; arms: {sorted(runs)}.")
    base = runs[baseline]
    rows = []
    for arm in sorted(a for a in runs if a != baseline):
        mine = runs[arm]
        seeds = _sorted_seeds(set(mine) & set(base))
        for s in seeds:
            if not np.array_equal(mine[s][0], base[s][0]):
                raise ValueError(
                    f"Seed {s!r}: arm {arm!r} has labeled sizes {mine[s][0].tolist()} but the "
                    f"baseline {baseline!r} has {base[s][0].tolist()}; paired runs must share "
                    "their labeling schedule (same budget and rounds; unfinished runs?).")
        notes = []
        only_arm = _sorted_seeds(set(mine) - set(base))
        only_base = _sorted_seeds(set(base) - set(mine))
        if only_arm:
            notes.append(f"seeds without baseline: {only_arm}")
        if only_base:
            notes.append(f"seeds without {arm}: {only_base}")
        quantities = {
            "final": lambda run: float(run[1][-1]),
            "area": lambda run: learning_curve_area(run[0], run[1]),
        }
        for q, fn in quantities.items():
            xa = np.array([fn(mine[s]) for s in seeds], np.float64)
            xb = np.array([fn(base[s]) for s in seeds], np.float64)
            res = paired_difference(xa, xb, method=method, confidence=confidence,
                                    n_boot=n_boot, seed=seed)
            note = "; ".join([*notes, *([res.note] if res.note else [])])
            rows.append({
                "arm": arm, "baseline": baseline, "metric": metric, "quantity": q,
                "n": res.n, "seeds": list(seeds),
                "arm_mean": _none_if_nan(float(np.mean(xa))) if seeds else None,
                "baseline_mean": _none_if_nan(float(np.mean(xb))) if seeds else None,
                "mean": _none_if_nan(res.mean), "lo": _none_if_nan(res.lo),
                "hi": _none_if_nan(res.hi), "method": res.method,
                "confidence": res.confidence, "verdict": res.verdict, "note": note,
            })
    return rows


def format_comparison(rows: Sequence[dict], *, digits: int = 4) -> str:
    """Markdown table of :func:`compare`'s rows.

    Columns: arm, baseline, metric, quantity (final / area), n (paired
    seeds), arm and baseline means, the difference and its interval
    (``conf% CI``), verdict, note.
    """
    digits = V.check_nonneg_int("digits", digits)

    def num(v, signed=False):
        if v is None:
            return "–"
        return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"

    head = ("| arm | baseline | metric | quantity | n | arm | baseline | difference | CI "
            "| verdict | note |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        ci = ("–" if r["lo"] is None else
              f"[{num(r['lo'], True)}, {num(r['hi'], True)}] ({100 * r['confidence']:g}%, "
              f"{r['method']})")
        lines.append(
            f"| {r['arm']} | {r['baseline']} | {r['metric']} | {r['quantity']} | {r['n']} "
            f"| {num(r['arm_mean'])} | {num(r['baseline_mean'])} | {num(r['mean'], True)} "
            f"| {ci} | {r['verdict']} | {r['note'] or ''} |")
    return "\n".join(lines) + "\n"
