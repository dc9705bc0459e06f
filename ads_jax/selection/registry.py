"""Name -> selector registry, so experiment configs can name their selector.

Every registered selector has the one signature

    select(key, pool, budget, *, labeled=None, mask=None, **options) -> (budget,) int32

(see :mod:`ads_jax.selection`). Built-in names: ``coreset`` (alias
``kcenter``), ``kmedians``, ``badge``, ``entropy``, ``margin``,
``least_confidence``, ``random``, ``top_value``.
"""

from __future__ import annotations

from typing import Callable

__all__ = ["register_selector", "get_selector", "available_selectors"]

_SELECTORS: dict[str, Callable] = {}


def register_selector(name: str, fn: Callable | None = None, *, overwrite: bool = False):
    """Register ``fn`` under ``name``; usable as ``@register_selector("name")``.

    Args:
      name: non-empty string.
      fn: the selector (see the module docstring for its signature).
      overwrite: allow replacing an existing name (default: ValueError).

    Returns:
      ``fn`` (or a decorator when ``fn`` is None).
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"`name` must be a non-empty string, got {name!r}.")

    def _register(f: Callable) -> Callable:
        if not callable(f):
            raise TypeError(f"`fn` must be callable, got {type(f).__name__}.")
        if name in _SELECTORS and not overwrite and _SELECTORS[name] is not f:
            raise ValueError(
                f"a selector named {name!r} is already registered; "
                "pass overwrite=True to replace it."
            )
        _SELECTORS[name] = f
        return f

    return _register if fn is None else _register(fn)


def get_selector(name: str) -> Callable:
    """The selector registered under ``name`` (ValueError listing the names otherwise)."""
    try:
        return _SELECTORS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown selector {name!r}; available: {list(available_selectors())}. "
            "Register new ones with register_selector(name, fn)."
        ) from None


def available_selectors() -> tuple[str, ...]:
    """Sorted tuple of registered names (aliases included)."""
    return tuple(sorted(_SELECTORS))
