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

Numerics. The matmul form cancels: its absolute error is about
``eps (|x|^2 + |y|^2)``, so a large offset shared by all points swamps the
distances, and in float32 squared norms overflow above ~1e19 and underflow
(XLA:CPU flushes subnormals to zero) below ~1e-19. So every Euclidean
computation first moves both point sets into a shared :class:`Frame`:
``(x - c) * 2**-e`` with ``c`` the midpoint of the per-coordinate min and max
over all points (exact and order-free, so any device split gives the same
frame; ``x - c`` is exact when ``x`` and ``c`` are within a factor 2) and
``2**e`` the power of two just above the largest ``|x - c|`` coordinate (a
power-of-two scale is exact). Framed coordinates lie in (-1, 1), squared
distances in [0, 4d]: never inf or NaN, and a shared offset cancels before
the GEMM. Rankings (:func:`knn` indices, every selector and valuation built on
these helpers) are computed in the frame and are translation- and
scale-invariant up to float rounding of the inputs. Public results are
returned in the caller's units by an exact power-of-two rescale: a distance
whose true value exceeds the dtype's range is returned as ``+inf`` (e.g. a
squared distance above ~3.4e38 in float32; use ``"euclidean"`` or float64
for such data), and one below the smallest normal number as 0 - only that
value is unrepresentable, the neighbours (indices) are still right. Cosine is
not translation invariant and is never centered; each row is scaled by a
power of two of its own largest coordinate before normalisation, so huge and
tiny rows are safe too.

Dtypes: computations run in the inputs' (promoted) floating dtype. float32 by
default; float64 works when ``jax_enable_x64`` is on.

Ties: :func:`knn` returns neighbours sorted by distance with ties broken by
the lower index (``lax.top_k`` is stable).
"""

from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ads_jax import _validation as V

__all__ = ["METRICS", "pairwise_distances", "map_row_blocks", "knn", "knn_unchecked", "sq_norms", "Frame",
           "fit_frame", "metric_frame", "to_frame", "from_frame", "dist_from_frame",
           "dist_exponent", "mul_pow2", "unit_rows"]

METRICS = ("sqeuclidean", "euclidean", "cosine")

#: Power of the coordinate scale in each metric's distances.
_DIST_POWER = {"sqeuclidean": 2, "euclidean": 1, "cosine": 0}


def sq_norms(x: jax.Array) -> jax.Array:
    """Row-wise squared norms. ``x``: (n, d) float -> (n,) same dtype."""
    return jnp.sum(x * x, axis=-1)


# ------------------------------------------------------------------ frames
def _pow2(n: jax.Array, dtype) -> jax.Array:
    """Exact ``2.0**n`` in ``dtype`` (float32/float64) from its bit pattern;
    ``n`` (int, any shape) is clipped to the normal exponent range."""
    fi = np.finfo(dtype)
    itype = jnp.int64 if fi.bits == 64 else jnp.int32
    n = jnp.clip(jnp.asarray(n).astype(itype), fi.minexp, fi.maxexp - 1)
    return lax.bitcast_convert_type((n + (fi.maxexp - 1)) << fi.nmant, dtype)


def mul_pow2(x: jax.Array, n: jax.Array) -> jax.Array:
    """``x * 2**n`` exactly, unless the result itself over- or underflows.

    Two multiplications by normal powers of two (``2**n`` alone may not be
    representable, and XLA:CPU flushes subnormal factors to zero); the
    intermediate lies between ``x`` and the result, so it never under- or
    overflows when the result does not. ``x``: float array (float32 or
    wider); ``n``: int array broadcastable to ``x``; ``|n|`` up to twice the
    dtype's exponent range (beyond it the result is 0 or inf anyway).
    """
    fi = np.finfo(x.dtype)
    itype = jnp.int64 if fi.bits == 64 else jnp.int32
    n = jnp.clip(jnp.asarray(n).astype(itype), 2 * fi.minexp, 2 * (fi.maxexp - 1))
    h = jnp.floor_divide(n, 2)
    return x * _pow2(h, x.dtype) * _pow2(n - h, x.dtype)


class Frame(NamedTuple):
    """A shared translation and power-of-two scaling of point sets.

    A point ``x`` is represented in the frame as ``(x - center) * 2**-exp``
    (:func:`to_frame`); distances between framed points are those between the
    original points times ``2**-exp`` (``2**-2exp`` for squared distances).

    Attributes:
      center: (d,) float reference point (zeros for scale-only frames).
      exp: () int32 scale exponent.
    """

    center: jax.Array
    exp: jax.Array


def fit_frame(*sets: jax.Array, center: bool = True, where=None) -> Frame:
    """The :class:`Frame` of one or more (n_i, d) point sets. Traceable.

    ``center`` is the midpoint ``lo/2 + hi/2`` of the per-coordinate min and
    max over all points (zeros with ``center=False``); ``exp`` is the exponent
    ``e`` with ``max |x - center| < 2**e`` over all coordinates (0 if that max
    is 0). Only min / max reductions: exact, so the frame of a sharded array
    is bitwise the one of its single-device copy. Empty sets are allowed.

    Args:
      *sets: (n_i, d) float arrays of real points (no zero padding, which
        would move the reference - or mask it out with ``where``).
      center: translate (Euclidean) or only scale (e.g. BADGE's features).
      where: optional sequence of (n_i,) bool arrays, one per set: only those
        points define the frame (all points are still mapped by it).

    Returns:
      ``Frame`` with center (d,) in the sets' promoted float dtype (at least
      float32) and exp () int32.
    """
    dtype = jnp.result_type(*(s.dtype for s in sets), jnp.float32)
    sets = [jnp.asarray(s).astype(dtype) for s in sets]
    use = [None] * len(sets) if where is None else [w[:, None] for w in where]
    d = sets[0].shape[-1]
    if center:
        lo = jnp.full((d,), jnp.inf, dtype)
        hi = jnp.full((d,), -jnp.inf, dtype)
        for s, w in zip(sets, use, strict=True):
            lo = jnp.minimum(lo, jnp.min(s, axis=0, initial=jnp.inf, where=w))
            hi = jnp.maximum(hi, jnp.max(s, axis=0, initial=-jnp.inf, where=w))
        c = jnp.where(lo <= hi, lo * 0.5 + hi * 0.5, jnp.zeros((), dtype))
    else:
        c = jnp.zeros((d,), dtype)
    amax = jnp.zeros((), dtype)
    for s, w in zip(sets, use, strict=True):
        amax = jnp.maximum(amax, jnp.max(jnp.abs(s - c), initial=0.0, where=w))
    _, e = jnp.frexp(amax)
    return Frame(c, e.astype(jnp.int32))


def metric_frame(*sets: jax.Array, metric: str, where=None) -> Frame:
    """:func:`fit_frame` for a metric: centered and scaled for the Euclidean
    metrics; the identity frame for ``"cosine"`` (not translation invariant;
    :func:`unit_rows` guards its magnitudes row by row). ``where`` as in
    :func:`fit_frame` (masked-out rows do not define the frame)."""
    if metric == "cosine":
        dtype = jnp.result_type(*(s.dtype for s in sets), jnp.float32)
        return Frame(jnp.zeros((sets[0].shape[-1],), dtype), jnp.zeros((), jnp.int32))
    return fit_frame(*sets, where=where)


def to_frame(x: jax.Array, frame: Frame) -> jax.Array:
    """(..., d) points -> framed points ``(x - center) * 2**-exp``, same shape,
    the frame's dtype."""
    return mul_pow2(x.astype(frame.center.dtype) - frame.center, -frame.exp)


def from_frame(x: jax.Array, frame: Frame) -> jax.Array:
    """Inverse of :func:`to_frame` (up to the rounding of the final add)."""
    return mul_pow2(x, frame.exp) + frame.center


def dist_exponent(frame: Frame, metric: str) -> jax.Array:
    """() int32 ``p``: a distance in the frame is ``2**-p`` times the one in
    the caller's units (``p = 2 exp`` squared, ``exp`` Euclidean, 0 cosine)."""
    return frame.exp * _DIST_POWER[metric]


def dist_from_frame(d: jax.Array, frame: Frame, metric: str) -> jax.Array:
    """Distances between framed points -> the caller's units (exact power-of-two
    rescale; ``+inf`` where the true value exceeds the dtype's range)."""
    for _ in range(_DIST_POWER[metric]):
        d = mul_pow2(d, frame.exp)
    return d


def unit_rows(x: jax.Array) -> jax.Array:
    """Rows of ``x`` (..., d) scaled to unit norm; zero rows stay zero.

    Each row is first scaled by a power of two of its largest coordinate, so
    its squared norm neither overflows nor underflows whatever its magnitude.
    """
    _, e = jnp.frexp(jnp.max(jnp.abs(x), axis=-1, keepdims=True))
    x = mul_pow2(x, -e)
    return x * lax.rsqrt(jnp.maximum(sq_norms(x), jnp.finfo(x.dtype).tiny))[..., None]


# --------------------------------------------------------------- distances
def _pairwise(x: jax.Array, y: jax.Array, metric: str, y_sq: jax.Array | None = None) -> jax.Array:
    """Core pairwise distance, (n, d) x (m, d) -> (n, m). Traceable.

    For the Euclidean metrics ``x`` and ``y`` must already be in a shared
    :class:`Frame` (:func:`to_frame`); the result is in frame units. Cosine
    takes raw points (it normalises every row itself).
    """
    dtype = jnp.result_type(x.dtype, y.dtype, jnp.float32)
    x = x.astype(dtype)
    y = y.astype(dtype)
    prec = lax.Precision.HIGHEST
    if metric == "cosine":
        return jnp.clip(1.0 - jnp.matmul(unit_rows(x), unit_rows(y).T, precision=prec), 0.0, 2.0)
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
    dtype = jnp.result_type(x.dtype, y.dtype, jnp.float32)
    x, y = x.astype(dtype), y.astype(dtype)
    frame = metric_frame(x, y, metric=metric)
    yf = to_frame(y, frame)
    y_sq = sq_norms(yf)

    def block(xb):
        return dist_from_frame(_pairwise(to_frame(xb, frame), yf, metric, y_sq), frame, metric)

    return map_row_blocks(block, x, block_size)


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
      (n, m) array in the promoted float dtype, in the caller's units;
      squared Euclidean distances are clamped at 0. Computed in a shared
      centered, power-of-two scaled frame (module docstring): accurate for
      points sharing a large offset and for any magnitude; an entry is
      ``+inf`` only where the true distance exceeds the dtype's range
      (``0`` only where it is below the smallest normal number).
    """
    _check_pair(x, y, metric)
    block_size = V.check_positive_int("block_size", block_size)
    return _pairwise_blocked(x, y, metric, block_size)


@partial(jax.jit, static_argnames=("k", "metric", "block_size", "exclude_self"))
def _knn(queries, points, k, metric, block_size, exclude_self):
    dtype = jnp.result_type(queries.dtype, points.dtype, jnp.float32)
    queries, points = queries.astype(dtype), points.astype(dtype)
    frame = metric_frame(queries, points, metric=metric)
    pf = to_frame(points, frame)
    p_sq = sq_norms(pf)
    n_q = queries.shape[0]
    offsets = jnp.arange(n_q, dtype=jnp.int32)

    def block(qb, ob):
        d = _pairwise(to_frame(qb, frame), pf, metric, p_sq)  # ranked in frame units
        if exclude_self:
            self_hit = ob[:, None] == jnp.arange(points.shape[0], dtype=jnp.int32)[None, :]
            d = jnp.where(self_hit, jnp.inf, d)
        neg, idx = lax.top_k(-d, k)
        return dist_from_frame(-neg, frame, metric), idx.astype(jnp.int32)

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
      the promoted float dtype and the caller's units, and (n, k) int32
      indices into ``points``. The neighbours are ranked in a shared
      centered, power-of-two scaled frame (module docstring), so the indices
      are right at any magnitude and under large shared offsets; a returned
      distance is ``+inf`` only where its true value exceeds the dtype's
      range.
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


def knn_unchecked(queries, points, k: int, *, metric: str = "sqeuclidean",
                  block_size: int = 1024, exclude_self: bool = False):
    """:func:`knn` without its input checks (traceable; the caller validated the inputs)."""
    return _knn(queries, points, int(k), metric, int(block_size), bool(exclude_self))


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
