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
from typing import Any, Callable, NamedTuple

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
    "make_pool_acquire_fn",
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
                 "labeled_probs", "labeled_mask", "pool_mask"],
    meta_fields=["num_classes"],
)
@dataclasses.dataclass(frozen=True)
class AcquisitionInputs:
    """The model's outputs for the three sets (a pytree; ``num_classes`` static).

    Fixed shapes: the labeled and pool arrays may be fixed-capacity buffers
    whose unused rows are masked out (``labeled_mask`` / ``pool_mask``), so
    that one compiled program serves every round of a run (the labeled set
    grows and the pool shrinks by B each round). Masked-out rows are absent:
    they are neither valued, nor neighbours, nor candidates, and every result
    equals that of the inputs without them (up to float rounding).

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
      labeled_mask: optional (L,) bool, False for padding rows of the labeled
        buffer (None: all rows are labeled points).
      pool_mask: optional (U,) bool, False for padding rows of the pool buffer.
    """

    labeled_emb: Any
    labeled_y: Any
    pool_emb: Any
    pool_probs: Any
    val_emb: Any = None
    val_y: Any = None
    num_classes: int | None = None
    labeled_probs: Any = None
    labeled_mask: Any = None
    pool_mask: Any = None

    def resolved(self) -> "AcquisitionInputs":
        """Copy with ``num_classes`` filled in from ``pool_probs``."""
        if self.num_classes is not None:
            return self
        return dataclasses.replace(self, num_classes=int(self.pool_probs.shape[1]))


@dataclasses.dataclass(frozen=True)
class AcquisitionResult:
    """Output of :func:`acquire`.

    Attributes:
      indices: (B,) int32 unique indices into the rows of ``inputs.pool_emb``.
      values: (U,) float predicted values of the pool (ADS arms; ``-inf`` at
        masked-out rows), else ``None``.
      preselect_mask: (U,) bool, the candidates the selector could pick
        (every valid row for plain selector arms).
      timings: stage -> seconds (``STAGES`` + ``"total"``; fused: ``"total"`` only).
      preselect_size: m, the number of candidates.
      train_values: (L,) float values of the labeled points (ADS arms; 0 at
        masked-out rows), else ``None``.
      arm: the arm name.
    """

    indices: jax.Array
    values: jax.Array | None
    preselect_mask: jax.Array
    timings: dict
    preselect_size: int
    train_values: jax.Array | None = None
    arm: str = ""


def _check_mask(name: str, mask: Any, n: int) -> Any:
    if mask is None:
        return None
    V.check_array(name, mask, ndim=1, kind="b", allow_empty=True)
    if not V.is_tracer(mask) and mask.shape[0] != n:
        raise ValueError(f"`{name}` must have one entry per row ({n}), got shape "
                         f"{tuple(mask.shape)}.")
    return mask


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
    _check_mask("labeled_mask", inputs.labeled_mask, int(inputs.labeled_emb.shape[0]))
    _check_mask("pool_mask", inputs.pool_mask, int(inputs.pool_emb.shape[0]))
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
        if inputs.labeled_mask is not None and not V.is_tracer(inputs.labeled_mask):
            if not np.any(np.asarray(inputs.labeled_mask)):
                raise ValueError(f"arm {arm.name!r} values the labeled points, but "
                                 "`labeled_mask` masks out every labeled row.")
    for name, a in sets:
        if a.shape[1] != d:
            raise ValueError(
                f"`{name}` has feature dimension {a.shape[1]} but `pool_emb` has {d}; all "
                "embeddings must come from the same model layer."
            )
    if inputs.labeled_mask is not None and not V.is_tracer(inputs.labeled_y):
        lab = np.asarray(inputs.labeled_mask)
        V.check_labels("labeled_y", np.asarray(inputs.labeled_y)[lab], c)
    else:
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
    n_pool = int(inputs.pool_emb.shape[0])
    if inputs.pool_mask is not None and not V.is_tracer(inputs.pool_mask):
        n_pool = int(np.count_nonzero(np.asarray(inputs.pool_mask)))
    V.check_budget(budget, n_pool, what="unlabeled pool points (valid `pool_emb` rows)")
    return inputs


# ----------------------------------------------------------------------------
# Stages (pure, traceable; each small helper jitted with static sizes)
# ----------------------------------------------------------------------------


def _first_valid(mask: jax.Array) -> jax.Array:
    """Row order with the True rows first (in order), then the False ones. (n,) int32."""
    return jnp.argsort(~mask, stable=True).astype(jnp.int32)


def _m_table(config: AcquisitionConfig, n_rows: int) -> np.ndarray:
    """``preselect_size`` for every number of valid pool rows 0..n_rows (host, exact)."""
    b = config.budget
    t = [0] + [preselect_size(config.preselect, b, u) if u >= b else u
               for u in range(1, n_rows + 1)]
    return np.asarray(t, np.int32)


@functools.partial(jax.jit, static_argnames=("m_cap",))
def _preselect_top(values, m_valid, *, m_cap):
    """Top-m by value (ties -> lower index); ``values`` is -inf at padding.

    -> ((m_cap,) int32 sorted by value desc, valid first m_valid; (U,) bool mask)."""
    _, idx = lax.top_k(values, m_cap)
    idx = idx.astype(jnp.int32)
    valid = jnp.arange(m_cap) < m_valid
    return idx, jnp.zeros(values.shape[0], bool).at[idx].set(valid)


@functools.partial(jax.jit, static_argnames=("m_cap",))
def _preselect_random(key, pool_mask, m_valid, *, m_cap):
    """Uniformly random m_valid of the valid rows, without replacement: the rows
    with the largest random 31-bit integers. The j-th valid row gets the j-th
    integer of one draw, so where padding rows sit changes nothing.
    -> like :func:`_preselect_top`."""
    r = (jax.random.bits(key, pool_mask.shape, jnp.uint32) >> 1).astype(jnp.int32)
    rank = jnp.cumsum(pool_mask.astype(jnp.int32)) - 1
    r = r[jnp.clip(rank, 0, pool_mask.shape[0] - 1)]
    return _preselect_top(jnp.where(pool_mask, r, -1), m_valid, m_cap=m_cap)


@functools.partial(jax.jit, static_argnames=("num_classes", "include_labeled"))
def _subpool(labeled_emb, labeled_y, labeled_probs, lab_mask, pool_emb, pool_probs, cand_idx,
             m_valid, train_values, values, *, num_classes, include_labeled):
    """The selector's compact pool: valid labeled rows first (if included), then the
    m_valid candidates ``pool[cand_idx[:m_valid]]``, then zero padding.

    Returns ``(sub, is_labeled, is_candidate, row_to_pool)``: the pool dict
    ((S, d) embeddings, (S, C) probs, (S,) scores if values), (S,) bool flags and
    (S,) int32 pool row of each candidate row (-1 elsewhere).
    """
    dt = jnp.result_type(labeled_emb.dtype, pool_emb.dtype)
    pdt = pool_probs.dtype
    n_cand = cand_idx.shape[0]
    n_lab_rows = labeled_emb.shape[0] if include_labeled else 0
    s = n_lab_rows + n_cand
    j = jnp.arange(s, dtype=jnp.int32)
    if include_labeled:
        n_lab = jnp.sum(lab_mask.astype(jnp.int32))
        order = _first_valid(lab_mask)
        li = order[jnp.clip(j, 0, n_lab_rows - 1)]
        is_lab = j < n_lab
    else:
        n_lab = jnp.int32(0)
        is_lab = jnp.zeros(s, bool)
    is_cand = (j >= n_lab) & (j < n_lab + m_valid)
    ci = cand_idx[jnp.clip(j - n_lab, 0, n_cand - 1)]
    uniform = jnp.full((num_classes,), 1.0 / num_classes, pdt)
    emb = jnp.where(is_cand[:, None], pool_emb[ci].astype(dt), jnp.zeros((), dt))
    probs = jnp.where(is_cand[:, None], pool_probs[ci], uniform)
    scores = None if values is None else jnp.where(is_cand, values[ci], 0.0)
    if include_labeled:
        if labeled_probs is None:
            labeled_probs = jax.nn.one_hot(labeled_y, num_classes, dtype=pdt)
        emb = jnp.where(is_lab[:, None], labeled_emb[li].astype(dt), emb)
        probs = jnp.where(is_lab[:, None], labeled_probs[li].astype(pdt), probs)
        if scores is not None:
            scores = jnp.where(is_lab, train_values[li].astype(scores.dtype), scores)
    sub = {"embeddings": emb, "probs": probs}
    if scores is not None:
        sub["scores"] = scores
    return sub, is_lab, is_cand, jnp.where(is_cand, ci, -1).astype(jnp.int32)


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


def _masks(inputs: AcquisitionInputs):
    lab = inputs.labeled_mask
    if lab is None:
        lab = jnp.ones(inputs.labeled_emb.shape[0], bool)
    pool = inputs.pool_mask
    if pool is None:
        pool = jnp.ones(inputs.pool_emb.shape[0], bool)
    return jnp.asarray(lab, bool), jnp.asarray(pool, bool)


def _front(key, inputs: AcquisitionInputs, config: AcquisitionConfig, arm: Arm, mesh,
           timer: _Timer, max_class_count: int | None = None) -> dict:
    """Stages 1-3 and the compact sub-pool; traceable when ``timer`` is disabled."""
    c = inputs.num_classes
    n_pool = inputs.pool_emb.shape[0]
    lab_mask, pool_mask = _masks(inputs)
    masked_lab = inputs.labeled_mask is not None
    key_filter, key_select = jax.random.split(key)
    out = dict(key_select=key_select, values=None, train_values=None)
    n_valid = jnp.sum(pool_mask.astype(jnp.int32))
    if arm.uses_values:
        tv = run_valuation(config.valuation, inputs.labeled_emb, inputs.labeled_y,
                           inputs.val_emb, inputs.val_y, num_classes=c, mesh=mesh,
                           train_mask=lab_mask if masked_lab else None)
        timer.mark("valuation", tv)
        values = run_estimator(config.estimator, inputs.labeled_emb, inputs.labeled_y, tv,
                               inputs.pool_emb, inputs.pool_probs, num_classes=c, mesh=mesh,
                               max_class_count=max_class_count,
                               train_mask=lab_mask if masked_lab else None)
        values = jnp.where(pool_mask, values, -jnp.inf)
        timer.mark("regression", values)
        out.update(values=values, train_values=tv)
    if arm.filter == "none":
        cand_idx = _first_valid(pool_mask)
        m_valid = n_valid
        out["mask"] = pool_mask
    else:
        m_cap = preselect_size(config.preselect, config.budget, n_pool)
        m_valid = jnp.asarray(_m_table(config, n_pool))[n_valid]
        if arm.filter == "ads":
            cand_idx, mask = _preselect_top(out["values"], m_valid, m_cap=m_cap)
        else:
            cand_idx, mask = _preselect_random(key_filter, pool_mask, m_valid, m_cap=m_cap)
        timer.mark("preselection", cand_idx, mask)
        out["mask"] = mask
    out.update(cand_idx=cand_idx, m_valid=m_valid)
    if arm.selector is None:  # ads-top: candidates are sorted by value, descending
        out["idx"] = cand_idx[: config.budget]
    else:
        out["sub"], out["labeled"], out["cand"], out["row_to_pool"] = _subpool(
            inputs.labeled_emb, inputs.labeled_y, inputs.labeled_probs, lab_mask,
            inputs.pool_emb, inputs.pool_probs, cand_idx, m_valid, out["train_values"],
            out["values"], num_classes=c, include_labeled=config.selector.include_labeled)
    return out


def _class_bound(inputs: AcquisitionInputs, arm: Arm) -> int | None:
    """Largest class of the labeled set (concrete labels only), a static bound that
    lets a per-class value estimator use its per-class layout inside ``jit``."""
    if not arm.uses_values or V.is_tracer(inputs.labeled_y):
        return None
    y = np.asarray(inputs.labeled_y)
    if inputs.labeled_mask is not None:
        if V.is_tracer(inputs.labeled_mask):
            return None
        y = y[np.asarray(inputs.labeled_mask)]
    return int(np.bincount(y, minlength=inputs.num_classes).max())


def _accepts(fn: Callable, name: str) -> bool:
    """Whether a selector takes keyword ``name`` (custom ones may not)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


def _back(front: dict, config: AcquisitionConfig, arm: Arm, n_lab_rows: int, mesh) -> jax.Array:
    """Stage 4: the selector on the sub-pool, picks mapped back to pool rows.

    Traceable for traceable selectors (the built-ins); eager otherwise.
    """
    if arm.selector is None:
        return front["idx"]
    select = get_selector(arm.selector)
    opts = config.selector_kwargs()
    if mesh is not None and _accepts(select, "mesh"):
        opts.setdefault("mesh", mesh)
    if _accepts(select, "max_labeled"):
        opts["max_labeled"] = n_lab_rows if config.selector.include_labeled else 0
    local = select(front["key_select"], front["sub"], config.budget, labeled=front["labeled"],
                   mask=front["cand"], **opts)
    row_to_pool = front["row_to_pool"]
    if isinstance(local, jax.Array) and not V.is_tracer(local) and not V.is_tracer(row_to_pool):
        if local.sharding != row_to_pool.sharding:
            # With a mesh the selector may return its picks on a differently typed
            # mesh (Auto vs Explicit axes); put them where the candidates live.
            local = jax.device_put(local, row_to_pool.sharding)
    return _map_back(local, row_to_pool)


@jax.jit
def _map_back(local, row_to_pool):
    """Sub-pool rows -> pool rows, int32."""
    return row_to_pool[local.astype(jnp.int32)].astype(jnp.int32)


def _traceable_selector(arm: Arm) -> bool:
    return arm.selector is None or bool(SELECTORS.get(arm.selector).meta.get("traceable"))


# ----------------------------------------------------------------------------
# Public entry points
# ----------------------------------------------------------------------------


def _program(config: AcquisitionConfig, mesh, max_class_count, n_lab_rows: int):
    """The whole acquisition as one pure function of (key, inputs)."""
    arm = parse_arm(config.arm)

    def acquisition_program(key, inputs):
        front = _front(key, inputs, config, arm, mesh, _Timer(False), max_class_count)
        idx = _back(front, config, arm, n_lab_rows, mesh)
        return idx, front["values"], front["mask"], front["train_values"], front["m_valid"]

    return acquisition_program


@functools.lru_cache(maxsize=64)
def _fused_jit(config: AcquisitionConfig, mesh, max_class_count, n_lab_rows: int):
    return jax.jit(_program(config, mesh, max_class_count, n_lab_rows))


@functools.lru_cache(maxsize=64)
def _front_jit(config: AcquisitionConfig, mesh, max_class_count):
    arm = parse_arm(config.arm)
    return jax.jit(lambda key, inputs: _front(key, inputs, config, arm, mesh, _Timer(False),
                                              max_class_count))


@functools.lru_cache(maxsize=64)
def make_pool_acquire_fn(config: AcquisitionConfig, *, num_classes: int,
                         mesh: jax.sharding.Mesh | None = None,
                         max_class_count: int | None = None) -> Callable:
    """The acquisition program over the P points of a pool held on the devices.

    For runs whose pool embeddings are global (possibly multi-process)
    sharded arrays: the labeled and unlabeled rows are gathered inside the
    one jitted program from index buffers of fixed capacity, so nothing of
    size P leaves the devices and it compiles once per run.

    Returns:
      ``fn(key, emb (P, d), probs (P, C), labeled (L,) int32, labeled_mask (L,)
      bool, labeled_y (L,) int32, pool (U,) int32, pool_mask (U,) bool, val_emb
      (M, d), val_y (M,)) -> (indices (B,) int32 into ``pool``, values (U,) or
      None, preselect_mask (U,) bool, train_values (L,) or None)``; rows of P
      named by ``labeled`` / ``pool`` (masked-out entries are padding).
    """
    def acquisition_program(key, emb, probs, labeled, labeled_mask, labeled_y, pool,
                            pool_mask, val_emb, val_y):
        inputs = AcquisitionInputs(
            labeled_emb=emb[labeled], labeled_y=labeled_y, pool_emb=emb[pool],
            pool_probs=probs[pool], val_emb=val_emb, val_y=val_y, num_classes=num_classes,
            labeled_probs=probs[labeled], labeled_mask=labeled_mask, pool_mask=pool_mask)
        prog = _program(config, mesh, max_class_count, int(labeled.shape[0]))
        idx, values, mask, tv, _ = prog(key, inputs)
        return idx, values, mask, tv

    if not _traceable_selector(parse_arm(config.arm)):
        raise ValueError(f"arm {config.arm!r}: its selector is not registered as traceable, so "
                         "it cannot run inside the device-resident acquisition program; use "
                         "loop.mesh='none' (single process).")
    return jax.jit(acquisition_program)


def make_acquire_fn(config: AcquisitionConfig, *, mesh: jax.sharding.Mesh | None = None,
                    max_class_count: int | None = None) -> Callable:
    """The acquisition step as ONE jitted pure function (selector included).

    Valuation, regression, pre-selection, the compact sub-pool and the
    selector run as one ``jax.jit`` program. With fixed-capacity inputs
    (``labeled_mask`` / ``pool_mask``) it compiles once for a whole run. A
    registered selector that is not traceable (``register_selector(...,
    traceable=False)``) runs as its own call after the fused front.

    Args:
      config: an :class:`AcquisitionConfig`.
      mesh: optional mesh for valuation, regression and the selector.
      max_class_count: static bound on the labeled points of one class (used
        by per-class value estimators); None: computed from the labels of each
        call when they are concrete (a new bound compiles a new program),
        else the number of labeled rows.

    Returns:
      ``fn(key, inputs) -> (indices (B,) int32, values (U,) float or None,
      preselect_mask (U,) bool, train_values (L,) float or None)``.
      ``inputs`` must be an :class:`AcquisitionInputs` with ``num_classes``
      set (it is static). No input checks inside: validate with
      :func:`acquire` (``fused=True`` does both).
    """
    if not isinstance(config, AcquisitionConfig):
        raise TypeError(f"`config` must be an AcquisitionConfig, got {type(config).__name__}.")
    arm = parse_arm(config.arm)

    def fn(key, inputs):
        if inputs.num_classes is None:
            raise ValueError("`inputs.num_classes` must be set for make_acquire_fn "
                             "(use inputs.resolved()).")
        lmax = max_class_count if max_class_count is not None else _class_bound(inputs, arm)
        n_lab_rows = int(inputs.labeled_emb.shape[0])
        if _traceable_selector(arm):
            idx, values, mask, tv, _ = _fused_jit(config, mesh, lmax, n_lab_rows)(key, inputs)
            return idx, values, mask, tv
        front = _front_jit(config, mesh, lmax)(key, inputs)
        idx = _back(front, config, arm, n_lab_rows, mesh)
        return idx, front["values"], front["mask"], front["train_values"]

    return fn


def acquire(
    key: jax.Array,
    inputs: AcquisitionInputs,
    config: AcquisitionConfig,
    *,
    fused: bool = False,
    mesh: jax.sharding.Mesh | None = None,
    max_class_count: int | None = None,
) -> AcquisitionResult:
    """Pick ``config.budget`` points of the unlabeled pool (see module doc).

    Args:
      key: PRNG key (typed ``jax.random.key`` or legacy uint32 key).
      inputs: :class:`AcquisitionInputs` (labeled, pool, validation arrays;
        optional padding masks).
      config: :class:`AcquisitionConfig`.
      fused: run the whole step as one jitted program (:func:`make_acquire_fn`);
        timings then hold only ``"total"``. Same picks as the staged path.
      mesh: optional :class:`jax.sharding.Mesh` for valuation, regression and
        the selector (passed as ``mesh=`` to selectors that take it).
      max_class_count: static bound for per-class value estimators (see
        :func:`make_acquire_fn`); the loop passes one bound per run.

    Returns:
      :class:`AcquisitionResult`; ``indices`` are ``budget`` unique int32
      indices into the valid rows of ``inputs.pool_emb``.

    Raises:
      ValueError / TypeError naming the argument: bad key, unknown arm or
      selector, budget larger than the pool, mismatched shapes, non-finite
      embeddings or probabilities, labels out of range, missing validation
      set for ADS arms.
    """
    if not isinstance(config, AcquisitionConfig):
        raise TypeError(f"`config` must be an AcquisitionConfig, got {type(config).__name__}.")
    arm = parse_arm(config.arm)
    key = V.check_key("key", key)
    inputs = _check_inputs(inputs, arm, config.budget)
    inputs = jax.tree.map(jnp.asarray, inputs)
    lmax = max_class_count if max_class_count is not None else _class_bound(inputs, arm)
    n_lab_rows = int(inputs.labeled_emb.shape[0])
    if fused:
        t0 = time.perf_counter()
        idx, values, mask, tv = make_acquire_fn(config, mesh=mesh, max_class_count=lmax)(
            key, inputs)
        jax.block_until_ready((idx, values, mask, tv))
        timings = {"total": time.perf_counter() - t0}
    else:
        timer = _Timer(True)
        front = _front(key, inputs, config, arm, mesh, timer, lmax)
        idx = _back(front, config, arm, n_lab_rows, mesh)
        timer.mark("diversity", idx)
        values, mask, tv = front["values"], front["mask"], front["train_values"]
        timings = dict(timer.times)
        timings["total"] = sum(timer.times.values())
    return AcquisitionResult(indices=idx, values=values, preselect_mask=mask, timings=timings,
                             preselect_size=int(np.asarray(mask).sum()), train_values=tv,
                             arm=config.arm)
