"""ads_jax.data.sources.folders: CINIC-10 / Tiny ImageNet directory layouts, image conversion."""

from __future__ import annotations

import numpy as np
import pytest

from ads_jax.data import convert_images, load_cinic10, load_dataset, load_tiny_imagenet


def _write(path, arr):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(path)


def test_cinic10_directory_loader(tmp_path):
    r = np.random.default_rng(2)
    classes = ["bird", "airplane", "cat"]  # created unsorted; loader sorts
    want = {}
    for split, per in (("train", 3), ("valid", 1), ("test", 2)):
        xs, ys = [], []
        for c, cls in enumerate(sorted(classes)):
            for j in range(per):
                img = r.integers(0, 256, (4, 4, 3), dtype=np.uint8)
                if split == "train" and cls == "cat" and j == 0:  # a greyscale PNG
                    g = r.integers(0, 256, (4, 4, 1), dtype=np.uint8)
                    _write(tmp_path / split / cls / f"im{j}.png", g)
                    img = np.repeat(g, 3, axis=-1)
                else:
                    _write(tmp_path / split / cls / f"im{j}.png", img)
                xs.append(img)
                ys.append(c)
        want[split] = (np.stack(xs), np.asarray(ys))
    (tmp_path / "train" / "README.txt").write_text("not an image dir")  # ignored file
    ds = load_dataset(f"cinic10:{tmp_path}")
    assert ds.class_names == ("airplane", "bird", "cat")
    np.testing.assert_array_equal(ds.x_train, want["train"][0])
    np.testing.assert_array_equal(ds.y_train, want["train"][1])
    np.testing.assert_array_equal(ds.x_test, want["test"][0])
    both = load_cinic10(tmp_path, train_splits=("train", "valid"))
    assert both.x_train.shape == (12, 4, 4, 3)
    np.testing.assert_array_equal(both.y_train[9:], want["valid"][1])
    _write(tmp_path / "test" / "cat" / "big.png", np.zeros((5, 5, 3), np.uint8))
    with pytest.raises(ValueError, match="one size"):
        load_cinic10(tmp_path)


def test_tiny_imagenet_directory_loader(tmp_path):
    from PIL import Image

    r = np.random.default_rng(3)
    wnids = ["n02", "n01"]  # order of wnids.txt defines the label ids
    (tmp_path / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (tmp_path / "words.txt").write_text("n01\tgoldfish, Carassius auratus\nn02\tcat\nn99\tx\n")
    files = []
    for w in wnids:
        for j in range(2):
            f = tmp_path / "train" / w / "images" / f"{w}_{j}.JPEG"
            shape = (6, 6, 1) if (w, j) == ("n01", 1) else (6, 6, 3)  # one grey JPEG
            _write(f, r.integers(0, 256, shape, dtype=np.uint8))
            files.append(f)
    ann = []
    for j, w in enumerate(["n01", "n02", "n01"]):
        _write(tmp_path / "val" / "images" / f"val_{j}.JPEG",
               r.integers(0, 256, (6, 6, 3), dtype=np.uint8))
        ann.append(f"val_{j}.JPEG\t{w}\t0\t0\t5\t5")
    (tmp_path / "val" / "val_annotations.txt").write_text("\n".join(ann) + "\n")

    ds = load_tiny_imagenet(tmp_path)
    assert ds.class_names == ("cat", "goldfish")
    np.testing.assert_array_equal(ds.y_train, [0, 0, 1, 1])
    np.testing.assert_array_equal(ds.y_test, [1, 0, 1])
    ref = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    np.testing.assert_array_equal(ds.x_train, ref)  # JPEG decoded as PIL decodes it
    assert ds.x_test.shape == (3, 6, 6, 3)
    (tmp_path / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn77\t0\t0\t1\t1\n")
    with pytest.raises(ValueError, match="n77"):
        load_tiny_imagenet(tmp_path)


def test_convert_images():
    from PIL import Image

    r = np.random.default_rng(4)
    g = r.integers(0, 256, (3, 5, 5, 1), dtype=np.uint8)
    np.testing.assert_array_equal(convert_images(g, channels=3), np.repeat(g, 3, -1))
    rgb = r.integers(0, 256, (3, 5, 5, 3), dtype=np.uint8)
    luma = convert_images(rgb, channels=1)
    ref = np.stack([np.asarray(Image.fromarray(im).convert("L")) for im in rgb])[..., None]
    assert np.abs(luma.astype(int) - ref).max() <= 1
    const = np.full((2, 4, 4, 3), 77, np.uint8)
    out = convert_images(const, size=(8, 6))
    assert out.shape == (2, 8, 6, 3) and np.all(out == 77)
