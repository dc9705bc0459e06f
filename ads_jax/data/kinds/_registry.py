"""The scenario-kind registry: ``ScenarioConfig.kind`` -> pool builder and corruption."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

__all__ = ["ScenarioKind", "register_kind", "get_kind", "available_kinds"]

#: ``pool_builder(build, remaining, target_u) -> (parts, sources)``: which rows
#: make up the U unlabeled pool points (see `ads_jax.data.scenario.target_pool`).
PoolBuilder = Callable[[Any, Any, Any], tuple[list, list]]
#: ``corruption(build, pool) -> None``: edits the assembled `Pool` in place.
Corruption = Callable[[Any, Any], None]


class ScenarioKind(NamedTuple):
    """How one scenario kind builds its unlabeled pool and corrupts it."""

    name: str
    pool: PoolBuilder
    corrupt: Corruption | None
    needs_images: bool  # True: the kind cannot run on a features data set
    per_host: bool = False  # True: the corruption supports pools holding some rows (Pool.held)


_KINDS: dict[str, ScenarioKind] = {}


def register_kind(name: str, pool_builder: PoolBuilder, corruption: Corruption | None, *,
                  needs_images: bool, per_host: bool = False) -> None:
    """Register a scenario kind (a value of ``ScenarioConfig.kind``).

    Args:
      name: the kind's name (a non-empty string, registered once).
      pool_builder: ``pool_builder(build, remaining, target_u) -> (parts,
        sources)``: ``build`` is the `ads_jax.data.scenario.Build`,
        ``remaining`` the int64 target train rows left after validation,
        test and seed set, ``target_u`` the number of unlabeled points (None:
        as many as the kind allows); ``parts`` are ``(source id, rows,
        provenance code)`` with source ids indexing the data set names
        ``sources`` (the target first). Draw only from ``build.rng_pool``.
      corruption: None, or ``corruption(build, pool)`` editing the assembled
        `ads_jax.data.scenario.Pool` in place (labels, samples, provenance);
        draw only from ``build.rng_corrupt``.
      needs_images: True if the kind corrupts or replaces images, so that
        `build_scenario` rejects it for a features data set before any work.
      per_host: True if ``corruption`` (if any) also works on a pool holding
        the samples of only some rows (``Pool.held``, a per-host build of a
        multi-process run): it edits samples only through
        ``Pool.held_positions`` and draws its random numbers exactly as for the
        whole pool, so the held rows equal those of a full build. Kinds
        without it are built whole on every process.

    Raises:
      ValueError: an empty or already registered name. TypeError: a
      non-callable builder / corruption.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"`name` must be a non-empty string, got {name!r}.")
    if name in _KINDS:
        raise ValueError(f"Scenario kind {name!r} is already registered; pick another name.")
    if not callable(pool_builder):
        raise TypeError(f"`pool_builder` must be callable, got {type(pool_builder).__name__}.")
    if corruption is not None and not callable(corruption):
        raise TypeError(f"`corruption` must be callable or None, got "
                        f"{type(corruption).__name__}.")
    if not isinstance(needs_images, bool):
        raise TypeError(f"`needs_images` must be a bool, got {needs_images!r}.")
    if not isinstance(per_host, bool):
        raise TypeError(f"`per_host` must be a bool, got {per_host!r}.")
    _KINDS[name] = ScenarioKind(name, pool_builder, corruption, needs_images, per_host)


def available_kinds() -> tuple[str, ...]:
    """The registered kind names, in registration order."""
    return tuple(_KINDS)


def get_kind(name: str) -> ScenarioKind:
    """The registered kind ``name``, or a ValueError listing the registered kinds."""
    try:
        return _KINDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"`data.kind` must be one of {list(_KINDS)}, got {name!r}.") from None
