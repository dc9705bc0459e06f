"""The control pre-filters (margin, entropy, proximity) against a NumPy reference of
"top-m by score, then the selector on labeled + candidates"; the pre-filter registry."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from ads_jax.acquisition import (
    PREFILTERS,
    AcquisitionConfig,
    AcquisitionInputs,
    PreselectConfig,
    Prefilter,
    acquire,
    parse_arm,
    preselect_size,
    register_prefilter,
)
from ads_jax.selection import get_selector

C, D = 4, 6


@pytest.fixture(scope="module")
def inputs():
    r = np.random.default_rng(0)
    mu = r.normal(size=(C, D)) * 2

    def pts(n):
        y = r.integers(0, C, n)
        return (mu[y] + r.normal(size=(n, D))).astype(np.float32), y.astype(np.int32)

    lx, ly = pts(25)
    px, _ = pts(160)
    vx, vy = pts(40)
    logits = -((px[:, None] - mu[None]) ** 2).sum(-1) / 4
    p = np.exp(logits - logits.max(1, keepdims=True))
    p = (p / p.sum(1, keepdims=True)).astype(np.float32)
    return AcquisitionInputs(labeled_emb=lx, labeled_y=ly, pool_emb=px, pool_probs=p,
                             val_emb=vx, val_y=vy, num_classes=C)


def _np_scores(name, x: AcquisitionInputs, k=10):
    p = x.pool_probs.astype(np.float64)
    if name == "entropy":
        return -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)).sum(1)
    if name == "margin":
        s = np.sort(p, 1)
        return 1 - (s[:, -1] - s[:, -2])
    if name == "proximity":
        d = np.sqrt(((x.pool_emb[:, None].astype(np.float64) - x.val_emb[None]) ** 2).sum(-1))
        kk = min(k, d.shape[1])
        return -np.sort(d, 1)[:, :kk].mean(1)
    raise AssertionError(name)


@pytest.mark.parametrize("pre", ["margin", "entropy", "proximity"])
def test_control_prefilter_is_top_m_by_score_then_the_selector(inputs, pre):
    b = 7
    cfg = AcquisitionConfig(arm=f"{pre}+coreset", budget=b, preselect=PreselectConfig(fraction=0.2))
    res = acquire(jax.random.key(0), inputs, cfg)
    u = inputs.pool_emb.shape[0]
    m = preselect_size(cfg.preselect, b, u)
    s = _np_scores(pre, inputs)
    order = np.lexsort((np.arange(u), -s))[:m]  # score desc, ties to the lower row
    np.testing.assert_array_equal(np.flatnonzero(res.preselect_mask), np.sort(order))
    assert int(res.preselect_size) == m and res.values is None
    # the selector on concat(labeled, candidates in score order)
    sub = {"embeddings": np.concatenate([inputs.labeled_emb, inputs.pool_emb[order]])}
    lab = np.arange(len(inputs.labeled_emb) + m) < len(inputs.labeled_emb)
    local = np.asarray(get_selector("coreset")(None, sub, b, labeled=lab))
    np.testing.assert_array_equal(np.asarray(res.indices), order[local - len(inputs.labeled_emb)])


def test_proximity_needs_the_validation_set_and_takes_options(inputs):
    import dataclasses

    cfg = AcquisitionConfig(arm="proximity+coreset", budget=5,
                            preselect=PreselectConfig(fraction=0.2, options={"k": 3}))
    res = acquire(jax.random.key(0), inputs, cfg)
    s = _np_scores("proximity", inputs, k=3)
    u = inputs.pool_emb.shape[0]
    order = np.lexsort((np.arange(u), -s))[:preselect_size(cfg.preselect, 5, u)]
    np.testing.assert_array_equal(np.flatnonzero(res.preselect_mask), np.sort(order))
    with pytest.raises(ValueError, match="val_emb"):
        acquire(jax.random.key(0), dataclasses.replace(inputs, val_emb=None, val_y=None), cfg)
    with pytest.raises(ValueError, match="does not take"):
        AcquisitionConfig(arm="proximity+coreset", preselect=PreselectConfig(options={"q": 1}))
    with pytest.raises(ValueError, match="preselect.options.k"):
        AcquisitionConfig(arm="proximity+coreset", preselect=PreselectConfig(options={"k": 0}))
    with pytest.raises(ValueError, match="no pre-filter"):
        AcquisitionConfig(arm="coreset", preselect=PreselectConfig(options={"k": 3}))


def test_a_registered_prefilter_is_an_arm_prefix(inputs):
    """A user pre-filter: the points with the largest first embedding coordinate."""
    register_prefilter("firstcoord", lambda: Prefilter(score=lambda key, x, mesh=None:
                                                       x.pool_emb[:, 0]), overwrite=True)
    try:
        assert parse_arm("firstcoord+entropy") == ("firstcoord+entropy", "firstcoord", "entropy")
        cfg = AcquisitionConfig(arm="firstcoord+entropy", budget=4,
                                preselect=PreselectConfig(multiple=3))
        res = acquire(jax.random.key(0), inputs, cfg)
        top = np.argsort(-inputs.pool_emb[:, 0], kind="stable")[:12]
        np.testing.assert_array_equal(np.flatnonzero(res.preselect_mask), np.sort(top))
        ent = _np_scores("entropy", inputs)[top]
        np.testing.assert_array_equal(np.sort(np.asarray(res.indices)),
                                      np.sort(top[np.argsort(-ent, kind="stable")[:4]]))
    finally:
        PREFILTERS.unregister("firstcoord")
    with pytest.raises(ValueError, match="may not contain"):
        register_prefilter("a+b", lambda: None)
