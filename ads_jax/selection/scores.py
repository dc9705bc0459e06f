"""Score-based selectors: top-``budget`` candidates by a per-point score.

* ``entropy``          - predictive entropy ``-sum_c p_c log p_c`` (0 log 0 = 0).
* ``margin``           - ``1 - (p_(1) - p_(2))``: smallest top-2 margin first.
* ``least_confidence`` - ``1 - max_c p_c``.
* ``top_value``        - ``pool["scores"]`` as given (e.g. data values; ADS ablations).
* ``random``           - uniform without replacement: the top-``budget`` of
  independent random 31-bit integers drawn from ``key`` (one per point).

Higher score = selected first. The result is sorted by score, descending,
ties -> lowest index (``lax.top_k`` is stable). Labeled and masked-out points
are never selected. Scores are computed per point on each device's shard and
the top-``budget`` is merged exactly across devices, so a sharded pool selects
the same points as one device.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import jax
import jax.numpy as jnp

from ads_jax.selection import _common as C

__all__ = [
    "entropy_scores",
    "margin_scores",
    "least_confidence_scores",
    "select_entropy",
    "select_margin",
    "select_least_confidence",
    "select_random",
    "select_top_value",
]


def _float(p):
    p = jnp.asarray(p)
    return p.astype(C.compute_dtype(p.dtype))


def entropy_scores(probs: jax.Array) -> jax.Array:
    """Predictive entropy. ``probs``: (N, C) float -> (N,) float (>= float32)."""
    p = _float(probs)
    return -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0), axis=-1)


def margin_scores(probs: jax.Array) -> jax.Array:
    """``1 - (p_(1) - p_(2))``. ``probs``: (N, C) float, C >= 2 -> (N,) float."""
    p = _float(probs)
    i = jnp.argmax(p, axis=-1)
    first = jnp.take_along_axis(p, i[:, None], axis=-1)[:, 0]
    second = jnp.max(jnp.where(jax.nn.one_hot(i, p.shape[-1], dtype=bool), -jnp.inf, p), axis=-1)
    return 1.0 - (first - second)


def least_confidence_scores(probs: jax.Array) -> jax.Array:
    """``1 - max_c p_c``. ``probs``: (N, C) float -> (N,) float."""
    return 1.0 - jnp.max(_float(probs), axis=-1)


_SCORE_FNS = {
    "entropy": entropy_scores,
    "margin": margin_scores,
    "least_confidence": least_confidence_scores,
    "top_value": lambda s: _float(s),
    "random": lambda s: s,
}


def _kernel(ax, x, cand, *, kind, budget):
    s = _SCORE_FNS[kind](x)
    low = jnp.iinfo(s.dtype).min if jnp.issubdtype(s.dtype, jnp.integer) else -jnp.inf
    s = jnp.where(cand, s, jnp.array(low, s.dtype))
    _, idx = C.global_topk(ax, s, budget, C.local_offset(ax, s.shape[0]))
    return idx


@partial(jax.jit, static_argnames=("layout", "budget", "kind"))
def _top(key, x, labeled, mask, *, layout, budget, kind):
    if kind == "random":
        bits = jax.random.bits(key, (layout.n,), jnp.uint32)
        x = (bits >> 1).astype(jnp.int32)
    x = C.pad_rows(x, layout.n_pad)
    cand = C.candidates(labeled, mask, layout.n_pad)
    return C.run_kernel(layout, partial(_kernel, kind=kind, budget=budget), (x, cand))


def _select(kind, field, key, pool, budget, labeled, mask, mesh):
    need_key = kind == "random"
    fields = () if field is None else (field,)
    if kind == "random":
        # Random only needs N: take it from any per-point array in the pool.
        for f in ("embeddings", "probs", "scores"):
            if isinstance(pool, Mapping) and pool.get(f) is not None:
                fields = (f,)
                break
        else:
            if not isinstance(pool, Mapping):
                fields = ("embeddings",)  # let prepare() raise its TypeError
            else:
                raise ValueError(
                    "selector 'random' needs at least one per-point array in `pool` "
                    "(embeddings, probs or scores) to know the pool size.")
    prep = C.prepare(kind, key, pool, budget, labeled, mask, fields=fields,
                     need_key=need_key, mesh=mesh)
    x = prep.arrays[fields[0]]
    if kind == "margin" and x.shape[1] < 2:
        raise ValueError(
            f"selector 'margin' needs at least 2 classes, pool['probs'] has {x.shape[1]}.")
    key = prep.key if prep.key is not None else jax.random.key(0)
    if kind == "random":
        x = jnp.zeros((0,), jnp.int32)  # replaced by random bits inside
    return prep.output(_top(key, x, prep.labeled, prep.mask, layout=prep.layout,
                             budget=prep.budget, kind=kind))


_DOC = """{title}

    Args:
      key: {key}
      pool: dict with {field}.
      budget: number of points to select, 1 <= budget <= #candidates.
      labeled: optional (N,) bool, points never selected.
      mask: optional (N,) bool, candidates allowed (None = all).
      mesh: optional ``jax.sharding.Mesh`` to shard the point axis over.
      max_labeled: accepted for a uniform signature (unused).

    Returns:
      (budget,) int32 pool indices sorted by score (descending; ties -> lowest
      index), unique, none labeled, none masked out.
    """


def select_entropy(key, pool, budget, *, labeled=None, mask=None, mesh=None, max_labeled=None):
    return _select("entropy", "probs", key, pool, budget, labeled, mask, mesh)


def select_margin(key, pool, budget, *, labeled=None, mask=None, mesh=None, max_labeled=None):
    return _select("margin", "probs", key, pool, budget, labeled, mask, mesh)


def select_least_confidence(key, pool, budget, *, labeled=None, mask=None, mesh=None, max_labeled=None):
    return _select("least_confidence", "probs", key, pool, budget, labeled, mask, mesh)


def select_top_value(key, pool, budget, *, labeled=None, mask=None, mesh=None, max_labeled=None):
    return _select("top_value", "scores", key, pool, budget, labeled, mask, mesh)


def select_random(key, pool, budget, *, labeled=None, mask=None, mesh=None, max_labeled=None):
    return _select("random", None, key, pool, budget, labeled, mask, mesh)


_PROBS = '``"probs"``: (N, C) float class probabilities'
_UNUSED = "ignored (may be None); the selection is deterministic."
select_entropy.__doc__ = _DOC.format(
    title="Top-``budget`` by predictive entropy.", key=_UNUSED, field=_PROBS)
select_margin.__doc__ = _DOC.format(
    title="Top-``budget`` by smallest top-2 margin (score ``1 - (p1 - p2)``; C >= 2).",
    key=_UNUSED, field=_PROBS)
select_least_confidence.__doc__ = _DOC.format(
    title="Top-``budget`` by least confidence (score ``1 - max p``).", key=_UNUSED, field=_PROBS)
select_top_value.__doc__ = _DOC.format(
    title="Top-``budget`` by a given per-point score (e.g. predicted data values).",
    key=_UNUSED, field='``"scores"``: (N,) float')
select_random.__doc__ = _DOC.format(
    title="Uniformly random ``budget`` candidates, without replacement.",
    key="PRNG key (``jax.random.key``); the draw is a function of the key only.",
    field="any per-point array (``embeddings``, ``probs`` or ``scores``) giving N")
