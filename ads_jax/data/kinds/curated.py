"""Kind ``curated``: the pool is (a subset of) the target train split; everything clean."""

from __future__ import annotations

from ads_jax.data.kinds._registry import register_kind
from ads_jax.data.pool import target_pool

__all__: list[str] = []

register_kind("curated", target_pool, None, needs_images=False, per_host=True)
