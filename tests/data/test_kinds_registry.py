"""ads_jax.data.kinds registry: KINDS, registering a new kind, unknown kinds."""

from __future__ import annotations

import numpy as np
import pytest

import ads_jax.data as data
from ads_jax.data import (
    MISLABELED,
    ScenarioConfig,
    available_kinds,
    build_scenario,
    register_kind,
)
from ads_jax.data.kinds import _registry, get_kind
from ads_jax.data.pool import target_pool

from ._helpers import make_ds, make_features


@pytest.fixture
def kinds(monkeypatch):
    """A private copy of the kind registry for one test (restored afterwards)."""
    monkeypatch.setattr(_registry, "_KINDS", dict(_registry._KINDS))


def test_built_in_kinds():
    assert data.KINDS == available_kinds() == ("curated", "noisy", "domain_shift", "cheap")
    from ads_jax.data import KINDS

    assert KINDS == data.KINDS
    assert [get_kind(k).needs_images for k in KINDS] == [False, True, False, False]
    with pytest.raises(ValueError, match=r"`data.kind` must be one of \['curated'"):
        get_kind("nope")


def test_a_registered_kind_is_a_config_value_and_builds(kinds):
    def flip_all_unlabeled(b, pool):
        unl = np.flatnonzero(~pool.is_init)
        pool.y[unl] = (pool.y_true[unl] + 1) % b.num_classes
        pool.prov[unl] = MISLABELED

    with pytest.raises(ValueError, match="data.kind"):
        ScenarioConfig(kind="all_wrong")
    register_kind("all_wrong", target_pool, flip_all_unlabeled, needs_images=False)
    assert data.KINDS[-1] == "all_wrong"
    ds = make_ds(n_train=100, n_test=30, C=3)
    cfg = ScenarioConfig(dataset="s", kind="all_wrong", initial_labeled=6, val_size=10)
    sc = build_scenario(cfg, 0, datasets={"s": ds})
    ref = build_scenario(ScenarioConfig(dataset="s", initial_labeled=6, val_size=10), 0,
                         datasets={"s": ds})
    np.testing.assert_array_equal(sc.origin_index, ref.origin_index)  # same pool draw
    unl = sc.unlabeled_mask()
    np.testing.assert_array_equal(sc.y_pool[unl], (ref.y_pool[unl] + 1) % 3)
    np.testing.assert_array_equal(sc.y_pool[~unl], ref.y_pool[~unl])
    assert sc.provenance_counts()["mislabeled"] == unl.sum()


def test_needs_images_kinds_reject_features(kinds):
    register_kind("img_only", target_pool, None, needs_images=True)
    cfg = ScenarioConfig(dataset="f", kind="img_only", initial_labeled=5, val_size=10)
    with pytest.raises(ValueError, match="`data.kind`='img_only' corrupts or replaces images"):
        build_scenario(cfg, 0, datasets={"f": make_features()})


@pytest.mark.parametrize("args,kw,exc,match", [
    (("curated", target_pool, None), dict(needs_images=False), ValueError, "already registered"),
    (("", target_pool, None), dict(needs_images=False), ValueError, "non-empty"),
    (("k", "pool", None), dict(needs_images=False), TypeError, "pool_builder"),
    (("k", target_pool, 3), dict(needs_images=False), TypeError, "corruption"),
    (("k", target_pool, None), dict(needs_images=1), TypeError, "needs_images"),
])
def test_register_kind_errors(kinds, args, kw, exc, match):
    with pytest.raises(exc, match=match):
        register_kind(*args, **kw)
    assert available_kinds() == ("curated", "noisy", "domain_shift", "cheap")
