"""The paper's value estimator: per-class KNN regression (``knn_regression``).

Stage 2 of ADS extrapolates the exact values of the labeled points to every
unlabeled pool point. The paper's rule -- one KNN regressor per class, the
model's top-T classes, aggregated (:mod:`ads_jax.valuation.regression`) -- is
the default estimator ``"knn_regression"``, registered here as a factory
(:func:`knn_regression`) whose keyword options are those of the config
(``acquisition.estimator.options.k=5``). Another estimator (a kernel
regressor, the exact joining value of :mod:`~ads_jax.valuation.insertion`,
yours) is one factory registered with
:func:`~ads_jax.valuation.register_estimator`; its component receives an
:class:`~ads_jax.valuation.registry.EstimateInputs`.
"""

from __future__ import annotations

from ads_jax.valuation.regression import KNNRegressionOptions, predict_values_unchecked
from ads_jax.valuation.registry import EstimateInputs, Estimator, register_estimator

__all__ = ["KNNRegressionOptions", "knn_regression"]

def knn_regression(**options) -> Estimator:
    """The paper's per-class KNN value regression (see :mod:`.regression`).

    Options: the fields of :class:`KNNRegressionOptions`. The component's
    ``estimate`` -> (U,) float; it bounds its per-class layout by
    ``x.class_capacity`` (static).
    """
    o = KNNRegressionOptions(**options)

    def estimate(x: EstimateInputs, *, valuation=None, mesh=None):
        return predict_values_unchecked(
            x.labeled_emb, x.labeled_y, x.labeled_values, x.pool_emb, x.pool_probs,
            num_classes=x.num_classes, k=o.k, top_t=o.top_t, aggregate=o.aggregate,
            weights=o.weights, metric=o.metric, chunk_size=o.chunk_size,
            max_class_count=x.class_capacity, method=o.method, mesh=mesh,
            train_mask=x.labeled_mask)

    return Estimator(estimate=estimate)


register_estimator("knn_regression", knn_regression, options=KNNRegressionOptions)
