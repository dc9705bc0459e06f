"""The ADS acquisition step: value, regress, pre-select, diversify.

One call picks a batch of ``budget`` points from the unlabeled pool::

    res = acquire(key, inputs, AcquisitionConfig(arm="ads+coreset", budget=100))
    res.indices        # (B,) int32 indices into the unlabeled pool
    res.values         # (U,) predicted values (ADS arms) or None
    res.preselect_mask # (U,) bool, the candidates the selector saw
    res.timings        # seconds per stage

Stages (arm ``ads+<selector>``):

1. **valuation** - values of the labeled points against the validation set by
   the registered valuation ``config.valuation.name`` (default: exact
   KNN-Shapley, :func:`ads_jax.valuation.knn_shapley`;
   :func:`ads_jax.valuation.run_valuation` with :class:`ValuationConfig`);
2. **regression** - those values extrapolated to the pool by the registered
   value estimator ``config.estimator.name`` (default: one KNN regressor per
   class, :func:`ads_jax.valuation.predict_values`;
   :func:`ads_jax.valuation.run_estimator` with :class:`EstimatorConfig`);
3. **preselection** - the top ``m`` pool points by predicted value, where
   ``m = ceil(multiple x B)`` if ``config.preselect.multiple`` is set, else
   ``ceil(fraction x U)``; ``m`` is clipped to ``[B, U]`` (the
   pre-selection never holds fewer than B points, so a pool that shrinks over
   the rounds never makes a run fail; when ``m == B`` the arm degenerates to
   ``ads-top``). Use :func:`preselect_size` to see ``m``;
4. **diversity** - the selector (any name of :mod:`ads_jax.selection`) runs on a
   *compact sub-pool* ``concat(labeled points, pre-selected points)`` with a
   ``labeled`` mask, so its cost is ``O(L + m)`` instead of ``O(L + U)``: this
   is where ADS's speed-up over running the selector on the whole pool comes
   from. Its picks are mapped back to unlabeled-pool indices.

Arms (:data:`ARMS`, :func:`parse_arm`):

* ``"<selector>"``            - the selector alone on the whole pool (stages 1-3 skipped);
* ``"ads+<selector>"``        - the four stages above;
* ``"randfilter+<selector>"`` - a uniformly random pre-filter of the same size
  ``m`` (drawn from ``key``), then the selector: the control showing whether
  the *value*, not the smaller pool, drives the result;
* ``"ads-top"``               - the top-B points by predicted value (no diversity).

Labeled points enter every sub-pool (``labeled=True``, unless
``config.selector.include_labeled=False``): k-center and BADGE use them as existing
centers; no selector ever picks them. Their ``"probs"`` are
``inputs.labeled_probs`` if given, else one-hot labels (pass the model's
probabilities for BADGE: one-hot rows have a zero gradient embedding); their
``"scores"`` are their exact KNN-Shapley values.

Execution: the staged path (default) runs each stage as its own jitted
computation and records its wall time (``block_until_ready``) in
``res.timings`` (``valuation, regression, preselection, diversity, total``;
0.0 for stages an arm skips; first calls include compilation).
``acquire(..., fused=True)`` - or the function returned by
:func:`make_acquire_fn` - runs valuation, regression, pre-selection and the
sub-pool construction under ONE ``jax.jit`` (shapes are static: ``m``
depends only on U and B), then the selector as its own jitted call (the
selectors validate their inputs eagerly and cannot be traced; ``ads-top`` is
fully fused). It returns the same picks as the staged path; its ``timings``
hold only ``total``. Both recompile when the pool or labeled-set size
changes (every AL round).

Randomness: ``key`` is split into (filter key, selector key); the same key
gives the same picks in both paths.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import time
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ads_jax import _validation as V
from ads_jax.selection import SELECTORS, SelectorConfig, available_selectors, get_selector
from ads_jax.valuation import EstimatorConfig, ValuationConfig, run_estimator, run_valuation

__all__ = [
    "ARMS",
    "Arm",
    "parse_arm",
    "available_arms",
    "AcquisitionConfig",
    "PreselectConfig",
    "AcquisitionInputs",
    "AcquisitionResult",
    "acquire",
    "make_acquire_fn",
    "preselect_size",
    "STAGES",
]

#: Arm name templates; ``<selector>`` is any name of ``available_selectors()``.
ARMS = ("<selector>", "ads+<selector>", "randfilter+<selector>", "ads-top")
#: Stage names of ``AcquisitionResult.timings`` (staged path), plus "total".
#: The one definition: the loop's records and the plots use these names.
STAGES = ("valuation", "regression", "preselection", "diversity")

# Selectors that rank by ``pool["scores"]`` (the predicted value): only
# meaningful where values exist, i.e. after "ads+".
_SCORE_SELECTORS = ("top_value",)


class Arm(NamedTuple):
    """A parsed arm name.

    Attributes:
      name: the arm string as given.
      filter: ``"none"`` (whole pool), ``"ads"`` (top-m by value) or
        ``"random"`` (random m).
      selector: registry name of the diversity/uncertainty selector, or
        ``None`` for ``ads-top`` (top-B by value).
    """

    name: str
    filter: str
    selector: str | None

    @property
    def uses_values(self) -> bool:
        """True if the arm runs valuation and regression (stages 1-2)."""
        return self.filter == "ads"


def parse_arm(arm: str) -> Arm:
    """Parse and validate an arm name (see :data:`ARMS`).

    Raises:
      ValueError: unknown form or selector (the message lists the choices).
    """
    if not isinstance(arm, str):
        raise TypeError(f"`arm` must be a string like 'ads+coreset', got {type(arm).__name__}.")
    if arm == "ads-top":
        return Arm(arm, "ads", None)
    if arm.startswith("ads+"):
        filt, sel = "ads", arm[len("ads+"):]
    elif arm.startswith("randfilter+"):
        filt, sel = "random", arm[len("randfilter+"):]
    elif "+" in arm:
        raise ValueError(
            f"`arm`={arm!r}: unknown prefix {arm.split('+')[0]!r}. Arms are "
            f"{list(ARMS)}, e.g. 'ads+coreset' or 'randfilter+coreset'."
        )
    else:
        filt, sel = "none", arm
    names = tuple(available_selectors())
    if sel not in names:
        raise ValueError(
            f"`arm`={arm!r}: unknown selector {sel!r}. Available selectors: {sorted(names)}; "
            f"arms are {list(ARMS)}."
        )
    if sel in _SCORE_SELECTORS and filt != "ads":
        raise ValueError(
            f"`arm`={arm!r}: selector {sel!r} ranks points by their predicted value, which "
            "only ADS computes. Use 'ads-top' (or 'ads+top_value')."
        )
    return Arm(arm, filt, sel)


def available_arms() -> tuple[str, ...]:
    """All concrete arm names for the selectors registered now."""
    out = ["ads-top"]
    for s in sorted(available_selectors()):
        if s not in _SCORE_SELECTORS:
            out += [s, f"randfilter+{s}"]
        out.append(f"ads+{s}")
    return tuple(out)


# ----------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PreselectConfig:
    """Stage 3, the pre-selection (``acquisition.preselect``).

    Attributes:
      fraction: pre-select the top ``ceil(f x U)`` points (paper 0.1-0.3).
        Ignored when ``multiple`` is set.
      multiple: pre-select the top ``ceil(m x B)`` points (paper 2-10); takes
        precedence over ``fraction``.
    """

    fraction: float | None = 0.2
    multiple: float | None = None

    def __post_init__(self):
        if self.fraction is None and self.multiple is None:
            raise ValueError("Set `preselect.fraction` (e.g. 0.2) or `preselect.multiple` "
                             "(e.g. 5); both are None.")
        if self.fraction is not None:
            V.check_fraction("preselect.fraction", self.fraction)
        if self.multiple is not None:
            V.check_number("preselect.multiple", self.multiple, lo=1)


def preselect_size(config: PreselectConfig, budget: int, pool_size: int) -> int:
    """Number m of pre-selected candidates for a pool of ``pool_size`` points.

    ``ceil(multiple x budget)`` if set, else ``ceil(fraction x pool_size)``,
    clipped to ``[budget, pool_size]``.
    """
    pool_size = V.check_positive_int("pool_size", pool_size)
    b = V.check_positive_int("budget", budget)
    if config.multiple is not None:
        m = math.ceil(config.multiple * b - 1e-9)
    else:
        m = math.ceil(config.fraction * pool_size - 1e-9)
    return int(min(pool_size, max(b, m)))


@dataclasses.dataclass(frozen=True)
class AcquisitionConfig:
    """Everything that defines one acquisition step; frozen, JSON-able, hashable.

    Each stage reads only its own sub-config.

    Attributes:
      arm: see :data:`ARMS` (``"ads+coreset"``, ``"coreset"``,
        ``"randfilter+coreset"``, ``"ads-top"``, ...); its selector part names
        a registered selector.
      budget: points picked per step, B >= 1.
      valuation: stage 1, :class:`~ads_jax.valuation.ValuationConfig`
        (registered valuation name, K, metric, options).
      estimator: stage 2, :class:`~ads_jax.valuation.EstimatorConfig`
        (registered value estimator and its options; default the per-class
        KNN regression).
      preselect: stage 3, :class:`PreselectConfig`.
      selector: stage 4, :class:`~ads_jax.selection.SelectorConfig` (options
        of the arm's selector, checked against the options it takes; whether
        labeled points enter its sub-pool).
    """

    arm: str = "ads+coreset"
    budget: int = 100
    valuation: ValuationConfig = dataclasses.field(default_factory=ValuationConfig)
    estimator: EstimatorConfig = dataclasses.field(default_factory=EstimatorConfig)
    preselect: PreselectConfig = dataclasses.field(default_factory=PreselectConfig)
    selector: SelectorConfig = dataclasses.field(default_factory=SelectorConfig)

    def __post_init__(self):
        arm = parse_arm(self.arm)
        V.check_positive_int("budget", self.budget)
        for name, cls in (("valuation", ValuationConfig), ("estimator", EstimatorConfig),
                          ("preselect", PreselectConfig), ("selector", SelectorConfig)):
            if not isinstance(getattr(self, name), cls):
                raise TypeError(f"`acquisition.{name}` must be a {cls.__name__}, got "
                                f"{type(getattr(self, name)).__name__}.")
        if arm.selector is None:
            if self.selector.options:
                raise ValueError(f"arm {self.arm!r} runs no selector, so "
                                 f"`selector.options` must be empty, got {self.selector.options}.")
        else:
            SELECTORS.parse_options(arm.selector, self.selector.options, path="selector.options")

    def __hash__(self):
        return hash(json.dumps(dataclasses.asdict(self), sort_keys=True))

    @property
    def parsed_arm(self) -> Arm:
        """The parsed :class:`Arm`."""
        return parse_arm(self.arm)

    def selector_kwargs(self) -> dict:
        """The selector options given in the config, typed by the selector's schema."""
        arm = parse_arm(self.arm)
        if arm.selector is None or not self.selector.options:
            return {}
        typed = SELECTORS.parse_options(arm.selector, self.selector.options,
                                        path="selector.options")
        return {k: getattr(typed, k) for k in self.selector.options}


# ----------------------------------------------------------------------------
# Inputs / outputs
# ----------------------------------------------------------------------------


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["labeled_emb", "labeled_y", "pool_emb", "pool_probs", "val_emb", "val_y",
                 "labeled_probs"],
    meta_fields=["num_classes"],
)
@dataclasses.dataclass(frozen=True)
class AcquisitionInputs:
    """The model's outputs for the three sets (a pytree; ``num_classes`` static).

    Attributes:
      labeled_emb: (L, d) float embeddings of the labeled points.
      labeled_y: (L,) int labels in [0, C).
      pool_emb: (U, d) float embeddings of the unlabeled pool.
      pool_probs: (U, C) float predicted class probabilities of the pool.
      val_emb: (M, d) float embeddings of the validation set (ADS arms only).
      val_y: (M,) int validation labels (ADS arms only).
      num_classes: C; ``None`` = ``pool_probs.shape[1]``.
      labeled_probs: optional (L, C) float probabilities of the labeled points
        (only probability-based selectors look at them, and never pick
        labeled points); default one-hot labels.
    """

    labeled_emb: Any
    labeled_y: Any
    pool_emb: Any
    pool_probs: Any
    val_emb: Any = None
    val_y: Any = None
    num_classes: int | None = None
    labeled_probs: Any = None

    def resolved(self) -> "AcquisitionInputs":
        """Copy with ``num_classes`` filled in from ``pool_probs``."""
        if self.num_classes is not None:
            return self
        return dataclasses.replace(self, num_classes=int(self.pool_probs.shape[1]))


@dataclasses.dataclass(frozen=True)
class AcquisitionResult:
    """Output of :func:`acquire`.

    Attributes:
      indices: (B,) int32 unique indices into the unlabeled pool.
      values: (U,) float predicted values of the pool (ADS arms), else ``None``.
      preselect_mask: (U,) bool, the candidates the selector could pick
        (all True for plain selector arms).
      timings: stage -> seconds (``STAGES`` + ``"total"``; fused: ``"total"`` only).
      preselect_size: m, the number of candidates (U for plain arms).
      train_values: (L,) float KNN-Shapley values of the labeled points (ADS
        arms), else ``None``.
      arm: the arm name.
    """

    indices: jax.Array
    values: jax.Array | None
    preselect_mask: jax.Array
    timings: dict
    preselect_size: int
    train_values: jax.Array | None = None
    arm: str = ""


def _check_inputs(inputs: AcquisitionInputs, arm: Arm, budget: int) -> AcquisitionInputs:
    if not isinstance(inputs, AcquisitionInputs):
        raise TypeError(f"`inputs` must be an AcquisitionInputs, got {type(inputs).__name__}.")
    ads = arm.uses_values
    V.check_array("pool_emb", inputs.pool_emb, ndim=2, kind="f")
    V.check_array("pool_probs", inputs.pool_probs, ndim=2, kind="f")
    V.check_array("labeled_emb", inputs.labeled_emb, ndim=2, kind="f", allow_empty=not ads)
    V.check_array("labeled_y", inputs.labeled_y, ndim=1, kind="i", allow_empty=not ads)
    inputs = inputs.resolved()
    c = V.check_positive_int("num_classes", inputs.num_classes)
    V.check_same_length(pool_emb=inputs.pool_emb, pool_probs=inputs.pool_probs)
    V.check_same_length(labeled_emb=inputs.labeled_emb, labeled_y=inputs.labeled_y)
    if inputs.pool_probs.shape[1] != c:
        raise ValueError(
            f"`pool_probs` must have num_classes={c} columns, got shape "
            f"{tuple(inputs.pool_probs.shape)}."
        )
    d = inputs.pool_emb.shape[1]
    sets = [("labeled_emb", inputs.labeled_emb)]
    if ads:
        if inputs.val_emb is None or inputs.val_y is None:
            raise ValueError(
                f"arm {arm.name!r} values the labeled points against a validation set: "
                "pass `val_emb` and `val_y` in AcquisitionInputs."
            )
        V.check_array("val_emb", inputs.val_emb, ndim=2, kind="f")
        V.check_array("val_y", inputs.val_y, ndim=1, kind="i")
        V.check_same_length(val_emb=inputs.val_emb, val_y=inputs.val_y)
        V.check_labels("val_y", inputs.val_y, c)
        sets.append(("val_emb", inputs.val_emb))
    for name, a in sets:
        if a.shape[1] != d:
            raise ValueError(
                f"`{name}` has feature dimension {a.shape[1]} but `pool_emb` has {d}; all "
                "embeddings must come from the same model layer."
            )
    V.check_labels("labeled_y", inputs.labeled_y, c)
    if inputs.labeled_probs is not None:
        V.check_array("labeled_probs", inputs.labeled_probs, ndim=2, kind="f", allow_empty=True)
        if tuple(inputs.labeled_probs.shape) != (inputs.labeled_emb.shape[0], c):
            raise ValueError(
                f"`labeled_probs` must have shape (L, C) = ({inputs.labeled_emb.shape[0]}, {c}), "
                f"got {tuple(inputs.labeled_probs.shape)}."
            )
        V.check_finite("labeled_probs", inputs.labeled_probs)
    for name, a in sets + [("pool_emb", inputs.pool_emb), ("pool_probs", inputs.pool_probs)]:
        V.check_finite(name, a)
    V.check_budget(budget, int(inputs.pool_emb.shape[0]),
                   what="unlabeled pool points (`pool_emb` rows)")
    return inputs


# ----------------------------------------------------------------------------
# Stages (pure, traceable; each small helper jitted with static sizes)
# ----------------------------------------------------------------------------


@functools.partial(jax.jit, static_argnames=("m",))
def _preselect_top(values, m):
    """Top-m by value (ties -> lower index). -> ((m,) int32 sorted by value desc, (U,) bool)."""
    _, idx = lax.top_k(values, m)
    idx = idx.astype(jnp.int32)
    return idx, jnp.zeros(values.shape[0], bool).at[idx].set(True)


@functools.partial(jax.jit, static_argnames=("n", "m"))
def _preselect_random(key, n, m):
    """Uniformly random m of n without replacement. -> ((m,) int32, (n,) bool)."""
    idx = jax.random.permutation(key, n)[:m].astype(jnp.int32)
    return idx, jnp.zeros(n, bool).at[idx].set(True)


@functools.partial(jax.jit, static_argnames=("num_classes",))
def _subpool(labeled_emb, labeled_y, labeled_probs, pool_emb, pool_probs, pre_idx,
             train_values, values, *, num_classes):
    """Compact pool: labeled points first (if ``labeled_emb`` is given), then
    the candidates (``pool[pre_idx]``, or the whole pool). -> (dict, (n,) bool)."""
    if pre_idx is not None:
        pool_emb, pool_probs = pool_emb[pre_idx], pool_probs[pre_idx]
        values = None if values is None else values[pre_idx]
    if labeled_emb is None:
        sub = {"embeddings": pool_emb, "probs": pool_probs}
        if values is not None:
            sub["scores"] = values
        return sub, jnp.zeros(pool_emb.shape[0], bool)
    if labeled_probs is None:
        labeled_probs = jax.nn.one_hot(labeled_y, num_classes, dtype=pool_probs.dtype)
    n_lab = labeled_emb.shape[0]
    dt = jnp.result_type(labeled_emb.dtype, pool_emb.dtype)
    sub = {
        "embeddings": jnp.concatenate([labeled_emb.astype(dt), pool_emb.astype(dt)]),
        "probs": jnp.concatenate([labeled_probs.astype(pool_probs.dtype), pool_probs]),
    }
    if values is not None:
        sub["scores"] = jnp.concatenate([train_values.astype(values.dtype), values])
    labeled = jnp.arange(n_lab + pool_emb.shape[0]) < n_lab
    return sub, labeled


@functools.partial(jax.jit, static_argnames=("n_lab",))
def _map_back(local, pre_idx, *, n_lab):
    """Sub-pool indices (all >= n_lab) -> unlabeled-pool indices, int32."""
    j = local.astype(jnp.int32) - n_lab
    return (j if pre_idx is None else pre_idx[j]).astype(jnp.int32)


class _Timer:
    """Records wall time between marks (blocking on the stage outputs)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.times = {s: 0.0 for s in STAGES} if enabled else {}
        self.last = time.perf_counter()

    def mark(self, stage, *outs):
        if self.enabled:
            jax.block_until_ready(outs)
            now = time.perf_counter()
            self.times[stage] += now - self.last
            self.last = now


def _front(key, inputs: AcquisitionInputs, config: AcquisitionConfig, arm: Arm, mesh,
           timer: _Timer, max_class_count: int | None = None) -> dict:
    """Stages 1-3 and the compact sub-pool; traceable when ``timer`` is disabled."""
    c = inputs.num_classes
    n_pool = inputs.pool_emb.shape[0]
    key_filter, key_select = jax.random.split(key)
    out = dict(key_select=key_select, values=None, train_values=None, pre_idx=None,
               idx=None, sub=None, labeled=None)
    if arm.uses_values:
        tv = run_valuation(config.valuation, inputs.labeled_emb, inputs.labeled_y,
                           inputs.val_emb, inputs.val_y, num_classes=c, mesh=mesh)
        timer.mark("valuation", tv)
        values = run_estimator(config.estimator, inputs.labeled_emb, inputs.labeled_y, tv,
                               inputs.pool_emb, inputs.pool_probs, num_classes=c, mesh=mesh,
                               max_class_count=max_class_count)
        timer.mark("regression", values)
        out.update(values=values, train_values=tv)
    if arm.filter == "none":
        out["mask"] = jnp.ones(n_pool, bool)
    else:
        m = preselect_size(config.preselect, config.budget, n_pool)
        if arm.filter == "ads":
            pre_idx, mask = _preselect_top(out["values"], m)
        else:
            pre_idx, mask = _preselect_random(key_filter, n_pool, m)
        timer.mark("preselection", pre_idx, mask)
        out.update(pre_idx=pre_idx, mask=mask)
    if arm.selector is None:  # ads-top: pre_idx is sorted by value, descending
        out["idx"] = out["pre_idx"][: config.budget]
    else:
        inc = config.selector.include_labeled  # labeled rows first in the sub-pool, or none
        out["sub"], out["labeled"] = _subpool(
            inputs.labeled_emb if inc else None, inputs.labeled_y if inc else None,
            inputs.labeled_probs if inc else None, inputs.pool_emb, inputs.pool_probs,
            out["pre_idx"], out["train_values"] if inc else None, out["values"],
            num_classes=c,
        )
    return out


def _class_bound(inputs: AcquisitionInputs, arm: Arm) -> int | None:
    """Largest class of the labeled set (concrete labels only), a static bound that
    lets a per-class value estimator use its per-class layout inside ``jit``."""
    if not arm.uses_values or V.is_tracer(inputs.labeled_y):
        return None
    return int(np.bincount(np.asarray(inputs.labeled_y), minlength=inputs.num_classes).max())


def _accepts_mesh(fn: Callable) -> bool:
    """Whether a selector takes a ``mesh=`` keyword (custom ones may not)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return False
    return any(p.name == "mesh" or p.kind is p.VAR_KEYWORD for p in params)


def _back(front: dict, config: AcquisitionConfig, arm: Arm, n_lab: int, mesh) -> jax.Array:
    """Stage 4: the selector on the sub-pool (eager: selectors need concrete
    inputs), picks mapped back to pool indices."""
    if arm.selector is None:
        return front["idx"]
    select = get_selector(arm.selector)
    opts = config.selector_kwargs()
    if mesh is not None and _accepts_mesh(select):
        opts.setdefault("mesh", mesh)
    local = select(front["key_select"], front["sub"], config.budget, labeled=front["labeled"],
                   **opts)
    pre_idx = front["pre_idx"]
    if (pre_idx is not None and isinstance(local, jax.Array)
            and local.sharding != pre_idx.sharding):
        # With a mesh the selector may return its picks on a differently typed
        # mesh (Auto vs Explicit axes); put them where the candidates live.
        local = jax.device_put(local, pre_idx.sharding)
    return _map_back(local, front["pre_idx"],
                     n_lab=n_lab if config.selector.include_labeled else 0)


# ----------------------------------------------------------------------------
# Public entry points
# ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _front_jit(config: AcquisitionConfig, mesh, max_class_count):
    arm = parse_arm(config.arm)
    return jax.jit(lambda key, inputs: _front(key, inputs, config, arm, mesh, _Timer(False),
                                              max_class_count))


def make_acquire_fn(config: AcquisitionConfig, *,
                    mesh: jax.sharding.Mesh | None = None) -> Callable:
    """The acquisition step as a pure function with the stages fused under ``jit``.

    Valuation, regression, pre-selection and the construction of the compact
    sub-pool run as ONE jitted computation (shapes are static: ``m`` depends
    only on U and B). The selector then runs as its own jitted call: the
    selectors of :mod:`ads_jax.selection` validate their inputs eagerly and
    need a concrete ``labeled`` mask, so they cannot be traced. For
    ``ads-top`` (no selector) the whole step is one jit.

    Args:
      config: an :class:`AcquisitionConfig`.
      mesh: optional mesh for valuation, regression and the selector.

    Returns:
      ``fn(key, inputs) -> (indices (B,) int32, values (U,) float or None,
      preselect_mask (U,) bool, train_values (L,) float or None)``.
      ``inputs`` must be an :class:`AcquisitionInputs` with ``num_classes``
      set (it is static). No input checks inside the jitted part: validate
      with :func:`acquire` (``fused=True`` does both). Compiled programs are
      cached per (config, mesh) and recompile for new shapes.
    """
    if not isinstance(config, AcquisitionConfig):
        raise TypeError(f"`config` must be an AcquisitionConfig, got {type(config).__name__}.")
    arm = parse_arm(config.arm)

    def fn(key, inputs):
        if inputs.num_classes is None:
            raise ValueError("`inputs.num_classes` must be set for make_acquire_fn "
                             "(use inputs.resolved()).")
        lmax = _class_bound(inputs, arm)
        front = _front_jit(config, mesh, lmax)(key, inputs)
        idx = _back(front, config, arm, int(inputs.labeled_emb.shape[0]), mesh)
        return idx, front["values"], front["mask"], front["train_values"]

    return fn


def acquire(
    key: jax.Array,
    inputs: AcquisitionInputs,
    config: AcquisitionConfig,
    *,
    fused: bool = False,
    mesh: jax.sharding.Mesh | None = None,
) -> AcquisitionResult:
    """Pick ``config.budget`` points of the unlabeled pool (see module doc).

    Args:
      key: PRNG key (typed ``jax.random.key`` or legacy uint32 key).
      inputs: :class:`AcquisitionInputs` (labeled, pool, validation arrays).
      config: :class:`AcquisitionConfig`.
      fused: run stages 1-3 and the sub-pool construction under one ``jit``
        (:func:`make_acquire_fn`); timings then hold only ``"total"``.
      mesh: optional :class:`jax.sharding.Mesh` for valuation, regression and
        the selector (passed as ``mesh=`` to selectors that take it).

    Returns:
      :class:`AcquisitionResult`; ``indices`` are ``budget`` unique int32
      indices into the rows of ``inputs.pool_emb``.

    Raises:
      ValueError / TypeError naming the argument: unknown arm or selector,
      budget larger than the pool, mismatched shapes, non-finite embeddings or
      probabilities, labels out of range, missing validation set for ADS arms.
    """
    if not isinstance(config, AcquisitionConfig):
        raise TypeError(f"`config` must be an AcquisitionConfig, got {type(config).__name__}.")
    arm = parse_arm(config.arm)
    key = V.check_key("key", key)
    inputs = _check_inputs(inputs, arm, config.budget)
    inputs = jax.tree.map(jnp.asarray, inputs)
    n_pool = int(inputs.pool_emb.shape[0])
    n_lab = int(inputs.labeled_emb.shape[0])
    m = n_pool if arm.filter == "none" else preselect_size(config.preselect, config.budget, n_pool)
    if fused:
        t0 = time.perf_counter()
        idx, values, mask, tv = make_acquire_fn(config, mesh=mesh)(key, inputs)
        jax.block_until_ready((idx, values, mask, tv))
        timings = {"total": time.perf_counter() - t0}
    else:
        timer = _Timer(True)
        front = _front(key, inputs, config, arm, mesh, timer, _class_bound(inputs, arm))
        idx = _back(front, config, arm, n_lab, mesh)
        timer.mark("diversity", idx)
        values, mask, tv = front["values"], front["mask"], front["train_values"]
        timings = dict(timer.times)
        timings["total"] = sum(timer.times.values())
    return AcquisitionResult(indices=idx, values=values, preselect_mask=mask, timings=timings,
                             preselect_size=int(m), train_values=tv, arm=config.arm)
