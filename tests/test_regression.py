"""Tests for the per-class KNN value regressor (ads_jax.valuation.regression)."""


import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.neighbors import KNeighborsRegressor

from ads_jax.valuation.regression import choose_method, class_table
from ads_jax.valuation.regression import predict_values as _predict_values

# These cases were written for the paper's regression (max over classes, uniform
# weights); the library default is the default estimator's (mean, distance).
predict_values = functools.partial(_predict_values, aggregate="max", weights="uniform")


# ----------------------------------------------------------------- reference
def reference(train_emb, train_y, train_values, query_emb, query_probs, *, num_classes,
              k, top_t, aggregate, weights):
    """Independent reference: one scikit-learn KNeighborsRegressor per class
    (Euclidean), aggregation written out in NumPy."""
    regs = {}
    for c in range(num_classes):
        m = train_y == c
        if m.any():
            regs[c] = KNeighborsRegressor(
                n_neighbors=min(k, int(m.sum())), weights=weights, algorithm="brute"
            ).fit(train_emb[m], train_values[m])
    t = min(top_t, num_classes)
    out = np.empty(len(query_emb))
    for i, (q, p) in enumerate(zip(query_emb, query_probs)):
        classes = np.argsort(-p, kind="stable")[:t]
        vals, ps = [], []
        for c in classes:
            if c in regs:
                vals.append(regs[c].predict(q[None])[0])
                ps.append(p[c])
        if not vals:
            out[i] = train_values.min()
        elif aggregate == "max":
            out[i] = max(vals)
        elif aggregate == "mean":
            out[i] = np.mean(vals)
        else:
            ps = np.asarray(ps)
            out[i] = np.dot(ps, vals) / ps.sum() if ps.sum() > 0 else np.mean(vals)
    return out


def tie_reference(train_emb, train_y, train_values, query_emb, query_probs, *, num_classes,
                  k, top_t, aggregate, weights):
    """Independent NumPy reference with explicit tie-breaking: float64 distances,
    per class a *stable* argsort (equal distances -> lower labeled index)."""
    d2 = ((query_emb[:, None, :].astype(np.float64) - train_emb[None].astype(np.float64)) ** 2
          ).sum(-1)
    t = min(top_t, num_classes)
    out = np.empty(len(query_emb))
    for i in range(len(query_emb)):
        classes = np.argsort(-query_probs[i], kind="stable")[:t]
        vals, ps = [], []
        for c in classes:
            members = np.flatnonzero(train_y == c)
            if members.size == 0:
                continue
            nb = members[np.argsort(d2[i, members], kind="stable")[:k]]
            dist = np.sqrt(d2[i, nb])
            if weights == "uniform":
                w = np.ones(nb.size)
            elif (dist == 0).any():
                w = (dist == 0).astype(float)
            else:
                w = 1.0 / dist
            vals.append(np.dot(w, train_values[nb]) / w.sum())
            ps.append(query_probs[i, c])
        if not vals:
            out[i] = train_values.min()
        elif aggregate == "max":
            out[i] = max(vals)
        elif aggregate == "mean":
            out[i] = np.mean(vals)
        else:
            out[i] = np.dot(ps, vals) / np.sum(ps) if np.sum(ps) > 0 else np.mean(vals)
    return out


def make_data(rng, L=60, Q=45, d=6, C=5, empty=()):
    train_emb = rng.normal(size=(L, d))
    train_y = rng.integers(0, C, size=L)
    for c in empty:  # move the points of "empty" classes elsewhere
        train_y[train_y == c] = [cc for cc in range(C) if cc not in empty][0]
    train_values = rng.normal(size=L)
    query_emb = rng.normal(size=(Q, d))
    query_probs = rng.dirichlet(np.ones(C), size=Q)
    return train_emb, train_y.astype(np.int32), train_values, query_emb, query_probs


# -------------------------------------------------------------------- tests
def test_k1_returns_nearest_neighbour_value_exactly(rng):
    tr_x, tr_y, tr_v, q_x, q_p = (a.astype(np.float32) if a.dtype.kind == "f" else a
                                  for a in make_data(rng, C=4))
    # top_t=1: the value of the nearest labeled point of the most probable class.
    got = np.asarray(predict_values(tr_x, tr_y, tr_v, q_x, q_p, num_classes=4, k=1, top_t=1))
    top = q_p.argmax(1)
    d = ((q_x[:, None, :].astype(np.float64) - tr_x[None].astype(np.float64)) ** 2).sum(-1)
    d[tr_y[None, :] != top[:, None]] = np.inf
    np.testing.assert_array_equal(got, tr_v[d.argmin(1)])
    # A query sitting on a labeled point gets exactly that point's value.
    got = np.asarray(predict_values(tr_x, tr_y, tr_v, tr_x,
                                    np.eye(4, dtype=np.float32)[tr_y], num_classes=4, k=1, top_t=1))
    np.testing.assert_array_equal(got, tr_v)


def test_aggregations_hand_made():
    # 1-D embeddings. class 0: x=0 (v=1), x=10 (v=3); class 1: x=1 (v=5), x=2 (v=-1);
    # class 2: no labeled point (skipped).
    tr_x = np.array([[0.0], [10.0], [1.0], [2.0]], np.float32)
    tr_y = np.array([0, 0, 1, 1], np.int32)
    tr_v = np.array([1.0, 3.0, 5.0, -1.0], np.float32)
    q_x = np.array([[0.4]], np.float32)
    q_p = np.array([[0.5, 0.3, 0.2]], np.float32)
    kw = dict(num_classes=3, k=1, top_t=3)
    assert float(predict_values(tr_x, tr_y, tr_v, q_x, q_p, aggregate="max", **kw)[0]) == 5.0
    assert float(predict_values(tr_x, tr_y, tr_v, q_x, q_p, aggregate="mean", **kw)[0]) == 3.0
    pw = float(predict_values(tr_x, tr_y, tr_v, q_x, q_p, aggregate="prob_weighted", **kw)[0])
    assert pw == pytest.approx((0.5 * 1 + 0.3 * 5) / 0.8, rel=1e-6)
    # k=2 uniform: class 0 -> (1+3)/2 = 2, class 1 -> (5-1)/2 = 2.
    assert float(predict_values(tr_x, tr_y, tr_v, q_x, q_p, k=2, num_classes=3, top_t=3,
                                aggregate="max")[0]) == 2.0
    # k=2 distance weights (Euclidean): class 0: d=0.4, 9.6; class 1: d=0.6, 1.6.
    c0 = (1 / 0.4 * 1 + 1 / 9.6 * 3) / (1 / 0.4 + 1 / 9.6)
    c1 = (1 / 0.6 * 5 + 1 / 1.6 * -1) / (1 / 0.6 + 1 / 1.6)
    got = float(predict_values(tr_x, tr_y, tr_v, q_x, q_p, k=2, num_classes=3, top_t=3,
                               aggregate="mean", weights="distance")[0])
    assert got == pytest.approx((c0 + c1) / 2, rel=1e-5)
    # top_t=1 picks class 0 only; top_t=2 classes 0 and 1.
    assert float(predict_values(tr_x, tr_y, tr_v, q_x, q_p, num_classes=3, k=1, top_t=1)[0]) == 1.0
    # prob_weighted when the used classes have probability 0: plain mean.
    q_p3 = np.array([[0.0, 0.0, 1.0]], np.float32)
    assert float(predict_values(tr_x, tr_y, tr_v, q_x, q_p3, aggregate="prob_weighted",
                                **kw)[0]) == 3.0
    # Only the empty class among the top-1 -> minimum of the labeled values.
    q_p2 = np.array([[0.1, 0.2, 0.7]], np.float32)
    for agg in ("max", "mean", "prob_weighted"):
        got = predict_values(tr_x, tr_y, tr_v, q_x, q_p2, num_classes=3, k=1, top_t=1,
                             aggregate=agg)
        assert float(got[0]) == -1.0


# Every method x both weightings, all aggregates, T < C and T >= C.
@pytest.mark.parametrize("aggregate,weights,top_t,method", [
    ("max", "uniform", 10, "network"), ("prob_weighted", "distance", 2, "network"),
    ("mean", "uniform", 2, "masked"), ("max", "distance", 10, "masked"),
    ("prob_weighted", "uniform", 10, "grouped"), ("mean", "distance", 2, "grouped"),
])
def test_matches_sklearn_reference(x64, rng, aggregate, weights, top_t, method):
    data = make_data(rng, C=5, empty=(3,))  # class 3 has no labeled point
    kw = dict(num_classes=5, k=4, top_t=top_t, aggregate=aggregate, weights=weights)
    got = np.asarray(predict_values(*data, method=method, **kw))
    want = reference(*data, **kw)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_distance_weights_zero_distance_and_small_classes(x64, rng):
    tr_x, tr_y, tr_v, _, _ = make_data(rng, L=30, C=3)
    tr_y[:] = 0
    tr_y[:2] = 1  # class 1 has 2 points (< k), class 2 none
    q_x = np.concatenate([tr_x[:5], rng.normal(size=(5, tr_x.shape[1]))])  # 5 exact hits
    q_p = rng.dirichlet(np.ones(3), size=10)
    for agg in ("max", "mean", "prob_weighted"):
        kw = dict(num_classes=3, k=6, top_t=3, aggregate=agg, weights="distance")
        got = np.asarray(predict_values(tr_x, tr_y, tr_v, q_x, q_p, **kw))
        np.testing.assert_allclose(got, reference(tr_x, tr_y, tr_v, q_x, q_p, **kw), rtol=1e-10)
        assert np.isfinite(got).all()


def test_distance_weights_near_duplicates_float32(rng):
    # Queries within 1e-4 of a labeled point (norms ~ 30): the matmul form
    # |q|^2 + |x|^2 - 2 q.x loses every digit of such a distance in float32,
    # so those queries' weights must come from exactly recomputed distances
    # (others in the same chunk keep the fast path). Reference: float64.
    L, d, C = 60, 8, 3
    tr_x = (rng.normal(size=(L, d)) * 10).astype(np.float32)
    tr_y = rng.integers(0, C, size=L).astype(np.int32)
    tr_v = rng.normal(size=L).astype(np.float32)
    near = tr_x[:6] + (rng.normal(size=(6, d)) * 1e-4).astype(np.float32)
    q_x = np.concatenate([near, tr_x[6:8], (rng.normal(size=(6, d)) * 10)]).astype(np.float32)
    q_p = rng.dirichlet(np.ones(C), size=len(q_x)).astype(np.float32)
    for agg, top_t in (("mean", 3), ("max", 2)):
        kw = dict(num_classes=C, k=4, top_t=top_t, aggregate=agg, weights="distance")
        got = np.asarray(predict_values(tr_x, tr_y, tr_v, q_x, q_p, method="network", **kw))
        want = tie_reference(tr_x, tr_y, tr_v, q_x, q_p, **kw)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_empty_classes_never_nan(rng):
    tr_x, tr_y, tr_v, q_x, q_p = make_data(rng, C=6, empty=(1, 2, 3, 4, 5))
    tr_x, tr_v, q_x, q_p = (a.astype(np.float32) for a in (tr_x, tr_v, q_x, q_p))
    q_p[:, 0] = 0.0  # the only populated class is never among the top-3
    for agg, w in (("max", "uniform"), ("mean", "distance"), ("prob_weighted", "uniform")):
        got = np.asarray(predict_values(tr_x, tr_y, tr_v, q_x, q_p, num_classes=6, k=3,
                                        top_t=3, aggregate=agg, weights=w))
        np.testing.assert_array_equal(got, np.full(len(q_x), tr_v.min()))
    # All classes considered (C <= top_t): the populated class always contributes.
    got = np.asarray(predict_values(tr_x, tr_y, tr_v, q_x, q_p, num_classes=6, k=3,
                                    aggregate="prob_weighted"))
    assert np.isfinite(got).all() and not np.all(got == tr_v.min())
    # k larger than the whole labeled set.
    got = np.asarray(predict_values(tr_x[:3], tr_y[:3], tr_v[:3], q_x, q_p, num_classes=6,
                                    k=50, aggregate="mean"))
    np.testing.assert_allclose(got, np.full(len(q_x), tr_v[:3].mean()), rtol=1e-6)


def test_ties_break_to_lower_index_all_methods():
    # Points on a small integer grid: distances are exact small integers in
    # float32, so many neighbours tie exactly and the tie-break decides which
    # values enter each prediction (values are distinct). Classes are
    # unbalanced, one has fewer than k points and one none; queries include
    # copies of labeled points (zero distances).
    rng = np.random.default_rng(3)
    L, Q, d, C, k = 70, 40, 2, 5, 4
    tr_x = rng.integers(0, 3, size=(L, d)).astype(np.float32)
    tr_y = rng.choice([0, 0, 0, 1, 2, 4], size=L).astype(np.int32)
    tr_y[:2] = 4
    tr_y[2:] = np.where(tr_y[2:] == 4, 0, tr_y[2:])  # class 4: 2 points (< k), class 3: none
    tr_v = rng.permutation(L).astype(np.float32)
    q_x = np.concatenate([rng.integers(0, 3, size=(Q - 5, d)), tr_x[:5]]).astype(np.float32)
    q_p = rng.dirichlet(np.ones(C), size=Q).astype(np.float32)
    for weights, top_t, agg, methods in (("uniform", 3, "mean", ("network", "masked", "grouped")),
                                         ("distance", 5, "prob_weighted", ("network",))):
        kw = dict(num_classes=C, k=k, top_t=top_t, aggregate=agg, weights=weights)
        want = tie_reference(tr_x, tr_y, tr_v, q_x, q_p, **kw)
        for method in methods:
            got = np.asarray(predict_values(tr_x, tr_y, tr_v, q_x, q_p, method=method,
                                            chunk_size=16, **kw))
            np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=f"{method} {weights}")


def test_methods_agree_and_class_table(rng):
    tr_x, tr_y, tr_v, q_x, q_p = [a.astype(np.float32) if a.dtype.kind == "f" else a
                                  for a in make_data(rng, L=90, Q=77, C=6, empty=(2,))]
    tr_y[:40] = 0  # unbalanced: class 0 is the largest
    lc = int(np.bincount(tr_y).max())
    table = np.asarray(class_table(jnp.asarray(tr_y), 6, lc + 3))
    assert table.shape == (6, lc + 3)
    for c in range(6):
        members = np.flatnonzero(tr_y == c)
        np.testing.assert_array_equal(table[c, :members.size], members)
        assert (table[c, members.size:] == 90).all()
    for metric, top_t, w, others in (
        ("euclidean", 4, "uniform", (("network", 90),)),  # a loose bound: more padding
        ("cosine", 1, "distance", (("grouped", None), ("network", None))),
    ):
        kw = dict(num_classes=6, k=7, top_t=top_t, metric=metric, aggregate="mean", weights=w)
        a = np.asarray(predict_values(tr_x, tr_y, tr_v, q_x, q_p, method="masked", **kw))
        for method, bound in others:
            b = np.asarray(predict_values(tr_x, tr_y, tr_v, q_x, q_p, method=method,
                                          max_class_count=bound, **kw))
            # "network" weights by the matmul-form distances (documented float32
            # accuracy ~1e-5 relative); the others recompute them elementwise.
            rtol = 1e-6 if w == "uniform" or method != "network" else 2e-5
            np.testing.assert_allclose(b, a, rtol=rtol, atol=1e-7, err_msg=f"{method} {bound}")
    with pytest.raises(ValueError, match="max_class_count"):
        predict_values(tr_x, tr_y, tr_v, q_x, q_p, num_classes=6, max_class_count=10)
    with pytest.raises(ValueError, match="method"):
        predict_values(tr_x, tr_y, tr_v, q_x, q_p, num_classes=6, method="sorted")


def test_network_stops_at_the_largest_class_whatever_the_bound(rng):
    """The network search runs over blocks of positions (128 for C = 16) up to the
    largest class only: a loose static bound (6 blocks, the last partial) gives bit
    for bit the tight bound's values, and those of the masked search."""
    tr_x, tr_y, tr_v, q_x, q_p = [a.astype(np.float32) if a.dtype.kind == "f" else a
                                  for a in make_data(rng, L=700, Q=40, C=16)]
    tr_y[:300] = 3  # the largest class: 300+ points, 3 blocks of 128
    q_x[:2] = tr_x[:2]  # copies of labeled points (the exact-distance redo)
    lc = int(np.bincount(tr_y).max())
    for w in ("uniform", "distance"):
        kw = dict(num_classes=16, k=4, top_t=5, aggregate="mean", weights=w)
        tight = np.asarray(predict_values(tr_x, tr_y, tr_v, q_x, q_p, method="network",
                                          max_class_count=lc, **kw))
        loose = np.asarray(predict_values(tr_x, tr_y, tr_v, q_x, q_p, method="network",
                                          max_class_count=700, **kw))
        np.testing.assert_array_equal(loose, tight, err_msg=w)
        masked = np.asarray(predict_values(tr_x, tr_y, tr_v, q_x, q_p, method="masked", **kw))
        np.testing.assert_allclose(tight, masked, rtol=2e-5, atol=1e-7, err_msg=w)


def test_choose_method():
    # CPU: the network unless one class dominates and few classes are used.
    assert choose_method(10, 500, 50, 10, platform="cpu") == "network"
    assert choose_method(10, 500, 60, 3, platform="cpu") == "network"
    assert choose_method(10, 500, 450, 2, platform="cpu") == "masked"
    assert choose_method(10, 500, 500, 10, platform="cpu") == "masked"  # unknown bound (L)
    # Elsewhere (fast top_k): the top-k methods only.
    assert choose_method(10, 500, 50, 10, platform="gpu") == "grouped"
    assert choose_method(10, 500, 50, 1, platform="tpu") == "masked"
    assert choose_method(10, 500, 500, 10, platform="gpu") == "masked"


def test_chunked_equals_unchunked(rng):
    data = [a.astype(np.float32) if a.dtype.kind == "f" else a
            for a in make_data(rng, L=80, Q=101, C=7)]
    for metric in ("euclidean", "cosine"):
        kw = dict(num_classes=7, k=5, top_t=3, weights="distance", metric=metric)
        full = np.asarray(predict_values(*data, chunk_size=4096, **kw))
        for cs in ((7, 100) if metric == "euclidean" else (100,)):
            got = np.asarray(predict_values(*data, chunk_size=cs, **kw))
            # Same neighbours; the GEMM's rounding may differ in the last bits
            # with the block shape, and distance weights come from it.
            np.testing.assert_allclose(got, full, rtol=1e-6, atol=1e-7)


def test_sharded_equals_single_device(rng):
    assert jax.device_count() >= 8
    data = [a.astype(np.float32) if a.dtype.kind == "f" else a
            for a in make_data(rng, L=70, Q=203, C=5)]  # 203 not a multiple of 8
    data[3][:3] = data[0][:3]  # copies of labeled points: exact distances on one shard only
    explicit = jax.make_mesh((8,), ("q",))
    auto = jax.make_mesh((4, 2), ("a", "b"), axis_types=(jax.sharding.AxisType.Auto,) * 2)
    for method, w, meshes in (("network", "distance", (explicit, auto)),
                              ("masked", "uniform", (explicit,))):
        kw = dict(num_classes=5, k=3, top_t=2, aggregate="prob_weighted", chunk_size=16,
                  method=method, weights=w)
        single = np.asarray(predict_values(*data, **kw))
        for mesh in meshes:
            np.testing.assert_allclose(np.asarray(predict_values(*data, mesh=mesh, **kw)),
                                       single, rtol=1e-6, atol=1e-7)


def test_traceable_under_user_jit(rng):
    data = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in make_data(rng)]
    want = np.asarray(predict_values(*data, num_classes=5, k=3))
    lc = int(np.bincount(data[1]).max())
    for bound in (None, lc):  # None: traced labels -> "masked"; a bound allows "network"
        f = jax.jit(lambda *a, b=bound: predict_values(*a, num_classes=5, k=3, max_class_count=b))
        np.testing.assert_allclose(np.asarray(f(*data)), want, rtol=1e-6)


def test_input_errors(rng):
    tr_x, tr_y, tr_v, q_x, q_p = [a.astype(np.float32) if a.dtype.kind == "f" else a
                                  for a in make_data(rng)]
    kw = dict(num_classes=5)
    bad = q_x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="query_emb"):
        predict_values(tr_x, tr_y, tr_v, bad, q_p, **kw)
    with pytest.raises(ValueError, match="train_values"):
        predict_values(tr_x, tr_y, np.full_like(tr_v, np.inf), q_x, q_p, **kw)
    with pytest.raises(ValueError, match="query_probs"):
        predict_values(tr_x, tr_y, tr_v, q_x, q_p[:, :4], **kw)
    with pytest.raises(ValueError, match="train_y"):
        predict_values(tr_x, tr_y + 5, tr_v, q_x, q_p, **kw)
    with pytest.raises(ValueError, match="feature dimension"):
        predict_values(tr_x, tr_y, tr_v, q_x[:, :3], q_p, **kw)
    with pytest.raises(ValueError, match="same number of points"):
        predict_values(tr_x, tr_y[:-1], tr_v, q_x, q_p, **kw)
    with pytest.raises(ValueError, match="aggregate"):
        predict_values(tr_x, tr_y, tr_v, q_x, q_p, aggregate="median", **kw)
    with pytest.raises(ValueError, match="weights"):
        predict_values(tr_x, tr_y, tr_v, q_x, q_p, weights="gaussian", **kw)
    with pytest.raises(ValueError, match="k"):
        predict_values(tr_x, tr_y, tr_v, q_x, q_p, k=0, **kw)
    with pytest.raises(TypeError, match="train_y"):
        predict_values(tr_x, tr_y.astype(np.float32), tr_v, q_x, q_p, **kw)
    with pytest.raises(ValueError, match="non-negative"):
        predict_values(tr_x, tr_y, tr_v, q_x, np.log(q_p), aggregate="prob_weighted", **kw)
