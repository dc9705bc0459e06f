"""Tests for ads_jax.valuation.baselines: LOO, exact / MSR Data Banzhaf, random.

References are independent of the library: subsets enumerated by brute force
(the jia utility written out below), an exact-rational evaluation of the
Banzhaf closed form, scipy's binomial, and the MSR formulas in NumPy.
"""

import math
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import binom

from ads_jax.valuation.baselines import (
    binom_half_cdf,
    knn_banzhaf_msr,
    knn_banzhaf_values,
    knn_loo_values,
    knn_utility_fn,
    log_binom_half_pmf,
    msr_banzhaf,
    random_values,
)
from ads_jax.valuation.testing import stable_order


# ----------------------------------------------------------------- references
def _utilities(dist_row, train_y, y, k):
    """U(S) of every subset S (bit i of the index = training point i) for one
    validation point: (1/K) * matches among the min(K, |S|) nearest members,
    ties to the lower index."""
    n = dist_row.size
    order = stable_order(dist_row)
    match = (train_y[order] == y).astype(np.float64)
    masks = np.arange(2**n)
    member = ((masks[:, None] >> order[None, :]) & 1).astype(bool)  # sorted order
    top = member & (np.cumsum(member, axis=1) <= k)
    return (top * match).sum(1) / k


def brute_force(dist, train_y, val_y, k):
    """(LOO, Banzhaf), each (N,), averaged over the validation points."""
    m, n = dist.shape
    masks = np.arange(2**n)
    full = 2**n - 1
    loo, ban = np.zeros(n), np.zeros(n)
    for b in range(m):
        u = _utilities(dist[b], train_y, val_y[b], k)
        for i in range(n):
            without = masks[((masks >> i) & 1) == 0]
            ban[i] += np.mean(u[without | (1 << i)] - u[without])
            loo[i] += u[full] - u[full & ~(1 << i)]
    return loo / m, ban / m


def _grid_problem(rng, n, m=3, c=3):
    """Integer coordinates on a 3x3 grid: many exact distance ties (and exact
    float arithmetic, so the library sees the same ties)."""
    tx = rng.integers(0, 3, (n, 2)).astype(np.float64)
    vx = rng.integers(0, 3, (m, 2)).astype(np.float64)
    ty = rng.integers(0, c, n).astype(np.int32)
    vy = rng.integers(0, c, m).astype(np.int32)
    dist = ((vx[:, None] - tx[None]) ** 2).sum(-1)
    return tx, ty, vx, vy, dist


# ----------------------------------------------------------- exact baselines
@pytest.mark.parametrize("n", [1, 5, 8])
def test_loo_and_banzhaf_match_brute_force(x64, rng, n):
    for _ in range(3):
        tx, ty, vx, vy, dist = _grid_problem(rng, n)
        assert n < 3 or len(np.unique(dist)) < dist.size  # ties present
        for k in (1, 2, 3, 5, 8, 10):  # includes K >= N
            want_loo, want_ban = brute_force(dist, ty, vy, k)
            loo = knn_loo_values(tx, ty, vx, vy, num_classes=3, k=k)
            ban = knn_banzhaf_values(tx, ty, vx, vy, num_classes=3, k=k)
            assert loo.dtype == jnp.float64 and ban.shape == (n,)
            np.testing.assert_allclose(np.asarray(loo), want_loo, rtol=0, atol=1e-13)
            np.testing.assert_allclose(np.asarray(ban), want_ban, rtol=0, atol=1e-13)


def test_k_at_least_n_closed_forms(x64, rng):
    """K >= N: nobody is ever kicked out, so Banzhaf_i = a_i / K (averaged) and
    LOO_i = a_i / K too."""
    tx, ty, vx, vy, _ = _grid_problem(rng, 5)
    want = (ty[None, :] == vy[:, None]).mean(0) / 7
    for fn in (knn_loo_values, knn_banzhaf_values):
        np.testing.assert_allclose(np.asarray(fn(tx, ty, vx, vy, num_classes=3, k=7)), want,
                                   atol=1e-15)


def test_other_metrics_and_chunking(x64, rng):
    """Cosine / Euclidean distances computed in NumPy, brute force on them; the
    Euclidean run also splits the 3 validation points into chunks of 2."""
    tx = rng.normal(size=(8, 3))
    vx = rng.normal(size=(3, 3))
    ty = rng.integers(0, 2, 8).astype(np.int32)
    vy = rng.integers(0, 2, 3).astype(np.int32)
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)
    want_loo, want_ban = brute_force(1.0 - unit(vx) @ unit(tx).T, ty, vy, 3)
    kw = {"num_classes": 2, "k": 3, "metric": "cosine"}
    np.testing.assert_allclose(np.asarray(knn_loo_values(tx, ty, vx, vy, **kw)), want_loo,
                               atol=1e-13)
    np.testing.assert_allclose(np.asarray(knn_banzhaf_values(tx, ty, vx, vy, **kw)), want_ban,
                               atol=1e-13)
    _, want_ban = brute_force(np.sqrt(((vx[:, None] - tx[None]) ** 2).sum(-1)), ty, vy, 3)
    got = knn_banzhaf_values(tx, ty, vx, vy, num_classes=2, k=3, metric="euclidean",
                             val_chunk_size=2)
    np.testing.assert_allclose(np.asarray(got), want_ban, atol=1e-13)


def test_train_mask_padding_rows_are_absent(x64, rng):
    tx, ty, vx, vy, _ = _grid_problem(rng, 8)
    # Interleave 5 padding rows with arbitrary (far, near, duplicate) features.
    pad_x = np.vstack([[100.0, -50.0], tx[0], vx[0], [0.5, 0.5], [-7.0, 3.0]])
    pad_y = np.array([0, 1, 2, 0, 1], np.int32)
    where = np.array([0, 3, 3, 6, 8])
    bx = np.insert(tx, where, pad_x, axis=0)
    by = np.insert(ty, where, pad_y)
    mask = np.insert(np.ones(8, bool), where, False)
    for k in (1, 3, 9, 14):
        for fn in (knn_loo_values, knn_banzhaf_values):
            ref = np.asarray(fn(tx, ty, vx, vy, num_classes=3, k=k))
            got = np.asarray(fn(bx, by, vx, vy, num_classes=3, k=k, train_mask=mask))
            np.testing.assert_allclose(got[mask], ref, atol=1e-14)
            assert np.all(got[~mask] == 0)


def _banzhaf_exact_rational(order_y, y, k):
    """(1/K)[a_i P(Bin(i-1,1/2) < K) - sum_{j>i} C(j-2,K-1)/2^(j-1) a_j] in exact
    rationals, in sorted order, rounded to float64 at the end."""
    n = len(order_y)
    a = [int(t == y) for t in order_y]
    out, suffix = [0.0] * n, Fraction(0)
    for i in range(n, 0, -1):  # 1-based position
        p = Fraction(sum(math.comb(i - 1, m) for m in range(min(k, i))), 2 ** (i - 1))
        out[i - 1] = float((a[i - 1] * p - suffix) / k)
        if i >= k + 1:
            suffix += Fraction(math.comb(i - 2, k - 1), 2 ** (i - 1)) * a[i - 1]
    return np.array(out)


@pytest.mark.parametrize("k", [3, 40])
def test_banzhaf_float32_keeps_tiny_values_accurate(rng, k):
    """N = 300 in float32, one validation point at a time: the log-space
    weights keep relative accuracy down to values ~1e-30 (a linear-space or
    ``1 - cumsum`` evaluation would not)."""
    n = 300
    tx = rng.permutation(n).astype(np.float32)[:, None]  # distinct integer positions
    ty = rng.integers(0, 2, n).astype(np.int32)
    for v, y in ((-0.5, 0), (150.25, 1), (310.0, 1)):
        vx, vy = np.array([[v]], np.float32), np.array([y], np.int32)
        order = np.argsort(np.abs(tx[:, 0].astype(np.float64) - v), kind="stable")
        want = np.zeros(n)
        want[order] = _banzhaf_exact_rational(ty[order], y, k)
        got = np.asarray(knn_banzhaf_values(tx, ty, vx, vy, num_classes=2, k=k))
        assert got.dtype == np.float32
        big = np.abs(want) > 1e-30
        assert (np.abs(want[big]) < 1e-12).any()  # tiny values are in the comparison
        np.testing.assert_allclose(got[big], want[big], rtol=2e-5)
        assert np.all(np.abs(got[~big]) <= 1e-29)


def test_binomial_helpers_match_exact_integers(x64):
    """log(C(n, x) / 2^n) against Python's exact big-integer binomials (the
    error is a few ulps of the log, i.e. relative in the pmf), and the cdf
    against scipy (relative, also far in the tail)."""
    pairs = []
    for n in (1, 7, 15, 16, 40, 333, 10**4, 10**5):
        xs = np.unique(np.clip(np.r_[0:12, n // 2 - 5:n // 2 + 5, n - 3:n + 1,
                                     np.linspace(0, n, 25).round()], 0, n)).astype(int)
        pairs += [(int(x), n) for x in xs]
    xs, ns = np.array(pairs).T
    # int / int is correctly rounded in Python (0.0 when below float64's range)
    exact = np.array([math.comb(n, x) / 2**n for x, n in pairs])
    cdf_want = binom.cdf(xs, ns, 0.5)
    for dtype, rtol, atol in ((np.float32, 3e-6, 2e-6), (np.float64, 1e-14, 1e-13)):
        x_d, n_d = jnp.asarray(xs, dtype), jnp.asarray(ns, dtype)
        got = np.asarray(jax.jit(log_binom_half_pmf)(x_d, n_d))
        ok = exact > np.finfo(dtype).tiny  # representable pmf
        np.testing.assert_allclose(got[ok], np.log(exact[ok]), rtol=rtol, atol=atol)
        cdf = np.asarray(jax.jit(jax.vmap(binom_half_cdf))(x_d, n_d))
        ok = cdf_want > 1e3 * np.finfo(dtype).tiny
        np.testing.assert_allclose(cdf[ok], cdf_want[ok], rtol=max(30 * rtol, 1e-10))


# ------------------------------------------------------------------------- MSR
@pytest.fixture(scope="module")
def knn_case():
    rng = np.random.default_rng(3)
    tx = rng.normal(size=(8, 2)).astype(np.float32)
    vx = rng.normal(size=(4, 2)).astype(np.float32)
    ty = rng.integers(0, 2, 8).astype(np.int32)
    vy = rng.integers(0, 2, 4).astype(np.int32)
    dist = ((vx[:, None].astype(np.float64) - tx[None]) ** 2).sum(-1)
    _, exact = brute_force(dist, ty, vy, 3)
    return tx, ty, vx, vy, exact


def test_knn_utility_fn_matches_enumeration(knn_case):
    tx, ty, vx, vy, _ = knn_case
    n = tx.shape[0]
    masks = np.arange(2**n)
    member = ((masks[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)
    dist = ((vx[:, None].astype(np.float64) - tx[None]) ** 2).sum(-1)
    want = np.mean([_utilities(dist[b], ty, vy[b], 3) for b in range(vx.shape[0])], axis=0)
    got = jax.jit(lambda mem: knn_utility_fn(tx, ty, vx, vy, k=3)(mem))(member)
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-6)


def test_msr_knn_banzhaf_within_4_standard_errors(knn_case):
    """Exact values within 4 standard errors; padding players (interleaved) are
    never sampled and get value 0 and standard error 0."""
    tx, ty, vx, vy, exact = knn_case
    np.testing.assert_allclose(np.asarray(knn_banzhaf_values(tx, ty, vx, vy, num_classes=2, k=3)),
                               exact, atol=1e-6)
    where = np.array([2, 5])
    bx = np.insert(tx, where, np.float32([[9.0, 9.0], [0.0, 0.0]]), axis=0)
    by = np.insert(ty, where, [1, 0]).astype(np.int32)
    mask = np.insert(np.ones(8, bool), where, False)
    est, se = knn_banzhaf_msr(jax.random.key(1), bx, by, vx, vy, num_classes=2, k=3,
                              num_samples=20000, train_mask=mask, batch_size=777)
    est, se = np.asarray(est), np.asarray(se)
    assert np.all(est[~mask] == 0) and np.all(se[~mask] == 0)
    assert np.all(se[mask] > 0) and np.all(se[mask] < 0.01)
    assert np.all(np.abs(est[mask] - exact) < 4 * se[mask]), (est[mask] - exact) / se[mask]


def test_msr_error_shrinks_like_inverse_sqrt_samples(knn_case):
    tx, ty, vx, vy, exact = knn_case
    keys = jax.random.split(jax.random.key(7), 24)
    rmse, mean_se, z_rms = [], [], []
    for m in (256, 4096):
        run = jax.vmap(lambda key, m=m: knn_banzhaf_msr(key, tx, ty, vx, vy, num_classes=2,
                                                        k=3, num_samples=m))
        est, se = (np.asarray(a) for a in run(keys))
        err = est - exact[None, :]
        rmse.append(np.sqrt(np.mean(err**2)))
        mean_se.append(se.mean())
        z_rms.append(np.sqrt(np.mean((err / se) ** 2)))
    # 16x the samples: 4x smaller errors, and standard errors that say so.
    assert 3.0 < rmse[0] / rmse[1] < 5.3, rmse
    assert 3.7 < mean_se[0] / mean_se[1] < 4.3, mean_se
    assert all(0.7 < z < 1.4 for z in z_rms), z_rms  # calibrated standard errors


def test_msr_generic_utility_and_formulas():
    """A non-KNN game: the estimate is near the enumerated Banzhaf value, and
    equals the MSR formulas evaluated in NumPy on the same sampled subsets
    (incl. a last, partial batch)."""
    c = np.array([0.3, -0.2, 0.5, 0.1, 0.0], np.float32)

    def utility(member):
        s = member.astype(jnp.float32) @ jnp.asarray(c)
        return s * s + (jnp.sum(member, axis=1) >= 3)

    n = c.size
    masks = np.arange(2**n)
    mem_all = ((masks[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)
    u_all = np.asarray(utility(jnp.asarray(mem_all)), np.float64)
    exact = np.array([u_all[mem_all[:, i]].mean() - u_all[~mem_all[:, i]].mean()
                      for i in range(n)])
    key = jax.random.key(11)
    m, b = 30000, 4096  # 8 batches, the last one partly used
    est, se = msr_banzhaf(key, utility, n, num_samples=m, batch_size=b)
    est, se = np.asarray(est), np.asarray(se)
    assert np.all(np.abs(est - exact) < 4 * se), (est - exact) / se

    keys = jax.random.split(key, -(-m // b))
    mem = np.concatenate([np.asarray(jax.random.bernoulli(kb, 0.5, (b, n))) for kb in keys])[:m]
    u = np.asarray(utility(jnp.asarray(mem)), np.float64)
    want_v, want_se = [], []
    for i in range(n):
        ui, uo = u[mem[:, i]], u[~mem[:, i]]
        want_v.append(ui.mean() - uo.mean())
        want_se.append(np.sqrt(ui.var(ddof=1) / ui.size + uo.var(ddof=1) / uo.size))
    np.testing.assert_allclose(est, want_v, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(se, want_se, rtol=1e-4, atol=1e-7)


def test_msr_bad_arguments():
    util = lambda mem: jnp.zeros(mem.shape[0])
    with pytest.raises(ValueError, match="num_samples"):
        msr_banzhaf(jax.random.key(0), util, 4, num_samples=1)
    with pytest.raises(TypeError, match="utility_fn"):
        msr_banzhaf(jax.random.key(0), "jia", 4, num_samples=10)
    with pytest.raises(ValueError, match="utility_fn"):
        msr_banzhaf(jax.random.key(0), lambda mem: jnp.zeros((mem.shape[0], 2)), 4,
                    num_samples=10)


# --------------------------------------------------------------------- random
def test_random_values():
    mask = np.arange(5000) % 3 != 0
    v = np.asarray(random_values(jax.random.key(0), 5000, train_mask=mask))
    assert v.dtype == np.float32 and v.shape == (5000,)
    assert np.all(v[~mask] == 0)
    real = v[mask]
    assert np.all((real >= 0) & (real < 1))
    assert abs(real.mean() - 0.5) < 0.02 and abs(real.var() - 1 / 12) < 0.01
    np.testing.assert_array_equal(v, np.asarray(random_values(jax.random.PRNGKey(0), 5000,
                                                              train_mask=mask)))
    assert not np.array_equal(v, np.asarray(random_values(jax.random.key(1), 5000,
                                                          train_mask=mask)))
    with pytest.raises(ValueError, match="train_mask"):
        random_values(jax.random.key(0), 4, train_mask=np.ones(3, bool))


# ----------------------------------------------------- boundary and tracing
def test_jit_with_traced_k_and_bad_inputs(rng):
    tx, ty, vx, vy, _ = _grid_problem(rng, 6)
    tx, vx = tx.astype(np.float32), vx.astype(np.float32)
    f = jax.jit(lambda a, k: knn_banzhaf_values(a, ty, vx, vy, num_classes=3, k=k))
    for k in (1, 4):
        np.testing.assert_allclose(np.asarray(f(tx, k)),
                                   np.asarray(knn_banzhaf_values(tx, ty, vx, vy, num_classes=3,
                                                                 k=k)), atol=1e-7)
    with pytest.raises(ValueError, match="k"):
        knn_loo_values(tx, ty, vx, vy, num_classes=3, k=0)
    with pytest.raises(ValueError, match="metric"):
        knn_loo_values(tx, ty, vx, vy, num_classes=3, k=2, metric="manhattan")
    with pytest.raises(ValueError, match="train_y"):
        knn_banzhaf_values(tx, ty + 5, vx, vy, num_classes=3, k=2)
    with pytest.raises(ValueError, match="same number"):
        knn_banzhaf_values(tx, ty[:3], vx, vy, num_classes=3, k=2)
    with pytest.raises(TypeError, match="train_mask"):
        knn_banzhaf_values(tx, ty, vx, vy, num_classes=3, k=2, train_mask=np.ones(6))
