"""The `Dataset` type: a labelled classification data set held in host memory.

A `Dataset` holds either uint8 NHWC images (every image loader) or 2-D
float32 feature vectors (``features:PATH.npz``: embeddings computed
elsewhere); `Dataset.has_images` says which. Every loader of
:mod:`ads_jax.data.sources` returns one.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from ads_jax._validation import check_array, check_labels

__all__ = ["Dataset", "DataFileError", "IMAGES", "FEATURES"]

#: `Dataset.representation` of image data sets (uint8 (N, H, W, C)).
IMAGES = "images"
#: `Dataset.representation` of feature data sets (float32 (N, d)).
FEATURES = "features"


class DataFileError(ValueError):
    """A data file that cannot be used: unreadable, corrupt or inconsistent.

    Raised by `load_npz` / `load_features` (and ``load_dataset("npz:...")``,
    ``load_dataset("features:...")``); the message names the file, what is
    wrong with it and how to fix it. A ``ValueError``, so ``except
    ValueError`` keeps working.
    """


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled classification data set held in host memory: images or features.

    Attributes:
      name: short name (e.g. ``"cifar10"``).
      x_train: uint8 (N, H, W, C) training images, or float32 (N, d)
        training features.
      y_train: int32 (N,) training labels in [0, num_classes).
      x_test: uint8 (M, H, W, C) test images (same H, W, C as train), or
        float32 (M, d) test features (same d as train).
      y_test: int32 (M,) test labels.
      class_names: tuple of ``num_classes`` strings; label ``i`` means
        ``class_names[i]``.
      original_labels: None, or (after ``load_npz(..., remap_labels=True)``)
        a tuple of ``num_classes`` ints: ``original_labels[i]`` is the label
        value that class ``i`` had in the source file. `save_npz` stores it
        and `load_npz` reads it back.

    The rank of ``x_train`` decides the representation: 4-D arrays must be
    uint8 images, 2-D arrays floating-point features (stored as float32;
    NaN, inf and values beyond the float32 range are rejected). Both splits
    must have the same representation. The constructor validates shapes,
    dtypes and label ranges and raises ``ValueError``/``TypeError`` naming the
    offending field.
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
        kinds = []
        for split in ("train", "test"):
            x = np.asarray(getattr(self, f"x_{split}"))
            y = np.asarray(getattr(self, f"y_{split}"))
            if x.ndim == 2:
                x = _check_features(f"x_{split}", x)
                kinds.append(FEATURES)
            else:
                _check_images(f"x_{split}", x)
                kinds.append(IMAGES)
            object.__setattr__(self, f"x_{split}", x)
            check_array(f"y_{split}", y, ndim=1, kind="i")
            if len(y) != len(x):
                what = "images" if kinds[-1] == IMAGES else "feature rows"
                raise ValueError(
                    f"`x_{split}` has {len(x)} {what} but `y_{split}` has {len(y)} labels."
                )
            check_labels(f"y_{split}", y, len(names))
            object.__setattr__(self, f"y_{split}", np.asarray(y, dtype=np.int32))
        if kinds[0] != kinds[1]:
            raise ValueError(
                f"`x_train` holds {kinds[0]} but `x_test` holds {kinds[1]}; both splits need "
                "the same representation (uint8 (N, H, W, C) images or float (N, d) features)."
            )
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            if kinds[0] == IMAGES:
                raise ValueError(
                    f"`x_train` images have shape {self.x_train.shape[1:]} but `x_test` images "
                    f"have {self.x_test.shape[1:]}; both splits need the same (H, W, C)."
                )
            raise ValueError(
                f"`x_train` has {self.x_train.shape[1]} features per row but `x_test` has "
                f"{self.x_test.shape[1]}; both splits need the same dimension d."
            )

    @property
    def num_classes(self) -> int:
        """Number of classes, ``len(class_names)``."""
        return len(self.class_names)

    @property
    def representation(self) -> str:
        """`IMAGES` (``"images"``: uint8 (N, H, W, C)) or `FEATURES` (``"features"``:
        float32 (N, d))."""
        return IMAGES if self.x_train.ndim == 4 else FEATURES

    @property
    def has_images(self) -> bool:
        """True for uint8 images, False for float32 feature vectors."""
        return self.representation == IMAGES

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample: (H, W, C) for images, (d,) for features."""
        return tuple(int(s) for s in self.x_train.shape[1:])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of every image (a ValueError for a features data set)."""
        if not self.has_images:
            raise ValueError(
                f"Data set '{self.name}' holds {self.x_train.shape[1]}-dimensional feature "
                "vectors, not images; it has no image shape (use `sample_shape`)."
            )
        return tuple(int(s) for s in self.x_train.shape[1:])  # type: ignore[return-value]

    def save_npz(self, path: str | os.PathLike) -> Path:
        """Write the data set as a ``.npz`` that `load_npz` reads back exactly
        (`load_features` / ``"features:PATH"`` for a features data set).

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


def _check_images(name: str, x: np.ndarray) -> None:
    if x.ndim != 4:
        raise ValueError(
            f"`{name}` must be uint8 (N, H, W, C) images or float (N, d) features, got an "
            f"array of shape {x.shape}."
        )
    check_array(name, x, ndim=4)
    if x.dtype != np.uint8:
        raise TypeError(
            f"`{name}` must be uint8 images in [0, 255], got dtype "
            f"{x.dtype}. Convert with np.clip(x, 0, 255).astype(np.uint8) "
            "(multiply float images in [0, 1] by 255 first)."
        )


_F32_MAX = float(np.finfo(np.float32).max)


def _check_features(name: str, x: np.ndarray) -> np.ndarray:
    """2-D floating features -> float32; rejects NaN, inf and float32 overflow."""
    if x.dtype.kind != "f":
        raise TypeError(
            f"`{name}` is 2-D, so it must hold floating-point (N, d) features, got dtype "
            f"{x.dtype}. Cast with x.astype(np.float32) (images must be uint8 (N, H, W, C))."
        )
    check_array(name, x, ndim=2)
    bad = ~np.isfinite(x)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"`{name}` has {int(bad.sum())} non-finite value(s) (NaN or inf), first at row "
            f"{row}, column {col}; drop or impute those rows."
        )
    if x.dtype != np.float32:
        big = np.abs(x) > _F32_MAX
        if big.any():
            row, col = (int(i) for i in np.argwhere(big)[0])
            raise ValueError(
                f"`{name}` has {int(big.sum())} value(s) beyond the float32 range (+-{_F32_MAX:.3g}), "
                f"first at row {row}, column {col}; features are stored as float32. Rescale them."
            )
        x = x.astype(np.float32)
    return x
