"""Truth tests for ads_jax.distances against plain NumPy references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ads_jax.distances import knn, map_row_blocks, pairwise_distances, sq_norms


def np_dist(x, y, metric):
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if metric == "cosine":
        xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300)
        yn = y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-300)
        return np.clip(1.0 - xn @ yn.T, 0.0, 2.0)
    d = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return np.sqrt(d) if metric == "euclidean" else d


def stable_topk(d, k):
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, idx, axis=1), idx


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean", "cosine"])
def test_pairwise_blocked_equals_unblocked_and_numpy(metric):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(37, 6)).astype(np.float32)
    y = rng.normal(size=(23, 6)).astype(np.float32)
    want = np_dist(x, y, metric)
    full = np.asarray(pairwise_distances(x, y, metric=metric, block_size=1000))
    for block in (1, 5, 36, 37):
        got = np.asarray(pairwise_distances(x, y, metric=metric, block_size=block))
        assert got.shape == (37, 23) and got.dtype == np.float32
        np.testing.assert_allclose(got, full, rtol=1e-6, atol=1e-6)
    scale = want.max()
    np.testing.assert_allclose(full, want, atol=2e-5 * scale, rtol=1e-5)


def test_sqeuclidean_clamped_at_zero_and_self_distance():
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(50, 16)) * 100).astype(np.float32)  # large norms: cancellation
    d = np.asarray(pairwise_distances(x, x))
    assert (d >= 0).all()
    assert np.abs(np.diag(d)).max() <= 1e-5 * (x**2).sum(1).max()


def test_cosine_zero_vector_and_scale_invariance():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]], np.float32)
    d = np.asarray(pairwise_distances(x, x, metric="cosine"))
    np.testing.assert_allclose(d[0], [1, 1, 1, 1], atol=1e-6)  # zero vector: distance 1
    np.testing.assert_allclose(d[1], [1, 0, 1, 2], atol=1e-6)
    d2 = np.asarray(pairwise_distances(5 * x, x, metric="cosine"))
    np.testing.assert_allclose(d2, d, atol=1e-6)


def test_float64_when_x64_enabled(x64):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(19, 4)), rng.normal(size=(11, 4))
    for metric in ("sqeuclidean", "euclidean", "cosine"):
        got = pairwise_distances(x, y, metric=metric, block_size=4)
        assert got.dtype == jnp.float64
        np.testing.assert_allclose(np.asarray(got), np_dist(x, y, metric), atol=1e-12)
    d, i = knn(x, y, 3, block_size=4)
    assert d.dtype == jnp.float64 and i.dtype == jnp.int32


@pytest.mark.parametrize(
    "dtype",
    [jnp.float16, jnp.bfloat16],
)
def test_low_precision_inputs_promote_to_float32(dtype):
    x = jnp.ones((3, 2), dtype)
    y = jnp.zeros((4, 2), jnp.float16)
    d = pairwise_distances(x, y)
    assert d.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(d), 2.0)


@pytest.mark.parametrize("block", [1, 4, 1024])
def test_knn_matches_stable_argsort_with_ties(block):
    rng = np.random.default_rng(3)
    # integer coordinates: distances are exact and ties are everywhere
    q = rng.integers(-2, 3, size=(17, 3)).astype(np.float32)
    p = rng.integers(-2, 3, size=(40, 3)).astype(np.float32)
    want_d, want_i = stable_topk(np_dist(q, p, "sqeuclidean"), 7)
    d, i = knn(q, p, 7, block_size=block)
    assert d.shape == (17, 7) and i.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(i), want_i)  # ties -> lower index
    np.testing.assert_array_equal(np.asarray(d), want_d)


def test_knn_exclude_self():
    rng = np.random.default_rng(4)
    x = rng.integers(-1, 2, size=(30, 2)).astype(np.float32)  # many duplicates
    dd = np_dist(x, x, "sqeuclidean")
    np.fill_diagonal(dd, np.inf)
    want_d, want_i = stable_topk(dd, 5)
    d, i = knn(x, x, 5, exclude_self=True, block_size=7)
    i = np.asarray(i)
    assert not (i == np.arange(30)[:, None]).any()
    np.testing.assert_array_equal(i, want_i)
    np.testing.assert_array_equal(np.asarray(d), want_d)
    # k = m - 1 is the largest allowed with exclude_self
    knn(x, x, 29, exclude_self=True)


def test_knn_other_metrics_random():
    rng = np.random.default_rng(5)
    q = rng.normal(size=(9, 5)).astype(np.float32)
    p = rng.normal(size=(60, 5)).astype(np.float32)
    for metric in ("euclidean", "cosine"):
        _, want_i = stable_topk(np_dist(q, p, metric), 4)
        _, i = knn(q, p, 4, metric=metric)
        np.testing.assert_array_equal(np.asarray(i), want_i)


def test_map_row_blocks_pads_and_drops():
    x = jnp.arange(10.0).reshape(10, 1)
    rest = jnp.arange(10)

    def fn(xb, rb):
        return {"a": xb[:, 0] * 2, "b": rb + 1}

    for block in (1, 3, 4, 10, 32):
        out = map_row_blocks(fn, x, block, rest)
        np.testing.assert_array_equal(np.asarray(out["a"]), np.arange(10.0) * 2)
        np.testing.assert_array_equal(np.asarray(out["b"]), np.arange(10) + 1)
    np.testing.assert_allclose(np.asarray(sq_norms(jnp.array([[3.0, 4.0]]))), [25.0])


def test_jit_compatible():
    rng = np.random.default_rng(6)
    x = jnp.asarray(rng.normal(size=(8, 3)), jnp.float32)
    f = jax.jit(lambda a: knn(a, a, 2, exclude_self=True)[1])
    np.testing.assert_array_equal(np.asarray(f(x)), np.asarray(knn(x, x, 2, exclude_self=True)[1]))


def _bad():
    x = np.zeros((5, 3), np.float32)
    nan = x.copy()
    nan[2, 1] = np.nan
    return [
        (lambda: pairwise_distances(nan, x), ValueError, "`x`.*non-finite"),
        (lambda: pairwise_distances(x, np.full((2, 3), np.inf, np.float32)), ValueError, "`y`"),
        (lambda: pairwise_distances(x, np.zeros((4, 2), np.float32)), ValueError, "feature"),
        (lambda: pairwise_distances(x[0], x), ValueError, "`x`.*2-D"),
        (lambda: pairwise_distances(x.astype(np.int32), x), TypeError, "`x`.*floating"),
        (lambda: pairwise_distances(x[:0], x), ValueError, "`x`.*empty"),
        (lambda: pairwise_distances(x, x, metric="l1"), ValueError, "metric"),
        (lambda: pairwise_distances(x, x, block_size=0), ValueError, "block_size"),
        (lambda: knn(x, x, 0), ValueError, "`k`"),
        (lambda: knn(x, x, 6), ValueError, "`k`"),
        (lambda: knn(x, x, 5, exclude_self=True), ValueError, "`k`"),
        (lambda: knn(x, x, 2.0), TypeError, "`k`"),
        (lambda: knn(nan, x, 1), ValueError, "`queries`"),
        (lambda: knn(x, x, 1, block_size=-3), ValueError, "block_size"),
    ]


@pytest.mark.parametrize("call,exc,match", _bad())
def test_bad_inputs(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
