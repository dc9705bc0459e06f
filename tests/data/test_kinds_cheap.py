"""Scenario kind ``cheap`` (ads_jax.data.kinds.cheap): OOD images and wrong labels; features."""

from __future__ import annotations

import numpy as np
import pytest

from ads_jax.data import (
    CLEAN,
    MISLABELED,
    OOD,
    ScenarioConfig,
    build_scenario,
    count_from_fraction,
)

from ._helpers import make_ds, make_features


def test_cheap_scenario_ood_and_mislabeled(digits):
    ood = make_ds("ood", n_train=400, shape=(8, 8, 1), C=3, seed=9)
    cfg = ScenarioConfig(kind="cheap", initial_labeled=40, val_size=300, pool_size=841,
                         ood_dataset="ood", ood_fraction=0.25, mislabel_fraction=0.15)
    sc = build_scenario(cfg, 2, datasets={"digits": digits, "ood": ood})
    U = 801
    is_ood, is_mis = sc.provenance == OOD, sc.provenance == MISLABELED
    assert is_ood.sum() == count_from_fraction(0.25, U) == 200
    assert is_mis.sum() == count_from_fraction(0.15, U) == 120
    assert not (is_ood | is_mis)[sc.labeled_init].any()
    assert (sc.provenance[sc.labeled_init] == CLEAN).all()
    # mislabeled: same image, wrong label
    assert np.all(sc.y_pool[is_mis] != sc.y_true[is_mis])
    np.testing.assert_array_equal(sc.y_true[is_mis], digits.y_train[sc.origin_index[is_mis]])
    np.testing.assert_array_equal(sc.x_pool[is_mis], digits.x_train[sc.origin_index[is_mis]])
    # ood: images are the OOD data set's rows, true label -1, revealed label a valid class
    assert sc.sources == ("digits", "ood") and np.all(sc.source[is_ood] == 1)
    np.testing.assert_array_equal(sc.x_pool[is_ood], ood.x_train[sc.origin_index[is_ood]])
    assert np.unique(sc.origin_index[is_ood]).size == 200
    assert np.all(sc.y_true[is_ood] == -1)
    assert sc.y_pool[is_ood].min() >= 0 and sc.y_pool[is_ood].max() < 10
    assert len(np.unique(sc.y_pool[is_ood])) > 5  # random classes, not a constant
    clean = sc.provenance == CLEAN
    np.testing.assert_array_equal(sc.y_pool[clean], sc.y_true[clean])
    counts = sc.provenance_counts()
    assert counts == {"clean": 841 - 320, "noisy": 0, "ood": 200, "mislabeled": 120,
                      "source_domain": 0}
    assert sc.provenance_counts(np.flatnonzero(is_ood)[:7])["ood"] == 7
    assert sc.provenance_counts(is_mis)["mislabeled"] == 120


def test_cheap_rounding_clamps_to_pool():
    ds = make_ds(n_train=60, C=3)
    cfg = ScenarioConfig(dataset="s", kind="cheap", initial_labeled=2, val_size=5, pool_size=5,
                         mislabel_fraction=0.5, ood_fraction=0.5, ood_dataset="s")
    sc = build_scenario(cfg, 0, datasets={"s": ds})  # U = 3: 0.5*3 -> 2 ood, 1 mislabeled
    assert sc.provenance_counts()["ood"] == 2 and sc.provenance_counts()["mislabeled"] == 1


def test_cheap_mislabel_only_on_features():
    ds = make_features(n_train=400, n_test=60, d=5, C=4, seed=2)
    cfg = ScenarioConfig(dataset="f", kind="cheap", initial_labeled=20, val_size=30,
                         pool_size=321, mislabel_fraction=0.35)
    sc = build_scenario(cfg, 1, datasets={"f": ds})
    is_mis = sc.provenance == MISLABELED
    assert is_mis.sum() == count_from_fraction(0.35, 301) == 105
    assert not is_mis[sc.labeled_init].any()
    assert np.all(sc.y_pool[is_mis] != sc.y_true[is_mis])
    np.testing.assert_array_equal(sc.y_pool[~is_mis], sc.y_true[~is_mis])
    np.testing.assert_array_equal(sc.y_true, ds.y_train[sc.origin_index])
    np.testing.assert_array_equal(sc.x_pool, ds.x_train[sc.origin_index])  # rows untouched
    assert sc.x_pool.dtype == np.float32 and sc.sources == ("f",)


def test_cheap_ood_rejects_features():
    dsets = {"f": make_features(), "o": make_features("o", seed=1)}
    cfg = ScenarioConfig(dataset="f", kind="cheap", initial_labeled=10, val_size=20,
                         ood_dataset="o", ood_fraction=0.2, mislabel_fraction=0.1)
    with pytest.raises(ValueError) as info:
        build_scenario(cfg, 0, datasets=dsets)
    msg = str(info.value)
    assert "`data.ood_fraction`=0.2" in msg and "features cannot be corrupted as images" in msg
    # images target, features OOD data set: the pool cannot mix them
    img = {"t": make_ds("t"), "o": make_features("o", C=5)}
    cfg = ScenarioConfig(dataset="t", kind="cheap", initial_labeled=10, val_size=20,
                         ood_dataset="o", ood_fraction=0.2)
    with pytest.raises(ValueError, match="cannot mix images and features"):
        build_scenario(cfg, 0, datasets=img)
