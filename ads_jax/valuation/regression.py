"""Value regression: predict KNN-Shapley values of unlabeled points.

ADS values the *labeled* points exactly (KNN-Shapley against a validation
set) and then extrapolates those values to the unlabeled pool with one
k-nearest-neighbour regressor per class, fitted on that class's labeled
points (embedding -> value). An unlabeled point has no label, so it gets a
prediction from the regressor of each of the model's top-T classes and the T
predictions are aggregated:

* ``"max"``            - the largest of the T predictions (the paper's default:
  a point is valuable if it would be valuable under any plausible label);
* ``"mean"``           - their unweighted mean;
* ``"prob_weighted"``  - their mean weighted by the model's probabilities of
  those T classes (renormalised over the classes used; the plain mean if
  those probabilities are all 0).

Per-class regressor (``weights=``):

* ``"uniform"``  - mean value of the k nearest labeled points of the class;
* ``"distance"`` - mean weighted by inverse distance (in ``metric``); as in
  scikit-learn's ``KNeighborsRegressor``, if some neighbours are at distance
  exactly 0 only those are used, with equal weights. ``method="network"``
  takes the weights from the search's matmul-form distances
  ``|q|^2 + |x|^2 - 2 q.x`` (relative error ~ eps / r, r = d^2 / (|q|^2 +
  |x|^2)); a query with a neighbour closer than r < eps^(1/3) (about 5e-3 in
  float32: near-copies of labeled points, where that form cancels) gets
  weights from exactly recomputed distances ``sum((q - x)^2)``, so copies of
  labeled points still have distance exactly 0. The weights are thus
  accurate to ~eps^(2/3) (~2e-5 in float32) relative; the other methods
  always recompute exactly (slower: a (chunk, T, k, d) gather).

Numerics: all distances (search, weights, the ``r`` test above) are computed
in the shared frame of the labeled and query embeddings
(:class:`ads_jax.distances.Frame`: centered on the midpoint of their
per-coordinate range, scaled by a power of two; identity for cosine). The
neighbours and the weight ratios ``d0 / d`` do not depend on that frame, so
the predictions are translation- and scale-invariant up to the rounding of the
inputs: a shared offset (e.g. the mean of non-negative post-ReLU features)
cancels before the GEMM, the norms in ``r`` are those of the centered points,
and no squared norm over- or underflows at any magnitude.

Small and empty classes (documented behaviour, never NaN):

* a class with fewer than ``k`` labeled points uses all of them;
* a class with *no* labeled points is **skipped**: it is left out of the
  aggregate over the top-T classes (and out of the probability normalisation
  of ``"prob_weighted"``). A query none of whose top-T classes has a labeled
  point (possible only when ``top_t < num_classes``) is given the minimum of
  ``train_values`` - nothing supports it, so it ranks with the least valuable
  labeled point.

Implementation: per chunk of ``chunk_size`` queries (peak memory
``O(chunk_size x (C Lc + C k))`` whatever the pool size, Lc = the largest
class), one of three exact neighbour searches (``method=``; same neighbours,
same tie-breaking to the lower index, same results up to float rounding):

* ``"network"`` - the labeled points regrouped once into a position-major
  per-class table (Lc, C) (:func:`class_table`), distances (Lc, C, chunk)
  from ONE GEMM, then the k nearest of every (class, query) pair by an
  insertion network over the Lc positions: ``k`` running minima updated
  with ``min``/``max`` only, elementwise over (C, chunk) - no sort, no
  ``top_k``. The k-th smallest distance ``t`` is the last running minimum;
  a second sweep sums the (weighted) values of the points below ``t`` plus
  the first (lowest-index) points at ``t``. The predictions of
  ALL C classes come out at once; each query then picks its top-T classes.
  O(C Lc k) elementwise work per query, vectorised over the chunk.
  Distance weights come from the search distances (see above); only chunks
  holding a near-copy query run a second network that carries positions
  (compare + select) and recompute exact distances;
* ``"masked"`` - one (chunk, L) distance GEMM against all labeled points, then
  for each of the query's T classes a ``top_k`` with the other classes'
  distances set to ``+inf`` (T x L top-k entries per query);
* ``"grouped"`` - the per-class table (C, Lc); each class's k nearest come
  from a GEMM + ``top_k`` over its Lc points only (C x Lc ~ L entries for all
  classes together), then the T classes of each query pick their rows.

``"auto"`` (:func:`choose_method`) picks by platform and estimated cost. On
CPU, XLA's ``top_k``/sort over many short rows is slow and the network is
1.5-6x faster than the other two for balanced classes, ~1.2x one GEMM at
d = 512 (see ``docs/bench/acquisition.md``); ``"masked"`` wins there only when one class
holds most labeled points (the (Lc, C) table is then mostly padding) and
T is small. On GPU/TPU, where ``top_k`` is fast and a loop of Lc small
elementwise steps per chunk is launch-bound, it keeps the top-k methods
(not measured: no accelerator was available when this was tuned). With
``mesh=`` the query axis is split over the mesh's devices with
:func:`jax.shard_map` (labeled data replicated); results equal the
single-device ones.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import PartitionSpec as P

from ads_jax import _validation as V
from ads_jax.distances import (METRICS, _pairwise, map_row_blocks, metric_frame, sq_norms,
                               to_frame, unit_rows)

__all__ = ["KNNRegressionOptions", "predict_values", "predict_values_unchecked", "class_table", "choose_method",
           "AGGREGATES", "WEIGHTS", "METHODS"]

AGGREGATES = ("max", "mean", "prob_weighted")
WEIGHTS = ("uniform", "distance")
METHODS = ("auto", "network", "masked", "grouped")


@dataclasses.dataclass(frozen=True)
class KNNRegressionOptions:
    """Options of ``"knn_regression"`` (:func:`ads_jax.valuation.predict_values`).

    Attributes:
      k: neighbours of each per-class regressor.
      weights: ``"uniform"`` | ``"distance"`` (inverse distance in ``metric``).
      top_t: classes per query whose regressors are evaluated.
      aggregate: ``"max"`` (the paper's) | ``"mean"`` (ads_jax's default, see
        RESULTS.md) | ``"prob_weighted"``.
      metric: distance of the regressor (``"euclidean"``, scikit-learn's).
      chunk_size: pool rows per block (memory O(chunk x L)).
      method: neighbour search (``"auto"`` | ``"network"`` | ``"masked"`` |
        ``"grouped"``; same results).
    """

    k: int = 10
    weights: str = "distance"
    top_t: int = 10
    aggregate: str = "mean"
    metric: str = "euclidean"
    chunk_size: int = 1024
    method: str = "auto"

    def __post_init__(self):
        V.check_positive_int("estimator.options.k", self.k)
        V.check_choice("estimator.options.weights", self.weights, WEIGHTS)
        V.check_positive_int("estimator.options.top_t", self.top_t)
        V.check_choice("estimator.options.aggregate", self.aggregate, AGGREGATES)
        V.check_choice("estimator.options.metric", self.metric, METRICS)
        V.check_positive_int("estimator.options.chunk_size", self.chunk_size)
        V.check_choice("estimator.options.method", self.method, METHODS)



def class_table(train_y: jax.Array, num_classes: int, max_count: int) -> jax.Array:
    """Indices of each class's points, padded: (C, max_count) int32.

    Row ``c`` lists the points with label ``c`` in ascending index order,
    padded with the sentinel ``L`` (= ``train_y.shape[0]``). ``max_count`` must
    be >= the largest class count (larger counts are truncated). Traceable.
    """
    n = train_y.shape[0]
    order = jnp.argsort(train_y, stable=True).astype(jnp.int32)
    ys = train_y[order]
    counts = jnp.bincount(train_y, length=num_classes)
    starts = jnp.cumsum(counts) - counts
    rank = jnp.arange(n, dtype=jnp.int32) - starts[ys].astype(jnp.int32)
    table = jnp.full((num_classes, max_count), n, jnp.int32)
    return table.at[ys, rank].set(order, mode="drop")


def _weights(q, idx, valid, train_emb_pad, weights, metric):
    """Neighbour weights (b, k) for one class per row (see module doc).

    q: (b, d) queries; idx: (b, k) indices into ``train_emb_pad`` (L+1, d);
    valid: (b, k) bool (False for padding).
    """
    if weights == "uniform":
        return valid.astype(q.dtype)
    # Recompute the k selected distances elementwise: the matmul form
    # |q|^2 + |x|^2 - 2 q.x cancels badly near 0 (a query equal to a labeled
    # point must get distance exactly 0). O(b k d), cheap.
    x = train_emb_pad[idx]  # (b, k, d)
    if metric == "cosine":
        exact = jnp.clip(1.0 - jnp.sum(unit_rows(q)[:, None, :] * unit_rows(x), axis=-1), 0.0, 2.0)
    else:
        diff = q[:, None, :] - x
        exact = jnp.sum(diff * diff, axis=-1)
        if metric == "euclidean":
            exact = jnp.sqrt(exact)
    zero = valid & (exact == 0)
    any_zero = jnp.any(zero, axis=-1, keepdims=True)
    # Relative inverse distances d_min / d in (0, 1]: the ratios of 1/d without
    # overflow for tiny distances (valid neighbours come first).
    d_min = jnp.where(valid[:, :1], exact[:, :1], 1.0)
    safe = jnp.where(valid & (exact > 0), exact, 1.0)
    return jnp.where(any_zero, zero, jnp.where(valid, d_min / safe, 0.0)).astype(q.dtype)


def _aggregate(vals, has, p, aggregate, fallback):
    """Combine (b, T) per-class predictions into (b,) values."""
    dtype = vals.dtype
    n_has = jnp.sum(has, axis=-1)
    any_has = n_has > 0
    if aggregate == "max":
        out = jnp.max(jnp.where(has, vals, -jnp.inf), axis=-1)
    else:
        mean = jnp.sum(jnp.where(has, vals, 0.0), axis=-1) / jnp.maximum(n_has, 1).astype(dtype)
        if aggregate == "mean":
            out = mean
        else:  # prob_weighted
            pw = jnp.where(has, p.astype(dtype), 0.0)
            s = jnp.sum(pw, axis=-1)
            weighted = jnp.sum(pw * jnp.where(has, vals, 0.0), axis=-1) / jnp.where(s > 0, s, 1.0)
            out = jnp.where(s > 0, weighted, mean)
    return jnp.where(any_has, out, fallback.astype(dtype))


def choose_method(num_classes: int, n_train: int, max_class_count: int, top_t: int, *,
                  k: int = 10, platform: str | None = None) -> str:
    """The neighbour search ``method="auto"`` of :func:`predict_values` uses.

    Args:
      num_classes: C. n_train: L. max_class_count: Lc, the (bound on the)
        largest class. top_t: T (``min(T, C)`` is used). k: neighbours.
      platform: ``"cpu"``, ``"gpu"``, ``"tpu"``...; ``None``: the default
        backend (:func:`jax.default_backend`).

    Returns:
      ``"network"``, ``"masked"`` or ``"grouped"``. Estimated work per query
      (in elementwise-op units, calibrated on XLA:CPU; the GEMM is shared):
      network ~ C x Lc x (2k + 8) (the insertion network plus one sweep);
      masked ~ 16 x T x L (a ``top_k`` entry over a long row costs ~16
      units); grouped ~ 3 x C x Lc top-k entries in short rows (a short-row
      entry costs ~3x a long-row one). On CPU: network vs masked. Elsewhere
      (fast ``top_k``, launch-bound loops): grouped vs masked.
    """
    t = min(top_t, num_classes)
    lmax = max(1, min(max_class_count, n_train))
    k = max(1, min(k, lmax))
    if platform is None:
        platform = jax.default_backend()
    if platform == "cpu":
        return "network" if num_classes * lmax * (2 * k + 8) <= 16 * t * n_train else "masked"
    return "grouped" if 3 * num_classes * lmax < t * n_train else "masked"


def _position_block(num_classes: int, lmax: int) -> int:
    """Positions per distance block of ``method="network"``: ~2,048 table rows per GEMM."""
    return int(max(1, min(lmax, 2048 // max(1, num_classes))))


def _class_layout(train_emb, train_y, train_values, num_classes, lmax, metric, blk):
    """Labeled points regrouped by class, position-major, for ``method="network"``.

    Returns ``(g, g_sq, pad, g_val, table, n_pos)``: ``g`` (lpad*C, d) embeddings
    with row ``l*C + c`` = the ``l``-th point of class ``c`` (zeros for padding;
    unit-normalised for cosine), ``g_sq`` (lpad, C, 1) their squared norms,
    ``pad`` (lpad, C, 1) bool padding mask, ``g_val`` (lpad, C, 1) values (0
    at padding), the (C, lpad) table (:func:`class_table`, padded with the
    sentinel to ``lpad`` = ``lmax`` rounded up to a multiple of ``blk``) and
    ``n_pos`` () int32, the size of the largest class (labels equal to
    ``num_classes`` are padding rows): positions at or past it are padding in
    every class, so the searches stop there (the static ``lmax`` is only a bound).
    """
    n, d = train_emb.shape
    dtype = train_emb.dtype
    lpad = -(-lmax // blk) * blk
    table = class_table(train_y, num_classes, lmax)  # (C, lmax), sentinel n
    table = jnp.pad(table, ((0, 0), (0, lpad - lmax)), constant_values=n)
    emb_pad = jnp.concatenate([train_emb, jnp.zeros((1, d), dtype)])
    val_pad = jnp.concatenate([train_values, jnp.zeros((1,), dtype)])
    g = emb_pad[table.T]  # (lpad, C, d)
    if metric == "cosine":
        g = unit_rows(g)
    pad = (table.T >= n)[..., None]
    counts = jnp.bincount(train_y, length=num_classes + 1)[:num_classes]
    n_pos = jnp.minimum(jnp.max(counts), lmax).astype(jnp.int32)
    return (g.reshape(lpad * num_classes, d), sq_norms(g)[..., None], pad,
            val_pad[table.T][..., None], table, n_pos)


def _class_distances(qb, g, g_sq, pad, metric, n_pos, blk):
    """(lpad, C, b) search distances, ``+inf`` at padding; computed (one GEMM per
    block of ``blk`` positions) only for the blocks below ``n_pos`` - the rest is
    never read (the searches stop at ``n_pos``) and stays ``+inf``.

    Same formula as :func:`ads_jax.distances._pairwise` (matmul form, clamped
    at 0) on framed points (:func:`_framed`), so finite; valid distances are
    clamped to the largest finite float anyway so that only padding is ``+inf``.
    """
    lpad, c = pad.shape[:2]
    b = qb.shape[0]
    dtype = g.dtype
    if metric == "cosine":
        qb = unit_rows(qb)
    else:
        q_sq = sq_norms(qb)

    def fill(i, buf):
        s = i * blk
        gb = lax.dynamic_slice_in_dim(g, s * c, blk * c, 0)
        dot = jnp.matmul(gb, qb.T, precision=lax.Precision.HIGHEST).reshape(blk, c, b)
        if metric == "cosine":
            dist = jnp.clip(1.0 - dot, 0.0, 2.0)
        else:
            gsq = lax.dynamic_slice_in_dim(g_sq, s, blk, 0)
            dist = jnp.clip(q_sq + gsq - 2.0 * dot, 0.0, jnp.finfo(dtype).max)
        dist = jnp.where(lax.dynamic_slice_in_dim(pad, s, blk, 0), jnp.inf, dist)
        return lax.dynamic_update_slice_in_dim(buf, dist, s, 0)

    # *_like keeps the varying-axes type of the queries under shard_map.
    buf = jnp.broadcast_to(jnp.full_like(qb[:, 0], jnp.inf), (lpad, c, b))
    return lax.fori_loop(0, (n_pos + blk - 1) // blk, fill, buf)


def _network_kth(dist, k, n_pos):
    """The k smallest of each (class, query) column, ascending, as a list of
    k (C, b) arrays: an insertion network over the first ``n_pos`` positions
    of ``dist`` (lpad, C, b) - ``min``/``max`` only, elementwise over (C, b).
    ``+inf`` where a class has fewer than k points."""

    def body(l, best):
        x = dist[l]
        return [jnp.minimum(best[0], x)] + [
            jnp.minimum(best[r], jnp.maximum(best[r - 1], x)) for r in range(1, k)]

    # *_like keeps the varying-axes type of ``dist`` under shard_map.
    init = [jnp.full_like(dist[0], jnp.inf) for _ in range(k)]
    return lax.fori_loop(0, n_pos, body, init)


def _network_predict(dist, g_val, k, weights, metric, n_pos):
    """Per-class KNN predictions from an insertion network and one sweep.

    ``dist`` (lpad, C, b) search distances (``+inf`` at padding; only the
    first ``n_pos`` positions are read), ``g_val`` (lpad, C, 1) values. The k nearest of each (class, query) column are the
    points below ``t``, the k-th smallest distance (with multiplicity), plus
    the first (lowest-position, i.e. lowest-index) points at ``t``.

    Returns ``(pred, d0)``: (C, b) predictions (0 for an empty class) and the
    nearest distance d0 of each column. ``"distance"`` weights are ratios
    ``d0 / d`` of the search distances (``sqrt`` of them for
    ``metric="euclidean"``, whose search runs on squared distances) - in
    (0, 1], no overflow - and exactly the zero-distance rule when d0 = 0.
    """
    best = _network_kth(dist, k, n_pos)
    t, d0 = best[-1], best[0]  # t = inf if the class has < k points
    # Of the entries equal to t, the first `need` are taken; none when t is
    # inf (those are padding).
    need = sum((b == t).astype(jnp.int32) for b in best)
    need = jnp.where(t < jnp.inf, need, 0)

    def body(l, carry):
        ties, sw, swv = carry
        x = dist[l]
        eq = x == t
        take = (x < t) | (eq & (ties < need))
        if weights == "uniform":
            w = take.astype(x.dtype)
        else:  # x >= d0 for every taken point; x == 0 only if d0 == 0
            r = jnp.where(x > 0, d0 / jnp.where(x > 0, x, 1.0), 1.0)
            w = jnp.where(take, jnp.sqrt(r) if metric == "euclidean" else r, 0.0)
        return ties + eq.astype(jnp.int32), sw + w, swv + w * g_val[l]

    zeros = (jnp.zeros_like(t, jnp.int32), jnp.zeros_like(t), jnp.zeros_like(t))
    _, sw, swv = lax.fori_loop(0, n_pos, body, zeros)
    return swv / jnp.where(sw > 0, sw, 1.0), d0


def _network_indices(dist, k, n_pos):
    """(k, C, b) int32 positions of each column's k nearest points, ascending
    distance, ties -> lower position; ``lpad`` (sentinel) past the class size.
    Insertion network over the first ``n_pos`` positions carrying the positions
    (compare + select)."""
    lmax = dist.shape[0]

    def body(l, carry):
        best, idx = carry
        x = dist[l]
        lt = [x < b for b in best]  # monotone in r: the insertion point
        nb = [jnp.where(lt[0], x, best[0])]
        ni = [jnp.where(lt[0], l, idx[0])]
        for r in range(1, k):
            nb.append(jnp.where(lt[r], jnp.where(lt[r - 1], best[r - 1], x), best[r]))
            ni.append(jnp.where(lt[r], jnp.where(lt[r - 1], idx[r - 1], l), idx[r]))
        return nb, ni

    init = ([jnp.full_like(dist[0], jnp.inf) for _ in range(k)],
            [jnp.full_like(dist[0], lmax, jnp.int32) for _ in range(k)])
    return jnp.stack(lax.fori_loop(0, n_pos, body, init)[1])


def _predict_values_impl(
    train_emb, train_y, train_values, query_emb, query_probs, fallback=None, *,
    num_classes, k, top_t, aggregate, weights, metric, chunk_size, max_class_count, method,
):
    """Traceable core of :func:`predict_values` (no input checks); the
    embeddings must already be framed (:func:`_framed`).

    ``max_class_count`` (static) >= the largest number of labeled points of
    one class (used by ``method="grouped"`` and ``"network"``); ``method`` is
    "network", "masked" or "grouped" (same results). Labels equal to
    ``num_classes`` mark absent (padding) rows: no class uses them.
    ``fallback``: value of a query none of whose classes has a labeled point
    (default ``min(train_values)``).
    """
    dtype = jnp.result_type(train_emb.dtype, query_emb.dtype, train_values.dtype, jnp.float32)
    train_emb = train_emb.astype(dtype)
    train_values = train_values.astype(dtype)
    train_y = train_y.astype(jnp.int32)
    n = train_emb.shape[0]
    lmax = int(max(1, min(max_class_count, n)))
    t_eff = int(min(top_t, num_classes))
    search_metric = "sqeuclidean" if metric == "euclidean" else metric
    fallback = jnp.min(train_values) if fallback is None else fallback
    emb_pad = jnp.concatenate([train_emb, jnp.zeros((1, train_emb.shape[1]), dtype)])
    val_pad = jnp.concatenate([train_values, jnp.zeros((1,), dtype)])
    if method == "network":
        k_eff = int(min(k, lmax))
        blk = _position_block(num_classes, lmax)
        g, g_sq, pad, g_val, table, n_pos = _class_layout(
            train_emb, train_y, train_values, num_classes, lmax, search_metric, blk)
        has_c = jnp.bincount(train_y, length=num_classes) > 0  # (C,)
        g_sq_max = jnp.max(g_sq, axis=0)  # (C, 1) largest squared norm per class
        cancel_tol = float(jnp.finfo(dtype).eps) ** (1.0 / 3.0)
        # Positions -> labeled indices (sentinel n), one extra column for lpad.
        table_pad = jnp.concatenate([table, jnp.full((num_classes, 1), n, jnp.int32)], 1)
    elif method == "grouped":
        k_eff = int(min(k, lmax))
        table = class_table(train_y, num_classes, lmax)  # (C, lmax), sentinel n
        grouped = emb_pad[table]  # labeled points regrouped by class: (C, lmax, d)
        # Padding rows get |x|^2 = inf, hence distance inf: never a neighbour.
        grouped_sq = jnp.where(table >= n, jnp.inf, sq_norms(grouped))
        # Classes per lax.map step: keeps the (b, classes x lmax) block <= (b, L).
        class_batch = int(max(1, min(num_classes, n // lmax)))
    else:
        k_eff = int(min(k, n))
        t_sq = sq_norms(train_emb)

    def neighbours(qb, cls):
        """(b, T, k) int32 indices of each top class's k nearest labeled points,
        ascending distance (ties -> lower index), sentinel n past the class size."""
        b = qb.shape[0]
        if method == "grouped":
            def one_class(args):
                g, g_sq, rows = args
                d = _pairwise(qb, g, search_metric, g_sq)  # (b, lmax)
                if search_metric == "cosine":  # cosine ignores g_sq: mask padding
                    d = jnp.where((rows >= n)[None, :], jnp.inf, d)
                _, j = lax.top_k(-d, k_eff)
                return rows[j]  # (b, k), sentinel for padding

            nbr = lax.map(one_class, (grouped, grouped_sq, table), batch_size=class_batch)
            return nbr[cls, jnp.arange(b)[:, None]]  # (b, T, k)
        d = _pairwise(qb, train_emb, search_metric, t_sq)  # (b, L), one GEMM

        def one_top(c):  # masked top-k of one class per row
            _, j = lax.top_k(-jnp.where(train_y[None, :] == c[:, None], d, jnp.inf), k_eff)
            return jnp.where(train_y[j] == c[:, None], j, n).astype(jnp.int32)

        return jnp.swapaxes(lax.map(one_top, cls.T), 0, 1)  # (b, T, k)

    def regress(qb, idx):
        """(b, T) predictions and (b, T) class-non-empty flags from (b, T, k) indices."""
        valid = idx < n

        def one_top(args):  # per-class regression for the t-th class of every row
            idx_t, valid_t = args
            w = _weights(qb, idx_t, valid_t, emb_pad, weights, metric)
            wsum = jnp.sum(w, axis=-1)
            pred = jnp.sum(w * val_pad[idx_t], axis=-1) / jnp.where(wsum > 0, wsum, 1.0)
            return pred, valid_t[:, 0]

        # Distance weights gather (b, k, d) neighbour rows: one class at a time.
        vals, has = lax.map(one_top, (jnp.swapaxes(idx, 0, 1), jnp.swapaxes(valid, 0, 1)),
                            batch_size=idx.shape[1] if weights == "uniform" else 1)
        return vals.T, has.T

    def block(qb, pb):
        qb = qb.astype(dtype)
        pb = pb.astype(dtype)
        b = qb.shape[0]
        if t_eff < num_classes:
            p_top, cls = lax.top_k(pb, t_eff)  # (b, T)
            cls = cls.astype(jnp.int32)
        else:  # every class is used; the aggregates do not depend on the order
            p_top, cls = pb, None
        if method != "network":
            if cls is None:
                cls = jnp.broadcast_to(jnp.arange(num_classes, dtype=jnp.int32), (b, t_eff))
            vals, has = regress(qb, neighbours(qb, cls))
            return _aggregate(vals, has, p_top, aggregate, fallback)
        dist = _class_distances(qb, g, g_sq, pad, search_metric, n_pos, blk)  # (lpad, C, b)
        # Predictions of ALL C classes at once (cheap), then each query's top T.
        pred, d0 = _network_predict(dist, g_val, k_eff, weights, metric, n_pos)
        pred, has = pred.T, jnp.broadcast_to(has_c, (b, num_classes))
        if cls is not None:
            pred, has = jnp.take_along_axis(pred, cls, axis=1), has_c[cls]
        out = _aggregate(pred, has, p_top, aggregate, fallback)
        if weights == "uniform":
            return out
        # Distance weights came from the matmul-form search distances. Where
        # those lose digits to cancellation (a neighbour much closer than the
        # norms, e.g. a copy of a labeled point), recompute the query's
        # weights from exact distances: the k nearest again, with positions,
        # then sum((q - x)^2). Chunks without such a query skip this.
        if search_metric == "cosine":  # unit vectors: r = 1 - cos
            near = d0 < cancel_tol
        else:
            near = d0 < cancel_tol * (sq_norms(qb)[None, :] + g_sq_max)
        near = near.T if cls is None else jnp.take_along_axis(near.T, cls, axis=1)
        redo = jnp.any(near & has, axis=1)  # (b,)

        def exact():
            pos = jnp.transpose(_network_indices(dist, k_eff, n_pos), (2, 1, 0))  # (b, C, k)
            if cls is None:
                idx = table_pad[jnp.arange(num_classes)[None, :, None], pos]  # (b, C, k)
            else:
                pos = jnp.take_along_axis(pos, cls[:, :, None], axis=1)  # (b, T, k)
                idx = table_pad[cls[:, :, None], pos]
            vals, has_t = regress(qb, idx)
            return jnp.where(redo, _aggregate(vals, has_t, p_top, aggregate, fallback), out)

        return lax.cond(jnp.any(redo), exact, lambda: out)

    return map_row_blocks(block, query_emb, chunk_size, query_probs)


def _framed(train_emb, query_emb, train_values, metric, train_mask):
    """Labeled and query embeddings moved into their shared frame
    (:func:`ads_jax.distances.metric_frame`: centered on the midpoint of the
    per-coordinate range of both sets and scaled by a power of two; identity
    for cosine), in the promoted dtype. The regressors only rank distances and
    use ratios d0 / d, so their output does not depend on the frame - but the
    float arithmetic then neither cancels under a shared offset nor over- /
    underflows at extreme magnitudes. Computed on the unpadded, global arrays
    with exact min/max reductions: the same frame on any mesh."""
    dtype = jnp.result_type(train_emb.dtype, query_emb.dtype, train_values.dtype, jnp.float32)
    train_emb, query_emb = train_emb.astype(dtype), query_emb.astype(dtype)
    frame = metric_frame(train_emb, query_emb, metric=metric,
                         where=(train_mask, jnp.ones(query_emb.shape[0], bool)))
    train_emb = jnp.where(train_mask[:, None], to_frame(train_emb, frame), jnp.zeros((), dtype))
    return train_emb, to_frame(query_emb, frame)


def _absent_as_extra_class(train_y, train_values, train_mask, num_classes):
    """Labeled buffer rows that are padding (``train_mask`` False) get the label
    ``num_classes``: no per-class regressor sees them (every class table and
    class mask drops that label). Returns (labels, fallback value = the least
    valuable real labeled point)."""
    y = jnp.where(train_mask, train_y.astype(jnp.int32), num_classes)
    fallback = jnp.min(jnp.where(train_mask, train_values, jnp.inf))
    return y, fallback


def _predict_values_framed(train_emb, train_y, train_values, train_mask, query_emb,
                           query_probs, **kw):
    """:func:`_predict_values_impl` on framed embeddings (single device)."""
    train_emb, query_emb = _framed(train_emb, query_emb, train_values, kw["metric"], train_mask)
    train_y, fallback = _absent_as_extra_class(train_y, train_values, train_mask,
                                               kw["num_classes"])
    return _predict_values_impl(train_emb, train_y, train_values, query_emb, query_probs,
                                fallback=fallback, **kw)


_STATIC = ("num_classes", "k", "top_t", "aggregate", "weights", "metric", "chunk_size",
           "max_class_count", "method")
_predict_values_jit = jax.jit(_predict_values_framed, static_argnames=_STATIC)


@partial(jax.jit, static_argnames=_STATIC + ("mesh", "axes"))
def _predict_values_sharded(
    train_emb, train_y, train_values, train_mask, query_emb, query_probs, *,
    num_classes, k, top_t, aggregate, weights, metric, chunk_size, max_class_count, method,
    mesh, axes,
):
    # Frame first: of the global, unpadded arrays (shards must share one frame).
    train_emb, query_emb = _framed(train_emb, query_emb, train_values, metric, train_mask)
    train_y, fallback = _absent_as_extra_class(train_y, train_values, train_mask, num_classes)
    n_q = query_emb.shape[0]
    n_dev = int(np.prod([mesh.shape[a] for a in axes]))
    pad = (-n_q) % n_dev
    query_emb = jnp.pad(query_emb, ((0, pad), (0, 0)))
    query_probs = jnp.pad(query_probs, ((0, pad), (0, 0)))
    fn = partial(
        _predict_values_impl, num_classes=num_classes, k=k, top_t=top_t,
        aggregate=aggregate, weights=weights, metric=metric, chunk_size=chunk_size,
        max_class_count=max_class_count, method=method,
    )
    spec = P(axes)
    # Explicit-axis meshes (the jax.make_mesh default) need the inputs laid out
    # as the specs say; Auto meshes accept any layout.
    explicit = any(t == jax.sharding.AxisType.Explicit for t in mesh.axis_types)
    if explicit:
        sh = lambda a, s: jax.reshard(a, jax.sharding.NamedSharding(mesh, s))
        train_emb, train_y, train_values, fallback = (
            sh(a, P()) for a in (train_emb, train_y, train_values, fallback))
        query_emb, query_probs = sh(query_emb, spec), sh(query_probs, spec)
    out = jax.shard_map(
        fn, mesh=mesh,
        in_specs=(P(), P(), P(), spec, spec, P()),
        out_specs=spec,
    )(train_emb, train_y, train_values, query_emb, query_probs, fallback)
    if explicit and pad:
        # A sharded axis cannot be sliced to a non-multiple of the device
        # count; gather the (Q,) result (small) before dropping the padding.
        out = jax.reshard(out, jax.sharding.NamedSharding(mesh, P()))
    return out[:n_q]


def predict_values(
    train_emb: jax.Array,
    train_y: jax.Array,
    train_values: jax.Array,
    query_emb: jax.Array,
    query_probs: jax.Array,
    *,
    num_classes: int,
    k: int = KNNRegressionOptions.k,
    top_t: int = KNNRegressionOptions.top_t,
    aggregate: str = KNNRegressionOptions.aggregate,
    weights: str = KNNRegressionOptions.weights,
    metric: str = KNNRegressionOptions.metric,
    chunk_size: int = KNNRegressionOptions.chunk_size,
    max_class_count: int | None = None,
    method: str = KNNRegressionOptions.method,
    mesh: jax.sharding.Mesh | None = None,
) -> jax.Array:
    """Predict the value of query points with per-class KNN regressors.

    The defaults are those of the default value estimator
    (:class:`KNNRegressionOptions`, ``acquisition.estimator``), so this
    function with its defaults computes what a default config computes.

    Args:
      train_emb: (L, d) float embeddings of the labeled points.
      train_y: (L,) int labels in ``[0, num_classes)``.
      train_values: (L,) float values of the labeled points (e.g. KNN-Shapley).
      query_emb: (Q, d) float embeddings of the points to value.
      query_probs: (Q, num_classes) float model probabilities (any
        non-negative per-class scores; only their ranking is used, except for
        ``aggregate="prob_weighted"`` where they are the weights).
      num_classes: number of classes C.
      k: neighbours per class regressor (a class with fewer labeled points
        uses all of them).
      top_t: number of most probable classes per query whose regressors are
        evaluated; ``min(top_t, C)`` are used (all classes when C <= top_t).
      aggregate: ``"max"`` | ``"mean"`` | ``"prob_weighted"`` (see module doc).
      weights: ``"uniform"`` | ``"distance"`` (inverse distance in ``metric``).
      metric: ``"euclidean"`` (default, scikit-learn's) | ``"sqeuclidean"`` |
        ``"cosine"``. The neighbours are the same for both Euclidean
        metrics; only distance weighting differs.
      chunk_size: query rows per block; peak memory
        ``O(chunk_size x (L + C k))``.
      max_class_count: static upper bound Lc on the number of labeled points
        of one class (used by ``method="network"`` and ``"grouped"``).
        ``None``: computed from ``train_y``; when that is traced (inside your
        own ``jit``) it falls back to L and ``"auto"`` picks ``"masked"`` -
        pass the bound there to allow the per-class methods. A bound below
        the true count raises (eagerly); under ``jit`` it would silently drop
        points.
      method: how each class's k nearest neighbours are found (same results,
        see the module doc): ``"network"`` - one GEMM into a (Lc, C, chunk)
        per-class layout and an elementwise min/max insertion network (no
        ``top_k``; fastest on CPU); ``"masked"`` - for each of the T classes
        a ``top_k`` over all L distances with other classes masked to
        ``+inf`` (T x L work per query); ``"grouped"`` - one ``top_k`` over
        each class's Lc points (C x Lc ~ L work for all classes);
        ``"auto"`` (default) - :func:`choose_method` (by platform and cost).
      mesh: optional :class:`jax.sharding.Mesh`; the query axis is sharded
        over all its axes (labeled data replicated). Same result as without.

    Returns:
      (Q,) float predicted values (promoted float dtype of the inputs, at least
      float32). Never NaN: empty classes are skipped and a query with no
      usable class gets ``min(train_values)`` (module doc).

    Raises:
      ValueError / TypeError naming the argument for bad shapes, dtypes,
      non-finite values, labels out of range or unknown options.
    """
    num_classes = V.check_positive_int("num_classes", num_classes)
    k = V.check_positive_int("k", k)
    top_t = V.check_positive_int("top_t", top_t)
    chunk_size = V.check_positive_int("chunk_size", chunk_size)
    V.check_choice("aggregate", aggregate, AGGREGATES)
    V.check_choice("weights", weights, WEIGHTS)
    V.check_choice("metric", metric, METRICS)
    V.check_array("train_emb", train_emb, ndim=2, kind="f")
    V.check_array("train_y", train_y, ndim=1, kind="i")
    V.check_array("train_values", train_values, ndim=1, kind="f")
    V.check_array("query_emb", query_emb, ndim=2, kind="f")
    V.check_array("query_probs", query_probs, ndim=2, kind="f")
    V.check_same_length(train_emb=train_emb, train_y=train_y, train_values=train_values)
    V.check_same_length(query_emb=query_emb, query_probs=query_probs)
    if train_emb.shape[1] != query_emb.shape[1]:
        raise ValueError(
            f"`train_emb` and `query_emb` must have the same feature dimension, got "
            f"{train_emb.shape[1]} and {query_emb.shape[1]}."
        )
    if query_probs.shape[1] != num_classes:
        raise ValueError(
            f"`query_probs` must have num_classes={num_classes} columns, got shape "
            f"{tuple(query_probs.shape)}."
        )
    V.check_labels("train_y", train_y, num_classes)
    for name, a in (("train_emb", train_emb), ("train_values", train_values),
                    ("query_emb", query_emb), ("query_probs", query_probs)):
        V.check_finite(name, a)
    if aggregate == "prob_weighted" and not V.is_tracer(query_probs):
        if np.any(np.asarray(query_probs) < 0):
            raise ValueError(
                "`query_probs` must be non-negative for aggregate='prob_weighted' "
                "(pass probabilities, e.g. softmax of the logits, not logits)."
            )
    bound = None
    if not V.is_tracer(train_y):
        bound = int(np.bincount(np.asarray(train_y), minlength=num_classes).max())
    if max_class_count is not None:
        max_class_count = V.check_positive_int("max_class_count", max_class_count)
        if bound is not None and max_class_count < bound:
            raise ValueError(
                f"`max_class_count`={max_class_count} is smaller than the largest class of "
                f"`train_y` ({bound} points); pass None or a bound >= {bound}."
            )
        bound = max_class_count
    V.check_choice("method", method, METHODS)
    return predict_values_unchecked(
        train_emb, train_y, train_values, query_emb, query_probs, num_classes=num_classes,
        k=k, top_t=top_t, aggregate=aggregate, weights=weights, metric=metric,
        chunk_size=chunk_size, max_class_count=bound, method=method, mesh=mesh)


def predict_values_unchecked(train_emb, train_y, train_values, query_emb, query_probs, *,
                             num_classes: int, k: int, top_t: int, aggregate: str,
                             weights: str, metric: str, chunk_size: int,
                             max_class_count: int | None, method: str = "auto",
                             mesh: jax.sharding.Mesh | None = None,
                             train_mask: jax.Array | None = None) -> jax.Array:
    """:func:`predict_values` without its input checks (the caller validated them).

    ``max_class_count``: static bound on the largest class of ``train_y``
    (None: L, the safe bound). ``train_mask``: optional (L,) bool, False rows
    of the labeled buffer are padding (never neighbours) -- the fixed-shape
    acquisition program's growing labeled set. Shapes and result as
    :func:`predict_values`.
    """
    n_train = int(train_emb.shape[0])
    bound = n_train if max_class_count is None else min(int(max_class_count), n_train)
    if method == "auto":
        platform = None if mesh is None else mesh.devices.flat[0].platform
        method = choose_method(num_classes, n_train, bound, top_t, k=k, platform=platform)
    kw = dict(num_classes=num_classes, k=k, top_t=top_t, aggregate=aggregate,
              weights=weights, metric=metric, chunk_size=chunk_size,
              max_class_count=bound, method=method)
    mask = (jnp.ones((n_train,), bool) if train_mask is None
            else jnp.asarray(train_mask, bool))
    args = (jnp.asarray(train_emb), jnp.asarray(train_y), jnp.asarray(train_values), mask,
            jnp.asarray(query_emb), jnp.asarray(query_probs))
    if mesh is None:
        return _predict_values_jit(*args, **kw)
    axes = tuple(mesh.axis_names)
    return _predict_values_sharded(*args, mesh=mesh, axes=axes, **kw)
