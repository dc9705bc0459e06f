"""K-Medians batch selection: cluster the candidates into ``k = budget``
clusters minimizing the sum of Euclidean distances (Har-Peled & Kushal) and
pick one pool point per median.

No library defines these steps, so here are the choices:

1. **Seeding** - k-means++ from ``key``: ``u = jax.random.uniform(key, (k,))``;
   the first seed is the ``floor(u[0] * n_candidates)``-th candidate, seed ``t``
   is drawn with probability ``D^2(x) / sum D^2`` (squared distance to the
   nearest seed) by inverse-CDF of ``u[t]`` on the partition-independent sum
   tree shared with BADGE; a point is never seeded twice (uniform over the
   remaining candidates if all ``D^2`` are 0). One matrix-vector product per seed.
2. **Assignment** (Lloyd step) - every candidate to its nearest median, in
   matmul form ``|x|^2 + |m|^2 - 2 x.m`` on ``block x 1024`` tiles (no
   pool x k matrix); ties -> lowest median index. The distance to the
   assigned median (Weiszfeld weights, objective, re-seeding) is then
   recomputed exactly, ``|x - m|`` elementwise: the matmul form's error
   ``~sqrt(eps) |x|`` would swamp it for points near their median.
3. **Median update** - one Weiszfeld step per iteration for every non-empty
   cluster: ``m <- sum_i w_i x_i / sum_i w_i`` with ``w_i = 1 / max(|x_i - m|, eps)``
   and ``eps = 1e-4 * max_i |x_i - c|`` (``c`` the frame center, see below;
   guards points sitting on their median; the
   MM argument keeps the objective non-increasing up to ``eps / 2`` per such
   point). Alternating assignment and Weiszfeld steps never increases the
   objective ``sum_i min_j |x_i - m_j|``.
4. **Empty clusters** are re-seeded at the candidates farthest from their
   median (the r-th empty cluster, in index order, gets the r-th farthest point).
5. **Stopping** - after ``iterations`` median updates, or earlier once an
   update lowers the objective by at most ``tol`` (relative).
6. **Mapping** - each median takes its nearest candidate that is not yet
   picked. Medians are served in order of the distance to their nearest
   candidate (closest first; ties -> lower median index) from a list of their
   ``neighbors`` nearest candidates (one blocked pass, re-ranked by exact
   distances); a median whose list is
   exhausted scans the whole pool. The result is in that serving order.

Numerics: the candidates are clustered in their frame
(:func:`._kernels.frame_pool`: centered on the midpoint of their
per-coordinate range, scaled by a power of two of the largest centered
coordinate; exact min/max reductions). Assignment, ``D^2`` seeding, the
Weiszfeld ``eps`` and the relative stopping test are then translation- and
scale-invariant, so the picks are too (up to the rounding of the inputs);
medians and objective are mapped back to the caller's units (an objective
beyond the dtype's range is ``+inf``).

Sums over points (objective and Weiszfeld sums) use reproducible pre-rounded
block sums (:func:`_kernels.exact_block_sum`), and block partials are a
sequential ``segment_sum`` on CPU and a one-hot matmul elsewhere (GPU atomics
are not deterministic), so a sharded pool gives the same clustering and picks
as one device. Labeled and masked-out points take no part in the clustering.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from ads_jax import _validation as V
from ads_jax.distances import _pairwise, dist_from_frame, from_frame, map_row_blocks, sq_norms
from ads_jax.selection import _common as C
from ads_jax.selection import _kernels as K

__all__ = ["select_kmedians", "kmedians_cluster", "KMediansResult"]

_HI = lax.Precision.HIGHEST


class KMediansResult(NamedTuple):
    """Output of :func:`kmedians_cluster`.

    Attributes:
      medians: (k, d) float medians, in the caller's units.
      objective: (iterations + 1,) float, ``sum_i min_j |x_i - m_j|`` over the
        candidates after seeding (entry 0) and after each median update; NaN
        for updates not run (early stop). In the caller's units (``+inf`` if
        the true sum exceeds the dtype's range).
      picks: (k,) int32 pool indices, one per median (see the module docstring).
    """

    medians: jax.Array
    objective: jax.Array
    picks: jax.Array


def _assign(x, centers, cvalid, block):
    """Nearest valid center of every row: (n,) int32 index, (n,) squared distance."""
    kp = centers.shape[0]
    chunk = min(C.CENTER_CHUNK, kp)
    nc = kp // chunk
    csq = sq_norms(centers)

    def rows(xb):
        def body(c, st):
            best, arg = st
            cb = lax.dynamic_slice_in_dim(centers, c * chunk, chunk)
            d = _pairwise(xb, cb, "sqeuclidean", lax.dynamic_slice_in_dim(csq, c * chunk, chunk))
            d = jnp.where(lax.dynamic_slice_in_dim(cvalid, c * chunk, chunk)[None, :], d, jnp.inf)
            m = jnp.min(d, axis=1)
            a = jnp.argmin(d, axis=1).astype(jnp.int32) + c * chunk
            upd = m < best
            return jnp.where(upd, m, best), jnp.where(upd, a, arg)

        init = (jnp.full((xb.shape[0],), jnp.inf, xb.dtype), jnp.zeros((xb.shape[0],), jnp.int32))
        best, arg = lax.fori_loop(0, nc, body, init) if nc > 1 else body(0, init)
        return arg, best

    return map_row_blocks(rows, x, block)


def _sqdist_to_assigned(x, centers, a, block):
    """(n,) exact squared distance ``sum((x_i - centers[a_i])**2)`` of every row
    to its assigned center, blocked (``block x d`` temporaries). Elementwise,
    not matmul form: no cancellation for points near their center, so the
    Weiszfeld weights and the objective do not depend on rounding noise."""

    def rows(xb, ab):
        diff = xb - jnp.take(centers, ab, axis=0)
        return jnp.sum(diff * diff, axis=-1)

    return map_row_blocks(rows, x, block, a)


def _nearest_lists(x, valid, centers, block, T):
    """For every center its T nearest valid local points: (kp, T) sq dists, local idx."""
    kp = centers.shape[0]
    chunk = min(C.CENTER_CHUNK, kp)
    nc = kp // chunk
    nb = x.shape[0] // block
    csq = sq_norms(centers)

    def per_chunk(c):
        cb = lax.dynamic_slice_in_dim(centers, c * chunk, chunk)
        cs = lax.dynamic_slice_in_dim(csq, c * chunk, chunk)

        def body(b, st):
            bv, bi = st
            xb = lax.dynamic_slice_in_dim(x, b * block, block)
            vb = lax.dynamic_slice_in_dim(valid, b * block, block)
            d = jnp.where(vb[:, None], _pairwise(xb, cb, "sqeuclidean", cs), jnp.inf)
            v, i = lax.top_k(-d.T, T)
            v = jnp.concatenate([bv, v], axis=1)
            i = jnp.concatenate([bi, i.astype(jnp.int32) + b * block], axis=1)
            v, j = lax.top_k(v, T)
            return v, jnp.take_along_axis(i, j, axis=1)

        init = (jnp.full((chunk, T), -jnp.inf, x.dtype), jnp.zeros((chunk, T), jnp.int32))
        return lax.fori_loop(0, nb, body, init)

    v, i = lax.map(per_chunk, jnp.arange(nc))
    return -v.reshape(kp, T), i.reshape(kp, T)


def _exact_lists(ax, x, medians, nv, ni, off):
    """Re-rank each median's T nearest candidates (found in matmul form) by
    exact squared distances, ties -> lower index; entries with ``nv = inf``
    (fewer than T candidates) stay last. A median sitting on a candidate then
    has distance exactly 0 (the serving order's ties go to the lower median
    index, as documented, instead of to rounding noise).

    medians (k, d); nv (k, T) squared distances; ni (k, T) int32 global
    indices. Returns re-ranked ``(nv, ni)``."""
    k, t = ni.shape
    rows = C.gather_rows(ax, x, ni.reshape(-1), off).reshape(k, t, -1)
    diff = rows - medians[:, None, :]
    ex = jnp.where(nv < jnp.inf, jnp.sum(diff * diff, axis=-1), jnp.inf)
    o = jnp.argsort(ni, axis=1, stable=True)  # index order, then stable by distance
    ex, ni = jnp.take_along_axis(ex, o, axis=1), jnp.take_along_axis(ni, o, axis=1)
    o = jnp.argsort(ex, axis=1, stable=True)
    return jnp.take_along_axis(ex, o, axis=1), jnp.take_along_axis(ni, o, axis=1)


def _kernel(ax, x, valid, u, tol, *, layout, k, iterations, T, onehot_sums):
    n_loc, d = x.shape
    dt = x.dtype
    block = layout.block
    nb = layout.blocks_local
    off = C.local_offset(ax, n_loc)
    ids = jnp.arange(n_loc, dtype=jnp.int32) + off
    sq = sq_norms(x)
    kp = C.bucket(k) if k > C.CENTER_CHUNK else k
    cvalid = jnp.arange(kp) < k

    def row(p):
        return C.gather_rows(ax, x, p[None], off)[0]

    def sqdist_to(c):
        return jnp.maximum(sq + jnp.dot(c, c, precision=_HI) - 2.0 * jnp.dot(x, c, precision=_HI),
                           0.0)

    # 1. k-means++ seeding.
    first = K.tree_sample(ax, valid.astype(dt), u[0], block)

    def seed_step(t, st):
        d2, chosen, centers, p = st
        c = row(p)
        centers = centers.at[t - 1].set(c)
        d2 = jnp.minimum(d2, sqdist_to(c))
        chosen = chosen | (ids == p)
        avail = valid & ~chosen
        w = jnp.where(avail, d2, 0.0)
        w = jnp.where(ax.pmax(jnp.max(w)) > 0, w, avail.astype(dt))
        return d2, chosen, centers, K.tree_sample(ax, w, u[t], block)

    init = (jnp.full((n_loc,), jnp.inf, dt), jnp.zeros((n_loc,), bool),
            jnp.zeros((kp, d), dt), first)
    _, _, centers, last = lax.fori_loop(1, k, seed_step, init)
    centers = centers.at[k - 1].set(row(last))

    # 2-5. Lloyd assignment + Weiszfeld updates.
    scale = jnp.sqrt(ax.pmax(jnp.max(jnp.where(valid, sq, 0.0))))
    eps = jnp.maximum(1e-4 * scale, jnp.finfo(dt).tiny)

    def assign(centers):
        a, _ = _assign(x, centers, cvalid, block)
        dist = jnp.where(valid, jnp.sqrt(_sqdist_to_assigned(x, centers, a, block)), 0.0)
        obj = K.exact_block_sum(
            ax, lambda b: jnp.sum(lax.dynamic_slice_in_dim(dist, b * block, block)),
            nb, layout.blocks_real, (), dt)
        return a, dist, obj

    def update(centers, a, dist):
        w = jnp.where(valid, 1.0 / jnp.maximum(dist, eps), 0.0)

        def partial_sums(b):
            xb = lax.dynamic_slice_in_dim(x, b * block, block)
            wb = lax.dynamic_slice_in_dim(w, b * block, block)
            ab = lax.dynamic_slice_in_dim(a, b * block, block)
            vals = jnp.concatenate([xb * wb[:, None], wb[:, None]], axis=1)
            if onehot_sums:
                oh = jax.nn.one_hot(ab, kp, dtype=dt)
                return jnp.matmul(oh.T, vals, precision=_HI)
            return jax.ops.segment_sum(vals, ab, num_segments=kp)

        s = K.exact_block_sum(ax, partial_sums, nb, layout.blocks_real, (kp, d + 1), dt)
        counts = ax.psum(jax.ops.segment_sum(valid.astype(jnp.int32), a, num_segments=kp))
        nonempty = (counts > 0) & (s[:, d] > 0)
        new = jnp.where(nonempty[:, None], s[:, :d] / jnp.where(nonempty, s[:, d], 1.0)[:, None],
                        centers)
        empty = (~nonempty) & cvalid

        def reseed(new):
            _, far = C.global_topk(ax, jnp.where(valid, dist, -jnp.inf), k, off)
            rank = jnp.clip(jnp.cumsum(empty) - 1, 0, k - 1)
            rows = C.gather_rows(ax, x, far[rank], off)
            return jnp.where(empty[:, None], rows, new)

        return lax.cond(jnp.any(empty), reseed, lambda n: n, new)

    a, dist, obj = assign(centers)
    hist = jnp.full((iterations + 1,), jnp.nan, dt).at[0].set(obj)

    def cond(st):
        it, _, _, _, _, _, done = st
        return (it < iterations) & ~done

    def body(st):
        it, centers, a, dist, obj, hist, _ = st
        centers = update(centers, a, dist)
        a, dist, obj2 = assign(centers)
        done = (obj - obj2) <= tol * obj
        return it + 1, centers, a, dist, obj2, hist.at[it + 1].set(obj2), done

    st = (jnp.int32(0), centers, a, dist, obj, hist, jnp.bool_(False))
    _, centers, _, _, _, hist, _ = lax.while_loop(cond, body, st)

    # 6. Map medians to distinct candidates.
    nv, ni = _nearest_lists(x, valid, centers, block, T)
    ni = ni + off
    gv = ax.gather(nv)  # (n_dev, kp, T), device order = index order
    gi = ax.gather(ni)
    gv = jnp.moveaxis(gv, 0, 1).reshape(kp, -1)
    gi = jnp.moveaxis(gi, 0, 1).reshape(kp, -1)
    v, j = lax.top_k(-gv, T)
    nv, ni = -v[:k], jnp.take_along_axis(gi, j, axis=1)[:k]
    nv, ni = _exact_lists(ax, x, centers[:k], nv, ni, off)
    order = jnp.argsort(nv[:, 0], stable=True)

    def serve(r, st):
        picks, picked = st
        m = order[r]
        cand, cd = ni[m], nv[m]
        ok = (cd < jnp.inf) & ~jnp.any(cand[:, None] == picks[None, :], axis=1)

        def scan(_):
            s = jnp.where(valid & ~picked, -sqdist_to(centers[m]), -jnp.inf)
            return C.global_argmax(ax, s, off)[0]

        p = lax.cond(jnp.any(ok), lambda _: cand[jnp.argmax(ok)], scan, None)
        return picks.at[r].set(p), picked | (ids == p)

    init = (jnp.full((k,), -1, jnp.int32), jnp.zeros((n_loc,), bool))
    picks, _ = lax.fori_loop(0, k, serve, init)
    return picks, centers[:k], hist


@partial(jax.jit, static_argnames=("layout", "k", "iterations", "T"))
def _kmedians(key, x, labeled, mask, tol, *, layout, k, iterations, T):
    dt = C.compute_dtype(x.dtype)
    x = x.astype(dt)
    # Cluster in the frame of the candidates (before padding); medians and
    # objective go back to the caller's units at the end.
    xf, frame = K.frame_pool(x, jnp.asarray(mask) & ~jnp.asarray(labeled))
    xp = C.pad_rows(xf, layout.n_pad)
    valid = C.candidates(labeled, mask, layout.n_pad)
    u = jax.random.uniform(key, (k,), dt)
    kern = partial(_kernel, layout=layout, k=k, iterations=iterations,
                   T=min(T, layout.block), onehot_sums=jax.default_backend() != "cpu")
    picks, medians, hist = C.run_kernel(layout, kern, (xp, valid), (u, jnp.asarray(tol, dt)),
                                        out_point=(False, False, False))
    return picks, from_frame(medians, frame), dist_from_frame(hist, frame, "euclidean")


def _run(key, pool, budget, labeled, mask, iterations, tol, neighbors, mesh, block_size):
    prep = C.prepare("kmedians", key, pool, budget, labeled, mask, fields=("embeddings",),
                     need_key=True, mesh=mesh, block_size=block_size)
    iterations = V.check_nonneg_int("iterations", iterations)
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol >= 0:
        raise ValueError(f"`tol` must be a number >= 0, got {tol!r}.")
    neighbors = V.check_positive_int("neighbors", neighbors)
    picks, medians, hist = _kmedians(
        prep.key, prep.arrays["embeddings"], prep.labeled, prep.mask, float(tol),
        layout=prep.layout, k=prep.budget, iterations=iterations, T=neighbors)
    return KMediansResult(prep.output(medians), prep.output(hist), prep.output(picks))


def select_kmedians(key, pool, budget, *, labeled=None, mask=None, iterations=10, tol=1e-4,
                    neighbors=8, mesh=None, block_size=None, max_labeled=None):
    """K-Medians selection: one pool point per median of a k = ``budget`` clustering.

    Args:
      key: PRNG key (``jax.random.key``) for the k-means++ seeding.
      pool: dict with ``"embeddings"``: (N, d) float.
      budget: number of points (= clusters), 1 <= budget <= #candidates.
      labeled: optional (N,) bool, excluded from clustering and never selected.
      mask: optional (N,) bool, candidates allowed (None = all).
      iterations: maximum number of Weiszfeld median updates (>= 0).
      tol: stop early when an update lowers the objective by <= ``tol`` (relative).
      neighbors: nearest candidates kept per median for the mapping step.
      mesh: optional ``jax.sharding.Mesh`` to shard the point axis over.
      block_size: optional row block (power of two >= 8).
      max_labeled: accepted for a uniform signature (labeled points take no
        part in the clustering).

    Returns:
      (budget,) int32 pool indices, unique, none labeled, none masked out.
    """
    return _run(key, pool, budget, labeled, mask, iterations, tol, neighbors, mesh,
                block_size).picks


def kmedians_cluster(key, embeddings, k, *, mask=None, iterations=10, tol=1e-4, neighbors=8,
                     mesh=None, block_size=None) -> KMediansResult:
    """The clustering behind :func:`select_kmedians`, with its objective history.

    Args:
      key: PRNG key.
      embeddings: (N, d) float points.
      k: number of clusters, 1 <= k <= #points allowed by ``mask``.
      mask, iterations, tol, neighbors, mesh, block_size: as in
        :func:`select_kmedians`.

    Returns:
      :class:`KMediansResult` (medians (k, d), objective (iterations + 1,),
      picks (k,) int32).
    """
    return _run(key, {"embeddings": embeddings}, k, None, mask, iterations, tol, neighbors,
                mesh, block_size)
