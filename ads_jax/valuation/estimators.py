"""The value-estimator registry: values of the labeled points -> values of the pool.

Stage 2 of ADS extrapolates the exact values of the labeled points to every
unlabeled pool point. The paper's rule -- one KNN regressor per class, the
model's top-T classes, aggregated (:mod:`ads_jax.valuation.regression`) -- is
the default estimator ``"knn_regression"``; a researcher plugs in another
(a kernel regressor, a learned head) by registering it::

    from ads_jax.valuation import register_estimator

    @dataclasses.dataclass(frozen=True)
    class KernelOptions:
        bandwidth: float = 1.0

    register_estimator("kernel", kernel_estimator, options=KernelOptions)

and naming it in the config (``acquisition.estimator.name=kernel
acquisition.estimator.options.bandwidth=0.5``). Every estimator has one
signature::

    fn(train_emb, train_y, train_values, query_emb, query_probs, *,
       num_classes, options, mesh, max_class_count, train_mask) -> (Q,) float

* ``train_emb`` (L, d) float, ``train_y`` (L,) int32, ``train_values`` (L,)
  float: the labeled points and their exact values;
* ``query_emb`` (Q, d) float, ``query_probs`` (Q, C) float: the pool
  points and the model's class probabilities;
* ``num_classes`` C; ``options`` the typed options object; ``mesh`` an
  optional device mesh; ``max_class_count`` a static bound on the labeled
  points of one class (or None), for estimators with a per-class layout;
  ``train_mask`` None or an (L,) bool array whose False rows are padding of
  a fixed-capacity labeled buffer (the fixed-shape acquisition program):
  they must not influence the result.

Inputs arrive validated (by ``acquire``); the function must be traceable to
run inside the fused acquisition program.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from ads_jax import _validation as V
from ads_jax.distances import METRICS
from ads_jax.registry import ComponentConfig, Registry
from ads_jax.valuation.regression import AGGREGATES, METHODS, WEIGHTS, predict_values_unchecked

__all__ = [
    "ESTIMATORS",
    "EstimatorConfig",
    "KNNRegressionOptions",
    "register_estimator",
    "available_estimators",
    "run_estimator",
]

ESTIMATORS = Registry(
    "value estimator",
    "Register one with ads_jax.valuation.register_estimator(name, fn, options=...).")


def register_estimator(name: str, fn: Callable | None = None, *, options: type | None = None,
                       overwrite: bool = False):
    """Register a value estimator (see the module docstring for its signature).

    Usable as ``register_estimator("name", fn)`` or as a decorator
    ``@register_estimator("name", options=...)``.
    """
    def _register(f: Callable) -> Callable:
        if not callable(f):
            raise TypeError(f"estimator `fn` must be callable, got {type(f).__name__}.")
        ESTIMATORS.register(name, f, options=options, overwrite=overwrite)
        return f

    return _register if fn is None else _register(fn)


def available_estimators() -> tuple[str, ...]:
    """Names of every registered value estimator."""
    return ESTIMATORS.names()


@dataclasses.dataclass(frozen=True)
class EstimatorConfig(ComponentConfig):
    """Stage 2, the value estimator (``acquisition.estimator``).

    Attributes:
      name: a registered estimator (:func:`available_estimators`); default
        ``"knn_regression"``, the paper's per-class KNN regression.
      options: the estimator's options as a JSON object, checked against its
        registered schema (for ``knn_regression``: :class:`KNNRegressionOptions`).
    """

    name: str = "knn_regression"
    options: dict = dataclasses.field(default_factory=dict)

    _registry = ESTIMATORS
    _section = "estimator"
    __hash__ = ComponentConfig.__hash__

    def __post_init__(self):
        self._check_component()


def run_estimator(config: EstimatorConfig, train_emb, train_y, train_values, query_emb,
                  query_probs, *, num_classes: int, mesh=None, max_class_count=None,
                  train_mask=None):
    """Stage 2: predicted values (Q,) of the query points under ``config`` (see module doc)."""
    entry = ESTIMATORS.get(config.name)
    return entry.fn(train_emb, train_y, train_values, query_emb, query_probs,
                    num_classes=num_classes, options=config.typed_options(), mesh=mesh,
                    max_class_count=max_class_count, train_mask=train_mask)


# ---------------------------------------------------------------------------
# The default: the paper's per-class KNN regression.
# ---------------------------------------------------------------------------


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


def knn_regression(train_emb, train_y, train_values, query_emb, query_probs, *, num_classes,
                   options: KNNRegressionOptions, mesh=None, max_class_count=None,
                   train_mask=None):
    """The paper's per-class KNN value regression (see :mod:`.regression`). -> (Q,) float."""
    return predict_values_unchecked(
        train_emb, train_y, train_values, query_emb, query_probs, num_classes=num_classes,
        k=options.k, top_t=options.top_t, aggregate=options.aggregate, weights=options.weights,
        metric=options.metric, chunk_size=options.chunk_size, max_class_count=max_class_count,
        method=options.method, mesh=mesh, train_mask=train_mask)


register_estimator("knn_regression", knn_regression, options=KNNRegressionOptions)
