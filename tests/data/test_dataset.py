"""ads_jax.data.dataset: the `Dataset` type, images or features, and its validation."""

from __future__ import annotations

import numpy as np
import pytest

from ads_jax.data import FEATURES, IMAGES, Dataset, load_features

from ._helpers import good_arrays, make_ds, make_features


def test_dataset_validation():
    ds = make_ds()
    with pytest.raises(TypeError, match="uint8"):
        Dataset("d", ds.x_train.astype(np.float32), ds.y_train, ds.x_test, ds.y_test, ds.class_names)
    with pytest.raises(ValueError, match="labels"):
        Dataset("d", ds.x_train, ds.y_train[:-1], ds.x_test, ds.y_test, ds.class_names)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        Dataset("d", ds.x_train, ds.y_train + 1, ds.x_test, ds.y_test, ds.class_names)
    with pytest.raises(ValueError, match="same"):
        Dataset("d", ds.x_train, ds.y_train, ds.x_test[:, :2], ds.y_test, ds.class_names)


def test_dataset_original_labels_field():
    a = good_arrays()
    kw = dict(name="d", x_train=a["x_train"], y_train=a["y_train"].astype(np.int32),
              x_test=a["x_test"], y_test=a["y_test"].astype(np.int32),
              class_names=("a", "b", "c"))
    assert Dataset(**kw).original_labels is None
    assert Dataset(**kw, original_labels=[3, 7, 1000]).original_labels == (3, 7, 1000)
    with pytest.raises(ValueError, match="one original label value per class"):
        Dataset(**kw, original_labels=(3, 7))
    with pytest.raises(TypeError, match="original_labels"):
        Dataset(**kw, original_labels=("x", "y", "z"))


# ----------------------------------------------------------------------------- features


def _feat_kw(**over):
    r = np.random.default_rng(1)
    kw = dict(name="f", x_train=r.standard_normal((8, 3)), y_train=np.arange(8) % 3,
              x_test=r.standard_normal((4, 3)), y_test=np.arange(4) % 3,
              class_names=("a", "b", "c"))
    kw.update(over)
    return kw


def test_features_dataset_holds_float32_rows():
    kw = _feat_kw()
    ds = Dataset(**kw)
    assert ds.representation == FEATURES and not ds.has_images
    assert ds.x_train.dtype == np.float32 and ds.x_train.shape == (8, 3)
    np.testing.assert_array_equal(ds.x_train, kw["x_train"].astype(np.float32))
    np.testing.assert_array_equal(ds.x_test, kw["x_test"].astype(np.float32))
    assert ds.sample_shape == (3,) and ds.num_classes == 3
    with pytest.raises(ValueError, match="feature vectors, not images"):
        ds.image_shape
    img = make_ds()
    assert img.representation == IMAGES and img.has_images
    assert img.sample_shape == img.image_shape == (4, 4, 3)


@pytest.mark.parametrize("over,exc,words", [
    (dict(x_train=np.r_[np.zeros((7, 3)), [[0, np.nan, 0]]]), ValueError,
     ["`x_train`", "1 non-finite", "row 7, column 1"]),
    (dict(x_test=np.array([[np.inf, 0, 0]] * 4)), ValueError, ["`x_test`", "4 non-finite"]),
    (dict(x_test=np.full((4, 3), 1e39)), ValueError, ["`x_test`", "float32 range"]),
    (dict(x_train=np.zeros((8, 3), np.int64)), TypeError, ["`x_train`", "floating-point", "int64"]),
    (dict(x_train=np.zeros((8, 3, 2))), ValueError, ["`x_train`", "images or float (N, d)"]),
    (dict(x_test=np.zeros((4, 5))), ValueError, ["3 features", "`x_test` has 5", "dimension d"]),
    (dict(x_test=np.zeros((4, 2, 2, 1), np.uint8)), ValueError, ["same representation"]),
    (dict(y_train=np.arange(8) % 4), ValueError, ["`y_train`", "[0, 3)"]),
    (dict(y_test=np.zeros(3, int)), ValueError, ["4 feature rows", "3 labels"]),
    (dict(x_train=np.zeros((0, 3)), y_train=np.zeros(0, int)), ValueError, ["empty"]),
])
def test_features_validation(over, exc, words):
    with pytest.raises(exc) as info:
        Dataset(**_feat_kw(**over))
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_features_save_npz_round_trip(tmp_path):
    ds = make_features(n_train=20, n_test=7, d=4, C=3)
    back = load_features(ds.save_npz(tmp_path / "emb.npz"))
    assert back.representation == FEATURES and back.class_names == ds.class_names
    for f in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(back, f), getattr(ds, f))
        assert getattr(back, f).dtype == getattr(ds, f).dtype
