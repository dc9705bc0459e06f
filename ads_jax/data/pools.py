"""Active-learning scenarios of the paper: labeled seed, pool, validation, test.

`build_scenario(cfg, seed)` turns a `ScenarioConfig` into a `Scenario`: every
array the active-learning loop needs, plus per-point provenance so that an
experiment can count what each method picked (`Scenario.provenance_counts`).

Kinds
-----
``curated``
    Pool = (a subset of) the target train split; everything clean.
``noisy``
    As curated, then a fraction ``noise_fraction`` (paper: 0.8) of the
    *unlabeled* pool images get additive white Gaussian noise. Per image a
    power ``p ~ Beta(*noise_beta)`` is drawn and the noise standard deviation
    in grey levels is ``std = noise_scale * p * 255``; the noisy image is
    ``clip(rint(x + std * N(0, 1)), 0, 255)`` as uint8, independently per
    pixel and channel. The initial labeled set, validation and test stay
    clean, unless ``noisy_initial=True``: then ``noise_fraction`` of all P
    pool points, seed set included, are corrupted. Defaults
    ``noise_beta=(5, 2)``, ``noise_scale=1``: mean power 5/7, mean std about
    182 grey levels, i.e. images largely destroyed, as the paper's noisy SVHN
    pool of "white-noise images" (it does not publish its Beta parameters).
    With the milder Beta(2, 5) (mean std about 73) a small WRN still
    classifies most noisy images correctly and ADS's value signal does not
    separate them from clean ones (experiments/noise_sweep.py, RESULTS.md).
``domain_shift``
    Unlabeled pool drawn from ``source_datasets`` (train splits), mixed with
    ``source_weights``; validation and test come from the target
    ``dataset`` (paper: CINIC-10 pool, CIFAR-10 evaluation). Pool points from
    a source other than the target have provenance ``source_domain``; the
    target may itself be one of the sources (its points are ``clean``).
    Sources must have the target's image shape and number of classes; with
    ``convert_images=True`` images are resized (bilinear) and channel
    converted (grey <-> RGB) instead of raising.
``cheap``
    A stand-in for the paper's web-scraped Cheap-10: a fraction
    ``ood_fraction`` of the unlabeled pool images is *replaced* by images of
    ``ood_dataset`` (its train split) carrying a uniformly random class
    label (provenance ``ood``, true label -1), and a disjoint fraction
    ``mislabel_fraction`` keeps its image but gets a wrong label drawn
    uniformly from the other C-1 classes (provenance ``mislabeled``).

Sizes and counting rules
------------------------
* ``initial_labeled`` = L seed points, drawn from the target train split,
  class-balanced by default (``balanced_init``): per-class counts differ by
  at most one, except where a class has too few points (the rest is spread
  over the other classes). They are clean (except under ``kind="noisy"``
  with ``noisy_initial=True``) and part of the pool:
  ``labeled_init`` indexes them in ``x_pool``.
* ``pool_size`` = P = len(x_pool), *including* the L seed points; None takes
  every remaining train point (domain shift: every source point the
  weights allow). U = P - L is the number of unlabeled points.
* Every count taken from a fraction rounds half up: ``floor(f * U + 0.5)``
  (``noise_fraction``, ``ood_fraction``, ``mislabel_fraction``); if rounding
  makes ood + mislabeled exceed U, the mislabeled count is lowered to
  U - ood. Mixture counts are split by largest remainders (ties to the
  earlier source) and sum exactly to U.
* Validation (``val_size``, default 500, as in the paper: "500 examples from
  the test distribution") and test: with ``val_source="test"`` (default) a
  seeded permutation of the target's test split gives validation = its first
  ``val_size`` points and test = the next ``test_size`` (None: all the rest).
  The shared CIFAR-10 ``.npz`` holds only 1,017 test images, so it gives
  500 validation + 517 test images; the built-in digits give 500 + 297.
  With ``val_source="train"`` validation is carved from the target train
  split instead (excluded from the pool) and the whole test split is kept.

All draws come from ``np.random.SeedSequence(seed)`` children, one per stage
(split, seed set, pool, order, corruption), so a seed fully determines the
scenario. Data preparation is host-side NumPy; nothing here runs under jit.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from typing import Any, Callable, NamedTuple

import numpy as np

from ads_jax._validation import (
    check_array,
    check_choice,
    check_fraction,
    check_nonneg_int,
    check_positive_int,
)
from ads_jax.data.sources import Dataset, convert_images, load_dataset

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
    "KINDS",
    "ScenarioConfig",
    "Scenario",
    "build_scenario",
    "add_white_noise",
    "count_from_fraction",
]

class Provenance(NamedTuple):
    """Where a pool point comes from; ``clean`` says whether it is a clean target point."""

    name: str
    clean: bool


#: Every provenance, in code order (a point's code is its index here, int8).
PROVENANCES = (
    Provenance("clean", True),
    Provenance("noisy", False),          # white noise added (kind "noisy")
    Provenance("ood", False),            # image of another data set, random label ("cheap")
    Provenance("mislabeled", False),     # wrong label ("cheap")
    Provenance("source_domain", False),  # from a source data set other than the target
)
#: Provenance names in code order.
PROVENANCE = tuple(p.name for p in PROVENANCES)
#: Names of the provenances that are not clean target points (the "non-clean share").
NON_CLEAN = tuple(p.name for p in PROVENANCES if not p.clean)
CLEAN, NOISY, OOD, MISLABELED, SOURCE_DOMAIN = range(len(PROVENANCES))


def count_from_fraction(fraction: float, n: int) -> int:
    """Number of points a fraction of ``n`` stands for: ``floor(fraction * n + 0.5)``.

    Round half up, the one counting rule of this module (e.g. 0.8 of 999 is
    799, 0.5 of 3 is 2).
    """
    return int(math.floor(fraction * n + 0.5))


@dataclasses.dataclass(frozen=True)
class ScenarioConfig:
    """How to build a `Scenario` (frozen, every field JSON-able).

    Attributes:
      dataset: target data set name for `load_dataset` (validation and test
        always come from it), e.g. ``"digits"``, ``"cifar10"``,
        ``"npz:/data/cifar10.npz"``.
      kind: one of `KINDS`: "curated", "noisy", "domain_shift", "cheap".
      initial_labeled: L >= 1, size of the initial labeled (seed) set.
      val_size: validation set size (default 500, the paper's).
      test_size: test set size; None = everything left of the test split.
      pool_size: P = len(x_pool) including the L seed points; None = all
        remaining.
      val_source: "test" (carve validation from the test split) or "train".
      test_source: "test" (default: the test split, minus validation when
        ``val_source="test"``) or "train": carve ``test_size`` test points out
        of the train split too (excluded from the pool) -- for data whose test
        split is too small (the shared CIFAR-10 copy holds 1,017 test images).
      balanced_init: draw the seed set class-balanced (else uniformly).
      noise_fraction: "noisy": fraction of unlabeled pool images corrupted.
      noise_beta: "noisy": (a, b) of the Beta law of the per-image noise power.
      noise_scale: "noisy": noise std in grey levels = noise_scale * power * 255.
      noisy_initial: "noisy": also corrupt the initial labeled set. False
        (default): the seed set is clean and ``noise_fraction`` of the U
        unlabeled points are corrupted. True: ``noise_fraction`` of all P pool
        points, seed set included, are corrupted (a seed set drawn from the
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

    Lists given for tuple fields (e.g. from JSON) are turned into tuples.
    Fields of another kind than ``kind`` must keep their defaults (noise
    fields excepted, they are just unused), so a misplaced option fails loudly.
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

    def __post_init__(self) -> None:
        def norm(name, v):
            if isinstance(v, list):
                v = tuple(v)
                object.__setattr__(self, name, v)
            return v

        if not isinstance(self.dataset, str) or not self.dataset:
            raise TypeError(f"`dataset` must be a non-empty string, got {self.dataset!r}.")
        check_choice("kind", self.kind, KINDS)
        check_choice("val_source", self.val_source, ("test", "train"))
        check_choice("test_source", self.test_source, ("test", "train"))
        if self.test_source == "train" and self.test_size is None:
            raise ValueError("`test_source`='train' carves the test set out of the train split: "
                             "set `test_size` (how many points).")
        check_positive_int("initial_labeled", self.initial_labeled)
        check_positive_int("val_size", self.val_size)
        if self.test_size is not None:
            check_positive_int("test_size", self.test_size)
        if self.pool_size is not None:
            check_positive_int("pool_size", self.pool_size)
            if self.pool_size <= self.initial_labeled:
                raise ValueError(
                    f"`pool_size`={self.pool_size} must exceed `initial_labeled`="
                    f"{self.initial_labeled}: the pool holds the seed set plus at least one "
                    "unlabeled point."
                )
        if not isinstance(self.balanced_init, bool):
            raise TypeError(f"`balanced_init` must be a bool, got {self.balanced_init!r}.")
        if not isinstance(self.noisy_initial, bool):
            raise TypeError(f"`noisy_initial` must be a bool, got {self.noisy_initial!r}.")
        if self.noisy_initial and self.kind != "noisy":
            raise ValueError(
                f"`noisy_initial` is only used by kind='noisy', not kind={self.kind!r}."
            )
        if not isinstance(self.convert_images, bool):
            raise TypeError(f"`convert_images` must be a bool, got {self.convert_images!r}.")
        check_fraction("noise_fraction", self.noise_fraction, inclusive_zero=True)
        beta = norm("noise_beta", self.noise_beta)
        if (
            not isinstance(beta, tuple)
            or len(beta) != 2
            or not all(_is_pos_real(b) for b in beta)
        ):
            raise ValueError(f"`noise_beta` must be two positive numbers (a, b), got {beta!r}.")
        if not _is_pos_real(self.noise_scale):
            raise ValueError(f"`noise_scale` must be a positive number, got {self.noise_scale!r}.")
        srcs = norm("source_datasets", self.source_datasets)
        if isinstance(srcs, str):
            srcs = (srcs,)
            object.__setattr__(self, "source_datasets", srcs)
        if not isinstance(srcs, tuple) or not all(isinstance(s, str) and s for s in srcs):
            raise TypeError(f"`source_datasets` must be a tuple of names, got {srcs!r}.")
        w = norm("source_weights", self.source_weights)
        if w is not None:
            if not isinstance(w, tuple) or not all(_is_pos_real(x) for x in w):
                raise ValueError(f"`source_weights` must be positive numbers, got {w!r}.")
            if len(w) != len(srcs):
                raise ValueError(
                    f"`source_weights` has {len(w)} entries but `source_datasets` has "
                    f"{len(srcs)}; give one weight per source."
                )
        check_fraction("ood_fraction", self.ood_fraction, inclusive_zero=True)
        check_fraction("mislabel_fraction", self.mislabel_fraction, inclusive_zero=True)
        if self.ood_fraction + self.mislabel_fraction > 1.0 + 1e-12:
            raise ValueError(
                f"`ood_fraction` + `mislabel_fraction` = "
                f"{self.ood_fraction + self.mislabel_fraction} exceeds 1."
            )
        if self.ood_dataset is not None and (
            not isinstance(self.ood_dataset, str) or not self.ood_dataset
        ):
            raise TypeError(f"`ood_dataset` must be a name or None, got {self.ood_dataset!r}.")
        # Kind-specific fields.
        if self.kind == "domain_shift":
            if not srcs:
                raise ValueError(
                    "kind='domain_shift' needs `source_datasets`, e.g. ('cinic10:/data/cinic10',)."
                )
        elif srcs or w is not None:
            raise ValueError(
                f"`source_datasets`/`source_weights` are only used by kind='domain_shift', "
                f"not kind={self.kind!r}."
            )
        if self.kind == "cheap":
            if self.ood_fraction == 0 and self.mislabel_fraction == 0:
                raise ValueError(
                    "kind='cheap' needs `ood_fraction` > 0 (with `ood_dataset`) and/or "
                    "`mislabel_fraction` > 0."
                )
            if self.ood_fraction > 0 and self.ood_dataset is None:
                raise ValueError("`ood_fraction` > 0 needs `ood_dataset`, e.g. 'svhn_cropped'.")
        elif self.ood_dataset is not None or self.ood_fraction or self.mislabel_fraction:
            raise ValueError(
                "`ood_dataset`/`ood_fraction`/`mislabel_fraction` are only used by "
                f"kind='cheap', not kind={self.kind!r}."
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
      x_pool: uint8 (P, H, W, C) pool images (seed set included).
      y_pool: int32 (P,) the label revealed when a point is acquired: the
        true label, except for "mislabeled" points (the wrong label) and
        "ood" points (a random class).
      provenance: int8 (P,) codes into `PROVENANCE`.
      labeled_init: int32 (L,) sorted indices into the pool of the initial
        labeled set (target domain; clean unless ``noisy_initial``).
      x_val, y_val: uint8 (V, H, W, C), int32 (V,) validation set.
      x_test, y_test: uint8 (T, H, W, C), int32 (T,) test set.
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
# Building blocks
# --------------------------------------------------------------------------


def add_white_noise(
    x: np.ndarray, std: np.ndarray, rng: np.random.Generator, *, chunk: int = 1024
) -> np.ndarray:
    """Add per-image white Gaussian noise to uint8 images.

    ``out[i] = clip(rint(x[i] + std[i] * n), 0, 255)`` with ``n`` i.i.d.
    standard normal per pixel and channel (float32, drawn in chunks of
    ``chunk`` images to bound memory).

    Args:
      x: uint8 (N, H, W, C) images.
      std: float (N,) noise standard deviations in grey levels (>= 0).
      rng: NumPy generator (explicit randomness).
      chunk: images per draw.

    Returns:
      uint8 (N, H, W, C) noisy images (new array).
    """
    check_array("x", x, ndim=4, allow_empty=True)
    std = np.asarray(std, dtype=np.float32)
    if std.shape != (x.shape[0],):
        raise ValueError(f"`std` must have shape ({x.shape[0]},), got {std.shape}.")
    if not np.all(np.isfinite(std)) or np.any(std < 0):
        raise ValueError("`std` must be finite and >= 0.")
    out = np.empty_like(x, dtype=np.uint8)
    for s in range(0, x.shape[0], chunk):
        xs = x[s : s + chunk].astype(np.float32)
        n = rng.standard_normal(xs.shape, dtype=np.float32)
        n *= std[s : s + chunk].reshape(-1, *([1] * (x.ndim - 1)))
        out[s : s + chunk] = np.clip(np.rint(xs + n), 0, 255).astype(np.uint8)
    return out


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


def _apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Largest-remainder split of ``total`` by ``weights`` (ties: earlier first)."""
    w = weights / weights.sum()
    raw = w * total
    base = np.floor(raw).astype(np.int64)
    rest = total - int(base.sum())
    order = sorted(range(len(w)), key=lambda i: (-(raw[i] - base[i]), i))
    for i in order[:rest]:
        base[i] += 1
    return base


def _match_images(x: np.ndarray, shape: tuple[int, ...], convert: bool, what: str) -> np.ndarray:
    if x.shape[1:] == tuple(shape):
        return x
    if not convert:
        raise ValueError(
            f"{what} images have shape {x.shape[1:]} but the target data set has {tuple(shape)}. "
            "Set `convert_images=True` to resize (bilinear) and convert channels."
        )
    return convert_images(x, size=shape[:2], channels=shape[2])


# --------------------------------------------------------------------------
# build_scenario: shared stages, and one pool builder / corruption per kind
# --------------------------------------------------------------------------


@dataclasses.dataclass
class _Build:
    """What the stages of one `build_scenario` call share (host-side, mutable)."""

    cfg: ScenarioConfig
    get: Callable[[str], Dataset]
    ds: Dataset
    rng_pool: np.random.Generator
    rng_corrupt: np.random.Generator

    @property
    def num_classes(self) -> int:
        return self.ds.num_classes


@dataclasses.dataclass
class _Pool:
    """The assembled pool, before corruption (arrays of length P)."""

    x: np.ndarray
    y_true: np.ndarray
    y: np.ndarray
    prov: np.ndarray
    source_id: np.ndarray
    origin: np.ndarray
    is_init: np.ndarray
    noise_std: np.ndarray
    sources: list


def _split_val_test(cfg: ScenarioConfig, ds: Dataset, rng: np.random.Generator):
    """Validation / test rows and the train rows left for the pool.

    Returns ``(val_idx, test_idx, train_avail, val_from_test, test_from_train)``.
    """
    val_idx, test_idx, train_avail, val_from_test = _split_val(cfg, ds, rng)
    if cfg.test_source == "test":
        return val_idx, test_idx, train_avail, val_from_test, False
    if cfg.test_size >= train_avail.size:
        raise ValueError(
            f"`test_size`={cfg.test_size} with test_source='train' leaves no train images of "
            f"'{cfg.dataset}' for the pool ({train_avail.size} left after validation).")
    perm = rng.permutation(train_avail.size)
    test_idx = np.sort(train_avail[perm[: cfg.test_size]])
    train_avail = np.sort(train_avail[perm[cfg.test_size:]])
    return val_idx, test_idx, train_avail, val_from_test, True


def _split_val(cfg: ScenarioConfig, ds: Dataset, rng: np.random.Generator):
    """Validation rows (and the test rows of the test split) per ``val_source``."""
    n_train, n_test = len(ds.y_train), len(ds.y_test)
    if cfg.val_source == "test":
        perm = rng.permutation(n_test)
        if cfg.val_size >= n_test:
            raise ValueError(
                f"`val_size`={cfg.val_size} leaves no test points: '{cfg.dataset}' has "
                f"{n_test} test images. Lower val_size or use val_source='train'."
            )
        val_idx = perm[: cfg.val_size]
        rest = perm[cfg.val_size :]
        if cfg.test_source == "test" and cfg.test_size is not None and cfg.test_size > rest.size:
            raise ValueError(
                f"`test_size`={cfg.test_size} is larger than the {rest.size} test images "
                f"left after {cfg.val_size} validation images of '{cfg.dataset}'."
            )
        test_idx = rest if cfg.test_size is None else rest[: cfg.test_size]
        if cfg.test_source == "train":
            test_idx = rest
        return val_idx, test_idx, np.arange(n_train), True
    if cfg.val_size >= n_train:
        raise ValueError(
            f"`val_size`={cfg.val_size} is not smaller than the {n_train} train images "
            f"of '{cfg.dataset}'."
        )
    perm = rng.permutation(n_train)
    val_idx = np.sort(perm[: cfg.val_size])
    train_avail = np.sort(perm[cfg.val_size :])
    if cfg.test_source == "train":
        return val_idx, np.arange(n_test), train_avail, False
    if cfg.test_size is not None and cfg.test_size > n_test:
        raise ValueError(
            f"`test_size`={cfg.test_size} is larger than the {n_test} test images of "
            f"'{cfg.dataset}'."
        )
    test_idx = (np.arange(n_test) if cfg.test_size is None
                else np.sort(rng.permutation(n_test)[: cfg.test_size]))
    return val_idx, test_idx, train_avail, False


def _target_pool(b: _Build, remaining: np.ndarray, target_u: int | None):
    """Unlabeled pool drawn from the target's train split (curated, noisy, cheap).

    Returns ``(parts, sources)``: parts are ``(source id, rows, provenance)``.
    """
    U = remaining.size if target_u is None else target_u
    if U > remaining.size:
        raise ValueError(
            f"`pool_size`={b.cfg.pool_size} is larger than the {remaining.size + b.cfg.initial_labeled} "
            f"train images of '{b.cfg.dataset}' available for the pool."
        )
    return [(0, b.rng_pool.choice(remaining, size=U, replace=False), CLEAN)], [b.cfg.dataset]


def _mixture_pool(b: _Build, remaining: np.ndarray, target_u: int | None):
    """Unlabeled pool mixed from ``source_datasets`` by ``source_weights`` (domain_shift)."""
    cfg, ds = b.cfg, b.ds
    names = list(cfg.source_datasets)
    if len(set(names)) != len(names):
        raise ValueError(f"`source_datasets` lists a data set twice: {names}.")
    w = np.asarray(cfg.source_weights or [1.0] * len(names), dtype=np.float64)
    w = w / w.sum()
    avail_rows: list[np.ndarray] = []
    for name in names:
        src = b.get(name)
        if src.num_classes != ds.num_classes:
            raise ValueError(
                f"Source '{name}' has {src.num_classes} classes but target "
                f"'{cfg.dataset}' has {ds.num_classes}; domain shift needs the same label set."
            )
        if [c.lower() for c in src.class_names] != [c.lower() for c in ds.class_names]:
            raise ValueError(
                f"Source '{name}' classes {src.class_names} differ from target "
                f"'{cfg.dataset}' classes {ds.class_names}; labels must mean the same "
                "classes in the same order."
            )
        if src.image_shape != ds.image_shape and not cfg.convert_images:
            _match_images(src.x_train[:1], ds.image_shape, False, f"Source '{name}'")
        derived = name in (cfg.dataset, f"shifted:{cfg.dataset}")
        # A source derived from the target (the target itself, or its synthetic
        # shift "shifted:<target>") shares its rows: only the ones left after
        # validation, test and the seed set, and never a row twice.
        avail_rows.append(remaining if derived else np.arange(len(src.y_train)))
    caps = np.asarray([a.size for a in avail_rows])
    if target_u is None:
        U = int(min(math.floor(c / wi + 1e-9) for c, wi in zip(caps, w)))
        while U > 0 and np.any(_apportion(U, w) > caps):
            U -= 1
    else:
        U = target_u
    if U < 1:
        raise ValueError(
            f"The sources {names} leave no unlabeled pool points; give larger sources "
            "or a smaller `initial_labeled`."
        )
    counts = _apportion(U, w)
    for name, k, cap in zip(names, counts, caps):
        if k > cap:
            raise ValueError(
                f"`pool_size`={cfg.pool_size} with weights {[round(float(x), 4) for x in w]} needs "
                f"{k} images from source '{name}', which has only {cap}."
            )
    sources, parts, used = [cfg.dataset], [], np.zeros(0, np.int64)
    for name, k, rows in zip(names, counts, avail_rows):
        if name == cfg.dataset:
            sid = 0
        else:
            sid = len(sources)
            sources.append(name)
        prov = CLEAN if name == cfg.dataset else SOURCE_DOMAIN
        derived = name in (cfg.dataset, f"shifted:{cfg.dataset}")
        if derived and used.size:
            rows = np.setdiff1d(rows, used)
            if k > rows.size:
                raise ValueError(
                    f"`pool_size`={cfg.pool_size} needs {k} images from source '{name}', but "
                    f"only {rows.size} of its rows are left after the other target-derived "
                    "sources.")
        chosen = b.rng_pool.choice(rows, size=int(k), replace=False)
        if derived:
            used = np.concatenate([used, chosen])
        parts.append((sid, chosen, prov))
    return parts, sources


def _assemble(b: _Build, init_rows, parts, sources, rng_order) -> _Pool:
    """Seed set first, then the pool parts; shuffle the order; gather the images."""
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
    x_pool = np.empty((P, *ds.image_shape), dtype=np.uint8)
    y_true = np.empty(P, dtype=np.int32)
    for sid, name in enumerate(sources):
        sel = source_id == sid
        src = b.get(name)
        x_pool[sel] = _match_images(
            src.x_train[origin[sel]], ds.image_shape, b.cfg.convert_images, f"Source '{name}'"
        )
        y_true[sel] = src.y_train[origin[sel]]
    return _Pool(x=x_pool, y_true=y_true, y=y_true.copy(), prov=prov, source_id=source_id,
                 origin=origin, is_init=is_init, noise_std=np.zeros(P, dtype=np.float32),
                 sources=list(sources))


def _add_noise(b: _Build, pool: _Pool) -> None:
    """kind "noisy": Beta-power white noise on ``noise_fraction`` of the (unlabeled) pool."""
    cfg, rng = b.cfg, b.rng_corrupt
    # noisy_initial: the seed set is exposed to the noise like any pool point.
    cand = np.arange(pool.prov.size) if cfg.noisy_initial else np.flatnonzero(~pool.is_init)
    k = count_from_fraction(cfg.noise_fraction, cand.size)
    idx = np.sort(rng.choice(cand, size=k, replace=False))
    power = rng.beta(*cfg.noise_beta, size=k)
    pool.noise_std[idx] = (cfg.noise_scale * power * 255.0).astype(np.float32)
    pool.x[idx] = add_white_noise(pool.x[idx], pool.noise_std[idx], rng)
    pool.prov[idx] = NOISY


def _cheap_corruption(b: _Build, pool: _Pool) -> None:
    """kind "cheap": replace ``ood_fraction`` by OOD images, relabel ``mislabel_fraction``."""
    cfg, rng, C = b.cfg, b.rng_corrupt, b.num_classes
    unl = np.flatnonzero(~pool.is_init)
    k_ood = count_from_fraction(cfg.ood_fraction, unl.size)
    k_mis = min(count_from_fraction(cfg.mislabel_fraction, unl.size), unl.size - k_ood)
    if k_mis > 0 and C < 2:
        raise ValueError("`mislabel_fraction` > 0 needs at least 2 classes.")
    chosen = rng.choice(unl, size=k_ood + k_mis, replace=False)
    ood_idx, mis_idx = np.sort(chosen[:k_ood]), np.sort(chosen[k_ood:])
    if k_ood:
        ood = b.get(cfg.ood_dataset)
        if k_ood > len(ood.y_train):
            raise ValueError(
                f"`ood_fraction`={cfg.ood_fraction} needs {k_ood} images but OOD data set "
                f"'{cfg.ood_dataset}' has only {len(ood.y_train)} train images."
            )
        rows = rng.choice(len(ood.y_train), size=k_ood, replace=False)
        pool.x[ood_idx] = _match_images(
            ood.x_train[rows], b.ds.image_shape, cfg.convert_images,
            f"OOD data set '{cfg.ood_dataset}'",
        )
        pool.sources.append(cfg.ood_dataset)
        pool.source_id[ood_idx] = len(pool.sources) - 1
        pool.origin[ood_idx] = rows
        pool.y_true[ood_idx] = -1
        pool.y[ood_idx] = rng.integers(0, C, size=k_ood)
        pool.prov[ood_idx] = OOD
    if k_mis:
        shift = rng.integers(1, C, size=k_mis)
        pool.y[mis_idx] = (pool.y_true[mis_idx] + shift) % C
        pool.prov[mis_idx] = MISLABELED


class _Kind(NamedTuple):
    """How one scenario kind builds its unlabeled pool and corrupts it."""

    pool: Callable[[_Build, np.ndarray, int | None], tuple[list, list]]
    corrupt: Callable[[_Build, _Pool], None] | None


#: One builder per scenario kind (a new kind is one entry here plus its functions).
_KINDS = {
    "curated": _Kind(_target_pool, None),
    "noisy": _Kind(_target_pool, _add_noise),
    "domain_shift": _Kind(_mixture_pool, None),
    "cheap": _Kind(_target_pool, _cheap_corruption),
}
#: Scenario kinds accepted by `ScenarioConfig.kind`.
KINDS = tuple(_KINDS)


def build_scenario(
    cfg: ScenarioConfig,
    seed: int,
    *,
    datasets: Mapping[str, Dataset] | None = None,
) -> Scenario:
    """Build the pools, validation and test sets of one scenario.

    Deterministic: the same ``cfg`` and ``seed`` (and data) give identical
    arrays. See the module docstring for the meaning of each kind and the
    counting rules.

    Args:
      cfg: the scenario.
      seed: non-negative int seeding every random draw.
      datasets: optional name -> `Dataset` map consulted before
        `load_dataset` (e.g. already loaded data, or synthetic data in tests).

    Returns:
      `Scenario` with x_pool uint8 (P, H, W, C), y_pool int32 (P,),
      provenance int8 (P,), labeled_init int32 (L,), x_val/y_val,
      x_test/y_test, and bookkeeping arrays.

    Raises:
      ValueError when a requested size exceeds the data (naming the field),
      when sources or OOD images do not match the target, or when classes
      differ between target and sources.
    """
    if not isinstance(cfg, ScenarioConfig):
        raise TypeError(f"`cfg` must be a ScenarioConfig, got {type(cfg).__name__}.")
    seed = check_nonneg_int("seed", seed)
    cache: dict[str, Dataset] = dict(datasets or {})

    def get(name: str) -> Dataset:
        if name not in cache:
            cache[name] = load_dataset(name, data_dir=cfg.data_dir)
        return cache[name]

    rng_split, rng_init, rng_pool, rng_order, rng_corrupt = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)
    )
    ds = get(cfg.dataset)
    b = _Build(cfg=cfg, get=get, ds=ds, rng_pool=rng_pool, rng_corrupt=rng_corrupt)
    kind = _KINDS[cfg.kind]

    val_idx, test_idx, train_avail, val_from_test, test_from_train = _split_val_test(
        cfg, ds, rng_split)
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
            f"`initial_labeled`={L} must be smaller than the {train_avail.size} available "
            f"train images of '{cfg.dataset}' (some must stay unlabeled)."
        )
    init_rows = _draw_seed_set(ds.y_train, train_avail, L, ds.num_classes, cfg.balanced_init,
                               rng_init)
    remaining = np.setdiff1d(train_avail, init_rows)
    target_u = cfg.pool_size - L if cfg.pool_size is not None else None

    parts, sources = kind.pool(b, remaining, target_u)
    pool = _assemble(b, init_rows, parts, sources, rng_order)
    if kind.corrupt is not None:
        kind.corrupt(b, pool)

    return Scenario(
        x_pool=pool.x,
        y_pool=pool.y,
        provenance=pool.prov,
        labeled_init=np.flatnonzero(pool.is_init).astype(np.int32),
        x_val=x_val,
        y_val=np.asarray(y_val, np.int32),
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
    )
