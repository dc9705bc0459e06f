"""Multi-process (multi-host) runs: initialisation, the process-0 guard, global arrays.

A run with ``train.multi_host=true`` is one program on every process (host)
of a job: ``jax.distributed.initialize`` connects them, every process builds
the same scenario and runs the same loop, and

* each process builds (gathers and corrupts) and embeds only its slice of the
  pool (its addressable rows of the global pool arrays, :func:`pool_rows`;
  ``build_scenario(..., rows=)``: a :class:`ads_jax.data.PoolRows` holding the
  slice and the seed set, equal row for row to the whole build) and the slices
  form one global sharded array (:func:`global_rows`,
  ``jax.make_array_from_process_local_data``); the labeled points every
  process trains on are fetched from the processes holding them as they are
  picked (:func:`gather_pool_rows`, B rows a round). The data sets are read
  from memory-mapped uncompressed copies (:mod:`ads_jax.data.mapped`, written
  the first time a multi-process run uses a data set), so a process reads from
  disk only the rows it uses; labels, provenance and the validation and test
  sets are built everywhere (small);
* valuation, regression and selection run on the global arrays over the
  acquisition mesh (``loop.mesh="all"``), so every process gets the same
  picks (a single-process run on the same number of devices picks the same);
* only process 0 writes ``results.jsonl``, ``config.json``, artefacts and
  plots and holds the run-directory lock (:func:`is_primary`); Orbax
  checkpoints are written by all processes together (Orbax's multi-process
  protocol) and every process restores from them.

Initialisation (:func:`initialize`) reads the usual environment variables
when no arguments are given: ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of
process 0), ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID`` (and optionally
``JAX_LOCAL_DEVICE_IDS``); without them it falls back to JAX's own cluster
auto-detection (SLURM, Cloud TPU, ...). On CPU it selects the gloo
collectives, so that a multi-process job runs on one machine for tests
(``tests/test_multihost.py``: 2 processes x 4 devices on localhost).
"""

from __future__ import annotations

import os
from importlib.metadata import distributions
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils

__all__ = ["initialize", "is_primary", "process_count", "barrier", "broadcast_ok", "any_process",
           "pool_rows", "global_rows", "gather_pool_rows", "to_host"]


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> bool:
    """Start the multi-process runtime (idempotent). Returns True if multi-process.

    Must run before any JAX array is created. Arguments default to the
    environment variables named in the module docstring.

    Raises:
      RuntimeError: JAX has already started its backends in this process (the
        runtime cannot be initialised any more), with the fix.
      ValueError: a malformed environment variable (named).
    """
    if jax.distributed.is_initialized():
        return jax.process_count() > 1
    env = os.environ
    coordinator_address = coordinator_address or env.get("JAX_COORDINATOR_ADDRESS")
    if num_processes is None and env.get("JAX_NUM_PROCESSES"):
        num_processes = _env_int("JAX_NUM_PROCESSES")
    if process_id is None and env.get("JAX_PROCESS_ID"):
        process_id = _env_int("JAX_PROCESS_ID")
    local = env.get("JAX_LOCAL_DEVICE_IDS")
    local_ids = [int(s) for s in local.split(",")] if local else None
    platforms = (env.get("JAX_PLATFORMS") or jax.config.jax_platforms or "").lower()
    if "cpu" in platforms or (not platforms and _only_cpu()):
        # CPU collectives between processes (needs to be set before the backend starts).
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(coordinator_address=coordinator_address,
                                   num_processes=num_processes, process_id=process_id,
                                   local_device_ids=local_ids)
    except RuntimeError as e:
        raise RuntimeError(
            f"Could not start the multi-process JAX runtime ({e}). It must start before any "
            "JAX computation: run with `train.multi_host=true` from the command line (ads-jax "
            "run), or call ads_jax.distributed.initialize() first in your program, and set "
            "JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID.") from None
    return jax.process_count() > 1


def _env_int(name: str) -> int:
    try:
        return int(os.environ[name])
    except ValueError:
        raise ValueError(f"Environment variable {name}={os.environ[name]!r} must be an "
                         "integer.") from None


def _only_cpu() -> bool:
    try:
        names = {d.metadata["Name"].lower() for d in distributions()}
        return not any(n.startswith(("jax-cuda", "jax_cuda", "jax-rocm", "libtpu"))
                       for n in names)
    except Exception:  # pragma: no cover - unusual installs
        return False


def process_count() -> int:
    return jax.process_count()


def is_primary() -> bool:
    """True on process 0 (the one that writes files)."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait until every process reaches this point (no-op with one process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


def any_process(flag: bool, name: str) -> bool:
    """True if ``flag`` is True on any process (collective; ``name`` labels the call)."""
    if jax.process_count() == 1:
        return bool(flag)
    del name  # process_allgather is itself a synchronisation point
    return bool(np.any(multihost_utils.process_allgather(np.asarray([bool(flag)]))))


def broadcast_ok(ok: bool, what: str) -> None:
    """Process 0 tells the others whether ``what`` succeeded there; the others raise
    if it did not (so an error on process 0 never leaves them waiting)."""
    if jax.process_count() == 1:
        return
    flag = multihost_utils.broadcast_one_to_all(np.asarray(1 if ok else 0, np.int32))
    if not int(flag) and not is_primary():
        raise RuntimeError(f"{what} failed on process 0 (see its error); stopping.")


def pool_rows(sharding: jax.sharding.Sharding, n_rows: int) -> np.ndarray:
    """Sorted global row indices of an (n_rows, ...) array that this process holds."""
    shape = (n_rows, 1)
    rows = set()
    for idx in sharding.addressable_devices_indices_map(shape).values():
        sl = idx[0]
        rows.update(range(*sl.indices(n_rows)))
    return np.asarray(sorted(rows), np.int64)


def global_rows(local: np.ndarray, sharding: jax.sharding.Sharding, n_rows: int) -> jax.Array:
    """The global (n_rows, ...) array whose rows :func:`pool_rows` are ``local`` here."""
    local = np.asarray(local)
    return jax.make_array_from_process_local_data(sharding, local, (n_rows,) + local.shape[1:])


def gather_pool_rows(x_pool: Any, rows: Any) -> np.ndarray:
    """The samples of pool ``rows`` on every process, from a per-host pool.

    A per-host build (:class:`ads_jax.data.PoolRows`) holds this process's slice
    of the pool and the seed set; a labeled point picked from another slice is
    fetched here from a process that holds it (the first one), and kept
    (``x_pool.add``), so each row travels once. Collective: every process calls
    it with the same ``rows`` (the loop does: same picks everywhere). A plain
    array (a single-process or whole build) is simply indexed.

    Args:
      x_pool: (P, ...) samples: a :class:`ads_jax.data.PoolRows` or an array.
      rows: int (n,) pool rows.

    Returns:
      (n, ...) NumPy array, the samples of ``rows`` in that order.

    Raises:
      KeyError: a row no process holds.
    """
    rows = np.asarray(rows, np.int64)
    # PoolRows by its interface: the data layer imports this module, not the reverse.
    if not (hasattr(x_pool, "holds") and hasattr(x_pool, "add")):
        return np.asarray(x_pool[rows])
    if jax.process_count() > 1:
        held = multihost_utils.process_allgather(x_pool.holds(rows))  # (n_proc, n)
        need = ~held.all(axis=0)
        if need.any():
            want = rows[need]
            if not held[:, need].any(axis=0).all():
                lost = want[~held[:, need].any(axis=0)]
                raise KeyError(f"pool rows {lost[:8].tolist()} are held by no process.")
            owner = np.argmax(held[:, need], axis=0)  # the first process holding each row
            mine = owner == jax.process_index()
            contrib = np.zeros((want.size, *x_pool.shape[1:]), x_pool.dtype)
            if mine.any():
                contrib[mine] = x_pool[want[mine]]
            every = multihost_utils.process_allgather(contrib)  # (n_proc, n_want, ...)
            x_pool.add(want, every[owner, np.arange(want.size)])
    return x_pool[rows]


def to_host(x: Any) -> np.ndarray:
    """A (possibly multi-process) global array as a NumPy array on every process."""
    if x is None:
        return None
    if not isinstance(x, jax.Array) or x.is_fully_addressable:
        return np.asarray(x)
    if x.is_fully_replicated:
        return np.asarray(x.addressable_data(0))
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
