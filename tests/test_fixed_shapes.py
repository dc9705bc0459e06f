"""Fixed shapes for a whole run: padded buffers with masks give the picks of the unpadded
inputs, the fused program (selector included) equals the staged path, and a 4-round run
compiles the acquisition program once per arm and the training step at most twice."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from ads_jax.configs import resolve as resolve_config
from ads_jax.acquisition import (
    AcquisitionConfig,
    AcquisitionInputs,
    PreselectConfig,
    acquire,
    make_acquire_fn,
    profile_acquisition,
)
from ads_jax.selection import SelectorConfig

NC, D = 4, 8
ARMS = ["ads+coreset", "coreset", "randfilter+coreset", "ads+badge", "badge", "ads+kmedians",
        "kmedians", "ads-top", "entropy", "random", "randfilter+entropy", "ads+top_value"]


def _inputs(seed=0, n_lab=30, n_pool=220, n_val=60):
    r = np.random.default_rng(seed)
    mu = r.normal(size=(NC, D)) * 1.2  # overlapping classes: values without exact ties

    def pts(n):
        y = r.integers(0, NC, n)
        return (mu[y] + r.normal(size=(n, D))).astype(np.float32), y.astype(np.int32)

    lx, ly = pts(n_lab)
    px, _ = pts(n_pool)
    vx, vy = pts(n_val)
    logits = -((px[:, None] - mu[None]) ** 2).sum(-1) / 8
    p = np.exp(logits - logits.max(1, keepdims=True))
    p = (p / p.sum(1, keepdims=True)).astype(np.float32)
    return AcquisitionInputs(labeled_emb=lx, labeled_y=ly, pool_emb=px, pool_probs=p,
                             val_emb=vx, val_y=vy, num_classes=NC)


def _pad(inputs, l_cap, u_cap, rng):
    """Fixed-capacity buffers: the real rows (in order) with padding rows interleaved
    among them at random places; padding rows hold copies of real rows."""
    def layout(n, cap):
        slots = np.sort(rng.choice(cap, n, replace=False))
        src = rng.integers(0, n, cap)
        src[slots] = np.arange(n)
        valid = np.zeros(cap, bool)
        valid[slots] = True
        return src, valid, slots

    ls, lv, lslots = layout(inputs.labeled_emb.shape[0], l_cap)
    ps, pv, pslots = layout(inputs.pool_emb.shape[0], u_cap)
    padded = dataclasses.replace(
        inputs, labeled_emb=inputs.labeled_emb[ls], labeled_y=inputs.labeled_y[ls],
        pool_emb=inputs.pool_emb[ps], pool_probs=inputs.pool_probs[ps], labeled_mask=lv,
        pool_mask=pv)
    return padded, lslots, pslots


@pytest.mark.parametrize("arm", ARMS)
def test_padded_buffers_give_the_unpadded_picks_and_fused_equals_staged(arm):
    inputs = _inputs()
    rng = np.random.default_rng(1)
    padded, lslots, pslots = _pad(inputs, 41, 300, rng)
    cfg = AcquisitionConfig(arm=arm, budget=9, preselect=PreselectConfig(fraction=0.15))
    key = jax.random.key(3)
    ref = acquire(key, inputs, cfg)
    staged, _ = profile_acquisition(key, padded, cfg)  # the stages one by one
    fused = acquire(key, padded, cfg)  # the one program
    # fused == staged on the same (padded) inputs, exactly
    np.testing.assert_array_equal(np.asarray(fused.indices), np.asarray(staged.indices))
    np.testing.assert_array_equal(np.asarray(fused.preselect_mask),
                                  np.asarray(staged.preselect_mask))
    # padded == unpadded: the same pool points (mapped through the padding layout)
    got = np.asarray(staged.indices)
    assert set(got) <= set(pslots)  # never a padding row
    np.testing.assert_array_equal(np.searchsorted(pslots, got), np.asarray(ref.indices))
    mask = np.asarray(staged.preselect_mask)
    assert not mask[np.setdiff1d(np.arange(300), pslots)].any()
    np.testing.assert_array_equal(mask[pslots], np.asarray(ref.preselect_mask))
    assert staged.preselect_size == ref.preselect_size
    if ref.values is not None:
        np.testing.assert_allclose(np.asarray(staged.values)[pslots], np.asarray(ref.values),
                                   rtol=2e-5, atol=1e-7)
        assert np.isneginf(np.asarray(staged.values)[np.setdiff1d(np.arange(300), pslots)]).all()
        tv = np.asarray(staged.train_values)
        np.testing.assert_allclose(tv[lslots], np.asarray(ref.train_values), rtol=1e-5,
                                   atol=1e-7)
        assert (tv[np.setdiff1d(np.arange(41), lslots)] == 0).all()


def test_one_program_for_every_round_of_a_growing_labeled_set():
    """The jitted program (selector included) is traced and compiled once for a
    run's fixed capacities, whatever the labeled / pool counts."""
    inputs = _inputs(n_lab=60, n_pool=200)
    cfg = AcquisitionConfig(arm="ads+badge", budget=5, preselect=PreselectConfig(fraction=0.2),
                            selector=SelectorConfig(include_labeled=True))
    fn = make_acquire_fn(cfg)
    counts = []
    for n_lab in (20, 30, 40, 50, 60):
        lab = np.arange(60) < n_lab
        pool = np.arange(200) < 200 - (n_lab - 20)
        x = dataclasses.replace(inputs, labeled_mask=lab, pool_mask=pool, class_capacity=60)
        idx = fn(jax.random.key(n_lab), x).indices
        assert np.asarray(pool)[np.asarray(idx)].all()
        counts.append(fn._cache_size())
    assert counts == [1] * 5


@pytest.fixture
def compiles(fresh_compiles):
    """Count backend compilations by jitted-function name (persistent cache off)."""
    from collections import Counter

    seen = Counter()

    def listener(event, duration, **kw):
        if event == "/jax/core/compile/backend_compile_duration":
            seen[kw.get("fun_name", "")] += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def test_a_four_round_run_compiles_the_acquisition_once_per_arm(tmp_path, compiles):
    from ads_jax.loop import run_experiment

    cfg = resolve_config("tiny", [f"loop.out_dir={tmp_path}", "loop.rounds=4",
                                    "train.epochs=1",
                                    "loop.arms=[ads+coreset,randfilter+badge]",
                                    "data.pool_size=200"])
    records = run_experiment(cfg)
    assert len(records) == 2 * 5
    # One fused acquisition program per arm (4 acquisitions each), one train step
    # for the 5 fits of each arm (sizes 10..50 in one fixed buffer).
    assert compiles["jit(acquisition_program)"] == 2, dict(compiles)
    assert 1 <= compiles["jit(gathered_train_step)"] <= 2, dict(compiles)
