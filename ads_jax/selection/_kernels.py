"""Traceable numerical building blocks shared by the selectors.

* :func:`tree_sample` - inverse-CDF draw on a partition-independent sum tree
  (BADGE's and K-Medians' ``D^2`` sampling, k-center's random cold start).
* :func:`exact_block_sum` - reproducible (order- and split-independent) sums
  over blocks of points (K-Medians' objective and Weiszfeld sums).
* :func:`min_sqdist_to_rows` - blocked squared distance to the nearest of a
  set of centers (initial distances to the labeled points).
* :func:`frame_pool` - the pool moved into the frame of the points a selector
  uses (run at the selector's entry, before padding and sharding).

All but :func:`frame_pool` run inside
:func:`ads_jax.selection._common.run_kernel`, on one device's shard of the pool, with collectives through :class:`~._common.Axis`.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax import lax

from ads_jax.distances import Frame, _pairwise, fit_frame, map_row_blocks, to_frame
from ads_jax.selection._common import CENTER_CHUNK, Axis, next_pow2, pad_rows

__all__ = ["tree_sample", "exact_block_sum", "min_sqdist_to_rows", "frame_pool"]


def _levels(w: jax.Array) -> list[jax.Array]:
    """Pairwise sum-tree levels of ``w`` (..., m), m a power of two:
    ``[w, pair sums, ..., (..., 1)]``. Plain elementwise adds, so every node is
    bitwise the same however the leaves are split across devices."""
    out = [w]
    while w.shape[-1] > 1:
        w = w[..., 0::2] + w[..., 1::2]
        out.append(w)
    return out


def _descend(levels: list[jax.Array], row, t: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Inverse-CDF descent of a sum tree from its root.

    At each node go right iff the right subtree has weight and ``t >= left``
    (then ``t -= left``). In exact arithmetic this returns the smallest leaf
    ``i`` with ``cumsum(w)[i] > t``; in floats it never lands on a zero-weight
    leaf when the root is positive. Returns ``(leaf index, residual t)``.
    """
    node = jnp.int32(0)
    for lvl in reversed(levels[:-1]):
        lv = lvl if row is None else lvl[row]
        left = lv[2 * node]
        right = lv[2 * node + 1]
        go = (right > 0) & (t >= left)
        t = jnp.where(go, t - left, t)
        node = 2 * node + go.astype(jnp.int32)
    return node, t


def tree_sample(ax: Axis, w: jax.Array, u: jax.Array, block: int) -> jax.Array:
    """Draw one index with probability ``w_i / sum(w)`` by inverse-CDF of ``u``.

    The CDF is evaluated on a sum tree: a pairwise tree inside each block of
    ``block`` consecutive points, and a pairwise tree over all block totals
    (gathered from every device, zero-padded to a power of two). Trailing zero
    padding leaves every node unchanged, so the draw is bitwise the same for
    any number of devices. Mathematically this is the smallest ``i`` with
    ``cumsum(w)[i] > u * sum(w)``, which is what a NumPy reference with the same
    ``u`` computes (``np.searchsorted(np.cumsum(w), u * w.sum(), "right")``).

    Args:
      ax: device axis.
      w: (n_local,) non-negative weights of this device's points, n_local a
        multiple of ``block``; the global weight vector must have a positive sum.
      u: scalar uniform in [0, 1).
      block: power-of-two block size.

    Returns:
      Scalar int32 global index (same on every device).
    """
    nb = w.shape[0] // block
    loc = _levels(w.reshape(nb, block))
    totals = ax.gather(loc[-1][:, 0]).reshape(-1)
    totals = pad_rows(totals, next_pow2(totals.shape[0]))
    top = _levels(totals)
    t = u.astype(w.dtype) * top[-1][0]
    g, t = _descend(top, None, t)
    me = ax.index()
    owner = (g // nb) == me
    lb = jnp.clip(g - me * nb, 0, nb - 1)
    leaf, _ = _descend(loc, lb, t)
    leaf = ax.psum(jnp.where(owner, leaf, 0))
    return (g * block + leaf).astype(jnp.int32)


def exact_block_sum(ax: Axis, partial_fn: Callable[[jax.Array], jax.Array], n_blocks: int,
                    blocks_real: int, shape: tuple[int, ...], dtype) -> jax.Array:
    """Reproducible sum of per-block partials over all blocks of all devices.

    Float addition is not associative, so a plain ``psum`` of per-device sums
    depends on the device count. Here every block partial is first rounded to
    a common grid ``unit = 2**(e - nmant)`` per entry, where ``2**e`` bounds
    ``blocks_real * max_blocks |partial|`` (a global max, exact). Multiples of
    ``unit`` below ``2**(nmant+1) * unit`` are exact floats, so every later
    addition is exact and the result does not depend on the order or the
    split. The price is a relative error of at most ``blocks_real * 2**-(nmant+1)``
    of the largest partial (about 3e-6 for 50 blocks in float32).

    Args:
      ax: device axis.
      partial_fn: block index (0..n_blocks-1 on this device) -> partial sum of
        ``shape``; called twice per block.
      n_blocks: blocks on this device.
      blocks_real: global number of blocks holding real points.
      shape, dtype: of the partials.

    Returns:
      The global sum (replicated), ``shape`` and ``dtype``.
    """
    zero = jnp.zeros(shape, dtype)
    m = lax.fori_loop(0, n_blocks, lambda b, m: jnp.maximum(m, jnp.abs(partial_fn(b))), zero)
    m = ax.pmax(m)
    _, e = jnp.frexp(m * blocks_real)
    nmant = jnp.finfo(dtype).nmant
    unit = jnp.where(m > jnp.finfo(dtype).tiny * 2.0 ** (nmant + 2),
                     jnp.ldexp(jnp.ones(shape, dtype), e - nmant), jnp.ones(shape, dtype))
    s = lax.fori_loop(0, n_blocks,
                      lambda b, s: s + jnp.round(partial_fn(b) / unit) * unit, zero)
    return ax.psum(s)


def min_sqdist_to_rows(x: jax.Array, centers: jax.Array, valid: jax.Array, block: int,
                       chunk: int = CENTER_CHUNK) -> jax.Array:
    """Squared distance of every row of ``x`` to its nearest valid center.

    Blocked over rows of ``x`` (``block``) and over centers (``chunk``), so the
    largest temporary is ``block x chunk``. Matmul form: ``x`` and ``centers``
    must be in a shared :class:`ads_jax.distances.Frame` (the selectors frame
    the pool at their entry), which keeps the result finite and free of
    offset cancellation; the result is in frame units. Every GEMM has the same shape
    whatever the device split. Returns (n,) in ``x``'s dtype; ``+inf`` when no
    center is valid.

    Args:
      x: (n, d) float, n a multiple of ``block``.
      centers: (m, d) float, m a multiple of ``min(chunk, m)``.
      valid: (m,) bool.
    """
    m = centers.shape[0]
    chunk = min(chunk, m)
    nc = m // chunk
    c_sq = jnp.sum(centers * centers, axis=-1)

    def rows(xb):
        def body(c, best):
            cb = lax.dynamic_slice_in_dim(centers, c * chunk, chunk)
            cs = lax.dynamic_slice_in_dim(c_sq, c * chunk, chunk)
            cv = lax.dynamic_slice_in_dim(valid, c * chunk, chunk)
            d = _pairwise(xb, cb, "sqeuclidean", cs)
            return jnp.minimum(best, jnp.min(jnp.where(cv[None, :], d, jnp.inf), axis=1))

        init = jnp.full((xb.shape[0],), jnp.inf, x.dtype)
        return lax.fori_loop(0, nc, body, init) if nc > 1 else body(0, init)

    return map_row_blocks(rows, x, block)


def frame_pool(x: jax.Array, use: jax.Array, *, center: bool = True) -> tuple[jax.Array, Frame]:
    """Pool points in the :class:`~ads_jax.distances.Frame` of the used ones.

    The frame (:func:`ads_jax.distances.fit_frame`; exact min/max reductions,
    so the same on any mesh) is fitted on the rows with ``use`` (labeled
    points and candidates); the other rows take no part in any distance and
    are set to 0 (the frame center), so that a far-away excluded point can
    neither overflow nor turn a zero weight into NaN. Call on the unpadded
    pool, inside the selector's ``jit``.

    Args:
      x: (N, d) float points (compute dtype).
      use: (N,) bool.
      center: translate as well as scale (False for BADGE's features).

    Returns:
      ``(xf, frame)``: (N, d) framed points, same dtype, and the frame.
    """
    use = jnp.asarray(use)
    frame = fit_frame(x, center=center, where=(use,))
    return jnp.where(use[:, None], to_frame(x, frame), jnp.zeros((), x.dtype)), frame
