"""Data valuation (stage 1) and value estimation (stage 2) of ADS.

>>> from ads_jax.valuation import knn_shapley, available_valuations
>>> values = knn_shapley(train_x, train_y, val_x, val_y, num_classes=10, k=5)

* :func:`knn_shapley` -- exact KNN-Shapley (variants ``"jia"``, ``"soft"``,
  ``"threshold"``, any registered one, or your own :class:`Recursion`).
* :mod:`ads_jax.valuation.registry` -- the valuation registry
  (:func:`register_valuation`), the stage-1 config :class:`ValuationConfig`.
* :mod:`ads_jax.valuation.estimators` -- the value-estimator registry
  (:func:`register_estimator`), the stage-2 config :class:`EstimatorConfig`;
  the default is the per-class KNN regression of
  :mod:`ads_jax.valuation.regression` (:func:`predict_values`).
* :mod:`ads_jax.valuation.recursions` -- the per-validation-point math.
* :mod:`ads_jax.valuation.sorting` -- stable argsort + ranks, per backend.
* :mod:`ads_jax.valuation.testing` -- brute-force Shapley values of a
  registered variant's game, for tests.
"""

# The registries and configs first (the bottom of this package), then every
# module that registers a rule, so that importing ads_jax.valuation registers them all.
from ads_jax.valuation.registry import (
    ESTIMATORS,
    VALUATIONS,
    EstimateInputs,
    Estimator,
    EstimatorConfig,
    Valuation,
    ValuationConfig,
    available_estimators,
    available_valuations,
    build_estimator,
    build_valuation,
    register_estimator,
    register_valuation,
)
from ads_jax.valuation.knn_shapley import METHODS, TRAIN_AXIS, knn_shapley, knn_variant, knn_variants
from ads_jax.valuation.variants import BUILTIN_VALUATIONS, ThresholdOptions
from ads_jax.valuation.baselines import (knn_banzhaf_msr, knn_banzhaf_values, knn_loo_values,
                                        msr_banzhaf, random_values)
from ads_jax.valuation.insertion import insertion_estimate, joining_values
from ads_jax.valuation.data_oob import data_oob_values
from ads_jax.valuation.estimators import KNNRegressionOptions
from ads_jax.valuation.recursions import (
    JIA,
    SOFT,
    Recursion,
    RecursionContext,
    linear_step,
)
from ads_jax.valuation.regression import predict_values
from ads_jax.valuation.tmc import TMCResult, tmc_logistic_values, tmc_shapley

__all__ = [
    "knn_shapley",
    "knn_variant",
    "knn_loo_values",
    "knn_banzhaf_values",
    "knn_banzhaf_msr",
    "msr_banzhaf",
    "random_values",
    "joining_values",
    "insertion_estimate",
    "data_oob_values",
    "knn_variants",
    "tmc_shapley",
    "TMCResult",
    "tmc_logistic_values",
    "METHODS",
    "TRAIN_AXIS",
    "Recursion",
    "RecursionContext",
    "linear_step",
    "JIA",
    "SOFT",
    "VALUATIONS",
    "BUILTIN_VALUATIONS",
    "Valuation",
    "ValuationConfig",
    "ThresholdOptions",
    "register_valuation",
    "available_valuations",
    "build_valuation",
    "ESTIMATORS",
    "Estimator",
    "EstimateInputs",
    "EstimatorConfig",
    "KNNRegressionOptions",
    "register_estimator",
    "available_estimators",
    "build_estimator",
    "predict_values",
]
