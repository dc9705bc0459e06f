"""Name -> selector registry (stage 4 of ADS, and the plain selector arms).

A selector component (:class:`Selector`) has one call signature::

    select(key, pool, budget, *, labeled=None, mask=None, mesh=None, max_labeled=None)
        -> (budget,) int32

(see :mod:`ads_jax.selection`) and declares what it reads of the pool
(``needs``), whether it runs inside ``jax.jit`` (``traceable``) and whether it
ranks by predicted values (``uses_values``: only after a value pre-filter).
Built-in names: ``coreset`` (alias ``kcenter``), ``kmedians``, ``badge``,
``entropy``, ``margin``, ``least_confidence``, ``random``, ``top_value``.

A selector *function* is registered with :func:`register_selector`; its
keyword arguments with defaults (other than ``labeled``, ``mask``, ``mesh``,
``max_labeled``) are its options (``acquisition.selector.options``), checked
against that signature when the config is built.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, Callable, NamedTuple

from ads_jax import _validation as V
from ads_jax.config_engine import FrozenMap
from ads_jax.registry import Registry, json_options, options_schema

__all__ = ["SELECTORS", "Selector", "SelectorConfig", "register_selector", "get_selector",
           "build_selector", "available_selectors", "POOL_ENTRIES"]

SELECTORS = Registry("selector", "Register one with ads_jax.selection.register_selector(name, fn).")

#: Per-point arrays a selector may read from ``pool``.
POOL_ENTRIES = ("embeddings", "probs", "scores")
#: Parameters of a selector function that are not options.
_NOT_OPTIONS = ("key", "pool", "budget", "labeled", "mask", "mesh", "max_labeled")


class Selector(NamedTuple):
    """A built selector.

    Attributes:
      select: ``select(key, pool, budget, *, labeled=None, mask=None, mesh=None,
        max_labeled=None) -> (budget,) int32`` unique pool indices, never
        labeled or masked out. ``max_labeled``: static capacity of the labeled
        rows (inside ``jit``); ``mesh``: optional device mesh.
      needs: the ``pool`` entries it reads (of :data:`POOL_ENTRIES`).
      traceable: ``select`` works on traced inputs with a static ``budget``
        (then it runs inside the acquisition program; otherwise the program
        calls it on the host through ``jax.pure_callback``).
      uses_values: it ranks by ``pool["scores"]``, the predicted values, which
        only a value pre-filter (``ads+``) computes.
    """

    select: Callable[..., Any]
    needs: tuple[str, ...] = ("embeddings",)
    traceable: bool = False
    uses_values: bool = False


def register_selector(name: str, fn: Callable | None = None, *,
                      needs: tuple[str, ...] = ("embeddings",), traceable: bool = False,
                      uses_values: bool = False, overwrite: bool = False):
    """Register a selector function under ``name``; usable as ``@register_selector("name")``.

    Args:
      name: non-empty string.
      fn: ``fn(key, pool, budget, *, labeled=None, mask=None, **options)``
        (it may also take ``mesh`` and ``max_labeled``; they are passed only
        if it does). Its keyword arguments with defaults are its options.
      needs: the pool entries it reads (``"embeddings"``, ``"probs"``,
        ``"scores"``).
      traceable: ``fn`` works on traced inputs (inside ``jit``) with a static
        ``budget``.
      uses_values: it ranks by ``pool["scores"]`` (predicted values).
      overwrite: allow replacing an existing name (default: ValueError).

    Returns:
      ``fn`` (or a decorator when ``fn`` is None).
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"`name` must be a non-empty string, got {name!r}.")
    needs = tuple(needs)
    bad = [n for n in needs if n not in POOL_ENTRIES]
    if bad:
        raise ValueError(f"`needs` of selector {name!r} has {bad}; pool entries are "
                         f"{list(POOL_ENTRIES)}.")

    def _register(f: Callable) -> Callable:
        if not callable(f):
            raise TypeError(f"`fn` must be callable, got {type(f).__name__}.")
        SELECTORS.register(name, _factory(f, needs, bool(traceable), bool(uses_values)),
                           options=options_schema(f, skip=_NOT_OPTIONS), overwrite=overwrite,
                           fn=f)
        return f

    return _register if fn is None else _register(fn)


@functools.lru_cache(maxsize=None)
def _factory(fn: Callable, needs: tuple, traceable: bool, uses_values: bool) -> Callable:
    """The factory of a selector function (one per function, so re-registering is a no-op)."""
    try:
        params = inspect.signature(fn).parameters
        var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
        passes = tuple(a for a in ("mesh", "max_labeled") if a in params or var_kw)
    except (TypeError, ValueError):  # pragma: no cover - builtins
        passes = ()

    def factory(**options) -> Selector:
        def select(key, pool, budget, *, labeled=None, mask=None, mesh=None, max_labeled=None):
            extra = {a: v for a, v in (("mesh", mesh), ("max_labeled", max_labeled))
                     if a in passes}
            return fn(key, pool, budget, labeled=labeled, mask=mask, **extra, **options)

        return Selector(select=select, needs=needs, traceable=traceable,
                        uses_values=uses_values)

    factory.__name__ = getattr(fn, "__name__", "selector")
    return factory


def build_selector(name: str, options=None) -> Selector:
    """The :class:`Selector` registered under ``name`` with ``options`` (built once)."""
    return SELECTORS.build(name, options)


def get_selector(name: str, **options: Any) -> Callable:
    """The selector function registered under ``name`` (with ``options`` bound, checked).

    ``get_selector("coreset")(key, pool, budget, labeled=...)``; unknown name
    or option -> ValueError listing the choices.
    """
    fn = SELECTORS.get(name).meta["fn"]
    if not options:
        return fn
    return functools.partial(fn, **SELECTORS.check_options(name, options))


def available_selectors() -> tuple[str, ...]:
    """Sorted tuple of registered names (aliases included)."""
    return SELECTORS.names()


@dataclasses.dataclass(frozen=True)
class SelectorConfig:
    """Stage 4, the selector of the arm (``acquisition.selector``).

    The selector itself is named by the arm (``ads+<selector>``).

    Attributes:
      options: extra keyword options of the selector (JSON object), checked
        against the options it takes (``block_size``, ``method``, ...) when
        the acquisition config is built (it knows the arm).
      include_labeled: pass the labeled points to the selector as
        ``labeled=True`` rows of the sub-pool (initial centers of k-center
        and BADGE; never picked). False: the selector sees only the
        candidates (e.g. the original BADGE, which ignores labeled points).
    """

    options: FrozenMap = dataclasses.field(default_factory=FrozenMap)
    include_labeled: bool = True

    def __post_init__(self):
        object.__setattr__(self, "options", json_options("selector.options", self.options))
        V.check_bool("selector.include_labeled", self.include_labeled)
