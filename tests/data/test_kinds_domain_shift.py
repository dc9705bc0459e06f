"""Scenario kind ``domain_shift`` (ads_jax.data.kinds.domain_shift): mixture counts,
provenance, shape / class checks, features sources."""

from __future__ import annotations

import numpy as np
import pytest

from ads_jax.data import (
    CLEAN,
    SOURCE_DOMAIN,
    Dataset,
    ScenarioConfig,
    build_scenario,
    convert_images,
)

from ._helpers import make_ds, make_features


def test_domain_shift_mixture_exact_counts_and_provenance():
    tgt = make_ds("tgt", n_train=200, n_test=80, seed=1)
    a = make_ds("a", n_train=500, seed=2)
    b = make_ds("b", n_train=90, seed=3)
    dsets = {"tgt": tgt, "a": a, "b": b}
    cfg = ScenarioConfig(dataset="tgt", kind="domain_shift", initial_labeled=10, val_size=30,
                         pool_size=110, source_datasets=("a", "b"), source_weights=(1.0, 2.0))
    sc = build_scenario(cfg, 4, datasets=dsets)
    # U = 100 split 1:2 -> 33.3 / 66.7 -> largest remainder gives (33, 67)
    assert sc.sources == ("tgt", "a", "b")
    assert np.sum(sc.source == 1) == 33 and np.sum(sc.source == 2) == 67
    assert (sc.provenance[sc.source > 0] == SOURCE_DOMAIN).all()
    # seed set: clean target train points
    assert (sc.source[sc.labeled_init] == 0).all() and sc.labeled_init.size == 10
    assert (sc.provenance[sc.labeled_init] == CLEAN).all()
    for sid, d in ((0, tgt), (1, a), (2, b)):
        m = sc.source == sid
        np.testing.assert_array_equal(sc.x_pool[m], d.x_train[sc.origin_index[m]])
        np.testing.assert_array_equal(sc.y_pool[m], d.y_train[sc.origin_index[m]])
        assert np.unique(sc.origin_index[m]).size == m.sum()
    np.testing.assert_array_equal(sc.x_test, tgt.x_test[sc.test_index])

    # target among the sources: its points are clean and never reuse seed rows
    cfg2 = ScenarioConfig(dataset="tgt", kind="domain_shift", initial_labeled=10, val_size=30,
                          source_datasets=("tgt", "b"), source_weights=(0.5, 0.5))
    sc2 = build_scenario(cfg2, 0, datasets=dsets)
    tmask = sc2.source == 0
    assert np.unique(sc2.origin_index[tmask]).size == tmask.sum()
    assert (sc2.provenance[tmask] == CLEAN).all()
    # pool_size None: as many as the weights allow: b has 90 -> 90 + 90, plus the seed set
    assert sc2.pool_size == 10 + 180 and np.sum(sc2.source == 1) == 90


def test_domain_shift_shape_and_class_checks():
    tgt = make_ds("tgt", shape=(6, 6, 3), seed=1)
    grey = make_ds("grey", shape=(4, 4, 1), seed=2)
    other = make_ds("other", C=4, seed=3)
    dsets = {"tgt": tgt, "grey": grey, "other": other}
    kw = dict(dataset="tgt", kind="domain_shift", initial_labeled=5, val_size=20, pool_size=50)
    with pytest.raises(ValueError, match="convert_images=True"):
        build_scenario(ScenarioConfig(source_datasets=("grey",), **kw), 0, datasets=dsets)
    sc = build_scenario(ScenarioConfig(source_datasets=("grey",), convert_images=True, **kw), 0,
                        datasets=dsets)
    m = sc.source == 1
    assert sc.x_pool.shape == (50, 6, 6, 3)
    ref = convert_images(grey.x_train[sc.origin_index[m]], size=(6, 6), channels=3)
    np.testing.assert_array_equal(sc.x_pool[m], ref)
    with pytest.raises(ValueError, match="classes"):
        build_scenario(ScenarioConfig(source_datasets=("other",), **kw), 0, datasets=dsets)
    renamed = Dataset("r", tgt.x_train, tgt.y_train, tgt.x_test, tgt.y_test,
                      tuple(f"z{i}" for i in range(5)))
    with pytest.raises(ValueError, match="same classes"):
        build_scenario(ScenarioConfig(source_datasets=("r",), **kw), 0,
                       datasets={**dsets, "r": renamed})


def test_domain_shift_with_features_sources():
    tgt = make_features("tgt", n_train=150, n_test=60, d=4, seed=1)
    a = make_features("a", n_train=300, d=4, seed=2)
    dsets = {"tgt": tgt, "a": a, "wide": make_features("wide", d=5, seed=3), "img": make_ds()}
    kw = dict(dataset="tgt", kind="domain_shift", initial_labeled=10, val_size=20)
    sc = build_scenario(ScenarioConfig(source_datasets=("tgt", "a"), source_weights=(1, 3),
                                       pool_size=110, **kw), 0, datasets=dsets)
    assert sc.x_pool.dtype == np.float32 and sc.x_pool.shape == (110, 4)
    assert np.sum(sc.source == 1) == 75 and (sc.provenance[sc.source == 1] == SOURCE_DOMAIN).all()
    for sid, d in ((0, tgt), (1, a)):
        m = sc.source == sid
        np.testing.assert_array_equal(sc.x_pool[m], d.x_train[sc.origin_index[m]])
    with pytest.raises(ValueError) as info:
        build_scenario(ScenarioConfig(source_datasets=("shifted:tgt",), **kw), 0, datasets=dsets)
    msg = str(info.value)
    assert "`data.source_datasets`" in msg and "features cannot be corrupted as images" in msg
    with pytest.raises(ValueError, match="5 features per row .* has 4"):
        build_scenario(ScenarioConfig(source_datasets=("wide",), convert_images=True, **kw), 0,
                       datasets=dsets)
    with pytest.raises(ValueError, match="cannot mix images and features"):
        build_scenario(ScenarioConfig(source_datasets=("img",), **kw), 0, datasets=dsets)
