"""Greedy k-center (Core-set, Sener & Savarese 2018) batch selection.

Algorithm (farthest-first traversal):

* Centers start as the labeled points. Every candidate keeps ``md``, its
  squared Euclidean distance to the nearest center (one blocked GEMM against
  the labeled points, ``block x 1024`` temporaries at most).
* Each step picks the available candidate with the largest ``md`` (ties -> the
  lowest index), adds it as a center and updates ``md`` with **one
  matrix-vector product** against the new center (``lax.fori_loop``):
  ``md = min(md, |x|^2 + |c|^2 - 2 x.c)``, clamped at 0. Memory is
  O(N + budget * d): no pool x pool or pool x budget matrix is ever formed.
* Two exact implementations of that step (``method=``):

  - ``"matvec"``: the literal algorithm, one matrix-vector product over the
    whole pool per pick. Memory-bound: it reads the pool once per pick.
  - ``"lazy"`` (default on CPU): the same picks from far less memory traffic.
    ``md`` only ever decreases, so a stale value is an upper bound. The pool is
    split into blocks of ``block`` rows, each with the max of its stale ``md``
    and the number of centers already applied to it. A pick refreshes only
    the block with the largest bound (one small GEMM against the centers it
    has not seen, in chunks of 16 aligned to the center index), repeating
    until that block is fresh; its argmax is then the true argmax, because
    every other block is bounded by a smaller (or, for a lower-index block,
    never an equal) value. On the 50,000 x 512 benchmark about 1-2 blocks are
    refreshed per pick instead of reading all 49.

  ``"auto"`` is ``"lazy"`` on CPU and ``"matvec"`` on accelerators, where a
  full pass is cheap and data-dependent loops are not.
* Cold start (no labeled points): the first center is a uniformly random
  candidate drawn from ``key`` (``u = jax.random.uniform(key, ())``; the
  ``floor(u * n_candidates)``-th candidate), not index 0 as in Google's
  ``kcenter_greedy``. With labeled points the selection is deterministic and
  ``key`` is ignored (it may be None).

Numerics: the embeddings are first moved into the frame of the labeled and
candidate points (:func:`._kernels.frame_pool`: centered on the
midpoint of their per-coordinate range, scaled by a power of two of the
largest centered coordinate; exact min/max reductions). Farthest-first is
translation- and scale-invariant, and so are the picks now up to the rounding
of the inputs: a shared offset cancels before the matmul-form distances, and
squared distances stay in [0, 4d] (no inf/NaN at 1e20, no underflow at
1e-20) for both methods.

Sharding: see :mod:`ads_jax.selection._common`; the argmax and the row fetch
of the new center are exact collectives, so any device split selects the same
points.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from ads_jax import _validation as V
from ads_jax.distances import sq_norms
from ads_jax.selection import _common as C
from ads_jax.selection import _kernels as K

__all__ = ["select_coreset"]


#: Centers per GEMM chunk of the lazy refresh (chunks are aligned to the center
#: index, so a center always sits in the same GEMM column: bitwise-identical
#: distances whatever the refresh schedule or device split).
LAZY_CHUNK = 16


def _initial(ax, x, cand, lab_idx, u0, layout, has_labeled, off):
    """Initial ``md`` (n_local,) and the first pick (global index).

    ``has_labeled``: static True / False, or None to decide from ``lab_idx``
    at run time (one program for any number of labeled points).
    """
    def warm():
        centers = C.gather_rows(ax, x, lab_idx, off)
        md = K.min_sqdist_to_rows(x, centers, lab_idx >= 0, layout.block)
        first, _ = C.global_argmax(ax, jnp.where(cand, md, -jnp.inf), off)
        return md, first

    def cold():
        md = jnp.full((x.shape[0],), jnp.inf, x.dtype)
        return md, K.tree_sample(ax, cand.astype(x.dtype), u0, layout.block)

    if has_labeled is None:
        (md_w, first_w), (md_c, first_c) = warm(), cold()
        any_lab = jnp.any(lab_idx >= 0)
        return jnp.where(any_lab, md_w, md_c), jnp.where(any_lab, first_w, first_c)
    return warm() if has_labeled else cold()


def _kernel_matvec(ax, x, cand, lab_idx, u0, *, layout, budget, has_labeled):
    n_loc = x.shape[0]
    off = C.local_offset(ax, n_loc)
    ids = jnp.arange(n_loc, dtype=jnp.int32) + off
    neg = jnp.array(-jnp.inf, x.dtype)
    sq = sq_norms(x)
    md, first = _initial(ax, x, cand, lab_idx, u0, layout, has_labeled, off)
    picks = jnp.zeros((budget,), jnp.int32).at[0].set(first)

    def step(t, state):
        md, avail, picks = state
        p = picks[t - 1]
        c = C.gather_rows(ax, x, p[None], off)[0]
        dist = sq + jnp.dot(c, c, precision=lax.Precision.HIGHEST) - 2.0 * jnp.dot(
            x, c, precision=lax.Precision.HIGHEST)
        md = jnp.minimum(md, jnp.maximum(dist, 0.0))
        avail = avail & (ids != p)
        nxt, _ = C.global_argmax(ax, jnp.where(avail, md, neg), off)
        return md, avail, picks.at[t].set(nxt)

    _, _, picks = lax.fori_loop(1, budget, step, (md, cand, picks))
    return picks


def _kernel_lazy(ax, x, cand, lab_idx, u0, *, layout, budget, has_labeled):
    n_loc, d = x.shape
    bs, K = layout.block, LAZY_CHUNK
    nb = n_loc // bs
    off = C.local_offset(ax, n_loc)
    neg = jnp.array(-jnp.inf, x.dtype)
    md, first = _initial(ax, x, cand, lab_idx, u0, layout, has_labeled, off)
    xb = x.reshape(nb, bs, d)
    sqb = sq_norms(x).reshape(nb, bs)
    md = md.reshape(nb, bs)
    avail = cand.reshape(nb, bs)
    bmax = jnp.max(jnp.where(avail, md, neg), axis=1)  # stale upper bound per block
    seen = jnp.zeros((nb,), jnp.int32)  # picked centers already applied per block
    slots = -(-budget // K) * K
    centers = jnp.zeros((slots, d), x.dtype)
    c_sq = jnp.zeros((slots,), x.dtype)
    picks = jnp.zeros((budget,), jnp.int32).at[0].set(first)

    def refresh(t, centers, c_sq, avail, st):
        md, bmax, seen = st
        b = jnp.argmax(bmax)
        xs, ss = xb[b], sqb[b]

        def chunk(m, mdb):
            cc = lax.dynamic_slice_in_dim(centers, m * K, K)
            cs = lax.dynamic_slice_in_dim(c_sq, m * K, K)
            dd = ss[:, None] + cs[None, :] - 2.0 * jnp.matmul(
                xs, cc.T, precision=lax.Precision.HIGHEST)
            dd = jnp.where((m * K + jnp.arange(K) < t)[None, :], dd, jnp.inf)
            return jnp.minimum(mdb, jnp.maximum(jnp.min(dd, axis=1), 0.0))

        mdb = lax.fori_loop(seen[b] // K, (t + K - 1) // K, chunk, md[b])
        return (md.at[b].set(mdb), bmax.at[b].set(jnp.max(jnp.where(avail[b], mdb, neg))),
                seen.at[b].set(t))

    def step(t, state):
        md, avail, bmax, seen, centers, c_sq, picks = state
        p = picks[t - 1]
        c = C.gather_rows(ax, x, p[None], off)[0]
        centers = centers.at[t - 1].set(c)
        c_sq = c_sq.at[t - 1].set(jnp.dot(c, c, precision=lax.Precision.HIGHEST))
        loc = p - off
        own = (loc >= 0) & (loc < n_loc)
        pb = jnp.clip(loc // bs, 0, nb - 1)
        avail = avail.at[pb, loc % bs].set(jnp.where(own, False, avail[pb, loc % bs]))
        bmax = bmax.at[pb].set(jnp.where(own, jnp.max(jnp.where(avail[pb], md[pb], neg)), bmax[pb]))

        def stale(st):
            _, bmax, seen = st
            b = jnp.argmax(bmax)
            return (seen[b] < t) & (bmax[b] > neg)

        md, bmax, seen = lax.while_loop(stale, partial(refresh, t, centers, c_sq, avail),
                                        (md, bmax, seen))
        b = jnp.argmax(bmax).astype(jnp.int32)
        i = b * bs + jnp.argmax(jnp.where(avail[b], md[b], neg)).astype(jnp.int32) + off
        nxt, _ = C.global_argmax(ax, bmax[b][None], i)
        return md, avail, bmax, seen, centers, c_sq, picks.at[t].set(nxt)

    state = (md, avail, bmax, seen, centers, c_sq, picks)
    return lax.fori_loop(1, budget, step, state)[-1]


METHODS = ("auto", "lazy", "matvec")


@partial(jax.jit, static_argnames=("layout", "budget", "has_labeled", "method"))
def _coreset(key, x, labeled, mask, lab_idx, *, layout, budget, has_labeled, method):
    dtype = C.compute_dtype(x.dtype)
    x = x.astype(dtype)
    # Frame of the centers and candidates (before padding): farthest-first is
    # translation- and scale-invariant, the float arithmetic now is too.
    xf, _ = K.frame_pool(x, jnp.asarray(mask) | jnp.asarray(labeled))
    xp = C.pad_rows(xf, layout.n_pad)
    cand = C.candidates(labeled, mask, layout.n_pad)
    u0 = jax.random.uniform(key, (), dtype)
    if method == "auto":
        method = "lazy" if jax.default_backend() == "cpu" else "matvec"
    kernel = _kernel_lazy if method == "lazy" else _kernel_matvec
    kern = partial(kernel, layout=layout, budget=budget, has_labeled=has_labeled)
    return C.run_kernel(layout, kern, (xp, cand), (lab_idx, u0))


def select_coreset(key, pool, budget, *, labeled=None, mask=None, method="auto", mesh=None,
                   block_size=None, max_labeled=None):
    """Greedy k-center (Core-set) selection of ``budget`` pool points.

    Args:
      key: PRNG key (``jax.random.key``); only used for the first center when no
        point is labeled (may be None otherwise).
      pool: dict with ``"embeddings"``: (N, d) float array (float32 or wider;
        may be sharded along N with a ``NamedSharding``).
      budget: number of points to select, 1 <= budget <= #candidates.
      labeled: optional (N,) bool, points already labeled: the initial centers,
        never selected.
      mask: optional (N,) bool, candidates allowed (None = all).
      method: ``"auto"``, ``"lazy"`` or ``"matvec"`` (see the module docstring;
        both give the farthest-first picks, up to float rounding on near-ties).
      mesh: optional ``jax.sharding.Mesh``; shard the point axis over all of its
        axes (default: the mesh of a sharded pool array, else one device).
      block_size: optional row block (power of two >= 8) for the blocked GEMMs.
      max_labeled: optional static capacity of the labeled-center buffer (>=
        the number of labeled points): one compiled program for every
        labeled count up to it (the fixed-shape acquisition program passes
        its labeled buffer size). Required for speed when called under
        ``jit`` (default there: N).

    Returns:
      (budget,) int32 indices into the pool, in selection order: unique, none
      labeled, none masked out.

    Raises:
      ValueError / TypeError on bad input (see ``ads_jax.selection``).
    """
    V.check_choice("method", method, METHODS)
    prep = C.prepare("coreset", key, pool, budget, labeled, mask,
                     fields=("embeddings",), need_key=False, mesh=mesh, block_size=block_size)
    lab_idx, has_labeled = prep.centers_index(max_labeled)
    key = prep.key
    if key is None:
        if has_labeled is False or prep.traced or max_labeled is not None:
            raise TypeError("selector 'coreset' needs a PRNG key when no point is labeled (or may be, "
                            "under jit): pass `key=jax.random.key(seed)`.")
        key = jax.random.key(0)  # unused
    return prep.output(_coreset(key, prep.arrays["embeddings"], prep.labeled, prep.mask, lab_idx,
                                layout=prep.layout, budget=prep.budget, has_labeled=has_labeled,
                                method=method))
