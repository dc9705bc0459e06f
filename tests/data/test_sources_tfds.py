"""ads_jax.data.sources.tfds: TFDS data sets through ``tfds.data_source``.

No network: the tests run under ``tfds.testing.mock_data`` or on a toy data set
prepared in ``tmp_path``, and replace ``download_and_prepare`` by a function
that fails the test if reached.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from ads_jax.data import ScenarioConfig, build_scenario, load_dataset


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
        # TFDS looks up the code path of a builder defined in a package (this test
        # module lives in tests/data/) through `importlib_resources`, which it does
        # not install on Python >= 3.9; a module name without a dot skips that.
        __module__ = "ads_jax_toy_images"
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


def test_multi_process_prepares_once_on_process_0(monkeypatch):
    """A multi-host run never prepares a TFDS data set concurrently: process 0 prepares,
    the others wait at a barrier and read; a data_dir not shared by them is a clear error."""
    import tensorflow_datasets as tfds

    from ads_jax.data.sources import tfds as T

    prepared, calls = {"done": False}, []

    class FakeBuilder:
        data_dir = "/fake/tfds"

        def is_prepared(self):
            return prepared["done"]

        def download_and_prepare(self, **kw):
            calls.append("prepare")
            prepared["done"] = True

    monkeypatch.setattr(tfds, "builder", lambda *a, **k: FakeBuilder())
    monkeypatch.setattr(T, "process_count", lambda: 2)
    monkeypatch.setattr(T, "barrier", lambda name: calls.append(f"barrier {name}"))
    monkeypatch.setattr(T, "_require_tensorflow", lambda name: None)
    # process 1: waits, never prepares; the data set is still missing -> a clear error
    monkeypatch.setattr(T, "is_primary", lambda: False)
    with pytest.raises(FileNotFoundError, match="shared by every process"):
        T.load_tfds("cifar10")
    assert calls == ["barrier tfds-prepared-cifar10"]
    # process 0: prepares, then meets the others at the barrier
    calls.clear()
    monkeypatch.setattr(T, "is_primary", lambda: True)
    monkeypatch.setattr(FakeBuilder, "as_data_source", lambda self, split: 1 / 0, raising=False)
    with pytest.raises(ZeroDivisionError):  # past preparation: reading starts
        T.load_tfds("cifar10")
    assert calls == ["prepare", "barrier tfds-prepared-cifar10"]
