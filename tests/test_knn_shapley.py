"""Truth tests for exact KNN-Shapley (ads_jax.valuation).

Every reference here is independent of the library: brute-force Shapley values
by enumerating every subset of a tiny training set (utility written from the
definition), a plain NumPy implementation of the published recursions at
N = 2000, and the Shapley axioms (efficiency, symmetry).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ads_jax.valuation import (
    BUILTIN_VALUATIONS,
    JIA,
    VALUATIONS,
    Recursion,
    knn_shapley,
    knn_variants,
    linear_step,
)
from ads_jax.valuation.sorting import host_sort_matches, sort_matches, sort_with_ranks
from ads_jax.valuation.testing import brute_force_values

#: Every KNN-Shapley variant ads_jax registers, from the registry (not a hand-kept list).
VARIANTS = tuple(v for v in knn_variants() if v in BUILTIN_VALUATIONS)


def example_options(variant, dist):
    """Options a variant's registration asks the tests to exercise ([{}] = defaults)."""
    ex = VALUATIONS.get(variant).meta.get("example_options")
    return ex(dist) if ex is not None else [{}]


# ---------------------------------------------------------------- references
def np_sqdist(a, b):
    """Exact-order reference distances (float64, direct differences)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def stable_order(row):
    """Indices by distance, ties to the lower index (the library's convention)."""
    return np.lexsort((np.arange(row.shape[0]), row))


def brute_force(dist, train_y, val_y, *, variant, k, num_classes, tau=None):
    """Shapley values from the definition: every subset, every player. (M, N)."""
    m, n = dist.shape
    masks = np.arange(2**n)
    fact = [math.factorial(i) for i in range(n + 1)]
    out = np.zeros((m, n))
    for b in range(m):
        order = stable_order(dist[b])
        match_sorted = (train_y[order] == val_y[b]).astype(np.float64)
        member = ((masks[:, None] >> order[None, :]) & 1).astype(bool)  # (2^n, n) sorted
        size = member.sum(1)
        if variant == "threshold":
            ball = member & (dist[b][order] <= tau)[None, :]
            cnt = ball.sum(1)
            hit = (ball * match_sorted).sum(1)
            util = np.where(cnt > 0, hit / np.maximum(cnt, 1), 1.0 / num_classes)
        else:
            top = member & (np.cumsum(member, axis=1) <= k)
            hit = (top * match_sorted).sum(1)
            if variant == "jia":
                util = hit / k
            else:  # soft
                util = np.where(size > 0, hit / np.maximum(np.minimum(size, k), 1),
                                1.0 / num_classes)
        for i in range(n):
            without = masks[((masks >> i) & 1) == 0]
            s = size[without]
            w = np.array([fact[j] * fact[n - j - 1] / fact[n] for j in s])
            out[b, i] = np.sum(w * (util[without | (1 << i)] - util[without]))
    return out


def numpy_jia(dist, train_y, val_y, k):
    """Jia et al. 2019 recursion in plain NumPy, base case a_N / max(N, K)."""
    m, n = dist.shape
    out = np.zeros((m, n))
    for b in range(m):
        order = np.argsort(dist[b], kind="stable")
        a = (train_y[order] == val_y[b]).astype(np.float64)
        s = np.zeros(n)
        s[n - 1] = a[n - 1] / max(n, k)
        for i in range(n - 2, -1, -1):  # 0-based i <-> rank i + 1
            s[i] = s[i + 1] + (a[i] - a[i + 1]) / k * min(k, i + 1) / (i + 1)
        out[b, order] = s
    return out


def numpy_soft(dist, train_y, val_y, k, num_classes):
    """Soft-label KNN-Shapley as in Wang & Jia's reference code (valid for N > K)."""
    m, n = dist.shape
    assert n > k
    out = np.zeros((m, n))
    const = sum(1.0 / j for j in range(1, min(k, n) + 1))
    tail = sum(1.0 / (j + 1) for j in range(1, min(k, n)))
    for b in range(m):
        order = np.argsort(dist[b], kind="stable")
        a = (train_y[order] == val_y[b]).astype(np.float64)
        c_a = a[: n - 1].sum()
        s = np.zeros(n)
        s[n - 1] = (a[-1] - c_a / (n - 1)) / n * tail + (a[-1] - 1.0 / num_classes) / n
        for i in range(n - 2, -1, -1):
            r = i + 1
            coef = (a[i] - a[i + 1]) / (n - 1)
            s[i] = s[i + 1] + coef * (const + (min(r, k) * (n - 1) / r - k) / k)
        out[b, order] = s
    return out


def numpy_threshold(dist, train_y, val_y, tau, num_classes):
    """Threshold KNN-Shapley in the form of Wang et al.'s reference code."""
    m, n = dist.shape
    out = np.zeros((m, n))
    for b in range(m):
        ball = np.flatnonzero(dist[b] <= tau)
        ct = len(ball)
        if ct == 0:
            continue
        ca = np.sum(train_y[ball] == val_y[b])
        # sum_j 1/(j+1) (1 - C(n-1-j, ct)/C(n, ct)), by the running ratio
        reusable, ratio = 0.0, 1.0
        for j in range(n):
            ratio *= (n - j - ct) / (n - j)
            reusable += (1.0 / (j + 1)) * (1.0 - ratio)
        for i in ball:
            a = float(train_y[i] == val_y[b])
            s = (a - 1.0 / num_classes) / ct
            if ct >= 2:
                s += (a / ct - (ca - a) / (ct * (ct - 1))) * (reusable - 1.0)
            out[b, i] = s
    return out


def utility_all_minus_empty(dist, train_y, val_y, *, variant, k, num_classes, tau=None):
    """U(D) - U(empty) per validation point (efficiency axiom), from the registered game."""
    utility = VALUATIONS.get(variant).meta["utility"]
    options = VALUATIONS.typed(variant, {} if tau is None else {"tau": tau})
    res = []
    for b in range(dist.shape[0]):
        order = stable_order(dist[b])
        a = (train_y[order] == val_y[b]).astype(np.float64)
        member = np.array([np.ones(a.size, bool), np.zeros(a.size, bool)])
        u = utility(member, a, dist[b][order], k=k, num_classes=num_classes, options=options)
        res.append(u[0] - u[1])
    return np.array(res)


def safe_tau(dist, q):
    """A threshold halfway between two distinct distances near quantile ``q``, so that
    rounding differences between distance formulas cannot move a point across it."""
    u = np.unique(dist)
    j = min(int(q * (u.size - 1)), u.size - 2)
    return float(0.5 * (u[j] + u[j + 1]))


def make_data(rng, n, m, d=3, num_classes=3, integer=False):
    """Random features; integer-valued ones make exact distance ties frequent."""
    if integer:
        tx = rng.integers(-2, 3, size=(n, d)).astype(np.float64)
        vx = rng.integers(-2, 3, size=(m, d)).astype(np.float64)
    else:
        tx = rng.normal(size=(n, d))
        vx = rng.normal(size=(m, d))
    ty = rng.integers(0, num_classes, n).astype(np.int32)
    vy = rng.integers(0, num_classes, m).astype(np.int32)
    return tx, ty, vx, vy


# --------------------------------------------------------------- brute force
@pytest.mark.parametrize("n", range(1, 9))
def test_brute_force_every_subset(x64, n):
    """Every registered variant (and its example options), C in 2..4, every K in 1..N+3,
    vs subset enumeration of the variant's registered utility (float64)."""
    assert {"jia", "soft", "threshold"} <= set(VARIANTS)
    rng = np.random.default_rng(100 + n)
    m = 3
    worst = 0.0
    for num_classes in (2, 3, 4):
        # integer features (exact ties, broken by index) for C = 3, continuous otherwise
        tx, ty, vx, vy = make_data(rng, n, m, d=2, num_classes=num_classes,
                                   integer=num_classes == 3)
        if n >= 4 and num_classes == 2:
            tx[1], ty[1] = tx[0], ty[0]  # a duplicated point
        dist = np_sqdist(vx, tx)
        for variant in VARIANTS:
            for opts in example_options(variant, dist):
                for k in range(1, n + 4):
                    _, got = knn_shapley(tx, ty, vx, vy, num_classes=num_classes, k=k,
                                         variant=variant, options=opts, return_matrix=True)
                    want = brute_force_values(variant, dist, ty, vy, k=k,
                                              num_classes=num_classes, options=opts)
                    worst = max(worst, float(np.abs(np.asarray(got) - want).max()))
    assert worst <= 1e-10, worst


def test_registered_utilities_match_the_definitions(x64):
    """The utilities the variants are registered with are the published games
    (this file's own enumeration, written from the definitions)."""
    rng = np.random.default_rng(99)
    for num_classes in (2, 3):
        tx, ty, vx, vy = make_data(rng, 6, 3, d=2, num_classes=num_classes)
        dist = np_sqdist(vx, tx)
        for k in (1, 3, 7):
            for variant in ("jia", "soft"):
                np.testing.assert_allclose(
                    brute_force_values(variant, dist, ty, vy, k=k, num_classes=num_classes),
                    brute_force(dist, ty, vy, variant=variant, k=k, num_classes=num_classes),
                    atol=1e-12)
        for tau in (0.0, safe_tau(dist, 0.5), float(dist.max()) + 1):
            np.testing.assert_allclose(
                brute_force_values("threshold", dist, ty, vy, k=1, num_classes=num_classes,
                                   options={"tau": tau}),
                brute_force(dist, ty, vy, variant="threshold", k=1, num_classes=num_classes,
                            tau=tau), atol=1e-12)


def test_k_larger_than_n_is_exact(x64):
    """K >= N: every point is always among the K nearest, so s_i = a_i / K."""
    rng = np.random.default_rng(1)
    tx, ty, vx, vy = make_data(rng, 3, 4, num_classes=2)
    _, got = knn_shapley(tx, ty, vx, vy, num_classes=2, k=5, return_matrix=True)
    want = (ty[None, :] == vy[:, None]) / 5.0
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-14)
    # The published base case a_N / N would give 1/3 to a matching farthest point.
    assert np.abs(np.asarray(got)).max() <= 1 / 5 + 1e-14


# ----------------------------------------------------------------- axioms
@pytest.mark.parametrize("variant", VARIANTS)
def test_efficiency_axiom(x64, variant):
    rng = np.random.default_rng(2)
    tx, ty, vx, vy = make_data(rng, 400, 16, d=4, num_classes=4)
    dist = np_sqdist(vx, tx)
    tau = safe_tau(dist, 0.05) if variant == "threshold" else None
    for k in (1, 5, 400, 450):
        _, per_val = knn_shapley(tx, ty, vx, vy, num_classes=4, k=k, variant=variant,
                                 tau=tau, return_matrix=True)
        want = utility_all_minus_empty(dist, ty, vy, variant=variant, k=k,
                                       num_classes=4, tau=tau)
        np.testing.assert_allclose(np.asarray(per_val).sum(1), want, atol=1e-10)
        if variant == "threshold":
            break


@pytest.mark.parametrize("variant", VARIANTS)
def test_symmetry_duplicated_points(x64, variant):
    """Two copies of a point (same features and label) get equal value."""
    rng = np.random.default_rng(3)
    tx, ty, vx, vy = make_data(rng, 120, 10, d=3, num_classes=3)
    dup = [5, 17, 60]
    tx = np.concatenate([tx, tx[dup]])
    ty = np.concatenate([ty, ty[dup]])
    tau = safe_tau(np_sqdist(vx, tx), 0.3) if variant == "threshold" else None
    values, per_val = knn_shapley(tx, ty, vx, vy, num_classes=3, k=7, variant=variant,
                                  tau=tau, return_matrix=True)
    values, per_val = np.asarray(values), np.asarray(per_val)
    np.testing.assert_allclose(values[dup], values[120:], atol=1e-13)
    np.testing.assert_allclose(per_val[:, dup], per_val[:, 120:], atol=1e-13)
    assert np.abs(values[dup]).max() > 0  # not trivially zero


# ------------------------------------------------------- paths must agree
@pytest.mark.parametrize("variant", ["jia", "soft"])
def test_scan_equals_parallel_equals_auto(x64, variant):
    """Literal lax.scan recursion == reverse-cumsum path == host-sorted path, with ties."""
    rng = np.random.default_rng(4)
    tx, ty, vx, vy = make_data(rng, 150, 12, d=2, num_classes=3, integer=True)
    res = {}
    for method in ("scan", "parallel", "auto"):
        res[method] = np.asarray(
            knn_shapley(tx, ty, vx, vy, num_classes=3, k=4, variant=variant,
                        method=method, return_matrix=True)[1]
        )
    np.testing.assert_allclose(res["scan"], res["parallel"], atol=1e-13)
    np.testing.assert_allclose(res["auto"], res["parallel"], atol=1e-13)
    want = numpy_reference(tx, ty, vx, vy, variant, k=4, num_classes=3)
    np.testing.assert_allclose(res["parallel"], want, atol=1e-12)


def numpy_reference(tx, ty, vx, vy, variant, k, num_classes):
    dist = np_sqdist(vx, tx)
    if variant == "jia":
        return numpy_jia(dist, ty, vy, k)
    return numpy_soft(dist, ty, vy, k, num_classes)


def test_custom_recursion_plugs_in(x64):
    """A researcher's recursion: non-linear-form step (scan only) and a linear one."""
    rng = np.random.default_rng(5)
    tx, ty, vx, vy = make_data(rng, 60, 5)

    def step(s_next, a_i, a_next, i, ctx):  # Jia's update written out by hand
        k = jnp.asarray(ctx.k, s_next.dtype)
        return s_next + (a_i - a_next) / k * jnp.minimum(k, i) / i

    by_scan = Recursion("jia-by-hand", JIA.base, step)  # no coef -> scan path
    ref = np.asarray(knn_shapley(tx, ty, vx, vy, num_classes=3, k=3))
    for method in ("auto", "scan"):
        got = knn_shapley(tx, ty, vx, vy, num_classes=3, k=3, variant=by_scan, method=method)
        np.testing.assert_allclose(np.asarray(got), ref, atol=1e-14)
    with pytest.raises(ValueError, match="coef"):
        knn_shapley(tx, ty, vx, vy, num_classes=3, variant=by_scan, method="parallel")

    # A new (linear) recursion: K-independent weights 1/i -> parallel and scan agree ...
    coef = lambda i, ctx: 1.0 / i  # noqa: E731
    harmonic_like = Recursion("inv-rank", lambda a, ctx: a[-1] / ctx.n, linear_step(coef), coef)
    a1 = knn_shapley(tx, ty, vx, vy, num_classes=3, variant=harmonic_like, method="parallel")
    a2 = knn_shapley(tx, ty, vx, vy, num_classes=3, variant=harmonic_like, method="scan")
    np.testing.assert_allclose(np.asarray(a1), np.asarray(a2), atol=1e-14)
    # ... and it is Jia's recursion for K = 1 (c_i = 1/i, s_N = a_N / N).
    a3 = knn_shapley(tx, ty, vx, vy, num_classes=3, k=1)
    np.testing.assert_allclose(np.asarray(a1), np.asarray(a3), atol=1e-14)


@pytest.mark.parametrize("variant", VARIANTS)
def test_chunked_equals_unchunked(x64, variant):
    rng = np.random.default_rng(6)
    tx, ty, vx, vy = make_data(rng, 90, 23, num_classes=4)
    tau = 3.0 if variant == "threshold" else None
    full = knn_shapley(tx, ty, vx, vy, num_classes=4, k=5, variant=variant, tau=tau,
                       return_matrix=True)
    for chunk in (1, 4, 7):
        part = knn_shapley(tx, ty, vx, vy, num_classes=4, k=5, variant=variant, tau=tau,
                           val_chunk_size=chunk, return_matrix=True)
        np.testing.assert_allclose(np.asarray(part[1]), np.asarray(full[1]), atol=1e-14)
        np.testing.assert_allclose(np.asarray(part[0]), np.asarray(full[0]), atol=1e-14)


MESHES = [((8,), ("val",)), ((8,), ("train",)), ((2, 4), ("val", "train"))]


@pytest.mark.parametrize("shape,names", MESHES)
def test_sharded_equals_single_device(x64, shape, names):
    """Validation and/or training points sharded over 8 simulated devices."""
    assert jax.device_count() >= 8, "tests/conftest.py should force 8 CPU devices"
    rng = np.random.default_rng(7)
    tx, ty, vx, vy = make_data(rng, 101, 19, d=3, num_classes=3, integer=True)  # ties
    mesh = jax.make_mesh(shape, names)
    variants = VARIANTS if names == ("val", "train") else ("jia",)
    for variant in variants:
        tau = 4.0 if variant == "threshold" else None
        ref_v, ref_m = knn_shapley(tx, ty, vx, vy, num_classes=3, k=6, variant=variant,
                                   tau=tau, return_matrix=True)
        got_v, got_m = knn_shapley(tx, ty, vx, vy, num_classes=3, k=6, variant=variant,
                                   tau=tau, return_matrix=True, mesh=mesh,
                                   val_chunk_size=2)
        np.testing.assert_allclose(np.asarray(got_m), np.asarray(ref_m), atol=1e-14)
        np.testing.assert_allclose(np.asarray(got_v), np.asarray(ref_v), atol=1e-14)
    # values-only output (reduce-scatter path when training points are sharded)
    got = knn_shapley(tx, ty, vx, vy, num_classes=3, k=6, mesh=mesh)
    ref = knn_shapley(tx, ty, vx, vy, num_classes=3, k=6)
    np.testing.assert_allclose(np.asarray(got), np.asarray(ref), atol=1e-14)


def test_float32_matches_float64():
    """float32 within 1e-5 of float64, relative to max |value|, without near-ties."""
    rng = np.random.default_rng(8)
    tx, ty, vx, vy = make_data(rng, 300, 40, d=8, num_classes=4)
    gaps = np.diff(np.sort(np_sqdist(vx, tx), axis=1), axis=1).min(1)
    keep = gaps > 1e-4  # validation points without near-ties (f32 cannot reorder)
    assert keep.sum() >= 5
    vx, vy = vx[keep], vy[keep]
    dist = np_sqdist(vx, tx)
    res32 = {}
    for variant in VARIANTS:
        tau = safe_tau(dist, 0.1) if variant == "threshold" else None
        res32[variant] = np.asarray(knn_shapley(
            tx.astype(np.float32), ty, vx.astype(np.float32), vy, num_classes=4, k=5,
            variant=variant, tau=tau, return_matrix=True)[1])
        assert res32[variant].dtype == np.float32
    jax.config.update("jax_enable_x64", True)
    try:
        for variant in VARIANTS:
            tau = safe_tau(dist, 0.1) if variant == "threshold" else None
            r64 = np.asarray(knn_shapley(tx, ty, vx, vy, num_classes=4, k=5, variant=variant,
                                         tau=tau, return_matrix=True)[1])
            assert r64.dtype == np.float64
            scale = np.abs(r64).max()
            assert np.abs(res32[variant] - r64).max() <= 1e-5 * scale, variant
    finally:
        jax.config.update("jax_enable_x64", False)


# ---------------------------------------------- independent NumPy at N = 2000
def test_matches_independent_numpy_n2000(x64):
    rng = np.random.default_rng(9)
    n, m, c = 2000, 6, 5
    tx, ty, vx, vy = make_data(rng, n, m, d=6, num_classes=c)
    tx = np.concatenate([tx[:1990], tx[:10]])  # some duplicated points
    ty = np.concatenate([ty[:1990], ty[:10]])
    dist = np_sqdist(vx, tx)
    tau = safe_tau(dist, 0.02)
    cases = {
        "jia": numpy_jia(dist, ty, vy, 5),
        "soft": numpy_soft(dist, ty, vy, 5, c),
        "threshold": numpy_threshold(dist, ty, vy, tau, c),
    }
    for variant, want in cases.items():
        values, per_val = knn_shapley(tx, ty, vx, vy, num_classes=c, k=5, variant=variant,
                                      tau=tau if variant == "threshold" else None,
                                      return_matrix=True)
        np.testing.assert_allclose(np.asarray(per_val), want, atol=1e-12, err_msg=variant)
        np.testing.assert_allclose(np.asarray(values), want.mean(0), atol=1e-12)
    # default float32, default (host-sorted on CPU) path
    got32 = knn_shapley(tx.astype(np.float32), ty, vx.astype(np.float32), vy,
                        num_classes=c, k=5)
    want = cases["jia"].mean(0)
    assert np.abs(np.asarray(got32) - want).max() <= 1e-5 * np.abs(want).max()


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_other_metrics(x64, metric):
    rng = np.random.default_rng(10)
    tx, ty, vx, vy = make_data(rng, 50, 4)
    if metric == "euclidean":
        dist = np.sqrt(np_sqdist(vx, tx))
    else:
        un = lambda z: z / np.linalg.norm(z, axis=1, keepdims=True)  # noqa: E731
        dist = 1.0 - un(vx) @ un(tx).T
    got = knn_shapley(tx, ty, vx, vy, num_classes=3, k=3, metric=metric, return_matrix=True)
    np.testing.assert_allclose(np.asarray(got[1]), numpy_jia(dist, ty, vy, 3), atol=1e-12)


def test_jit_compatible_and_jax_inputs(x64):
    rng = np.random.default_rng(11)
    tx, ty, vx, vy = map(jnp.asarray, make_data(rng, 40, 5))
    eager = knn_shapley(tx, ty, vx, vy, num_classes=3, k=2)
    for method in ("auto", "parallel"):
        jitted = jax.jit(lambda a, b, c, d, method=method: knn_shapley(
            a, b, c, d, num_classes=3, k=2, method=method))
        np.testing.assert_allclose(np.asarray(jitted(tx, ty, vx, vy)), np.asarray(eager),
                                   atol=1e-14)
    thr = jax.jit(lambda t: knn_shapley(tx, ty, vx, vy, num_classes=3, variant="threshold",
                                        tau=t))
    np.testing.assert_allclose(
        np.asarray(thr(2.0)),
        np.asarray(knn_shapley(tx, ty, vx, vy, num_classes=3, variant="threshold", tau=2.0)),
        atol=1e-14)


# ------------------------------------------------------------------ sorting
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_host_sort_equals_xla_sort_with_ties(dtype):
    rng = np.random.default_rng(12)
    dist = rng.integers(0, 6, size=(9, 257)).astype(dtype)  # many exact ties
    dist[0, :5] = -0.0
    dist[1, -3:] = np.inf
    want_perm = np.stack([stable_order(np.where(r == 0, 0, r)) for r in dist])
    if dtype == np.float64:
        jax.config.update("jax_enable_x64", True)
    try:
        perm, rank = sort_with_ranks(jnp.asarray(dist), sorter="xla")
        hperm, hrank = sort_with_ranks(jnp.asarray(dist), sorter="host")
    finally:
        jax.config.update("jax_enable_x64", False)
    for p, r in ((perm, rank), (hperm, hrank)):
        p, r = np.asarray(p), np.asarray(r)
        np.testing.assert_array_equal(p, want_perm)
        np.testing.assert_array_equal(np.take_along_axis(r, p, axis=1),
                                      np.broadcast_to(np.arange(257), p.shape))
    ty = rng.integers(0, 3, 257).astype(np.int32)
    vy = rng.integers(0, 3, 9).astype(np.int32)
    match, hrank = host_sort_matches(np.where(dist == 0, 0, dist).astype(dtype), ty, vy)
    np.testing.assert_array_equal(match, ty[want_perm] == vy[:, None])
    xm, _ = sort_matches(jnp.asarray(dist.astype(np.float32)), jnp.asarray(ty),
                         jnp.asarray(vy), sorter="xla")
    np.testing.assert_array_equal(np.asarray(xm), match)


# -------------------------------------------------------------- bad inputs
def _good():
    tx, ty, vx, vy = make_data(np.random.default_rng(13), 20, 4, num_classes=3)
    return dict(train_x=tx.astype(np.float32), train_y=ty, val_x=vx.astype(np.float32),
                val_y=vy)


def _bad_cases():
    g = _good()
    nan_x = g["train_x"].copy()
    nan_x[3, 1] = np.nan
    inf_v = g["val_x"].copy()
    inf_v[0, 0] = np.inf
    high = g["train_y"].copy()
    high[0] = 3
    neg = g["val_y"].copy()
    neg[1] = -1
    return [
        (dict(train_x=nan_x), {}, ValueError, "train_x.*non-finite"),
        (dict(val_x=inf_v), {}, ValueError, "val_x.*non-finite"),
        (dict(train_y=high), {}, ValueError, r"train_y.*\[0, 3\)"),
        (dict(val_y=neg), {}, ValueError, "val_y"),
        ({}, dict(k=0), ValueError, "`k`"),
        ({}, dict(k=2.5), TypeError, "`k`"),
        ({}, dict(num_classes=0), ValueError, "num_classes"),
        (dict(train_x=g["train_x"][:0], train_y=g["train_y"][:0]), {}, ValueError,
         "train_x.*empty"),
        (dict(val_x=g["val_x"][:0], val_y=g["val_y"][:0]), {}, ValueError, "val_x.*empty"),
        (dict(train_y=g["train_y"][:-1]), {}, ValueError, "same number of points"),
        (dict(val_x=g["val_x"][:, :2]), {}, ValueError, "feature dimension"),
        (dict(train_x=g["train_x"][:, 0]), {}, ValueError, "train_x.*2-D"),
        (dict(train_x=g["train_x"].astype(np.int32)), {}, TypeError, "train_x.*floating"),
        (dict(val_y=g["val_y"].astype(np.float32)), {}, TypeError, "val_y.*integer"),
        ({}, dict(variant="threshold"), ValueError, "tau"),
        ({}, dict(tau=1.0), ValueError, "tau"),
        ({}, dict(variant="threshold", tau=-1.0), ValueError, "tau"),
        ({}, dict(variant="threshold", tau=float("nan")), ValueError, "tau"),
        ({}, dict(variant="threshold", tau="big"), TypeError, "tau"),
        ({}, dict(variant="knn"), ValueError, "variant"),
        ({}, dict(variant=3), TypeError, "variant"),
        ({}, dict(metric="manhattan"), ValueError, "metric"),
        ({}, dict(method="fast"), ValueError, "method"),
        ({}, dict(val_chunk_size=0), ValueError, "val_chunk_size"),
        ({}, dict(return_matrix="yes"), TypeError, "return_matrix"),
        ({}, dict(mesh="8 devices"), TypeError, "mesh"),
    ]


@pytest.mark.parametrize("arrays,kwargs,exc,match", _bad_cases())
def test_bad_inputs_raise_clear_errors(arrays, kwargs, exc, match):
    args = {**_good(), **arrays}
    kw = {"num_classes": 3, **kwargs}
    with pytest.raises(exc, match=match):
        knn_shapley(args["train_x"], args["train_y"], args["val_x"], args["val_y"], **kw)
