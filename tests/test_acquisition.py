"""Tests for the ADS acquisition step (ads_jax.acquisition)."""

import dataclasses
import json

import jax
import numpy as np
import pytest

from ads_jax.acquisition import (
    ARMS,
    AcquisitionConfig,
    AcquisitionInputs,
    PreselectConfig,
    acquire,
    available_arms,
    make_acquire_fn,
    parse_arm,
    preselect_size,
    profile_acquisition,
)
from ads_jax.config_engine import from_dict, to_dict
from ads_jax.selection import SELECTORS, SelectorConfig, get_selector
from ads_jax.valuation import EstimatorConfig, ValuationConfig


def frac(f):
    return PreselectConfig(fraction=f)


def mult(m):
    return PreselectConfig(multiple=m)

C, D = 4, 16


def synthetic(seed, *, n_lab_clean=60, n_lab_noise=24, n_mis=0, n_val=120, n_pool=500,
              noise_share=0.7):
    """Embedding-space AL scenario.

    Clean points: Gaussian class clusters (std 0.7) around means of norm ~6.
    Noise: half a diffuse blob (std 3) and half a far out-of-distribution blob
    (std 1), both ~12 away from the origin, with random labels (what an
    annotator of a corrupted image reveals). The labeled set holds clean points,
    noise points (as after a first round) and ``n_mis`` clean points with a
    wrong label. The model's probabilities are a softmax of negative squared
    distances to the class means.
    Returns (inputs, pool_is_noise (U,) bool, labeled_kind (L,) 0 clean/1 noise/2 mislabeled).
    """
    r = np.random.default_rng(seed)
    mu = r.normal(size=(C, D))
    mu *= 6.0 / np.linalg.norm(mu, axis=1, keepdims=True)
    far = r.normal(size=(2, D))
    far *= 12.0 / np.linalg.norm(far, axis=1, keepdims=True)

    def clean(n):
        y = r.integers(0, C, n)
        return mu[y] + 0.7 * r.normal(size=(n, D)), y

    def noise(n):
        n1 = n // 2
        x = np.concatenate([far[0] + 3.0 * r.normal(size=(n1, D)),
                            far[1] + 1.0 * r.normal(size=(n - n1, D))])
        return x, r.integers(0, C, n)

    lc, lcy = clean(n_lab_clean)
    ln, lny = noise(n_lab_noise)
    lm, lmy = clean(n_mis)
    lmy = (lmy + r.integers(1, C, n_mis)) % C  # always wrong
    vx, vy = clean(n_val)
    n_noise = int(round(noise_share * n_pool))
    pc, _ = clean(n_pool - n_noise)
    pn, _ = noise(n_noise)
    px = np.concatenate([pc, pn])
    is_noise = np.arange(n_pool) >= n_pool - n_noise
    perm = r.permutation(n_pool)
    px, is_noise = px[perm], is_noise[perm]
    logits = -((px[:, None, :] - mu[None]) ** 2).sum(-1) / 8.0
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    lx = np.concatenate([lc, ln, lm])
    ly = np.concatenate([lcy, lny, lmy])
    kind = np.repeat([0, 1, 2], [n_lab_clean, n_lab_noise, n_mis])
    inputs = AcquisitionInputs(
        labeled_emb=lx.astype(np.float32), labeled_y=ly.astype(np.int32),
        pool_emb=px.astype(np.float32), pool_probs=probs.astype(np.float32),
        val_emb=vx.astype(np.float32), val_y=vy.astype(np.int32), num_classes=C,
    )
    return inputs, is_noise, kind


@pytest.fixture(scope="module")
def scenario():
    return synthetic(0)


# ---------------------------------------------------------------- arms, config
def test_parse_arm_and_registry():
    assert parse_arm("coreset") == ("coreset", "none", "coreset")
    assert parse_arm("ads+badge") == ("ads+badge", "ads", "badge")
    assert parse_arm("randfilter+coreset") == ("randfilter+coreset", "randfilter", "coreset")
    assert parse_arm("ads-top") == ("ads-top", "ads", None)
    assert parse_arm("ads+coreset").uses_values and not parse_arm("randfilter+coreset").uses_values
    arms = available_arms()
    for a in ("coreset", "ads+coreset", "randfilter+coreset", "ads-top", "ads+badge", "entropy"):
        assert a in arms
    assert len(ARMS) == 4
    with pytest.raises(ValueError, match="unknown selector 'nope'"):
        parse_arm("ads+nope")
    with pytest.raises(ValueError, match="unknown prefix"):
        parse_arm("foo+coreset")
    with pytest.raises(ValueError, match="ads-top"):
        parse_arm("top_value")  # needs values
    with pytest.raises(ValueError, match="arm"):
        AcquisitionConfig(arm="kcentre")


def test_config_json_round_trip_and_checks():
    cfg = AcquisitionConfig(arm="ads+badge", budget=7, preselect=mult(3.0),
                            selector=SelectorConfig(options={"block_size": 8}),
                            estimator=EstimatorConfig(options={"aggregate": "mean"}))
    again = from_dict(AcquisitionConfig, json.loads(json.dumps(to_dict(cfg))))
    assert again == cfg and hash(again) == hash(cfg)
    assert dataclasses.replace(cfg, budget=8) != cfg
    for bad, err in [
        (dict(budget=0), ValueError), (dict(valuation=dict(name="no_such_rule")), ValueError),
        (dict(preselect=dict(fraction=1.5)), ValueError),
        (dict(preselect=dict(multiple=0.5)), ValueError),
        (dict(preselect=dict(fraction=None)), ValueError),
        (dict(estimator=dict(options=dict(aggregate="median"))), ValueError),
        (dict(estimator=dict(options=dict(weights="gauss"))), ValueError),
        (dict(valuation=dict(metric="l1")), ValueError),
        (dict(selector=dict(options={"f": object()})), TypeError),
        (dict(valuation=dict(k=0)), ValueError),
        (dict(valuation=dict(name="threshold")), ValueError),
        (dict(valuation=dict(options=dict(tau=0.5))), ValueError),
        (dict(selector=dict(options={"foo": 1})), ValueError),  # coreset takes no `foo`
    ]:
        with pytest.raises(err):
            from_dict(AcquisitionConfig, bad)


def test_preselect_size():
    cfg = frac(0.2)
    assert preselect_size(cfg, 10, 1000) == 200
    assert preselect_size(cfg, 10, 30) == 10  # never fewer than B
    cfg = mult(2.5)
    assert preselect_size(cfg, 10, 1000) == 25
    assert preselect_size(cfg, 10, 20) == 20  # never more than U


# ------------------------------------------------------------- arms return picks
def test_every_arm_returns_budget_unique_unlabeled_indices(scenario):
    inputs, _, _ = scenario
    u = inputs.pool_emb.shape[0]
    b = 12
    seen = {}
    for arm in available_arms():
        p = parse_arm(arm)
        if p.filter not in ("none", "ads", "randfilter") and p.selector != "coreset":
            continue  # the other pre-filters once each (the selectors are covered above)
        fn = SELECTORS.get(p.selector).factory if p.selector else None
        form = (p.filter, fn)
        if form in seen:  # an alias (kcenter = coreset) of an arm already run
            continue
        seen[form] = arm
        cfg = AcquisitionConfig(arm=arm, budget=b, preselect=frac(0.1))
        res, timings = profile_acquisition(jax.random.key(1), inputs, cfg)
        idx = np.asarray(res.indices)
        assert idx.shape == (b,) and idx.dtype == np.int32, arm
        assert np.unique(idx).size == b and idx.min() >= 0 and idx.max() < u, arm
        mask = np.asarray(res.preselect_mask)
        assert mask.shape == (u,) and mask[idx].all(), arm
        p = parse_arm(arm)
        assert int(mask.sum()) == res.preselect_size == (u if p.filter == "none" else 50), arm
        assert (res.values is not None) == p.uses_values, arm
        assert set(timings) == {"valuation", "regression", "preselection", "diversity",
                                "total"}
        assert all(t >= 0 for t in timings.values())


def test_ads_preselection_is_top_m_by_value_and_ads_top_is_top_b(scenario):
    inputs, _, _ = scenario
    res = acquire(jax.random.key(0), inputs, AcquisitionConfig(arm="ads-top", budget=15))
    v = np.asarray(res.values)
    order = np.argsort(-v, kind="stable")  # ties -> lower index, like lax.top_k
    np.testing.assert_array_equal(np.asarray(res.indices), order[:15])
    want = np.zeros(v.size, bool)
    want[order[:100]] = True  # 0.2 x 500
    np.testing.assert_array_equal(np.asarray(res.preselect_mask), want)
    res2 = acquire(jax.random.key(0), inputs, AcquisitionConfig(arm="ads+coreset", budget=15))
    np.testing.assert_array_equal(np.asarray(res2.preselect_mask), want)
    np.testing.assert_array_equal(np.asarray(res2.values), v)


def test_exactly_budget_candidates_are_all_picked_without_the_selector(scenario):
    """A pre-selection raised to the budget (10% of 500 < 60) leaves nothing to choose:
    the picks are the candidates in value order, i.e. ads-top's; the selector is
    skipped (a selector with and one without scores; plain arms on a pool of exactly B)."""
    inputs, _, _ = scenario
    top = acquire(jax.random.key(0), inputs, AcquisitionConfig(arm="ads-top", budget=60))
    for sel in ("coreset", "badge"):
        cfg = AcquisitionConfig(arm=f"ads+{sel}", budget=60, preselect=frac(0.1))
        res = acquire(jax.random.key(0), inputs, cfg)
        assert int(res.preselect_size) == 60, sel
        np.testing.assert_array_equal(np.asarray(res.indices), np.asarray(top.indices),
                                      err_msg=sel)
    # A plain selector on a pool of exactly B valid rows picks them all, in row order.
    u = inputs.pool_emb.shape[0]
    pool_mask = np.zeros(u, bool)
    pool_mask[3:u:8] = True
    b = int(pool_mask.sum())
    res = acquire(jax.random.key(0), dataclasses.replace(inputs, pool_mask=pool_mask),
                  AcquisitionConfig(arm="coreset", budget=b))
    np.testing.assert_array_equal(np.asarray(res.indices), np.flatnonzero(pool_mask))


def test_randfilter_same_size_random_and_keyed(scenario):
    inputs, _, _ = scenario
    cfg = AcquisitionConfig(arm="randfilter+coreset", budget=10, preselect=mult(4))
    a = acquire(jax.random.key(3), inputs, cfg)
    b = acquire(jax.random.key(3), inputs, cfg)
    c = acquire(jax.random.key(4), inputs, cfg)
    ads = acquire(jax.random.key(3), inputs, dataclasses.replace(cfg, arm="ads+coreset"))
    assert a.preselect_size == ads.preselect_size == 40
    assert int(np.asarray(a.preselect_mask).sum()) == 40
    np.testing.assert_array_equal(np.asarray(a.indices), np.asarray(b.indices))
    assert not np.array_equal(np.asarray(a.preselect_mask), np.asarray(c.preselect_mask))
    assert a.values is None


def test_selector_sees_only_compact_subpool(scenario):
    """Stage 4 must run the selector on concat(labeled, pre-selected), not the pool,
    and its picks must be exactly the selector's picks on that sub-pool."""
    inputs, _, _ = scenario
    n_lab = inputs.labeled_emb.shape[0]
    cfg = AcquisitionConfig(arm="ads+coreset", budget=10, preselect=frac(0.1))
    res = acquire(jax.random.key(5), inputs, cfg)
    pre = np.flatnonzero(np.asarray(res.preselect_mask))
    # Independent reconstruction: top-50 by value, sub-pool, coreset on it.
    order = np.argsort(-np.asarray(res.values), kind="stable")[:50]
    assert set(order) == set(pre)
    sub = {"embeddings": np.concatenate([inputs.labeled_emb, inputs.pool_emb[order]]),
           "probs": np.concatenate([np.eye(C, dtype=np.float32)[inputs.labeled_y],
                                    inputs.pool_probs[order]])}
    lab = np.arange(n_lab + 50) < n_lab
    local = np.asarray(get_selector("coreset")(None, sub, 10, labeled=lab))
    np.testing.assert_array_equal(np.asarray(res.indices), order[local - n_lab])


def test_program_equals_stage_by_stage_profile(scenario):
    """The one jitted program picks what its stages run one by one (the profiler) pick."""
    inputs, _, _ = scenario
    for arm in ("ads+coreset", "randfilter+badge", "coreset", "ads-top", "proximity+coreset"):
        cfg = AcquisitionConfig(arm=arm, budget=9, preselect=mult(5))
        s, times = profile_acquisition(jax.random.key(7), inputs, cfg)
        f = acquire(jax.random.key(7), inputs, cfg)
        np.testing.assert_array_equal(np.asarray(f.indices), np.asarray(s.indices), err_msg=arm)
        np.testing.assert_array_equal(np.asarray(f.preselect_mask), np.asarray(s.preselect_mask))
        if s.values is not None:
            np.testing.assert_allclose(np.asarray(f.values), np.asarray(s.values), rtol=1e-6,
                                       atol=1e-8)
        assert times["total"] >= times["diversity"] >= 0
    # The pure function directly, with a legacy uint32 key.
    cfg = AcquisitionConfig(arm="ads+coreset", budget=9, preselect=mult(5))
    out = make_acquire_fn(cfg)(jax.random.PRNGKey(0), inputs)
    ref = acquire(jax.random.PRNGKey(0), inputs, cfg)
    np.testing.assert_array_equal(np.asarray(out.indices), np.asarray(ref.indices))


# ------------------------------------------------------------------- behaviour
def test_ads_preselection_filters_noise():
    """70% of the pool is noise / OOD and a third of the labeled set is noise (as
    after a first round): the top-20% by predicted value must hold far less
    noise than the pool. With the paper's "max" aggregation some noise leaks
    through (a far point's per-class regressors mix labeled noise with clean
    points of that class); "mean" filters almost all of it."""
    for seed in range(3):
        inputs, is_noise, _ = synthetic(seed, noise_share=0.7, n_lab_noise=48)
        assert abs(is_noise.mean() - 0.7) < 1e-9
        for agg, limit in (("max", 0.35), ("mean", 0.1)):
            cfg = AcquisitionConfig(arm="ads+coreset", budget=20, preselect=frac(0.2),
                                    estimator=EstimatorConfig(options={"aggregate": agg}))
            res = acquire(jax.random.key(seed), inputs, cfg)
            mask = np.asarray(res.preselect_mask)
            assert mask.sum() == 100
            share = is_noise[mask].mean()
            assert share <= limit, (seed, agg, share)
            v = np.asarray(res.values)
            assert v[~is_noise].mean() > v[is_noise].mean()
            tv, kind = np.asarray(res.train_values), np.repeat([0, 1], [60, 48])
            assert tv[kind == 1].mean() < tv[kind == 0].mean()


def test_mislabeled_points_get_low_values():
    inputs, _, kind = synthetic(2, n_lab_clean=80, n_lab_noise=0, n_mis=10)
    res = acquire(jax.random.key(0), inputs, AcquisitionConfig(arm="ads-top", budget=5,
                                                                valuation=ValuationConfig(k=5)))
    tv = np.asarray(res.train_values)
    clean, mis = tv[kind == 0], tv[kind == 2]
    assert mis.mean() < clean.mean()
    bottom = tv <= np.quantile(tv, 0.15)  # 15% of 90 points ~ 13 >= 10 mislabeled
    assert bottom[kind == 2].mean() >= 0.8, bottom[kind == 2].mean()


def test_include_labeled_false_and_labeled_probs(scenario):
    inputs, _, _ = scenario
    cfg = AcquisitionConfig(arm="ads+badge", budget=8,
                            selector=SelectorConfig(include_labeled=False))
    res = acquire(jax.random.key(0), inputs, cfg)
    assert np.unique(np.asarray(res.indices)).size == 8
    assert np.asarray(res.preselect_mask)[np.asarray(res.indices)].all()
    lp = np.full((inputs.labeled_emb.shape[0], C), 1.0 / C, np.float32)
    res = acquire(jax.random.key(0), dataclasses.replace(inputs, labeled_probs=lp),
                  dataclasses.replace(cfg, selector=SelectorConfig(include_labeled=True)))
    assert np.unique(np.asarray(res.indices)).size == 8
    with pytest.raises(ValueError, match="labeled_probs"):
        acquire(jax.random.key(0), dataclasses.replace(inputs, labeled_probs=lp[:, :2]), cfg)


def test_sharded_equals_single_device(scenario):
    inputs, _, _ = scenario
    mesh = jax.make_mesh((8,), ("val",))
    cfg = AcquisitionConfig(arm="ads+coreset", budget=10)
    s = acquire(jax.random.key(0), inputs, cfg)
    m = acquire(jax.random.key(0), inputs, cfg, mesh=mesh)
    np.testing.assert_allclose(np.asarray(m.values), np.asarray(s.values), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(m.indices), np.asarray(s.indices))


# ---------------------------------------------------------------------- errors
def test_input_errors(scenario):
    inputs, _, _ = scenario
    cfg = AcquisitionConfig(arm="ads+coreset", budget=10)
    key = jax.random.key(0)
    bad = inputs.pool_emb.copy()
    bad[4, 2] = np.nan
    with pytest.raises(ValueError, match="pool_emb"):
        acquire(key, dataclasses.replace(inputs, pool_emb=bad), cfg)
    bad = inputs.labeled_emb.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="labeled_emb"):
        acquire(key, dataclasses.replace(inputs, labeled_emb=bad), cfg)
    with pytest.raises(ValueError, match="budget"):
        acquire(key, inputs, dataclasses.replace(cfg, budget=501))
    with pytest.raises(ValueError, match="same number of points"):
        acquire(key, dataclasses.replace(inputs, pool_probs=inputs.pool_probs[:-1]), cfg)
    with pytest.raises(ValueError, match="feature dimension"):
        acquire(key, dataclasses.replace(inputs, val_emb=inputs.val_emb[:, :3]), cfg)
    with pytest.raises(ValueError, match="pool_probs"):
        acquire(key, dataclasses.replace(inputs, num_classes=5), cfg)
    with pytest.raises(ValueError, match="labeled_y"):
        acquire(key, dataclasses.replace(inputs, labeled_y=inputs.labeled_y + 4), cfg)
    with pytest.raises(ValueError, match="val_emb"):
        acquire(key, dataclasses.replace(inputs, val_emb=None, val_y=None), cfg)
    # Plain selector arms do not need a validation set.
    res = acquire(key, dataclasses.replace(inputs, val_emb=None, val_y=None),
                  dataclasses.replace(cfg, arm="coreset"))
    assert res.values is None and np.unique(np.asarray(res.indices)).size == 10
    with pytest.raises(TypeError, match="config"):
        acquire(key, inputs, {"arm": "coreset"})
