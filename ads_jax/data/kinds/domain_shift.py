"""Kind ``domain_shift``: an unlabeled pool mixed from other source data sets.

Unlabeled pool drawn from ``source_datasets`` (train splits), mixed with
``source_weights``; validation, test and the seed set come from the target
``dataset`` (paper: CINIC-10 pool, CIFAR-10 evaluation). Pool points from a
source other than the target have provenance ``source_domain``; the target
may itself be one of the sources (its points are ``clean``). Sources must
have the target's image shape and number of classes; with
``convert_images=True`` images are resized (bilinear) and channel converted
(grey <-> RGB) instead of raising. Mixture counts are split by largest
remainders (ties to the earlier source) and sum exactly to U; with
``pool_size=None`` U is as large as the weights and source sizes allow.

A source derived from the target (the target itself, or its synthetic shift
``shifted:<target>``) shares its rows: only the ones left after validation,
test and the seed set, and never a row twice.

Features: a features target mixes with other features sources of the same
dimension; ``shifted:`` sources (image copies) are rejected.
"""

from __future__ import annotations

import math

import numpy as np

from ads_jax.data.kinds._registry import register_kind
from ads_jax.data.pool import CLEAN, SOURCE_DOMAIN, Build, check_compatible

__all__: list[str] = []


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


def mixture_pool(b: Build, remaining: np.ndarray, target_u: int | None):
    """Unlabeled pool mixed from ``source_datasets`` by ``source_weights``."""
    cfg, ds = b.cfg, b.ds
    names = list(cfg.source_datasets)
    if len(set(names)) != len(names):
        raise ValueError(f"`data.source_datasets` lists a data set twice: {names}.")
    if not ds.has_images:
        shifted = [n for n in names if n.strip().lower().startswith("shifted:")]
        if shifted:
            raise ValueError(
                f"`data.source_datasets` lists {shifted}: 'shifted:' sources are image copies "
                f"with shifted colours, but data set '{cfg.dataset}' holds feature vectors: "
                "features cannot be corrupted as images. Use other features files "
                "('features:PATH') as sources."
            )
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
        check_compatible(src, ds, cfg.convert_images, f"Source '{name}'")
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
            "or a smaller `data.initial_labeled`."
        )
    counts = _apportion(U, w)
    for name, k, cap in zip(names, counts, caps):
        if k > cap:
            raise ValueError(
                f"`data.pool_size`={cfg.pool_size} with weights "
                f"{[round(float(x), 4) for x in w]} needs {k} images from source '{name}', "
                f"which has only {cap}."
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
                    f"`data.pool_size`={cfg.pool_size} needs {k} images from source '{name}', "
                    f"but only {rows.size} of its rows are left after the other target-derived "
                    "sources.")
        chosen = b.rng_pool.choice(rows, size=int(k), replace=False)
        if derived:
            used = np.concatenate([used, chosen])
        parts.append((sid, chosen, prov))
    return parts, sources


register_kind("domain_shift", mixture_pool, None, needs_images=False, per_host=True)
