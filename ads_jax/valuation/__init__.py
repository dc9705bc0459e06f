"""Exact KNN-Shapley data valuation.

>>> from ads_jax.valuation import knn_shapley, VARIANTS
>>> values = knn_shapley(train_x, train_y, val_x, val_y, num_classes=10, k=5)

* :func:`knn_shapley` -- public entry point (variants ``"jia"``, ``"soft"``,
  ``"threshold"``, or your own :class:`Recursion`).
* :mod:`ads_jax.valuation.recursions` -- the per-validation-point math
  (recursions, their parallel and ``lax.scan`` forms, threshold closed form).
* :mod:`ads_jax.valuation.sorting` -- stable argsort + ranks, per backend.
"""

from ads_jax.valuation.knn_shapley import METHODS, TRAIN_AXIS, VARIANTS, knn_shapley
from ads_jax.valuation.recursions import (
    JIA,
    RECURSIONS,
    SOFT,
    Recursion,
    RecursionContext,
    linear_step,
)

__all__ = [
    "knn_shapley",
    "VARIANTS",
    "METHODS",
    "TRAIN_AXIS",
    "Recursion",
    "RecursionContext",
    "linear_step",
    "JIA",
    "SOFT",
    "RECURSIONS",
]
