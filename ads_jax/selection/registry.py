"""Name -> selector registry, so experiment configs can name their selector.

Every registered selector has the one signature

    select(key, pool, budget, *, labeled=None, mask=None, **options) -> (budget,) int32

(see :mod:`ads_jax.selection`). Built-in names: ``coreset`` (alias
``kcenter``), ``kmedians``, ``badge``, ``entropy``, ``margin``,
``least_confidence``, ``random``, ``top_value``. A selector's options are its
keyword arguments with defaults (``mesh`` excepted); configs give them in
``acquisition.selector.options`` and they are checked against those keywords
when the config is built.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Callable

from ads_jax import _validation as V
from ads_jax.registry import Registry, options_from_signature

__all__ = ["SELECTORS", "SelectorConfig", "register_selector", "get_selector",
           "available_selectors"]

SELECTORS = Registry("selector", "Register new ones with register_selector(name, fn).")

#: Parameters of the selector signature that are not options.
_NOT_OPTIONS = ("key", "pool", "budget", "labeled", "mask", "mesh", "max_labeled")


def register_selector(name: str, fn: Callable | None = None, *, options: type | None = None,
                      traceable: bool = False, overwrite: bool = False):
    """Register ``fn`` under ``name``; usable as ``@register_selector("name")``.

    Args:
      name: non-empty string.
      fn: the selector (see the module docstring for its signature).
      options: dataclass type of its options; default: built from ``fn``'s
        keyword arguments with defaults (types from annotations or defaults).
      traceable: ``fn`` works on traced inputs (inside ``jit``) with a static
        ``budget``; then the fused acquisition program includes it. Otherwise
        the program runs up to the selector and calls it eagerly.
      overwrite: allow replacing an existing name (default: ValueError).

    Returns:
      ``fn`` (or a decorator when ``fn`` is None).
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"`name` must be a non-empty string, got {name!r}.")

    def _register(f: Callable) -> Callable:
        if not callable(f):
            raise TypeError(f"`fn` must be callable, got {type(f).__name__}.")
        SELECTORS.register(name, f, options=options or options_from_signature(f, _NOT_OPTIONS),
                           overwrite=overwrite, traceable=bool(traceable))
        return f

    return _register if fn is None else _register(fn)


def get_selector(name: str) -> Callable:
    """The selector registered under ``name`` (ValueError listing the names otherwise)."""
    return SELECTORS.get(name).fn


def available_selectors() -> tuple[str, ...]:
    """Sorted tuple of registered names (aliases included)."""
    return SELECTORS.names()


@dataclasses.dataclass(frozen=True)
class SelectorConfig:
    """Stage 4, the selector of the arm (``acquisition.selector``).

    The selector itself is named by the arm (``ads+<selector>``).

    Attributes:
      options: extra keyword options of the selector (JSON object), checked
        against the options it takes (``block_size``, ``method``, ...).
      include_labeled: pass the labeled points to the selector as
        ``labeled=True`` rows of the sub-pool (initial centers of k-center
        and BADGE; never picked). False: the selector sees only the
        candidates (e.g. the original BADGE, which ignores labeled points).
    """

    options: dict = dataclasses.field(default_factory=dict)
    include_labeled: bool = True

    def __post_init__(self):
        if not isinstance(self.options, dict) or not all(isinstance(k, str)
                                                         for k in self.options):
            raise TypeError(f"`selector.options` must be a mapping of option name -> value, "
                            f"got {self.options!r}.")
        try:
            json.dumps(self.options, sort_keys=True)
        except TypeError as e:
            raise TypeError(f"`selector.options` must be JSON-serialisable: {e}") from None
        V.check_bool("selector.include_labeled", self.include_labeled)
        object.__setattr__(self, "options", dict(self.options))

    def __hash__(self):
        return hash(json.dumps(dataclasses.asdict(self), sort_keys=True))
