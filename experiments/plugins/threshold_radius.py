"""``threshold_radius``: threshold KNN-Shapley with a radius set from the data, every call.

The built-in ``threshold`` valuation (Wang & Jia's threshold KNN) needs an
absolute radius ``acquisition.valuation.options.tau`` in the units of the
metric. The embeddings of a model retrained every round change scale from
round to round, so one fixed ``tau`` means a different neighbourhood size in
every round. This plugin picks ``tau`` inside the (traceable) valuation call:

    tau = quantile_q( distance of each validation point to its K-th nearest
                      labeled point ),   K = acquisition.valuation.k

-- with the default ``q = 0.5`` the ball of a typical validation point holds
about K labeled points, the neighbourhood size of ``jia`` with the same K.
The values are then the exact threshold-KNN-Shapley values with that ``tau``
(the engine's closed form, :func:`ads_jax.valuation.knn_shapley_unchecked`).

Use: import this module to register it (``import
experiments.plugins.threshold_radius``; ``ads-jax run --import
experiments.plugins.threshold_radius ...``; ``Sweep(imports=[...])``), then
``acquisition.valuation.name=threshold_radius`` (optional
``acquisition.valuation.options.quantile=0.5``). A built-in ``tau_quantile``
option of ``threshold`` would make the plugin unnecessary.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from ads_jax import _validation as V
from ads_jax.distances import pairwise_distances
from ads_jax.valuation import VALUATIONS, Valuation, register_valuation
from ads_jax.valuation.knn_shapley import knn_shapley_unchecked

NAME = "threshold_radius"


@dataclasses.dataclass(frozen=True)
class ThresholdRadiusOptions:
    """Options of ``threshold_radius``.

    Attributes:
      quantile: quantile over the validation points of their distance to the
        K-th nearest labeled point, in [0, 1].
    """

    quantile: float = 0.5

    def __post_init__(self):
        V.check_number("valuation.options.quantile", self.quantile, lo=0, hi=1)


def radius(train_x, val_x, *, k: int, metric: str, quantile: float, train_mask=None):
    """``tau``: the ``quantile`` of the validation points' K-th-nearest labeled distance.

    ``train_mask`` (optional (N,) bool): False rows are padding, not labeled
    points (a fixed-capacity labeled buffer); they are never neighbours.
    """
    d = pairwise_distances(val_x, train_x, metric=metric)  # (M, N)
    n = d.shape[1]
    if train_mask is None:
        n_valid = n
    else:
        d = jnp.where(jnp.asarray(train_mask, bool)[None, :], d, jnp.inf)
        n_valid = jnp.sum(jnp.asarray(train_mask, jnp.int32))
    idx = jnp.clip(jnp.minimum(k, n_valid) - 1, 0, n - 1)
    kth = jnp.sort(d, axis=1)[:, idx]
    return jnp.quantile(kth, quantile)


def threshold_radius(*, k: int, metric: str, quantile: float = 0.5) -> Valuation:
    """The valuation factory: ``k`` and ``metric`` from ``acquisition.valuation``,
    ``quantile`` its option (:class:`ThresholdRadiusOptions`).

    Returns a :class:`~ads_jax.valuation.Valuation` whose ``values(train_x (N, d),
    train_y (N,), val_x (M, d), val_y (M,), *, num_classes, train_mask=None,
    mesh=None, key=None) -> (N,) float`` is traceable (the radius is computed
    inside the call, from the labeled points that ``train_mask`` keeps).
    """
    options = ThresholdRadiusOptions(quantile=quantile)

    def values(train_x, train_y, val_x, val_y, *, num_classes, train_mask=None, mesh=None,
               key=None):
        del key  # deterministic
        tau = radius(train_x, val_x, k=k, metric=metric, quantile=options.quantile,
                     train_mask=train_mask)
        return knn_shapley_unchecked(train_x, train_y, val_x, val_y, num_classes=num_classes,
                                     k=k, recursion=None, tau=tau, metric=metric, mesh=mesh,
                                     train_mask=train_mask)

    return Valuation(values=values, options=options)


if NAME not in VALUATIONS.names():  # importing twice (file path and module) is harmless
    register_valuation(NAME, threshold_radius, options=ThresholdRadiusOptions)
