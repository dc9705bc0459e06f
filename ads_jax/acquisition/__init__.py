"""The ADS acquisition step: value, estimate, pre-select, select -- one jitted program.

* :mod:`~ads_jax.acquisition.prefilters` -- the pre-filter registry (``ads``,
  ``randfilter``, ``margin``, ``entropy``, ``proximity``, yours);
* :mod:`~ads_jax.acquisition.config` -- arms (``<prefilter>+<selector>``),
  :class:`AcquisitionConfig` and its stage sub-configs;
* :mod:`~ads_jax.acquisition.program` -- :func:`acquire`,
  :func:`make_acquire_fn` (the one program), :class:`AcquisitionInputs`,
  :class:`AcquisitionResult`;
* :mod:`~ads_jax.acquisition.profile` -- per-stage wall times (benchmarks).
"""

from ads_jax.acquisition.config import (
    ARMS,
    AcquisitionConfig,
    Arm,
    Components,
    PreselectConfig,
    available_arms,
    parse_arm,
    preselect_note,
    preselect_size,
)
from ads_jax.acquisition.prefilters import (
    PREFILTERS,
    Prefilter,
    PrefilterInputs,
    available_prefilters,
    build_prefilter,
    register_prefilter,
)
from ads_jax.acquisition.profile import STAGES, profile_acquisition
from ads_jax.acquisition.program import (
    AcquisitionInputs,
    AcquisitionResult,
    acquire,
    check_inputs,
    gather_inputs,
    make_acquire_fn,
    make_pool_acquire_fn,
)

__all__ = [
    "ARMS", "Arm", "parse_arm", "available_arms", "AcquisitionConfig", "PreselectConfig",
    "preselect_size", "preselect_note", "Components", "PREFILTERS", "Prefilter", "PrefilterInputs",
    "register_prefilter", "available_prefilters", "build_prefilter", "AcquisitionInputs",
    "AcquisitionResult", "acquire", "make_acquire_fn", "make_pool_acquire_fn", "gather_inputs",
    "check_inputs", "STAGES", "profile_acquisition",
]
