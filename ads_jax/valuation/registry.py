"""The valuation and value-estimator registries: stages 1 and 2 of ADS, by name.

Stage 1 values the labeled points, stage 2 extrapolates those values to the
unlabeled pool. Which rule does each is a name in the config
(``acquisition.valuation.name``, ``acquisition.estimator.name``), looked up
in :data:`VALUATIONS` / :data:`ESTIMATORS` (the shape every pluggable stage
shares: :mod:`ads_jax.registry`). This module is the bottom of
:mod:`ads_jax.valuation`: it defines the tables, the configs and the component
types and imports no rule; each rule's module registers itself
(:mod:`~ads_jax.valuation.knn_shapley`: ``jia``, ``soft``, ``threshold``;
:mod:`~ads_jax.valuation.baselines`; :mod:`~ads_jax.valuation.estimators`).

A valuation factory takes the config's ``k`` and ``metric`` plus its own
options and returns a :class:`Valuation`; an estimator factory takes its
options and returns an :class:`Estimator`::

    def my_valuation(*, k, metric, temperature: float = 1.0) -> Valuation:
        def values(train_x, train_y, val_x, val_y, *, num_classes, train_mask, mesh, key):
            ...                                         # (N,) float, jittable
        return Valuation(values=values)

    register_valuation("mine", my_valuation)            # then acquisition.valuation.name=mine
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

from ads_jax import _validation as V
from ads_jax.config_engine import FrozenMap
from ads_jax.distances import METRICS
from ads_jax.registry import Registry

__all__ = [
    "VALUATIONS",
    "ESTIMATORS",
    "Valuation",
    "Estimator",
    "EstimateInputs",
    "ValuationConfig",
    "EstimatorConfig",
    "register_valuation",
    "register_estimator",
    "available_valuations",
    "available_estimators",
    "build_valuation",
    "build_estimator",
]

VALUATIONS = Registry(
    "valuation",
    "Register one with ads_jax.valuation.register_valuation(name, factory).",
    context=("k", "metric"))
ESTIMATORS = Registry(
    "value estimator",
    "Register one with ads_jax.valuation.register_estimator(name, factory).")


class Valuation(NamedTuple):
    """A built valuation rule (stage 1).

    Attributes:
      values: ``values(train_x (N, d) float, train_y (N,) int32, val_x (M, d)
        float, val_y (M,) int32, *, num_classes, train_mask, mesh, key) -> (N,)
        float``: the value of every labeled point. ``train_mask`` is None or an
        (N,) bool array whose False rows are padding of a fixed-capacity buffer
        (absent players: value 0, no influence on the others); ``key`` a PRNG
        key for randomised rules (deterministic rules ignore it). Inputs arrive
        validated; must be traceable when ``traceable``.
      joining_values: optional ``joining_values(train_x, train_y, val_x, val_y,
        query_x (Q, d), *, num_classes, train_mask, mesh) -> (Q, C)``: the value
        a query point would have under this rule if it joined the labeled set
        with each class (used by the ``insertion`` estimator); None where no
        closed form exists.
      traceable: ``values`` runs inside ``jax.jit`` (the acquisition program).
      needs_validation: reads the validation set (``random`` does not).
      recursion: for KNN-Shapley variants, the :class:`Recursion` (None for the
        threshold closed form and for other rules); lets
        :func:`~ads_jax.valuation.knn_shapley` run a variant by name.
      options: the typed options object of the rule (or None).
    """

    values: Callable[..., Any]
    joining_values: Callable[..., Any] | None = None
    traceable: bool = True
    needs_validation: bool = True
    recursion: Any = None
    options: Any = None


class EstimateInputs(NamedTuple):
    """What a value estimator sees (inside the acquisition program).

    Attributes:
      labeled_emb: (L, d) float embeddings of the labeled points.
      labeled_y: (L,) int32 labels.
      labeled_values: (L,) float values of the labeled points (stage 1).
      labeled_mask: (L,) bool, False at padding rows of the labeled buffer.
      pool_emb: (U, d) float embeddings of the pool; pool_probs (U, C) float.
      val_emb: (M, d) float validation embeddings (or None); val_y (M,) int32.
      num_classes: C (static).
      class_capacity: static upper bound on the labeled points of one class
        (for per-class layouts), or None = L.
    """

    labeled_emb: Any
    labeled_y: Any
    labeled_values: Any
    labeled_mask: Any
    pool_emb: Any
    pool_probs: Any
    val_emb: Any
    val_y: Any
    num_classes: int
    class_capacity: int | None = None


class Estimator(NamedTuple):
    """A built value estimator (stage 2).

    Attributes:
      estimate: ``estimate(x: EstimateInputs, *, valuation: Valuation, mesh)
        -> (U,) float``, the predicted value of every pool row (padding rows
        may hold anything; the caller masks them). Traceable.
      needs_joining: reads ``valuation.joining_values`` (the config check
        refuses a valuation without one).
    """

    estimate: Callable[..., Any]
    needs_joining: bool = False


def register_valuation(name: str, factory: Callable[..., Valuation], *,
                       options: type | None = None, utility: Callable | None = None,
                       example_options: Callable | None = None,
                       overwrite: bool = False) -> Callable[..., Valuation]:
    """Register a valuation factory under ``name`` (see the module docstring).

    Args:
      name: the name configs use (``acquisition.valuation.name``).
      factory: ``factory(*, k, metric, **options) -> Valuation``; its other
        keyword parameters are the rule's options (or give ``options``).
        A KNN-Shapley recursion becomes a factory with
        :func:`ads_jax.valuation.knn_variant`.
      options: optional dataclass type of the options (default: from the
        factory's signature).
      utility: optional NumPy definition of the game, for brute-force tests:
        ``utility(member (S, N) bool, match (N,) float, dist (N,) float, *, k,
        num_classes, options) -> (S,) float`` -- the utility of each of S
        subsets of N players given in order of distance to one validation
        point (``options``: the typed options object).
      example_options: optional ``fn(dist (M, N)) -> list of option dicts``
        that the brute-force tests exercise (default: ``[{}]``).
      overwrite: replace an existing registration.

    Returns:
      ``factory`` (so it can decorate a function).
    """
    for what, f in (("utility", utility), ("example_options", example_options)):
        if f is not None and not callable(f):
            raise TypeError(f"`{what}` must be a callable or None.")
    return VALUATIONS.register(name, factory, options=options, overwrite=overwrite,
                               utility=utility, example_options=example_options)


def register_estimator(name: str, factory: Callable[..., Estimator] | None = None, *,
                       options: type | None = None, overwrite: bool = False):
    """Register a value-estimator factory ``factory(**options) -> Estimator``.

    Usable as ``register_estimator("name", factory)`` or as a decorator
    ``@register_estimator("name")``.
    """
    def _register(f):
        return ESTIMATORS.register(name, f, options=options, overwrite=overwrite)

    return _register if factory is None else _register(factory)


def available_valuations() -> tuple[str, ...]:
    """Names of every registered valuation."""
    return VALUATIONS.names()


def available_estimators() -> tuple[str, ...]:
    """Names of every registered value estimator."""
    return ESTIMATORS.names()


@dataclasses.dataclass(frozen=True)
class ValuationConfig:
    """Stage 1, the valuation of the labeled points (``acquisition.valuation``).

    Attributes:
      name: a registered valuation (:func:`available_valuations`): ``"jia"``
        (default, exact KNN-Shapley), ``"soft"``, ``"threshold"``, ``"loo"``,
        ``"banzhaf"``, ``"data_oob"``, ``"random"`` or yours.
      k: K of the KNN rules (ignored by rules without one, e.g. threshold).
      metric: distance of the valuation (``"sqeuclidean"`` | ``"euclidean"`` |
        ``"cosine"``).
      options: the rule's options as a JSON object (``{"tau": 0.5}`` for
        threshold), checked against its factory when the config is built.
    """

    name: str = "jia"
    k: int = 5
    metric: str = "sqeuclidean"
    options: FrozenMap = dataclasses.field(default_factory=FrozenMap)

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise TypeError(f"`valuation.name` must be a string, got {self.name!r}.")
        VALUATIONS.get(self.name, arg="valuation.name")
        V.check_positive_int("valuation.k", self.k)
        V.check_choice("valuation.metric", self.metric, METRICS)
        object.__setattr__(self, "options", VALUATIONS.check_options(
            self.name, self.options, path="valuation.options"))
        build_valuation(self)  # the factory checks the option values, once


@dataclasses.dataclass(frozen=True)
class EstimatorConfig:
    """Stage 2, the value estimator (``acquisition.estimator``).

    Attributes:
      name: a registered estimator (:func:`available_estimators`); default
        ``"knn_regression"``, the paper's per-class KNN regression;
        ``"insertion"``, the exact value of joining the labeled set.
      options: the estimator's options as a JSON object, checked against its
        factory when the config is built.
    """

    name: str = "knn_regression"
    options: FrozenMap = dataclasses.field(default_factory=FrozenMap)

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise TypeError(f"`estimator.name` must be a string, got {self.name!r}.")
        ESTIMATORS.get(self.name, arg="estimator.name")
        object.__setattr__(self, "options", ESTIMATORS.check_options(
            self.name, self.options, path="estimator.options"))
        build_estimator(self)


def build_valuation(config: ValuationConfig) -> Valuation:
    """The :class:`Valuation` a config names (built once per config value)."""
    return VALUATIONS.build(config.name, config.options, k=config.k, metric=config.metric)


def build_estimator(config: EstimatorConfig) -> Estimator:
    """The :class:`Estimator` a config names (built once per config value)."""
    return ESTIMATORS.build(config.name, config.options)
