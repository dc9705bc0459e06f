"""BADGE (Ash et al., 2020): k-means++ seeding on gradient embeddings.

The gradient embedding of point ``x`` is ``g(x) = a(x) (x) h(x)`` (outer
product, C x d), with ``a = onehot(argmax p) - p`` from the class
probabilities ``p`` (ties in the argmax -> lowest class) and ``h`` the
penultimate features (``pool["embeddings"]``). It is **never materialized**:

    ||a h - a' h'||^2 = |a|^2 |h|^2 + |a'|^2 |h'|^2 - 2 (a.a') (h.h')

so each step costs one (N x C) and one (N x d) matrix-vector product.

Selection:

* No labeled points: the first pick is the candidate with the largest
  ``|g| = |a| |h|`` (ties -> lowest index), as in BADGE's ``init_centers``.
* Labeled points present: they are treated as existing centers, so ``D^2``
  starts as the squared gradient distance to the nearest labeled point
  (blocked GEMMs) and the first pick is already a ``D^2`` draw.
* Every further pick is drawn with probability ``D^2(x) / sum D^2`` over the
  available candidates (never a picked, labeled or masked-out point), by
  inverse-CDF sampling of one uniform per pick:
  ``u = jax.random.uniform(key, (budget,))``; pick ``t`` uses ``u[t]`` (``u[0]``
  is unused when the first pick is the largest norm). The CDF is evaluated on
  a partition-independent sum tree (:func:`_kernels.tree_sample`), equal in
  exact arithmetic to ``searchsorted(cumsum(D^2), u[t] * sum(D^2), "right")``.
* If every available candidate has ``D^2 = 0`` (all duplicates of centers),
  the pick is uniform over the available candidates with the same ``u[t]``.

Numerics: ``g`` is linear in ``h``, so BADGE is scale-invariant in the
features: ``h`` is divided by a power of two of its largest coordinate over
the labeled and candidate points (exact; the sampling probabilities
``D^2 / sum D^2`` are unchanged) and ``|g|^2`` neither overflows at 1e20 nor
underflows at 1e-20. BADGE is **not** translation invariant (``a (x) (h + o)
!= a (x) h + o``), so ``h`` is not centered, and the low-rank form itself
cancels when the features share a large offset: its absolute error is about
``eps |a|^2 |h|^2``, as for any matmul-form distance of uncentered points.
:func:`badge_sq_distances` uses the same scaling and returns caller units.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from ads_jax import _validation as V
from ads_jax.distances import dist_from_frame, fit_frame, map_row_blocks, sq_norms, to_frame
from ads_jax.selection import _common as C
from ads_jax.selection import _kernels as K

__all__ = ["select_badge", "gradient_factors", "badge_sq_distances"]

_HI = lax.Precision.HIGHEST


def gradient_factors(probs: jax.Array) -> jax.Array:
    """``a = onehot(argmax p) - p``, the class factor of the BADGE embedding.

    Args:
      probs: (N, C) float class probabilities.

    Returns:
      (N, C) array in the promoted float dtype (at least float32).
    """
    p = jnp.asarray(probs)
    p = p.astype(C.compute_dtype(p.dtype))
    return jax.nn.one_hot(jnp.argmax(p, axis=-1), p.shape[-1], dtype=p.dtype) - p


def _lowrank_sq_framed(a, h, b, k):
    """(n, m) low-rank squared distances of ``a (x) h`` (n, C) (n, d) to
    ``b (x) k`` (m, C) (m, d), clamped at 0; in the units of ``h`` and ``k``."""
    na = sq_norms(a) * sq_norms(h)
    nb = sq_norms(b) * sq_norms(k)
    ip = jnp.matmul(a, b.T, precision=_HI) * jnp.matmul(h, k.T, precision=_HI)
    return jnp.maximum(na[:, None] + nb[None, :] - 2.0 * ip, 0.0)


@jax.jit
def _lowrank_sq(a, h, b, k):
    """Scaled low-rank squared distances, back in the caller's units."""
    frame = fit_frame(h, k, center=False)
    return dist_from_frame(_lowrank_sq_framed(a, to_frame(h, frame), b, to_frame(k, frame)),
                           frame, "sqeuclidean")


def badge_sq_distances(probs_x, emb_x, probs_y, emb_y) -> jax.Array:
    """Squared distances between BADGE gradient embeddings, low-rank form.

    Equals ``||g(x_i) - g(y_j)||^2`` with ``g = (onehot(argmax p) - p) (x) h``
    without forming the (C x d) embeddings. Meant for small sets (it returns the
    full (n, m) matrix); the selector itself never forms such a matrix.

    Args:
      probs_x: (n, C) float probabilities; emb_x: (n, d) float features.
      probs_y: (m, C) float probabilities; emb_y: (m, d) float features.

    Returns:
      (n, m) float array (at least float32), clamped at 0, in the caller's
      units: computed on features scaled by a power of two (module
      docstring), ``+inf`` only where the true value exceeds the dtype's range.
    """
    for name, v, nd in (("probs_x", probs_x, 2), ("emb_x", emb_x, 2),
                        ("probs_y", probs_y, 2), ("emb_y", emb_y, 2)):
        V.check_array(name, v, ndim=nd, kind="f")
        V.check_finite(name, v)
    V.check_same_length(probs_x=probs_x, emb_x=emb_x)
    V.check_same_length(probs_y=probs_y, emb_y=emb_y)
    if probs_x.shape[1] != probs_y.shape[1] or emb_x.shape[1] != emb_y.shape[1]:
        raise ValueError(
            "x and y must have the same number of classes and features, got "
            f"{probs_x.shape[1]}/{probs_y.shape[1]} and {emb_x.shape[1]}/{emb_y.shape[1]}.")
    dt = C.compute_dtype(emb_x.dtype, emb_y.dtype, probs_x.dtype, probs_y.dtype)
    return _lowrank_sq(gradient_factors(probs_x).astype(dt), jnp.asarray(emb_x, dt),
                       gradient_factors(probs_y).astype(dt), jnp.asarray(emb_y, dt))


def _min_to_labeled(a, h, g2, la, lh, valid, block):
    """Min low-rank squared distance of every point to the valid labeled centers."""
    m = la.shape[0]
    chunk = min(C.CENTER_CHUNK, m)
    nc = m // chunk
    lg2 = sq_norms(la) * sq_norms(lh)

    def rows(ab, hb, gb):
        def body(c, best):
            sl = lambda v: lax.dynamic_slice_in_dim(v, c * chunk, chunk)  # noqa: E731
            ip = jnp.matmul(ab, sl(la).T, precision=_HI) * jnp.matmul(hb, sl(lh).T, precision=_HI)
            d = jnp.maximum(gb[:, None] + sl(lg2)[None, :] - 2.0 * ip, 0.0)
            return jnp.minimum(best, jnp.min(jnp.where(sl(valid)[None, :], d, jnp.inf), axis=1))

        init = jnp.full((ab.shape[0],), jnp.inf, ab.dtype)
        return lax.fori_loop(0, nc, body, init) if nc > 1 else body(0, init)

    return map_row_blocks(rows, a, block, h, g2)


def _kernel(ax, a, h, cand, lab_idx, u, *, layout, budget, has_labeled):
    n_loc = a.shape[0]
    dt = a.dtype
    off = C.local_offset(ax, n_loc)
    ids = jnp.arange(n_loc, dtype=jnp.int32) + off
    g2 = sq_norms(a) * sq_norms(h)

    def draw(d2, avail, ut):
        w = jnp.where(avail, d2, 0.0)
        any_pos = ax.pmax(jnp.max(w)) > 0
        w = jnp.where(any_pos, w, avail.astype(dt))
        return K.tree_sample(ax, w, ut, layout.block)

    def warm():
        la = C.gather_rows(ax, a, lab_idx, off)
        lh = C.gather_rows(ax, h, lab_idx, off)
        d2 = _min_to_labeled(a, h, g2, la, lh, lab_idx >= 0, layout.block)
        return d2, draw(d2, cand, u[0])

    def cold():
        d2 = jnp.full((n_loc,), jnp.inf, dt)
        return d2, C.global_argmax(ax, jnp.where(cand, g2, -jnp.inf), off)[0]

    if has_labeled is None:  # decided at run time: one program for any labeled count
        (d2_w, first_w), (d2_c, first_c) = warm(), cold()
        any_lab = jnp.any(lab_idx >= 0)
        d2, first = jnp.where(any_lab, d2_w, d2_c), jnp.where(any_lab, first_w, first_c)
    else:
        d2, first = warm() if has_labeled else cold()
    picks = jnp.zeros((budget,), jnp.int32).at[0].set(first)

    def step(t, state):
        d2, avail, picks = state
        p = picks[t - 1]
        ca = C.gather_rows(ax, a, p[None], off)[0]
        ch = C.gather_rows(ax, h, p[None], off)[0]
        ip = jnp.dot(a, ca, precision=_HI) * jnp.dot(h, ch, precision=_HI)
        dist = g2 + jnp.dot(ca, ca, precision=_HI) * jnp.dot(ch, ch, precision=_HI) - 2.0 * ip
        d2 = jnp.minimum(d2, jnp.maximum(dist, 0.0))
        avail = avail & (ids != p)
        return d2, avail, picks.at[t].set(draw(d2, avail, u[t]))

    _, _, picks = lax.fori_loop(1, budget, step, (d2, cand, picks))
    return picks


@partial(jax.jit, static_argnames=("layout", "budget", "has_labeled"))
def _badge(key, probs, emb, labeled, mask, lab_idx, *, layout, budget, has_labeled):
    dt = C.compute_dtype(probs.dtype, emb.dtype)
    a = C.pad_rows(gradient_factors(probs).astype(dt), layout.n_pad)
    # Scale only (BADGE is scale- but not translation-invariant in h).
    h, _ = K.frame_pool(emb.astype(dt), jnp.asarray(mask) | jnp.asarray(labeled), center=False)
    h = C.pad_rows(h, layout.n_pad)
    cand = C.candidates(labeled, mask, layout.n_pad)
    u = jax.random.uniform(key, (budget,), dt)
    kern = partial(_kernel, layout=layout, budget=budget, has_labeled=has_labeled)
    return C.run_kernel(layout, kern, (a, h, cand), (lab_idx, u))


def select_badge(key, pool, budget, *, labeled=None, mask=None, mesh=None, block_size=None,
                 max_labeled=None):
    """BADGE selection: k-means++ seeding on never-materialized gradient embeddings.

    Args:
      key: PRNG key (``jax.random.key``); the uniforms of the ``D^2`` draws are
        ``jax.random.uniform(key, (budget,), dtype)``.
      pool: dict with ``"probs"`` (N, C) float class probabilities and
        ``"embeddings"`` (N, d) float penultimate features.
      budget: number of points to select, 1 <= budget <= #candidates.
      labeled: optional (N,) bool; labeled points are existing centers for
        ``D^2`` and never selected.
      mask: optional (N,) bool, candidates allowed (None = all).
      mesh: optional ``jax.sharding.Mesh`` to shard the point axis over.
      block_size: optional row block (power of two >= 8).
      max_labeled: optional static capacity of the labeled-center buffer (see
        :func:`~ads_jax.selection.select_coreset`).

    Returns:
      (budget,) int32 pool indices in selection order, unique, none labeled,
      none masked out.
    """
    prep = C.prepare("badge", key, pool, budget, labeled, mask,
                     fields=("probs", "embeddings"), need_key=True, mesh=mesh,
                     block_size=block_size)
    lab_idx, has_labeled = prep.centers_index(max_labeled)
    return prep.output(_badge(prep.key, prep.arrays["probs"], prep.arrays["embeddings"],
                              prep.labeled, prep.mask, lab_idx, layout=prep.layout,
                              budget=prep.budget, has_labeled=has_labeled))
