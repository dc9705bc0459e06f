"""ads_jax.data.sources registry: name parsing, dispatch, registration, error messages."""

from __future__ import annotations

import numpy as np
import pytest

from ads_jax.data import Dataset, available_sources, load_dataset, register_source
from ads_jax.data.sources import _registry

from ._helpers import make_ds

BUILT_IN = ("digits", "npz", "features", "cifar10", "svhn_cropped", "fashion_mnist", "mnist",
            "tfds", "cinic10", "tiny_imagenet", "shifted")


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the source registry for one test (restored afterwards)."""
    monkeypatch.setattr(_registry, "_SOURCES", dict(_registry._SOURCES))
    monkeypatch.setattr(_registry, "_LOOKUP", dict(_registry._LOOKUP))


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


def test_built_in_sources_are_registered():
    assert available_sources() == BUILT_IN


def test_unknown_name_lists_every_registered_form():
    with pytest.raises(ValueError) as info:
        load_dataset("imagenet21k")
    msg = str(info.value)
    assert "Unknown dataset `name`='imagenet21k'" in msg
    for form in ("'digits'", "'npz:/path/file.npz'", "'features:/path/embeddings.npz'",
                 "'cifar10'", "'svhn_cropped[+extra]'", "'tfds:NAME'", "'cinic10:/dir'",
                 "'tiny_imagenet:/dir'", "'shifted:<any image name>'"):
        assert form in msg, form
    with pytest.raises(ValueError, match="Unknown dataset"):
        load_dataset("digits:/some/path")  # digits takes no argument
    with pytest.raises(ValueError, match="Unknown dataset"):
        load_dataset("digits+extra")  # no "+SUFFIX" form
    with pytest.raises(ValueError, match="needs a TFDS data set name"):
        load_dataset("tfds")
    with pytest.raises(ValueError, match="needs the data set to shift"):
        load_dataset("shifted:")
    with pytest.raises(TypeError, match="non-empty string"):
        load_dataset("")


def test_a_registered_source_gets_its_argument_verbatim(registry):
    calls = []
    ds = make_ds(C=3)

    def loader(arg, *, kind, data_dir, download, remap_labels):
        calls.append((arg, kind, data_dir, download, remap_labels))
        return ds

    register_source("mine", loader, takes_arg=True, aliases=("my-src",), splits=True,
                    remap_labels=True, usage="mine:SPEC")
    assert available_sources() == (*BUILT_IN, "mine")
    assert load_dataset(" MINE :A/b:C", data_dir="/d") is ds  # KIND case-insensitive
    load_dataset("my-src", download=False)
    load_dataset("mine+extra:x", remap_labels=True)
    assert calls == [("A/b:C", "mine", "/d", True, False), ("", "my-src", None, False, False),
                     ("x", "mine+extra", None, True, True)]
    with pytest.raises(ValueError) as info:
        load_dataset("nope")
    assert "'mine:SPEC'" in str(info.value)
    # digits (built in) still rejects remap_labels; shifted forwards it to the inner source
    with pytest.raises(ValueError, match="only to 'npz:PATH'"):
        load_dataset("digits", remap_labels=True)
    assert load_dataset("shifted:mine:q", remap_labels=True).name == f"shifted:{ds.name}"
    assert calls[-1] == ("q", "mine", None, True, True)


def test_sources_without_argument_splits_or_remapping(registry):
    ds = make_ds()
    register_source("plain", lambda arg, **kw: ds, takes_arg=False)
    assert load_dataset("Plain") is ds
    for bad in ("plain:x", "plain+x"):
        with pytest.raises(ValueError, match="Unknown dataset"):
            load_dataset(bad)
    with pytest.raises(ValueError, match="applies only to"):
        load_dataset("plain", remap_labels=True)


@pytest.mark.parametrize("name,kw,exc,match", [
    ("digits", {}, ValueError, "already registered"),
    ("fresh", dict(aliases=("cinic",)), ValueError, "already registered"),
    ("a:b", {}, ValueError, "without ':' or '\\+'"),
    ("a+b", {}, ValueError, "without ':' or '\\+'"),
    ("Upper", {}, ValueError, "lower-case"),
    ("", {}, ValueError, "non-empty"),
])
def test_register_source_errors(registry, name, kw, exc, match):
    with pytest.raises(exc, match=match):
        register_source(name, lambda arg, **k: None, takes_arg=False, **kw)


def test_register_source_needs_a_callable(registry):
    with pytest.raises(TypeError, match="callable"):
        register_source("fresh", "not a function", takes_arg=False)
    assert "fresh" not in available_sources()


def test_loader_results_are_datasets_of_either_representation(registry):
    feats = Dataset("e", np.zeros((4, 2), np.float32), np.zeros(4, np.int32),
                    np.zeros((2, 2), np.float32), np.zeros(2, np.int32), ("a",))
    register_source("emb", lambda arg, **kw: feats, takes_arg=False)
    assert not load_dataset("emb").has_images
    with pytest.raises(ValueError, match="features cannot be corrupted as images"):
        load_dataset("shifted:emb")
