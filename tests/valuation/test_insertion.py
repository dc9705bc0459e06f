"""Tests for ads_jax.valuation.insertion: exact joining values and their aggregation.

The reference for a joining value is the library's exact KNN-Shapley engine
run on the augmented labeled set (train + the query with a candidate label,
appended last) -- a full re-sort and recursion, independent of the
binary-search shortcut -- itself checked against brute-force enumeration in
tests/test_knn_shapley.py. The aggregation reference is written out in NumPy.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ads_jax.valuation import knn_shapley
from ads_jax.valuation.insertion import (
    aggregate_top_classes,
    insertion_estimate,
    joining_values,
)

C = 3


@pytest.fixture(scope="module")
def grid_case():
    """Integer coordinates on a 4x4 grid (exact float arithmetic): many
    distance ties between labeled points, and queries that copy a labeled
    point, a validation point, or sit at a labeled point's distance."""
    rng = np.random.default_rng(5)
    n, m = 12, 5
    tx = rng.integers(0, 4, (n, 2)).astype(np.float64)
    vx = rng.integers(0, 4, (m, 2)).astype(np.float64)
    ty = rng.integers(0, C, n).astype(np.int32)
    vy = rng.integers(0, C, m).astype(np.int32)
    qx = np.vstack([tx[3], vx[1], rng.integers(0, 4, (3, 2)), [9.0, -4.0]]).astype(np.float64)
    return tx, ty, vx, vy, qx


def _augmented_reference(tx, ty, vx, vy, qx, k):
    out = np.zeros((qx.shape[0], C))
    for u in range(qx.shape[0]):
        ax = np.vstack([tx, qx[u:u + 1]])
        for c in range(C):
            ay = np.append(ty, c).astype(np.int32)
            out[u, c] = float(knn_shapley(ax, ay, vx, vy, num_classes=C, k=k)[-1])
    return out


@pytest.mark.parametrize("k", [1, 3, 5, 13, 20])  # 13 = N + 1, 20 > N + 1
def test_joining_values_equal_knn_shapley_of_augmented_set(x64, grid_case, k):
    tx, ty, vx, vy, qx = grid_case
    d_lab = ((vx[:, None] - tx[None]) ** 2).sum(-1)
    d_q = ((vx[:, None] - qx[None]) ** 2).sum(-1)
    assert np.isin(d_q, d_lab).any()  # query-labeled distance ties are exercised
    want = _augmented_reference(tx, ty, vx, vy, qx, k)
    got = joining_values(tx, ty, vx, vy, qx, num_classes=C, k=k)
    assert got.shape == (qx.shape[0], C) and got.dtype == jnp.float64
    np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-14)
    assert np.ptp(want, axis=1).max() > 0  # the class matters


def test_train_mask_padding_rows_are_absent(x64, grid_case):
    tx, ty, vx, vy, qx = grid_case
    where = np.array([0, 4, 4, 12])
    pad_x = np.vstack([qx[0], [50.0, 50.0], vx[2], [1.0, 1.0]])  # incl. copies and ties
    bx = np.insert(tx, where, pad_x, axis=0)
    by = np.insert(ty, where, [0, 1, 2, 0]).astype(np.int32)
    mask = np.insert(np.ones(tx.shape[0], bool), where, False)
    for k in (3, 13):
        want = np.asarray(joining_values(tx, ty, vx, vy, qx, num_classes=C, k=k))
        got = np.asarray(joining_values(bx, by, vx, vy, qx, num_classes=C, k=k,
                                        train_mask=mask))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)
    # every labeled row padding: the query is the only player, value a_u / K
    k = 4
    got = np.asarray(joining_values(bx, by, vx, vy, qx, num_classes=C, k=k,
                                    train_mask=np.zeros(bx.shape[0], bool)))
    want = np.eye(C)[vy].mean(0) / k
    np.testing.assert_allclose(got, np.broadcast_to(want, got.shape), atol=1e-15)


def test_chunking_jit_and_float32(grid_case):
    rng = np.random.default_rng(1)
    n, m, q = 40, 7, 9
    tx = rng.normal(size=(n, 4)).astype(np.float32) + 100.0  # a shared offset
    vx = rng.normal(size=(m, 4)).astype(np.float32) + 100.0
    qx = rng.normal(size=(q, 4)).astype(np.float32) + 100.0
    ty = rng.integers(0, C, n).astype(np.int32)
    vy = rng.integers(0, C, m).astype(np.int32)
    base = np.asarray(joining_values(tx, ty, vx, vy, qx, num_classes=C, k=5))
    chunked = joining_values(tx, ty, vx, vy, qx, num_classes=C, k=5, query_chunk=4,
                             val_chunk_size=3)
    np.testing.assert_allclose(np.asarray(chunked), base, rtol=1e-6, atol=1e-7)
    f = jax.jit(lambda a, k: joining_values(a, ty, vx, vy, qx, num_classes=C, k=k))
    np.testing.assert_allclose(np.asarray(f(tx, 5)), base, rtol=1e-6, atol=1e-7)
    # float32 matches the float64 computation of the same (tie-free) problem
    with jax.enable_x64(True):
        ref = joining_values(*(a.astype(np.float64) if a.dtype == np.float32 else a
                               for a in (tx, ty, vx, vy, qx)), num_classes=C, k=5)
        ref = np.asarray(ref)
    assert ref.dtype == np.float64 and base.dtype == np.float32
    np.testing.assert_allclose(base, ref, rtol=1e-5, atol=1e-7)


# ----------------------------------------------------------------- aggregation
def _numpy_aggregate(values, probs, top_t, aggregate):
    """Independent NumPy: top-T classes by probability (stable: ties to the
    lower class index), then max / mean / probability-weighted mean (plain
    mean when the T probabilities sum to 0)."""
    t = min(top_t, values.shape[1])
    out = np.empty(values.shape[0])
    for i in range(values.shape[0]):
        cls = np.argsort(-probs[i], kind="stable")[:t]
        v, p = values[i, cls], probs[i, cls]
        if aggregate == "max":
            out[i] = v.max()
        elif aggregate == "mean":
            out[i] = v.mean()
        else:
            out[i] = (p @ v) / p.sum() if p.sum() > 0 else v.mean()
    return out


def _probs(rng, q, c):
    p = rng.dirichlet(np.ones(c), size=q)
    p[0] = 0.0  # all zero: the prob-weighted fallback
    p[1, :] = 1.0 / c  # all tied
    p[2, 1] = p[2, 2] = p[2].max() + 0.1  # a tie at the top
    return p


@pytest.mark.parametrize("aggregate", ["max", "mean", "prob_weighted"])
def test_aggregate_top_classes_matches_numpy(x64, aggregate):
    rng = np.random.default_rng(2)
    values = rng.normal(size=(20, 6))
    probs = _probs(rng, 20, 6)
    f = jax.jit(aggregate_top_classes, static_argnames=("top_t", "aggregate"))
    for top_t in (1, 2, 5, 6, 10):
        got = f(jnp.asarray(values), jnp.asarray(probs), top_t=top_t, aggregate=aggregate)
        np.testing.assert_allclose(np.asarray(got), _numpy_aggregate(values, probs, top_t,
                                                                     aggregate), atol=1e-14)


def test_insertion_estimate_end_to_end(x64, grid_case):
    tx, ty, vx, vy, qx = grid_case
    probs = _probs(np.random.default_rng(4), qx.shape[0], C)
    vals = np.asarray(joining_values(tx, ty, vx, vy, qx, num_classes=C, k=3))
    for top_t, aggregate in ((2, "prob_weighted"), (3, "max")):
        got = insertion_estimate(tx, ty, vx, vy, qx, probs, num_classes=C, k=3, top_t=top_t,
                                 aggregate=aggregate)
        np.testing.assert_allclose(np.asarray(got),
                                   _numpy_aggregate(vals, probs, top_t, aggregate), atol=1e-14)


def test_bad_inputs(grid_case):
    tx, ty, vx, vy, qx = grid_case
    kw = {"num_classes": C, "k": 3}
    with pytest.raises(ValueError, match="query_x"):
        joining_values(tx, ty, vx, vy, qx[:, :1], **kw)
    with pytest.raises(ValueError, match="query_x"):
        joining_values(tx, ty, vx, vy, np.full_like(qx, np.nan), **kw)
    with pytest.raises(ValueError, match="k"):
        joining_values(tx, ty, vx, vy, qx, num_classes=C, k=0)
    probs = np.full((qx.shape[0], C), 1.0 / C)
    with pytest.raises(ValueError, match="query_probs"):
        insertion_estimate(tx, ty, vx, vy, qx, probs[:, :2], **kw)
    with pytest.raises(ValueError, match="non-negative"):
        insertion_estimate(tx, ty, vx, vy, qx, probs - 1.0, aggregate="prob_weighted", **kw)
    with pytest.raises(ValueError, match="aggregate"):
        insertion_estimate(tx, ty, vx, vy, qx, probs, aggregate="median", **kw)



def test_the_class_enters_only_through_B(x64, grid_case):
    """The documented structure behind the estimator's default aggregate (``max``, not
    ``mean``): joining value = A_u + B_u[c] with B_u[c] = mean_v 1[y_v = c] / max(K, r_v)
    (r_v the query's rank among the labeled points, ties: query last), so the mean over
    all C classes is the value under a uniformly random label."""
    tx, ty, vx, vy, qx = grid_case
    for k in (1, 3, 13):
        vals = np.asarray(joining_values(tx, ty, vx, vy, qx, num_classes=C, k=k))
        d_q = ((vx[:, None] - qx[None]) ** 2).sum(-1)  # (M, Q)
        d_lab = ((vx[:, None] - tx[None]) ** 2).sum(-1)  # (M, N)
        r = 1 + (d_lab[:, None, :] <= d_q[:, :, None]).sum(-1)  # (M, Q)
        b = (np.eye(C)[vy][:, None, :] / np.maximum(k, r)[..., None]).mean(0)  # (Q, C)
        np.testing.assert_allclose(vals - vals[:, :1], b - b[:, :1], atol=1e-14)
