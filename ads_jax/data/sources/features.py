"""``features:PATH.npz``: your own embeddings as a data set.

The file holds ``x_train`` (N, d) and ``x_test`` (M, d) feature vectors
(floating point; integer arrays are accepted and converted), ``y_train`` (N,)
and ``y_test`` (M,) integer labels (or ``x_test_partial``/``y_test_partial``),
and optionally ``class_names`` (a string array) or a class-names JSON beside
it, exactly as for ``npz:`` files (:mod:`ads_jax.data.sources.npz`, whose
file-level and label checks are shared). The `Dataset` holds float32 (N, d)
features (`Dataset.has_images` is False): scenarios that need no images work
on it (``curated``, ``cheap`` with ``mislabel_fraction`` only, ``domain_shift``
with other features sources, the seed / validation label noise); everything
that corrupts or replaces images raises.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ads_jax.data.dataset import Dataset
from ads_jax.data.sources._registry import need_path, register_source
from ads_jax.data.sources.npz import _npz_error, _read_npz, check_file_args, finish_dataset

__all__ = ["load_features"]

_F32_MAX = float(np.finfo(np.float32).max)
_FEATURES_FIX = (
    "Re-create it with np.savez(path, x_train=..., y_train=..., x_test=..., y_test=...) "
    "holding float (N, d) feature arrays and integer labels, or Dataset.save_npz(path)."
)


def load_features(path: str | os.PathLike, *, remap_labels: bool = False) -> Dataset:
    """Load a features data set (embeddings) from a ``.npz`` file.

    Args:
      path: the ``.npz`` file with ``x_train`` (N, d), ``y_train`` (N,),
        ``x_test`` (M, d), ``y_test`` (M,) (or ``x_test_partial`` /
        ``y_test_partial``), optional ``class_names``.
      remap_labels: map sparse / negative / huge labels to 0..C-1, as in
        `load_npz`.

    Returns:
      `Dataset` named after the file stem with float32 (N, d) / (M, d)
      features and int32 labels.

    Raises:
      FileNotFoundError: no such file. DataFileError (a ValueError; a
      TypeError too for a wrong dtype), naming the file, the problem and the
      fix: unreadable or corrupt file, missing keys, feature arrays that are
      not 2-D, empty, not numeric, contain NaN / inf or values beyond the
      float32 range, or whose train and test dimensions differ; every label
      problem `load_npz` reports.
    """
    path, remap_labels = check_file_args(path, remap_labels, what="features",
                                         form="features:PATH")
    raw, _ = _read_npz(path)
    test_x, test_y = raw.pop("_test_keys")
    x_train = _feature_array(path, "x_train", raw["x_train"])
    x_test = _feature_array(path, test_x, raw[test_x])
    if x_train.shape[1] != x_test.shape[1]:
        raise _npz_error(
            path,
            f"'x_train' has {x_train.shape[1]} features per row but '{test_x}' has "
            f"{x_test.shape[1]}; both splits need the same dimension d (the same embedding)",
            _FEATURES_FIX,
        )
    return finish_dataset(path, raw, x_train, x_test, test_x, test_y, remap_labels)


def _feature_array(path: Path, key: str, x: np.ndarray) -> np.ndarray:
    """A (N, d) numeric array -> float32; rank, emptiness, dtype, finiteness, range."""
    if x.ndim != 2:
        hint = (" (images belong in an 'npz:PATH' data set; embed them first, or flatten "
                "with x.reshape(len(x), -1))" if x.ndim in (3, 4) else "")
        if x.ndim == 1:
            hint = " (one feature per point? store x.reshape(-1, 1))"
        raise _npz_error(
            path,
            f"'{key}' must hold (N, d) feature vectors, a 2-D array, got shape {x.shape}{hint}",
            _FEATURES_FIX,
        )
    if any(s == 0 for s in x.shape):
        raise _npz_error(path, f"'{key}' is empty (shape {x.shape}); each split needs at least "
                         "one row of at least one feature", _FEATURES_FIX)
    if x.dtype.kind not in "fiu":
        raise _npz_error(
            path,
            f"'{key}' must hold real numbers (float features), got dtype {x.dtype}",
            "Store the features with x.astype(np.float32), then np.savez / Dataset.save_npz.",
            dtype=True,
        )
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x)
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            raise _npz_error(
                path,
                f"'{key}' has {int(bad.sum()):,} non-finite value(s) (NaN or inf), first at row "
                f"{row}, column {col}",
                "Drop or impute those rows (e.g. recompute their embeddings), then np.savez "
                "again.",
            )
    # Only wider floats can overflow float32 (integers stay below 2**64 < float32 max).
    big = np.abs(x) > _F32_MAX if x.dtype.kind == "f" and x.dtype.itemsize > 4 else None
    if big is not None and big.any():
        row, col = (int(i) for i in np.argwhere(big)[0])
        raise _npz_error(
            path,
            f"'{key}' has {int(big.sum()):,} value(s) beyond the float32 range (+-{_F32_MAX:.3g}), "
            f"first at row {row}, column {col}; features are used as float32",
            "Rescale the features (e.g. standardise them), then np.savez again.",
        )
    return x.astype(np.float32)


def _load(arg: str, *, kind: str, data_dir=None, remap_labels: bool = False, **_) -> Dataset:
    return load_features(need_path(kind, arg, data_dir), remap_labels=remap_labels)


register_source("features", _load, takes_arg=True, remap_labels=True,
                usage="features:/path/embeddings.npz")
