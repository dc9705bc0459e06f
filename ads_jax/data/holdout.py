"""Rows of a train split held out for a frozen backbone (proxy mode).

A backbone (:mod:`ads_jax.proxy`) is trained on labeled rows of a data set's
train split that no scenario may use: ``holdout.json`` in the backbone's
directory names them by a rule -- the first ``count`` rows of the permutation
``default_rng(seed).permutation(n_train)`` -- and fingerprints the split it
applies to (its size and a checksum of its labels), so a scenario built with
``data.backbone=DIR`` excludes exactly those rows from its pool, validation and
test sets, and refuses a different data set.
"""

from __future__ import annotations

import dataclasses
import os
import zlib

import numpy as np

from ads_jax._files import atomic_write_json, read_json

__all__ = ["HoldoutSpec", "HOLDOUT_FILE", "holdout_spec", "holdout_rows", "write_holdout",
           "read_holdout", "check_holdout"]

HOLDOUT_FILE = "holdout.json"


@dataclasses.dataclass(frozen=True)
class HoldoutSpec:
    """Which train rows a backbone holds out.

    Attributes:
      count: number of held-out rows (0: a backbone trained on other data, e.g.
        a user's pretrained model; nothing is excluded).
      seed: seed of the permutation of the train split.
      n_train: size of the train split it applies to.
      labels_crc32: CRC-32 of the split's int32 labels (in row order).
      dataset: the data set's name when the backbone was made (information).
    """

    count: int
    seed: int
    n_train: int
    labels_crc32: int
    dataset: str = ""


def _crc(y: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(np.asarray(y, np.int32)).view(np.uint8)) & 0xFFFFFFFF


def holdout_spec(y_train: np.ndarray, *, count: int, seed: int, dataset: str = "") -> HoldoutSpec:
    """The spec of holding out ``count`` rows of a train split with labels ``y_train``."""
    n = int(np.asarray(y_train).shape[0])
    if not 0 <= count < n:
        raise ValueError(f"`holdout`={count} must be in [0, {n - 1}] for a train split of {n} "
                         "rows (0: the backbone was trained on other data).")
    return HoldoutSpec(count=int(count), seed=int(seed), n_train=n, labels_crc32=_crc(y_train),
                       dataset=dataset)


def holdout_rows(spec: HoldoutSpec) -> np.ndarray:
    """Sorted int64 held-out rows of the train split."""
    perm = np.random.default_rng(spec.seed).permutation(spec.n_train)
    return np.sort(perm[: spec.count]).astype(np.int64)


def write_holdout(directory: str | os.PathLike, spec: HoldoutSpec) -> str:
    """Write ``<directory>/holdout.json``."""
    return atomic_write_json(os.path.join(os.fspath(directory), HOLDOUT_FILE),
                             dataclasses.asdict(spec))


def read_holdout(directory: str | os.PathLike) -> HoldoutSpec:
    """Read ``<directory>/holdout.json`` (clear errors for a missing or corrupt file)."""
    path = os.path.join(os.fspath(directory), HOLDOUT_FILE)
    d = read_json(path, what="Backbone hold-out file")
    try:
        return HoldoutSpec(**{k: d[k] for k in ("count", "seed", "n_train", "labels_crc32")},
                           dataset=str(d.get("dataset", "")))
    except (KeyError, TypeError) as e:
        raise ValueError(f"Backbone hold-out file {path!r} is not a hold-out spec ({e}); "
                         "re-create the backbone.") from None


def check_holdout(spec: HoldoutSpec, y_train: np.ndarray, dataset: str) -> np.ndarray:
    """The held-out rows of ``dataset``'s train split, after checking it is the backbone's.

    Raises:
      ValueError: the split differs from the one the backbone held rows out of.
    """
    y = np.asarray(y_train)
    if int(y.shape[0]) != spec.n_train or _crc(y) != spec.labels_crc32:
        raise ValueError(
            f"`data.backbone` was made on a train split of {spec.n_train} rows "
            f"({spec.dataset or 'unnamed'}), but `data.dataset`={dataset!r} has "
            f"{y.shape[0]} rows{'' if y.shape[0] != spec.n_train else ' with other labels'}: "
            "its held-out rows would not be excluded. Use the backbone's data set.")
    return holdout_rows(spec)
