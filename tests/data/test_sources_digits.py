"""ads_jax.data.sources.digits: scikit-learn's digits as a small image data set."""

from __future__ import annotations

import numpy as np

from ads_jax.data import DIGITS_TRAIN_SIZE, load_dataset


def test_digits_loader_matches_sklearn(digits):
    from sklearn.datasets import load_digits as sk

    b = sk()
    ds = digits
    assert ds.x_train.shape == (DIGITS_TRAIN_SIZE, 8, 8, 1) and ds.x_train.dtype == np.uint8
    assert ds.x_test.shape == (1797 - DIGITS_TRAIN_SIZE, 8, 8, 1)
    assert ds.y_train.dtype == np.int32 and ds.num_classes == 10
    assert ds.class_names == tuple(str(i) for i in range(10))
    ref = np.rint(b.images * 255 / 16).astype(np.uint8)
    perm = np.random.default_rng(0).permutation(1797)
    np.testing.assert_array_equal(ds.x_train[..., 0], ref[perm[:DIGITS_TRAIN_SIZE]])
    np.testing.assert_array_equal(ds.y_test, b.target[perm[DIGITS_TRAIN_SIZE:]])
    assert ds.x_train.max() == 255 and ds.x_train.min() == 0
    again = load_dataset("digits")
    np.testing.assert_array_equal(again.x_test, ds.x_test)
