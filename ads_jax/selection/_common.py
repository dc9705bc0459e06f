"""Shared pieces of the batch selectors.

Three concerns live here so that every selector module is only its algorithm:

1. **Boundary checks** (eager, outside ``jit``): PRNG key, the ``pool`` dict
   and its per-point arrays (rank, dtype, finiteness, probability rows, equal
   lengths), ``labeled`` / ``mask`` and the budget against the number of
   candidates. :func:`prepare` runs them all and returns a :class:`Prepared`.

2. **Layout and sharding.** The point axis of the pool is processed in blocks
   of ``layout.block`` rows (a power of two that depends on the pool size only)
   and zero-padded at the end to ``layout.n_pad`` points, a multiple of
   ``n_devices * block``. With a mesh (passed as ``mesh=`` or found on a
   ``NamedSharding`` of the pool arrays) the kernel runs under
   ``jax.shard_map`` with the point axis split over the mesh axes; every
   device then holds whole blocks of consecutive points. Without a mesh the
   same kernel runs on the whole padded pool. Because per-block work has the
   same shapes in both cases and every cross-device reduction is exact
   (argmax, max, one-owner ``psum``, a partition-independent sum tree and
   pre-rounded block sums), a sharded run selects exactly the same points as
   the single-device run.

3. **Collectives** (traceable): :class:`Axis` (no-ops without a mesh) and the
   exact global argmax / top-k / row gather built on it. The numerical
   building blocks shared by the selectors (sum-tree sampler, reproducible
   sums, blocked nearest-center distances) live in :mod:`._kernels`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ads_jax import _validation as V
from ads_jax.sharding import auto_mesh, check_mesh

__all__ = [
    "Axis",
    "Layout",
    "Prepared",
    "prepare",
    "make_layout",
    "run_kernel",
    "pad_rows",
    "global_argmax",
    "global_topk",
    "gather_rows",
    "next_pow2",
    "compute_dtype",
]

#: Largest row block. Blocks bound the temporaries of blocked GEMMs
#: (``block x centers``) and are the leaves of the sampling sum tree.
MAX_BLOCK = 1024
#: Largest number of centers handled by one blocked GEMM.
CENTER_CHUNK = 1024


def next_pow2(n: int) -> int:
    """Smallest power of two >= ``n`` (>= 1)."""
    return 1 << max(0, int(n) - 1).bit_length()


def compute_dtype(*dtypes) -> jnp.dtype:
    """Floating dtype the selectors compute in: the inputs' promoted float
    dtype, at least float32 (float64 only when ``jax_enable_x64`` is on)."""
    return jnp.result_type(*dtypes, jnp.float32)


# --------------------------------------------------------------------------
# Boundary checks
# --------------------------------------------------------------------------


def check_key(key: Any, selector: str, *, required: bool) -> jax.Array | None:
    """Validate a PRNG key; return a typed key (legacy uint32 keys are wrapped).

    ``required=False`` allows ``None`` (deterministic selectors ignore the key).
    """
    if key is None:
        if required:
            raise TypeError(
                f"selector {selector!r} needs a PRNG key: pass `key=jax.random.key(seed)`."
            )
        return None
    return V.check_key("key", key)


@jax.jit
def _prob_stats(p):
    p = p.astype(jnp.float32)
    return jnp.min(p), jnp.max(jnp.abs(jnp.sum(p, axis=-1) - 1.0))


def _as_array(name: str, x: Any) -> Any:
    if isinstance(x, jax.Array) or isinstance(x, np.ndarray):
        return x
    try:
        return np.asarray(x)
    except Exception as e:  # pragma: no cover - exotic inputs
        raise TypeError(f"`{name}` must be an array, got {type(x).__name__}.") from e


def _check_finite(name: str, x: Any) -> None:
    """Finite check; a device array is checked on its device (no host copy of big
    pools, :func:`ads_jax._validation.check_finite`)."""
    V.check_finite(name, x)


#: What each pool field must look like: (ndim, description).
POOL_FIELDS = {
    "embeddings": (2, "(N, d) float embeddings"),
    "probs": (2, "(N, C) float class probabilities"),
    "scores": (1, "(N,) float per-point scores"),
}


def _check_probs(name: str, p: Any) -> None:
    if V.is_tracer(p):
        return
    lo, dev = (float(v) for v in _prob_stats(jnp.asarray(p)))
    tol = 2e-2 if jnp.finfo(p.dtype).bits <= 16 else 1e-3
    if lo < -tol or dev > tol:
        raise ValueError(
            f"`{name}` must hold probability rows (non-negative, each summing to 1); got "
            f"minimum {lo:.3g} and a row sum off by {dev:.3g}. Pass softmax(logits), not logits."
        )


class Prepared(NamedTuple):
    """Validated selector inputs (see :func:`prepare`).

    ``traced``: some input is a tracer (the selector runs inside the caller's
    ``jit``, e.g. the fused acquisition program): concrete checks were skipped
    (the caller validated at its boundary) and ``labeled_idx`` is None.
    """

    key: jax.Array | None
    arrays: dict  # field -> array (unpadded, as given)
    labeled: Any  # (N,) bool array
    mask: Any  # (N,) bool array
    labeled_idx: np.ndarray | None  # (L,) int indices of labeled points (eager only)
    n: int
    budget: int
    layout: "Layout"
    traced: bool = False

    def output(self, x: jax.Array) -> jax.Array:
        """Place a replicated selector output on the caller's mesh.

        Kernels run ``shard_map`` on an Auto-typed copy of the mesh; the
        result is moved (it is tiny) to the mesh the caller used, so it
        composes with their (possibly Explicit-typed) arrays.
        """
        mesh = self.layout.user_mesh
        if mesh is None or self.traced:
            return x
        return jax.device_put(x, NamedSharding(mesh, P()))

    def centers_index(self, max_labeled: int | None) -> tuple[jax.Array, bool | None]:
        """(lab_idx, has_labeled) for the kernels.

        ``lab_idx``: (S,) int32 indices of the labeled points, -1 padding, with
        S = ``max_labeled`` (a static capacity, e.g. the fixed labeled buffer
        of the acquisition program; at least 1) or, eagerly without it, a
        bucket of the count (limits recompilation). ``has_labeled``: static
        bool when it is known here, None when the kernel must decide from
        ``lab_idx`` (traced inputs or a given capacity: one program for
        every count).
        """
        if max_labeled is not None:
            size = max(int(max_labeled), 1)
            if self.labeled_idx is not None:
                if len(self.labeled_idx) > size:
                    raise ValueError(
                        f"`max_labeled`={max_labeled} is smaller than the number of labeled "
                        f"points ({len(self.labeled_idx)}).")
                return padded_index(self.labeled_idx, size), None
            return jnp.nonzero(self.labeled, size=size, fill_value=-1)[0].astype(jnp.int32), None
        if self.labeled_idx is None:
            size = max(self.n, 1)
            return jnp.nonzero(self.labeled, size=size, fill_value=-1)[0].astype(jnp.int32), None
        n_lab = len(self.labeled_idx)
        return padded_index(self.labeled_idx, bucket(n_lab)), n_lab > 0


def prepare(
    selector: str,
    key: Any,
    pool: Any,
    budget: Any,
    labeled: Any,
    mask: Any,
    *,
    fields: tuple[str, ...],
    need_key: bool,
    mesh: Mesh | None = None,
    block_size: int | None = None,
) -> Prepared:
    """Run every boundary check of a selector call and build its layout.

    Args:
      selector: selector name (for messages).
      key, pool, budget, labeled, mask: the selector's arguments.
      fields: pool entries this selector reads (keys of :data:`POOL_FIELDS`).
      need_key: whether ``key`` may be ``None``.
      mesh: optional mesh to shard the point axis over (all of its axes).
      block_size: optional row block (power of two); default from the pool size.

    Returns:
      A :class:`Prepared` with the arrays as given (no copies), ``labeled`` and
      ``mask`` as (N,) bool arrays and the :class:`Layout`.

    Raises:
      TypeError / ValueError naming the offending argument.
    """
    budget = V.check_positive_int("budget", budget)
    key = check_key(key, selector, required=need_key)
    traced = any(V.is_tracer(v) for v in jax.tree.leaves((key, pool, labeled, mask)))
    if not isinstance(pool, Mapping):
        raise TypeError(
            "`pool` must be a dict of per-point arrays, e.g. {'embeddings': (N, d), "
            f"'probs': (N, C)}}; got {type(pool).__name__}."
        )
    arrays = {}
    for f in fields:
        ndim, desc = POOL_FIELDS[f]
        if f not in pool or pool[f] is None:
            raise ValueError(
                f"selector {selector!r} needs pool[{f!r}]: {desc}. "
                f"The pool has keys {sorted(map(str, pool.keys()))}."
            )
        name = f"pool[{f!r}]"
        x = V.check_array(name, _as_array(name, pool[f]), ndim=ndim, kind="f")
        _check_finite(name, x)
        if f == "probs":
            _check_probs(name, x)
        arrays[f] = x
    lengths = {f"pool[{f!r}]": a for f, a in arrays.items()}
    for k, v in pool.items():  # other per-point entries must agree too
        if k not in arrays and hasattr(v, "shape") and len(getattr(v, "shape", ())) >= 1:
            lengths[f"pool[{k!r}]"] = v
    n = int(next(iter(arrays.values())).shape[0])
    labeled = _check_bool("labeled", labeled, n)
    mask = _check_bool("mask", mask, n)
    lengths["labeled"] = labeled
    lengths["mask"] = mask
    V.check_same_length(**lengths)
    if traced:  # inside the caller's jit: it checked the counts at its boundary
        layout = make_layout(n, (), mesh=mesh, block_size=block_size)
        return Prepared(key, arrays, jnp.asarray(labeled), jnp.asarray(mask), None, n, budget,
                        layout, traced=True)
    lab_np = np.asarray(labeled)
    cand = int(np.count_nonzero(np.asarray(mask) & ~lab_np))
    V.check_budget(
        budget, cand, what="candidate points (allowed by `mask` and not `labeled`)"
    )
    layout = make_layout(n, list(arrays.values()), mesh=mesh, block_size=block_size)
    return Prepared(key, arrays, labeled, mask, np.flatnonzero(lab_np), n, budget, layout)


def _check_bool(name: str, x: Any, n: int) -> Any:
    if x is None:
        return np.zeros((n,), bool) if name == "labeled" else np.ones((n,), bool)
    x = V.check_array(name, _as_array(name, x), ndim=1, kind="b", allow_empty=True)
    return x


# --------------------------------------------------------------------------
# Layout and sharding
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Layout:
    """How the point axis is blocked, padded and sharded (hashable, static).

    Attributes:
      n: number of real points N.
      block: rows per block (power of two; a function of N and the options,
        never of the device count).
      n_dev: number of devices the point axis is split over (1 = no mesh).
      n_pad: padded number of points, a multiple of ``n_dev * block``; points
        ``n .. n_pad-1`` are zero padding and never candidates.
      mesh: ``Mesh`` with Auto axis types used by ``shard_map`` (or None).
      axis: mesh axis name(s) the point axis is split over (or None).
    """

    n: int
    block: int
    n_dev: int
    n_pad: int
    mesh: Mesh | None = None
    axis: tuple[str, ...] | None = None
    user_mesh: Mesh | None = dataclasses.field(default=None, compare=False, hash=False)

    @property
    def n_local(self) -> int:
        """Points per device."""
        return self.n_pad // self.n_dev

    @property
    def blocks_local(self) -> int:
        """Blocks per device."""
        return self.n_local // self.block

    @property
    def blocks_real(self) -> int:
        """Blocks that hold real points (independent of the device count)."""
        return -(-self.n // self.block)


def default_block(n: int) -> int:
    """Row block for an N-point pool: a power of two in [8, MAX_BLOCK], about
    N/8 for small pools so that padding for up to 8 devices stays small."""
    return int(min(MAX_BLOCK, max(8, next_pow2(-(-n // 8)))))


def _mesh_from_arrays(arrays) -> tuple[Mesh | None, tuple[str, ...] | None]:
    for a in arrays:
        sh = getattr(a, "sharding", None)
        if isinstance(sh, NamedSharding) and len(sh.spec) > 0 and sh.spec[0] is not None:
            ax = sh.spec[0]
            ax = (ax,) if isinstance(ax, str) else tuple(ax)
            if math.prod(sh.mesh.shape[a_] for a_ in ax) > 1:
                return sh.mesh, ax
    return None, None


def make_layout(
    n: int, arrays=(), *, mesh: Mesh | None = None, block_size: int | None = None
) -> Layout:
    """Build the :class:`Layout` of an N-point pool.

    The mesh is ``mesh`` (point axis split over all its axes) if given, else
    the mesh of the first pool array whose ``NamedSharding`` splits its leading
    axis, else none (single device).
    """
    if block_size is None:
        block = default_block(n)
    else:
        block = V.check_positive_int("block_size", block_size)
        if block & (block - 1) or block < 8:
            raise ValueError(f"`block_size` must be a power of two >= 8, got {block}.")
    if check_mesh("mesh", mesh) is not None:
        axis = tuple(mesh.axis_names)
    else:
        mesh, axis = _mesh_from_arrays(arrays)
    n_dev = 1 if mesh is None else int(math.prod(mesh.shape[a] for a in axis))
    user_mesh = mesh
    if n_dev == 1:
        mesh, axis, user_mesh = None, None, None
    else:
        mesh = auto_mesh(mesh)
    unit = n_dev * block
    n_pad = -(-n // unit) * unit
    return Layout(n=n, block=block, n_dev=n_dev, n_pad=n_pad, mesh=mesh, axis=axis,
                  user_mesh=user_mesh)


class Axis(NamedTuple):
    """Collectives over the device axis of the point dimension.

    With ``name=None`` (single device) every collective is the identity on a
    one-device "axis", so kernels are written once.
    """

    name: tuple[str, ...] | None
    size: int

    def index(self) -> jax.Array:
        return lax.axis_index(self.name) if self.name else jnp.int32(0)

    def psum(self, x):
        return lax.psum(x, self.name) if self.name else x

    def pmax(self, x):
        return lax.pmax(x, self.name) if self.name else x

    def gather(self, x):
        """(…) -> (n_dev, …), device order."""
        return lax.all_gather(x, self.name) if self.name else x[None]


def pad_rows(x: jax.Array, n_pad: int, value=0) -> jax.Array:
    """Zero-pad (or ``value``-pad) the leading axis of ``x`` to ``n_pad``."""
    extra = n_pad - x.shape[0]
    if extra == 0:
        return x
    return jnp.pad(x, [(0, extra)] + [(0, 0)] * (x.ndim - 1), constant_values=value)


def run_kernel(layout: Layout, kernel: Callable, point_args: tuple, rep_args: tuple = (),
               out_point: tuple[bool, ...] = (False,)):
    """Run ``kernel(ax, *point_args, *rep_args)`` on the (padded) pool.

    ``point_args`` have leading axis ``layout.n_pad`` and are split over the
    devices; ``rep_args`` are replicated. ``out_point[i]`` says whether output
    ``i`` is per-point (split) or replicated. Traceable (call inside ``jit``).
    """
    if layout.mesh is None:
        out = kernel(Axis(None, 1), *point_args, *rep_args)
        return out
    ax = Axis(layout.axis, layout.n_dev)
    spec_p = P(layout.axis)
    in_specs = tuple(spec_p for _ in point_args) + tuple(P() for _ in rep_args)
    single = len(out_point) == 1
    out_specs = tuple(spec_p if p else P() for p in out_point)
    fn = jax.shard_map(
        lambda *a: kernel(ax, *a),
        mesh=layout.mesh,
        in_specs=in_specs,
        out_specs=out_specs[0] if single else out_specs,
        check_vma=False,
    )
    return fn(*point_args, *rep_args)


# --------------------------------------------------------------------------
# Kernel building blocks (traceable, inside run_kernel)
# --------------------------------------------------------------------------


def local_offset(ax: Axis, n_local: int) -> jax.Array:
    """Global index of this device's first point."""
    return (ax.index() * n_local).astype(jnp.int32)


def global_argmax(ax: Axis, v: jax.Array, offset) -> tuple[jax.Array, jax.Array]:
    """Global ``(index, value)`` of the maximum of a split vector; ties -> lowest index."""
    i = jnp.argmax(v).astype(jnp.int32)
    m = v[i]
    if ax.name is None:
        return i + offset, m
    vals = ax.gather(m)
    idx = ax.gather(i + offset)
    j = jnp.argmax(vals)
    return idx[j], vals[j]


def global_topk(ax: Axis, s: jax.Array, k: int, offset) -> tuple[jax.Array, jax.Array]:
    """Global top-``k`` ``(values, indices)`` of a split vector, values descending,
    ties -> lowest index (``lax.top_k`` is stable; devices hold consecutive
    points, so concatenating local winners in device order keeps index order)."""
    kl = min(k, s.shape[0])
    v, i = lax.top_k(s, kl)
    i = i.astype(jnp.int32) + offset
    if ax.name is None:
        return v, i
    vs = ax.gather(v).reshape(-1)
    is_ = ax.gather(i).reshape(-1)
    v2, j = lax.top_k(vs, k)
    return v2, is_[j]


def gather_rows(ax: Axis, x: jax.Array, idx: jax.Array, offset) -> jax.Array:
    """Rows ``x[idx]`` of a split (n_local, ...) array, replicated on every device.

    Each row has exactly one owner; the others contribute zeros, so the
    ``psum`` is exact. Indices outside the pool (e.g. -1 padding) give zeros.
    """
    n = x.shape[0]
    loc = idx - offset
    own = (loc >= 0) & (loc < n)
    rows = jnp.take(x, jnp.clip(loc, 0, n - 1), axis=0)
    own = own.reshape(own.shape + (1,) * (rows.ndim - own.ndim))
    return ax.psum(jnp.where(own, rows, jnp.zeros((), rows.dtype)))


def bucket(n: int, chunk: int = CENTER_CHUNK) -> int:
    """Padded size for ``n`` centers: next power of two up to ``chunk``, then a
    multiple of ``chunk`` (limits recompilation as the labeled set grows)."""
    n = max(int(n), 1)
    return next_pow2(n) if n <= chunk else -(-n // chunk) * chunk


def padded_index(idx: np.ndarray, size: int) -> jax.Array:
    """(size,) int32: ``idx`` followed by -1 padding."""
    out = np.full((size,), -1, np.int32)
    out[: len(idx)] = idx
    return jnp.asarray(out)


def candidates(labeled: jax.Array, mask: jax.Array, n_pad: int) -> jax.Array:
    """(n_pad,) bool: ``mask & ~labeled`` for real points, False for padding."""
    return pad_rows(jnp.asarray(mask) & ~jnp.asarray(labeled), n_pad, False)
