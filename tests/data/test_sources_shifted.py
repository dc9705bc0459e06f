"""ads_jax.data.sources.shifted: the synthetic ``shifted:<name>`` domain shift."""

from __future__ import annotations

import numpy as np
import pytest

from ads_jax.data import load_dataset


def test_shifted_source_is_a_deterministic_transform_with_the_same_labels():
    from ads_jax.data import ScenarioConfig, build_scenario, load_dataset, load_digits, \
        shift_images

    base, shifted = load_digits(), load_dataset("shifted:digits")
    np.testing.assert_array_equal(shifted.y_train, base.y_train)
    assert shifted.class_names == base.class_names and shifted.name == "shifted:digits"
    np.testing.assert_array_equal(shifted.x_train, shift_images(base.x_train))
    assert not np.array_equal(shifted.x_train, base.x_train)
    rgb = np.arange(2 * 3, dtype=np.uint8).reshape(1, 1, 2, 3) * 40
    out = shift_images(rgb).astype(float) / 255.0
    f = ((rgb.astype(float) / 255.0) ** 0.6 - 0.5) * 0.6 + 0.5
    np.testing.assert_allclose(out, f[..., [1, 2, 0]], atol=0.5 / 255)
    # A domain-shift pool from the target and its shifted copy: no row twice, none
    # of the validation / test / seed rows.
    cfg = ScenarioConfig(dataset="digits", kind="domain_shift",
                         source_datasets=("digits", "shifted:digits"), source_weights=(1, 4),
                         initial_labeled=10, val_size=50, test_size=100, val_source="train",
                         test_source="train", pool_size=400)
    sc = build_scenario(cfg, 0)
    rows = sc.origin_index
    assert np.unique(rows).size == rows.size
    assert not set(rows.tolist()) & (set(sc.test_index.tolist()) | set(sc.val_index.tolist()))
    assert sc.sources == ("digits", "shifted:digits")
    assert int((sc.provenance == 4).sum()) == 312  # 4/5 of the 390 unlabeled points


def test_shifted_keeps_npz_remapping_and_rejects_features(tmp_path):
    r = np.random.default_rng(0)
    x = r.integers(0, 256, (6, 3, 3, 3), dtype=np.uint8)
    np.savez(tmp_path / "img.npz", x_train=x, y_train=np.array([3, 7, 3, 7, 3, 7]),
             x_test=x[:2], y_test=np.array([7, 3]))
    sh = load_dataset(f"shifted:npz:{tmp_path / 'img.npz'}", remap_labels=True)
    assert sh.name == "shifted:img" and sh.original_labels == (3, 7)
    np.testing.assert_array_equal(sh.y_train, [0, 1, 0, 1, 0, 1])
    np.savez(tmp_path / "emb.npz", x_train=r.standard_normal((6, 4)), y_train=np.arange(6) % 2,
             x_test=r.standard_normal((2, 4)), y_test=np.arange(2))
    with pytest.raises(ValueError, match="features cannot be corrupted as images"):
        load_dataset(f"shifted:features:{tmp_path / 'emb.npz'}")
