"""Scenario kinds: one module per kind, each registering a pool builder and a corruption.

``ScenarioConfig.kind`` names a registered kind (`register_kind`; `KINDS` is
the tuple of registered names). Built in:

* ``curated`` (:mod:`.curated`): the target's own train split, clean;
* ``noisy`` (:mod:`.noisy`): Beta-power white noise on part of the pool;
* ``domain_shift`` (:mod:`.domain_shift`): a mixture pool of source data sets;
* ``cheap`` (:mod:`.cheap`): OOD images and wrong labels in the pool.

A new kind is one module here (plus its test) that calls `register_kind`;
add its import below. Fields it needs belong to `ScenarioConfig`.
"""

from ads_jax.data.kinds._registry import ScenarioKind, available_kinds, get_kind, register_kind

# Each module registers its kind on import (the order is `KINDS`'s order).
from ads_jax.data.kinds import curated, noisy, domain_shift, cheap  # noqa: E402,I001

__all__ = ["ScenarioKind", "register_kind", "get_kind", "available_kinds", "KINDS"]


def __getattr__(name: str):
    if name == "KINDS":  # always the current registry, kinds registered later included
        return available_kinds()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
