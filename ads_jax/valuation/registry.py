"""The valuation registry: every data-valuation rule of ads_jax, by name.

Stage 1 of ADS values the labeled points. Which rule does that is a name in
:class:`ValuationConfig` (``acquisition.valuation``), looked up here. This
registry is the single source of the KNN-Shapley variants (``jia``,
``soft``, ``threshold``) and of any rule a researcher adds::

    from ads_jax.valuation import Recursion, register_valuation

    register_valuation("harmonic", HARMONIC, utility=harmonic_utility)   # one line

A registration is one of:

* a :class:`~ads_jax.valuation.recursions.Recursion` -- a KNN-Shapley variant
  given by its recursion over the training points sorted by distance; it
  runs on the exact engine (:func:`~ads_jax.valuation.knn_shapley`: chunked,
  sharded, both the parallel and the ``lax.scan`` paths);
* a function ``fn(train_x, train_y, val_x, val_y, *, num_classes, k, metric,
  options, mesh, train_mask) -> (N,) float`` -- any other valuation (it must
  be traceable to run inside the fused acquisition program; ``train_mask``
  is None or an (N,) bool array whose False rows are padding of a
  fixed-capacity labeled buffer: absent players, value 0).

``options=`` is a frozen dataclass whose fields are the rule's options
(``tau`` of ``threshold``); configs give them as a JSON object
(``acquisition.valuation.options.tau=0.5``), checked against it when the
config is built, and the rule receives the typed object (a recursion as
``ctx.options``). ``utility=`` (optional, recursions and ``threshold``) is
the rule's game written from its definition in NumPy; the brute-force test
of :mod:`ads_jax.valuation.testing` checks every registered variant against
it by enumerating every subset, so a new variant is tested by registering it.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from ads_jax import _validation as V
from ads_jax.distances import METRICS
from ads_jax.registry import ComponentConfig, Registry
from ads_jax.valuation.recursions import JIA, SOFT, Recursion

__all__ = [
    "VALUATIONS",
    "THRESHOLD",
    "ValuationConfig",
    "register_valuation",
    "get_valuation",
    "available_valuations",
    "knn_variants",
    "run_valuation",
    "ThresholdOptions",
    "BUILTIN_VALUATIONS",
]

VALUATIONS = Registry(
    "valuation",
    "Register one with ads_jax.valuation.register_valuation(name, recursion_or_fn).")


class _Threshold:
    """Marker of the threshold closed form (the engine's sort-free path)."""

    def __repr__(self) -> str:
        return "THRESHOLD"


#: Registered implementation of ``"threshold"``: the engine's closed form.
THRESHOLD = _Threshold()


def register_valuation(name: str, recursion_or_fn: Recursion | Callable, *,
                       options: type | None = None, utility: Callable | None = None,
                       example_options: Callable | None = None,
                       overwrite: bool = False) -> Recursion | Callable:
    """Register a valuation rule under ``name`` (see the module docstring).

    Args:
      name: the name configs use (``acquisition.valuation.name``).
      recursion_or_fn: a :class:`Recursion` (a KNN-Shapley variant) or a
        valuation function ``fn(train_x (N, d), train_y (N,) int32, val_x (M, d),
        val_y (M,) int32, *, num_classes, k, metric, options, mesh, train_mask)
        -> (N,) float``.
      options: frozen dataclass type of the rule's options (None: no options).
      utility: optional NumPy definition of the game, for brute-force tests:
        ``utility(member (S, N) bool, match (N,) float, dist (N,) float, *, k,
        num_classes, options) -> (S,) float`` -- the utility of each of S
        subsets of N players given in order of distance to one validation
        point (``member[s, j]``: the j-th nearest is in subset s; ``match[j]``:
        its label matches; ``dist[j]``: its distance).
      example_options: optional ``fn(dist (M, N)) -> list of option dicts``
        that the brute-force tests exercise (default: ``[{}]``, the defaults).
      overwrite: replace an existing registration.

    Returns:
      ``recursion_or_fn`` (so it can be used as a decorator on a function).
    """
    if isinstance(recursion_or_fn, Recursion):
        kind = "recursion"
    elif recursion_or_fn is THRESHOLD:
        kind = "threshold"
    elif callable(recursion_or_fn):
        kind = "function"
    else:
        raise TypeError(f"`recursion_or_fn` must be a Recursion or a callable, got "
                        f"{type(recursion_or_fn).__name__}.")
    for what, f in (("utility", utility), ("example_options", example_options)):
        if f is not None and not callable(f):
            raise TypeError(f"`{what}` must be a callable or None.")
    VALUATIONS.register(name, recursion_or_fn, options=options, overwrite=overwrite,
                        kind=kind, utility=utility, example_options=example_options)
    return recursion_or_fn


def get_valuation(name: str):
    """The registry :class:`~ads_jax.registry.Entry` of ``name``."""
    return VALUATIONS.get(name)


def available_valuations() -> tuple[str, ...]:
    """Names of every registered valuation."""
    return VALUATIONS.names()


def knn_variants() -> tuple[str, ...]:
    """Registered valuations that run on the exact KNN-Shapley engine."""
    return tuple(n for n in VALUATIONS.names()
                 if VALUATIONS.get(n).meta.get("kind") in ("recursion", "threshold"))


@dataclasses.dataclass(frozen=True)
class ValuationConfig(ComponentConfig):
    """Stage 1, the valuation of the labeled points (``acquisition.valuation``).

    Attributes:
      name: a registered valuation (:func:`available_valuations`): ``"jia"``
        (default), ``"soft"``, ``"threshold"`` or yours.
      k: K of KNN-Shapley (ignored by rules without one, e.g. threshold).
      metric: distance of the valuation (``"sqeuclidean"`` | ``"euclidean"`` |
        ``"cosine"``).
      options: the rule's options as a JSON object (``{"tau": 0.5}`` for
        threshold), checked against its registered schema.
    """

    name: str = "jia"
    k: int = 5
    metric: str = "sqeuclidean"
    options: dict = dataclasses.field(default_factory=dict)

    _registry = VALUATIONS
    _section = "valuation"
    __hash__ = ComponentConfig.__hash__

    def __post_init__(self):
        self._check_component()
        V.check_positive_int("valuation.k", self.k)
        V.check_choice("valuation.metric", self.metric, METRICS)


def run_valuation(config: ValuationConfig, train_x, train_y, val_x, val_y, *,
                  num_classes: int, mesh=None, train_mask=None):
    """Stage 1: values of the labeled points under ``config`` (inputs already checked).

    Args:
      config: a :class:`ValuationConfig`.
      train_x: (N, d) float embeddings of the labeled points; train_y (N,) int32.
      val_x: (M, d) float validation embeddings; val_y (M,) int32.
      num_classes: C.
      mesh: optional mesh (see :func:`~ads_jax.valuation.knn_shapley`).
      train_mask: optional (N,) bool, False for padding rows (absent players).

    Returns:
      (N,) float values (0 at padding rows). Traceable (when the registered rule is).
    """
    from ads_jax.valuation.knn_shapley import knn_shapley_unchecked

    entry = VALUATIONS.get(config.name)
    options = config.typed_options()
    kind = entry.meta["kind"]
    if kind == "recursion":
        return knn_shapley_unchecked(train_x, train_y, val_x, val_y, num_classes=num_classes,
                                     k=config.k, recursion=entry.fn, metric=config.metric,
                                     mesh=mesh, options=options, train_mask=train_mask)
    if kind == "threshold":
        return knn_shapley_unchecked(train_x, train_y, val_x, val_y, num_classes=num_classes,
                                     k=config.k, recursion=None, tau=options.tau,
                                     metric=config.metric, mesh=mesh, train_mask=train_mask)
    return entry.fn(train_x, train_y, val_x, val_y, num_classes=num_classes, k=config.k,
                    metric=config.metric, options=options, mesh=mesh, train_mask=train_mask)


# ---------------------------------------------------------------------------
# The built-in KNN-Shapley variants: recursion (or closed form) + the game's
# definition for the brute-force tests.
# ---------------------------------------------------------------------------


def _top_k_members(member: np.ndarray, k: int) -> np.ndarray:
    return member & (np.cumsum(member, axis=1) <= k)


def jia_utility(member, match, dist, *, k, num_classes, options):
    """Jia et al.: ``U(S) = (1/K) sum_{j <= min(K, |S|)} a_j``; ``U(empty) = 0``."""
    return (_top_k_members(member, k) * match).sum(1) / k


def soft_utility(member, match, dist, *, k, num_classes, options):
    """Soft-label: ``U(S) = mean of a_j over the min(K, |S|) nearest``; ``U(empty) = 1/C``."""
    size = member.sum(1)
    hit = (_top_k_members(member, k) * match).sum(1)
    return np.where(size > 0, hit / np.maximum(np.minimum(size, k), 1), 1.0 / num_classes)


def threshold_utility(member, match, dist, *, k, num_classes, options):
    """Threshold: fraction of matches among members with distance <= tau; 1/C if none."""
    ball = member & (dist <= options.tau)[None, :]
    cnt = ball.sum(1)
    return np.where(cnt > 0, (ball * match).sum(1) / np.maximum(cnt, 1), 1.0 / num_classes)


@dataclasses.dataclass(frozen=True)
class ThresholdOptions:
    """Options of ``"threshold"``.

    Attributes:
      tau: the neighbourhood radius, in the units of ``metric`` (e.g. a
        quantile of the validation-to-training distances); required.
    """

    tau: float

    def __post_init__(self):
        V.check_number("valuation.options.tau", self.tau, lo=0)


def _threshold_examples(dist: np.ndarray) -> list[dict]:
    """Radii for the tests: empty balls, halfway between distinct distances, everything."""
    u = np.unique(dist)
    mids = [0.5 * (u[j] + u[j + 1]) for j in (int(0.3 * (u.size - 1)), int(0.7 * (u.size - 1)))
            if j + 1 < u.size]
    return [{"tau": float(t)} for t in [0.0, *mids, float(u.max()) + 1.0]]


register_valuation("jia", JIA, utility=jia_utility)
register_valuation("soft", SOFT, utility=soft_utility)
register_valuation("threshold", THRESHOLD, options=ThresholdOptions, utility=threshold_utility,
                   example_options=_threshold_examples)

#: The valuations ads_jax registers itself (a snapshot taken at import).
BUILTIN_VALUATIONS = VALUATIONS.names()
