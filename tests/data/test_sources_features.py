"""ads_jax.data.sources.features: ``features:PATH.npz`` (your own embeddings) and its checks.

Every file is written in ``tmp_path``. Errors are `DataFileError`s naming the
file, the problem and the fix, in the style of the npz loader.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from ads_jax.data import DataFileError, load_dataset, load_features

R = np.random.default_rng(0)


def arrays(n=6, m=3, d=4, y_train=(0, 1, 2, 0, 1, 2), y_test=(2, 1, 0)):
    return dict(x_train=R.standard_normal((n, d)), y_train=np.asarray(y_train),
                x_test=R.standard_normal((m, d)), y_test=np.asarray(y_test))


def write(path, **a):
    np.savez(path, **a)
    return path


def raises_naming(path, *words, exc=DataFileError, remap_labels=False):
    """Load ``path``; the message names the file and each regex of ``words``."""
    with pytest.raises(exc) as info:
        load_features(path, remap_labels=remap_labels)
    msg = str(info.value)
    assert str(path) in msg, msg
    rest = msg.replace(str(path), "<FILE>")
    for w in words:
        assert re.search(w, rest, re.IGNORECASE), (w, msg)
    assert isinstance(info.value, ValueError)
    return msg


def test_features_file_loads_as_float32_rows(tmp_path):
    a = arrays()
    p = write(tmp_path / "emb.npz", class_names=np.array(["x", "y", "z"]), **a)
    ds = load_dataset(f"features:{p}")
    assert ds.name == "emb" and not ds.has_images and ds.representation == "features"
    assert ds.x_train.dtype == np.float32 and ds.x_test.shape == (3, 4)
    np.testing.assert_array_equal(ds.x_train, a["x_train"].astype(np.float32))
    np.testing.assert_array_equal(ds.x_test, a["x_test"].astype(np.float32))
    np.testing.assert_array_equal(ds.y_train, a["y_train"])
    assert ds.y_train.dtype == np.int32 and ds.class_names == ("x", "y", "z")
    # the path may come from data_dir; integer features become float32
    q = write(tmp_path / "ints.npz", **{**a, "x_train": np.arange(24).reshape(6, 4),
                                        "x_test": np.ones((3, 4), np.int16)})
    ints = load_dataset("features", data_dir=q)
    np.testing.assert_array_equal(ints.x_train, np.arange(24, dtype=np.float32).reshape(6, 4))
    assert ints.x_test.dtype == np.float32


def test_partial_test_split_json_names_and_remapping(tmp_path):
    a = arrays(y_train=(3, 7, 3, 7, 9, 9), y_test=(9, 3, 7))
    p = write(tmp_path / "part.npz", x_train=a["x_train"], y_train=a["y_train"],
              x_test_partial=a["x_test"], y_test_partial=a["y_test"])
    raises_naming(p, "sparse", "remap_labels=True")
    ds = load_features(p, remap_labels=True)
    assert ds.original_labels == (3, 7, 9) and ds.class_names == ("3", "7", "9")
    np.testing.assert_array_equal(ds.y_test, [2, 0, 1])
    assert load_dataset(f"features:{p}", remap_labels=True).original_labels == (3, 7, 9)
    q = write(tmp_path / "named.npz", **arrays())
    (tmp_path / "named.json").write_text(json.dumps({"label_names": ["a", "b", "c", "d"]}))
    assert load_features(q).class_names == ("a", "b", "c", "d")


@pytest.mark.parametrize("over,words", [
    (dict(x_train=np.where(np.eye(6, 4) > 0, np.nan, 0.0)), [
        "'x_train'", "4 non-finite", "row 0, column 0", "impute"]),
    (dict(x_test=np.r_[np.zeros((2, 4)), [[0, 0, -np.inf, 0]]]), [
        "'x_test'", "1 non-finite", "row 2, column 2"]),
    (dict(x_train=np.full((6, 4), 1e300)), ["'x_train'", "float32 range", "Rescale"]),
    (dict(x_train=R.integers(0, 256, (6, 2, 2, 1), dtype=np.uint8)), [
        "'x_train'", r"\(N, d\)", "2-D", r"shape \(6, 2, 2, 1\)", "npz:PATH"]),
    (dict(x_test=np.zeros(3)), ["'x_test'", "2-D", r"reshape\(-1, 1\)"]),
    (dict(x_test=np.zeros((0, 4)), y_test=np.zeros(0, int)), ["'x_test'", "empty"]),
    (dict(x_test=np.zeros((3, 5))), ["4 features", "'x_test' has 5", "same dimension"]),
    (dict(y_train=np.array([0, 1, 2, 0, 1])), ["'x_train' has 6", "'y_train' has 5 labels"]),
    (dict(y_train=np.array([0, 1, 2, -1, 1, 2])), ["'y_train'", "negative", r"\[-1\]"]),
    (dict(y_train=np.array([0, 1, 2, 0, 1, 2.5])), ["'y_train'", "non-integer", "2.5"]),
    (dict(y_test=np.array([0, 1, 5])), ["sparse", r"classes \[3, 4\]"]),
])
def test_bad_feature_files(tmp_path, over, words):
    p = write(tmp_path / "bad.npz", **{**arrays(), **over})
    raises_naming(p, *words)


def test_dtype_problems_are_type_errors_too(tmp_path):
    p = write(tmp_path / "str.npz", **{**arrays(), "x_train": np.array([["a"] * 4] * 6)})
    raises_naming(p, "'x_train'", "real numbers", r"astype\(np\.float32\)")
    with pytest.raises(TypeError):
        load_features(p)
    p = write(tmp_path / "cplx.npz", **{**arrays(), "x_test": np.ones((3, 4), complex)})
    raises_naming(p, "'x_test'", "complex")


def test_unreadable_files_and_missing_paths(tmp_path):
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    raises_naming(empty, "empty", "0 bytes")
    html = tmp_path / "page.npz"
    html.write_bytes(b"<html>404</html>")
    raises_naming(html, "HTML")
    p = write(tmp_path / "nokeys.npz", x_train=np.zeros((2, 2)), y_train=np.zeros(2, int))
    raises_naming(p, "missing", "x_test")
    with pytest.raises(FileNotFoundError, match="features file not found.*features:PATH"):
        load_features(tmp_path / "absent.npz")
    write(tmp_path / "cache.npz", **arrays())
    with pytest.raises(FileNotFoundError, match="did you mean"):
        load_dataset(f"features:{tmp_path / 'cache'}")
    with pytest.raises(ValueError, match="needs a path"):
        load_dataset("features")
    with pytest.raises(TypeError, match="remap_labels"):
        load_features(tmp_path / "cache.npz", remap_labels="yes")
