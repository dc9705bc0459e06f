"""Unreadable and inconsistent data files: every bad ``.npz`` (or class-names
JSON beside it) raises one clear error naming the file, the problem and the
fix, instead of a raw ``BadZipFile`` / ``EOFError`` / pickle / JSON /
``OverflowError`` message; sparse labels are rejected or, on request,
remapped (``remap_labels=True``). Plus the npz loader's good paths
(RGB / greyscale / partial test split / class names / save_npz round trip).

Everything is written in ``tmp_path``; no network, no local data copies.
"""

from __future__ import annotations

import json
import re
import zipfile

import numpy as np
import pytest

from ads_jax.data import DataFileError, load_dataset, load_npz

from ._helpers import good_arrays, images, write

FIX = r"re-download|np\.savez|Dataset\.save_npz"


def test_npz_loader_rgb_grey_partial_and_names(tmp_path):
    r = np.random.default_rng(1)
    x, y = r.integers(0, 256, (20, 5, 6, 3), dtype=np.uint8), r.integers(0, 4, 20)
    xt, yt = r.integers(0, 256, (7, 5, 6, 3), dtype=np.uint8), r.integers(0, 4, 7)
    p = tmp_path / "rgb.npz"
    np.savez(p, x_train=x, y_train=y, x_test=xt, y_test=yt)
    ds = load_dataset(f"npz:{p}")
    np.testing.assert_array_equal(ds.x_train, x)
    np.testing.assert_array_equal(ds.y_test, yt)
    assert ds.y_train.dtype == np.int32 and ds.name == "rgb"
    assert ds.class_names == tuple(str(i) for i in range(int(max(y.max(), yt.max())) + 1))

    # greyscale (N, H, W) + the x_test_partial layout of ../shared CIFAR-10 + JSON names
    g = r.integers(0, 256, (12, 5, 5), dtype=np.uint8)
    p2 = tmp_path / "cifarlike.npz"
    np.savez(p2, x_train=g, y_train=np.arange(12) % 3, x_test_partial=g[:4],
             y_test_partial=np.arange(4) % 3, y_test_all=np.zeros(100, np.int64))
    (tmp_path / "cifarlike.json").write_text(json.dumps({"label_names": ["a", "b", "c"]}))
    ds2 = load_dataset("npz", data_dir=p2)
    assert ds2.x_train.shape == (12, 5, 5, 1) and ds2.x_test.shape == (4, 5, 5, 1)
    np.testing.assert_array_equal(ds2.x_test[..., 0], g[:4])
    assert ds2.class_names == ("a", "b", "c")

    # save_npz round trip keeps names and arrays
    out = ds2.save_npz(tmp_path / "round.npz")
    ds3 = load_npz(out)
    assert ds3.class_names == ds2.class_names
    np.testing.assert_array_equal(ds3.x_train, ds2.x_train)
    np.testing.assert_array_equal(ds3.y_test, ds2.y_test)


def test_npz_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_dataset(f"npz:{tmp_path / 'nope.npz'}")
    p = tmp_path / "bad.npz"
    np.savez(p, x_train=np.zeros((2, 3, 3), np.uint8), y_train=np.zeros(2, int))
    with pytest.raises(ValueError, match="x_test"):
        load_npz(p)
    np.savez(p, x_train=np.zeros((2, 3, 3)), y_train=np.zeros(2, int),
             x_test=np.zeros((2, 3, 3)), y_test=np.zeros(2, int))
    with pytest.raises(TypeError, match="uint8"):
        load_npz(p)
    np.savez(p, x_train=np.zeros((2, 3, 3), np.uint8), y_train=np.array([0, 5]),
             x_test=np.zeros((1, 3, 3), np.uint8), y_test=np.zeros(1, int),
             class_names=np.array(["a", "b"]))
    with pytest.raises(ValueError, match="class names"):
        load_npz(p)


@pytest.fixture
def good_npz(tmp_path):
    return write(tmp_path / "good.npz", **good_arrays())


def raises_naming(path, *words, exc=DataFileError, remap_labels=False, via_name=False,
                  names=None):
    """Load `path`; check the exception type and that the message names the
    file (`names`, default `path`) and each of `words` (regular expressions,
    case-insensitive); return the message."""
    with pytest.raises(exc) as info:
        if via_name:
            load_dataset(f"npz:{path}", remap_labels=remap_labels)
        else:
            load_npz(path, remap_labels=remap_labels)
    msg = str(info.value)
    assert str(names or path) in msg, msg
    rest = msg.replace(str(names or path), "<FILE>")  # the words must not come from the path
    for w in words:
        assert re.search(w, rest, re.IGNORECASE), (w, msg)
    assert isinstance(info.value, ValueError)
    return msg


def test_good_file_loads(good_npz):  # the baseline the corrupt variants are cut from
    ds = load_npz(good_npz)
    assert ds.num_classes == 3 and ds.x_train.shape == (6, 4, 4, 3)
    assert ds.original_labels is None


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.npz"
    p.write_bytes(b"")
    raises_naming(p, "empty", "0 bytes", FIX)
    raises_naming(p, "empty", via_name=True)


@pytest.mark.parametrize("frac", [0.02, 0.25, 0.5, 0.75, 0.98])
def test_truncated_file(good_npz, tmp_path, frac):
    data = good_npz.read_bytes()
    p = tmp_path / "cut.npz"
    p.write_bytes(data[: int(len(data) * frac)])
    raises_naming(p, r"truncated|damaged|corrupt", FIX)


def test_every_truncation_point_gives_one_clear_error(good_npz, tmp_path):
    data = good_npz.read_bytes()
    p = tmp_path / "cut.npz"
    for cut in range(0, len(data), 13):
        p.write_bytes(data[:cut])
        with pytest.raises(DataFileError, match=re.escape(str(p))):
            load_npz(p)


@pytest.mark.parametrize("content,words", [
    (bytes(np.random.default_rng(5).integers(0, 256, 500, dtype=np.uint8)),
     [r"not an \.npz \(zip\) archive"]),
    (b"<!DOCTYPE html><html><body>404 Not Found</body></html>", ["HTML", "download"]),
    (b"PK\x03\x04" + b"\x00" * 100, [r"zip archive", "truncated|damaged"]),
])
def test_not_a_zip(tmp_path, content, words):
    p = tmp_path / "junk.npz"
    p.write_bytes(content)
    raises_naming(p, *words, FIX)


def test_single_npy_saved_as_npz(tmp_path):
    p = tmp_path / "single.npz"
    with open(p, "wb") as f:
        np.save(f, images(3))
    raises_naming(p, r"single \.npy", r"np\.savez")


def test_zip_with_corrupt_member(good_npz, tmp_path):
    data = bytearray(good_npz.read_bytes())
    with zipfile.ZipFile(good_npz) as zf:
        info = zf.getinfo("x_train.npy")
    # flip a byte in the stored pixel data: the zip directory is intact, the
    # member's CRC check fails when the array is read
    pos = info.header_offset + 30 + len(info.filename) + info.file_size - 5
    data[pos] ^= 0xFF
    p = tmp_path / "crc.npz"
    p.write_bytes(bytes(data))
    raises_naming(p, "'x_train'", "corrupt", "CRC", FIX)


def test_zip_member_that_is_not_npy(tmp_path):
    p = tmp_path / "badmember.npz"
    a = good_arrays()
    with zipfile.ZipFile(p, "w") as zf:
        for k in ("x_train", "x_test", "y_test"):
            with zf.open(f"{k}.npy", "w") as f:
                np.save(f, a[k])
        zf.writestr("y_train.npy", b"this is not an npy array")
    raises_naming(p, "'y_train'", "corrupt", r"\.npy header", FIX)


def test_missing_keys(tmp_path):
    a = good_arrays()
    p = write(tmp_path / "nokeys.npz", x_train=a["x_train"], y_train=a["y_train"],
              x_tst=a["x_test"])
    msg = raises_naming(p, "missing", "x_test", "y_test", FIX)
    assert "x_tst" in msg  # found keys listed
    p2 = write(tmp_path / "notrain.npz", x_test=a["x_test"], y_test=a["y_test"])
    raises_naming(p2, r"missing \['x_train', 'y_train'\]")


def test_object_array_needing_pickle(tmp_path):
    a = good_arrays()
    a["y_train"] = np.array([0, 1, 2, 0, 1, "2"], dtype=object)
    p = write(tmp_path / "pickled.npz", **a)
    raises_naming(p, "'y_train'", "object array", "never unpickles", "arbitrary code",
                  r"dtype=str", r"save_npz")
    a = good_arrays()
    p2 = write(tmp_path / "pickled_names.npz", class_names=np.array(["a", "b", 3], object), **a)
    raises_naming(p2, "'class_names'", "never unpickles")


def test_wrong_rank_and_dtype(tmp_path):
    a = good_arrays()
    p = write(tmp_path / "rank.npz", **{**a, "x_train": images(6).reshape(6, -1)})
    raises_naming(p, "'x_train'", r"\(N, H, W, C\)", r"shape \(6, 48\)", FIX)
    p = write(tmp_path / "yrank.npz", **{**a, "y_train": a["y_train"][:, None]})
    raises_naming(p, "'y_train'", "1-D", r"reshape\(-1\)")
    p = write(tmp_path / "onehot.npz", **{**a, "y_train": np.eye(3)[a["y_train"]]})
    raises_naming(p, "'y_train'", "one-hot", "argmax")
    # float images: a DataFileError that is also a TypeError (as before)
    p = write(tmp_path / "floatimg.npz", **{**a, "x_test": a["x_test"] / 255.0})
    with pytest.raises(TypeError, match="uint8"):
        load_npz(p)
    raises_naming(p, "'x_test'", "uint8", "float64", r"astype\(np\.uint8\)")
    p = write(tmp_path / "strlab.npz", **{**a, "y_test": np.array(["a", "b", "c"])})
    raises_naming(p, "'y_test'", "integer labels", "string labels", "class_names")
    p = write(tmp_path / "shape.npz", **{**a, "x_test": images(3, (5, 4, 3))})
    raises_naming(p, "same", r"\(4, 4, 3\)", r"\(5, 4, 3\)")
    p = write(tmp_path / "emptysplit.npz", **{**a, "x_test": images(0), "y_test": np.zeros(0, int)})
    raises_naming(p, "'x_test'", "empty")


def test_mismatched_lengths(tmp_path):
    a = good_arrays()
    p = write(tmp_path / "len.npz", **{**a, "y_train": a["y_train"][:-1]})
    raises_naming(p, "'x_train' has 6 images", "'y_train' has 5 labels", FIX)
    p = write(tmp_path / "lenpartial.npz", x_train=a["x_train"], y_train=a["y_train"],
              x_test_partial=a["x_test"], y_test_partial=a["y_test"][:2])
    raises_naming(p, "'x_test_partial' has 3 images", "'y_test_partial' has 2")


def test_missing_file_stays_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "absent.npz"))):
        load_npz(tmp_path / "absent.npz")
    write(tmp_path / "cache.npz", **good_arrays())  # np.savez adds the suffix
    with pytest.raises(FileNotFoundError, match="did you mean"):
        load_npz(tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match="directory"):
        load_npz(tmp_path)


@pytest.mark.parametrize("text,words", [
    ('{"label_names": ["a", "b",', ["not valid JSON", "line 1"]),
    ("\xff\xfe garbage", ["not valid JSON"]),
    ('{"label_names": ["a", 2, "c"]}', ["list of strings", "entry 1 is int"]),
    ('{"label_names": "a,b,c"}', ["non-empty list of strings", "got str"]),
    ('{"label_names": []}', ["non-empty list"]),
    ('"airplane"', ["holds a JSON str"]),
    ('{"label_names": ["a", "b"]}', ["labels up to 2", "only 2 class names"]),
])
def test_bad_class_names_json(tmp_path, text, words):
    p = write(tmp_path / "named.npz", **good_arrays())
    meta = tmp_path / "named.json"
    if text.startswith("\xff"):
        meta.write_bytes(b"\xff\xfe garbage")
    else:
        meta.write_text(text)
    msg = raises_naming(p, *words, names=meta)
    assert re.search(r"list of .*strings", msg), msg  # says what is expected
    raises_naming(p, *words, names=meta, via_name=True)


def test_class_names_json_forms_that_work(tmp_path):
    p = write(tmp_path / "named.npz", **good_arrays())
    meta = tmp_path / "named.json"
    meta.write_text(json.dumps(["x", "y", "z"]))  # a bare list
    assert load_npz(p).class_names == ("x", "y", "z")
    meta.write_text(json.dumps({"label_names": ["x", "y", "z", "w"]}))  # names fix C = 4
    assert load_npz(p).num_classes == 4
    meta.write_text(json.dumps({"dataset": "toy", "sha256": "00"}))  # other metadata
    assert load_npz(p).class_names == ("0", "1", "2")


def test_bad_class_names_array_in_file(tmp_path):
    a = good_arrays()
    p = write(tmp_path / "numnames.npz", class_names=np.arange(3), **a)
    raises_naming(p, "'class_names'", "1-D array of strings", "int64")
    p = write(tmp_path / "fewnames.npz", class_names=np.array(["a", "b"]), **a)
    raises_naming(p, "labels up to 2", "only 2 class names", "'class_names'")


def test_sparse_labels_rejected_naming_missing_classes(tmp_path):
    p = write(tmp_path / "sparse.npz", **good_arrays(y_train=(0, 1, 2, 1000, 2, 1)))
    msg = raises_naming(p, "sparse", r"\[0, 1, 2, 1000\]", "1,001-class",
                        r"remap_labels=True")
    # at most ten missing classes are listed, with their count
    assert "[3, 4, 5, 6, 7, 8, 9, 10, 11, 12, ...] (997 in all)" in msg
    assert "13" not in msg.split("(997")[0].split("classes")[1]
    raises_naming(p, "sparse", via_name=True)


def test_one_huge_label_rejected_without_building_the_classes(tmp_path):
    p = write(tmp_path / "huge.npz", **good_arrays(y_train=(0, 1, 5_000_000, 1, 0, 2),
                                                   y_test=(0, 1, 2)))
    raises_naming(p, "sparse", "5,000,000", r"4,999,997 in all", "5,000,001-class")
    # near the int32 limit: still a fast, clear error (no 2**31-entry array)
    p2 = write(tmp_path / "huge2.npz", **good_arrays(y_train=(0, 1, 2**31 - 1, 1, 0, 2),
                                                     y_test=(0, 1, 2)))
    raises_naming(p2, "sparse", "2,147,483,647")


@pytest.mark.parametrize("label", [2**31, 2**40, 2**63 - 1])
def test_labels_beyond_int32_rejected(tmp_path, label):
    p = write(tmp_path / "big.npz", **good_arrays(y_train=(0, 1, 2, label, 0, 1)))
    raises_naming(p, "'y_train'", "int32 range", str(label), r"remap_labels=True")


def test_uint64_label_beyond_int64(tmp_path):
    y = np.array([0, 1, 2, 2**64 - 1, 0, 1], dtype=np.uint64)
    p = write(tmp_path / "u64.npz", **good_arrays(y_train=y))
    raises_naming(p, "int32 range")
    raises_naming(p, "int64 range", remap_labels=True)


def test_negative_labels_rejected(tmp_path):
    p = write(tmp_path / "neg.npz", **good_arrays(y_train=(0, 1, 2, -1, -1, 2)))
    raises_naming(p, "'y_train'", "2 negative", r"\[-1\]", "unlabelled", r"remap_labels")
    p = write(tmp_path / "negtest.npz", **good_arrays(y_test=(0, -7, 1)))
    raises_naming(p, "'y_test'", "negative", r"\[-7\]")


def test_float_labels(tmp_path):
    p = write(tmp_path / "frac.npz", **good_arrays(y_train=(0.0, 1.0, 2.0, 1.5, 0.0, 2.25)))
    msg = raises_naming(p, "'y_train'", "2 non-integer", "1.5", "2.25", r"astype")
    with pytest.raises(TypeError):
        load_npz(p)
    assert "float64" in msg
    raises_naming(p, "non-integer", remap_labels=True)  # remapping does not round floats
    p = write(tmp_path / "nan.npz", **good_arrays(y_test=(0.0, np.nan, 1.0)))
    raises_naming(p, "'y_test'", "non-finite")
    # whole-number floats are accepted as labels
    p = write(tmp_path / "whole.npz", **good_arrays(y_train=(0.0, 1.0, 2.0, 1.0, 0.0, 2.0)))
    ds = load_npz(p)
    assert ds.y_train.dtype == np.int32
    np.testing.assert_array_equal(ds.y_train, [0, 1, 2, 1, 0, 2])


def test_test_labels_absent_from_train(tmp_path):
    p = write(tmp_path / "testonly.npz", **good_arrays(y_train=(0, 1, 1, 0, 1, 0),
                                                       y_test=(0, 2, 2)))
    raises_naming(p, "'y_test'", r"label\(s\) \[2\]", "never occur in 'y_train'",
                  r"2 test point")
    ds = load_npz(p, remap_labels=True)  # remapping: a class of its own
    assert ds.num_classes == 3 and ds.original_labels == (0, 1, 2)


def test_remap_round_trip(tmp_path):
    y_tr, y_te = np.array([3, 7, 1000, 7, 3, 1000]), np.array([1000, 3, 7])
    p = write(tmp_path / "remap.npz", **good_arrays(y_train=y_tr, y_test=y_te))
    raises_naming(p, "sparse")  # not without asking
    ds = load_npz(p, remap_labels=True)
    np.testing.assert_array_equal(ds.y_train, [0, 1, 2, 1, 0, 2])
    np.testing.assert_array_equal(ds.y_test, [2, 0, 1])
    assert ds.y_train.dtype == np.int32 and ds.num_classes == 3
    assert ds.original_labels == (3, 7, 1000)
    assert ds.class_names == ("3", "7", "1000")
    orig = np.asarray(ds.original_labels)
    np.testing.assert_array_equal(orig[ds.y_train], y_tr)  # originals recoverable
    np.testing.assert_array_equal(orig[ds.y_test], y_te)
    # same through load_dataset, and save_npz / load_npz keeps the originals
    ds2 = load_dataset(f"npz:{p}", remap_labels=True)
    assert ds2.original_labels == (3, 7, 1000)
    back = load_npz(ds.save_npz(tmp_path / "saved.npz"))
    assert back.original_labels == (3, 7, 1000) and back.class_names == ds.class_names
    np.testing.assert_array_equal(back.y_train, ds.y_train)


def test_remap_negative_and_huge_and_explicit_names(tmp_path):
    p = write(tmp_path / "neghuge.npz", **good_arrays(y_train=(-1, 2**40, 5, 5, -1, 2**40),
                                                      y_test=(5, -1, 2**40)))
    ds = load_npz(p, remap_labels=True)
    assert ds.original_labels == (-1, 5, 2**40)
    np.testing.assert_array_equal(ds.y_test, [1, 0, 2])
    # explicit class names are looked up by the original label
    p = write(tmp_path / "names.npz", class_names=np.array([f"n{i}" for i in range(10)]),
              **good_arrays(y_train=(2, 9, 4, 2, 9, 4), y_test=(4, 4, 9)))
    ds = load_npz(p, remap_labels=True)
    assert ds.class_names == ("n2", "n4", "n9") and ds.original_labels == (2, 4, 9)
    np.testing.assert_array_equal(ds.y_train, [0, 2, 1, 0, 2, 1])
    p = write(tmp_path / "names_neg.npz", class_names=np.array(["a", "b", "c"]),
              **good_arrays(y_train=(-1, 0, 1, 2, 0, 1)))
    raises_naming(p, r"\[-1, 2\]", "3 class names", remap_labels=True)


def test_remap_dense_labels_is_identity(good_npz):
    a, b = load_npz(good_npz), load_npz(good_npz, remap_labels=True)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    assert b.original_labels == (0, 1, 2) and a.class_names == b.class_names


def test_remap_keyword_checks():
    with pytest.raises(TypeError, match="remap_labels"):
        load_npz("x.npz", remap_labels="yes")
    with pytest.raises(TypeError, match="remap_labels"):
        load_dataset("npz:x.npz", remap_labels=1)
    with pytest.raises(ValueError, match="only to 'npz:PATH'"):
        load_dataset("digits", remap_labels=True)
