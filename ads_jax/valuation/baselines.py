"""Baseline data values under the KNN (``jia``) utility: leave-one-out, Data
Banzhaf (exact and Maximum-Sample-Reuse), and random values.

Every function here values the N labeled (training) points against M
validation points with the utility of :func:`ads_jax.valuation.knn_shapley`'s
``"jia"`` variant. For one validation point ``(x, y)`` sort the training
points by distance to ``x`` (ties: the lower training index is nearer) and let
``a_j = 1[y_(j) == y]`` be the match indicator of the j-th nearest; for a
subset ``S``::

    U(S) = (1/K) * sum of a_j over the min(K, |S|) nearest members of S,  U(empty) = 0.

Values are averaged over the validation points. Distances are ranked in the
shared centred, power-of-two scaled frame of :mod:`ads_jax.distances` exactly
as :func:`~ads_jax.valuation.knn_shapley` does (translation/scale invariant up
to input rounding). ``train_mask`` (N,) bool marks the rows of a
fixed-capacity buffer that are real players; False rows are absent players
(value 0, every other value equals the one computed without them).

* :func:`knn_loo_values` -- leave-one-out ``U(D) - U(D minus i)``.
* :func:`knn_banzhaf_values` -- exact Data Banzhaf value (Wang & Jia,
  AISTATS 2023) of the KNN game, closed form, O(N) per validation point after
  the sort.
* :func:`msr_banzhaf` -- the Maximum Sample Reuse (MSR) Monte-Carlo estimator
  of the Banzhaf value of ANY utility, with per-player standard errors;
  :func:`knn_banzhaf_msr` applies it to the KNN game.
* :func:`random_values` -- i.i.d. uniform values (the random baseline).

All functions are pure and jittable (input checks run eagerly and are no-ops
on tracers); the options after ``*`` that shape the program (``num_classes``,
``metric``, chunk/batch sizes, ``num_samples``) are static, ``k`` is traced.

Exact KNN-Banzhaf (derivation). For the point at sorted position ``i``
(1-based) among ``N`` players and a uniformly random subset ``S`` of the
others (each in with probability 1/2), adding ``i`` changes ``U`` only when
fewer than ``K`` members of ``S`` are nearer than ``i``; then ``i`` enters the
K nearest and the former K-th nearest member of ``S`` (if ``|S| >= K``), at
some position ``j > i``, drops out::

    Banzhaf_i = (1/K) [ a_i P(Bin(i-1, 1/2) < K) - sum_{j>i} w_j a_j ],
    w_j = P(the K-th member of S sits at j) = C(j-2, K-1) / 2^(j-1)

(``j-2`` candidates before ``j`` other than ``i``, exactly ``K-1`` of them in
``S``, and ``j`` in ``S``; this does not depend on ``i``). ``w_j`` (``j >= 2``)
is the negative-binomial law of the position of the K-th success in a fair
coin sequence, so ``P(Bin(i-1, 1/2) < K) = sum_{j>i} w_j`` over ALL
``j > i`` (also past N). Hence, with ``p_N = P(Bin(N-1, 1/2) < K)`` the mass
beyond N::

    a_i = 1:  Banzhaf_i =  (1/K) [ sum_{i<j<=N} w_j (1 - a_j) + p_N ]
    a_i = 0:  Banzhaf_i = -(1/K)   sum_{i<j<=N} w_j a_j

-- sums of non-negative terms only (two reverse cumulative sums, no
cancellation), so small values keep their relative accuracy. ``log w_j`` is
computed in log space with Loader's saddle-point binomial (the ``stirlerr`` /
``bd0`` of R's ``dbinom``): accurate to a few ulps where ``w_j`` is
representable, no overflow of ``C(j-2, K-1)``; ``w_j`` underflows to 0 where
its true value is below the dtype's range. ``p_N`` is a lower binomial tail
summed as a series of positive terms (or ``1 -`` one, when it is above 1/2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ads_jax import _validation as V
from ads_jax.distances import _pairwise, metric_frame, to_frame
from ads_jax.valuation.knn_shapley import check_knn_inputs
from ads_jax.valuation.registry import Valuation, register_valuation
from ads_jax.valuation.sorting import sort_matches, sort_with_ranks

__all__ = [
    "binom_half_cdf",
    "knn_banzhaf_msr",
    "knn_banzhaf_values",
    "knn_loo_values",
    "knn_utility_fn",
    "log_binom_half_pmf",
    "msr_banzhaf",
    "random_values",
]

# Validation rows per chunk: at most this many (validation x training)
# distance entries at a time (as knn_shapley: small chunks stay in cache on CPU).
_CHUNK_ELEMS = {"cpu": 1 << 21}
_CHUNK_ELEMS_DEFAULT = 1 << 25
# MSR on the KNN game: (batch x validation x training) entries per batch.
_MSR_ELEMS = 1 << 22


# ------------------------------------------------------------------ checks
def _check_knn_inputs(train_x, train_y, val_x, val_y, num_classes, k, metric, train_mask):
    """:func:`check_knn_inputs` with a traced ``k`` allowed; returns ``(num_classes, k)``."""
    *_, num_classes, k = check_knn_inputs(train_x, train_y, val_x, val_y, num_classes, k,
                                          metric, train_mask, traced_k=True)
    return num_classes, k


def _mask_or_ones(train_mask, n):
    return jnp.ones((n,), bool) if train_mask is None else jnp.asarray(train_mask, bool)


def _default_sorter() -> str:
    """The stable sorter knn_shapley's ``method="auto"`` uses: NumPy on the
    host on CPU, ``lax.sort`` elsewhere (same results)."""
    return "host" if jax.default_backend() == "cpu" else "xla"


def _val_chunk(val_chunk_size, n, m):
    """Validation rows per chunk for N training and M validation points: at
    most ``val_chunk_size`` (default: ~2M (CPU) / ~32M distance entries per
    chunk), balanced so the last chunk is not mostly padding."""
    if val_chunk_size is not None:
        max_rows = V.check_positive_int("val_chunk_size", val_chunk_size)
    else:
        max_rows = max(1, _CHUNK_ELEMS.get(jax.default_backend(), _CHUNK_ELEMS_DEFAULT)
                       // max(n, 1))
    num_chunks = -(-m // max_rows)
    return -(-m // num_chunks)


# ---------------------------------------------------------- shared helpers
def validation_chunks(vx: jax.Array, val_y: jax.Array, val_chunk: int, dtype):
    """The validation set cut into ``ceil(M / val_chunk)`` chunks for a ``lax.scan``.

    Args:
      vx: (M, d) float validation features. val_y: (M,) int labels.
      val_chunk: rows per chunk (static).
      dtype: the weights' float dtype.

    Returns:
      ``(xs, ys, ws)``: (C, val_chunk, d) features, (C, val_chunk) int32
      labels and (C, val_chunk) weights (1 for real rows, 0 for the padding
      of the last chunk).
    """
    m = vx.shape[0]
    nch = -(-m // val_chunk)
    m_pad = nch * val_chunk
    xs = jnp.pad(vx, ((0, m_pad - m), (0, 0))).reshape(nch, val_chunk, -1)
    ys = jnp.pad(val_y.astype(jnp.int32), (0, m_pad - m)).reshape(nch, val_chunk)
    ws = (jnp.arange(m_pad) < m).astype(dtype).reshape(nch, val_chunk)
    return xs, ys, ws


def framed_points(train_x, train_mask, *others, metric):
    """All point sets in one shared :class:`~ads_jax.distances.Frame`. Traceable.

    The frame is fitted on the real training rows (``train_mask``) and every
    row of ``others`` (validation, query points), as knn_shapley does; padding
    training rows become zero rows (finite, never overflow; callers give them
    distance ``+inf``).

    Args:
      train_x: (N, d) float; train_mask: (N,) bool; others: (n_i, d) float.
      metric: one of :data:`ads_jax.distances.METRICS`.

    Returns:
      ``(train_framed (N, d), *others_framed)`` in the promoted float dtype.
    """
    dtype = jnp.result_type(train_x.dtype, *(o.dtype for o in others), jnp.float32)
    train_x = train_x.astype(dtype)
    others = [o.astype(dtype) for o in others]
    where = (train_mask,) + tuple(jnp.ones((o.shape[0],), bool) for o in others)
    frame = metric_frame(train_x, *others, metric=metric, where=where)
    tx = jnp.where(train_mask[:, None], to_frame(train_x, frame), jnp.zeros((), dtype))
    return (tx, *(to_frame(o, frame) for o in others))


def masked_distances(vx, tx, train_mask, metric):
    """(c, N) framed distances of validation rows ``vx`` to training rows
    ``tx``; ``+inf`` for absent players (they sort last); ``-0.0 -> +0.0``."""
    d = _pairwise(vx, tx, metric)
    d = jnp.where(d > 0, d, jnp.zeros((), d.dtype))
    return jnp.where(train_mask[None, :], d, jnp.asarray(jnp.inf, d.dtype))


def sorted_distances(dist, *, sorter):
    """Row-wise stable sort of ``dist`` (c, N) (ties: lower index first).
    Returns ``(sorted_dist (c, N), perm (c, N) int32)``."""
    perm, _ = sort_with_ranks(dist, sorter=sorter)
    return jnp.take_along_axis(dist, perm, axis=1), perm


def _chunked_sorted_values(train_x, train_y, train_mask, val_x, val_y, sorted_fn, *,
                           metric, val_chunk, sorter):
    """Mean over validation points of per-point values computed in sorted order.

    ``sorted_fn(a (c, N) float, pos (N,) int32 1-based, n_real ()) -> (c, N)``
    gets the sorted match indicators (zeros past the ``n_real`` real players)
    and returns the values in sorted order; they are put back in training
    order (0 at absent players) and averaged. Validation points are processed
    ``val_chunk`` rows at a time (``lax.scan``): memory O(val_chunk x N).
    """
    tx, vx = framed_points(train_x, train_mask, val_x, metric=metric)
    dtype = tx.dtype
    n, m = tx.shape[0], vx.shape[0]
    n_real = jnp.sum(train_mask.astype(jnp.int32))
    pos = jnp.arange(1, n + 1, dtype=jnp.int32)
    vxp, vyp, vw = validation_chunks(vx, val_y, val_chunk, dtype)
    ty = train_y.astype(jnp.int32)

    def step(acc, xs):
        cx, cy, cw = xs
        dist = masked_distances(cx, tx, train_mask, metric)
        match, rank = sort_matches(dist, ty, cy, sorter=sorter)
        a = jnp.where(pos[None, :] <= n_real, match.astype(dtype), jnp.zeros((), dtype))
        s = jnp.take_along_axis(sorted_fn(a, pos, n_real), rank, axis=1)
        s = jnp.where(train_mask[None, :], s, jnp.zeros((), dtype))
        return acc + jnp.matmul(cw, s, precision=lax.Precision.HIGHEST), None

    total, _ = lax.scan(step, jnp.zeros((n,), dtype), (vxp, vyp, vw))
    return total / m


# ------------------------------------------------------------- leave-one-out
def _loo_sorted(a, pos, n_real, k):
    """LOO in sorted order: ``(a_i - a_{K+1}) / K`` for ``i <= K`` (``a_{K+1} = 0``
    when there are at most K players), 0 beyond."""
    dtype = a.dtype
    kk = jnp.asarray(k, jnp.int32)
    n = a.shape[1]
    a_next = jnp.where(kk < n, a[:, jnp.minimum(kk, n - 1)], jnp.zeros((), dtype))  # a_{K+1}
    kf = kk.astype(dtype)
    return jnp.where(pos[None, :] <= kk, (a - a_next[:, None]) / kf, jnp.zeros((), dtype))


@partial(jax.jit, static_argnames=("metric", "val_chunk", "sorter"))
def _loo_jit(train_x, train_y, train_mask, val_x, val_y, k, *, metric, val_chunk, sorter):
    return _chunked_sorted_values(
        train_x, train_y, train_mask, val_x, val_y,
        lambda a, pos, n_real: _loo_sorted(a, pos, n_real, k),
        metric=metric, val_chunk=val_chunk, sorter=sorter)


def knn_loo_values(train_x, train_y, val_x, val_y, *, num_classes: int, k: int,
                   metric: str = "sqeuclidean", train_mask=None,
                   val_chunk_size: int | None = None) -> jax.Array:
    """Leave-one-out values of the KNN (``jia``) utility, averaged over validation points.

    ``LOO_i = U(D) - U(D minus {i})`` with U the utility of the module
    docstring. Closed form per validation point (sorted positions, 1-based):
    ``(a_i - a_{K+1}) / K`` for the K nearest real players (``a_{K+1} = 0`` if
    there are at most K of them) and 0 for all others.

    Args:
      train_x: (N, d) float training (labeled) features; train_y: (N,) int labels.
      val_x: (M, d) float validation features; val_y: (M,) int labels.
      num_classes: C (labels lie in ``[0, C)``).
      k: K >= 1 (may exceed N). Traced.
      metric: ``"sqeuclidean"`` | ``"euclidean"`` | ``"cosine"``.
      train_mask: optional (N,) bool; False rows are absent players (value 0).
      val_chunk_size: validation points per chunk (memory O(chunk x N));
        default as knn_shapley.

    Returns:
      (N,) float32 values (float64 for float64 inputs under ``jax_enable_x64``).

    Raises:
      ValueError / TypeError naming the argument for bad shapes, dtypes,
      non-finite features, labels out of range, ``k < 1``, unknown ``metric``.
    """
    _, k = _check_knn_inputs(train_x, train_y, val_x, val_y, num_classes, k, metric, train_mask)
    n = int(train_x.shape[0])
    return _loo_jit(jnp.asarray(train_x), jnp.asarray(train_y), _mask_or_ones(train_mask, n),
                    jnp.asarray(val_x), jnp.asarray(val_y), k, metric=metric,
                    val_chunk=_val_chunk(val_chunk_size, n, int(val_x.shape[0])),
                    sorter=_default_sorter())


# ----------------------------------------------------- binomial log-space math
def _stirlerr_table() -> np.ndarray:
    """``stirlerr(n) = log(n!) - log(sqrt(2 pi n) (n/e)^n)`` for n = 0..15
    (float64; ``stirlerr(0)`` := 0, unused)."""
    t = np.zeros(16)
    for i in range(1, 16):
        t[i] = math.lgamma(i + 1) - (i + 0.5) * math.log(i) + i - 0.5 * math.log(2 * math.pi)
    return t


_STIRLERR = _stirlerr_table()


def _stirlerr(n: jax.Array) -> jax.Array:
    """Loader's Stirling-formula error for integer-valued float ``n >= 0``."""
    s0, s1, s2, s3, s4 = 1 / 12, 1 / 360, 1 / 1260, 1 / 1680, 1 / 1188
    big = jnp.maximum(n, 16.0)
    nn = big * big
    series = (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / big
    table = jnp.asarray(_STIRLERR, n.dtype)[jnp.clip(n, 0, 15).astype(jnp.int32)]
    return jnp.where(n <= 15, table, series)


def _bd0(x: jax.Array, mu: jax.Array) -> jax.Array:
    """Loader's deviance term ``x log(x / mu) + mu - x`` (x, mu > 0) without
    cancellation: a series in ``v = (x - mu) / (x + mu)`` when ``|v| < 0.1``."""
    d = x - mu
    v = d / (x + mu)
    s = d * v
    ej = 2.0 * x * v
    v2 = v * v
    for j in range(1, 12):  # v2 < 0.01: 11 terms reach float64 precision
        ej = ej * v2
        s = s + ej / (2 * j + 1)
    direct = x * jnp.log(x / mu) + mu - x
    return jnp.where(jnp.abs(d) < 0.1 * (x + mu), s, direct)


def log_binom_half_pmf(x: jax.Array, n: jax.Array) -> jax.Array:
    """``log P(Bin(n, 1/2) = x) = log(C(n, x) / 2**n)``, elementwise. Traceable.

    Loader's saddle-point algorithm (R's ``dbinom``): relative accuracy of a
    few ulps in the pmf, no overflow of ``C(n, x)`` at any size.

    Args:
      x, n: integer-valued float arrays (broadcastable), ``0 <= x <= n``.

    Returns:
      float array of the log-pmf, the dtype of ``x``/``n``.
    """
    dtype = jnp.result_type(x, n)
    x, n = jnp.asarray(x, dtype), jnp.asarray(n, dtype)
    edge = (x <= 0) | (x >= n)
    nn = jnp.maximum(n, 2.0)
    xs = jnp.clip(x, 1.0, nn - 1.0)
    half = 0.5 * nn
    lc = (_stirlerr(nn) - _stirlerr(xs) - _stirlerr(nn - xs)
          - _bd0(xs, half) - _bd0(nn - xs, half))
    lf = math.log(2 * math.pi) + jnp.log(xs) + jnp.log1p(-xs / nn)
    return jnp.where(edge, -n * math.log(2.0), lc - 0.5 * lf)


def binom_half_cdf(x: jax.Array, n: jax.Array) -> jax.Array:
    """``P(Bin(n, 1/2) <= x)`` for scalar integer-valued floats ``x >= 0``, ``n >= 0``.

    The lower tail ``sum_{l <= m} pmf(l)`` (``m < n/2``) is summed from
    ``pmf(m)`` downwards as a series of positive terms (ratios ``l / (n - l + 1)``)
    until the terms stop mattering: relative accuracy even when the result is
    tiny. For ``x >= n/2`` it is ``1 -`` the lower tail at ``n - x - 1`` (then
    the result is >= 1/2, so the subtraction is benign). Traceable.
    """
    dtype = jnp.result_type(x, n)
    x, n = jnp.asarray(x, dtype), jnp.asarray(n, dtype)
    lower = 2.0 * x < n
    m = jnp.where(lower, x, n - x - 1.0)
    m = jnp.maximum(m, 0.0)
    eps = jnp.finfo(dtype).eps

    def cond(state):
        l, term, total = state
        return (l < m) & (term > eps * total * 0.25)

    def body(state):
        l, term, total = state
        term = term * (m - l) / (n - m + 1.0 + l)  # pmf(m - l - 1) / pmf(m)
        return l + 1.0, term, total + term

    one = jnp.ones((), dtype)
    _, _, series = lax.while_loop(cond, body, (jnp.zeros((), dtype), one, one))
    tail = jnp.exp(log_binom_half_pmf(m, n)) * series
    return jnp.where(x >= n, one, jnp.where(lower, tail, 1.0 - tail))


def _banzhaf_weights(size: int, n_real, k, dtype):
    """``w_j = C(j-2, K-1) / 2^(j-1)`` for positions j = 1..size (0 for j <= K
    and past ``n_real``), and ``p = P(Bin(n_real - 1, 1/2) < K)``."""
    j = jnp.arange(1, size + 1, dtype=dtype)
    kf = jnp.asarray(k, dtype)
    use = (j >= kf + 1.0) & (j <= jnp.asarray(n_real, dtype))
    jj = jnp.where(use, j, kf + 1.0)
    logw = log_binom_half_pmf(kf - 1.0, jj - 2.0) - math.log(2.0)
    w = jnp.where(use, jnp.exp(logw), jnp.zeros((), dtype))
    nf = jnp.maximum(jnp.asarray(n_real, dtype), 1.0)
    p = binom_half_cdf(kf - 1.0, nf - 1.0)
    return w, p


def _suffix_after(x):
    """``out[:, i] = sum_{j > i} x[:, j]`` (exclusive reverse cumulative sum, no
    subtraction)."""
    inc = lax.cumsum(x, axis=1, reverse=True)
    return jnp.pad(inc[:, 1:], ((0, 0), (0, 1)))


def _banzhaf_sorted(a, pos, n_real, k, w, p):
    dtype = a.dtype
    valid = (pos <= n_real)[None, :]
    g = _suffix_after(jnp.where(valid, w * (1.0 - a), jnp.zeros((), dtype))) + p
    h = _suffix_after(w * a)
    kf = jnp.asarray(k, dtype)
    return jnp.where(a > 0, g, -h) / kf


@partial(jax.jit, static_argnames=("metric", "val_chunk", "sorter"))
def _banzhaf_jit(train_x, train_y, train_mask, val_x, val_y, k, *, metric, val_chunk, sorter):
    dtype = jnp.result_type(train_x.dtype, val_x.dtype, jnp.float32)
    n_real = jnp.sum(train_mask.astype(jnp.int32))
    w, p = _banzhaf_weights(train_x.shape[0], n_real, k, dtype)
    return _chunked_sorted_values(
        train_x, train_y, train_mask, val_x, val_y,
        lambda a, pos, nr: _banzhaf_sorted(a, pos, nr, k, w, p),
        metric=metric, val_chunk=val_chunk, sorter=sorter)


def knn_banzhaf_values(train_x, train_y, val_x, val_y, *, num_classes: int, k: int,
                       metric: str = "sqeuclidean", train_mask=None,
                       val_chunk_size: int | None = None) -> jax.Array:
    """Exact Data Banzhaf values of the KNN (``jia``) utility, averaged over validation points.

    ``Banzhaf_i = 2^-(N-1) sum_{S subset of D minus {i}} [U(S + i) - U(S)]``
    (the Banzhaf value; Wang & Jia, AISTATS 2023, "Data Banzhaf"), computed in
    closed form (module docstring): for the point at sorted position ``i``,
    ``(1/K) [a_i P(Bin(i-1, 1/2) < K) - sum_{j>i} C(j-2, K-1) / 2^(j-1) a_j]``;
    O(N) per validation point after the sort, in log space (no overflow of
    the binomials; terms below the dtype's range underflow to 0).

    Args / Raises: as :func:`knn_loo_values`.

    Returns:
      (N,) float32 values (float64 for float64 inputs under ``jax_enable_x64``);
      0 at absent players.
    """
    _, k = _check_knn_inputs(train_x, train_y, val_x, val_y, num_classes, k, metric, train_mask)
    n = int(train_x.shape[0])
    return _banzhaf_jit(jnp.asarray(train_x), jnp.asarray(train_y), _mask_or_ones(train_mask, n),
                        jnp.asarray(val_x), jnp.asarray(val_y), k, metric=metric,
                        val_chunk=_val_chunk(val_chunk_size, n, int(val_x.shape[0])),
                    sorter=_default_sorter())


# ------------------------------------------------------------ MSR estimator
def msr_banzhaf(key, utility_fn: Callable[[jax.Array], jax.Array], n_players: int, *,
                num_samples: int, batch_size: int | None = None,
                player_mask=None) -> tuple[jax.Array, jax.Array]:
    """Maximum Sample Reuse (MSR) estimate of the Banzhaf value of any utility.

    Wang & Jia (AISTATS 2023), Algorithm 1: draw ``num_samples`` subsets
    ``S_1..S_m`` i.i.d. uniformly (each player in independently with
    probability 1/2), evaluate ``U(S_s)`` once each, and estimate every
    player's value from ALL samples::

        value_i = mean{U(S_s) : i in S_s} - mean{U(S_s) : i not in S_s}.

    Standard error (the two means use disjoint samples, hence are independent
    given the membership pattern)::

        se_i = sqrt( var_in_i / m_in_i + var_out_i / m_out_i )

    with ``m_in_i`` / ``m_out_i`` the numbers of samples with / without ``i`` and
    ``var`` the unbiased sample variances (``ddof=1``; two-pass, centred). A
    player never (always) sampled gets value NaN; one in (out of) fewer than 2
    samples gets standard error NaN -- use enough samples (the counts are
    Binomial(m, 1/2)). The error shrinks like ``1/sqrt(num_samples)``.

    Args:
      key: PRNG key (``jax.random.key`` or legacy ``PRNGKey``).
      utility_fn: ``utility_fn(member (B, n_players) bool) -> (B,) float``, the
        utility of B subsets at once; must be traceable (it is called inside
        ``lax.scan``) and pure. Static: the program is compiled once per
        function object (and sizes), so reuse the same function.
      n_players: number of players n.
      num_samples: m >= 2 sampled subsets (static).
      batch_size: subsets per ``utility_fn`` call (static; default
        ``min(m, max(1, 2**20 // n))``). Samples are drawn per batch, so the
        result depends on it (statistically, not in distribution).
      player_mask: optional (n,) bool; False players are absent: never in a
        sampled subset, value 0 and standard error 0 (the real players' values
        are estimates of those of the game without them).

    Returns:
      ``(values, standard_errors)``, both (n_players,) in the utility's float
      dtype (at least float32).
    """
    key = V.check_key("key", key)
    if not callable(utility_fn):
        raise TypeError(f"`utility_fn` must be a callable (member (B, n) bool -> (B,) float), "
                        f"got {type(utility_fn).__name__}.")
    n = V.check_positive_int("n_players", n_players)
    m = V.check_int("num_samples", num_samples, minimum=2)
    if batch_size is None:
        batch_size = min(m, max(1, (1 << 20) // n))
    b = min(V.check_positive_int("batch_size", batch_size), m)
    if player_mask is not None:
        V.check_array("player_mask", player_mask, ndim=1, kind="b")
        if not V.is_tracer(player_mask) and int(player_mask.shape[0]) != n:
            raise ValueError(f"`player_mask` must have n_players={n} entries, got shape "
                             f"{tuple(player_mask.shape)}.")
    return _msr_jit(key, utility_fn, n, m, b, _mask_or_ones(player_mask, n))


def _msr(key, utility_fn, n, m, b, mask):
    nb = -(-m // b)
    keys = jax.random.split(key, nb)
    starts = jnp.arange(nb, dtype=jnp.int32) * b

    def members(kb):
        return jax.random.bernoulli(kb, 0.5, (b, n)) & mask[None, :]

    def sample_ok(start):
        return start + jnp.arange(b, dtype=jnp.int32) < m

    # Pass 1: utilities (kept: m floats) and per-player sums / counts.
    probe = jax.eval_shape(utility_fn, jax.ShapeDtypeStruct((b, n), jnp.bool_))
    if tuple(probe.shape) != (b,):
        raise ValueError(f"`utility_fn` must map (B, n) = ({b}, {n}) bool members to a (B,) "
                         f"array, got shape {tuple(probe.shape)}.")
    dtype = jnp.result_type(probe.dtype, jnp.float32)

    def pass1(carry, xs):
        s_in, c_in, s_all = carry
        kb, start = xs
        mem = members(kb)
        ok = sample_ok(start)
        u = jnp.where(ok, utility_fn(mem).astype(dtype), jnp.zeros((), dtype))
        memf = (mem & ok[:, None]).astype(dtype)
        s_in = s_in + jnp.matmul(u, memf, precision=lax.Precision.HIGHEST)
        c_in = c_in + jnp.sum(memf, axis=0)
        return (s_in, c_in, s_all + jnp.sum(u)), u

    zeros = jnp.zeros((n,), dtype)
    (s_in, c_in, s_all), us = lax.scan(pass1, (zeros, zeros, jnp.zeros((), dtype)),
                                       (keys, starts))
    c_out = jnp.asarray(m, dtype) - c_in
    mean_in = s_in / c_in
    mean_out = (s_all - s_in) / c_out

    # Pass 2: centred sums of squares (members regenerated from the same keys).
    def pass2(carry, xs):
        q_in, q_out = carry
        kb, start, u = xs
        mem = members(kb)
        ok = sample_ok(start)[:, None]
        d_in = jnp.where(mem & ok, u[:, None] - mean_in[None, :], 0.0)
        d_out = jnp.where(~mem & ok, u[:, None] - mean_out[None, :], 0.0)
        return (q_in + jnp.sum(d_in * d_in, axis=0), q_out + jnp.sum(d_out * d_out, axis=0)), None

    (q_in, q_out), _ = lax.scan(pass2, (zeros, zeros), (keys, starts, us))
    var_in = q_in / (c_in - 1.0)
    var_out = q_out / (c_out - 1.0)
    values = mean_in - mean_out
    se = jnp.sqrt(var_in / c_in + var_out / c_out)
    values = jnp.where(mask, values, jnp.zeros((), dtype))
    se = jnp.where(mask, se, jnp.zeros((), dtype))
    return values, se


# Compiled once per (utility_fn, n, m, batch) -- pass the same function object
# to reuse the program.
_msr_jit = jax.jit(_msr, static_argnums=(1, 2, 3, 4))


def knn_utility_fn(train_x, train_y, val_x, val_y, *, k, metric: str = "sqeuclidean",
                   train_mask=None, sorter: str | None = None):
    """The KNN (``jia``) utility as a batched function of subsets. Traceable.

    Sorts the training points once per validation point (ties to the lower
    index, absent players last) and returns ``utility(member (B, N) bool) ->
    (B,)``: ``U(S)`` of the module docstring averaged over the M validation
    points. Each call costs O(B x M x N) memory.
    """
    n = train_x.shape[0]
    mask = _mask_or_ones(train_mask, n)
    tx, vx = framed_points(jnp.asarray(train_x), mask, jnp.asarray(val_x), metric=metric)
    dtype = tx.dtype
    dist = masked_distances(vx, tx, mask, metric)
    _, perm = sorted_distances(dist, sorter=sorter or _default_sorter())
    a = (jnp.asarray(train_y, jnp.int32)[perm] == jnp.asarray(val_y, jnp.int32)[:, None])
    a = a.astype(dtype)
    kk = jnp.asarray(k, jnp.int32)
    kf = jnp.asarray(k, dtype)

    def utility(member):
        mem = jnp.take(member & mask[None, :], perm, axis=1)  # (B, M, N), sorted per val point
        top = mem & (jnp.cumsum(mem.astype(jnp.int32), axis=2) <= kk)
        return jnp.mean(jnp.sum(jnp.where(top, a[None], 0.0), axis=2), axis=1) / kf

    return utility


@partial(jax.jit, static_argnames=("num_samples", "batch_size", "metric", "sorter"))
def _knn_msr_jit(key, train_x, train_y, train_mask, val_x, val_y, k, *, num_samples,
                 batch_size, metric, sorter):
    util = knn_utility_fn(train_x, train_y, val_x, val_y, k=k, metric=metric,
                          train_mask=train_mask, sorter=sorter)
    return _msr(key, util, train_x.shape[0], num_samples, batch_size, train_mask)


def knn_banzhaf_msr(key, train_x, train_y, val_x, val_y, *, num_classes: int, k: int,
                    num_samples: int, metric: str = "sqeuclidean", train_mask=None,
                    batch_size: int | None = None) -> tuple[jax.Array, jax.Array]:
    """MSR estimate of the KNN (``jia``) Data Banzhaf values, with standard errors.

    :func:`msr_banzhaf` on the utility of the module docstring averaged over
    the validation points (the same game as :func:`knn_banzhaf_values`, whose
    exact values it estimates). Sampled subsets contain only real players
    (``train_mask``).

    Args:
      key: PRNG key. train_x, train_y, val_x, val_y, num_classes, k, metric,
      train_mask: as :func:`knn_loo_values`.
      num_samples: sampled subsets m >= 2 (static).
      batch_size: subsets per utility evaluation (static); each costs
        O(batch x M x N) memory; default keeps that at ~4M entries.

    Returns:
      ``(values, standard_errors)``, both (N,) float32 (float64 under x64 with
      float64 inputs); 0 at absent players. See :func:`msr_banzhaf` for the NaN
      cases (too few samples).
    """
    key = V.check_key("key", key)
    _, k = _check_knn_inputs(train_x, train_y, val_x, val_y, num_classes, k, metric, train_mask)
    m = V.check_int("num_samples", num_samples, minimum=2)
    n, n_val = int(train_x.shape[0]), int(val_x.shape[0])
    if batch_size is None:
        batch_size = max(1, _MSR_ELEMS // (n * n_val))
    b = min(V.check_positive_int("batch_size", batch_size), m)
    return _knn_msr_jit(key, jnp.asarray(train_x), jnp.asarray(train_y),
                        _mask_or_ones(train_mask, n), jnp.asarray(val_x), jnp.asarray(val_y),
                        k, num_samples=m, batch_size=b, metric=metric,
                        sorter=_default_sorter())


# ------------------------------------------------------------------- random
def random_values(key, n: int, *, train_mask=None) -> jax.Array:
    """The random baseline: i.i.d. ``Uniform[0, 1)`` values.

    Args:
      key: PRNG key (``jax.random.key`` or legacy ``PRNGKey``).
      n: number of points (static).
      train_mask: optional (n,) bool; False rows (padding) get value 0.

    Returns:
      (n,) float32 values. Traceable (``n`` static).
    """
    key = V.check_key("key", key)
    n = V.check_positive_int("n", n)
    if train_mask is not None:
        V.check_array("train_mask", train_mask, ndim=1, kind="b")
        if not V.is_tracer(train_mask) and int(train_mask.shape[0]) != n:
            raise ValueError(f"`train_mask` must have n={n} entries, got shape "
                             f"{tuple(train_mask.shape)}.")
    u = jax.random.uniform(key, (n,), jnp.float32)
    if train_mask is None:
        return u
    return jnp.where(jnp.asarray(train_mask, bool), u, jnp.zeros((), jnp.float32))


# ---------------------------------------------------------------------------
# Registrations: the baselines as valuation components (acquisition.valuation.name).
# ---------------------------------------------------------------------------


def loo(*, k: int, metric: str) -> Valuation:
    """``loo``: KNN leave-one-out under the ``jia`` utility (:func:`knn_loo_values`)."""
    def values(train_x, train_y, val_x, val_y, *, num_classes, train_mask=None, mesh=None,
               key=None):
        return knn_loo_values(train_x, train_y, val_x, val_y, num_classes=num_classes, k=k,
                              metric=metric, train_mask=train_mask)

    return Valuation(values=values)


def banzhaf(*, k: int, metric: str, method: str = "exact", num_samples: int = 2000) -> Valuation:
    """``banzhaf``: KNN Data Banzhaf of the ``jia`` utility.

    ``method="exact"`` (closed form, :func:`knn_banzhaf_values`) or ``"msr"``
    (Maximum Sample Reuse with ``num_samples`` subsets, :func:`knn_banzhaf_msr`;
    its standard errors come from calling that function directly).
    """
    V.check_choice("valuation.options.method", method, ("exact", "msr"))
    V.check_int("valuation.options.num_samples", num_samples, minimum=2)

    def values(train_x, train_y, val_x, val_y, *, num_classes, train_mask=None, mesh=None,
               key=None):
        if method == "exact":
            return knn_banzhaf_values(train_x, train_y, val_x, val_y, num_classes=num_classes,
                                      k=k, metric=metric, train_mask=train_mask)
        v, _ = knn_banzhaf_msr(key, train_x, train_y, val_x, val_y, num_classes=num_classes,
                               k=k, num_samples=num_samples, metric=metric,
                               train_mask=train_mask)
        return jnp.nan_to_num(v)  # a player never sampled: NaN -> 0

    return Valuation(values=values)


def random(*, k: int, metric: str) -> Valuation:
    """``random``: i.i.d. uniform values (the control; no validation set needed)."""
    def values(train_x, train_y, val_x, val_y, *, num_classes, train_mask=None, mesh=None,
               key=None):
        return random_values(key, int(train_x.shape[0]), train_mask=train_mask)

    return Valuation(values=values, needs_validation=False)


register_valuation("loo", loo)
register_valuation("banzhaf", banzhaf)
register_valuation("random", random)
