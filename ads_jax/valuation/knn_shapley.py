"""Exact KNN-Shapley data values, averaged over a validation set.

Public entry point: :func:`knn_shapley`. The per-validation-point math lives in
:mod:`ads_jax.valuation.recursions`, the sorting in
:mod:`ads_jax.valuation.sorting`; this module validates inputs, chunks the
validation set, vectorises with ``vmap`` and optionally shards with
``shard_map``.

Pipeline for one chunk of validation points (``c`` rows)::

    dist  = pairwise distances                    (c, N)   ads_jax.distances
    a, rank = stable row-wise argsort, sorted      (c, N)   sorting.sort_matches
              match indicators 1[train_y[perm] == val_y], inverse permutation
    s     = vmap(recursion)(a)                     (c, N)   sorted order
    s     = take_along_axis(s, rank)               (c, N)   back to training order
    values += sum over the chunk's rows

Ties in distance are broken by training index: of two equidistant training
points the one with the lower index counts as nearer. The utility of every
variant is defined with this order, so the values are exact Shapley values of a
well-defined game also when distances tie (e.g. duplicated points).

Numerics: training and validation points are first moved into one shared
:class:`ads_jax.distances.Frame` (centered on the midpoint of their
per-coordinate range, scaled by a power of two; exact min/max reductions, so
identical under any mesh), and the distances are ranked in it. The values are
therefore invariant under translation (a shared offset cancels before the
GEMM instead of swamping the distances) and scaling (no overflow / underflow
of squared norms at any magnitude), up to the rounding of the inputs. The
``"threshold"`` radius ``tau`` is given in the caller's units and converted
into the frame exactly (power-of-two rescale of its mantissa / exponent), so
it may exceed the dtype's range (``tau = 1e40`` for embeddings ~1e20).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
import typing
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from ads_jax import _validation as V
from ads_jax.sharding import check_mesh
from ads_jax.valuation.registry import VALUATIONS, Valuation
from ads_jax.distances import METRICS, _pairwise, dist_exponent, metric_frame, mul_pow2, to_frame
from ads_jax.valuation.recursions import (
    Recursion,
    RecursionContext,
    harmonic_table,
    parallel_sorted,
    scan_sorted,
    threshold_values,
)
from ads_jax.valuation.sorting import sort_matches

__all__ = ["METHODS", "TRAIN_AXIS", "knn_shapley", "knn_shapley_unchecked", "knn_variant",
           "knn_variants"]

METHODS = ("auto", "parallel", "scan")
TRAIN_AXIS = "train"
"""Mesh axis name over which training points are sharded (all others: validation)."""

# Default chunk: at most this many (validation x training) entries per device at
# a time. On CPU small chunks stay in cache (measured: 2**21 needs ~1.4x less CPU
# time than 2**23 at N = 50,000); accelerators want few, big sorts (float32:
# 128 MiB per live (c, N) temporary at 2**25, well under 1 GiB in all).
_CHUNK_ELEMS = {"cpu": 1 << 21}
_CHUNK_ELEMS_DEFAULT = 1 << 25


class _Plan(NamedTuple):
    """Static configuration of one compiled valuation program (hashable)."""

    n: int  # real number of training points
    n_pad: int  # padded to a multiple of the train-axis size
    chunk: int  # validation rows per chunk, per device
    m_loc: int  # padded validation rows per validation shard
    recursion: Recursion | None  # None for the threshold variant
    options: Any  # the variant's typed options (hashable), or None
    masked: bool  # a train_mask marks absent players (traced count)
    path: str  # "parallel" | "scan" | "threshold"
    sorter: str  # "host" | "xla"
    metric: str
    return_matrix: bool
    mesh: Mesh | None
    train_axis: str | None
    train_size: int
    val_axes: tuple[str, ...]


def knn_shapley(
    train_x: jax.Array,
    train_y: jax.Array,
    val_x: jax.Array,
    val_y: jax.Array,
    *,
    num_classes: int,
    k: int = 5,
    variant: str | Recursion = "jia",
    tau: float | None = None,
    metric: str = "sqeuclidean",
    method: str = "auto",
    val_chunk_size: int | None = None,
    return_matrix: bool = False,
    mesh: Mesh | None = None,
    options: Any = None,
    train_mask: Any = None,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """Exact KNN-Shapley values of training points, averaged over validation points.

    For each validation point ``(x, y)`` the game's players are the ``N``
    training points and the utility of a subset ``S`` is a KNN classifier's
    score on ``(x, y)`` when trained on ``S``; the result is the Shapley value
    of every training point, averaged over the ``M`` validation points.
    Utilities (``a_j = 1`` if the j-th nearest member of ``S`` has label ``y``;
    ties in distance go to the lower training index):

    * ``"jia"`` (Jia et al. 2019): ``U(S) = (1/K) sum_{j<=min(K,|S|)} a_j``,
      ``U(empty) = 0``. Exact for every ``K >= 1`` including ``K > N`` (base case
      ``a_N / max(N, K)``; the published ``a_N / N`` is wrong for ``K > N``).
    * ``"soft"`` (soft-label KNN-Shapley, Wang & Jia 2023):
      ``U(S) = (1/min(K,|S|)) sum_{j<=min(K,|S|)} a_j``, ``U(empty) = 1/C``.
    * ``"threshold"`` (Threshold KNN-Shapley, Wang et al. 2023): no ``K``; the
      neighbours are the members of ``S`` with ``distance <= tau``;
      ``U(S)`` is their fraction of matching labels, ``1/C`` if there are none.
      ``k`` is ignored.
    * any other name registered with a Recursion by
      :func:`ads_jax.valuation.register_valuation`, or a
      :class:`~ads_jax.valuation.recursions.Recursion` itself: your own
      recursion over the sorted match indicators (see that module).

    Shapley efficiency holds per validation point: ``sum_i s_i = U(D) - U(empty)``.

    Args:
      train_x: (N, d) float training features (embeddings).
      train_y: (N,) int training labels in ``[0, num_classes)``.
      val_x: (M, d) float validation features.
      val_y: (M,) int validation labels in ``[0, num_classes)``.
      num_classes: number of classes ``C`` (>= 1).
      k: number of neighbours ``K`` (>= 1; may exceed N). Traced, so sweeping K
        does not recompile.
      variant: a registered KNN-Shapley variant (``"jia"``, ``"soft"``,
        ``"threshold"``, or one of yours: see
        :func:`ads_jax.valuation.available_valuations`) or a ``Recursion``.
      tau: distance threshold (in the units of ``metric``, e.g. squared
        Euclidean); required for, and only allowed with, ``"threshold"``.
        Compared with the distances exactly in the data's frame (module
        docstring), so it may exceed the dtype's range (e.g. ``1e40`` for
        squared distances of float32 embeddings ~1e20).
      metric: ``"sqeuclidean"`` (default), ``"euclidean"`` or ``"cosine"``;
        the ranking is the same for the first two.
      method: ``"auto"`` (default): the parallel recursion (reverse cumulative
        sum) with the fastest stable sort for the backend -- NumPy on the host
        via ``jax.pure_callback`` on CPU, ``lax.sort`` on GPU/TPU.
        ``"parallel"``: the parallel recursion with ``lax.sort`` on every
        backend (pure XLA). ``"scan"``: the literal recursion as a
        ``lax.scan`` from the farthest to the nearest point, ``lax.sort``.
        All three give the same values; ``"threshold"`` needs no sort and
        ignores the distinction.
      val_chunk_size: validation points processed at once per device (peak
        memory is O(val_chunk_size x N)); default: as many as keep a chunk
        at ~2M (CPU) / ~32M (GPU/TPU) distance entries. Rounded up to a
        multiple of the train-axis size when sharding training points.
      return_matrix: also return the (M, N) per-validation-point values.
      mesh: optional ``jax.sharding.Mesh``. Training points are sharded over the
        mesh axis named ``"train"`` (if present), validation points over all
        other axes. Results equal the single-device run.
      options: options of a registered variant (a mapping checked against its
        options schema, or the typed options object); ``None`` = its defaults.
        Handed to the recursion as ``ctx.options``.
      train_mask: optional (N,) bool: False rows are absent players (value 0,
        and every other value equals the one without them). Lets one
        compiled program serve a growing labeled set held in a fixed buffer.

    Returns:
      ``values``, (N,) float (float32, or float64 for float64 inputs with
      ``jax_enable_x64``); with ``return_matrix=True`` the tuple
      ``(values, per_val)`` with ``per_val`` (M, N) and
      ``values == per_val.mean(0)``.

    Raises:
      ValueError / TypeError: bad shapes, dtypes, NaN/inf features, labels out
      of range, ``k < 1``, empty sets, missing or misplaced ``tau``, unknown
      ``variant``/``metric``/``method``.
    """
    # ---------------------------------------------------------- input checks
    train_x, train_y, val_x, val_y, num_classes, k = check_knn_inputs(
        train_x, train_y, val_x, val_y, num_classes, k, metric, train_mask)
    V.check_choice("method", method, METHODS)
    recursion, options = _check_variant(variant, options)
    if recursion is None and tau is None and options is not None:
        tau = options.tau  # threshold's radius given as options={"tau": ...}
    tau = _check_tau(tau, recursion is None)
    if recursion is None:
        options = None
    if val_chunk_size is not None:
        val_chunk_size = V.check_positive_int("val_chunk_size", val_chunk_size)
    if not isinstance(return_matrix, (bool, np.bool_)):
        raise TypeError(f"`return_matrix` must be a bool, got {type(return_matrix).__name__}.")
    check_mesh("mesh", mesh)
    if int(train_x.shape[0]) >= 2**31 - 1:
        raise ValueError(f"`train_x` has {train_x.shape[0]} points; at most 2**31 - 2 are "
                         "supported.")
    if recursion is not None and method == "parallel" and recursion.coef is None:
        raise ValueError(
            f"variant {recursion.name!r} has no `coef` (no parallel form); "
            "use method='scan' or 'auto'."
        )
    return knn_shapley_unchecked(
        train_x, train_y, val_x, val_y, num_classes=num_classes, k=k, recursion=recursion,
        tau=tau, metric=metric, method=method, val_chunk_size=val_chunk_size,
        return_matrix=bool(return_matrix), mesh=mesh, options=options, train_mask=train_mask)


def check_knn_inputs(train_x, train_y, val_x, val_y, num_classes, k, metric, train_mask, *,
                     traced_k: bool = False):
    """Eager checks of a KNN game's inputs, shared by every KNN valuation (outside jit).

    Args:
      train_x: (N, d) float. train_y: (N,) int in [0, num_classes).
      val_x: (M, d) float. val_y: (M,) int in [0, num_classes).
      num_classes: int >= 1. k: int >= 1 (a tracer too when ``traced_k``).
      metric: a name in :data:`ads_jax.distances.METRICS`.
      train_mask: (N,) bool or None.

    Returns:
      ``(train_x, train_y, val_x, val_y, num_classes, k)`` as checked arrays and ints.

    Raises:
      ValueError / TypeError: naming the argument (shapes, dtypes, NaN/inf,
      labels out of range, k < 1, unknown metric).
    """
    if not (traced_k and V.is_tracer(k)):
        k = V.check_positive_int("k", k)
    train_x, train_y, val_x, val_y, num_classes = V.check_train_val(
        train_x, train_y, val_x, val_y, num_classes)
    V.check_choice("metric", metric, METRICS)
    if train_mask is not None:
        V.check_array("train_mask", train_mask, ndim=1, kind="b")
        V.check_same_length(train_x=train_x, train_mask=train_mask)
    return train_x, train_y, val_x, val_y, num_classes, k


def knn_shapley_unchecked(train_x, train_y, val_x, val_y, *, num_classes: int, k: int,
                          recursion: Recursion | None, tau: float | None = None,
                          metric: str = "sqeuclidean", method: str = "auto",
                          val_chunk_size: int | None = None, return_matrix: bool = False,
                          mesh: Mesh | None = None, options: Any = None,
                          train_mask: Any = None):
    """:func:`knn_shapley` without its input checks (the caller validated them).

    ``recursion`` is a :class:`Recursion`, or None for the threshold closed
    form (then ``tau`` is required). ``train_mask`` (N,) bool, optional:
    False rows of the training buffer are absent players (value 0; every other
    value equals the one computed without them) -- the fixed-shape
    acquisition program passes a fixed-capacity labeled buffer this way, so
    one compiled program serves every labeled-set size. Shapes, dtypes and
    results as :func:`knn_shapley`. Used by the acquisition step, which checks
    its inputs once at its own boundary.
    """
    n, m = int(train_x.shape[0]), int(val_x.shape[0])

    # ------------------------------------------------------------------ plan
    platform = _platform(mesh, (train_x, val_x))
    if recursion is None:
        path, sorter = "threshold", "xla"
    else:
        path = "scan" if method == "scan" or recursion.coef is None else "parallel"
        sorter = "host" if (method == "auto" and platform == "cpu") else "xla"

    train_axis, train_size, val_axes, val_size = None, 1, (), 1
    if mesh is not None:
        names = tuple(mesh.axis_names)
        if TRAIN_AXIS in names and mesh.shape[TRAIN_AXIS] > 1:
            train_axis, train_size = TRAIN_AXIS, int(mesh.shape[TRAIN_AXIS])
        val_axes = tuple(a for a in names if a != TRAIN_AXIS)
        val_size = int(math.prod(mesh.shape[a] for a in val_axes))
    n_pad = -(-n // train_size) * train_size
    n_loc = n_pad // train_size
    m_per_shard = -(-m // val_size)
    if val_chunk_size is not None:
        max_rows = val_chunk_size
    else:
        max_rows = max(1, _CHUNK_ELEMS.get(platform, _CHUNK_ELEMS_DEFAULT) // n_loc)
    num_chunks = -(-m_per_shard // max_rows)
    chunk = -(-m_per_shard // num_chunks)
    chunk = -(-chunk // train_size) * train_size
    plan = _Plan(
        n=n, n_pad=n_pad, chunk=chunk, m_loc=num_chunks * chunk, recursion=recursion,
        options=options, masked=train_mask is not None, path=path, sorter=sorter,
        metric=metric, return_matrix=bool(return_matrix),
        mesh=mesh, train_axis=train_axis, train_size=train_size, val_axes=val_axes,
    )

    dtype = jax.dtypes.canonicalize_dtype(  # float64 only with jax_enable_x64
        np.result_type(np.dtype(train_x.dtype), np.dtype(val_x.dtype), np.float32)
    )
    harmonic = jnp.asarray(harmonic_table(n, np.dtype(dtype)))
    tau_parts = _tau_parts(0.0 if tau is None else tau, dtype)
    mask = jnp.ones((n,), bool) if train_mask is None else jnp.asarray(train_mask, bool)
    values, per_val = _run(
        train_x, jnp.asarray(train_y).astype(jnp.int32), mask, val_x,
        jnp.asarray(val_y).astype(jnp.int32), jnp.asarray(k, jnp.int32),
        jnp.asarray(num_classes, jnp.int32), tau_parts, harmonic, plan=plan,
    )
    return (values, per_val) if return_matrix else values


# --------------------------------------------------------------------- checks
def _check_variant(variant: Any, options: Any) -> tuple[Recursion | None, Any]:
    """(Recursion, typed options) of a sort-based variant; (None, typed options) for the
    threshold closed form."""
    if isinstance(variant, Recursion):
        if not (callable(variant.base) and callable(variant.step)):
            raise TypeError("`variant` Recursion needs callable `base` and `step`.")
        return variant, options
    if not isinstance(variant, str):
        raise TypeError(
            f"`variant` must be a registered KNN-Shapley variant {list(knn_variants())} or a "
            f"Recursion, got {type(variant).__name__}."
        )
    entry = VALUATIONS.get(variant, arg="variant")
    marker = getattr(entry.factory, "knn_variant", None)
    if marker is None:
        raise ValueError(
            f"`variant`={variant!r} is a registered valuation but not a KNN-Shapley recursion "
            f"(KNN-Shapley variants: {list(knn_variants())}); build it with "
            "ads_jax.valuation.build_valuation(ValuationConfig(name=...)).")
    if options is None and marker.recursion is None:
        return None, None  # threshold: the radius comes as `tau`
    if options is None or not dataclasses.is_dataclass(options):
        options = VALUATIONS.typed(variant, options)
    return marker.recursion, options


def knn_variants() -> tuple[str, ...]:
    """Registered valuations that run on this exact KNN-Shapley engine."""
    return tuple(n for n in VALUATIONS.names()
                 if getattr(VALUATIONS.get(n).factory, "knn_variant", None) is not None)


class _KNNVariant(NamedTuple):
    recursion: Recursion | None
    options: type | None


def knn_variant(recursion: Recursion | None, *, options: type | None = None,
                joining_values: Any = None):
    """A valuation factory that runs ``recursion`` on the exact engine.

    Register the result: ``register_valuation("mine", knn_variant(MINE,
    options=MineOptions), utility=...)``.

    Args:
      recursion: a :class:`Recursion`, or None for the threshold closed form
        (its options must then have a ``tau`` field).
      options: optional frozen dataclass of the variant's options; its fields
        become the factory's keyword options and the recursion receives the
        typed object as ``ctx.options``.
      joining_values: optional ``fn(train_x, train_y, val_x, val_y, query_x, *,
        num_classes, k, metric, train_mask) -> (Q, C)``, the exact value of a
        joining point (for the ``insertion`` estimator).

    Returns:
      ``factory(*, k, metric, **options) -> Valuation``.
    """
    if recursion is not None and not isinstance(recursion, Recursion):
        raise TypeError(f"`recursion` must be a Recursion or None, got {type(recursion).__name__}.")
    if options is not None and not (isinstance(options, type) and dataclasses.is_dataclass(options)):
        raise TypeError(f"`options` must be a dataclass type, got {options!r}.")
    if recursion is None and (options is None or "tau" not in
                              {f.name for f in dataclasses.fields(options)}):
        raise ValueError("the threshold closed form (recursion=None) needs options with `tau`.")

    def factory(*, k: int, metric: str, **opts) -> Valuation:
        typed = options(**opts) if options is not None else None
        tau = typed.tau if recursion is None else None

        def values(train_x, train_y, val_x, val_y, *, num_classes, train_mask=None, mesh=None,
                   key=None):
            return knn_shapley_unchecked(
                train_x, train_y, val_x, val_y, num_classes=num_classes, k=k,
                recursion=recursion, tau=tau, metric=metric, mesh=mesh,
                options=None if recursion is None else typed, train_mask=train_mask)

        joining = None
        if joining_values is not None:
            def joining(train_x, train_y, val_x, val_y, query_x, *, num_classes,
                        train_mask=None, mesh=None):
                return joining_values(train_x, train_y, val_x, val_y, query_x,
                                      num_classes=num_classes, k=k, metric=metric,
                                      train_mask=train_mask)

        return Valuation(values=values, joining_values=joining, recursion=recursion,
                         options=typed)

    params = [inspect.Parameter("k", inspect.Parameter.KEYWORD_ONLY),
              inspect.Parameter("metric", inspect.Parameter.KEYWORD_ONLY)]
    if options is not None:
        hints = typing.get_type_hints(options)
        for f in dataclasses.fields(options):
            default = (f.default if f.default is not dataclasses.MISSING
                       else inspect.Parameter.empty)
            params.append(inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                                            default=default, annotation=hints[f.name]))
            factory.__annotations__[f.name] = hints[f.name]
    factory.__signature__ = inspect.Signature(params)
    factory.knn_variant = _KNNVariant(recursion, options)
    factory.__name__ = f"knn_variant_{getattr(recursion, 'name', 'threshold')}"
    return factory


def _check_tau(tau: Any, needed: bool) -> Any:
    if not needed:
        if tau is not None:
            raise ValueError(
                "`tau` is only used by variant='threshold'; drop it or set "
                "variant='threshold'."
            )
        return None
    if tau is None:
        raise ValueError(
            "variant='threshold' needs `tau`, the neighbourhood radius in the units "
            "of `metric` (e.g. a quantile of the validation-to-training distances)."
        )
    if V.is_tracer(tau):
        return tau
    if isinstance(tau, bool) or not (
        isinstance(tau, numbers.Real) or (hasattr(tau, "shape") and np.ndim(tau) == 0)
    ):
        raise TypeError(f"`tau` must be a real number, got {type(tau).__name__}.")
    t = float(tau)
    if not math.isfinite(t) or t < 0:
        raise ValueError(
            f"`tau` must be a finite number >= 0 (distances are non-negative), got {t}."
        )
    return t


def _tau_parts(tau: Any, dtype) -> tuple[jax.Array, jax.Array]:
    """``tau`` as (mantissa, exponent): ``tau = m * 2**e``, m () ``dtype``, e ()
    int32. A radius in the caller's units need not be representable in
    ``dtype`` (``tau ~ 1e40`` for squared distances of embeddings ~1e20 in
    float32); its value in the data's frame usually is."""
    if V.is_tracer(tau):
        m, e = jnp.frexp(jnp.asarray(tau, dtype))
        return m, e.astype(jnp.int32)
    m, e = math.frexp(float(tau))
    return jnp.asarray(m, dtype), jnp.asarray(e, jnp.int32)


def _platform(mesh: Mesh | None, arrays: tuple) -> str:
    """Platform the computation will run on ("cpu", "gpu", "tpu", ...)."""
    if mesh is not None:
        return mesh.devices.flat[0].platform
    for a in arrays:
        if isinstance(a, jax.Array) and not V.is_tracer(a):
            try:
                return next(iter(a.devices())).platform
            except Exception:  # pragma: no cover - deleted / exotic arrays
                pass
    return jax.default_backend()


# ----------------------------------------------------------------- computation
@partial(jax.jit, static_argnames=("plan",))
def _run(train_x, train_y, train_mask, val_x, val_y, k, num_classes, tau_parts, harmonic, *,
         plan: _Plan):
    n, m = train_x.shape[0], val_x.shape[0]
    dtype = jnp.result_type(train_x.dtype, val_x.dtype, jnp.float32)
    # Shared frame of all real points (before padding; exact min/max
    # reductions, so the same for any mesh): distances are ranked and
    # compared with tau in frame units.
    where = None
    if plan.masked:
        where = (train_mask, jnp.ones((m,), bool))
    frame = metric_frame(train_x, val_x, metric=plan.metric, where=where)
    train_x, val_x = to_frame(train_x, frame), to_frame(val_x, frame)
    if plan.masked:  # absent players: zero rows (never overflow), excluded below
        train_x = jnp.where(train_mask[:, None], train_x, jnp.zeros((), train_x.dtype))
    tau_m, tau_e = tau_parts
    # tau * 2**-p in one exact step from its mantissa (never via the caller's
    # units, which may not be representable): 0 / inf only if the framed
    # radius itself under- / overflows.
    tau = mul_pow2(tau_m.astype(dtype), tau_e - dist_exponent(frame, plan.metric))
    val_size = int(math.prod(plan.mesh.shape[a] for a in plan.val_axes)) if plan.val_axes else 1
    m_pad = plan.m_loc * val_size
    tx = jnp.pad(train_x, ((0, plan.n_pad - n), (0, 0)))
    ty = jnp.pad(train_y, (0, plan.n_pad - n))
    tvalid = jnp.pad(train_mask, (0, plan.n_pad - n))
    vx = jnp.pad(val_x, ((0, m_pad - m), (0, 0)))
    vy = jnp.pad(val_y, (0, m_pad - m))
    vw = (jnp.arange(m_pad) < m).astype(dtype)
    args = (tx, ty, tvalid, vx, vy, vw, k, num_classes, tau, harmonic)
    body = partial(_local_values, plan=plan)
    if plan.mesh is not None:
        t_spec = P(plan.train_axis)
        v_spec = P(plan.val_axes if plan.val_axes else None)
        in_specs = (t_spec, t_spec, t_spec, v_spec, v_spec, v_spec, P(), P(), P(), P())
        args = tuple(_place(a, plan.mesh, sp) for a, sp in zip(args, in_specs, strict=True))
        body = jax.shard_map(
            body,
            mesh=plan.mesh,
            in_specs=in_specs,
            out_specs=(t_spec, P(plan.val_axes if plan.val_axes else None, plan.train_axis)),
            check_vma=False,
        )
    total, per_val = body(*args)
    if plan.mesh is not None and n != plan.n_pad:  # uneven slices of sharded dims:
        total = _place(total, plan.mesh, P())  # replicate first (explicit meshes)
    values = total[:n] / m
    if not plan.return_matrix:
        return values, None
    if plan.mesh is not None and (n != plan.n_pad or m != m_pad):
        per_val = _place(per_val, plan.mesh, P())
    return values, per_val[:m, :n]


def _place(x, mesh: Mesh, spec: P):
    """Lay ``x`` out as ``spec`` on ``mesh`` (explicit or auto mesh axes)."""
    sharding = NamedSharding(mesh, spec)
    if any(t == AxisType.Explicit for t in mesh.axis_types):
        return jax.reshard(x, sharding)
    return lax.with_sharding_constraint(x, sharding)


def _local_values(tx, ty, tvalid, vx, vy, vw, k, num_classes, tau, harmonic, *, plan):
    """Values on one device's shard: (n_loc,) weighted row sums, (m_loc, n_loc) matrix."""
    n_loc, d = tx.shape
    nch = vx.shape[0] // plan.chunk
    dtype = jnp.result_type(tx.dtype, vx.dtype, jnp.float32)

    def one_chunk(acc, xs):
        cx, cy, cw = xs
        row_sum, mat = _chunk_values(
            tx, ty, tvalid, cx, cy, cw, k, num_classes, tau, harmonic, plan
        )
        return acc + row_sum, mat

    xs = (
        vx.reshape(nch, plan.chunk, d),
        vy.reshape(nch, plan.chunk),
        vw.reshape(nch, plan.chunk),
    )
    total, mats = lax.scan(one_chunk, jnp.zeros((n_loc,), dtype), xs)
    if plan.val_axes:
        total = lax.psum(total, plan.val_axes)
    per_val = mats.reshape(nch * plan.chunk, n_loc) if plan.return_matrix else None
    return total, per_val


def _chunk_values(tx, ty, tvalid, cx, cy, cw, k, num_classes, tau, harmonic, plan):
    """One chunk of validation rows -> ((n_loc,) weighted row sum, (c, n_loc) or None)."""
    dist = _pairwise(cx, tx, plan.metric)  # (c, n_loc)
    dtype = dist.dtype
    ax = plan.train_axis

    if plan.path == "threshold":
        in_ball = (dist <= tau) & tvalid[None, :]
        match = ty[None, :] == cy[:, None]
        count = jnp.sum(in_ball, axis=1, dtype=jnp.int32)
        hits = jnp.sum(in_ball & match, axis=1, dtype=jnp.int32)
        if ax is not None:
            count, hits = lax.psum((count, hits), ax)
        s = jax.vmap(threshold_values, in_axes=(0, 0, 0, 0, None, None))(
            in_ball, match.astype(dtype), count, hits, num_classes, harmonic
        )
        return _weighted_rows(cw, s), (s if plan.return_matrix else None)

    padded = plan.n_pad != plan.n or plan.masked
    if padded:  # padding / absent points sort last and are cut before the recursion
        dist = jnp.where(tvalid[None, :], dist, jnp.asarray(jnp.inf, dtype))
    if ax is not None:
        # Rows -> devices along the train axis, columns gathered: each device
        # sorts full rows for c / P validation points.
        rows = plan.chunk // plan.train_size
        dist = lax.all_to_all(dist, ax, split_axis=0, concat_axis=1, tiled=True)
        ty_all = lax.all_gather(ty, ax, tiled=True)
        valid_all = lax.all_gather(tvalid, ax, tiled=True)
        start = lax.axis_index(ax) * rows
        cy_g = lax.dynamic_slice_in_dim(cy, start, rows)
        cw_g = lax.dynamic_slice_in_dim(cw, start, rows)
    else:
        ty_all, valid_all, cy_g, cw_g = ty, tvalid, cy, cw

    match, rank = sort_matches(dist, ty_all, cy_g, sorter=plan.sorter)
    a = match.astype(dtype)
    if plan.masked:
        # A traced number of real players, sorted first: the recursion runs
        # over the whole buffer with ctx.n = that count and zeros past it.
        n_real = jnp.sum(valid_all.astype(jnp.int32))
        a = jnp.where(jnp.arange(plan.n_pad)[None, :] < n_real, a, jnp.zeros((), dtype))
        ctx = RecursionContext(n_real, k, num_classes, harmonic, plan.options, plan.n_pad)
        cut = plan.n_pad
    else:
        if padded:
            a = a[:, : plan.n]
        ctx = RecursionContext(plan.n, k, num_classes, harmonic, plan.options)
        cut = plan.n
    path_fn = parallel_sorted if plan.path == "parallel" else scan_sorted
    s_sorted = jax.vmap(lambda row: path_fn(row, plan.recursion, ctx))(a)
    if padded:
        s = jnp.take_along_axis(s_sorted, jnp.minimum(rank, cut - 1), axis=1)
        s = jnp.where(valid_all[None, :], s, jnp.zeros((), dtype))
    else:
        s = jnp.take_along_axis(s_sorted, rank, axis=1)

    if ax is None:
        return _weighted_rows(cw, s), (s if plan.return_matrix else None)
    if plan.return_matrix:
        s_loc = lax.all_to_all(s, ax, split_axis=1, concat_axis=0, tiled=True)
        return _weighted_rows(cw, s_loc), s_loc
    part = _weighted_rows(cw_g, s)  # (n_pad,)
    return lax.psum_scatter(part, ax, scatter_dimension=0, tiled=True), None


def _weighted_rows(w: jax.Array, s: jax.Array) -> jax.Array:
    """``sum_b w[b] * s[b, :]`` for w (c,), s (c, n) -> (n,).

    A matrix-vector product: XLA:CPU reduces over the leading axis of a
    row-major array ~10x slower than it runs a GEMV. HIGHEST precision keeps
    full float32 on accelerators (no TF32/bf16 passes).
    """
    return jnp.matmul(w.astype(s.dtype), s, precision=lax.Precision.HIGHEST)
