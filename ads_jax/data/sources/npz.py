"""``npz:PATH``: a data set from a ``.npz`` file, with thorough validation.

Every bad file (empty, truncated, not a zip, a single ``.npy``, corrupt
members, pickled object arrays, missing keys, wrong ranks or dtypes,
mismatched lengths, sparse / negative / huge / fractional labels, bad class
names) raises one `DataFileError` naming the file, the problem and the fix.
The file-level reading and the label / class-name checks here are shared with
``features:PATH`` (:mod:`ads_jax.data.sources.features`).
"""

from __future__ import annotations

import json
import os
import struct
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ads_jax.data.dataset import DataFileError, Dataset
from ads_jax.data.location import missing_local_data_error
from ads_jax.data.sources._registry import need_path, register_source

__all__ = ["load_npz", "DataFileError"]


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
    or, when those are absent, ``x_test_partial``/``y_test_partial`` (a
    layout of some CIFAR-10 copies that hold only part of the official test
    images; a ``y_test_all`` array is ignored since it has no images). Greyscale images get a trailing channel axis. Images may be any
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
    path, remap_labels = check_file_args(path, remap_labels, what="npz", form="npz:PATH")
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
    return finish_dataset(path, raw, x_train, x_test, test_x, test_y, remap_labels)


def check_file_args(path: Any, remap_labels: Any, *, what: str, form: str) -> tuple[Path, bool]:
    """Type checks of a file loader's arguments; the file must exist.

    Returns ``(path as an expanded Path, remap_labels as a bool)``. Raises
    TypeError for bad types and FileNotFoundError (with a did-you-mean hint
    for a missing ``.npz`` suffix, and the local-data help of
    :func:`~ads_jax.data.location.missing_local_data_error` for a file under
    the data directory) for a missing file.
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
            raise FileNotFoundError(f"{what} path '{path}' is a directory, not an .npz file.")
        hint = ""
        if path.suffix != ".npz" and path.with_name(path.name + ".npz").is_file():
            hint = f" (did you mean '{path.with_name(path.name + '.npz')}'?)"
        local = missing_local_data_error([str(path)])
        if local is not None:
            raise FileNotFoundError(f"{what} file not found: '{path}'{hint}. {local}")
        raise FileNotFoundError(
            f"{what} file not found: '{path}'{hint}. Check the path in '{form}'."
        )
    return path, remap_labels


def finish_dataset(
    path: Path, raw: dict[str, np.ndarray], x_train: np.ndarray, x_test: np.ndarray,
    test_x: str, test_y: str, remap_labels: bool,
) -> Dataset:
    """Check the labels, class names and original labels of a read file; build the `Dataset`.

    Args:
      path: the file (for messages).
      raw: its arrays (`_read_npz`), ``y_train``, ``raw[test_y]`` and the
        optional ``class_names`` / ``original_labels``.
      x_train, x_test: the checked sample arrays of the two splits.
      test_x, test_y: the keys of the test split (``x_test``/``y_test`` or the
        ``_partial`` pair).
      remap_labels: see `load_npz`.
    """
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



def _load(arg: str, *, kind: str, data_dir=None, remap_labels: bool = False, **_) -> Dataset:
    return load_npz(need_path(kind, arg, data_dir), remap_labels=remap_labels)


register_source("npz", _load, takes_arg=True, remap_labels=True, usage="npz:/path/file.npz")
