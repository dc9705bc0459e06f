"""Image classification data sources: one `Dataset` type, many loaders.

Every loader returns a `Dataset` holding uint8 NHWC images, int32 labels and
class names, fully materialised in host memory as NumPy arrays (the data sets
of the paper fit comfortably: CIFAR-10 train is 150 MB).

Supported names for `load_dataset` (see its docstring):

=========================  ====================================================
``"digits"``               scikit-learn's 8x8 digits (bundled with
                           scikit-learn, no download); fixed train/test split.
``"npz:/path/file.npz"``   arrays ``x_train, y_train`` and ``x_test, y_test``
                           (or ``x_test_partial, y_test_partial``).
``"cifar10"``,             TFDS through ``tfds.data_source`` (ArrayRecord
``"svhn_cropped"``,        files, read without TensorFlow). ``"+extra"``
``"svhn_cropped+extra"``,  appends SVHN's 531,131 'extra' images to train.
``"fashion_mnist"``,       ``"tfds:NAME"`` reads any other TFDS data set with
``"mnist"``, ``"tfds:N"``  ``image`` and ``label`` features.
``"cinic10:/dir"``         CINIC-10 directory layout (TFDS lacks it).
``"tiny_imagenet:/dir"``   Tiny ImageNet 200 directory layout (TFDS lacks it).
=========================  ====================================================

Reading prepared TFDS data needs no TensorFlow; *preparing* it (the first
download) does: ``pip install "ads_jax[tensorflow]"``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ads_jax._validation import check_array, check_labels

__all__ = [
    "Dataset",
    "load_dataset",
    "load_digits",
    "load_npz",
    "load_tfds",
    "load_cinic10",
    "load_tiny_imagenet",
    "convert_images",
    "TFDS_DATASETS",
    "DIGITS_TRAIN_SIZE",
]

#: Short names accepted by `load_dataset` that map to TFDS data sets.
TFDS_DATASETS = ("cifar10", "svhn_cropped", "fashion_mnist", "mnist")

#: Size of the fixed train split of the built-in digits data (the other
#: 1797 - 1000 = 797 images form its test split).
DIGITS_TRAIN_SIZE = 1000

_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
_TF_HINT = 'pip install "ads_jax[tensorflow]"'


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled image classification data set held in host memory.

    Attributes:
      name: short name (e.g. ``"cifar10"``).
      x_train: uint8 (N, H, W, C) training images.
      y_train: int32 (N,) training labels in [0, num_classes).
      x_test: uint8 (M, H, W, C) test images (same H, W, C as train).
      y_test: int32 (M,) test labels.
      class_names: tuple of ``num_classes`` strings; label ``i`` means
        ``class_names[i]``.

    The constructor validates shapes, dtypes and label ranges and raises
    ``ValueError``/``TypeError`` naming the offending field.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        names = tuple(str(c) for c in self.class_names)
        object.__setattr__(self, "class_names", names)
        if len(names) < 1:
            raise ValueError("`class_names` must name at least one class.")
        for split in ("train", "test"):
            x = np.asarray(getattr(self, f"x_{split}"))
            y = np.asarray(getattr(self, f"y_{split}"))
            check_array(f"x_{split}", x, ndim=4)
            if x.dtype != np.uint8:
                raise TypeError(
                    f"`x_{split}` must be uint8 images in [0, 255], got dtype "
                    f"{x.dtype}. Convert with np.clip(x, 0, 255).astype(np.uint8) "
                    "(multiply float images in [0, 1] by 255 first)."
                )
            object.__setattr__(self, f"x_{split}", x)
            check_array(f"y_{split}", y, ndim=1, kind="i")
            if len(y) != len(x):
                raise ValueError(
                    f"`x_{split}` has {len(x)} images but `y_{split}` has {len(y)} labels."
                )
            check_labels(f"y_{split}", y, len(names))
            object.__setattr__(self, f"y_{split}", np.asarray(y, dtype=np.int32))
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(
                f"`x_train` images have shape {self.x_train.shape[1:]} but `x_test` images "
                f"have {self.x_test.shape[1:]}; both splits need the same (H, W, C)."
            )

    @property
    def num_classes(self) -> int:
        """Number of classes, ``len(class_names)``."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of every image."""
        return tuple(int(s) for s in self.x_train.shape[1:])  # type: ignore[return-value]

    def save_npz(self, path: str | os.PathLike) -> Path:
        """Write the data set as a ``.npz`` that `load_npz` reads back exactly.

        Useful to cache a slow directory loader (CINIC-10: 270k PNG files) once:
        ``load_dataset("cinic10:/d").save_npz("cinic10.npz")`` then
        ``load_dataset("npz:cinic10.npz")``. Class names are stored in the
        file as a unicode array under ``class_names`` (no pickling).

        Returns:
          The path written.
        """
        path = Path(path)
        np.savez(
            path,
            x_train=self.x_train,
            y_train=self.y_train,
            x_test=self.x_test,
            y_test=self.y_test,
            class_names=np.asarray(self.class_names, dtype=str),
        )
        return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


# --------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> Dataset:
    """Load a data set by name (see the module docstring for the list).

    Args:
      name: ``"digits"``; ``"npz:PATH"``; a TFDS short name from
        `TFDS_DATASETS`, optionally ``"svhn_cropped+extra"``; ``"tfds:NAME"``
        (any TFDS image classification set, ``"tfds:NAME+SPLIT"`` to append
        another split to train); ``"cinic10:DIR"`` or ``"tiny_imagenet:DIR"``.
        For the directory and npz forms the path may be left out
        (``"cinic10"``), in which case ``data_dir`` is used.
      data_dir: TFDS data directory (default: ``$TFDS_DATA_DIR`` or
        ``~/tensorflow_datasets``), or the path for the directory/npz forms
        when ``name`` carries none.
      download: TFDS only: if the data set is not prepared in ``data_dir``,
        download and prepare it (needs TensorFlow). With ``False`` a missing
        data set raises ``FileNotFoundError`` instead.

    Returns:
      `Dataset` with uint8 (N, H, W, C) images and int32 labels.

    Raises:
      ValueError: unknown name. FileNotFoundError: missing file/directory or
      unprepared TFDS data with ``download=False``. ImportError: TFDS data
      must be prepared but TensorFlow is not installed.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"`name` must be a non-empty string, got {name!r}.")
    kind, _, arg = name.partition(":")
    kind = kind.strip().lower()
    path = arg or (os.fspath(data_dir) if data_dir is not None else "")
    if kind == "digits" and not arg:
        return load_digits()
    if kind == "npz":
        _need_path(name, path)
        return load_npz(path)
    if kind in ("cinic10", "cinic-10", "cinic"):
        _need_path(name, path)
        return load_cinic10(path)
    if kind in ("tiny_imagenet", "tiny-imagenet", "tinyimagenet"):
        _need_path(name, path)
        return load_tiny_imagenet(path)
    if kind == "tfds" and arg:
        base, *extra = arg.split("+")
        return load_tfds(
            base, data_dir=data_dir, train_splits=("train", *extra), download=download
        )
    base, *extra = kind.split("+")
    if base in TFDS_DATASETS and not arg:
        if extra and (base != "svhn_cropped" or extra != ["extra"]):
            raise ValueError(
                f"`name`={name!r}: only 'svhn_cropped+extra' takes an extra split; "
                "use 'tfds:NAME+SPLIT' for other data sets."
            )
        return load_tfds(
            base, data_dir=data_dir, train_splits=("train", *extra), download=download
        )
    raise ValueError(
        f"Unknown dataset `name`={name!r}. Use one of: 'digits', 'npz:/path/file.npz', "
        f"{', '.join(repr(n) for n in TFDS_DATASETS)}, 'svhn_cropped+extra', 'tfds:NAME', "
        "'cinic10:/dir', 'tiny_imagenet:/dir'."
    )


def _need_path(name: str, path: str) -> None:
    if not path:
        raise ValueError(
            f"`name`={name!r} needs a path: write it as '{name}:/path' or pass `data_dir`."
        )


# --------------------------------------------------------------------------
# Built-in digits
# --------------------------------------------------------------------------


def load_digits() -> Dataset:
    """scikit-learn's handwritten digits as a small real image data set.

    1,797 greyscale 8x8 images of the digits 0-9 (bundled with scikit-learn,
    no download). Pixel values 0..16 are scaled to uint8 0..255 by
    ``round(v * 255 / 16)``. The split is fixed: a permutation drawn with
    ``np.random.default_rng(0)``; its first `DIGITS_TRAIN_SIZE` = 1000 images
    are the train split, the remaining 797 the test split.

    Returns:
      `Dataset` "digits": x_train uint8 (1000, 8, 8, 1), y_train int32 (1000,),
      x_test uint8 (797, 8, 8, 1), y_test int32 (797,), class names "0".."9".
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    bunch = _sk_load_digits()
    images = np.rint(np.asarray(bunch.images, dtype=np.float64) * (255.0 / 16.0))
    x = images.astype(np.uint8)[..., None]
    y = np.asarray(bunch.target, dtype=np.int32)
    perm = np.random.default_rng(0).permutation(len(x))
    tr, te = perm[:DIGITS_TRAIN_SIZE], perm[DIGITS_TRAIN_SIZE:]
    return Dataset(
        name="digits",
        x_train=x[tr],
        y_train=y[tr],
        x_test=x[te],
        y_test=y[te],
        class_names=tuple(str(i) for i in range(10)),
    )


# --------------------------------------------------------------------------
# .npz files
# --------------------------------------------------------------------------


def load_npz(path: str | os.PathLike) -> Dataset:
    """Load a data set from a ``.npz`` file.

    Keys: ``x_train`` (N, H, W, C) or greyscale (N, H, W) uint8 images and
    ``y_train`` (N,) integer labels; for the test split ``x_test``/``y_test``,
    or, when those are absent, ``x_test_partial``/``y_test_partial`` (as in
    ``../shared/data/cifar10/cifar10.npz``, which holds only the first 1,017
    official test images; its ``y_test_all`` is ignored since it has no
    images). Greyscale images get a trailing channel axis.

    Class names, first found wins: a ``class_names`` string array in the
    file (written by `Dataset.save_npz`); ``label_names`` in a JSON file
    beside it with the same stem (``cifar10.npz`` -> ``cifar10.json``);
    otherwise ``"0" .. "C-1"`` with C = 1 + the largest label.

    Returns:
      `Dataset` named after the file stem.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"npz file not found: '{path}'. Check the path in 'npz:PATH'.")
    with np.load(path, allow_pickle=False) as z:
        keys = set(z.files)
        if "x_test" in keys and "y_test" in keys:
            test_keys = ("x_test", "y_test")
        elif "x_test_partial" in keys and "y_test_partial" in keys:
            test_keys = ("x_test_partial", "y_test_partial")
        else:
            test_keys = None
        if not {"x_train", "y_train"} <= keys or test_keys is None:
            raise ValueError(
                f"npz file '{path}' must hold 'x_train', 'y_train' and 'x_test', 'y_test' "
                f"(or 'x_test_partial', 'y_test_partial'); found keys {sorted(keys)}."
            )
        arrays = {
            "x_train": z["x_train"],
            "y_train": z["y_train"],
            "x_test": z[test_keys[0]],
            "y_test": z[test_keys[1]],
        }
        names = [str(s) for s in z["class_names"]] if "class_names" in keys else None
    for split in ("train", "test"):
        arrays[f"x_{split}"] = _as_uint8_images(f"{path.name}: x_{split}", arrays[f"x_{split}"])
        y = arrays[f"y_{split}"]
        check_array(f"{path.name}: y_{split}", y, ndim=1, kind="i", allow_empty=True)
    if names is None:
        meta = path.with_suffix(".json")
        if meta.is_file():
            with open(meta) as f:
                info = json.load(f)
            if isinstance(info, dict) and isinstance(info.get("label_names"), list):
                names = [str(s) for s in info["label_names"]]
    top = max(int(arrays["y_train"].max(initial=0)), int(arrays["y_test"].max(initial=0)))
    if names is None:
        names = [str(i) for i in range(top + 1)]
    elif len(names) <= top:
        raise ValueError(
            f"npz file '{path}' has labels up to {top} but only {len(names)} class names; "
            "fix 'class_names' / the JSON 'label_names'."
        )
    return Dataset(name=path.stem, class_names=tuple(names), **arrays)


def _as_uint8_images(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    check_array(name, x, ndim=(3, 4))
    if x.ndim == 3:
        x = x[..., None]
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.integer) or (
            x.size and (int(x.min()) < 0 or int(x.max()) > 255)
        ):
            raise TypeError(
                f"`{name}` must hold uint8 images (integers in [0, 255]), got dtype "
                f"{x.dtype}. Store images as uint8."
            )
        x = x.astype(np.uint8)
    return x


# --------------------------------------------------------------------------
# TFDS
# --------------------------------------------------------------------------


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
    import tensorflow_datasets as tfds

    train_splits = tuple(train_splits)
    if not train_splits:
        raise ValueError("`train_splits` must name at least one split, e.g. ('train',).")
    builder = tfds.builder(name, data_dir=data_dir, file_format="array_record")
    if not builder.is_prepared():
        if not download:
            raise FileNotFoundError(
                f"TFDS data set '{name}' is not prepared in '{builder.data_dir}'. Pass "
                f"download=True (needs TensorFlow: {_TF_HINT}), run `tfds build {name} "
                "--file_format=array_record`, or point `data_dir` at prepared data."
            )
        _require_tensorflow(name)
        builder.download_and_prepare(file_format="array_record")
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


# --------------------------------------------------------------------------
# Directory layouts (CINIC-10, Tiny ImageNet)
# --------------------------------------------------------------------------


def _pil():
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - pillow ships with matplotlib
        raise ImportError(
            "Reading image directories needs Pillow (a dependency of matplotlib): "
            "pip install pillow"
        ) from e
    return Image


def _read_images(paths: Sequence[Path], what: str) -> np.ndarray:
    """Decode image files into uint8 (N, H, W, 3); all must share H and W."""
    Image = _pil()
    if not paths:
        raise FileNotFoundError(f"No image files found for {what}.")
    out = None
    for i, p in enumerate(paths):
        with Image.open(p) as im:
            a = np.asarray(im.convert("RGB"), dtype=np.uint8)
        if out is None:
            out = np.empty((len(paths), *a.shape), dtype=np.uint8)
        elif a.shape != out.shape[1:]:
            raise ValueError(
                f"{what}: image '{p}' has shape {a.shape}, expected {out.shape[1:]} "
                "like the first image; all images must share one size."
            )
        out[i] = a
    return out


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _IMAGE_EXTENSIONS
    )


def _need_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise FileNotFoundError(f"{what}: directory '{path}' not found.")


def load_cinic10(
    root: str | os.PathLike,
    *,
    train_splits: Sequence[str] = ("train",),
    test_split: str = "test",
) -> Dataset:
    """Load CINIC-10 from its standard directory layout.

    Layout: ``root/{train,valid,test}/<class>/*.png`` (10 classes, 32x32 RGB;
    CIFAR-10 images plus down-sampled ImageNet images). Classes are the
    sub-directories of ``root/<train_splits[0]>`` in sorted order, which for
    CINIC-10 equals the CIFAR-10 label order (airplane .. truck). Files are
    read in sorted order; greyscale images are converted to RGB.

    Args:
      root: the CINIC-10 directory.
      train_splits: split directories concatenated into the train split, e.g.
        ``("train", "valid")`` as the CINIC-10 authors suggest for final runs.
      test_split: split directory used as test split.

    Returns:
      `Dataset` "cinic10", uint8 (N, 32, 32, 3) images.
    """
    root = Path(root).expanduser()
    _need_dir(root, "CINIC-10")
    first = root / train_splits[0]
    _need_dir(first, "CINIC-10 train split")
    classes = sorted(p.name for p in first.iterdir() if p.is_dir())
    if not classes:
        raise FileNotFoundError(f"CINIC-10: no class directories in '{first}'.")

    def split(name: str) -> tuple[np.ndarray, np.ndarray]:
        d = root / name
        _need_dir(d, f"CINIC-10 split '{name}'")
        files, labels = [], []
        for c, cls in enumerate(classes):
            fs = _image_files(d / cls) if (d / cls).is_dir() else []
            files += fs
            labels += [c] * len(fs)
        return _read_images(files, f"CINIC-10 split '{name}'"), np.asarray(labels, np.int32)

    tr = [split(s) for s in train_splits]
    x_test, y_test = split(test_split)
    return Dataset(
        name="cinic10",
        x_train=np.concatenate([t[0] for t in tr]),
        y_train=np.concatenate([t[1] for t in tr]),
        x_test=x_test,
        y_test=y_test,
        class_names=tuple(classes),
    )


def load_tiny_imagenet(root: str | os.PathLike) -> Dataset:
    """Load Tiny ImageNet 200 from its standard directory layout.

    Layout: ``root/wnids.txt`` (one WordNet id per line; its order defines
    the label ids), ``root/words.txt`` (``wnid<TAB>names``; optional),
    ``root/train/<wnid>/images/*.JPEG`` and ``root/val/images/*.JPEG`` with
    ``root/val/val_annotations.txt`` (``file<TAB>wnid<TAB>bbox...``). The
    official test split has no labels, so the labelled val split (10,000
    images) is used as test split. Class names are the first synonym in
    words.txt (``"goldfish, Carassius auratus"`` -> ``"goldfish"``), else the
    wnid. Greyscale JPEGs are converted to RGB.

    Returns:
      `Dataset` "tiny_imagenet", uint8 (N, 64, 64, 3) images.
    """
    root = Path(root).expanduser()
    _need_dir(root, "Tiny ImageNet")
    wnids_file = root / "wnids.txt"
    if not wnids_file.is_file():
        raise FileNotFoundError(f"Tiny ImageNet: '{wnids_file}' not found.")
    wnids = [w.strip() for w in wnids_file.read_text().splitlines() if w.strip()]
    index = {w: i for i, w in enumerate(wnids)}
    words: dict[str, str] = {}
    if (root / "words.txt").is_file():
        for line in (root / "words.txt").read_text().splitlines():
            wnid, _, label = line.partition("\t")
            if wnid in index:
                words[wnid] = label.split(",")[0].strip() or wnid
    names = tuple(words.get(w, w) for w in wnids)

    files, labels = [], []
    for w in wnids:
        d = root / "train" / w / "images"
        _need_dir(d, f"Tiny ImageNet train class '{w}'")
        fs = _image_files(d)
        files += fs
        labels += [index[w]] * len(fs)
    x_train = _read_images(files, "Tiny ImageNet train")

    ann = root / "val" / "val_annotations.txt"
    if not ann.is_file():
        raise FileNotFoundError(f"Tiny ImageNet: '{ann}' not found.")
    vfiles, vlabels = [], []
    for line in ann.read_text().splitlines():
        parts = re.split(r"\s+", line.strip())
        if len(parts) < 2:
            continue
        if parts[1] not in index:
            raise ValueError(f"Tiny ImageNet: '{ann}' names wnid {parts[1]!r} not in wnids.txt.")
        vfiles.append(root / "val" / "images" / parts[0])
        vlabels.append(index[parts[1]])
    x_test = _read_images(vfiles, "Tiny ImageNet val")
    return Dataset(
        name="tiny_imagenet",
        x_train=x_train,
        y_train=np.asarray(labels, np.int32),
        x_test=x_test,
        y_test=np.asarray(vlabels, np.int32),
        class_names=names,
    )


# --------------------------------------------------------------------------
# Image conversion
# --------------------------------------------------------------------------


def convert_images(
    x: np.ndarray, *, size: tuple[int, int] | None = None, channels: int | None = None
) -> np.ndarray:
    """Resize and/or change the channel count of uint8 images.

    Channels: 1 -> 3 repeats the grey channel; 3 -> 1 takes the ITU-R 601
    luma ``round(0.299 R + 0.587 G + 0.114 B)`` (PIL's "L" conversion).
    Resizing is bilinear (PIL), applied per image.

    Args:
      x: uint8 (N, H, W, C) images, C in {1, 3}.
      size: target (H', W') or None to keep the size.
      channels: target channel count (1 or 3) or None to keep it.

    Returns:
      uint8 (N, H', W', C') images (a new array).
    """
    check_array("x", x, ndim=4, allow_empty=True)
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise TypeError(f"`x` must be uint8 images, got dtype {x.dtype}.")
    c = x.shape[-1]
    if channels is not None and channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3, got {channels}.")
    if channels is not None and channels != c:
        if c == 1 and channels == 3:
            x = np.repeat(x, 3, axis=-1)
        elif c == 3 and channels == 1:
            w = np.asarray([0.299, 0.587, 0.114])
            x = np.rint(x.astype(np.float64) @ w).clip(0, 255).astype(np.uint8)[..., None]
        else:
            raise ValueError(f"Cannot convert images with {c} channels to {channels}.")
    if size is not None and tuple(size) != x.shape[1:3]:
        h, w = (int(s) for s in size)
        if h < 1 or w < 1:
            raise ValueError(f"`size` must be two positive ints, got {size}.")
        Image = _pil()
        out = np.empty((x.shape[0], h, w, x.shape[-1]), dtype=np.uint8)
        for i, im in enumerate(x):
            pil = Image.fromarray(im[..., 0] if im.shape[-1] == 1 else im)
            r = np.asarray(pil.resize((w, h), Image.BILINEAR), dtype=np.uint8)
            out[i] = r.reshape(h, w, -1)
        x = out
    return np.array(x, dtype=np.uint8, copy=True)
