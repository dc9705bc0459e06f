"""Pairwise distances and k-nearest-neighbour search, in row blocks.

The single place in ads_jax where distances between point sets are computed.
Everything is matmul form, ``|x|^2 + |y|^2 - 2 x.y`` clamped at 0, so the work
is a GEMM on every backend. Functions that scan a large query set process it in
blocks of ``block_size`` rows with ``lax.map``, so peak memory is
``O(block_size x N)`` however many queries there are (pools of millions).

Metrics (``metric=``):
  * ``"sqeuclidean"`` - squared Euclidean distance (default).
  * ``"euclidean"``   - its square root.
  * ``"cosine"``      - ``1 - cos(x, y)``; zero vectors have distance 1 to all.

Dtypes: computations run in the inputs' (promoted) floating dtype. float32 by
default; float64 works when ``jax_enable_x64`` is on.

Ties: :func:`knn` returns neighbours sorted by distance with ties broken by
the lower index (``lax.top_k`` is stable).
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

from ads_jax import _validation as V

__all__ = ["METRICS", "pairwise_distances", "map_row_blocks", "knn", "sq_norms"]

METRICS = ("sqeuclidean", "euclidean", "cosine")


def sq_norms(x: jax.Array) -> jax.Array:
    """Row-wise squared norms. ``x``: (n, d) float -> (n,) same dtype."""
    return jnp.sum(x * x, axis=-1)


def _pairwise(x: jax.Array, y: jax.Array, metric: str, y_sq: jax.Array | None = None) -> jax.Array:
    """Core pairwise distance, (n, d) x (m, d) -> (n, m). Traceable."""
    dtype = jnp.result_type(x.dtype, y.dtype, jnp.float32)
    x = x.astype(dtype)
    y = y.astype(dtype)
    prec = lax.Precision.HIGHEST
    if metric == "cosine":
        xn = x * lax.rsqrt(jnp.maximum(sq_norms(x), jnp.finfo(dtype).tiny))[:, None]
        yn = y * lax.rsqrt(jnp.maximum(sq_norms(y), jnp.finfo(dtype).tiny))[:, None]
        return jnp.clip(1.0 - jnp.matmul(xn, yn.T, precision=prec), 0.0, 2.0)
    if y_sq is None:
        y_sq = sq_norms(y)
    d = sq_norms(x)[:, None] + y_sq[None, :] - 2.0 * jnp.matmul(x, y.T, precision=prec)
    d = jnp.maximum(d, 0.0)
    if metric == "euclidean":
        d = jnp.sqrt(d)
    return d


def map_row_blocks(fn: Callable, x: jax.Array, block_size: int, *rest: jax.Array):
    """Apply ``fn(x_block, *rest_blocks)`` to row blocks of ``x`` and concatenate.

    ``x`` (and every array in ``rest``, which must share its leading axis) is
    zero-padded to a multiple of ``block_size`` and processed with ``lax.map``,
    so only one block's intermediates are live at a time. ``fn`` must map a
    (block_size, ...) block to a pytree of (block_size, ...) arrays; padded rows
    are dropped from the result. Traceable (use inside ``jit``).
    """
    n = x.shape[0]
    block_size = int(min(block_size, max(n, 1)))
    nb = -(-n // block_size)
    pad = nb * block_size - n

    def _blocks(a):
        a = jnp.pad(a, [(0, pad)] + [(0, 0)] * (a.ndim - 1))
        return a.reshape((nb, block_size) + a.shape[1:])

    if nb == 1:
        out = fn(*[_blocks(a)[0] for a in (x,) + rest])
        return jax.tree.map(lambda o: o[:n], out)
    out = lax.map(lambda args: fn(*args), tuple(_blocks(a) for a in (x,) + rest))
    return jax.tree.map(lambda o: o.reshape((nb * block_size,) + o.shape[2:])[:n], out)


@partial(jax.jit, static_argnames=("metric", "block_size"))
def _pairwise_blocked(x, y, metric, block_size):
    y_sq = sq_norms(y.astype(jnp.result_type(x.dtype, y.dtype, jnp.float32)))
    return map_row_blocks(lambda xb: _pairwise(xb, y, metric, y_sq), x, block_size)


def pairwise_distances(
    x: jax.Array,
    y: jax.Array,
    *,
    metric: str = "sqeuclidean",
    block_size: int = 4096,
) -> jax.Array:
    """All pairwise distances between rows of ``x`` and rows of ``y``.

    Args:
      x: (n, d) float array.
      y: (m, d) float array.
      metric: one of :data:`METRICS`.
      block_size: rows of ``x`` processed at once (bounds the temporaries).

    Returns:
      (n, m) array in the promoted float dtype; squared Euclidean distances are
      clamped at 0.
    """
    _check_pair(x, y, metric)
    block_size = V.check_positive_int("block_size", block_size)
    return _pairwise_blocked(x, y, metric, block_size)


@partial(jax.jit, static_argnames=("k", "metric", "block_size", "exclude_self"))
def _knn(queries, points, k, metric, block_size, exclude_self):
    dtype = jnp.result_type(queries.dtype, points.dtype, jnp.float32)
    p_sq = sq_norms(points.astype(dtype))
    n_q = queries.shape[0]
    offsets = jnp.arange(n_q, dtype=jnp.int32)

    def block(qb, ob):
        d = _pairwise(qb, points, metric, p_sq)
        if exclude_self:
            self_hit = ob[:, None] == jnp.arange(points.shape[0], dtype=jnp.int32)[None, :]
            d = jnp.where(self_hit, jnp.inf, d)
        neg, idx = lax.top_k(-d, k)
        return -neg, idx.astype(jnp.int32)

    return map_row_blocks(block, queries, block_size, offsets)


def knn(
    queries: jax.Array,
    points: jax.Array,
    k: int,
    *,
    metric: str = "sqeuclidean",
    block_size: int = 1024,
    exclude_self: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """k nearest rows of ``points`` for every row of ``queries``.

    Computed block-wise over ``queries`` with ``lax.top_k`` so memory is
    ``O(block_size x m)``.

    Args:
      queries: (n, d) float array.
      points: (m, d) float array, m >= k.
      k: number of neighbours, 1 <= k <= m.
      metric: one of :data:`METRICS`.
      block_size: query rows per block.
      exclude_self: if True, queries and points are the same set and query i
        may not return point i (leave-one-out neighbours); requires k < m.

    Returns:
      ``(dist, idx)``: (n, k) distances (ascending; ties to the lower index) in
      the promoted float dtype and (n, k) int32 indices into ``points``.
    """
    _check_pair(queries, points, metric, names=("queries", "points"))
    k = V.check_positive_int("k", k)
    block_size = V.check_positive_int("block_size", block_size)
    m = points.shape[0] - (1 if exclude_self else 0)
    if k > m:
        raise ValueError(
            f"`k`={k} is larger than the number of candidate points ({m}); lower k."
        )
    return _knn(queries, points, k, metric, block_size, exclude_self)


def _check_pair(x, y, metric, names=("x", "y")):
    V.check_choice("metric", metric, METRICS)
    V.check_array(names[0], x, ndim=2, kind="f")
    V.check_array(names[1], y, ndim=2, kind="f")
    if not V.is_tracer(x) and not V.is_tracer(y) and x.shape[1] != y.shape[1]:
        raise ValueError(
            f"`{names[0]}` and `{names[1]}` must have the same feature dimension, "
            f"got {x.shape[1]} and {y.shape[1]}."
        )
    V.check_finite(names[0], x)
    V.check_finite(names[1], y)
