"""Kind ``cheap``: out-of-distribution images and wrong labels in the pool.

A stand-in for the paper's web-scraped Cheap-10: a fraction ``ood_fraction``
of the unlabeled pool images is *replaced* by images of ``ood_dataset`` (its
train split) carrying a uniformly random class label (provenance ``ood``,
true label -1), and a disjoint fraction ``mislabel_fraction`` keeps its image
but gets a wrong label drawn uniformly from the other C-1 classes (provenance
``mislabeled``). Counts are taken of the U unlabeled points; if rounding
makes ood + mislabeled exceed U, the mislabeled count is lowered to U - ood.

With a features data set only ``mislabel_fraction`` applies (flipped pool
labels); ``ood_fraction`` > 0 replaces images and raises.
"""

from __future__ import annotations

import numpy as np

from ads_jax.data.kinds._registry import register_kind
from ads_jax.data.pool import (
    MISLABELED,
    OOD,
    Build,
    Pool,
    count_from_fraction,
    match_samples,
    target_pool,
)

__all__: list[str] = []


def cheap_corruption(b: Build, pool: Pool) -> None:
    """Replace ``ood_fraction`` of the unlabeled pool by OOD images, relabel
    ``mislabel_fraction``."""
    cfg, rng, C = b.cfg, b.rng_corrupt, b.num_classes
    if cfg.ood_fraction > 0 and not b.ds.has_images:
        raise ValueError(
            f"`data.ood_fraction`={cfg.ood_fraction} replaces pool images by images of "
            f"`data.ood_dataset`, but data set '{cfg.dataset}' holds feature vectors: features "
            "cannot be corrupted as images. Set data.ood_fraction=0 and use "
            "data.mislabel_fraction (flipped pool labels) with features."
        )
    unl = np.flatnonzero(~pool.is_init)
    k_ood = count_from_fraction(cfg.ood_fraction, unl.size)
    k_mis = min(count_from_fraction(cfg.mislabel_fraction, unl.size), unl.size - k_ood)
    if k_mis > 0 and C < 2:
        raise ValueError("`data.mislabel_fraction` > 0 needs at least 2 classes.")
    chosen = rng.choice(unl, size=k_ood + k_mis, replace=False)
    ood_idx, mis_idx = np.sort(chosen[:k_ood]), np.sort(chosen[k_ood:])
    if k_ood:
        ood = b.get(cfg.ood_dataset)
        if k_ood > len(ood.y_train):
            raise ValueError(
                f"`data.ood_fraction`={cfg.ood_fraction} needs {k_ood} images but OOD data set "
                f"'{cfg.ood_dataset}' has only {len(ood.y_train)} train images."
            )
        rows = rng.choice(len(ood.y_train), size=k_ood, replace=False)
        pos, held = pool.held_positions(ood_idx)  # a per-host build: only the held rows
        pool.x[pos] = match_samples(ood.x_train[rows[held]], ood, b.ds, cfg.convert_images,
                                    f"OOD data set '{cfg.ood_dataset}'")
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


register_kind("cheap", target_pool, cheap_corruption, needs_images=False, per_host=True)
