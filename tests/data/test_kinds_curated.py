"""Scenario kind ``curated`` (ads_jax.data.kinds.curated): sizes, disjointness, features."""

from __future__ import annotations

import numpy as np

from ads_jax.data import CLEAN, DIGITS_TRAIN_SIZE, Dataset, ScenarioConfig, build_scenario

from ._helpers import make_features


def test_curated_scenario_sizes_disjoint_and_consistent(digits):
    cfg = ScenarioConfig(dataset="digits", initial_labeled=37, val_size=200, test_size=150,
                         pool_size=640)
    sc = build_scenario(cfg, seed=3, datasets={"digits": digits})
    L, P = 37, 640
    assert sc.x_pool.shape == (P, 8, 8, 1) and sc.y_pool.dtype == np.int32
    assert sc.provenance.dtype == np.int8 and np.all(sc.provenance == CLEAN)
    assert sc.labeled_init.dtype == np.int32 and sc.labeled_init.shape == (L,)
    assert np.all(np.diff(sc.labeled_init) > 0) and sc.labeled_init.max() < P
    assert sc.unlabeled_mask().sum() == P - L
    # pool rows are distinct train rows; images and labels are the dataset's
    assert np.unique(sc.origin_index).size == P and np.all(sc.source == 0)
    np.testing.assert_array_equal(sc.x_pool, digits.x_train[sc.origin_index])
    np.testing.assert_array_equal(sc.y_pool, digits.y_train[sc.origin_index])
    np.testing.assert_array_equal(sc.y_true, sc.y_pool)
    # validation and test: disjoint rows of the test split, exact sizes
    assert sc.x_val.shape[0] == 200 and sc.x_test.shape[0] == 150
    assert np.intersect1d(sc.val_index, sc.test_index).size == 0
    np.testing.assert_array_equal(sc.x_val, digits.x_test[sc.val_index])
    np.testing.assert_array_equal(sc.y_test, digits.y_test[sc.test_index])
    # seed set class-balanced: per-class counts differ by at most one
    counts = np.bincount(sc.y_pool[sc.labeled_init], minlength=10)
    assert counts.sum() == L and counts.max() - counts.min() <= 1
    assert sc.num_classes == 10 and sc.class_names == digits.class_names
    # default: test = everything left after validation
    full = build_scenario(ScenarioConfig(initial_labeled=10), 0, datasets={"digits": digits})
    assert full.x_val.shape[0] == 500 and full.x_test.shape[0] == 797 - 500
    assert full.pool_size == DIGITS_TRAIN_SIZE


def test_curated_scenario_on_features(tmp_path):
    ds = make_features(n_train=200, n_test=90, d=7, C=4, seed=3)
    cfg = ScenarioConfig(dataset="f", initial_labeled=12, val_size=30, test_size=40,
                         pool_size=150)
    sc = build_scenario(cfg, 5, datasets={"f": ds})
    assert sc.x_pool.dtype == np.float32 and sc.x_pool.shape == (150, 7)
    assert sc.x_val.dtype == np.float32 and sc.x_val.shape == (30, 7)
    assert sc.x_test.dtype == np.float32 and sc.x_test.shape == (40, 7)
    np.testing.assert_array_equal(sc.x_pool, ds.x_train[sc.origin_index])
    np.testing.assert_array_equal(sc.y_pool, ds.y_train[sc.origin_index])
    np.testing.assert_array_equal(sc.x_val, ds.x_test[sc.val_index])
    np.testing.assert_array_equal(sc.x_test, ds.x_test[sc.test_index])
    assert np.all(sc.provenance == CLEAN) and np.all(sc.noise_std == 0)
    assert np.unique(sc.origin_index).size == 150
    # the same draws as an image data set with the same labels: only the rows differ
    as_images = Dataset("f", np.zeros((200, 1, 1, 1), np.uint8), ds.y_train,
                        np.zeros((90, 1, 1, 1), np.uint8), ds.y_test, ds.class_names)
    ref = build_scenario(cfg, 5, datasets={"f": as_images})
    for f in ("origin_index", "labeled_init", "val_index", "test_index", "y_pool"):
        np.testing.assert_array_equal(getattr(sc, f), getattr(ref, f), err_msg=f)
    # straight from a features file
    p = ds.save_npz(tmp_path / "emb.npz")
    from_file = build_scenario(ScenarioConfig(dataset=f"features:{p}", initial_labeled=12,
                                              val_size=30, test_size=40, pool_size=150), 5)
    np.testing.assert_array_equal(from_file.x_pool, sc.x_pool)
