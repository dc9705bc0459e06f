"""The building blocks of a scenario's pool: provenance codes, the pool under
construction, and the helpers a scenario kind (:mod:`ads_jax.data.kinds`) uses.

A kind's pool builder returns ``(parts, sources)`` -- ``parts`` are
``(source id, train rows, provenance code)`` -- and its corruption edits the
assembled :class:`Pool` in place; both receive the :class:`Build` of the
``build_scenario`` call.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Callable, NamedTuple

import numpy as np

from ads_jax.data.dataset import Dataset
from ads_jax.data.sources import convert_images

if TYPE_CHECKING:  # the config type, for annotations only (scenario.py imports this module)
    from ads_jax.data.scenario import ScenarioConfig

__all__ = ["Provenance", "PROVENANCES", "PROVENANCE", "NON_CLEAN", "CLEAN", "NOISY", "OOD",
           "MISLABELED", "SOURCE_DOMAIN", "count_from_fraction", "Build", "Pool",
           "check_compatible", "match_samples", "target_pool", "describe_samples",
           "held_positions"]


class Provenance(NamedTuple):
    """Where a pool point comes from; ``clean`` says whether it is a clean target point."""

    name: str
    clean: bool


#: Every provenance, in code order (a point's code is its index here, int8).
PROVENANCES = (
    Provenance("clean", True),
    Provenance("noisy", False),          # white noise added (kind "noisy")
    Provenance("ood", False),            # image of another data set, random label ("cheap")
    Provenance("mislabeled", False),     # wrong label ("cheap", seed_label_noise)
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


def describe_samples(ds: Dataset) -> str:
    return "images" if ds.has_images else f"{ds.sample_shape[0]}-dimensional feature vectors"


def check_compatible(src: Dataset, target: Dataset, convert: bool, what: str) -> None:
    """Raise if ``src`` samples cannot join a pool of ``target`` samples.

    Images and features never mix; features must have the target's dimension
    (no conversion exists); images of another (H, W, C) need ``convert``.
    """
    if src.has_images != target.has_images:
        raise ValueError(
            f"{what} holds {describe_samples(src)} but the target data set '{target.name}' holds "
            f"{describe_samples(target)}; a pool cannot mix images and features."
        )
    if src.sample_shape == target.sample_shape:
        return
    if not target.has_images:
        raise ValueError(
            f"{what} has {src.sample_shape[0]} features per row but the target data set "
            f"'{target.name}' has {target.sample_shape[0]}; features of different embeddings "
            "cannot be converted (`data.convert_images` applies to images only)."
        )
    if not convert:
        raise ValueError(
            f"{what} images have shape {src.sample_shape} but the target data set has "
            f"{target.sample_shape}. Set `data.convert_images=True` to resize (bilinear) and "
            "convert channels."
        )


def match_samples(x: np.ndarray, src: Dataset, target: Dataset, convert: bool,
                  what: str) -> np.ndarray:
    """Rows ``x`` of ``src`` in the target's sample shape (images converted if allowed).

    Args:
      x: uint8 (n, H', W', C') images or float32 (n, d) features of ``src``.
      src, target: the data sets (representation and shapes are checked by
        `check_compatible`).
      convert: resize / channel-convert images of another shape.
      what: the source as named in error messages.

    Returns:
      ``x`` itself when the shapes match, else uint8 (n, H, W, C) converted images.
    """
    check_compatible(src, target, convert, what)
    if x.shape[1:] == target.sample_shape:
        return x
    shape = target.sample_shape
    return convert_images(x, size=shape[:2], channels=shape[2])


@dataclasses.dataclass
class Build:
    """What the stages of one `build_scenario` call share (host-side, mutable).

    A kind's pool builder and corruption get one: ``cfg`` the config, ``get``
    loads a data set by name (cached), ``ds`` the target, ``rng_pool`` /
    ``rng_corrupt`` the generators of the pool and corruption stages.
    """

    cfg: ScenarioConfig
    get: Callable[[str], Dataset]
    ds: Dataset
    rng_pool: np.random.Generator
    rng_corrupt: np.random.Generator

    @property
    def num_classes(self) -> int:
        return self.ds.num_classes


@dataclasses.dataclass
class Pool:
    """The assembled pool, before corruption (arrays of length P); kinds' corruptions edit it.

    Attributes: ``x`` samples (P, ...), ``y_true`` / ``y`` int32 true and
    revealed labels, ``prov`` int8 provenance codes, ``source_id`` int16 index
    into ``sources``, ``origin`` int64 rows in the source's train split,
    ``is_init`` bool seed-set mask, ``noise_std`` float32, ``sources`` names,
    ``held``: None, or the sorted int64 pool rows whose samples ``x`` holds
    (a per-host build: ``x`` is then (len(held), ...), row ``held[j]`` at
    ``x[j]``; every other array still covers all P rows). A corruption that
    edits samples goes through :meth:`held_positions`.
    """

    x: np.ndarray
    y_true: np.ndarray
    y: np.ndarray
    prov: np.ndarray
    source_id: np.ndarray
    origin: np.ndarray
    is_init: np.ndarray
    noise_std: np.ndarray
    sources: list
    held: np.ndarray | None = None

    def held_positions(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(positions in x of the held rows among rows, bool (len(rows),) held mask)``."""
        rows = np.asarray(rows, np.int64)
        if self.held is None:
            return rows, np.ones(rows.size, bool)
        return held_positions(self.held, rows)


def held_positions(held: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions in the sorted ``held`` of the ``rows`` it contains, and the mask of those
    rows: ``(int64 (n_held_rows,), bool (len(rows),))``."""
    rows = np.asarray(rows, np.int64)
    if held.size == 0:
        return np.zeros(0, np.int64), np.zeros(rows.size, bool)
    pos = np.minimum(np.searchsorted(held, rows), held.size - 1)
    ok = held[pos] == rows
    return pos[ok], ok


def target_pool(b: Build, remaining: np.ndarray, target_u: int | None):
    """Unlabeled pool drawn from the target's train split (curated, noisy, cheap).

    Args:
      b: the build.
      remaining: int64 sorted train rows left after validation, test and seed set.
      target_u: U, the number of unlabeled points (None: all of ``remaining``).

    Returns:
      ``(parts, sources)``: parts are ``(source id, rows, provenance)`` with
      source ids indexing ``sources`` (the target is source 0).
    """
    U = remaining.size if target_u is None else target_u
    if U > remaining.size:
        raise ValueError(
            f"`data.pool_size`={b.cfg.pool_size} is larger than the "
            f"{remaining.size + b.cfg.initial_labeled} train images of '{b.cfg.dataset}' "
            "available for the pool."
        )
    return [(0, b.rng_pool.choice(remaining, size=U, replace=False), CLEAN)], [b.cfg.dataset]
