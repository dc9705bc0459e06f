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
import struct
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ads_jax._validation import check_array, check_labels

__all__ = [
    "Dataset",
    "DataFileError",
    "load_dataset",
    "load_digits",
    "load_npz",
    "load_tfds",
    "load_cinic10",
    "load_tiny_imagenet",
    "convert_images",
    "shift_images",
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
      original_labels: None, or (after ``load_npz(..., remap_labels=True)``)
        a tuple of ``num_classes`` ints: ``original_labels[i]`` is the label
        value that class ``i`` had in the source file. `save_npz` stores it
        and `load_npz` reads it back.

    The constructor validates shapes, dtypes and label ranges and raises
    ``ValueError``/``TypeError`` naming the offending field.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    original_labels: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        names = tuple(str(c) for c in self.class_names)
        object.__setattr__(self, "class_names", names)
        if len(names) < 1:
            raise ValueError("`class_names` must name at least one class.")
        if self.original_labels is not None:
            orig = np.asarray(self.original_labels)
            if orig.ndim != 1 or (orig.size and orig.dtype.kind not in "iu"):
                raise TypeError(
                    "`original_labels` must be None or a sequence of ints (one per class), "
                    f"got {self.original_labels!r:.80}."
                )
            if len(orig) != len(names):
                raise ValueError(
                    f"`original_labels` has {len(orig)} entries but there are {len(names)} "
                    "classes; it needs one original label value per class."
                )
            object.__setattr__(self, "original_labels", tuple(int(v) for v in orig.tolist()))
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
        file as a unicode array under ``class_names`` (no pickling), and
        `original_labels`, if any, as an int64 array ``original_labels``.

        Returns:
          The path written.
        """
        path = Path(path)
        extra = {}
        if self.original_labels is not None:
            extra["original_labels"] = np.asarray(self.original_labels, dtype=np.int64)
        np.savez(
            path,
            x_train=self.x_train,
            y_train=self.y_train,
            x_test=self.x_test,
            y_test=self.y_test,
            class_names=np.asarray(self.class_names, dtype=str),
            **extra,
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
    remap_labels: bool = False,
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
      remap_labels: ``"npz:"`` only: map the sorted distinct labels of the
        file to 0..C-1 and record the originals in `Dataset.original_labels`
        (see `load_npz`). The other loaders index their own class lists, so
        asking for it there is an error.

    Returns:
      `Dataset` with uint8 (N, H, W, C) images and int32 labels.

    Raises:
      ValueError: unknown name; `DataFileError` (a ValueError) for an
      unreadable or inconsistent npz file. FileNotFoundError: missing
      file/directory or unprepared TFDS data with ``download=False``.
      ImportError: TFDS data must be prepared but TensorFlow is not installed.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"`name` must be a non-empty string, got {name!r}.")
    if not isinstance(remap_labels, (bool, np.bool_)):
        raise TypeError(f"`remap_labels` must be True or False, got {remap_labels!r}.")
    if name.lower().startswith("shifted:"):
        inner = load_dataset(name[len("shifted:"):], data_dir=data_dir, download=download,
                             remap_labels=remap_labels)
        return dataclasses.replace(inner, name=f"shifted:{inner.name}",
                                   x_train=shift_images(inner.x_train),
                                   x_test=shift_images(inner.x_test))
    kind, _, arg = name.partition(":")
    kind = kind.strip().lower()
    path = arg or (os.fspath(data_dir) if data_dir is not None else "")
    if kind == "npz":
        _need_path(name, path)
        return load_npz(path, remap_labels=bool(remap_labels))
    if remap_labels:
        raise ValueError(
            f"`remap_labels=True` applies only to 'npz:PATH' data sets; {name!r} gets its "
            "labels from its own class list (already 0..C-1). Drop remap_labels."
        )
    if kind == "digits" and not arg:
        return load_digits()
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
        "'cinic10:/dir', 'tiny_imagenet:/dir', or 'shifted:<any of these>'."
    )


#: Parameters of the synthetic domain shift of ``"shifted:NAME"`` data sets.
SHIFT_GAMMA = 0.6
SHIFT_CONTRAST = 0.6


def shift_images(x: np.ndarray) -> np.ndarray:
    """A synthetic domain shift (``"shifted:NAME"``): uint8 (N, H, W, C) -> same.

    ``f = (x / 255) ** 0.6`` (brighter, washed out), then ``0.5 + 0.6 (f - 0.5)``
    (lower contrast), then colour channels rotated RGB -> GBR (colour images
    only). Deterministic; labels and class names are unchanged, so the shifted
    copy can serve as a second source of the same classes (scenario kind
    ``domain_shift``) where no second real data set is at hand.
    """
    x = np.asarray(x)
    out = np.empty_like(x, dtype=np.uint8)
    for s in range(0, x.shape[0], 4096):  # chunks bound the float temporaries
        f = (x[s:s + 4096].astype(np.float32) / 255.0) ** SHIFT_GAMMA
        f = 0.5 + SHIFT_CONTRAST * (f - 0.5)
        if f.shape[-1] == 3:
            f = f[..., [1, 2, 0]]
        out[s:s + 4096] = np.clip(np.rint(f * 255.0), 0, 255).astype(np.uint8)
    return out


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


class DataFileError(ValueError):
    """A data file that cannot be used: unreadable, corrupt or inconsistent.

    Raised by `load_npz` (and `load_dataset("npz:...")`); the message names
    the file, what is wrong with it and how to fix it. A ``ValueError``, so
    ``except ValueError`` keeps working.
    """


class _DataFileTypeError(DataFileError, TypeError):
    """A `DataFileError` about an array's dtype; also a ``TypeError`` (as the
    dtype errors of `load_npz` were before `DataFileError` existed)."""


#: Largest label value accepted without ``remap_labels`` (labels become int32).
_INT32_MAX = int(np.iinfo(np.int32).max)
_INT64_MIN, _INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)
_NPZ_FIX = (
    "Re-download the file, or re-create it with np.savez(path, x_train=..., y_train=..., "
    "x_test=..., y_test=...) or Dataset.save_npz(path)."
)
_REMAP_HINT = (
    "pass remap_labels=True (load_npz(path, remap_labels=True) or "
    "load_dataset('npz:PATH', remap_labels=True)) to map the sorted distinct labels to "
    "0..C-1"
)
_SHOW = 10  # at most this many label values are listed in a message


def _npz_error(path: Path, problem: str, fix: str = _NPZ_FIX, *, dtype: bool = False):
    cls = _DataFileTypeError if dtype else DataFileError
    return cls(f"npz file '{path}': {problem}. {fix}")


def _show_values(values: Sequence[int], total: int | None = None) -> str:
    """``[3, 4, 5]`` or ``[3, 4, ..., 12] (997 in all)``: at most `_SHOW` values."""
    vals = [int(v) for v in list(values)[:_SHOW]]
    total = len(values) if total is None else total
    body = ", ".join(str(v) for v in vals)
    if total > len(vals):
        return f"[{body}, ...] ({total:,} in all)"
    return f"[{body}]"


def load_npz(path: str | os.PathLike, *, remap_labels: bool = False) -> Dataset:
    """Load a data set from a ``.npz`` file.

    Keys: ``x_train`` (N, H, W, C) or greyscale (N, H, W) uint8 images and
    ``y_train`` (N,) integer labels; for the test split ``x_test``/``y_test``,
    or, when those are absent, ``x_test_partial``/``y_test_partial`` (as in
    ``../shared/data/cifar10/cifar10.npz``, which holds only the first 1,017
    official test images; its ``y_test_all`` is ignored since it has no
    images). Greyscale images get a trailing channel axis. Images may be any
    integer dtype with values in [0, 255]; labels any integer dtype, or
    floats holding whole numbers. Nothing is unpickled
    (``allow_pickle=False``): object arrays are rejected.

    Class names, first found wins: a ``class_names`` string array in the
    file (written by `Dataset.save_npz`); a JSON file beside it with the same
    stem (``cifar10.npz`` -> ``cifar10.json``) holding either a list of
    strings or an object whose ``label_names`` is one (an object without
    ``label_names`` is other metadata and is ignored); otherwise
    ``"0" .. "C-1"`` with C = 1 + the largest label. Explicit names fix the
    class count C (labels must be < C; classes without examples are
    allowed). When C is inferred from the labels, the labels of train must be
    exactly 0..C-1 (no gaps: a sparse set such as {0, 1, 2, 1000} is an
    error naming the missing classes) and every test label must occur in
    train.

    Args:
      path: the ``.npz`` file.
      remap_labels: map the sorted distinct labels of train and test
        together to 0..C-1 (e.g. {3, 7, 1000} -> {0, 1, 2}) instead of
        rejecting sparse, negative or huge labels. The original label values
        are kept in `Dataset.original_labels` (``original_labels[i]`` is the
        file's label of class ``i``) and, when the file has no class names,
        as the class names (``("3", "7", "1000")``); explicit class names are
        looked up by the original labels. With remapping, test labels absent
        from train become classes of their own. Default False.

    Returns:
      `Dataset` named after the file stem.

    Raises:
      FileNotFoundError: no such file. DataFileError (a ValueError; a
      TypeError too for a wrong dtype): the file or its class-names JSON is
      empty, truncated, not an npz, corrupt, needs pickle, lacks keys, or has
      arrays of the wrong rank, dtype, length or labels; the message names
      the file, the problem and the fix.
    """
    if isinstance(remap_labels, (bool, np.bool_)):
        remap_labels = bool(remap_labels)
    else:
        raise TypeError(f"`remap_labels` must be True or False, got {remap_labels!r}.")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a str or os.PathLike, got {type(path).__name__}.")
    path = Path(path).expanduser()
    if not path.is_file():
        if path.is_dir():
            raise FileNotFoundError(f"npz path '{path}' is a directory, not an .npz file.")
        hint = ""
        if path.suffix != ".npz" and path.with_name(path.name + ".npz").is_file():
            hint = f" (did you mean '{path.with_name(path.name + '.npz')}'?)"
        raise FileNotFoundError(
            f"npz file not found: '{path}'{hint}. Check the path in 'npz:PATH'."
        )
    raw, keys = _read_npz(path)
    test_x, test_y = raw.pop("_test_keys")

    x_train = _npz_images(path, "x_train", raw["x_train"])
    x_test = _npz_images(path, test_x, raw[test_x])
    if x_train.shape[1:] != x_test.shape[1:]:
        raise _npz_error(
            path,
            f"'x_train' images have shape {x_train.shape[1:]} but '{test_x}' images have "
            f"{x_test.shape[1:]}; both splits need the same (H, W, C)",
        )
    y_train = _npz_labels(path, "y_train", raw["y_train"], "x_train", len(x_train))
    y_test = _npz_labels(path, test_y, raw[test_y], test_x, len(x_test))
    names, names_from = _npz_class_names(path, raw.get("class_names"))
    original = _npz_original_labels(path, raw.get("original_labels"))

    if remap_labels:
        y_train, y_test, values = _remap(path, y_train, y_test, test_y)
        if names is not None:
            if values[0] < 0 or values[-1] >= len(names):
                raise DataFileError(
                    f"npz file '{path}' has labels in [{values[0]}, {values[-1]}] but "
                    f"{names_from} lists {len(names)} class names (labels index them, so "
                    f"they must be in [0, {len(names)})); fix the class names or the labels."
                )
            names = [names[v] for v in values]
        if original is not None:
            if values[-1] >= len(original) or values[0] < 0:
                raise _npz_error(
                    path,
                    f"'original_labels' has {len(original)} entries but the labels reach "
                    f"{values[-1]}",
                )
            values = [original[v] for v in values]
        original = tuple(values)
        if names is None:
            names = [str(v) for v in values]
    else:
        _check_label_range(path, "y_train", y_train)
        _check_label_range(path, test_y, y_test)
        top = max(int(y_train.max(initial=0)), int(y_test.max(initial=0)))
        if names is None:
            _check_dense(path, y_train, y_test, test_y)
            names = [str(i) for i in range(top + 1)]
        elif len(names) <= top:
            raise DataFileError(
                f"npz file '{path}' has labels up to {top} but only {len(names)} class names "
                f"(from {names_from}); fix 'class_names' / the JSON 'label_names' to be a list "
                f"of at least {top + 1} class-name strings, or {_REMAP_HINT}."
            )
    if original is not None and len(original) != len(names):
        raise _npz_error(
            path,
            f"'original_labels' has {len(original)} entries but there are {len(names)} "
            "classes; it needs one original label per class",
        )
    return Dataset(
        name=path.stem,
        x_train=x_train,
        y_train=y_train.astype(np.int32),
        x_test=x_test,
        y_test=y_test.astype(np.int32),
        class_names=tuple(names),
        original_labels=original,
    )


def _read_npz(path: Path) -> tuple[dict[str, np.ndarray], set[str]]:
    """Open an npz and read its needed members, turning every failure into a
    `DataFileError` naming the file (a missing file is checked before)."""
    # The file object is ours (not np.load's), so it is closed on every error
    # path: np.load leaks its own handle when the zip directory is unreadable.
    with open(path, "rb") as f:
        head = f.read(8)
        f.seek(0)
        _check_npz_magic(path, head)
        try:
            z = np.load(f, allow_pickle=False)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError,
                NotImplementedError, struct.error, zlib.error) as e:
            raise _npz_error(
                path,
                f"not a readable zip archive ({type(e).__name__}: {e}); the file is "
                f"probably truncated or damaged ({path.stat().st_size:,} bytes)",
            ) from e
        with z:
            return _read_npz_members(path, z)


def _check_npz_magic(path: Path, head: bytes) -> None:
    if not head:
        raise _npz_error(
            path, "the file is empty (0 bytes); a download or write was probably interrupted"
        )
    if head.startswith(b"\x93NUMPY"):
        raise _npz_error(
            path,
            "this is a single .npy array (np.save), not an .npz archive of named arrays",
            "Re-create it with np.savez(path, x_train=..., y_train=..., x_test=..., "
            "y_test=...) or Dataset.save_npz(path).",
        )
    if not head.startswith(b"PK"):
        what = (
            "it looks like a text/HTML page (a failed download saves the error page)"
            if head.lstrip()[:1] in (b"<", b"{")
            else f"it starts with bytes {head[:4]!r}"
        )
        raise _npz_error(path, f"not an .npz (zip) archive: {what}")


def _read_npz_members(path: Path, z: Any) -> tuple[dict[str, np.ndarray], set[str]]:
    if not isinstance(z, np.lib.npyio.NpzFile):  # pragma: no cover - magic checked before
        raise _npz_error(path, "not an .npz archive of named arrays")
    keys = set(z.files)
    if "x_test" in keys and "y_test" in keys:
        test_keys = ("x_test", "y_test")
    elif "x_test_partial" in keys and "y_test_partial" in keys:
        test_keys = ("x_test_partial", "y_test_partial")
    else:
        test_keys = None
    if not {"x_train", "y_train"} <= keys or test_keys is None:
        need = {"x_train", "y_train"} - keys
        if test_keys is None:
            need |= {"x_test", "y_test"} - keys
        raise _npz_error(
            path,
            "an ads_jax npz must hold 'x_train', 'y_train' and 'x_test', 'y_test' (or "
            f"'x_test_partial', 'y_test_partial'); missing {sorted(need)}, found keys "
            f"{sorted(keys)}",
        )
    out: dict[str, Any] = {"_test_keys": test_keys}
    wanted = ["x_train", "y_train", *test_keys]
    wanted += [k for k in ("class_names", "original_labels") if k in keys]
    for key in wanted:
        out[key] = _read_member(path, z, key)
    return out, keys


def _read_member(path: Path, z: Any, key: str) -> np.ndarray:
    try:
        arr = z[key]
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise _npz_error(
                path,
                f"array '{key}' is an object array that needs pickle to load; ads_jax never "
                "unpickles data files (allow_pickle=False: unpickling can run arbitrary code)",
                "Re-create the file with plain numeric arrays (uint8 images, integer labels) "
                "and class names as a string array, np.asarray(names, dtype=str), e.g. with "
                "Dataset.save_npz(path).",
            ) from e
        raise _npz_error(path, f"array '{key}' is corrupt ({e})") from e
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, NotImplementedError,
            struct.error, zlib.error, UnicodeDecodeError, SyntaxError) as e:
        raise _npz_error(
            path, f"array '{key}' is corrupt or truncated ({type(e).__name__}: {e})"
        ) from e
    if not isinstance(arr, np.ndarray):  # NpzFile hands back raw bytes for a non-.npy member
        raise _npz_error(
            path,
            f"member '{key}' is corrupt: it is not a .npy array (its {len(arr):,} bytes lack "
            "the .npy header that np.savez writes)",
        )
    return arr


def _npz_images(path: Path, key: str, x: np.ndarray) -> np.ndarray:
    if x.ndim not in (3, 4):
        raise _npz_error(
            path,
            f"'{key}' must hold images of shape (N, H, W, C) or greyscale (N, H, W), got an "
            f"array of shape {x.shape}",
        )
    if any(s == 0 for s in x.shape):
        raise _npz_error(path, f"'{key}' is empty (shape {x.shape}); each split needs images")
    if x.ndim == 3:
        x = x[..., None]
    if x.dtype != np.uint8:
        if x.dtype.kind not in "iu" or int(x.min()) < 0 or int(x.max()) > 255:
            raise _npz_error(
                path,
                f"'{key}' must hold uint8 images (integers in [0, 255]), got dtype {x.dtype}"
                + (f" with values in [{x.min()}, {x.max()}]" if x.dtype.kind in "iuf" else ""),
                "Store images as uint8: np.clip(x, 0, 255).astype(np.uint8) (multiply float "
                "images in [0, 1] by 255 first), then np.savez / Dataset.save_npz again.",
                dtype=True,
            )
        x = x.astype(np.uint8)
    return x


def _npz_labels(path: Path, key: str, y: np.ndarray, x_key: str, n: int) -> np.ndarray:
    """Labels as int64 (or uint64 beyond the int64 range): checks rank, length, dtype."""
    if y.ndim != 1:
        hint = ""
        if y.ndim == 2 and y.shape[1] == 1:
            hint = " (flatten it with y.reshape(-1))"
        elif y.ndim == 2:
            hint = " (one-hot labels? store y.argmax(axis=1))"
        raise _npz_error(
            path, f"'{key}' must be a 1-D array of N integer labels, got shape {y.shape}{hint}"
        )
    if len(y) != n:
        raise _npz_error(
            path, f"'{x_key}' has {n} images but '{key}' has {len(y)} labels; they must match"
        )
    kind = y.dtype.kind
    if kind in "iu":
        return y.astype(np.int64) if kind == "i" or y.dtype.itemsize < 8 else y
    if kind == "f":
        bad = ~np.isfinite(y)
        if bad.any():
            raise _npz_error(
                path,
                f"'{key}' has {int(bad.sum())} non-finite label(s) (NaN or inf), first at "
                f"index {int(np.argmax(bad))}; labels must be integer class indices",
                dtype=True,
            )
        frac = y != np.floor(y)
        if frac.any():
            ex = ", ".join(repr(float(v)) for v in np.unique(y[frac])[:5])
            raise _npz_error(
                path,
                f"'{key}' has {int(frac.sum())} non-integer label(s) (dtype {y.dtype}, e.g. "
                f"{ex}); labels must be whole-number class indices (probabilities or "
                "regression targets are not labels)",
                "Store integer class indices, e.g. y.astype(np.int64) for whole numbers or "
                "y.argmax(axis=1) for per-class scores, then np.savez / Dataset.save_npz.",
                dtype=True,
            )
        if len(y) and (float(y.min()) < _INT64_MIN or float(y.max()) > _INT64_MAX):
            raise _npz_error(
                path, f"'{key}' has labels beyond the int64 range (largest {y.max()})",
                dtype=True,
            )
        return y.astype(np.int64)
    hint = (
        " (string labels: map them to integers, e.g. np.unique(y, return_inverse=True), and "
        "store the names as 'class_names')"
        if kind in "US"
        else ""
    )
    raise _npz_error(
        path,
        f"'{key}' must hold integer labels, got dtype {y.dtype}{hint}",
        "Store labels with y.astype(np.int64), then np.savez / Dataset.save_npz.",
        dtype=True,
    )


def _check_label_range(path: Path, key: str, y: np.ndarray) -> None:
    """Without remapping: labels are class indices in [0, int32 max]."""
    if not len(y):
        return
    lo, hi = int(y.min()), int(y.max())
    if lo < 0:
        neg = np.unique(y[y < 0])
        raise DataFileError(
            f"npz file '{path}': '{key}' has {int((y < 0).sum()):,} negative label(s), values "
            f"{_show_values(neg)}; labels must be class indices >= 0 (-1 often marks "
            f"unlabelled points). Drop those points, re-index the labels, or {_REMAP_HINT}."
        )
    if hi > _INT32_MAX:
        big = np.unique(y[y > _INT32_MAX])
        raise DataFileError(
            f"npz file '{path}': '{key}' has label(s) {_show_values(big)} beyond the int32 "
            f"range (max {_INT32_MAX:,}) that ads_jax uses for class indices. Re-index the "
            f"labels, or {_REMAP_HINT}."
        )


def _check_dense(path: Path, y_train: np.ndarray, y_test: np.ndarray, test_key: str) -> None:
    """With C inferred as 1 + max label: train uses every class 0..C-1, test no other."""
    train = np.unique(y_train)
    test = np.unique(y_test)
    values = np.union1d(train, test)
    top = int(values[-1]) if len(values) else 0
    n_missing = top + 1 - len(values)
    if n_missing:
        missing: list[int] = []
        expect = 0
        for v in values:  # the first few gaps, without building range(top + 1)
            v = int(v)
            missing.extend(range(expect, min(v, expect + _SHOW - len(missing))))
            expect = v + 1
            if len(missing) >= _SHOW:
                break
        raise DataFileError(
            f"npz file '{path}': the labels are sparse: {len(values):,} distinct value(s) "
            f"{_show_values(values)} with largest {top:,}, so classes "
            f"{_show_values(missing, n_missing)} of 0..{top:,} never occur and the data would "
            f"become a {top + 1:,}-class problem. Re-index the labels to 0..C-1, add the class "
            f"names ('class_names' array or the JSON 'label_names') if those classes really "
            f"exist, or {_REMAP_HINT}."
        )
    extra = np.setdiff1d(test, train)
    if len(extra):
        raise DataFileError(
            f"npz file '{path}': '{test_key}' has label(s) {_show_values(extra)} that never "
            f"occur in 'y_train' ({int(np.isin(y_test, extra).sum()):,} test point(s)); a "
            "class without training examples cannot be learned. Check that both splits use "
            f"the same label encoding, drop those test points, or {_REMAP_HINT} (test-only "
            "labels then become classes of their own)."
        )


def _remap(
    path: Path, y_train: np.ndarray, y_test: np.ndarray, test_key: str
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    for key, y in (("y_train", y_train), (test_key, y_test)):
        if y.dtype == np.uint64 and len(y) and int(y.max()) > _INT64_MAX:
            raise DataFileError(
                f"npz file '{path}': '{key}' has labels up to {int(y.max())}, beyond the "
                "int64 range, which remap_labels cannot handle. Re-index the labels."
            )
    y_train, y_test = y_train.astype(np.int64), y_test.astype(np.int64)
    values = np.union1d(y_train, y_test)
    return (
        np.searchsorted(values, y_train),
        np.searchsorted(values, y_test),
        [int(v) for v in values],
    )


def _npz_class_names(path: Path, arr: np.ndarray | None) -> tuple[list[str] | None, str]:
    """Class names from the file's 'class_names' array, else the JSON beside it."""
    if arr is not None:
        if arr.ndim != 1 or arr.dtype.kind not in "US" or len(arr) == 0:
            raise _npz_error(
                path,
                f"'class_names' must be a non-empty 1-D array of strings (one per class), got "
                f"dtype {arr.dtype} and shape {arr.shape}",
                "Re-create it with class_names=np.asarray(names, dtype=str), or with "
                "Dataset.save_npz(path).",
            )
        if arr.dtype.kind == "S":
            return [s.decode("utf-8", "replace") for s in arr.tolist()], f"'class_names' in '{path}'"
        return [str(s) for s in arr.tolist()], f"'class_names' in '{path}'"
    meta = path.with_suffix(".json")
    if not meta.is_file():
        return None, ""
    expected = (
        "a JSON list of C class-name strings, or an object whose \"label_names\" is one "
        '(e.g. {"label_names": ["cat", "dog"]}), label i naming class i'
    )
    where = f"class-names JSON file '{meta}' (beside '{path.name}')"
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataFileError(
            f"{where} is not valid JSON ({e}). It should hold {expected}; fix or delete it."
        ) from e
    if isinstance(info, dict):
        if "label_names" not in info:
            return None, ""  # other metadata (sizes, checksums, ...), no names
        names, field = info["label_names"], '"label_names"'
    elif isinstance(info, list):
        names, field = info, "the list"
    else:
        raise DataFileError(
            f"{where} holds a JSON {type(info).__name__}; it should hold {expected}."
        )
    if not isinstance(names, list) or not names:
        raise DataFileError(
            f"{where}: {field} must be a non-empty list of strings, got "
            f"{type(names).__name__} {_short(names)}. It should hold {expected}."
        )
    bad = [(i, v) for i, v in enumerate(names) if not isinstance(v, str)]
    if bad:
        i, v = bad[0]
        raise DataFileError(
            f"{where}: {field} must be a list of strings, but {len(bad)} of its "
            f"{len(names)} entries are not (entry {i} is {type(v).__name__} {_short(v)}). "
            f"It should hold {expected}."
        )
    return names, where


def _npz_original_labels(path: Path, arr: np.ndarray | None) -> tuple[int, ...] | None:
    if arr is None:
        return None
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise _npz_error(
            path,
            f"'original_labels' must be a 1-D integer array (one per class), got dtype "
            f"{arr.dtype} and shape {arr.shape}",
        )
    return tuple(int(v) for v in arr.tolist())


def _short(v: Any, n: int = 60) -> str:
    s = repr(v)
    return s if len(s) <= n else s[: n - 3] + "..."


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
