"""Scenario kind ``noisy`` (ads_jax.data.kinds.noisy): exact counts, the noise law, images only."""

from __future__ import annotations

import numpy as np
import pytest

from ads_jax.data import (
    NOISY,
    Dataset,
    ScenarioConfig,
    add_white_noise,
    build_scenario,
    count_from_fraction,
)

from ._helpers import make_features


@pytest.mark.parametrize("fraction,pool_size", [(0.8, None), (0.5, 902), (0.33, 500)])
def test_noisy_scenario_exact_counts_and_images(digits, fraction, pool_size):
    L = 1 if pool_size == 902 else 50  # 902 - 1 = 901 unlabeled: 0.5 * 901 rounds up to 451
    cfg = ScenarioConfig(kind="noisy", initial_labeled=L, val_size=300, pool_size=pool_size,
                         noise_fraction=fraction)
    sc = build_scenario(cfg, 5, datasets={"digits": digits})
    U = sc.pool_size - L
    expected = int(np.floor(fraction * U + 0.5))
    assert expected == count_from_fraction(fraction, U)
    noisy = sc.provenance == NOISY
    assert noisy.sum() == expected
    if pool_size == 902:
        assert expected == 451
    assert not noisy[sc.labeled_init].any()
    clean_img = digits.x_train[sc.origin_index]
    # clean points unchanged, bit for bit; their noise std is 0
    np.testing.assert_array_equal(sc.x_pool[~noisy], clean_img[~noisy])
    assert np.all(sc.noise_std[~noisy] == 0) and np.all(sc.noise_std[noisy] > 0)
    # noisy points really differ (those with a non-negligible std surely do)
    differs = np.any(sc.x_pool != clean_img, axis=(1, 2, 3))
    assert differs[noisy & (sc.noise_std >= 2)].all() and differs[noisy].mean() > 0.98
    # labels are untouched, validation and test are clean copies
    np.testing.assert_array_equal(sc.y_pool, sc.y_true)
    np.testing.assert_array_equal(sc.x_test, digits.x_test[sc.test_index])


def test_noisy_initial_corrupts_the_seed_set_like_the_pool(digits):
    L = 100
    base = dict(kind="noisy", initial_labeled=L, val_size=300, pool_size=600,
                noise_fraction=0.8)
    sc = build_scenario(ScenarioConfig(**base, noisy_initial=True), 3,
                        datasets={"digits": digits})
    P = sc.pool_size
    noisy = sc.provenance == NOISY
    # the fraction counts over all P pool points, seed set included
    assert noisy.sum() == count_from_fraction(0.8, P) == 480
    n_seed_noisy = int(noisy[sc.labeled_init].sum())
    # hypergeometric draw of 480 of 600: 80 +- ~4 of the 100 seed points
    assert 65 <= n_seed_noisy <= 95, n_seed_noisy
    # the seed set is still the class-balanced draw, images and labels as documented
    counts = np.bincount(sc.y_pool[sc.labeled_init], minlength=10)
    assert counts.max() - counts.min() <= 1
    clean_img = digits.x_train[sc.origin_index]
    np.testing.assert_array_equal(sc.x_pool[~noisy], clean_img[~noisy])
    assert np.all(sc.noise_std[noisy] > 0) and np.all(sc.noise_std[~noisy] == 0)
    np.testing.assert_array_equal(sc.y_pool, sc.y_true)
    # same seed set and pool rows as without the option; only the corruption differs
    ref = build_scenario(ScenarioConfig(**base), 3, datasets={"digits": digits})
    np.testing.assert_array_equal(ref.labeled_init, sc.labeled_init)
    np.testing.assert_array_equal(ref.origin_index, sc.origin_index)
    assert not (ref.provenance[ref.labeled_init] == NOISY).any()


def test_noise_follows_its_documented_law():
    mid = Dataset("g", np.full((1200, 16, 16, 3), 128, np.uint8), np.zeros(1200, np.int32),
                  np.full((20, 16, 16, 3), 128, np.uint8), np.zeros(20, np.int32), ("a",))
    cfg = ScenarioConfig(dataset="g", kind="noisy", initial_labeled=1, val_size=10,
                         noise_fraction=1.0, noise_beta=(2.0, 5.0), noise_scale=0.2)
    sc = build_scenario(cfg, 0, datasets={"g": mid})
    noisy = sc.provenance == NOISY
    assert noisy.sum() == 1199
    power = sc.noise_std[noisy] / (0.2 * 255.0)
    assert 0 < power.min() and power.max() < 1
    assert abs(power.mean() - 2 / 7) < 0.03  # Beta(2, 5) mean
    # per-image residual std matches the recorded std (std <= 51: clipping at 0/255 is rare)
    resid = sc.x_pool[noisy].astype(np.float64) - 128
    emp = resid.reshape(resid.shape[0], -1).std(axis=1)
    big = sc.noise_std[noisy] > 5
    np.testing.assert_allclose(emp[big], sc.noise_std[noisy][big], rtol=0.1)


def test_add_white_noise_zero_std_is_identity():
    x = np.random.default_rng(0).integers(0, 256, (5, 3, 3, 1), dtype=np.uint8)
    out = add_white_noise(x, np.zeros(5), np.random.default_rng(1))
    np.testing.assert_array_equal(out, x)
    with pytest.raises(ValueError, match="std"):
        add_white_noise(x, np.full(5, -1.0), np.random.default_rng(1))


def test_noisy_kind_rejects_features():
    ds = make_features()
    cfg = ScenarioConfig(dataset="f", kind="noisy", initial_labeled=10, val_size=20)
    with pytest.raises(ValueError) as info:
        build_scenario(cfg, 0, datasets={"f": ds})
    msg = str(info.value)
    assert "`data.kind`='noisy'" in msg and "features cannot be corrupted as images" in msg
    assert "6-dimensional feature vectors" in msg
