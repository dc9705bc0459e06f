"""Small synthetic data sets and comparisons shared by the data tests."""

from __future__ import annotations

import numpy as np

from ads_jax.data import Dataset

SCENARIO_FIELDS = ("x_pool", "y_pool", "provenance", "labeled_init", "x_val", "y_val", "x_test",
                   "y_test", "y_true", "noise_std", "source", "origin_index", "val_index",
                   "test_index")


def make_ds(name="synth", n_train=300, n_test=120, shape=(4, 4, 3), C=5, seed=0, y_train=None):
    r = np.random.default_rng(seed)
    y_tr = r.integers(0, C, n_train) if y_train is None else np.asarray(y_train)
    return Dataset(
        name=name,
        x_train=r.integers(0, 256, (len(y_tr), *shape), dtype=np.uint8),
        y_train=y_tr.astype(np.int32),
        x_test=r.integers(0, 256, (n_test, *shape), dtype=np.uint8),
        y_test=r.integers(0, C, n_test).astype(np.int32),
        class_names=tuple(f"c{i}" for i in range(C)),
    )


def make_features(name="feat", n_train=300, n_test=120, d=6, C=5, seed=0):
    """A features `Dataset`: float32 (N, d) rows drawn from N(0, 1), labels uniform in [0, C)."""
    r = np.random.default_rng(seed)
    return Dataset(
        name=name,
        x_train=r.standard_normal((n_train, d)).astype(np.float32),
        y_train=r.integers(0, C, n_train).astype(np.int32),
        x_test=r.standard_normal((n_test, d)).astype(np.float32),
        y_test=r.integers(0, C, n_test).astype(np.int32),
        class_names=tuple(f"c{i}" for i in range(C)),
    )


def assert_scenarios_equal(a, b):
    for f in SCENARIO_FIELDS:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


R = np.random.default_rng(0)


def images(n, shape=(4, 4, 3)):
    return R.integers(0, 256, (n, *shape), dtype=np.uint8)


def good_arrays(y_train=(0, 1, 2, 0, 1, 2), y_test=(2, 1, 0)):
    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    return dict(x_train=images(len(y_train)), y_train=y_train,
                x_test=images(len(y_test)), y_test=y_test)


def write(path, **arrays):
    np.savez(path, **arrays)
    return path
