r"""KNN-Shapley recursions for ONE validation point, over sorted training points.

This module is the math. Everything here is traceable, works on 1-D arrays for
a single validation point, and is ``vmap``-ed over validation points by
:func:`ads_jax.valuation.knn_shapley`.

Notation
--------
One validation point ``(x, y)``. The ``N`` training points are sorted by
distance to ``x``, nearest first, ties broken by the lower training index:
``alpha_1, ..., alpha_N``. ``a_i = 1[y_{alpha_i} = y]`` is the match indicator
(a float array in sorted order) and ``s_i`` the Shapley value of ``alpha_i``.
Ranks ``i`` are 1-based.

Every sort-based variant here satisfies a *linear* recursion from the farthest
point to the nearest::

    s_N = base(a)
    s_i = s_{i+1} + (a_i - a_{i+1}) * c_i        i = N-1, ..., 1

so ``s_i = s_N + sum_{j=i}^{N-1} (a_j - a_{j+1}) c_j`` is a reverse cumulative
sum: :func:`parallel_sorted` computes it in O(log N) depth, :func:`scan_sorted`
runs the literal recursion as a ``lax.scan`` (and accepts any, also non-linear,
``step``).

Variants (utilities ``U`` of a subset ``S`` of training points; ``alpha_j(S)`` is
the j-th nearest member of ``S``):

* ``jia`` -- Jia et al. 2019: ``U(S) = (1/K) sum_{j<=min(K,|S|)} a_{alpha_j(S)}``,
  ``U(empty) = 0``. ``c_i = min(K, i) / (K i)``, ``s_N = a_N / max(N, K)``. The
  published base case ``a_N / N`` is wrong when ``K > N`` (then every point is
  always among the K nearest and ``s_i = a_i / K``).
* ``soft`` -- soft-label KNN-Shapley, Wang & Jia 2023 (arXiv:2304.04258):
  ``U(S) = (1/min(K,|S|)) sum_{j<=min(K,|S|)} a_{alpha_j(S)}``, ``U(empty) = 1/C``.
  Derived here (exact for every ``K >= 1`` and ``N >= 1``; ``H_m`` is the m-th
  harmonic number, ``H_0 = 0``)::

      s_N = ( a_N - 1/C + (H_{min(K,N)} - 1) (a_N - mean_{j<N} a_j) ) / N
      c_i = H_{min(K,N-1)} / (N-1) + ( min(K,i)/i - min(K,N-1)/(N-1) ) / K

  (Derivation: ``alpha_i`` and ``alpha_{i+1}`` swap places in every coalition
  they enter; the marginal difference is ``(a_i - a_{i+1}) / min(K, |S|+1)``
  when fewer than ``K`` members of ``S`` are nearer, else 0. Summing the
  Shapley weights gives the ``H`` term for ``|S| < K`` and Jia's
  ``min(K,i)/i`` count for ``|S| >= K``.) The reference code of the note uses
  ``H_{min(K,N)}`` in ``c_i``, which differs when ``N <= K - 1``; the brute-force
  tests confirm the form above.
* ``threshold`` -- Threshold KNN-Shapley, Wang, Zhu, Wang, Jia & Mittal 2023
  (arXiv:2308.15709): no sort, see :func:`threshold_values`.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = [
    "RecursionContext",
    "Recursion",
    "linear_step",
    "JIA",
    "SOFT",
    "parallel_sorted",
    "scan_sorted",
    "threshold_values",
    "harmonic_table",
]


class RecursionContext(NamedTuple):
    """What a recursion may use besides the sorted match indicators.

    Attributes:
      n: number of training points ``N``: a static Python int, or -- when the
        training set is a fixed-capacity buffer with masked-out rows (the
        fixed-shape acquisition program) -- a traced int32 scalar. Then the
        sorted indicators ``a`` have ``size >= N`` entries, the real points
        first and zeros after them. Write recursions that work either way:
        index the farthest real point as ``ctx.last(a)`` (not ``a[-1]``), use
        ``ctx.size`` for shapes and ``jnp.where`` instead of ``if`` on ``n``.
      k: ``K``, int32 scalar (traced: one compiled program serves every K).
      num_classes: ``C``, int32 scalar (traced).
      harmonic: (size+1,) float table, ``harmonic[m] = H_m = sum_{j<=m} 1/j``.
      options: the variant's typed options (a frozen dataclass registered with
        :func:`ads_jax.valuation.register_valuation`; static), or None.
      size: static length of ``a`` (``None``: equal to ``n``).
    """

    n: Any
    k: Any
    num_classes: Any
    harmonic: Any
    options: Any = None
    size: int | None = None

    @property
    def length(self) -> int:
        """Static length of the sorted arrays (``size``, else ``n``)."""
        return int(self.n) if self.size is None else int(self.size)

    def last(self, a: jax.Array) -> jax.Array:
        """``a`` at the farthest real point (rank N): ``a[N - 1]``."""
        if self.size is None:
            return a[-1]
        return a[jnp.asarray(self.n, jnp.int32) - 1]


class Recursion(NamedTuple):
    """A KNN-Shapley recursion over training points sorted nearest-first.

    Attributes:
      name: label used in reprs and error messages.
      base: ``base(a, ctx) -> s_N``; ``a`` is the (N,) float array of sorted
        match indicators, returns a scalar of ``a.dtype``.
      step: ``step(s_next, a_i, a_next, i, ctx) -> s_i`` for the literal
        ``lax.scan`` path (farthest to nearest). ``i`` is the 1-based rank as a
        float scalar of ``a.dtype``. May be non-linear.
      coef: optional ``coef(i, ctx) -> c_i`` for recursions of the linear form
        ``s_i = s_{i+1} + (a_i - a_{i+1}) c_i``; ``i`` is a (N-1,) float array
        of ranks 1..N-1. Required by the parallel path.

    Pass an instance as ``variant=`` to :func:`ads_jax.valuation.knn_shapley`
    to value data under your own recursion.
    """

    name: str
    base: Callable[..., jax.Array]
    step: Callable[..., jax.Array]
    coef: Callable[..., jax.Array] | None = None


def linear_step(coef: Callable[..., jax.Array]) -> Callable[..., jax.Array]:
    """The scan step ``s_i = s_{i+1} + (a_i - a_{i+1}) * coef(i, ctx)``."""

    def step(s_next, a_i, a_next, i, ctx):
        return s_next + (a_i - a_next) * coef(i, ctx)

    return step


# --------------------------------------------------------------------------- jia
def _jia_base(a: jax.Array, ctx: RecursionContext) -> jax.Array:
    # a_N / max(N, K): exact for every K (Jia et al.'s a_N / N only for K <= N).
    return ctx.last(a) / jnp.asarray(jnp.maximum(ctx.n, ctx.k), a.dtype)


def _jia_coef(i: jax.Array, ctx: RecursionContext) -> jax.Array:
    k = jnp.asarray(ctx.k, i.dtype)
    return jnp.minimum(k, i) / (k * i)


JIA = Recursion("jia", _jia_base, linear_step(_jia_coef), _jia_coef)


# -------------------------------------------------------------------------- soft
def _soft_base(a: jax.Array, ctx: RecursionContext) -> jax.Array:
    n = ctx.n
    a_n = ctx.last(a)
    inv_c = 1.0 / jnp.asarray(ctx.num_classes, a.dtype)
    if isinstance(n, int) and n == 1:
        return a_n - inv_c
    nf = jnp.asarray(n, a.dtype)
    mean_rest = (jnp.sum(a) - a_n) / jnp.maximum(nf - 1.0, 1.0)  # a is 0 past N
    h = jnp.asarray(ctx.harmonic, a.dtype)[jnp.minimum(ctx.k, n)]
    s = (a_n - inv_c + (h - 1.0) * (a_n - mean_rest)) / nf
    return s if isinstance(n, int) else jnp.where(n == 1, a_n - inv_c, s)


def _soft_coef(i: jax.Array, ctx: RecursionContext) -> jax.Array:
    n = ctx.n
    k = jnp.asarray(ctx.k, i.dtype)
    m = jnp.minimum(ctx.k, n - 1)  # coalitions without alpha_i, alpha_{i+1} have <= N-2 members
    h = jnp.asarray(ctx.harmonic, i.dtype)[m]
    n1 = jnp.maximum(jnp.asarray(n - 1, i.dtype), 1.0)  # (unused when N = 1)
    return h / n1 + (jnp.minimum(k, i) / i - jnp.asarray(m, i.dtype) / n1) / k


SOFT = Recursion("soft", _soft_base, linear_step(_soft_coef), _soft_coef)


# ------------------------------------------------------------------------- paths
def parallel_sorted(a: jax.Array, recursion: Recursion, ctx: RecursionContext) -> jax.Array:
    """Values in sorted order via a reverse cumulative sum (parallel scan).

    Args:
      a: (size,) float match indicators in sorted order (nearest first), the
        N = ``ctx.n`` real points first.
      recursion: a :class:`Recursion` with ``coef``.
      ctx: :class:`RecursionContext`.

    Returns:
      (size,) ``s`` in sorted order, dtype of ``a`` (zeros past N).
    """
    if recursion.coef is None:
        raise ValueError(
            f"Recursion {recursion.name!r} has no `coef`, so it has no parallel form; "
            "use method='scan'."
        )
    s_n = jnp.asarray(recursion.base(a, ctx), a.dtype)
    size = ctx.length
    if size == 1:
        return s_n[None]
    i = jnp.arange(1, size, dtype=a.dtype)
    coef = jnp.pad(recursion.coef(i, ctx).astype(a.dtype), (0, 1))  # c_N := 0
    a_next = jnp.pad(a[1:], (0, 1))
    inc = (a - a_next) * coef  # (a_i - a_{i+1}) c_i, then s_N
    if ctx.size is None:
        inc = inc.at[-1].set(s_n)
    else:  # N real points of `size`: increments below N, s_N at N, zeros past it
        pos = jnp.arange(size)
        n = jnp.asarray(ctx.n, jnp.int32)
        inc = jnp.where(pos < n - 1, inc, jnp.zeros((), a.dtype))
        inc = jnp.where(pos == n - 1, s_n, inc)
    return lax.cumsum(inc, axis=0, reverse=True)


def scan_sorted(a: jax.Array, recursion: Recursion, ctx: RecursionContext) -> jax.Array:
    """Values in sorted order via the literal recursion, farthest to nearest.

    Args:
      a: (size,) float match indicators in sorted order (nearest first), the
        N = ``ctx.n`` real points first.
      recursion: any :class:`Recursion` (``step`` may be non-linear).
      ctx: :class:`RecursionContext`.

    Returns:
      (size,) ``s`` in sorted order, dtype of ``a`` (entries past N are
      meaningless; callers mask them).
    """
    s_n = jnp.asarray(recursion.base(a, ctx), a.dtype)
    size = ctx.length
    if size == 1:
        return s_n[None]
    ranks = jnp.arange(1, size, dtype=a.dtype)

    def body(s_next, xs):
        a_i, a_next, i = xs
        s_i = jnp.asarray(recursion.step(s_next, a_i, a_next, i, ctx), a.dtype)
        if ctx.size is not None:  # ranks >= N: not yet reached the real points
            s_i = jnp.where(i < jnp.asarray(ctx.n, a.dtype), s_i, s_next)
        return s_i, s_i

    _, s = lax.scan(body, s_n, (a[:-1], a[1:], ranks), reverse=True)
    return jnp.concatenate([s, s_n[None]])


# --------------------------------------------------------------------- threshold
def threshold_values(
    in_ball: jax.Array,
    a: jax.Array,
    count: jax.Array,
    matches: jax.Array,
    num_classes: Any,
    harmonic: jax.Array,
) -> jax.Array:
    r"""Threshold KNN-Shapley values for one validation point (closed form).

    Utility (Wang et al. 2023, TKNN): the neighbourhood of the validation point
    in ``S`` is ``B(S) = {j in S : d(x_j, x) <= tau}``;
    ``U(S) = 1/C`` if ``B(S)`` is empty (so ``U(empty) = 1/C``), else the fraction
    of ``B(S)`` whose label matches. Points outside the ball are null players
    (value 0); for a point inside, with ``n = |B(D)|`` and ``A`` matches in
    ``B(D)``::

        s_i = ( a_i - 1/C + (H_n - 1) (a_i - (A - a_i)/(n - 1)) ) / n

    (the ``(H_n - 1)`` term vanishes for ``n = 1``). No sort is needed.

    The ball is closed (``<= tau``). The authors' reference code uses ``< tau``
    for TKNN-Shapley and ``<= tau`` for its private variant; the two differ only
    for points exactly at distance ``tau``. The empty-ball convention
    ``U = 1/C`` (a uniform random guess) is theirs.

    Args:
      in_ball: (N,) bool, ``d(x_j, x) <= tau``.
      a: (N,) float match indicators (any order).
      count: scalar int, ``n = sum(in_ball)`` (over ALL training points, also
        when they are sharded).
      matches: scalar int, ``A = sum(in_ball & a)``.
      num_classes: ``C`` scalar.
      harmonic: (N+1,) float harmonic-number table.

    Returns:
      (N,) values, dtype of ``a``.
    """
    dt = a.dtype
    n = count.astype(dt)
    h = jnp.asarray(harmonic, dt)[count]
    inv_c = 1.0 / jnp.asarray(num_classes, dt)
    rest_mean = (matches.astype(dt) - a) / jnp.maximum(n - 1.0, 1.0)
    s = (a - inv_c + (h - 1.0) * (a - rest_mean)) / jnp.maximum(n, 1.0)
    return jnp.where(in_ball, s, jnp.zeros((), dt))


def harmonic_table(n: int, dtype: Any) -> np.ndarray:
    """(n+1,) NumPy table of harmonic numbers ``H_0 = 0, ..., H_n`` (float64 sums)."""
    h = np.zeros(n + 1, np.float64)
    if n:
        h[1:] = np.cumsum(1.0 / np.arange(1, n + 1, dtype=np.float64))
    return h.astype(dtype)
