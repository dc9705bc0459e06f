"""Data-OOB against an independent scikit-learn computation on the same bags;
bag counts; padding; properties (a copy with a flipped label, label noise)."""

import jax
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from ads_jax.valuation.data_oob import bag_counts, data_oob_values

N, D, C, B = 60, 4, 3, 8
L2 = 1e-2


@pytest.fixture(scope="module")
def blobs():
    """Three overlapping Gaussian classes (so bags disagree), and 5 flipped labels."""
    rng = np.random.default_rng(0)
    centers = 1.5 * rng.normal(size=(C, D))
    y = np.arange(N, dtype=np.int32) % C
    x = (centers[y] + rng.normal(size=(N, D))).astype(np.float32)
    y[:5] = (y[:5] + 1) % C
    return x, y


@pytest.fixture(scope="module")
def values(blobs):
    x, y = blobs
    return np.asarray(data_oob_values(jax.random.key(1), x, y, num_classes=C, num_bags=B, l2=L2,
                                      max_iter=500, tol=1e-6))


def _oob_values(counts, correct):
    """The documented estimator from (B, N) counts and (B, N) 0/1 correctness, NumPy."""
    oob = counts == 0
    n_oob = oob.sum(0)
    v = np.where(n_oob > 0, (oob * correct).sum(0) / np.maximum(n_oob, 1), np.nan)
    return np.where(np.isnan(v), np.nanmean(v), v)


def test_bag_counts_are_bootstrap_draws():
    counts = np.asarray(bag_counts(jax.random.key(0), 500, num_bags=64))
    assert counts.shape == (64, 500)
    np.testing.assert_array_equal(counts.sum(1), 500)
    assert (counts == np.round(counts)).all() and (counts >= 0).all()
    # P(a point is out of a bag) = (1 - 1/n)^n ~ 0.3675 (within ~6 standard errors).
    assert abs((counts == 0).mean() - (1 - 1 / 500) ** 500) < 0.015
    assert len({c.tobytes() for c in counts}) == 64  # bags differ


def test_values_equal_sklearn_on_the_same_bags(blobs, values):
    x, y = blobs
    counts = np.asarray(bag_counts(jax.random.key(1), N, num_bags=B))
    assert (counts == 0).any(0).sum() >= N - 2  # nearly every point has OOB bags
    correct = np.zeros((B, N))
    for b in range(B):
        # Same objective: C = 1 / (l2 * sum(counts)), sample_weight = counts.
        sk = LogisticRegression(C=1.0 / (L2 * counts[b].sum()), tol=1e-10, max_iter=10_000)
        sk.fit(x.astype(np.float64), y, sample_weight=counts[b])
        proba = sk.predict_proba(x)
        top2 = np.sort(proba, axis=1)[:, -2:]
        # No prediction of an OOB point is a near-tie (float32 vs float64 fits agree).
        assert (top2[:, 1] - top2[:, 0])[counts[b] == 0].min() > 1e-3
        correct[b] = proba.argmax(1) == y
    np.testing.assert_allclose(values, _oob_values(counts, correct), atol=1e-6)


def test_sequential_bags_give_the_same_values(blobs, values):
    # bag_batch=1: the bags one after the other (lax.map, no vmap). (The vmapped
    # fit itself equals a Python loop of fits: tests/training/test_heads.py.)
    x, y = blobs
    seq = data_oob_values(jax.random.key(1), x, y, num_classes=C, num_bags=B, l2=L2,
                          max_iter=500, tol=1e-6, bag_batch=1)
    np.testing.assert_allclose(seq, values, atol=1e-6)


def test_mislabeled_points_get_low_values(values):
    # The 5 flipped labels against the 55 clean points: clearly separated on average.
    assert values[:5].mean() < 0.4
    assert values[5:].mean() > 0.75
    assert ((values >= 0) & (values <= 1)).all()


def test_padding_anywhere_jit_and_bag_chunks_give_the_unpadded_values(blobs, values):
    x, y = blobs
    rng = np.random.default_rng(3)
    n_pad = 17
    # Padding rows at random places; the valid rows keep their order.
    mask = np.ones(N + n_pad, bool)
    mask[rng.choice(N + n_pad, n_pad, replace=False)] = False
    xp = rng.normal(size=(N + n_pad, D)).astype(np.float32)
    yp = -np.ones(N + n_pad, np.int32)
    xp[mask], yp[mask] = x, y
    counts = np.asarray(bag_counts(jax.random.key(1), N + n_pad, num_bags=B, train_mask=mask))
    np.testing.assert_array_equal(counts[:, mask],
                                  np.asarray(bag_counts(jax.random.key(1), N, num_bags=B)))
    assert (counts[:, ~mask] == 0).all()
    # Jitted whole, and with the bags in vmapped chunks of 4 (lax.map).
    fn = jax.jit(data_oob_values,
                 static_argnames=("num_classes", "num_bags", "max_iter", "bag_batch"))
    vp = np.asarray(fn(jax.random.key(1), xp, yp, num_classes=C, num_bags=B, l2=L2,
                       max_iter=500, tol=1e-6, train_mask=mask, bag_batch=4))
    np.testing.assert_allclose(vp[mask], values, atol=1e-6)
    assert (vp[~mask] == 0).all()


@pytest.fixture(scope="module")
def separated():
    """Three well-separated classes, same shapes as `blobs` (one compilation)."""
    rng = np.random.default_rng(4)
    y = np.arange(N, dtype=np.int32) % C
    x = (6.0 * np.eye(C, D)[y] + rng.normal(size=(N, D))).astype(np.float32)
    return x, y


def test_a_copy_with_a_flipped_label_is_worth_little(separated):
    x, y = separated
    x, y = x.copy(), y.copy()
    # The last point becomes a copy of point 0 with another label.
    x[-1], y[-1] = x[0], (y[0] + 1) % C
    v = np.asarray(data_oob_values(jax.random.key(0), x, y, num_classes=C, num_bags=B, l2=L2,
                                   max_iter=500, tol=1e-6))
    assert v[-1] < 0.2 and v[0] > 0.8 and v[1:-1].mean() > 0.9


def test_points_never_out_of_bag_get_the_mean_of_the_others(separated):
    x, y = separated
    # A key whose B bags leave some point in every bag (P ~ 0.03 per point).
    for seed in range(100):
        counts = np.asarray(bag_counts(jax.random.key(seed), N, num_bags=B))
        always = (counts > 0).all(0)
        if always.any():
            break
    else:  # pragma: no cover - 100 keys always contain such a case
        raise AssertionError("no key with a never-out-of-bag point")
    # Put a mislabeled point there so its value would differ from the fill.
    y = y.copy()
    y[always] = (y[always] + 1) % C
    v = np.asarray(data_oob_values(jax.random.key(seed), x, y, num_classes=C, num_bags=B,
                                   l2=L2, max_iter=500, tol=1e-6))
    np.testing.assert_allclose(v[always], v[~always].mean(), atol=1e-6)
    assert v[always].min() > 0.5


def test_input_errors(blobs):
    x, y = blobs
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="`train_mask` selects no row"):
        data_oob_values(key, x, y, num_classes=C, train_mask=np.zeros(N, bool))
    with pytest.raises(ValueError, match="`train_mask` must have one entry per row"):
        data_oob_values(key, x, y, num_classes=C, train_mask=np.ones(3, bool))
    with pytest.raises(ValueError, match="`train_y` must contain labels"):
        data_oob_values(key, x, y + 1, num_classes=C)
    with pytest.raises(ValueError, match="`num_bags` must be >= 1"):
        data_oob_values(key, x, y, num_classes=C, num_bags=0)
    with pytest.raises(ValueError, match="`l2` must be in"):
        data_oob_values(key, x, y, num_classes=C, l2=-1.0)
    with pytest.raises(ValueError, match="`bag_batch` must be >= 1"):
        data_oob_values(key, x, y, num_classes=C, bag_batch=0)
