"""The acquisition step as ONE jitted pure program: value, estimate, pre-select, select.

::

    fn = make_acquire_fn(config)               # one jax.jit program per config
    res = fn(key, inputs)                      # AcquisitionResult (a NamedTuple)
    res = acquire(key, inputs, config)         # the same, with input checks

Stages (arm ``<prefilter>+<selector>``; :mod:`ads_jax.acquisition.config`):

1. **valuation** (value pre-filters only) -- values of the labeled points
   against the validation set by the configured valuation component;
2. **estimation** (value pre-filters only) -- those values extrapolated to
   the pool by the configured value estimator;
3. **pre-selection** -- the top ``m`` valid pool rows by the pre-filter's
   score (ties to the lower row), ``m = preselect_size(...)`` for the number
   of valid rows;
4. **selection** -- the selector on a *compact sub-pool*
   ``concat(labeled points, candidates)`` with a ``labeled`` mask, so its cost
   is ``O(L + m)`` instead of ``O(L + U)`` (where ADS's speed-up comes from);
   its picks are mapped back to pool rows.

Labeled points enter every sub-pool (``labeled=True``, unless
``config.selector.include_labeled=False``): k-center and BADGE use them as
existing centers; no selector ever picks them. Their ``"probs"`` are
``inputs.labeled_probs`` if given, else one-hot labels; their ``"scores"``
are their exact values.

Fixed shapes: labeled and pool arrays may be fixed-capacity buffers with
``labeled_mask`` / ``pool_mask``; masked rows are absent, so one compiled
program serves every round of a run. A selector registered as not traceable
runs inside the program through ``jax.pure_callback`` (host, one process).
The host path (:func:`make_acquire_fn`) and the device path
(:func:`make_pool_acquire_fn`, a pool held as global sharded arrays) differ
only in how the inputs are gathered. Per-stage wall times are a profiling
matter (:mod:`ads_jax.acquisition.profile`), not part of the program.

Randomness: ``key`` is split into (pre-filter key, selector key).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ads_jax import _validation as V
from ads_jax.acquisition.config import AcquisitionConfig, Components, preselect_size
from ads_jax.acquisition.prefilters import PrefilterInputs
from ads_jax.sharding import auto_mesh, check_mesh
from ads_jax.valuation import EstimateInputs

__all__ = ["AcquisitionInputs", "AcquisitionResult", "acquire", "make_acquire_fn",
           "make_pool_acquire_fn", "gather_inputs", "check_inputs"]


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["labeled_emb", "labeled_y", "pool_emb", "pool_probs", "val_emb", "val_y",
                 "labeled_probs", "labeled_mask", "pool_mask"],
    meta_fields=["num_classes", "class_capacity"],
)
@dataclasses.dataclass(frozen=True)
class AcquisitionInputs:
    """The model's outputs for the three sets (a pytree; ``num_classes`` and
    ``class_capacity`` static).

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
      val_emb: (M, d) float embeddings of the validation set (value and
        proximity pre-filters).
      val_y: (M,) int validation labels (value pre-filters).
      num_classes: C; ``None`` = ``pool_probs.shape[1]``.
      labeled_probs: optional (L, C) float probabilities of the labeled points
        (only probability-based selectors look at them, and never pick
        labeled points); default one-hot labels.
      labeled_mask: optional (L,) bool, False for padding rows of the labeled
        buffer (None: all rows are labeled points).
      pool_mask: optional (U,) bool, False for padding rows of the pool buffer.
      class_capacity: optional static bound on the labeled points of one class
        (per-class value estimators size their layout by it; a run passes one
        bound for all its rounds). None: computed from concrete labels by
        :meth:`resolved`, else L.
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
    class_capacity: int | None = None

    def resolved(self, *, class_bound: bool = True) -> "AcquisitionInputs":
        """Copy with ``num_classes`` (from ``pool_probs``) and, when ``class_bound``
        and the labels are concrete, ``class_capacity`` filled in."""
        out = self
        if out.num_classes is None:
            out = dataclasses.replace(out, num_classes=int(out.pool_probs.shape[1]))
        if (class_bound and out.class_capacity is None and not V.is_tracer(out.labeled_y)
                and not V.is_tracer(out.labeled_mask)):
            y = np.asarray(out.labeled_y)
            if out.labeled_mask is not None:
                y = y[np.asarray(out.labeled_mask, bool)]
            if y.size:
                cap = int(np.bincount(y.astype(np.int64), minlength=out.num_classes).max())
                out = dataclasses.replace(out, class_capacity=max(cap, 1))
        return out


class AcquisitionResult(NamedTuple):
    """Output of the acquisition program.

    Attributes:
      indices: (B,) int32 unique indices into the valid rows of ``pool_emb``.
      values: (U,) float predicted values of the pool (value pre-filters;
        ``-inf`` at masked-out rows), else None.
      train_values: (L,) float values of the labeled points (value
        pre-filters; 0 at masked-out rows), else None.
      preselect_mask: (U,) bool, the candidates the selector could pick
        (every valid row for plain selector arms).
      preselect_size: () int32, m, the number of candidates.
    """

    indices: jax.Array
    values: jax.Array | None
    train_values: jax.Array | None
    preselect_mask: jax.Array
    preselect_size: jax.Array


# ----------------------------------------------------------------------------
# Stages: pure, traceable; the program composes them, the profiler times them.
# ----------------------------------------------------------------------------


def _masks(inputs: AcquisitionInputs):
    lab = inputs.labeled_mask
    if lab is None:
        lab = jnp.ones(inputs.labeled_emb.shape[0], bool)
    pool = inputs.pool_mask
    if pool is None:
        pool = jnp.ones(inputs.pool_emb.shape[0], bool)
    return jnp.asarray(lab, bool), jnp.asarray(pool, bool)


def _first_valid(mask: jax.Array) -> jax.Array:
    """Row order with the True rows first (in order), then the False ones. (n,) int32."""
    return jnp.argsort(~mask, stable=True).astype(jnp.int32)


def _m_table(config: AcquisitionConfig, n_rows: int) -> np.ndarray:
    """``preselect_size`` for every number of valid pool rows 0..n_rows (host, exact)."""
    b = config.budget
    t = [0] + [preselect_size(config.preselect, b, u) if u >= b else u
               for u in range(1, n_rows + 1)]
    return np.asarray(t, np.int32)


def valuation_stage(comps: Components, key, inputs: AcquisitionInputs, mesh=None):
    """Stage 1: (L,) float values of the labeled points (0 at padding rows)."""
    lab_mask, _ = _masks(inputs)
    train_mask = lab_mask if inputs.labeled_mask is not None else None
    return comps.valuation.values(inputs.labeled_emb, inputs.labeled_y, inputs.val_emb,
                                  inputs.val_y, num_classes=inputs.num_classes,
                                  train_mask=train_mask, mesh=mesh, key=key)


def estimation_stage(comps: Components, inputs: AcquisitionInputs, train_values, mesh=None):
    """Stage 2: (U,) float predicted values of the pool (``-inf`` at padding rows)."""
    lab_mask, pool_mask = _masks(inputs)
    x = EstimateInputs(labeled_emb=inputs.labeled_emb, labeled_y=inputs.labeled_y,
                       labeled_values=train_values,
                       labeled_mask=lab_mask if inputs.labeled_mask is not None else None,
                       pool_emb=inputs.pool_emb, pool_probs=inputs.pool_probs,
                       val_emb=inputs.val_emb, val_y=inputs.val_y,
                       num_classes=inputs.num_classes, class_capacity=inputs.class_capacity)
    values = comps.estimator.estimate(x, valuation=comps.valuation, mesh=mesh)
    return jnp.where(pool_mask, values, -jnp.inf)


def preselect_stage(comps: Components, config: AcquisitionConfig, key, inputs, values,
                    mesh=None):
    """Stage 3: ``(cand_idx (m_cap,) int32, mask (U,) bool, m_valid () int32)``.

    The candidates are the top ``m_valid`` valid rows by the pre-filter's
    score (ties to the lower row), in score order; every valid row (in row
    order) for plain selector arms.
    """
    _, pool_mask = _masks(inputs)
    n_pool = inputs.pool_emb.shape[0]
    n_valid = jnp.sum(pool_mask.astype(jnp.int32))
    if comps.prefilter is None:
        return _first_valid(pool_mask), pool_mask, n_valid
    m_cap = preselect_size(config.preselect, config.budget, n_pool)
    m_valid = jnp.asarray(_m_table(config, n_pool))[n_valid]
    x = PrefilterInputs(pool_emb=inputs.pool_emb, pool_probs=inputs.pool_probs,
                        pool_mask=pool_mask, values=values, val_emb=inputs.val_emb)
    s = comps.prefilter.score(key, x, mesh=mesh)
    low = jnp.iinfo(s.dtype).min if jnp.issubdtype(s.dtype, jnp.integer) else -jnp.inf
    s = jnp.where(pool_mask, s, jnp.array(low, s.dtype))
    _, idx = lax.top_k(s, m_cap)
    idx = idx.astype(jnp.int32)
    valid = jnp.arange(m_cap) < m_valid
    return idx, jnp.zeros(n_pool, bool).at[idx].set(valid), m_valid


def select_stage(comps: Components, config: AcquisitionConfig, key, inputs, cand_idx,
                 m_valid, train_values, values, mesh=None):
    """Stage 4: the selector on the compact sub-pool -> (B,) int32 pool rows.

    With exactly B candidates (a pre-selection raised to the budget, or a pool
    of B) every candidate is picked: the selector does not run and the picks
    are the candidates in pre-filter score order (row order without a pre-filter).
    """
    if comps.selector is None:  # ads-top: candidates are sorted by value, descending
        return cand_idx[: config.budget]
    lab_mask, _ = _masks(inputs)
    include = config.selector.include_labeled

    def diverse():
        sub, is_lab, is_cand, row_to_pool = _subpool(
            inputs.labeled_emb, inputs.labeled_y, inputs.labeled_probs, lab_mask,
            inputs.pool_emb, inputs.pool_probs, cand_idx, m_valid, train_values, values,
            num_classes=inputs.num_classes, include_labeled=include)
        max_labeled = int(inputs.labeled_emb.shape[0]) if include else 0
        local = _run_selector(comps.selector, key, sub, config.budget, is_lab, is_cand, mesh,
                              max_labeled)
        return row_to_pool[local.astype(jnp.int32)].astype(jnp.int32)

    if cand_idx.shape[0] < config.budget:
        return diverse()
    return lax.cond(m_valid == config.budget, lambda: cand_idx[: config.budget], diverse)


def _run_selector(selector, key, sub, budget, is_lab, is_cand, mesh, max_labeled):
    if selector.traceable:
        return selector.select(key, sub, budget, labeled=is_lab, mask=is_cand, mesh=mesh,
                               max_labeled=max_labeled)
    if mesh is not None:
        raise ValueError("a selector registered with traceable=False runs on the host and "
                         "cannot take a device mesh; use loop.mesh='none' (single process).")

    def host(key_data, sub, is_lab, is_cand):
        k = jax.random.wrap_key_data(np.asarray(key_data))
        out = selector.select(k, {n: np.asarray(a) for n, a in sub.items()}, budget,
                              labeled=np.asarray(is_lab), mask=np.asarray(is_cand))
        return np.asarray(out, np.int32)

    return jax.pure_callback(host, jax.ShapeDtypeStruct((budget,), jnp.int32),
                             jax.random.key_data(key), sub, is_lab, is_cand)


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


def _valuation_key(key):
    """The key of randomised valuations: ``fold_in(key, 2)`` (the pre-filter and the
    selector use ``split(key)``, so their streams do not depend on it)."""
    return jax.random.fold_in(key, 2)


def acquisition_program(comps: Components, config: AcquisitionConfig, mesh, key,
                        inputs: AcquisitionInputs) -> AcquisitionResult:
    """The whole step as one pure function of ``(key, inputs)`` (stages 1-4)."""
    if inputs.num_classes is None:
        raise ValueError("`inputs.num_classes` must be set inside the acquisition program "
                         "(use inputs.resolved()).")
    key_filter, key_select = jax.random.split(key)
    values = train_values = None
    if comps.prefilter is not None and comps.prefilter.uses_values:
        train_values = valuation_stage(comps, _valuation_key(key), inputs, mesh)
        values = estimation_stage(comps, inputs, train_values, mesh)
    cand_idx, mask, m_valid = preselect_stage(comps, config, key_filter, inputs, values, mesh)
    idx = select_stage(comps, config, key_select, inputs, cand_idx, m_valid, train_values,
                       values, mesh)
    return AcquisitionResult(indices=idx, values=values, train_values=train_values,
                             preselect_mask=mask, preselect_size=m_valid)


# ----------------------------------------------------------------------------
# Public entry points
# ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def make_acquire_fn(config: AcquisitionConfig, *,
                    mesh: jax.sharding.Mesh | None = None) -> Callable:
    """The acquisition step as ONE jitted pure function (cached per config and mesh).

    Returns:
      ``fn(key, inputs) -> AcquisitionResult``; ``inputs`` an
      :class:`AcquisitionInputs` with ``num_classes`` set (static, like
      ``class_capacity``). With fixed-capacity inputs (``labeled_mask`` /
      ``pool_mask``) it compiles once for a whole run. No input checks inside:
      validate with :func:`acquire` (or :func:`check_inputs`).
    """
    if not isinstance(config, AcquisitionConfig):
        raise TypeError(f"`config` must be an AcquisitionConfig, got {type(config).__name__}.")
    comps = config.components()
    mesh = auto_mesh(check_mesh("mesh", mesh))
    return jax.jit(functools.partial(acquisition_program, comps, config, mesh))


def gather_inputs(emb, probs, labeled, labeled_mask, labeled_y, pool, pool_mask, val_emb,
                  val_y, *, num_classes: int, class_capacity: int | None) -> AcquisitionInputs:
    """:class:`AcquisitionInputs` gathered from the P rows of a pool held on the devices.

    ``emb`` (P, d), ``probs`` (P, C): every pool point's embedding and
    probabilities; ``labeled`` (L,) / ``pool`` (U,) int32 row indices into P
    (masked-out entries are padding); ``labeled_y`` (L,) int32; ``val_emb``
    (M, d), ``val_y`` (M,). Traceable (it runs inside the program).
    """
    return AcquisitionInputs(
        labeled_emb=emb[labeled], labeled_y=labeled_y, pool_emb=emb[pool],
        pool_probs=probs[pool], val_emb=val_emb, val_y=val_y, num_classes=num_classes,
        labeled_probs=probs[labeled], labeled_mask=labeled_mask, pool_mask=pool_mask,
        class_capacity=class_capacity)


@functools.lru_cache(maxsize=64)
def make_pool_acquire_fn(config: AcquisitionConfig, *, num_classes: int,
                         mesh: jax.sharding.Mesh | None = None,
                         class_capacity: int | None = None) -> Callable:
    """The acquisition program over the P points of a pool held on the devices.

    For runs whose pool embeddings are global (possibly multi-process)
    sharded arrays: the labeled and unlabeled rows are gathered inside the
    one jitted program (:func:`gather_inputs`), so nothing of size P leaves
    the devices and it compiles once per run.

    Returns:
      ``fn(key, emb, probs, labeled, labeled_mask, labeled_y, pool, pool_mask,
      val_emb, val_y) -> AcquisitionResult`` (indices into ``pool``).
    """
    comps = config.components()
    mesh = auto_mesh(check_mesh("mesh", mesh))
    if comps.selector is not None and not comps.selector.traceable:
        raise ValueError(f"arm {config.arm!r}: its selector is not registered as traceable, so "
                         "it cannot run inside the device-resident acquisition program; use "
                         "loop.mesh='none' (single process).")

    def pool_program(key, emb, probs, labeled, labeled_mask, labeled_y, pool, pool_mask,
                     val_emb, val_y):
        inputs = gather_inputs(emb, probs, labeled, labeled_mask, labeled_y, pool, pool_mask,
                               val_emb, val_y, num_classes=num_classes,
                               class_capacity=class_capacity)
        return acquisition_program(comps, config, mesh, key, inputs)

    return jax.jit(pool_program)


def acquire(key: jax.Array, inputs: AcquisitionInputs, config: AcquisitionConfig, *,
            mesh: jax.sharding.Mesh | None = None) -> AcquisitionResult:
    """Pick ``config.budget`` points of the unlabeled pool (see the module doc).

    Validates the inputs once (outside jit), fills in ``num_classes`` and
    ``class_capacity``, and runs :func:`make_acquire_fn`'s program.

    Args:
      key: PRNG key (typed ``jax.random.key`` or legacy uint32 key).
      inputs: :class:`AcquisitionInputs` (labeled, pool, validation arrays;
        optional padding masks).
      config: :class:`AcquisitionConfig`.
      mesh: optional :class:`jax.sharding.Mesh` for valuation, estimation and
        the selector.

    Returns:
      :class:`AcquisitionResult`; ``indices`` are ``budget`` unique int32
      indices into the valid rows of ``inputs.pool_emb``.

    Raises:
      ValueError / TypeError naming the argument: bad key, unknown arm or
      selector, budget larger than the pool, mismatched shapes, non-finite
      embeddings or probabilities, labels out of range, missing validation
      set for the arms that read it.
    """
    if not isinstance(config, AcquisitionConfig):
        raise TypeError(f"`config` must be an AcquisitionConfig, got {type(config).__name__}.")
    key = V.check_key("key", key)
    inputs = check_inputs(inputs, config)
    return make_acquire_fn(config, mesh=mesh)(key, jax.tree.map(jnp.asarray, inputs))


def check_inputs(inputs: AcquisitionInputs, config: AcquisitionConfig) -> AcquisitionInputs:
    """Validate ``inputs`` for ``config``'s arm; the resolved inputs (eager, outside jit)."""
    if not isinstance(inputs, AcquisitionInputs):
        raise TypeError(f"`inputs` must be an AcquisitionInputs, got {type(inputs).__name__}.")
    comps = config.components()
    arm = comps.arm
    values = comps.prefilter is not None and comps.prefilter.uses_values
    needs_val = comps.prefilter is not None and (comps.prefilter.needs_validation or (
        values and comps.valuation.needs_validation))
    V.check_array("pool_emb", inputs.pool_emb, ndim=2, kind="f")
    V.check_array("pool_probs", inputs.pool_probs, ndim=2, kind="f")
    V.check_array("labeled_emb", inputs.labeled_emb, ndim=2, kind="f", allow_empty=not values)
    V.check_array("labeled_y", inputs.labeled_y, ndim=1, kind="i", allow_empty=not values)
    inputs = inputs.resolved(class_bound=values)
    c = V.check_positive_int("num_classes", inputs.num_classes)
    V.check_same_length(pool_emb=inputs.pool_emb, pool_probs=inputs.pool_probs)
    V.check_same_length(labeled_emb=inputs.labeled_emb, labeled_y=inputs.labeled_y)
    _check_mask("labeled_mask", inputs.labeled_mask, int(inputs.labeled_emb.shape[0]))
    _check_mask("pool_mask", inputs.pool_mask, int(inputs.pool_emb.shape[0]))
    if inputs.pool_probs.shape[1] != c:
        raise ValueError(
            f"`pool_probs` must have num_classes={c} columns, got shape "
            f"{tuple(inputs.pool_probs.shape)}.")
    d = inputs.pool_emb.shape[1]
    sets = [("labeled_emb", inputs.labeled_emb)]
    if needs_val:
        if inputs.val_emb is None or (values and inputs.val_y is None):
            raise ValueError(
                f"arm {arm.name!r} reads the validation set (its pre-filter "
                f"{arm.filter!r}): pass `val_emb` and `val_y` in AcquisitionInputs.")
        V.check_array("val_emb", inputs.val_emb, ndim=2, kind="f")
        sets.append(("val_emb", inputs.val_emb))
    if values and inputs.val_y is not None:
        V.check_array("val_y", inputs.val_y, ndim=1, kind="i")
        V.check_same_length(val_emb=inputs.val_emb, val_y=inputs.val_y)
        V.check_labels("val_y", inputs.val_y, c)
    if values and inputs.labeled_mask is not None and not V.is_tracer(inputs.labeled_mask):
        if not np.any(np.asarray(inputs.labeled_mask)):
            raise ValueError(f"arm {arm.name!r} values the labeled points, but "
                             "`labeled_mask` masks out every labeled row.")
    for name, a in sets:
        if a.shape[1] != d:
            raise ValueError(
                f"`{name}` has feature dimension {a.shape[1]} but `pool_emb` has {d}; all "
                "embeddings must come from the same model layer.")
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
                f"got {tuple(inputs.labeled_probs.shape)}.")
        V.check_finite("labeled_probs", inputs.labeled_probs)
    for name, a in sets + [("pool_emb", inputs.pool_emb), ("pool_probs", inputs.pool_probs)]:
        V.check_finite(name, a)
    n_pool = int(inputs.pool_emb.shape[0])
    if inputs.pool_mask is not None and not V.is_tracer(inputs.pool_mask):
        n_pool = int(np.count_nonzero(np.asarray(inputs.pool_mask)))
    V.check_budget(config.budget, n_pool, what="unlabeled pool points (valid `pool_emb` rows)")
    return inputs


def _check_mask(name: str, mask: Any, n: int) -> Any:
    if mask is None:
        return None
    V.check_array(name, mask, ndim=1, kind="b", allow_empty=True)
    if not V.is_tracer(mask) and mask.shape[0] != n:
        raise ValueError(f"`{name}` must have one entry per row ({n}), got shape "
                         f"{tuple(mask.shape)}.")
    return mask
