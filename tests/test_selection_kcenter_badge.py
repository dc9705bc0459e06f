"""k-center (Core-set) and BADGE against independent NumPy references."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from ads_jax.selection import (
    _common,
    _kernels,
    badge_sq_distances,
    gradient_factors,
    select_badge,
    select_coreset,
)
from ads_jax.selection import badge as badge_mod

# ----------------------------------------------------------------- references


def kcenter_ref(x, budget, labeled, cand, first=None):
    """Farthest-first traversal on materialized float64 distances."""
    x = np.asarray(x, np.float64)
    md = np.full(len(x), np.inf)
    if labeled.any():
        md = ((x[:, None, :] - x[labeled][None, :, :]) ** 2).sum(-1).min(1)
    avail = cand.copy()
    picks = []
    for t in range(budget):
        if t == 0 and first is not None:
            p = first
        else:
            p = int(np.argmax(np.where(avail, md, -np.inf)))
        picks.append(p)
        avail[p] = False
        md = np.minimum(md, ((x - x[p]) ** 2).sum(1))
    return np.array(picks)


def grad_embedding(probs, h):
    """Materialized (N, C*d) BADGE gradient embeddings, float64."""
    probs = np.asarray(probs, np.float64)
    a = np.eye(probs.shape[1])[probs.argmax(1)] - probs
    return (a[:, :, None] * np.asarray(h, np.float64)[:, None, :]).reshape(len(a), -1)


def badge_ref(probs, h, budget, u, labeled, cand):
    """BADGE k-means++ on the materialized embedding, inverse-CDF with given uniforms."""
    g = grad_embedding(probs, h)
    d2 = np.full(len(g), np.inf)
    if labeled.any():
        d2 = ((g[:, None, :] - g[labeled][None, :, :]) ** 2).sum(-1).min(1)
    avail = cand.copy()
    picks = []
    for t in range(budget):
        if t == 0 and not labeled.any():
            p = int(np.argmax(np.where(avail, (g ** 2).sum(1), -np.inf)))
        else:
            w = np.where(avail, d2, 0.0)
            if w.sum() == 0:
                w = avail.astype(np.float64)
            cdf = np.cumsum(w)
            p = int(np.searchsorted(cdf, u[t] * cdf[-1], side="right"))
        assert avail[p]
        picks.append(p)
        avail[p] = False
        d2 = np.minimum(d2, ((g - g[p]) ** 2).sum(1))
    return np.array(picks)


def random_pool(seed, n, d, c=5, dtype=np.float32):
    rng = np.random.default_rng(seed)
    logits = 2.0 * rng.normal(size=(n, c))
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return rng.normal(size=(n, d)).astype(dtype), p.astype(dtype)


def masks(seed, n, n_lab, frac=0.8):
    rng = np.random.default_rng(seed)
    lab = np.zeros(n, bool)
    lab[rng.choice(n, n_lab, replace=False)] = True
    return lab, rng.random(n) < frac


# ----------------------------------------------------------------- k-center


@pytest.mark.parametrize("method", ["lazy", "matvec"])
@pytest.mark.parametrize("n_lab", [0, 25])
def test_kcenter_matches_numpy_reference_float64(x64, n_lab, method):
    x, _ = random_pool(0, 400, 6, dtype=np.float64)
    lab, mask = masks(1, 400, n_lab)
    key = jax.random.key(2)
    got = np.asarray(select_coreset(key, {"embeddings": x}, 60, labeled=lab, mask=mask,
                                    method=method, block_size=16))
    first = None if n_lab else int(got[0])
    want = kcenter_ref(x, 60, lab, mask & ~lab, first=first)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("method", ["lazy", "matvec"])
def test_kcenter_exact_ties_on_integer_data(method):
    """Small-integer coordinates make every distance exact in float32, so the
    picks must equal the reference exactly, ties (many here) included."""
    rng = np.random.default_rng(20)
    x = rng.integers(0, 4, size=(300, 3)).astype(np.float32)
    lab, mask = masks(21, 300, 5)
    got = np.asarray(select_coreset(None, {"embeddings": x}, 40, labeled=lab, mask=mask,
                                    method=method, block_size=16))
    np.testing.assert_array_equal(got, kcenter_ref(x, 40, lab, mask & ~lab))


def test_kcenter_float32_same_set_as_reference():
    x, _ = random_pool(3, 2000, 32)
    lab, mask = masks(4, 2000, 100, frac=1.0)
    got = np.asarray(select_coreset(None, {"embeddings": x}, 300, labeled=lab))
    want = kcenter_ref(x, 300, lab, ~lab)
    matvec = np.asarray(select_coreset(None, {"embeddings": x}, 300, labeled=lab, method="matvec"))
    assert len(set(matvec) & set(want)) >= 0.97 * 300
    # float32 vs float64 distances: order may drift on near-ties, the set must not.
    assert len(set(got) & set(want)) >= 0.97 * 300


def test_kcenter_farthest_first_property():
    x, _ = random_pool(5, 500, 5)
    lab, mask = masks(6, 500, 10)
    got = np.asarray(select_coreset(None, {"embeddings": x}, 80, labeled=lab, mask=mask))
    x64_ = x.astype(np.float64)
    centers = list(np.flatnonzero(lab))
    avail = mask & ~lab
    for p in got:
        md = ((x64_[:, None] - x64_[centers][None]) ** 2).sum(-1).min(1)
        best = md[avail].max()
        assert avail[p]
        assert md[p] >= best * (1 - 1e-5), "pick is not the farthest available point"
        centers.append(p)
        avail[p] = False


def test_kcenter_labeled_are_centers():
    """Points right next to a labeled point are covered and picked last."""
    rng = np.random.default_rng(7)
    far = rng.normal(size=(40, 3)) * 10
    near = far[:10] + 1e-3 * rng.normal(size=(10, 3))  # twins of points 0..9
    x = np.concatenate([far, near]).astype(np.float32)
    lab = np.zeros(50, bool)
    lab[:10] = True
    got = np.asarray(select_coreset(None, {"embeddings": x}, 40, labeled=lab))
    assert not lab[got].any()
    assert set(got[-10:]) == set(range(40, 50))


def test_kcenter_cold_start_uses_key():
    x, _ = random_pool(8, 64, 4)
    firsts = [int(select_coreset(jax.random.key(s), {"embeddings": x}, 3)[0]) for s in range(12)]
    assert len(set(firsts)) >= 6  # not always index 0 (Google's kcenter_greedy bug)
    # The first center is floor(u * n_candidates)-th candidate, u = uniform(key, ()).
    mask = np.zeros(64, bool)
    mask[10:30] = True
    for s in range(3):
        key = jax.random.key(s)
        u = float(jax.random.uniform(key, (), jnp.float32))
        got = int(select_coreset(key, {"embeddings": x}, 2, mask=mask)[0])
        assert got == 10 + int(np.floor(u * 20))


# ----------------------------------------------------------------- BADGE


def test_badge_lowrank_distances_equal_materialized(x64):
    h, p = random_pool(9, 50, 7, c=4, dtype=np.float64)
    g = grad_embedding(p, h)
    want = ((g[:, None] - g[None]) ** 2).sum(-1)
    got = np.asarray(badge_sq_distances(p, h, p, h))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.asarray(gradient_factors(p)),
                               np.eye(4)[p.argmax(1)] - p, rtol=0, atol=0)


def test_badge_lowrank_distances_float32():
    h, p = random_pool(10, 30, 5, c=3)
    g = grad_embedding(p, h)
    want = ((g[:, None] - g[None]) ** 2).sum(-1)
    np.testing.assert_allclose(np.asarray(badge_sq_distances(p, h, p, h)), want,
                               rtol=1e-4, atol=1e-4 * want.max())


@pytest.mark.parametrize("n_lab", [0, 20])
def test_badge_matches_numpy_reference_same_uniforms(x64, n_lab):
    h, p = random_pool(11, 300, 6, c=4, dtype=np.float64)
    lab, mask = masks(12, 300, n_lab)
    key = jax.random.key(13)
    budget = 50
    got = np.asarray(select_badge(key, {"embeddings": h, "probs": p}, budget, labeled=lab,
                                  mask=mask))
    u = np.asarray(jax.random.uniform(key, (budget,), jnp.float64))
    want = badge_ref(p, h, budget, u, lab, mask & ~lab)
    np.testing.assert_array_equal(got, want)


def test_badge_first_pick_is_largest_norm_and_no_repeats():
    h, p = random_pool(14, 200, 5)
    g2 = (grad_embedding(p, h) ** 2).sum(1)
    mask = np.ones(200, bool)
    mask[np.argsort(-g2)[:3]] = False  # the three largest are not candidates
    for s in range(3):
        got = np.asarray(select_badge(jax.random.key(s), {"embeddings": h, "probs": p}, 200 - 3,
                                      mask=mask))
        assert got[0] == np.argsort(-g2)[3]
        assert len(set(got)) == len(got) and mask[got].all()


def test_badge_duplicates_fall_back_to_uniform_without_repeats():
    h = np.ones((16, 3), np.float32)
    p = np.full((16, 2), 0.5, np.float32)
    p[:, 0] += 0.1
    p[:, 1] -= 0.1
    got = np.asarray(select_badge(jax.random.key(0), {"embeddings": h, "probs": p}, 16))
    assert sorted(got.tolist()) == list(range(16))


def test_badge_second_pick_follows_d2_distribution():
    """Over many keys the second pick's frequency matches D^2 / sum D^2 (chi-square)."""
    n = 24
    h, p = random_pool(15, n, 4, c=3)
    g = grad_embedding(p, h)
    first = int(np.argmax((g ** 2).sum(1)))
    d2 = ((g - g[first]) ** 2).sum(1)
    d2[first] = 0.0
    prob = d2 / d2.sum()

    keys = jax.random.split(jax.random.key(16), 4000)
    layout = _common.make_layout(n)
    lab_idx = _common.padded_index(np.zeros(0, int), 1)
    run = jax.jit(jax.vmap(partial(
        badge_mod._badge, probs=jnp.asarray(p), emb=jnp.asarray(h),
        labeled=jnp.zeros(n, bool), mask=jnp.ones(n, bool), lab_idx=lab_idx,
        layout=layout, budget=2, has_labeled=False)))
    picks = np.asarray(run(keys))
    assert (picks[:, 0] == first).all()
    counts = np.bincount(picks[:, 1], minlength=n)
    assert counts[first] == 0
    keep = prob > 0
    expected = prob[keep] * len(keys)
    assert expected.min() >= 5  # the chi-square approximation holds
    _, pval = stats.chisquare(counts[keep], expected)
    assert pval > 1e-3
    # The test has power: D (not D^2) or uniform sampling would be rejected.
    for alt in (np.sqrt(d2[keep]), np.ones(keep.sum())):
        _, p_alt = stats.chisquare(counts[keep], alt / alt.sum() * len(keys))
        assert p_alt < 1e-6


# ----------------------------------------------------------------- sum tree


def test_tree_sample_is_inverse_cdf(x64):
    """The sum-tree draw equals searchsorted(cumsum(w), u * sum(w)) incl. zero weights."""
    rng = np.random.default_rng(17)
    w = rng.random(200) * (rng.random(200) < 0.6)
    layout = _common.make_layout(200, block_size=8)
    wp = jnp.asarray(np.pad(w, (0, layout.n_pad - 200)))
    ax = _common.Axis(None, 1)
    draw = jax.jit(jax.vmap(lambda u: _kernels.tree_sample(ax, wp, u, layout.block)))
    us = rng.random(500)
    got = np.asarray(draw(jnp.asarray(us)))
    cdf = np.cumsum(w)
    want = np.searchsorted(cdf, us * cdf[-1], side="right")
    np.testing.assert_array_equal(got, want)
    assert (w[got] > 0).all()
