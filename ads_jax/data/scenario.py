"""Active-learning scenarios of the paper: labeled seed, pool, validation, test.

`build_scenario(cfg, seed)` turns a `ScenarioConfig` into a `Scenario`: every
array the active-learning loop needs, plus per-point provenance so that an
experiment can count what each method picked (`Scenario.provenance_counts`).

Kinds
-----
Each scenario kind is one module of :mod:`ads_jax.data.kinds` that registers
a pool builder (which rows make up the unlabeled pool) and an optional
corruption (what happens to them afterwards):

``curated``
    Pool = (a subset of) the target train split; everything clean.
``noisy``
    As curated, then a fraction ``noise_fraction`` of the unlabeled pool
    images get additive white Gaussian noise (:mod:`ads_jax.data.kinds.noisy`).
``domain_shift``
    Unlabeled pool drawn from ``source_datasets`` mixed with
    ``source_weights``; validation and test come from the target
    (:mod:`ads_jax.data.kinds.domain_shift`).
``cheap``
    A stand-in for the paper's web-scraped Cheap-10: out-of-distribution
    images and wrong labels in the unlabeled pool
    (:mod:`ads_jax.data.kinds.cheap`).

Label noise where valuation acts
--------------------------------
Valid for every kind: ``seed_label_noise`` flips the labels of a fraction of
the initial labeled (seed) set to a uniformly drawn other class (those pool
rows get provenance ``mislabeled``: ``y_pool`` holds the wrong label,
``y_true`` the true one; a seed row that ``noisy_initial`` also corrupted is
then ``mislabeled``, its ``noise_std`` still records the noise), and
``val_label_noise`` does the same to the validation set (``y_val`` holds the
flipped labels the valuation sees, ``y_val_true`` the true ones,
``val_flipped`` marks the flipped rows).

Features
--------
A target data set of feature vectors (``features:PATH``, float32 (N, d))
gives a Scenario whose ``x_pool``, ``x_val``, ``x_test`` are float32 (N, d).
Kinds and options that need no images work on it: ``curated``, ``cheap``
with only ``mislabel_fraction``, ``domain_shift`` with other features sources,
and the label noise above. Everything that corrupts or replaces images
(``noisy``, ``shifted:`` sources, ``ood_fraction``) raises a ValueError.

Sizes and counting rules
------------------------
* ``initial_labeled`` = L seed points, drawn from the target train split,
  class-balanced by default (``balanced_init``): per-class counts differ by
  at most one, except where a class has too few points (the rest is spread
  over the other classes). They are clean (except under ``kind="noisy"``
  with ``noisy_initial=True``, or with ``seed_label_noise``) and part of the
  pool: ``labeled_init`` indexes them in ``x_pool``.
* ``pool_size`` = P = len(x_pool), *including* the L seed points; None takes
  every remaining train point (domain shift: every source point the
  weights allow). U = P - L is the number of unlabeled points.
* Every count taken from a fraction rounds half up: ``floor(f * n + 0.5)``
  (`count_from_fraction`; ``noise_fraction``, ``ood_fraction``,
  ``mislabel_fraction`` of U, ``seed_label_noise`` of L,
  ``val_label_noise`` of V); if rounding makes ood + mislabeled exceed U,
  the mislabeled count is lowered to U - ood. Mixture counts are split by
  largest remainders (ties to the earlier source) and sum exactly to U.
* Validation (``val_size``, default 500, as in the paper: "500 examples from
  the test distribution") and test: with ``val_source="test"`` (default) a
  seeded permutation of the target's test split gives validation = its first
  ``val_size`` points and test = the next ``test_size`` (None: all the rest).
  A CIFAR-10 ``.npz`` copy holding only 1,017 test images gives 500
  validation + 517 test images; the built-in digits give 500 + 297.
  With ``val_source="train"`` validation is carved from the target train
  split instead (excluded from the pool) and the whole test split is kept.

All draws come from ``np.random.SeedSequence(seed)`` children, one per stage
(split, seed set, pool, order, corruption, seed label noise, validation label
noise; the later children were added after the first five, which
``SeedSequence.spawn`` keeps unchanged), so a seed fully determines the
scenario. Data preparation is host-side NumPy; nothing here runs under jit.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ads_jax._validation import (
    check_array,
    check_choice,
    check_fraction,
    check_nonneg_int,
    check_positive_int,
)
from ads_jax.data.dataset import Dataset
from ads_jax.data.holdout import check_holdout, read_holdout
from ads_jax.data.location import missing_local_data_error, name_path
from ads_jax.data.mapped import load_mapped
from ads_jax.distributed import process_count
from ads_jax.data import kinds as _kinds
from ads_jax.data.pool import (
    CLEAN,
    MISLABELED,
    NON_CLEAN,
    NOISY,
    OOD,
    PROVENANCE,
    PROVENANCES,
    SOURCE_DOMAIN,
    Build,
    Pool,
    Provenance,
    count_from_fraction,
    describe_samples,
    held_positions,
    match_samples,
    target_pool,
)
from ads_jax.data.sources import load_dataset

__all__ = [
    "PROVENANCE",
    "PROVENANCES",
    "Provenance",
    "NON_CLEAN",
    "CLEAN",
    "NOISY",
    "OOD",
    "MISLABELED",
    "SOURCE_DOMAIN",
    "ScenarioConfig",
    "Scenario",
    "PoolRows",
    "Build",
    "Pool",
    "build_scenario",
    "count_from_fraction",
    "target_pool",
    "match_samples",
    "scenario_dataset_names",
    "load_scenario_datasets",
]


@dataclasses.dataclass(frozen=True)
class ScenarioConfig:
    """How to build a `Scenario` (frozen, every field JSON-able); ``data.*`` of an experiment.

    Attributes:
      dataset: target data set name for `load_dataset` (validation and test
        always come from it), e.g. ``"digits"``, ``"cifar10"``,
        ``"npz:/data/cifar10.npz"``, ``"features:/data/embeddings.npz"``.
      kind: a registered scenario kind (`KINDS`): "curated", "noisy",
        "domain_shift", "cheap".
      initial_labeled: L >= 1, size of the initial labeled (seed) set.
      val_size: validation set size (default 500, the paper's).
      test_size: test set size; None = everything left of the test split.
      pool_size: P = len(x_pool) including the L seed points; None = all
        remaining.
      val_source: "test" (carve validation from the test split) or "train".
      test_source: "test" (default: the test split, minus validation when
        ``val_source="test"``) or "train": carve ``test_size`` test points out
        of the train split too (excluded from the pool) -- for data whose test
        split is too small (e.g. a CIFAR-10 copy holding 1,017 test images).
      balanced_init: draw the seed set class-balanced (else uniformly).
      noise_fraction: "noisy": fraction of unlabeled pool images corrupted.
      noise_beta: "noisy": (a, b) of the Beta law of the per-image noise power.
      noise_scale: "noisy": noise std in grey levels = noise_scale * power * 255.
      noisy_initial: "noisy": also corrupt the initial labeled set. False
        (default): the seed set is clean and ``noise_fraction`` of the U
        unlabeled points are corrupted. True: ``noise_fraction`` of all P
        pool points, seed set included, are corrupted (a seed set drawn from the
        same noisy pool as everything else; the value regressor then sees
        noisy labeled points from round 0 on).
      source_datasets: "domain_shift": names of the pool's source data sets.
      source_weights: "domain_shift": mixture weights (> 0, normalised), one
        per source; None = equal weights.
      ood_dataset: "cheap": data set whose train images replace pool images.
      ood_fraction: "cheap": fraction of unlabeled pool images replaced.
      mislabel_fraction: "cheap": fraction of unlabeled pool points relabeled.
      convert_images: resize / channel-convert source and OOD images to the
        target's (H, W, C) instead of raising on a mismatch.
      data_dir: passed to `load_dataset` (TFDS data dir or dataset path).
      seed_label_noise: any kind: fraction of the L seed points whose label
        is flipped to a uniformly drawn other class (default 0: none).
      val_label_noise: any kind: fraction of the V validation points whose
        label is flipped likewise (default 0: none).
      backbone: proxy mode: a backbone directory (:mod:`ads_jax.proxy`). The
        train rows it holds out (its ``holdout.json``) are excluded from the
        pool, validation and test sets, and the loop embeds the scenario's
        samples (after corruption) with it, so the model trains a head on
        feature vectors (``model.name=linear|mlp``).
      embedding_cache: directory of the cached embeddings of proxy mode
        (None: ``$ADS_JAX_CACHE_DIR`` or ``~/.cache/ads_jax/embeddings``).

    Lists given for tuple fields (e.g. from JSON) are turned into tuples.
    Fields of another kind than ``kind`` must keep their defaults (noise
    fields excepted, they are just unused), so a misplaced option fails loudly.
    Error messages name the fields by their dotted path in an experiment
    config (``data.val_size``).
    """

    dataset: str = "digits"
    kind: str = "curated"
    initial_labeled: int = 100
    val_size: int = 500
    test_size: int | None = None
    pool_size: int | None = None
    val_source: str = "test"
    test_source: str = "test"
    balanced_init: bool = True
    noise_fraction: float = 0.8
    noise_beta: tuple[float, float] = (5.0, 2.0)
    noise_scale: float = 1.0
    noisy_initial: bool = False
    source_datasets: tuple[str, ...] = ()
    source_weights: tuple[float, ...] | None = None
    ood_dataset: str | None = None
    ood_fraction: float = 0.0
    mislabel_fraction: float = 0.0
    convert_images: bool = False
    data_dir: str | None = None
    seed_label_noise: float = 0.0
    val_label_noise: float = 0.0
    backbone: str | None = None
    embedding_cache: str | None = None

    def __post_init__(self) -> None:
        def norm(name, v):
            if isinstance(v, list):
                v = tuple(v)
                object.__setattr__(self, name, v)
            return v

        if not isinstance(self.dataset, str) or not self.dataset:
            raise TypeError(f"`data.dataset` must be a non-empty string, got {self.dataset!r}.")
        check_choice("data.kind", self.kind, _kinds.available_kinds())
        check_choice("data.val_source", self.val_source, ("test", "train"))
        check_choice("data.test_source", self.test_source, ("test", "train"))
        if self.test_source == "train" and self.test_size is None:
            raise ValueError("`data.test_source`='train' carves the test set out of the train "
                             "split: set `data.test_size` (how many points).")
        check_positive_int("data.initial_labeled", self.initial_labeled)
        check_positive_int("data.val_size", self.val_size)
        if self.test_size is not None:
            check_positive_int("data.test_size", self.test_size)
        if self.pool_size is not None:
            check_positive_int("data.pool_size", self.pool_size)
            if self.pool_size <= self.initial_labeled:
                raise ValueError(
                    f"`data.pool_size`={self.pool_size} must exceed `data.initial_labeled`="
                    f"{self.initial_labeled}: the pool holds the seed set plus at least one "
                    "unlabeled point."
                )
        if not isinstance(self.balanced_init, bool):
            raise TypeError(f"`data.balanced_init` must be a bool, got {self.balanced_init!r}.")
        if not isinstance(self.noisy_initial, bool):
            raise TypeError(f"`data.noisy_initial` must be a bool, got {self.noisy_initial!r}.")
        if self.noisy_initial and self.kind != "noisy":
            raise ValueError(
                f"`data.noisy_initial` is only used by kind='noisy' (`data.kind`), not "
                f"kind={self.kind!r}."
            )
        if not isinstance(self.convert_images, bool):
            raise TypeError(
                f"`data.convert_images` must be a bool, got {self.convert_images!r}.")
        check_fraction("data.noise_fraction", self.noise_fraction, inclusive_zero=True)
        beta = norm("noise_beta", self.noise_beta)
        if (
            not isinstance(beta, tuple)
            or len(beta) != 2
            or not all(_is_pos_real(b) for b in beta)
        ):
            raise ValueError(
                f"`data.noise_beta` must be two positive numbers (a, b), got {beta!r}.")
        if not _is_pos_real(self.noise_scale):
            raise ValueError(
                f"`data.noise_scale` must be a positive number, got {self.noise_scale!r}.")
        srcs = norm("source_datasets", self.source_datasets)
        if isinstance(srcs, str):
            srcs = (srcs,)
            object.__setattr__(self, "source_datasets", srcs)
        if not isinstance(srcs, tuple) or not all(isinstance(s, str) and s for s in srcs):
            raise TypeError(f"`data.source_datasets` must be a tuple of names, got {srcs!r}.")
        w = norm("source_weights", self.source_weights)
        if w is not None:
            if not isinstance(w, tuple) or not all(_is_pos_real(x) for x in w):
                raise ValueError(f"`data.source_weights` must be positive numbers, got {w!r}.")
            if len(w) != len(srcs):
                raise ValueError(
                    f"`data.source_weights` has {len(w)} entries but `data.source_datasets` "
                    f"has {len(srcs)}; give one weight per source."
                )
        check_fraction("data.ood_fraction", self.ood_fraction, inclusive_zero=True)
        check_fraction("data.mislabel_fraction", self.mislabel_fraction, inclusive_zero=True)
        if self.ood_fraction + self.mislabel_fraction > 1.0 + 1e-12:
            raise ValueError(
                f"`data.ood_fraction` + `data.mislabel_fraction` = "
                f"{self.ood_fraction + self.mislabel_fraction} exceeds 1."
            )
        if self.ood_dataset is not None and (
            not isinstance(self.ood_dataset, str) or not self.ood_dataset
        ):
            raise TypeError(
                f"`data.ood_dataset` must be a name or None, got {self.ood_dataset!r}.")
        check_fraction("data.seed_label_noise", self.seed_label_noise, inclusive_zero=True)
        check_fraction("data.val_label_noise", self.val_label_noise, inclusive_zero=True)
        for name in ("backbone", "embedding_cache"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, str) or not v.strip()):
                raise TypeError(f"`data.{name}` must be a directory path or None, got {v!r}.")
        # Kind-specific fields.
        if self.kind == "domain_shift":
            if not srcs:
                raise ValueError(
                    "kind='domain_shift' (`data.kind`) needs `data.source_datasets`, e.g. "
                    "('cinic10:/data/cinic10',)."
                )
        elif srcs or w is not None:
            raise ValueError(
                f"`data.source_datasets`/`data.source_weights` are only used by "
                f"kind='domain_shift' (`data.kind`), not kind={self.kind!r}."
            )
        if self.kind == "cheap":
            if self.ood_fraction == 0 and self.mislabel_fraction == 0:
                raise ValueError(
                    "kind='cheap' (`data.kind`) needs `data.ood_fraction` > 0 (with "
                    "`data.ood_dataset`) and/or `data.mislabel_fraction` > 0."
                )
            if self.ood_fraction > 0 and self.ood_dataset is None:
                raise ValueError(
                    "`data.ood_fraction` > 0 needs `data.ood_dataset`, e.g. 'svhn_cropped'.")
        elif self.ood_dataset is not None or self.ood_fraction or self.mislabel_fraction:
            raise ValueError(
                "`data.ood_dataset`/`data.ood_fraction`/`data.mislabel_fraction` are only used "
                f"by kind='cheap' (`data.kind`), not kind={self.kind!r}."
            )


def _is_pos_real(v: Any) -> bool:
    return (
        isinstance(v, numbers.Real)
        and not isinstance(v, bool)
        and math.isfinite(float(v))
        and v > 0
    )


@dataclasses.dataclass(frozen=True, eq=False)
class Scenario:
    """Everything an active-learning run needs, with per-point provenance.

    Attributes:
      x_pool: uint8 (P, H, W, C) pool images (seed set included), or float32
        (P, d) features for a features data set.
      y_pool: int32 (P,) the label revealed when a point is acquired: the
        true label, except for "mislabeled" points (the wrong label) and
        "ood" points (a random class).
      provenance: int8 (P,) codes into `PROVENANCE`.
      labeled_init: int32 (L,) sorted indices into the pool of the initial
        labeled set (target domain; clean unless ``noisy_initial`` or
        ``seed_label_noise``).
      x_val, y_val: uint8 (V, H, W, C) (float32 (V, d) for features), int32
        (V,) validation set; ``y_val`` holds the flipped labels under
        ``val_label_noise``.
      x_test, y_test: uint8 (T, H, W, C) (float32 (T, d)), int32 (T,) test set.
      num_classes: C.
      class_names: tuple of C names.
      y_true: int32 (P,) the true class of each pool image (-1 for ood).
      noise_std: float32 (P,) std of the added noise in grey levels (0 if none).
      source: int16 (P,) index into `sources` of the data set each pool image
        came from.
      origin_index: int64 (P,) row of the image in that data set's train split.
      val_index: int64 (V,) rows of the validation images in the target's
        test split (``val_source="test"``) or train split (``"train"``).
      test_index: int64 (T,) rows of the test images in the target's test split
        (its train split with ``test_source="train"``).
      sources: names of the data sets involved (target first).
      config: the `ScenarioConfig` used.
      seed: the seed used.
      y_val_true: int32 (V,) the true validation labels (``y_val`` when no
        label was flipped; None given -> a copy of ``y_val``).
      val_flipped: bool (V,) True where ``val_label_noise`` flipped the
        validation label (None given -> all False).
    """

    x_pool: np.ndarray
    y_pool: np.ndarray
    provenance: np.ndarray
    labeled_init: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    class_names: tuple[str, ...]
    y_true: np.ndarray
    noise_std: np.ndarray
    source: np.ndarray
    origin_index: np.ndarray
    val_index: np.ndarray
    test_index: np.ndarray
    sources: tuple[str, ...]
    config: ScenarioConfig
    seed: int
    y_val_true: np.ndarray | None = None
    val_flipped: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.y_val_true is None:
            object.__setattr__(self, "y_val_true", np.array(self.y_val, dtype=np.int32))
        if self.val_flipped is None:
            object.__setattr__(self, "val_flipped", np.zeros(len(self.y_val), dtype=bool))

    @property
    def pool_size(self) -> int:
        """P, number of pool points (seed set included)."""
        return int(self.x_pool.shape[0])

    def unlabeled_mask(self) -> np.ndarray:
        """bool (P,): True for pool points outside the initial labeled set."""
        m = np.ones(self.pool_size, dtype=bool)
        m[self.labeled_init] = False
        return m

    def provenance_counts(self, indices: Any = None) -> dict[str, int]:
        """Count provenance over the pool, or over ``indices`` (e.g. a method's picks).

        Args:
          indices: int (B,) pool indices, bool (P,) mask, or None for the pool.

        Returns:
          dict name -> count for every name in `PROVENANCE`.
        """
        codes = self.provenance
        if indices is not None:
            idx = np.asarray(indices)
            if idx.dtype == bool:
                if idx.shape != codes.shape:
                    raise ValueError(
                        f"`indices` as a mask must have shape {codes.shape}, got {idx.shape}."
                    )
            else:
                check_array("indices", idx, ndim=1, kind="i", allow_empty=True)
                if idx.size and (idx.min() < 0 or idx.max() >= self.pool_size):
                    raise ValueError(
                        f"`indices` must lie in [0, {self.pool_size}), got "
                        f"[{idx.min()}, {idx.max()}]."
                    )
            codes = codes[idx]
        counts = np.bincount(codes.astype(np.int64), minlength=len(PROVENANCE))
        return {name: int(c) for name, c in zip(PROVENANCE, counts)}


# --------------------------------------------------------------------------
# Building blocks (shared by the kinds of ads_jax.data.kinds)
# --------------------------------------------------------------------------


def _balanced_counts(avail: np.ndarray, total: int, rng: np.random.Generator) -> np.ndarray:
    """Max-min fair per-class counts summing to ``total`` with ``counts <= avail``."""
    counts = np.zeros_like(avail)
    remaining = total
    while remaining > 0:
        open_ = np.flatnonzero(counts < avail)
        if open_.size == 0:  # pragma: no cover - callers check total <= avail.sum()
            raise ValueError("not enough points")
        share = remaining // open_.size
        if share > 0:
            add = np.minimum(share, avail[open_] - counts[open_])
        else:
            add = np.zeros(open_.size, dtype=counts.dtype)
            add[rng.choice(open_.size, size=remaining, replace=False)] = 1
        counts[open_] += add
        remaining -= int(add.sum())
    return counts


def _draw_seed_set(
    labels: np.ndarray, candidates: np.ndarray, size: int, num_classes: int,
    balanced: bool, rng: np.random.Generator,
) -> np.ndarray:
    """Pick ``size`` of ``candidates`` (indices into labels), class-balanced if asked."""
    if not balanced:
        return rng.choice(candidates, size=size, replace=False)
    cand_y = labels[candidates]
    avail = np.bincount(cand_y, minlength=num_classes)
    counts = _balanced_counts(avail, size, rng)
    picks = [
        rng.choice(candidates[cand_y == c], size=int(k), replace=False)
        for c, k in enumerate(counts)
        if k
    ]
    return np.concatenate(picks)


def _split_val_test(cfg: ScenarioConfig, ds: Dataset, rng: np.random.Generator,
                    train_rows: np.ndarray):
    """Validation / test rows and the train rows left for the pool.

    ``train_rows``: the usable rows of the train split (all, or all but a
    backbone's held-out rows).

    Returns ``(val_idx, test_idx, train_avail, val_from_test, test_from_train)``.
    """
    val_idx, test_idx, train_avail, val_from_test = _split_val(cfg, ds, rng, train_rows)
    if cfg.test_source == "test":
        return val_idx, test_idx, train_avail, val_from_test, False
    if cfg.test_size >= train_avail.size:
        raise ValueError(
            f"`data.test_size`={cfg.test_size} with test_source='train' leaves no train images "
            f"of '{cfg.dataset}' for the pool ({train_avail.size} left after validation).")
    perm = rng.permutation(train_avail.size)
    test_idx = np.sort(train_avail[perm[: cfg.test_size]])
    train_avail = np.sort(train_avail[perm[cfg.test_size:]])
    return val_idx, test_idx, train_avail, val_from_test, True


def _split_val(cfg: ScenarioConfig, ds: Dataset, rng: np.random.Generator,
               train_rows: np.ndarray):
    """Validation rows (and the test rows of the test split) per ``val_source``."""
    n_train, n_test = int(train_rows.size), len(ds.y_test)
    if cfg.val_source == "test":
        perm = rng.permutation(n_test)
        if cfg.val_size >= n_test:
            raise ValueError(
                f"`data.val_size`={cfg.val_size} leaves no test points: '{cfg.dataset}' has "
                f"{n_test} test images. Lower data.val_size or use data.val_source='train'."
            )
        val_idx = perm[: cfg.val_size]
        rest = perm[cfg.val_size :]
        if cfg.test_source == "test" and cfg.test_size is not None and cfg.test_size > rest.size:
            raise ValueError(
                f"`data.test_size`={cfg.test_size} is larger than the {rest.size} test images "
                f"left after {cfg.val_size} validation images of '{cfg.dataset}'."
            )
        test_idx = rest if cfg.test_size is None else rest[: cfg.test_size]
        if cfg.test_source == "train":
            test_idx = rest
        return val_idx, test_idx, train_rows, True
    if cfg.val_size >= n_train:
        raise ValueError(
            f"`data.val_size`={cfg.val_size} is not smaller than the {n_train} train images "
            f"of '{cfg.dataset}'."
        )
    perm = train_rows[rng.permutation(n_train)]  # == rng.permutation(n) when all rows are usable
    val_idx = np.sort(perm[: cfg.val_size])
    train_avail = np.sort(perm[cfg.val_size :])
    if cfg.test_source == "train":
        return val_idx, np.arange(n_test), train_avail, False
    if cfg.test_size is not None and cfg.test_size > n_test:
        raise ValueError(
            f"`data.test_size`={cfg.test_size} is larger than the {n_test} test images of "
            f"'{cfg.dataset}'."
        )
    test_idx = (np.arange(n_test) if cfg.test_size is None
                else np.sort(rng.permutation(n_test)[: cfg.test_size]))
    return val_idx, test_idx, train_avail, False


def _assemble(b: Build, init_rows, parts, sources, rng_order, rows=None) -> Pool:
    """Seed set first, then the pool parts; shuffle the order; gather the samples (a
    per-host build, ``rows`` given: of the rows ``rows(P)`` and the seed set only)."""
    ds = b.ds
    all_parts = [(0, init_rows, CLEAN)] + parts
    source_id = np.concatenate([np.full(r.size, s, np.int16) for s, r, _ in all_parts])
    origin = np.concatenate([r.astype(np.int64) for _, r, _ in all_parts])
    prov = np.concatenate([np.full(r.size, p, np.int8) for _, r, p in all_parts])
    P = origin.size
    order = rng_order.permutation(P)
    source_id, origin, prov = source_id[order], origin[order], prov[order]
    is_init = np.zeros(P, dtype=bool)
    is_init[: init_rows.size] = True
    is_init = is_init[order]
    held = None
    if rows is not None:
        held = np.union1d(_held_rows(rows(P), P), np.flatnonzero(is_init))
    rows = np.arange(P) if held is None else held
    x_pool = np.empty((rows.size, *ds.sample_shape), dtype=ds.x_train.dtype)
    y_true = np.empty(P, dtype=np.int32)
    for sid, name in enumerate(sources):
        sel = source_id == sid
        src = b.get(name)
        y_true[sel] = src.y_train[origin[sel]]
        sel = sel[rows]
        x_pool[sel] = match_samples(src.x_train[origin[rows[sel]]], src, ds,
                                    b.cfg.convert_images, f"Source '{name}'")
    return Pool(x=x_pool, y_true=y_true, y=y_true.copy(), prov=prov, source_id=source_id,
                origin=origin, is_init=is_init, noise_std=np.zeros(P, dtype=np.float32),
                sources=list(sources), held=held)


def _held_rows(rows: Any, n_pool: int) -> np.ndarray:
    """The sorted unique int64 pool rows of a per-host build, checked against P."""
    r = np.asarray(rows)
    if r.ndim != 1 or (r.size and r.dtype.kind not in "iu"):
        raise TypeError(f"`rows(P)` must return a 1-D array of pool row indices, got "
                        f"{r.dtype} {r.shape}.")
    r = np.unique(r.astype(np.int64))
    if r.size and (r[0] < 0 or r[-1] >= n_pool):
        raise ValueError(f"`rows(P)` returned rows outside [0, {n_pool}) (P = {n_pool}).")
    return r


class PoolRows:
    """The pool samples a process holds in a per-host build: an (P, ...) array-like
    of which only some rows are present.

    ``x[idx]`` for an int index array (or list) returns those rows (a new
    NumPy array) if this process holds all of them, else raises a
    ``KeyError`` naming the missing rows; :meth:`add` adds rows (e.g. newly
    labeled ones gathered from the processes that hold them,
    :func:`ads_jax.distributed.gather_pool_rows`). ``shape``, ``dtype`` and
    ``ndim`` are those of the whole pool. Converting it to a full array
    (``np.asarray``) raises: a per-host pool is never silently densified.

    Attributes:
      rows: sorted int64 (n_held,) global pool rows held.
      data: (n_held, ...) their samples, ``data[j]`` = pool row ``rows[j]``.
    """

    def __init__(self, data: np.ndarray, rows: np.ndarray, n_pool: int):
        self.data = np.asarray(data)
        self.rows = np.asarray(rows, np.int64)
        if self.data.shape[0] != self.rows.size:
            raise ValueError(f"PoolRows: {self.data.shape[0]} samples for {self.rows.size} rows.")
        self.shape = (int(n_pool), *self.data.shape[1:])
        self.dtype = self.data.dtype
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def holds(self, idx: Any) -> np.ndarray:
        """bool mask: which of the pool rows ``idx`` this process holds."""
        return held_positions(self.rows, np.asarray(idx, np.int64).reshape(-1))[1]

    def __getitem__(self, idx: Any) -> np.ndarray:
        idx = np.asarray(idx)
        if idx.dtype == bool or idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise TypeError("A per-host pool (PoolRows) is indexed by a 1-D array of row "
                            f"indices, got {idx.dtype} {idx.shape}.")
        pos, ok = held_positions(self.rows, idx)
        if not ok.all():
            missing = idx[~ok]
            raise KeyError(f"pool rows {missing[:8].tolist()}{'...' if missing.size > 8 else ''} "
                           f"({missing.size}) are not held by this process (a per-host pool "
                           "holds its slice and the labeled rows): gather them first "
                           "(ads_jax.distributed.gather_pool_rows).")
        return self.data[pos]

    def add(self, rows: np.ndarray, data: np.ndarray) -> None:
        """Hold ``rows`` too, with samples ``data`` (rows already held are kept as they are)."""
        rows = np.asarray(rows, np.int64)
        new = ~self.holds(rows)
        if not new.any():
            return
        rows, data = rows[new], np.asarray(data)[new]
        all_rows = np.concatenate([self.rows, rows])
        order = np.argsort(all_rows, kind="stable")
        self.rows = all_rows[order]
        self.data = np.concatenate([self.data, data.astype(self.dtype)])[order]

    def __array__(self, dtype=None, copy=None):
        raise TypeError("A per-host pool (PoolRows) holds only some rows of the pool; index it "
                        "with the rows you need (x_pool[rows]) instead of converting it whole.")


def _flip_labels(y: np.ndarray, idx: np.ndarray, num_classes: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Labels ``y[idx]`` moved to a uniformly drawn *other* class: ``(y + s) % C``,
    ``s ~ U{1, ..., C-1}``."""
    shift = rng.integers(1, num_classes, size=idx.size)
    return ((y[idx] + shift) % num_classes).astype(np.int32)


def _need_two_classes(field: str, num_classes: int) -> None:
    if num_classes < 2:
        raise ValueError(f"`data.{field}` > 0 needs at least 2 classes (a wrong label to "
                         f"flip to); the data set has {num_classes}.")


def _seed_label_noise(cfg: ScenarioConfig, pool: Pool, num_classes: int,
                      rng: np.random.Generator) -> None:
    """Flip ``seed_label_noise`` of the seed labels; those rows become ``mislabeled``."""
    if cfg.seed_label_noise <= 0:
        return
    _need_two_classes("seed_label_noise", num_classes)
    seed_rows = np.flatnonzero(pool.is_init)
    k = count_from_fraction(cfg.seed_label_noise, seed_rows.size)
    idx = np.sort(rng.choice(seed_rows, size=k, replace=False))
    pool.y[idx] = _flip_labels(pool.y_true, idx, num_classes, rng)
    pool.prov[idx] = MISLABELED


def _val_label_noise(cfg: ScenarioConfig, y_val: np.ndarray, num_classes: int,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(y_val with val_label_noise of its labels flipped, bool flipped mask)``."""
    y_val = np.array(y_val, dtype=np.int32)
    flipped = np.zeros(y_val.size, dtype=bool)
    if cfg.val_label_noise <= 0:
        return y_val, flipped
    _need_two_classes("val_label_noise", num_classes)
    k = count_from_fraction(cfg.val_label_noise, y_val.size)
    idx = np.sort(rng.choice(y_val.size, size=k, replace=False))
    y_val[idx] = _flip_labels(y_val, idx, num_classes, rng)
    flipped[idx] = True
    return y_val, flipped


def build_scenario(
    cfg: ScenarioConfig,
    seed: int,
    *,
    datasets: Mapping[str, Dataset] | None = None,
    rows: Callable[[int], Any] | None = None,
) -> Scenario:
    """Build the pools, validation and test sets of one scenario.

    Deterministic: the same ``cfg`` and ``seed`` (and data) give identical
    arrays. See the module docstring for the meaning of each kind and the
    counting rules.

    Args:
      cfg: the scenario.
      seed: non-negative int seeding every random draw.
      datasets: optional name -> `Dataset` map consulted before
        `load_dataset` (e.g. `load_scenario_datasets`, or synthetic data in tests).
      rows: optional per-host build (one process of a multi-process run):
        ``rows(P)`` returns the pool rows (ints in [0, P)) whose samples this
        process needs; only those are gathered and corrupted, and ``x_pool``
        is a :class:`PoolRows` holding them (plus the seed set's rows, which
        every process trains on). Everything else (labels, provenance, noise
        levels, validation, test) covers the whole scenario, and every held
        row equals that of the full build exactly: selection and corruption
        draw the same random numbers (the noise stream is walked in full,
        keeping only the held images). Needs a kind registered with
        ``per_host=True`` (every built-in kind).

    Returns:
      `Scenario` with x_pool uint8 (P, H, W, C) (float32 (P, d) for a
      features data set), y_pool int32 (P,), provenance int8 (P,),
      labeled_init int32 (L,), x_val/y_val, x_test/y_test, and bookkeeping arrays.

    Raises:
      ValueError when a requested size exceeds the data (naming the field),
      when sources or OOD images do not match the target, when classes
      differ between target and sources, or when the kind or an option
      corrupts images of a features data set.
    """
    if not isinstance(cfg, ScenarioConfig):
        raise TypeError(f"`cfg` must be a ScenarioConfig, got {type(cfg).__name__}.")
    seed = check_nonneg_int("seed", seed)
    cache: dict[str, Dataset] = dict(datasets or {})

    def get(name: str) -> Dataset:
        if name not in cache:
            cache[name] = load_dataset(name, data_dir=cfg.data_dir)
        return cache[name]

    # The first five children are the original stages; later stages append
    # children (spawn(n)[:5] is the same for every n >= 5).
    children = np.random.SeedSequence(seed).spawn(7)
    rng_split, rng_init, rng_pool, rng_order, rng_corrupt, rng_seed_noise, rng_val_noise = (
        np.random.default_rng(s) for s in children
    )
    ds = get(cfg.dataset)
    kind = _kinds.get_kind(cfg.kind)
    if kind.needs_images and not ds.has_images:
        raise ValueError(
            f"`data.kind`={cfg.kind!r} corrupts or replaces images, but data set "
            f"'{cfg.dataset}' holds {describe_samples(ds)}: features cannot be corrupted as images. "
            "With features use kind 'curated', 'cheap' with only data.mislabel_fraction, "
            "'domain_shift' with other features sources, or data.seed_label_noise / "
            "data.val_label_noise."
        )
    b = Build(cfg=cfg, get=get, ds=ds, rng_pool=rng_pool, rng_corrupt=rng_corrupt)

    train_rows = np.arange(len(ds.y_train))
    if cfg.backbone is not None:  # proxy mode: the backbone's training rows are never used
        held = check_holdout(read_holdout(cfg.backbone), ds.y_train, cfg.dataset)
        train_rows = np.setdiff1d(train_rows, held)
    val_idx, test_idx, train_avail, val_from_test, test_from_train = _split_val_test(
        cfg, ds, rng_split, train_rows)
    if val_from_test:
        x_val, y_val = ds.x_test[val_idx], ds.y_test[val_idx]
    else:
        x_val, y_val = ds.x_train[val_idx], ds.y_train[val_idx]
    if test_from_train:
        x_test, y_test = ds.x_train[test_idx], ds.y_train[test_idx]
    else:
        x_test, y_test = ds.x_test[test_idx], ds.y_test[test_idx]

    # Seed set: always from the target train split.
    L = cfg.initial_labeled
    if L >= train_avail.size:
        raise ValueError(
            f"`data.initial_labeled`={L} must be smaller than the {train_avail.size} available "
            f"train images of '{cfg.dataset}' (some must stay unlabeled)."
        )
    init_rows = _draw_seed_set(ds.y_train, train_avail, L, ds.num_classes, cfg.balanced_init,
                               rng_init)
    remaining = np.setdiff1d(train_avail, init_rows)
    target_u = cfg.pool_size - L if cfg.pool_size is not None else None

    parts, sources = kind.pool(b, remaining, target_u)
    if rows is not None and not kind.per_host:
        raise ValueError(f"Scenario kind {cfg.kind!r} was registered without per_host=True: "
                         "its corruption needs the whole pool; build it without `rows`.")
    pool = _assemble(b, init_rows, parts, sources, rng_order, rows)
    if kind.corrupt is not None:
        kind.corrupt(b, pool)
    _seed_label_noise(cfg, pool, ds.num_classes, rng_seed_noise)
    y_val_true = np.asarray(y_val, np.int32)
    y_val, val_flipped = _val_label_noise(cfg, y_val_true, ds.num_classes, rng_val_noise)

    return Scenario(
        x_pool=pool.x if pool.held is None else PoolRows(pool.x, pool.held, pool.prov.size),
        y_pool=pool.y,
        provenance=pool.prov,
        labeled_init=np.flatnonzero(pool.is_init).astype(np.int32),
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=np.asarray(y_test, np.int32),
        num_classes=ds.num_classes,
        class_names=ds.class_names,
        y_true=pool.y_true,
        noise_std=pool.noise_std,
        source=pool.source_id,
        origin_index=pool.origin,
        val_index=np.asarray(val_idx, np.int64),
        test_index=np.asarray(test_idx, np.int64),
        sources=tuple(pool.sources),
        config=cfg,
        seed=seed,
        y_val_true=y_val_true,
        val_flipped=val_flipped,
    )


# --------------------------------------------------------------------------
# The data sets a scenario names
# --------------------------------------------------------------------------


def scenario_dataset_names(cfg: ScenarioConfig) -> tuple[str, ...]:
    """Every data set name ``cfg`` can load, once each, in order: ``dataset``,
    ``source_datasets``, ``ood_dataset``."""
    if not isinstance(cfg, ScenarioConfig):
        raise TypeError(f"`cfg` must be a ScenarioConfig, got {type(cfg).__name__}.")
    names = [cfg.dataset, *cfg.source_datasets]
    if cfg.ood_dataset:
        names.append(cfg.ood_dataset)
    return tuple(dict.fromkeys(names))


def load_scenario_datasets(cfg: ScenarioConfig, *,
                           mapped: bool | None = None) -> dict[str, Dataset]:
    """Load every data set ``cfg`` names (`scenario_dataset_names`) once.

    The result is meant for ``build_scenario(cfg, seed, datasets=...)``, so
    that several seeds share one load. Before loading, the local files the
    names point at under the data directory (:func:`ads_jax.data.location.data_dir`,
    ``$ADS_JAX_DATA_DIR``) are checked all together: if any is missing, one
    FileNotFoundError names the data directory in use, every file expected
    under it, how to get them and how to set ``ADS_JAX_DATA_DIR``.

    In a multi-process run (``mapped=None`` and several processes, or
    ``mapped=True``) the data sets are read from memory-mapped uncompressed
    copies (:mod:`ads_jax.data.mapped`, written the first time): their images
    are ``np.memmap`` arrays, so a per-host build reads only its rows from disk.
    Collective then: every process calls it.

    Returns:
      dict name -> `Dataset`, in `scenario_dataset_names` order.

    Raises:
      FileNotFoundError: a missing local file (see above) or any missing
      file / directory / unprepared TFDS data. The errors of `load_dataset`.
    """
    names = scenario_dataset_names(cfg)
    missing = missing_local_data_error(
        [p for p in (name_path(n) for n in names) if p])
    if missing is not None:
        raise missing
    if mapped is None:
        mapped = process_count() > 1
    if mapped:  # per-host data: each process reads only the rows it uses
        return load_mapped(names, lambda n: load_dataset(n, data_dir=cfg.data_dir),
                           data_dir=cfg.data_dir)
    return {n: load_dataset(n, data_dir=cfg.data_dir) for n in names}
