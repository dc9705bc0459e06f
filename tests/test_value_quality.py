"""Tests for ads_jax.value_quality against scikit-learn and independent NumPy."""

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from ads_jax.value_quality import (
    detection_auroc,
    detection_average_precision,
    detection_f1,
    pool_auroc,
    removal_curve,
    top_fraction_non_clean,
)


def _cases(rng):
    """(values, flags) pairs: continuous, heavy ties, perfect / inverted separation."""
    out = []
    for n, levels in ((40, None), (57, 4), (25, 2), (200, 7)):
        v = rng.normal(size=n)
        if levels is not None:
            v = np.round(v * levels / 3) / levels  # many exact ties
        f = rng.random(n) < 0.3
        f[0], f[1] = True, False  # both classes present
        out.append((v, f))
    v = np.arange(10.0)
    out.append((v, v < 3))   # low values flagged: perfect
    out.append((v, v >= 7))  # inverted
    out.append((np.zeros(6), np.array([1, 0, 1, 0, 0, 0], bool)))  # all tied
    return out


def _pair_auc(score, positive):
    """O(n^2) pair count: P(score_pos > score_neg) + 1/2 P(tie)."""
    p, q = score[positive], score[~positive]
    gt = (p[:, None] > q[None, :]).sum()
    eq = (p[:, None] == q[None, :]).sum()
    return (gt + 0.5 * eq) / (p.size * q.size)


def test_detection_auroc_matches_sklearn_and_pairs(rng):
    for v, c in _cases(rng):
        got = detection_auroc(v, c)
        assert got == pytest.approx(roc_auc_score(c, -v), abs=1e-12)
        assert got == pytest.approx(_pair_auc(-v, c), abs=1e-12)
    v = np.arange(10.0)
    assert detection_auroc(v, v < 3) == 1.0
    assert detection_auroc(v, v >= 7) == 0.0
    assert detection_auroc(np.zeros(6), np.arange(6) < 2) == 0.5


def test_pool_auroc_matches_sklearn(rng):
    for v, c in _cases(rng):
        assert pool_auroc(v, c) == pytest.approx(roc_auc_score(c, v), abs=1e-12)
        assert pool_auroc(v, c) == pytest.approx(_pair_auc(v, c), abs=1e-12)
        assert pool_auroc(v, ~c) == pytest.approx(detection_auroc(v, c), abs=1e-12)


def test_average_precision_matches_sklearn(rng):
    for v, c in _cases(rng):
        got = detection_average_precision(v, c)
        assert got == pytest.approx(average_precision_score(c, -v), abs=1e-12)
    # hand example: values 0 < 1 = 1 < 2, corrupted at the two lowest-valued?
    v = np.array([0.0, 1.0, 1.0, 2.0])
    c = np.array([True, False, True, False])
    # thresholds: {0}: P=1, R=1/2; {0,1,1}: P=2/3, R=1 -> AP = 1/2 + 1/2 * 2/3
    assert detection_average_precision(v, c) == pytest.approx(0.5 + 1 / 3)
    assert detection_average_precision(v, np.ones(4, bool)) == 1.0


def _lowest(v, count):
    """Independent: lowest `count` values, ties to the lower index (stable sort)."""
    flagged = np.zeros(v.size, bool)
    flagged[np.argsort(v, kind="stable")[:count]] = True
    return flagged


@pytest.mark.parametrize("fraction", [None, 0.0, 0.1, 0.3, 0.5, 1.0])
def test_detection_f1_matches_sklearn(rng, fraction):
    for v, c in _cases(rng):
        count = int(c.sum()) if fraction is None else math.ceil(round(fraction * v.size, 9))
        want = f1_score(c, _lowest(v, count), zero_division=0.0)
        assert detection_f1(v, c, fraction) == pytest.approx(want, abs=1e-12)


def test_detection_f1_ties_by_index_and_fraction_rounding():
    v = np.array([1.0, 0.0, 0.0, 0.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0])
    # 0.3 * 10 is 3.0000000000000004 in float: 3 points flagged, not 4.
    c = np.zeros(10, bool)
    c[[1, 2, 3]] = True
    assert detection_f1(v, c, 0.3) == 1.0
    # Two of three tied zeros flagged: the lower indices 1, 2.
    c2 = np.zeros(10, bool)
    c2[[1, 2]] = True
    assert detection_f1(v, c2, 0.2) == 1.0
    c3 = np.zeros(10, bool)
    c3[[2, 3]] = True
    assert detection_f1(v, c3, 0.2) == 0.5  # flags 1, 2: TP 1, FP 1, FN 1


def test_top_fraction_non_clean_matches_numpy(rng):
    for v, nc in _cases(rng):
        got = top_fraction_non_clean(v, nc, fractions=(0.01, 0.1, 0.25, 1.0))
        for f, share in got.items():
            cnt = max(1, math.ceil(round(f * v.size, 9)))
            top = np.lexsort((np.arange(v.size), -v))[:cnt]
            assert share == pytest.approx(nc[top].mean())
    v = np.array([3.0, 3.0, 1.0, 3.0])
    nc = np.array([False, True, False, True])
    # top ceil(0.5 * 4) = 2: the tied 3.0s at indices 0 and 1 -> share 1/2
    assert top_fraction_non_clean(v, nc, fractions=(0.5,)) == {0.5: 0.5}
    assert top_fraction_non_clean(v, nc, fractions=(0.25, 0.75)) == {0.25: 0.0, 0.75: 2 / 3}


def test_undefined_cases_raise():
    v = np.arange(5.0)
    none, every = np.zeros(5, bool), np.ones(5, bool)
    with pytest.raises(ValueError, match="no corrupted"):
        detection_auroc(v, none)
    with pytest.raises(ValueError, match="no clean"):
        detection_auroc(v, every)
    with pytest.raises(ValueError, match="no corrupted"):
        detection_average_precision(v, none)
    with pytest.raises(ValueError, match="no corrupted"):
        detection_f1(v, none)
    with pytest.raises(ValueError, match="no non-clean"):
        pool_auroc(v, every)  # all clean
    with pytest.raises(ValueError, match="no clean"):
        pool_auroc(v, none)
    with pytest.raises(ValueError, match="non-finite"):
        pool_auroc(np.array([0.0, np.nan]), np.array([True, False]))
    with pytest.raises(ValueError, match="shape"):
        pool_auroc(v, np.array([True, False]))
    with pytest.raises(TypeError, match="boolean"):
        pool_auroc(v, np.array([1, 0, 1, 0, 1]))
    with pytest.raises(ValueError, match="fraction"):
        detection_f1(v, every, 1.5)
    with pytest.raises(ValueError, match="fractions"):
        top_fraction_non_clean(v, none, fractions=(0.0,))


# ----------------------------------------------------------- removal curves
def _toy_data(rng, n_clean=20, n_noisy=8):
    """1-D, built so the curves are monotone: clean class 0 at -1, clean class 1
    at +1, and `n_noisy` class-0 points at -3 mislabeled as 1 (each drags the
    class-1 centroid left, moving the boundary away from the true one at 0).
    Test points: a grid on [-2, 2] labeled by sign."""
    x = np.concatenate([np.full(n_clean, -1.0), np.full(n_clean, 1.0), np.full(n_noisy, -3.0)])
    y = np.concatenate([np.zeros(n_clean, int), np.ones(n_clean, int), np.ones(n_noisy, int)])
    noisy = np.arange(x.size) >= 2 * n_clean
    perm = rng.permutation(x.size)
    xt = np.linspace(-2.0, 2.0, 401)
    return x[perm, None], y[perm], noisy[perm], xt[:, None], (xt > 0).astype(int)


def _nearest_centroid(x, y, xt, yt):
    """Accuracy of a nearest-centroid classifier trained on the kept points."""
    def fit_eval(keep):
        if len(np.unique(y[keep])) < 2:
            return 0.5  # nothing, or one class, to learn from: chance
        cents = np.stack([x[keep & (y == c)].mean(0) for c in (0, 1)])
        pred = np.argmin(((xt[:, None] - cents[None]) ** 2).sum(-1), axis=1)
        return float((pred == yt).mean())
    return fit_eval


def test_removal_curve_masks_and_area(rng):
    v = np.array([0.5, 0.1, 0.9, 0.1, 0.7])
    calls = []

    def fit_eval(keep):
        calls.append(keep.copy())
        return float(keep.sum())

    fr, scores, area = removal_curve(v, fit_eval, fractions=[0.0, 0.2, 0.5, 1.0],
                                     order="low_first", mode="remove")
    np.testing.assert_array_equal(fr, [0.0, 0.2, 0.5, 1.0])
    # low first, ties to the lower index: 1, 3, 0, 4, 2; counts 0, 1, 3, 5
    want_removed = [[], [1], [1, 3, 0], [0, 1, 2, 3, 4]]
    for keep, rem in zip(calls, want_removed):
        assert sorted(np.flatnonzero(~keep)) == sorted(rem)
    np.testing.assert_array_equal(scores, [5, 4, 2, 0])
    want_area = np.trapezoid([5, 4, 2, 0], [0.0, 0.2, 0.5, 1.0]) / 1.0
    assert area == pytest.approx(want_area)
    calls.clear()
    _, scores, area = removal_curve(v, fit_eval, fractions=[0.2, 0.4], order="high_first",
                                    mode="add")
    assert [np.flatnonzero(k).tolist() for k in calls] == [[2], [2, 4]]
    assert area == pytest.approx(1.5)  # mean of 1 and 2 over [0.2, 0.4]


def test_removal_curve_orders_on_constructed_case(rng):
    x, y, noisy, xt, yt = _toy_data(rng)
    fit_eval = _nearest_centroid(x, y, xt, yt)
    values = np.where(noisy, -1.0, 1.0) + 0.01 * rng.normal(size=noisy.size)
    fr = np.linspace(0.0, 8 / 48, 5)  # remove 0, 2, 4, 6, 8 of the 48 points
    _, low, area_low = removal_curve(values, fit_eval, fractions=fr, order="low_first")
    _, high, area_high = removal_curve(values, fit_eval, fractions=fr, order="high_first")
    # Removing the mislabeled points first moves the boundary towards 0 at
    # every step; removing clean points first can only move it away.
    assert np.all(np.diff(low) > 0) and low[-1] == 1.0
    assert np.all(np.diff(high) <= 0)
    assert area_low > area_high
    # Adding the best points first beats adding the worst first.
    fr_add = np.linspace(0.1, 1.0, 10)
    _, _, add_best = removal_curve(values, fit_eval, fractions=fr_add, order="high_first",
                                   mode="add")
    _, worst, add_worst = removal_curve(values, fit_eval, fractions=fr_add, order="low_first",
                                        mode="add")
    assert add_best > add_worst
    assert worst[-1] == pytest.approx(fit_eval(np.ones(noisy.size, bool)))  # f = 1: all points


def test_removal_curve_bad_arguments():
    v = np.arange(4.0)
    f = lambda keep: 1.0
    with pytest.raises(ValueError, match="order"):
        removal_curve(v, f, fractions=[0, 1], order="best")
    with pytest.raises(ValueError, match="mode"):
        removal_curve(v, f, fractions=[0, 1], order="low_first", mode="drop")
    with pytest.raises(ValueError, match="increasing"):
        removal_curve(v, f, fractions=[0.5, 0.1], order="low_first")
    with pytest.raises(ValueError, match="at least two"):
        removal_curve(v, f, fractions=[0.5], order="low_first")
    with pytest.raises(ValueError, match="non-finite"):
        removal_curve(v, lambda keep: float("nan"), fractions=[0, 1], order="low_first")
