"""ads_jax.stats against scipy / scikit-learn, and compare() on a hand-made example."""

import json
import math

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import balanced_accuracy_score

from ads_jax.stats import (
    PairedComparison,
    balanced_accuracy,
    compare,
    format_comparison,
    learning_curve_area,
    paired_difference,
)


@pytest.mark.parametrize("n,conf", [(2, 0.95), (5, 0.9), (12, 0.99)])
def test_t_interval_matches_scipy(n, conf):
    rng = np.random.default_rng(n)
    a = rng.normal(0.7, 0.05, n)
    b = a - rng.normal(0.01, 0.02, n)
    res = paired_difference(a, b, method="t", confidence=conf)
    ci = sps.ttest_rel(a, b).confidence_interval(conf)
    d = a - b
    lo, hi = sps.t.interval(conf, n - 1, loc=d.mean(), scale=sps.sem(d))
    np.testing.assert_allclose([res.lo, res.hi], [ci.low, ci.high], rtol=1e-10)
    np.testing.assert_allclose([res.lo, res.hi], [lo, hi], rtol=1e-10)
    np.testing.assert_allclose(res.mean, d.mean(), rtol=1e-12)
    assert (res.n, res.method, res.confidence, res.note) == (n, "t", conf, "")


@pytest.mark.parametrize("seed", [0, 7])
def test_bootstrap_matches_scipy_percentile_bootstrap_draw_for_draw(seed):
    rng = np.random.default_rng(100 + seed)
    a = rng.normal(0.6, 0.05, 8)
    b = rng.normal(0.58, 0.05, 8)
    res = paired_difference(a, b, method="bootstrap", confidence=0.9, n_boot=2000, seed=seed)
    ref = sps.bootstrap((a, b), lambda x, y, axis: np.mean(x - y, axis=axis), paired=True,
                        vectorized=True, method="percentile", confidence_level=0.9,
                        n_resamples=2000, rng=np.random.default_rng(seed))
    np.testing.assert_allclose([res.lo, res.hi], [ref.confidence_interval.low,
                                                  ref.confidence_interval.high], rtol=1e-12)


def test_bootstrap_interval_is_statistically_sound():
    # 20 seeds of a normal difference: the percentile interval is close to the
    # t interval (both ~ mean +- 2 sd / sqrt(n)) and moves with the seed only a little.
    rng = np.random.default_rng(1)
    d = rng.normal(0.02, 0.01, 20)
    t = paired_difference(d, np.zeros(20), method="t")
    boots = [paired_difference(d, np.zeros(20), method="bootstrap", seed=s) for s in range(3)]
    for bt in boots:
        assert abs(bt.lo - t.lo) < 0.25 * (t.hi - t.lo)
        assert abs(bt.hi - t.hi) < 0.25 * (t.hi - t.lo)
        assert bt.lo < d.mean() < bt.hi
    assert boots[0] != boots[1]  # the seed is used


def test_verdicts():
    base = np.array([0.5, 0.6, 0.7, 0.8])
    assert paired_difference(base + [0.02, 0.03, 0.025, 0.03], base).verdict == "better"
    assert paired_difference(base - [0.02, 0.03, 0.025, 0.03], base).verdict == "worse"
    assert paired_difference(base + [0.05, -0.05, 0.01, -0.01], base).verdict == "level"
    # Zero spread: the degenerate interval [mean, mean].
    res = paired_difference(base + 0.01, base)
    assert res.lo == res.hi == pytest.approx(0.01) and res.verdict == "better"
    assert paired_difference(base, base).verdict == "level"


def test_fewer_than_two_seeds_give_no_interval():
    res = paired_difference([0.7], [0.6], method="bootstrap")
    assert isinstance(res, PairedComparison)
    assert res.mean == pytest.approx(0.1) and math.isnan(res.lo) and math.isnan(res.hi)
    assert res.verdict == "level" and "one paired seed" in res.note
    res = paired_difference([], [])
    assert res.n == 0 and math.isnan(res.mean) and res.verdict == "level"


def test_paired_difference_errors():
    with pytest.raises(ValueError, match="`b` contains 1 non-finite"):
        paired_difference([0.1, 0.2], [0.1, np.nan])
    with pytest.raises(ValueError, match="`a` contains"):
        paired_difference([np.inf, 0.2], [0.1, 0.1])
    with pytest.raises(ValueError, match="one value per seed"):
        paired_difference([0.1, 0.2], [0.1])
    with pytest.raises(ValueError, match="`method` must be one of"):
        paired_difference([0.1, 0.2], [0.1, 0.3], method="z")
    with pytest.raises(ValueError, match="`confidence`"):
        paired_difference([0.1, 0.2], [0.1, 0.3], confidence=1.0)


def test_learning_curve_area():
    # Trapezoids 10 * 0.6 + 20 * 0.8 = 22 over a range of 30.
    assert learning_curve_area([10, 20, 40], [0.5, 0.7, 0.9]) == pytest.approx(22 / 30)
    rng = np.random.default_rng(0)
    lab = np.cumsum(rng.integers(1, 50, 9))
    acc = rng.uniform(size=9)
    np.testing.assert_allclose(learning_curve_area(lab, acc),
                               np.trapezoid(acc, lab) / (lab[-1] - lab[0]))
    assert learning_curve_area([100, 200, 300], [0.4, 0.4, 0.4]) == pytest.approx(0.4)
    assert learning_curve_area([50], [0.61]) == 0.61
    with pytest.raises(ValueError, match="strictly increasing"):
        learning_curve_area([10, 10], [0.1, 0.2])
    with pytest.raises(ValueError, match="one entry per round"):
        learning_curve_area([10, 20], [0.1])
    with pytest.raises(ValueError, match="`accuracy` contains"):
        learning_curve_area([10, 20], [0.1, np.nan])


def test_balanced_accuracy_matches_sklearn():
    rng = np.random.default_rng(0)
    y_true = rng.choice(4, 200, p=[0.6, 0.3, 0.1, 0.0])  # class 3 absent from y_true
    y_pred = np.where(rng.uniform(size=200) < 0.7, y_true, rng.integers(0, 4, 200))
    assert (y_pred == 3).any()
    with pytest.warns(UserWarning):  # sklearn warns about the class absent from y_true
        ref = balanced_accuracy_score(y_true, y_pred)
    assert balanced_accuracy(y_true, y_pred, 4) == pytest.approx(ref, abs=1e-12)
    assert balanced_accuracy([0, 0, 0, 1], [0, 0, 0, 0], 2) == 0.5
    with pytest.raises(ValueError, match="`y_pred` must contain labels"):
        balanced_accuracy([0, 1], [0, 2], 2)


# =============================================================================
# compare
# =============================================================================
def _records(arm, seed, labeled, acc):
    return [{"arm": arm, "seed": seed, "round": r, "labeled": n, "test_accuracy": a,
             "val_accuracy": 0.0} for r, (n, a) in enumerate(zip(labeled, acc))]


LAB = [100, 200, 400]


@pytest.fixture
def records():
    recs = []
    # baseline "random"; "ads" better by +0.02..0.03 at every round; "bad" worse.
    base = {0: [0.50, 0.60, 0.70], 1: [0.52, 0.61, 0.72], 2: [0.48, 0.58, 0.69]}
    ads_delta = {0: 0.02, 1: 0.03, 2: 0.025}
    for s, acc in base.items():
        recs += _records("random", s, LAB, acc)
        recs += _records("ads", s, LAB, [a + ads_delta[s] for a in acc])
        recs += _records("bad", s, LAB, [a - 0.1 + 0.01 * s for a in acc])
    recs += _records("ads", 3, LAB, [0.9, 0.9, 0.9])  # no baseline for seed 3: unpaired
    np.random.default_rng(0).shuffle(recs)
    return recs


def test_compare_hand_made(records):
    rows = compare(records, baseline="random")
    assert [(r["arm"], r["quantity"]) for r in rows] == [
        ("ads", "final"), ("ads", "area"), ("bad", "final"), ("bad", "area")]
    ads_final, ads_area, bad_final, _ = rows
    assert ads_final["seeds"] == [0, 1, 2] and ads_final["n"] == 3
    assert "seeds without baseline: [3]" in ads_final["note"]
    # A constant shift per seed shifts both the final value and the area by it.
    deltas = np.array([0.02, 0.03, 0.025])
    for row in (ads_final, ads_area):
        ref = paired_difference(deltas, np.zeros(3))
        assert row["mean"] == pytest.approx(0.025)
        assert row["lo"] == pytest.approx(ref.lo) and row["hi"] == pytest.approx(ref.hi)
        assert row["verdict"] == "better"
    assert ads_final["arm_mean"] == pytest.approx(np.mean([0.72, 0.75, 0.715]))
    assert ads_final["baseline_mean"] == pytest.approx(np.mean([0.70, 0.72, 0.69]))
    # Area of the baseline's seed 0: (100 * 0.55 + 200 * 0.65) / 300.
    base_area = [(100 * 0.55 + 200 * 0.65) / 300, (100 * 0.565 + 200 * 0.665) / 300,
                 (100 * 0.53 + 200 * 0.635) / 300]
    assert ads_area["baseline_mean"] == pytest.approx(np.mean(base_area))
    assert bad_final["verdict"] == "worse" and bad_final["mean"] == pytest.approx(-0.09)
    json.dumps(rows, allow_nan=False)  # plain JSON
    table = format_comparison(rows)
    lines = table.strip().splitlines()
    assert len(lines) == 2 + 4 and lines[0].startswith("| arm |")
    assert "| ads | random | test_accuracy | final | 3 |" in lines[2]
    assert "+0.0250" in lines[2] and "better" in lines[2]


def test_compare_bootstrap_and_other_metric(records):
    for r in records:
        r["test_balanced_accuracy"] = r["test_accuracy"] - 0.1
    rows = compare(records, baseline="random", metric="test_balanced_accuracy",
                   method="bootstrap", n_boot=500, seed=3)
    ref = paired_difference([0.02, 0.03, 0.025], [0, 0, 0], method="bootstrap", n_boot=500,
                            seed=3)
    assert rows[0]["metric"] == "test_balanced_accuracy" and rows[0]["method"] == "bootstrap"
    assert rows[0]["lo"] == pytest.approx(ref.lo) and rows[0]["hi"] == pytest.approx(ref.hi)


def test_compare_never_merges_different_runs(records):
    # The same (arm, seed) run twice with another schedule: two runs -> error.
    # (Its round 0 equals the first run's: the labeled sequences differ from round 1.)
    extra = _records("ads", 1, [100, 300, 500], [0.55, 0.64, 0.75])
    with pytest.raises(ValueError, match=r"Arm 'ads', seed 1, round 1 appears twice .*"
                                         r"labeled=200.* vs labeled=300"):
        compare(records + extra, baseline="random")
    # Same labeled, other accuracy: also two runs.
    extra = _records("ads", 1, LAB, [0.5, 0.6, 0.7])
    with pytest.raises(ValueError, match="two different runs"):
        compare(records + extra, baseline="random")
    # Identical duplicates (a record written twice) are counted once.
    assert compare(records + records[:5], baseline="random") == compare(records,
                                                                         baseline="random")


def test_compare_errors(records):
    with pytest.raises(ValueError, match=r"`baseline` 'uniform' has no records; arms: "
                                         r"\['ads', 'bad', 'random'\]"):
        compare(records, baseline="uniform")
    # A paired seed with another schedule than the baseline's (an unfinished run).
    short = [r for r in records if not (r["arm"] == "bad" and r["seed"] == 2 and r["round"] == 2)]
    with pytest.raises(ValueError, match=r"Seed 2: arm 'bad' has labeled sizes \[100, 200\]"):
        compare(short, baseline="random")
    with pytest.raises(ValueError, match=r"has no key 'test_balanced_accuracy'"):
        compare(records, baseline="random", metric="test_balanced_accuracy")
    bad = [dict(records[0], test_accuracy=float("nan"))] + records[1:]
    with pytest.raises(ValueError, match=r"must be a finite number"):
        compare(bad, baseline="random")
