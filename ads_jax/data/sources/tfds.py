"""TFDS image classification data sets, read through ``tfds.data_source``.

Names: the short names of `TFDS_DATASETS` (``"cifar10"``, ``"svhn_cropped"``,
``"fashion_mnist"``, ``"mnist"``; ``"svhn_cropped+extra"`` appends SVHN's
531,131 'extra' images to train) and ``"tfds:NAME"`` / ``"tfds:NAME+SPLIT"``
for any other TFDS data set with ``image`` and ``label`` features.

Reading prepared data needs no TensorFlow (ArrayRecord files); *preparing*
it (the first download) does: ``pip install "ads_jax[tensorflow]"``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ads_jax.distributed import barrier, is_primary, process_count
from ads_jax.data.dataset import Dataset
from ads_jax.data.sources._registry import register_source

__all__ = ["load_tfds", "TFDS_DATASETS"]

#: Short names accepted by `load_dataset` that map to TFDS data sets.
TFDS_DATASETS = ("cifar10", "svhn_cropped", "fashion_mnist", "mnist")

_TF_HINT = 'pip install "ads_jax[tensorflow]"'


def load_tfds(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    train_splits: Sequence[str] = ("train",),
    test_split: str = "test",
    download: bool = True,
) -> Dataset:
    """Load a TFDS image classification data set through its data source.

    Reads the prepared ArrayRecord files with ``builder.as_data_source``
    (random access, no TensorFlow needed). If the data set is not prepared in
    ``data_dir`` it is downloaded and prepared first, which needs TensorFlow
    (``pip install "ads_jax[tensorflow]"``); the check runs before anything
    is downloaded.

    Args:
      name: TFDS name with ``image`` (H, W, C) uint8 and ``label`` features,
        e.g. ``"cifar10"``, ``"svhn_cropped"``, ``"fashion_mnist"``.
      data_dir: TFDS data directory (None: TFDS default).
      train_splits: splits concatenated, in order, into the train split, e.g.
        ``("train", "extra")`` for SVHN with its extra images.
      test_split: the split used as test split.
      download: prepare a missing data set (True) or raise
        ``FileNotFoundError`` (False).

    Returns:
      `Dataset` with the TFDS label names as class names.
    """
    import tensorflow_datasets as tfds  # heavy: loaded only for TFDS data sets

    train_splits = tuple(train_splits)
    if not train_splits:
        raise ValueError("`train_splits` must name at least one split, e.g. ('train',).")
    builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
    # Several processes (a multi-host run) never prepare concurrently: process 0
    # prepares, the others wait at a barrier and then read what it wrote.
    if not builder.is_prepared() and is_primary():
        if not download:
            raise FileNotFoundError(
                f"TFDS data set '{name}' is not prepared in '{builder.data_dir}'. Pass "
                f"download=True (needs TensorFlow: {_TF_HINT}), run `tfds build {name} "
                "--file_format=array_record`, or point `data_dir` at prepared data."
            )
        _require_tensorflow(name)
        builder.download_and_prepare(file_format="array_record")
    if process_count() > 1:
        barrier(f"tfds-prepared-{name}")
        builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
        if not builder.is_prepared():
            raise FileNotFoundError(
                f"TFDS data set '{name}' is not prepared in '{builder.data_dir}' after process 0 "
                "prepared it: its data_dir must be shared by every process (or prepare it first "
                f"with `tfds build {name} --file_format=array_record`).")
    splits = [*train_splits, test_split]
    sources = builder.as_data_source(split=splits)
    features = builder.info.features
    if "image" not in features or "label" not in features:
        raise ValueError(
            f"TFDS data set '{name}' has features {list(features.keys())}; "
            "an 'image' and a 'label' feature are needed."
        )
    class_names = tuple(str(s) for s in features["label"].names)
    xs, ys = zip(*(_read_source(src, f"{name}/{s}") for src, s in zip(sources, splits)))
    return Dataset(
        name=name + "".join(f"+{s}" for s in train_splits[1:]),
        x_train=np.concatenate(xs[:-1]) if len(xs) > 2 else xs[0],
        y_train=np.concatenate(ys[:-1]) if len(ys) > 2 else ys[0],
        x_test=xs[-1],
        y_test=ys[-1],
        class_names=class_names,
    )


def _require_tensorflow(name: str) -> None:
    try:
        import tensorflow  # noqa: F401
    except ImportError as e:
        raise ImportError(
            f"TFDS data set '{name}' is not prepared yet and preparing it (download and "
            f"conversion) needs TensorFlow, which is not installed. Install it with "
            f"`{_TF_HINT}`, or prepare the data elsewhere and pass its `data_dir`; reading "
            "prepared data needs no TensorFlow."
        ) from e


def _read_source(source: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Materialise a TFDS data source into uint8 (N, H, W, C) and int32 (N,)."""
    n = len(source)
    if n == 0:
        raise ValueError(f"TFDS split '{what}' is empty.")
    first = source[0]
    img = np.asarray(first["image"])
    if img.ndim == 2:
        img = img[..., None]
    x = np.empty((n, *img.shape), dtype=np.uint8)
    y = np.empty((n,), dtype=np.int32)
    for i in range(n):
        ex = first if i == 0 else source[i]
        im = np.asarray(ex["image"])
        x[i] = im.reshape(img.shape)
        y[i] = int(ex["label"])
    return x, y


def _load_short(arg: str, *, kind: str, data_dir=None, download: bool = True, **_) -> Dataset:
    base, *extra = kind.split("+")
    if extra and (base != "svhn_cropped" or extra != ["extra"]):
        raise ValueError(
            f"`name`={kind!r}: only 'svhn_cropped+extra' takes an extra split; "
            "use 'tfds:NAME+SPLIT' for other data sets."
        )
    return load_tfds(base, data_dir=data_dir, train_splits=("train", *extra), download=download)


def _load_any(arg: str, *, kind: str, data_dir=None, download: bool = True, **_) -> Dataset:
    if not arg:
        raise ValueError(
            f"`name`={kind!r} needs a TFDS data set name: write it as 'tfds:NAME' (e.g. "
            "'tfds:cifar100'), or 'tfds:NAME+SPLIT' to append another split to train."
        )
    base, *extra = arg.split("+")
    return load_tfds(base, data_dir=data_dir, train_splits=("train", *extra), download=download)


for _name in TFDS_DATASETS:
    register_source(_name, _load_short, takes_arg=False, splits=True,
                    usage="svhn_cropped[+extra]" if _name == "svhn_cropped" else _name)
register_source("tfds", _load_any, takes_arg=True, usage="tfds:NAME")
