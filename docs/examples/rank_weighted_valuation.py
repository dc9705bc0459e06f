"""A new KNN-Shapley variant in one file: rank-weighted KNN-Shapley.

The utility of a subset S for one validation point weighs the j-th nearest
member of S by ``j ** -power`` (nearer neighbours count more; ``power=0`` is
Jia et al.'s uniform KNN)::

    U(S) = (1 / Z) sum_{j <= min(K, |S|)} j**-power * a_{alpha_j(S)},
    Z = sum_{j <= min(K, N)} j**-power,        U(empty) = 0.

Exact Shapley values by the swap argument (alpha_i and alpha_{i+1} trade
places in every coalition; in a uniformly random order alpha_i has m of the
i-1 nearer points before it with probability 1/i for each m = 0..i-1)::

    s_N = a_N / N * W(min(N, K)) / Z
    s_i = s_{i+1} + (a_i - a_{i+1}) * W(min(i, K)) / (i Z),   W(m) = sum_{j<=m} j**-power

so it is a linear recursion and runs on the exact engine (parallel and
``lax.scan`` paths, chunked, sharded). Register it and use it anywhere::

    ads-jax run tiny --import docs/examples/rank_weighted_valuation.py \\
        acquisition.valuation.name=rank_weighted acquisition.valuation.options.power=1

The ``utility`` given at registration is the game from its definition; the
brute-force test (``ads_jax.valuation.testing.brute_force_values``) checks
the recursion against it by enumerating every subset.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np

from ads_jax.valuation import Recursion, knn_variant, linear_step, register_valuation


@dataclasses.dataclass(frozen=True)
class RankWeightedOptions:
    """power: the j-th nearest neighbour weighs j**-power (>= 0)."""

    power: float = 1.0

    def __post_init__(self):
        if not self.power >= 0:
            raise ValueError(f"`valuation.options.power` must be >= 0, got {self.power}.")


def _cum_weights(n, power, dtype):
    """(n,) W(1..n) = cumulative sums of j**-power."""
    j = jnp.arange(1, n + 1, dtype=dtype)
    return jnp.cumsum(j ** (-jnp.asarray(power, dtype)))


def _z(w, ctx):
    return w[jnp.minimum(ctx.k, ctx.n) - 1]


# ctx.n (the number of players) may be traced (fixed-shape acquisition with a
# padded labeled buffer): shapes use the static ctx.length, the farthest real
# point is ctx.last(a).
def _base(a, ctx):
    w = _cum_weights(ctx.length, ctx.options.power, a.dtype)
    n = jnp.asarray(ctx.n, a.dtype)
    return ctx.last(a) / n * w[jnp.minimum(ctx.n, ctx.k) - 1] / _z(w, ctx)


def _coef(i, ctx):
    w = _cum_weights(ctx.length, ctx.options.power, i.dtype)
    m = jnp.minimum(i.astype(jnp.int32), ctx.k)
    return w[m - 1] / (i * _z(w, ctx))


RANK_WEIGHTED = Recursion("rank_weighted", _base, linear_step(_coef), _coef)


def rank_weighted_utility(member, match, dist, *, k, num_classes, options):
    """The game from its definition (NumPy, for the brute-force test)."""
    n = member.shape[1]
    rank = np.cumsum(member, axis=1)  # 1-based rank of each member within its subset
    top = member & (rank <= k)
    z = np.sum(np.arange(1, min(k, n) + 1, dtype=np.float64) ** -options.power)
    return (top * match * np.where(top, rank, 1.0) ** -options.power).sum(1) / z


# knn_variant turns the recursion into a valuation factory (its options: `power`)
# running on the exact engine; the registration makes it a config name.
register_valuation("rank_weighted", knn_variant(RANK_WEIGHTED, options=RankWeightedOptions),
                   utility=rank_weighted_utility,
                   example_options=lambda dist: [{"power": 1.0}, {"power": 0.0}, {"power": 2.5}])
