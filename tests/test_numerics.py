"""Numerics under extreme inputs: scale and translation invariance.

Greedy k-center, K-Medians, BADGE, KNN-Shapley and the value regression are
(mathematically) invariant under scaling of the embeddings, and all but BADGE
under a shared translation. The matmul-form distances used everywhere
overflow / underflow in float32 at 1e+-20 and cancel under a large offset
unless the points are first moved into a shared centered, power-of-two
scaled frame (ads_jax.distances.Frame). These tests pin that down.

Data:
* scale tests use Gaussian data (no ties, so the reference ranking at scale 1
  is unambiguous; scaling by 1e20 rounds every input by ~6e-8 relative);
* translation tests use a grid exactly representable after the offset
  (multiples of 2**-8 in [-4, 4]: ``e + 1e4`` is exact in float32), so they
  test the arithmetic, not the quantisation of the inputs.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.neighbors import KNeighborsRegressor

from ads_jax.distances import fit_frame, knn, mul_pow2, pairwise_distances, to_frame
from ads_jax.selection import kmedians_cluster, select_badge, select_coreset, select_kmedians
from ads_jax.valuation.knn_shapley import knn_shapley
from ads_jax.valuation.regression import predict_values as _predict_values

# Written for the paper's regression (max, uniform); the library default is mean/distance.
predict_values = functools.partial(_predict_values, aggregate="max", weights="uniform")

SCALES = (1e-20, 1e20)
OFFSETS = (1e3, 1e4)


def gaussian(seed, n, d=6):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def grid(seed, n, d=6):
    """Coordinates on multiples of 2**-8 in [-4, 4] (exact after +1e4 in float32)."""
    g = np.random.default_rng(seed).integers(-1024, 1025, size=(n, d))
    return (g / 256.0).astype(np.float32)


def probs(seed, n, c=4):
    logits = 2.0 * np.random.default_rng(seed).normal(size=(n, c))
    p = np.exp(logits - logits.max(1, keepdims=True))
    return (p / p.sum(1, keepdims=True)).astype(np.float32)


def scaled(x, s):
    return (x * np.float32(s)).astype(np.float32)


def shifted(x, o):
    y = (x + np.float32(o)).astype(np.float32)
    np.testing.assert_array_equal(y.astype(np.float64) - o, x)  # exact: see module doc
    return y


def labeled_mask(n, n_lab, seed=0):
    lab = np.zeros(n, bool)
    lab[np.random.default_rng(seed).choice(n, n_lab, replace=False)] = True
    return lab


# --------------------------------------------------------------------- frame
def test_frame_is_exact_power_of_two_and_midpoint():
    x = np.array([[1.0, -3.0], [5.0, 1.0]], np.float32)
    fr = fit_frame(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(fr.center), [3.0, -1.0])
    assert int(fr.exp) == 2  # max |x - c| = 2 < 2**2
    np.testing.assert_array_equal(np.asarray(to_frame(jnp.asarray(x), fr)),
                                  [[-0.5, -0.5], [0.5, 0.5]])
    # `where` excludes points (e.g. padding) from the frame; empty sets are fine.
    w = fit_frame(jnp.asarray(x), where=(jnp.array([True, False]),))
    np.testing.assert_array_equal(np.asarray(w.center), x[0])
    e = fit_frame(jnp.zeros((0, 2), jnp.float32))
    assert np.isfinite(np.asarray(e.center)).all() and int(e.exp) == 0
    # power-of-two products without intermediate over/underflow (FTZ-safe)
    np.testing.assert_array_equal(np.asarray(mul_pow2(jnp.float32(3.0), 200)), np.inf)
    assert float(mul_pow2(jnp.float32(1e-30), 200)) == pytest.approx(1e-30 * 2.0**200, rel=1e-7)
    assert float(mul_pow2(jnp.float32(1e30), -200)) == pytest.approx(1e30 * 2.0**-200, rel=1e-7)


# ------------------------------------------------------- distances and knn
def np_sqdist(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


@pytest.mark.parametrize("s", (1e-20, 1e20, 1e30))
def test_knn_indices_right_at_extreme_scales(s):
    q, p = scaled(gaussian(0, 20), s), scaled(gaussian(1, 50), s)
    want = np.argsort(np_sqdist(q, p), axis=1, kind="stable")[:, :5]
    for metric in ("sqeuclidean", "euclidean", "cosine"):
        _, i = knn(q, p, 5, metric=metric)
        if metric == "cosine":
            _, w = knn(gaussian(0, 20), gaussian(1, 50), 5, metric=metric)
            np.testing.assert_array_equal(np.asarray(i), np.asarray(w))
        else:
            np.testing.assert_array_equal(np.asarray(i), want)
    # exclude_self and under a user's jit, too
    _, i = jax.jit(lambda a: knn(a, a, 3, exclude_self=True))(p)
    d = np_sqdist(p, p)
    np.fill_diagonal(d, np.inf)
    np.testing.assert_array_equal(np.asarray(i), np.argsort(d, axis=1, kind="stable")[:, :3])


@pytest.mark.parametrize("s", (1e-20, 1e20, 1e30))
def test_euclidean_and_cosine_distances_at_extreme_scales(s):
    x, y = gaussian(2, 15), gaussian(3, 25)
    ref = np.sqrt(np_sqdist(x, y))
    got = np.asarray(pairwise_distances(scaled(x, s), scaled(y, s), metric="euclidean"))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got / s, ref, rtol=2e-6)
    cos = np.asarray(pairwise_distances(scaled(x, s), scaled(y, s), metric="cosine"))
    np.testing.assert_allclose(cos, np.asarray(pairwise_distances(x, y, metric="cosine")),
                               atol=1e-6)


def test_cosine_rows_of_wildly_different_magnitude():
    x = gaussian(4, 6)
    mixed = x * np.array([1e-30, 1e-20, 1.0, 1e10, 1e20, 1e30], np.float32)[:, None]
    np.testing.assert_allclose(np.asarray(pairwise_distances(mixed, x, metric="cosine")),
                               np.asarray(pairwise_distances(x, x, metric="cosine")), atol=1e-6)


def test_sqeuclidean_overflow_and_underflow_are_documented_inf_and_zero():
    """Distances are returned in the caller's units: +inf exactly where the
    true squared distance exceeds float32's range, 0 where it is below the
    smallest normal number; the ranking (knn indices) is right either way."""
    p = np.array([[3e19], [0.0], [1e18]], np.float32)  # true d^2 to 0: 9e38, 0, 1e36
    d = np.asarray(pairwise_distances(np.zeros((1, 1), np.float32), p))
    assert d[0, 0] == np.inf and d[0, 1] == 0.0
    assert d[0, 2] == pytest.approx(1e36, rel=1e-4)  # matmul form: ~eps (|x|^2 + |y|^2)
    dk, ik = knn(np.zeros((1, 1), np.float32), p, 3)
    np.testing.assert_array_equal(np.asarray(ik), [[1, 2, 0]])
    np.testing.assert_array_equal(np.asarray(dk)[0, [0, 2]], [0.0, np.inf])
    # Representable squared distances of huge points are not lost (|x|^2 would
    # overflow: 1e40 per coordinate).
    x = (np.float32(1e20) + scaled(gaussian(5, 10), 1e15)).astype(np.float32)
    got = np.asarray(pairwise_distances(x, x[:4]))
    np.testing.assert_allclose(got, np_sqdist(x, x[:4]), rtol=1e-5,
                               atol=1e-6 * np_sqdist(x, x).max())
    # Tiny points: squared distances ~1e-40 underflow float32 (returned as 0,
    # documented), Euclidean ones are right and so is the ranking.
    t = scaled(gaussian(6, 10), 1e-20)
    assert np.asarray(pairwise_distances(t, t)).max() == 0.0
    got = np.asarray(pairwise_distances(t, t, metric="euclidean"))
    off = ~np.eye(10, dtype=bool)
    np.testing.assert_allclose(got[off], np.sqrt(np_sqdist(t, t))[off], rtol=2e-6)
    # self-distances: matmul-form noise ~sqrt(eps) |x|, in the caller's units
    assert np.abs(np.diag(got)).max() <= 1e-3 * np.abs(t).max()


@pytest.mark.parametrize("o", OFFSETS)
def test_pairwise_distances_translation_invariant(o):
    x, y = grid(7, 30), grid(8, 20)
    ref = np.asarray(pairwise_distances(x, y))
    np.testing.assert_allclose(ref, np_sqdist(x, y), rtol=1e-6, atol=1e-5)
    got = np.asarray(pairwise_distances(shifted(x, o), shifted(y, o)))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * ref.max())
    _, i = knn(shifted(x, o), shifted(y, o), 4)
    np.testing.assert_array_equal(np.asarray(i), np.asarray(knn(x, y, 4)[1]))


# ------------------------------------------------------------------ k-center
@pytest.mark.parametrize("method", ("lazy", "matvec"))
@pytest.mark.parametrize("s", (1e-20, 1e20, 1e30))
def test_kcenter_scale_invariant(method, s):
    x, lab = gaussian(10, 300), labeled_mask(300, 5)
    key = jax.random.key(0)
    for labeled in (lab, None):  # warm and cold start
        ref = np.asarray(select_coreset(key, {"embeddings": x}, 40, labeled=labeled,
                                        method=method, block_size=16))
        got = np.asarray(select_coreset(key, {"embeddings": scaled(x, s)}, 40, labeled=labeled,
                                        method=method, block_size=16))
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("method", ("lazy", "matvec"))
@pytest.mark.parametrize("o", OFFSETS)
def test_kcenter_translation_invariant(method, o):
    x, lab = grid(11, 300), labeled_mask(300, 5)
    ref = np.asarray(select_coreset(None, {"embeddings": x}, 40, labeled=lab, method=method,
                                    block_size=16))
    got = np.asarray(select_coreset(None, {"embeddings": shifted(x, o)}, 40, labeled=lab,
                                    method=method, block_size=16))
    np.testing.assert_array_equal(got, ref)


def test_kcenter_sharded_equals_single_device_at_extreme_inputs():
    assert jax.device_count() >= 8
    mesh = jax.make_mesh((8,), ("data",))
    lab = labeled_mask(300, 5)
    for x in (scaled(gaussian(12, 300), 1e20), shifted(grid(13, 300), 1e4)):
        for method in ("lazy", "matvec"):
            one = select_coreset(None, {"embeddings": x}, 30, labeled=lab, method=method)
            many = select_coreset(None, {"embeddings": x}, 30, labeled=lab, method=method,
                                  mesh=mesh)
            np.testing.assert_array_equal(np.asarray(many), np.asarray(one))


def test_selectors_ignore_far_masked_out_points():
    """A masked-out point far outside the candidates' frame (framed, it would
    overflow) takes no part: same picks as with a harmless value there."""
    x, p = scaled(gaussian(19, 200), 1e-30), probs(19, 200)
    mask = np.ones(200, bool)
    mask[7] = False
    far = x.copy()
    far[7] = 3e38
    key = jax.random.key(5)
    for sel in (lambda e: select_coreset(None, {"embeddings": e}, 20, labeled=labeled_mask(200, 3),
                                         mask=mask),
                lambda e: select_kmedians(key, {"embeddings": e}, 10, mask=mask),
                lambda e: select_badge(key, {"embeddings": e, "probs": p}, 20, mask=mask)):
        np.testing.assert_array_equal(np.asarray(sel(far)), np.asarray(sel(x)))


# ----------------------------------------------------------------- K-Medians
@pytest.mark.parametrize("s", SCALES)
def test_kmedians_scale_invariant(s):
    x, lab = gaussian(14, 300), labeled_mask(300, 10)
    key = jax.random.key(1)
    ref = kmedians_cluster(key, x, 10, iterations=5, tol=0.0)
    got = kmedians_cluster(key, scaled(x, s), 10, iterations=5, tol=0.0)
    np.testing.assert_array_equal(np.asarray(got.picks), np.asarray(ref.picks))
    np.testing.assert_allclose(np.asarray(got.objective) / s, np.asarray(ref.objective),
                               rtol=1e-5)
    np.testing.assert_allclose(np.asarray(got.medians) / s, np.asarray(ref.medians), atol=1e-3)
    ref = select_kmedians(key, {"embeddings": x}, 12, labeled=lab)
    got = select_kmedians(key, {"embeddings": scaled(x, s)}, 12, labeled=lab)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))


@pytest.mark.parametrize("o", OFFSETS)
def test_kmedians_translation_invariant(o):
    x, lab = grid(15, 300), labeled_mask(300, 10)
    key = jax.random.key(2)
    ref = kmedians_cluster(key, x, 10, iterations=5, tol=0.0)
    got = kmedians_cluster(key, shifted(x, o), 10, iterations=5, tol=0.0)
    np.testing.assert_array_equal(np.asarray(got.picks), np.asarray(ref.picks))
    np.testing.assert_allclose(np.asarray(got.objective), np.asarray(ref.objective), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(got.medians) - o, np.asarray(ref.medians), atol=2e-3)
    ref = select_kmedians(key, {"embeddings": x}, 12, labeled=lab)
    got = select_kmedians(key, {"embeddings": shifted(x, o)}, 12, labeled=lab)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))


def test_kmedians_medians_sitting_on_points_serve_in_median_order():
    """With 0 iterations every median is a pool point at distance exactly 0 to
    its nearest candidate: the documented tie rule (lower median index) must
    decide the serving order, not matmul-form rounding noise."""
    x = shifted(grid(16, 200), 1e3)
    res = kmedians_cluster(jax.random.key(3), x, 8, iterations=0)
    picks = np.asarray(res.picks)
    np.testing.assert_array_equal(x[picks], np.asarray(res.medians))  # median order


# ---------------------------------------------------------------------- BADGE
@pytest.mark.parametrize("s", SCALES)
def test_badge_scale_invariant(s):
    """BADGE is scale- (not translation-) invariant in the features."""
    x, p, lab = gaussian(17, 300), probs(18, 300), labeled_mask(300, 6)
    key = jax.random.key(4)
    for labeled in (lab, None):
        ref = select_badge(key, {"embeddings": x, "probs": p}, 30, labeled=labeled)
        got = select_badge(key, {"embeddings": scaled(x, s), "probs": p}, 30, labeled=labeled)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))


# ---------------------------------------------------------------- KNN-Shapley
def shapley_data(make, seed, n=120, m=40, c=3):
    rng = np.random.default_rng(seed + 100)
    return make(seed, n), rng.integers(0, c, n), make(seed + 1, m), rng.integers(0, c, m)


def tau_between_distances(tx, vx):
    """A radius in the middle of the largest gap of the sorted squared distances
    near their median (so no distance sits within rounding of it)."""
    d = np.sort(np_sqdist(vx, tx).ravel())
    mid = len(d) // 2
    w = d[mid - 200: mid + 200]
    j = int(np.argmax(np.diff(w)))
    return float((w[j] + w[j + 1]) / 2)


@pytest.mark.parametrize("variant", ("jia", "soft", "threshold"))
@pytest.mark.parametrize("s", (1e-20, 1e20, 1e30))
def test_knn_shapley_scale_invariant(variant, s):
    tx, ty, vx, vy = shapley_data(gaussian, 20)
    kw = dict(num_classes=3, k=5, variant=variant)
    tau = tau_between_distances(tx, vx) if variant == "threshold" else None
    ref = np.asarray(knn_shapley(tx, ty, vx, vy, tau=tau, **kw))
    tau_s = None if tau is None else tau * s * s  # 1e40, 1e60: beyond float32
    got = np.asarray(knn_shapley(scaled(tx, s), ty, scaled(vx, s), vy, tau=tau_s, **kw))
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)
    if variant == "threshold":  # the euclidean radius scales with s
        ref = np.asarray(knn_shapley(tx, ty, vx, vy, tau=tau**0.5, metric="euclidean", **kw))
        got = np.asarray(knn_shapley(scaled(tx, s), ty, scaled(vx, s), vy, tau=tau**0.5 * s,
                                     metric="euclidean", **kw))
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("variant", ("jia", "soft", "threshold"))
@pytest.mark.parametrize("o", OFFSETS)
def test_knn_shapley_translation_invariant(variant, o):
    tx, ty, vx, vy = shapley_data(grid, 21)
    kw = dict(num_classes=3, k=5, variant=variant, tau=6.0 if variant == "threshold" else None)
    ref = np.asarray(knn_shapley(tx, ty, vx, vy, **kw))
    got = np.asarray(knn_shapley(shifted(tx, o), ty, shifted(vx, o), vy, **kw))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def test_knn_shapley_sharded_equals_single_device_at_extreme_inputs():
    assert jax.device_count() >= 8
    mesh = jax.make_mesh((2, 4), ("val", "train"))
    for make, t in ((lambda x: scaled(x, 1e20), 1e40), (lambda x: shifted(x, 1e4), 1.0)):
        tx, ty, vx, vy = shapley_data(grid, 22, n=101, m=19)
        tx, vx = make(tx), make(vx)
        for variant, tau in (("jia", None), ("threshold", 4.0 * t)):
            kw = dict(num_classes=3, k=5, variant=variant, tau=tau)
            one = np.asarray(knn_shapley(tx, ty, vx, vy, **kw))
            many = np.asarray(knn_shapley(tx, ty, vx, vy, mesh=mesh, val_chunk_size=2, **kw))
            np.testing.assert_allclose(many, one, atol=1e-7)


# ------------------------------------------------------------- regression
def regression_data(make, seed, L=160, Q=60, C=4):
    rng = np.random.default_rng(seed + 200)
    ty = rng.integers(0, C, L)
    tv = rng.normal(size=L).astype(np.float32)
    return make(seed, L), ty, tv, make(seed + 1, Q), probs(seed + 2, Q, C)


REG_CASES = [(m, w) for m in ("network", "masked", "grouped") for w in ("uniform", "distance")]


@pytest.mark.parametrize("method,weights", REG_CASES)
@pytest.mark.parametrize("s", SCALES)
def test_regression_scale_invariant(method, weights, s):
    te, ty, tv, qe, qp = regression_data(gaussian, 30)
    kw = dict(num_classes=4, k=5, top_t=2, weights=weights, method=method)
    ref = np.asarray(predict_values(te, ty, tv, qe, qp, **kw))
    got = np.asarray(predict_values(scaled(te, s), ty, tv, scaled(qe, s), qp, **kw))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    kw["metric"] = "cosine"
    ref = np.asarray(predict_values(te, ty, tv, qe, qp, **kw))
    got = np.asarray(predict_values(scaled(te, s), ty, tv, scaled(qe, s), qp, **kw))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("method,weights", REG_CASES)
@pytest.mark.parametrize("o", OFFSETS)
def test_regression_translation_invariant(method, weights, o):
    te, ty, tv, qe, qp = regression_data(grid, 31)
    qe[:3] = te[:3]  # copies of labeled points: distance exactly 0
    kw = dict(num_classes=4, k=5, top_t=2, weights=weights, method=method)
    ref = np.asarray(predict_values(te, ty, tv, qe, qp, **kw))
    got = np.asarray(predict_values(shifted(te, o), ty, tv, shifted(qe, o), qp, **kw))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def sklearn_predictions(te, ty, tv, qe, qp, k, weights):
    """Per-class KNeighborsRegressor (float64) of each query's most probable class."""
    cls = qp.argmax(1)
    out = np.zeros(len(qe))
    for c in np.unique(cls):
        m = ty == c
        reg = KNeighborsRegressor(n_neighbors=k, weights=weights)
        reg.fit(te[m].astype(np.float64), tv[m].astype(np.float64))
        out[cls == c] = reg.predict(qe[cls == c].astype(np.float64))
        # No tie at the k-th neighbour (else the reference's choice is arbitrary).
        d = np.sort(np_sqdist(qe[cls == c], te[m]), axis=1)
        assert (d[:, k] > d[:, k - 1]).all()
    return out


@pytest.mark.parametrize("method,weights", REG_CASES)
def test_regression_matches_sklearn_at_offset(method, weights):
    te, ty, tv, qe, qp = regression_data(grid, 32)
    te, qe = shifted(te, 1e3), shifted(qe, 1e3)
    want = sklearn_predictions(te, ty, tv, qe, qp, 5, weights)
    got = np.asarray(predict_values(te, ty, tv, qe, qp, num_classes=4, k=5, top_t=1,
                                    weights=weights, method=method))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
