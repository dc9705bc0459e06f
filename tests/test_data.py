"""Tests for ads_jax.data: loaders (digits, npz, TFDS mock, directory layouts)
and the scenario / pool builders (exact counts, provenance, determinism).

No network: the TFDS tests run under ``tfds.testing.mock_data`` and replace
``download_and_prepare`` by a function that fails the test if reached.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from ads_jax.config_engine import from_dict, to_dict
from ads_jax.data import (
    CLEAN,
    DIGITS_TRAIN_SIZE,
    MISLABELED,
    NOISY,
    OOD,
    PROVENANCE,
    SOURCE_DOMAIN,
    Dataset,
    ScenarioConfig,
    add_white_noise,
    build_scenario,
    convert_images,
    count_from_fraction,
    load_cinic10,
    load_dataset,
    load_npz,
    load_tiny_imagenet,
)


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


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def assert_scenarios_equal(a, b):
    for f in ("x_pool", "y_pool", "provenance", "labeled_init", "x_val", "y_val", "x_test",
              "y_test", "y_true", "noise_std", "source", "origin_index", "val_index",
              "test_index"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


# ----------------------------------------------------------------------------- digits


def test_digits_loader_matches_sklearn(digits):
    from sklearn.datasets import load_digits as sk

    b = sk()
    ds = digits
    assert ds.x_train.shape == (DIGITS_TRAIN_SIZE, 8, 8, 1) and ds.x_train.dtype == np.uint8
    assert ds.x_test.shape == (1797 - DIGITS_TRAIN_SIZE, 8, 8, 1)
    assert ds.y_train.dtype == np.int32 and ds.num_classes == 10
    assert ds.class_names == tuple(str(i) for i in range(10))
    ref = np.rint(b.images * 255 / 16).astype(np.uint8)
    perm = np.random.default_rng(0).permutation(1797)
    np.testing.assert_array_equal(ds.x_train[..., 0], ref[perm[:DIGITS_TRAIN_SIZE]])
    np.testing.assert_array_equal(ds.y_test, b.target[perm[DIGITS_TRAIN_SIZE:]])
    assert ds.x_train.max() == 255 and ds.x_train.min() == 0
    again = load_dataset("digits")
    np.testing.assert_array_equal(again.x_test, ds.x_test)


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


# ----------------------------------------------------------------------------- npz


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


def test_unknown_dataset_and_missing_paths(tmp_path):
    with pytest.raises(ValueError, match="Unknown dataset"):
        load_dataset("imagenet21k")
    with pytest.raises(ValueError, match="svhn_cropped\\+extra"):
        load_dataset("cifar10+extra")
    with pytest.raises(ValueError, match="needs a path"):
        load_dataset("cinic10")
    with pytest.raises(FileNotFoundError, match="CINIC-10"):
        load_dataset(f"cinic10:{tmp_path / 'missing'}")
    with pytest.raises(FileNotFoundError, match="wnids.txt"):
        load_dataset("tiny_imagenet", data_dir=tmp_path)


# ----------------------------------------------------------------------------- TFDS


@pytest.fixture
def no_download(monkeypatch):
    """Any attempt to download/prepare a TFDS data set fails the test."""
    import tensorflow_datasets as tfds

    def fail(*a, **k):
        raise AssertionError("a TFDS download/prepare was attempted")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", fail)
    return tfds


def test_tfds_data_source_under_mock_data(no_download, monkeypatch, tmp_path):
    tfds = no_download
    tf_loaded_before = "tensorflow" in sys.modules
    # mock_data mocks reading; we also declare the data "prepared" so that the
    # loader takes its normal read path (MockPolicy.USE_CODE needs no metadata
    # files and no TensorFlow).
    monkeypatch.setattr(tfds.core.DatasetBuilder, "is_prepared", lambda self: True)
    n = 6
    with tfds.testing.mock_data(num_examples=n, policy=tfds.testing.MockPolicy.USE_CODE):
        mn = load_dataset("mnist", data_dir=tmp_path)
        fm = load_dataset("fashion_mnist", data_dir=tmp_path)
        c10 = load_dataset("cifar10", data_dir=tmp_path)
        sv = load_dataset("svhn_cropped+extra", data_dir=tmp_path)
        ref = tfds.data_source("cifar10", split="test", download=False)
        ref = [ref[i] for i in range(n)]
    assert mn.x_train.shape == (n, 28, 28, 1) and mn.x_test.shape == (n, 28, 28, 1)
    assert mn.x_train.dtype == np.uint8 and mn.y_train.dtype == np.int32
    assert fm.class_names[:2] == ("T-shirt/top", "Trouser") and fm.num_classes == 10
    assert c10.x_train.shape == (n, 32, 32, 3) and c10.num_classes == 10
    np.testing.assert_array_equal(c10.x_test, np.stack([e["image"] for e in ref]))
    np.testing.assert_array_equal(c10.y_test, [int(e["label"]) for e in ref])
    assert sv.name == "svhn_cropped+extra" and sv.x_train.shape == (2 * n, 32, 32, 3)
    if not tf_loaded_before:
        assert "tensorflow" not in sys.modules, "reading a data source imported TensorFlow"
    # A scenario straight from a (mocked) TFDS name.
    with tfds.testing.mock_data(num_examples=40, policy=tfds.testing.MockPolicy.USE_CODE):
        sc = build_scenario(
            ScenarioConfig(dataset="mnist", initial_labeled=5, val_size=10, data_dir=str(tmp_path)),
            seed=0,
        )
    assert sc.x_pool.shape == (40, 28, 28, 1) and sc.x_test.shape == (30, 28, 28, 1)


def test_tfds_real_array_record_read_path(monkeypatch, tmp_path):
    """End to end without mocks: prepare a toy ArrayRecord data set (a Tensor
    image feature needs no TensorFlow to encode), then read it by name."""
    import tensorflow_datasets as tfds

    gen = {}

    class AdsJaxToyImages(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Tensor(shape=(5, 4, 3), dtype=np.uint8),
                "label": tfds.features.ClassLabel(names=["ant", "bee", "cow"])}))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples("train", 9),
                    "test": self._generate_examples("test", 4)}

        def _generate_examples(self, split, n):
            r = np.random.default_rng(len(split))
            gen[split] = []
            for i in range(n):
                ex = (r.integers(0, 256, (5, 4, 3), dtype=np.uint8), i % 3)
                gen[split].append(ex)
                yield i, {"image": ex[0], "label": ex[1]}

    AdsJaxToyImages(data_dir=tmp_path, file_format="array_record").download_and_prepare(
        file_format="array_record")
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare",
                        lambda *a, **k: pytest.fail("download attempted"))
    ds = load_dataset("tfds:ads_jax_toy_images", data_dir=tmp_path, download=False)
    assert ds.class_names == ("ant", "bee", "cow")

    def as_set(x, y):
        return sorted((im.tobytes(), int(l)) for im, l in zip(x, y))

    for split in ("train", "test"):  # TFDS shuffles records: compare as multisets
        x, y = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
        assert x.dtype == np.uint8 and y.dtype == np.int32 and x.shape[1:] == (5, 4, 3)
        assert as_set(x, y) == sorted((im.tobytes(), l) for im, l in gen[split])
    both = load_dataset("tfds:ads_jax_toy_images+test", data_dir=tmp_path, download=False)
    assert both.x_train.shape == (13, 5, 4, 3)
    assert as_set(both.x_train, both.y_train) == sorted(
        (im.tobytes(), l) for im, l in gen["train"] + gen["test"])


def test_tfds_prepare_without_tensorflow_errors(no_download, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # `import tensorflow` fails
    with pytest.raises(ImportError, match=r'pip install "ads_jax\[tensorflow\]"'):
        load_dataset("cifar10", data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="not prepared"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


# ----------------------------------------------------------------------------- directories


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


# ----------------------------------------------------------------------------- scenarios


def test_curated_scenario_sizes_disjoint_and_consistent(digits):
    cfg = ScenarioConfig(dataset="digits", initial_labeled=37, val_size=200, test_size=150,
                         pool_size=640)
    sc = build_scenario(cfg, seed=3, datasets={"digits": digits})
    L, P = 37, 640
    assert sc.x_pool.shape == (P, 8, 8, 1) and sc.y_pool.dtype == np.int32
    assert sc.provenance.dtype == np.int8 and np.all(sc.provenance == CLEAN)
    assert sc.labeled_init.dtype == np.int32 and sc.labeled_init.shape == (L,)
    assert np.all(np.diff(sc.labeled_init) > 0) and sc.labeled_init.max() < P
    assert sc.unlabeled_mask().sum() == P - L
    # pool rows are distinct train rows; images and labels are the dataset's
    assert np.unique(sc.origin_index).size == P and np.all(sc.source == 0)
    np.testing.assert_array_equal(sc.x_pool, digits.x_train[sc.origin_index])
    np.testing.assert_array_equal(sc.y_pool, digits.y_train[sc.origin_index])
    np.testing.assert_array_equal(sc.y_true, sc.y_pool)
    # validation and test: disjoint rows of the test split, exact sizes
    assert sc.x_val.shape[0] == 200 and sc.x_test.shape[0] == 150
    assert np.intersect1d(sc.val_index, sc.test_index).size == 0
    np.testing.assert_array_equal(sc.x_val, digits.x_test[sc.val_index])
    np.testing.assert_array_equal(sc.y_test, digits.y_test[sc.test_index])
    # seed set class-balanced: per-class counts differ by at most one
    counts = np.bincount(sc.y_pool[sc.labeled_init], minlength=10)
    assert counts.sum() == L and counts.max() - counts.min() <= 1
    assert sc.num_classes == 10 and sc.class_names == digits.class_names
    # default: test = everything left after validation
    full = build_scenario(ScenarioConfig(initial_labeled=10), 0, datasets={"digits": digits})
    assert full.x_val.shape[0] == 500 and full.x_test.shape[0] == 797 - 500
    assert full.pool_size == DIGITS_TRAIN_SIZE


def test_val_from_train_is_held_out_of_pool(digits):
    cfg = ScenarioConfig(initial_labeled=20, val_size=100, val_source="train")
    sc = build_scenario(cfg, 1, datasets={"digits": digits})
    assert np.intersect1d(sc.val_index, sc.origin_index).size == 0
    np.testing.assert_array_equal(sc.x_val, digits.x_train[sc.val_index])
    assert sc.pool_size == DIGITS_TRAIN_SIZE - 100 and sc.x_test.shape[0] == 797


def test_balanced_seed_set_with_a_rare_class():
    y = np.r_[np.zeros(2), np.ones(50), np.full(50, 2), np.full(50, 3)].astype(int)
    ds = make_ds(y_train=y, C=4)
    sc = build_scenario(ScenarioConfig(dataset="s", initial_labeled=30, val_size=10), 0,
                        datasets={"s": ds})
    counts = np.bincount(sc.y_pool[sc.labeled_init], minlength=4)
    # class 0 gives all it has, the other 28 are spread evenly
    assert counts[0] == 2 and sorted(counts[1:].tolist()) == [9, 9, 10]
    assert counts.sum() == 30
    unb = build_scenario(ScenarioConfig(dataset="s", initial_labeled=30, val_size=10,
                                        balanced_init=False), 0, datasets={"s": ds})
    assert unb.labeled_init.size == 30


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


def test_scenario_determinism_and_seed_dependence(digits):
    cfg = ScenarioConfig(kind="noisy", initial_labeled=30, val_size=200, pool_size=300)
    a = build_scenario(cfg, 11, datasets={"digits": digits})
    b = build_scenario(cfg, 11, datasets={"digits": digits})
    assert_scenarios_equal(a, b)
    c = build_scenario(cfg, 12, datasets={"digits": digits})
    assert not np.array_equal(a.origin_index, c.origin_index)
    assert not np.array_equal(a.val_index, c.val_index)
    assert not np.array_equal(a.noise_std, c.noise_std)


def test_scenario_from_npz_name(tmp_path):
    ds = make_ds(n_train=80, n_test=17)
    p = tmp_path / "s.npz"
    np.savez(p, x_train=ds.x_train, y_train=ds.y_train, x_test_partial=ds.x_test,
             y_test_partial=ds.y_test)
    sc = build_scenario(ScenarioConfig(dataset=f"npz:{p}", initial_labeled=5, val_size=10), 0)
    assert sc.x_val.shape[0] == 10 and sc.x_test.shape[0] == 7 and sc.pool_size == 80


def test_config_json_round_trip():
    cfg = ScenarioConfig(dataset="cifar10", kind="domain_shift", initial_labeled=5000,
                         source_datasets=["cinic10:/d", "cifar10"], source_weights=[3, 1])
    assert cfg.source_datasets == ("cinic10:/d", "cifar10")  # lists normalised to tuples
    back = from_dict(ScenarioConfig, json.loads(json.dumps(to_dict(cfg))))
    assert back == cfg
    with pytest.raises(ValueError, match="Unknown ScenarioConfig"):
        from_dict(ScenarioConfig, {"datset": "digits"})
    assert PROVENANCE == ("clean", "noisy", "ood", "mislabeled", "source_domain")


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(kind="shifted"), ValueError, "kind"),
        (dict(noise_fraction=1.5), ValueError, "noise_fraction"),
        (dict(noise_fraction=-0.1), ValueError, "noise_fraction"),
        (dict(kind="cheap", mislabel_fraction=1.2), ValueError, "mislabel_fraction"),
        (dict(kind="cheap", mislabel_fraction=0.6, ood_fraction=0.6, ood_dataset="x"),
         ValueError, "exceeds 1"),
        (dict(kind="cheap", ood_fraction=0.2), ValueError, "ood_dataset"),
        (dict(kind="cheap"), ValueError, "mislabel_fraction"),
        (dict(mislabel_fraction=0.2), ValueError, "only used by kind='cheap'"),
        (dict(source_datasets=("a",)), ValueError, "only used by kind='domain_shift'"),
        (dict(kind="domain_shift"), ValueError, "source_datasets"),
        (dict(kind="domain_shift", source_datasets=("a", "b"), source_weights=(1,)),
         ValueError, "one weight per source"),
        (dict(initial_labeled=0), ValueError, "initial_labeled"),
        (dict(initial_labeled=2.5), TypeError, "initial_labeled"),
        (dict(initial_labeled=50, pool_size=50), ValueError, "pool_size"),
        (dict(noise_beta=(0, 1)), ValueError, "noise_beta"),
        (dict(noisy_initial=True), ValueError, "only used by kind='noisy'"),
        (dict(kind="noisy", noisy_initial=1), TypeError, "noisy_initial"),
        (dict(val_source="both"), ValueError, "val_source"),
    ],
)
def test_config_errors(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ScenarioConfig(**kwargs)


def test_build_errors_for_sizes_beyond_the_data(digits):
    d = {"digits": digits}
    with pytest.raises(ValueError, match="val_size"):
        build_scenario(ScenarioConfig(val_size=797), 0, datasets=d)
    with pytest.raises(ValueError, match="test_size"):
        build_scenario(ScenarioConfig(val_size=500, test_size=298), 0, datasets=d)
    with pytest.raises(ValueError, match="initial_labeled"):
        build_scenario(ScenarioConfig(initial_labeled=1000), 0, datasets=d)
    with pytest.raises(ValueError, match="pool_size"):
        build_scenario(ScenarioConfig(pool_size=1001), 0, datasets=d)
    with pytest.raises(ValueError, match="seed"):
        build_scenario(ScenarioConfig(), -1, datasets=d)
    with pytest.raises(TypeError, match="cfg"):
        build_scenario({"dataset": "digits"}, 0, datasets=d)
    small_ood = make_ds("o", n_train=3, shape=(8, 8, 1))
    with pytest.raises(ValueError, match="OOD"):
        build_scenario(ScenarioConfig(kind="cheap", ood_dataset="o", ood_fraction=0.5,
                                      initial_labeled=10), 0, datasets={**d, "o": small_ood})
    with pytest.raises(ValueError, match="Unknown dataset"):
        build_scenario(ScenarioConfig(dataset="nonexistent"), 0)
