"""Row-wise stable argsort of distances, with the inverse permutation.

KNN-Shapley needs, for every validation point, the training points in order of
distance (``perm``) and each training point's position in that order
(``rank``, the inverse permutation). On GPU/TPU XLA's sort is fast. On CPU it is
not: XLA sorts with a generic comparator (``jnp.argsort`` takes ~5 s on a
500 x 50,000 float32 array on the 2-core dev machine, where NumPy's SIMD
``np.argsort`` takes ~0.4 s), and the sort dominates the whole valuation.

:func:`sort_matches` returns what the recursions need: the match indicators
``1[train_y[perm] == val_y]`` in sorted order and ``rank`` (the inverse
permutation, to put the values back in training order). Two interchangeable
sorters, both stable (ties in distance go to the lower training index):

* ``"xla"``  -- ``lax.sort`` on ``(dist, iota)``; the label gather and the rank
  (a scatter) in XLA. Pure XLA, used on GPU/TPU.
* ``"host"`` -- one ``jax.pure_callback`` to NumPy (still usable inside ``jit``,
  ``vmap`` and ``shard_map``) that sorts, gathers the labels and inverts the
  permutation. For float32, each row is packed into ONE uint64 key
  ``(float bits << 32) | index``: non-negative IEEE floats order like their bit
  patterns, so a single-operand sort of the keys is a stable argsort, and NumPy
  sorts uint64 with SIMD (x86-simd-sort). Rows are processed in cache-sized
  blocks on a thread pool (NumPy releases the GIL while sorting). float64 uses
  ``np.argsort`` and re-sorts stably only the rows that contain exact ties.

Distances must be non-negative (they are: squared/plain Euclidean are clamped at
0, cosine is clipped to [0, 2]); ``-0.0`` is mapped to ``+0.0`` before sorting.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["SORTERS", "sort_matches", "sort_with_ranks", "host_sort_matches"]

SORTERS = ("xla", "host")

# Elements per task for the host sorter: 2**19 uint64 keys = 4 MiB, about one L2.
_BLOCK_ELEMS = 1 << 19


def sort_matches(
    dist: jax.Array, train_y: jax.Array, val_y: jax.Array, *, sorter: str = "xla"
) -> tuple[jax.Array, jax.Array]:
    """Sorted match indicators and ranks for a block of validation rows. Traceable.

    Args:
      dist: (c, N) float32/float64 non-negative distances (row = validation point).
      train_y: (N,) int32 training labels.
      val_y: (c,) int32 validation labels.
      sorter: ``"xla"`` or ``"host"`` (see module docstring).

    Returns:
      ``(match, rank)``: ``match`` (c, N) bool with
      ``match[b, r] = train_y[perm[b, r]] == val_y[b]`` where ``perm[b, r]`` is the
      r-th nearest training point (ties to the lower index), and ``rank`` (c, N)
      int32 with ``rank[b, perm[b, r]] = r``.
    """
    _check_sorter(sorter)
    dist = jnp.where(dist > 0, dist, jnp.zeros((), dist.dtype))  # -0.0 -> +0.0
    if sorter == "host":
        shape = dist.shape
        out = (jax.ShapeDtypeStruct(shape, jnp.bool_), jax.ShapeDtypeStruct(shape, jnp.int32))
        return jax.pure_callback(
            host_sort_matches, out, dist, train_y, val_y, vmap_method="sequential"
        )
    perm, rank = sort_with_ranks(dist, sorter="xla")
    return train_y[perm] == val_y[:, None], rank


def sort_with_ranks(dist: jax.Array, *, sorter: str = "xla") -> tuple[jax.Array, jax.Array]:
    """Stable row-wise argsort and its inverse. Traceable.

    Args:
      dist: (..., N) float32/float64 non-negative distances.
      sorter: ``"xla"`` or ``"host"`` (see module docstring).

    Returns:
      ``(perm, rank)``, both (..., N) int32: ``perm[..., r]`` is the index of the
      r-th nearest point (0-based, ties to the lower index) and
      ``rank[..., perm[..., r]] = r``.
    """
    _check_sorter(sorter)
    dist = jnp.where(dist > 0, dist, jnp.zeros((), dist.dtype))  # -0.0 -> +0.0
    shape = dist.shape
    n = shape[-1]
    d2 = dist.reshape(-1, n)
    if sorter == "host":
        out = jax.ShapeDtypeStruct(d2.shape, jnp.int32)

        def cb(d):
            perm, rank, _ = _host_sort(np.asarray(d), None, None)
            return perm, rank

        perm, rank = jax.pure_callback(cb, (out, out), d2, vmap_method="sequential")
        return perm.reshape(shape), rank.reshape(shape)
    iota = lax.broadcasted_iota(jnp.int32, d2.shape, 1)
    _, perm = lax.sort((d2, iota), dimension=1, is_stable=True, num_keys=1)
    rows = lax.broadcasted_iota(jnp.int32, d2.shape, 0)
    rank = jnp.zeros_like(perm).at[rows, perm].set(iota, unique_indices=True)
    return perm.reshape(shape), rank.reshape(shape)


def host_sort_matches(
    dist: np.ndarray, train_y: np.ndarray, val_y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """NumPy implementation of the ``"host"`` sorter of :func:`sort_matches`.

    Args:
      dist: (c, N) float32 or float64, non-negative, no -0.0.
      train_y: (N,) int labels. val_y: (c,) int labels.

    Returns:
      ``(match, rank)``: (c, N) bool and (c, N) int32 NumPy arrays.
    """
    _, rank, match = _host_sort(np.asarray(dist), np.asarray(train_y), np.asarray(val_y))
    return match, rank


def _host_sort(d2: np.ndarray, train_y, val_y):
    """Blocked, threaded stable argsort of the rows of ``d2`` (c, N).

    Returns ``(perm, rank, match)``; ``match`` is None when no labels are given,
    ``perm`` is None when they are (it is not needed then).
    """
    d2 = np.ascontiguousarray(d2)
    rows, n = d2.shape
    want_match = train_y is not None
    perm = None if want_match else np.empty((rows, n), np.int32)
    rank = np.empty((rows, n), np.int32)
    match = np.empty((rows, n), np.bool_) if want_match else None
    if rows == 0 or n == 0:
        return perm, rank, match
    iota = np.arange(n, dtype=np.int32)
    packed = d2.dtype == np.float32 and n < (1 << 31) and np.little_endian
    if want_match:
        train_y = train_y.astype(np.int32, copy=False)
        val_y = val_y.astype(np.int32, copy=False)

    def work(lo: int, hi: int) -> None:
        block = d2[lo:hi]
        if packed:
            # uint64 key = (distance bits << 32) | index, written as two uint32
            # halves (little endian: low word first).
            key = np.empty(block.shape, np.uint64)
            halves = key.view(np.uint32).reshape(block.shape + (2,))
            halves[..., 0] = iota
            halves[..., 1] = block.view(np.uint32)
            key.sort(axis=1)
            p = key.astype(np.uint32).view(np.int32)  # low 32 bits = index
        else:
            p = np.argsort(block, axis=1)
            ds = np.take_along_axis(block, p, axis=1)
            for r in np.flatnonzero((ds[:, 1:] == ds[:, :-1]).any(axis=1)):
                p[r] = np.argsort(block[r], kind="stable")  # exact ties: stable
            p = p.astype(np.int32, copy=False)
        if want_match:
            np.equal(np.take(train_y, p), val_y[lo:hi, None], out=match[lo:hi])
        else:
            perm[lo:hi] = p
        for r in range(hi - lo):  # inverse permutation, row by row
            rank[lo + r, p[r]] = iota

    threads = _num_threads()
    step = max(1, min(_BLOCK_ELEMS // n, -(-rows // threads)))
    bounds = [(lo, min(lo + step, rows)) for lo in range(0, rows, step)]
    workers = min(len(bounds), threads)
    if workers <= 1:
        for lo, hi in bounds:
            work(lo, hi)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for f in [pool.submit(work, lo, hi) for lo, hi in bounds]:
                f.result()
    return perm, rank, match


def _check_sorter(sorter: str) -> None:
    if sorter not in SORTERS:
        raise ValueError(f"`sorter` must be one of {list(SORTERS)}, got {sorter!r}.")


def _num_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)
