"""Pre-filters: which m pool points the selector may pick from (stage 3 of ADS).

An arm ``<prefilter>+<selector>`` keeps the top ``m`` valid pool rows by the
pre-filter's score (``m`` from ``acquisition.preselect``; ties to the lower
row), then runs the selector on them. Every pre-filter is an entry of
:data:`PREFILTERS` (the component shape of :mod:`ads_jax.registry`):

* ``ads``        -- the predicted data value (valuation, then value estimator):
  the paper's ADS;
* ``randfilter`` -- uniformly random (the control: a smaller pool, no value);
* ``margin``, ``entropy`` -- model uncertainty (separates "value" from
  "uncertainty");
* ``proximity``  -- closeness to the validation set: minus the mean distance
  to the ``k`` nearest validation points (no labels, no values; separates
  "Shapley value" from "near the validation data").

A pre-filter factory takes its options (``acquisition.preselect.options``)
and returns a :class:`Prefilter` whose ``score(key, x)`` gives one score per
pool row (higher = kept).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from ads_jax import _validation as V
from ads_jax.distances import METRICS, knn_unchecked
from ads_jax.registry import Registry
from ads_jax.selection.scores import entropy_scores, margin_scores

__all__ = ["PREFILTERS", "Prefilter", "PrefilterInputs", "register_prefilter",
           "available_prefilters", "build_prefilter"]

PREFILTERS = Registry("pre-filter",
                      "Register one with ads_jax.acquisition.register_prefilter(name, factory).")


class PrefilterInputs(NamedTuple):
    """What a pre-filter's score sees (inside the acquisition program).

    Attributes:
      pool_emb: (U, d) float; pool_probs: (U, C) float; pool_mask: (U,) bool
        (False at padding rows).
      values: (U,) float predicted values (only for ``uses_values``
        pre-filters; else None).
      val_emb: (M, d) float validation embeddings (or None).
    """

    pool_emb: Any
    pool_probs: Any
    pool_mask: Any
    values: Any
    val_emb: Any


class Prefilter(NamedTuple):
    """A built pre-filter.

    Attributes:
      score: ``score(key, x: PrefilterInputs, *, mesh) -> (U,)`` scores, higher
        kept first (any real or integer dtype; padding rows are masked by the
        caller). Traceable.
      uses_values: the acquisition program runs the valuation and the value
        estimator first and passes their predicted values (``x.values``).
      needs_validation: reads ``x.val_emb``.
    """

    score: Callable[..., Any]
    uses_values: bool = False
    needs_validation: bool = False


def register_prefilter(name: str, factory: Callable[..., Prefilter], *,
                       overwrite: bool = False) -> Callable[..., Prefilter]:
    """Register a pre-filter factory ``factory(**options) -> Prefilter`` (arm ``name+<selector>``)."""
    if "+" in name or "-" in name:
        raise ValueError(f"a pre-filter name may not contain '+' or '-' (arms are "
                         f"'<prefilter>+<selector>'), got {name!r}.")
    return PREFILTERS.register(name, factory, overwrite=overwrite)


def available_prefilters() -> tuple[str, ...]:
    """Names of every registered pre-filter."""
    return PREFILTERS.names()


def build_prefilter(name: str, options=None) -> Prefilter:
    """The :class:`Prefilter` registered under ``name`` with ``options`` (built once)."""
    return PREFILTERS.build(name, options)


# ---------------------------------------------------------------------------
# Built-in pre-filters
# ---------------------------------------------------------------------------


def ads() -> Prefilter:
    """The predicted data value (ADS): keep the most valuable pool points."""
    return Prefilter(score=lambda key, x, mesh=None: x.values, uses_values=True)


def randfilter() -> Prefilter:
    """Uniformly random m of the valid rows, without replacement: the rows with the
    largest random 31-bit integers; the j-th valid row gets the j-th integer of one
    draw, so where padding rows sit changes nothing."""
    def score(key, x, mesh=None):
        mask = x.pool_mask
        r = (jax.random.bits(key, mask.shape, jnp.uint32) >> 1).astype(jnp.int32)
        rank = jnp.cumsum(mask.astype(jnp.int32)) - 1
        return r[jnp.clip(rank, 0, mask.shape[0] - 1)]

    return Prefilter(score=score)


def margin() -> Prefilter:
    """Smallest margin between the two most probable classes first (``1 - (p1 - p2)``)."""
    return Prefilter(score=lambda key, x, mesh=None: margin_scores(x.pool_probs))


def entropy() -> Prefilter:
    """Highest predictive entropy first."""
    return Prefilter(score=lambda key, x, mesh=None: entropy_scores(x.pool_probs))


def proximity(k: int = 10, metric: str = "euclidean", block_size: int = 1024) -> Prefilter:
    """Closest to the validation set first: score = minus the mean ``metric``
    distance to the ``k`` nearest validation points (``min(k, M)`` of them)."""
    V.check_positive_int("preselect.options.k", k)
    V.check_choice("preselect.options.metric", metric, METRICS)
    V.check_positive_int("preselect.options.block_size", block_size)

    def score(key, x, mesh=None):
        kk = min(k, int(x.val_emb.shape[0]))
        d, _ = knn_unchecked(x.pool_emb, x.val_emb, kk, metric=metric, block_size=block_size)
        return -jnp.mean(d, axis=-1)

    return Prefilter(score=score, needs_validation=True)


for _name, _factory in (("ads", ads), ("randfilter", randfilter), ("margin", margin),
                        ("entropy", entropy), ("proximity", proximity)):
    register_prefilter(_name, _factory)
del _name, _factory
