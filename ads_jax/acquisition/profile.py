"""Per-stage wall times of one acquisition: a profiling helper for benchmarks.

The acquisition program (:func:`~ads_jax.acquisition.make_acquire_fn`) runs
its stages as one jitted program, which is what runs and what is timed in the
loop. To see where the time goes, :func:`profile_acquisition` runs the very
same stage functions as separate jitted programs, blocking on each one's
outputs, and reports their wall times (:data:`STAGES`) beside the picks, which
equal the one program's (up to float near-ties: two XLA programs may round
differently).
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp

from ads_jax import _validation as V
from ads_jax.sharding import auto_mesh, check_mesh
from ads_jax.acquisition.config import AcquisitionConfig
from ads_jax.acquisition.program import (
    AcquisitionInputs,
    AcquisitionResult,
    check_inputs,
    estimation_stage,
    preselect_stage,
    select_stage,
    valuation_stage,
    _valuation_key,
)

__all__ = ["STAGES", "profile_acquisition"]

#: Stage names of :func:`profile_acquisition` (the one definition).
STAGES = ("valuation", "regression", "preselection", "diversity")


@functools.lru_cache(maxsize=64)
def _stage_programs(config: AcquisitionConfig, mesh):
    comps = config.components()
    mesh = auto_mesh(check_mesh("mesh", mesh))

    def valuation(key, inputs):
        return valuation_stage(comps, key, inputs, mesh)

    def estimation(inputs, train_values):
        return estimation_stage(comps, inputs, train_values, mesh)

    def preselection(key, inputs, values):
        return preselect_stage(comps, config, key, inputs, values, mesh)

    def diversity(key, inputs, cand_idx, m_valid, train_values, values):
        return select_stage(comps, config, key, inputs, cand_idx, m_valid, train_values,
                            values, mesh)

    return comps, tuple(jax.jit(f) for f in (valuation, estimation, preselection, diversity))


def profile_acquisition(key, inputs: AcquisitionInputs, config: AcquisitionConfig, *,
                        mesh=None, repeats: int = 1) -> tuple[AcquisitionResult, dict]:
    """Run the acquisition stage by stage and time each stage.

    Args:
      key, inputs, config, mesh: as :func:`~ads_jax.acquisition.acquire`.
      repeats: run the whole sequence this many times; the times of the last
        run are returned (``repeats=2`` gives warm times: the first run
        compiles).

    Returns:
      ``(result, times)``: the :class:`AcquisitionResult` and a dict of
      seconds per stage (:data:`STAGES`, 0.0 for stages the arm skips) plus
      ``"total"`` (``"regression"`` is the value estimation).
    """
    key = V.check_key("key", key)
    inputs = jax.tree.map(jnp.asarray, check_inputs(inputs, config))
    repeats = V.check_positive_int("repeats", repeats)
    comps, (valuation, estimation, preselection, diversity) = _stage_programs(config, mesh)
    for _ in range(repeats):
        times = {s: 0.0 for s in STAGES}
        key_filter, key_select = jax.random.split(key)
        values = train_values = None
        if comps.prefilter is not None and comps.prefilter.uses_values:
            t0 = time.perf_counter()
            train_values = jax.block_until_ready(valuation(_valuation_key(key), inputs))
            t1 = time.perf_counter()
            values = jax.block_until_ready(estimation(inputs, train_values))
            t2 = time.perf_counter()
            times["valuation"] = t1 - t0
            times["regression"] = t2 - t1
        t0 = time.perf_counter()
        cand_idx, mask, m_valid = jax.block_until_ready(
            preselection(key_filter, inputs, values))
        t1 = time.perf_counter()
        idx = jax.block_until_ready(
            diversity(key_select, inputs, cand_idx, m_valid, train_values, values))
        t2 = time.perf_counter()
        if comps.prefilter is not None:
            times["preselection"] = t1 - t0
        times["diversity"] = t2 - t1
    times["total"] = sum(times[s] for s in STAGES)
    return AcquisitionResult(indices=idx, values=values, train_values=train_values,
                             preselect_mask=mask, preselect_size=m_valid), times
