"""Name -> factory registries: the one extension mechanism of ads_jax.

Every pluggable stage -- valuations, value estimators, pre-filters,
selectors, models -- has one :class:`Registry` and one shape:

* a **factory** is registered under a name. Its keyword parameters are the
  component's *options* (types from the annotations, defaults from the
  signature; a parameter without default is a required option), except the
  registry's *context* parameters, which the config supplies itself (``k``
  and ``metric`` of a valuation);
* a config names the component and gives its options as a JSON object. The
  registry checks them against the factory's signature **once, when the
  config is built** (:meth:`Registry.check_options`: unknown option, wrong
  type, or a value the factory rejects -> an error naming the dotted field),
  and keeps them as an immutable :class:`~ads_jax.config_engine.FrozenMap`, so
  the config hashes and compares by value;
* the factory is called once per (name, options, context)
  (:meth:`Registry.build`, cached) and returns a **frozen, hashable
  component**: a NamedTuple of pure functions plus the metadata it declares
  itself (traceable, which inputs it needs, whether it uses values), like
  :class:`~ads_jax.valuation.Recursion` or optax's ``GradientTransformation``.

A user registers a component from any module (``ads-jax run --import
my_module ...`` imports it before the config resolves); see ARCHITECTURE.md.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import typing
from typing import Any, Callable, Mapping

from ads_jax.config_engine import FrozenMap, freeze, from_dict, to_dict

__all__ = ["Entry", "Registry", "options_schema", "json_options"]


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered factory.

    Attributes:
      name: registry name.
      factory: ``factory(**context, **options) -> component``.
      schema: frozen dataclass type whose fields are the options (types,
        defaults; fields without default are required).
      meta: registration-time extras (e.g. a valuation's NumPy ``utility``
        for the brute-force tests).
    """

    name: str
    factory: Callable[..., Any]
    schema: type
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def option_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(self.schema))


class Registry:
    """A name -> :class:`Entry` table for one kind of component.

    Args:
      kind: what is registered, for messages (``"valuation"``).
      register_hint: how to register one, for messages.
      context: factory parameters that the config supplies (not options).
    """

    def __init__(self, kind: str, register_hint: str, *, context: tuple[str, ...] = ()):
        self.kind = kind
        self.register_hint = register_hint
        self.context = tuple(context)
        self._entries: dict[str, Entry] = {}
        self._built: dict[tuple, Any] = {}

    # ------------------------------------------------------------ registration
    def register(self, name: str, factory: Callable[..., Any], *, options: type | None = None,
                 overwrite: bool = False, **meta: Any) -> Callable[..., Any]:
        """Add ``factory`` under ``name``; returns ``factory``.

        Args:
          name: non-empty string without surrounding blanks.
          factory: callable ``factory(**context, **options) -> component``.
          options: optional dataclass type of the options (default: built
            from the factory's keyword parameters, :func:`options_schema`).
          overwrite: replace an existing registration (else ValueError).
            Registering the same factory again under its name is a no-op,
            so a module may be imported twice.
          meta: registration-time extras kept in :attr:`Entry.meta`.
        """
        if not isinstance(name, str) or not name or name != name.strip():
            raise TypeError(f"{self.kind} `name` must be a non-empty string, got {name!r}.")
        if not callable(factory):
            raise TypeError(f"the {self.kind} factory of {name!r} must be callable, got "
                            f"{type(factory).__name__}.")
        if options is None:
            options = options_schema(factory, skip=self.context)
        elif not (isinstance(options, type) and dataclasses.is_dataclass(options)):
            raise TypeError(f"`options` of {self.kind} {name!r} must be a dataclass type (its "
                            f"fields are the options), got {options!r}.")
        old = self._entries.get(name)
        if old is not None and old.factory is factory and not overwrite:
            return factory
        if old is not None and not overwrite:
            raise ValueError(f"a {self.kind} named {name!r} is already registered; pass "
                             "overwrite=True to replace it.")
        self._entries[name] = Entry(name, factory, options, dict(meta))
        self._built = {k: v for k, v in self._built.items() if k[0] != name}
        return factory

    def unregister(self, name: str) -> None:
        """Remove ``name`` (no-op if absent): for plugins that register temporarily."""
        self._entries.pop(name, None)
        self._built = {k: v for k, v in self._built.items() if k[0] != name}

    # ------------------------------------------------------------------ lookup
    def get(self, name: str, *, arg: str | None = None) -> Entry:
        """The entry registered under ``name`` (ValueError listing the names otherwise).

        ``arg``: the argument or config field that named it, for the message.
        """
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            where = f"`{arg}`: " if arg else ""
            raise ValueError(
                f"{where}unknown {self.kind} {name!r}; available: {list(self.names())}. "
                f"{self.register_hint}") from None

    def names(self) -> tuple[str, ...]:
        """Sorted registered names."""
        return tuple(sorted(self._entries))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    # ----------------------------------------------------------------- options
    def check_options(self, name: str, options: Mapping[str, Any] | None, *,
                      path: str = "options") -> FrozenMap:
        """Validate ``options`` against ``name``'s schema; the given options, typed.

        Returns a :class:`FrozenMap` of the options that were given (values
        with their declared types: ``1`` becomes ``1.0`` for a float option),
        so equal configs hash equal. Defaults are not filled in (configs stay
        as written).

        Raises:
          ValueError: unknown component, an option it does not take (the
            message lists the valid options), a required option missing.
          TypeError: an option of the wrong type.
        """
        entry = self.get(name)
        options = json_options(path, {} if options is None else options)
        valid = list(entry.option_names)
        unknown = [k for k in options if k not in valid]
        if unknown:
            raise ValueError(
                f"{self.kind} {name!r} does not take the option(s) {unknown} (in `{path}`). "
                f"Valid options: {valid if valid else 'none'}.")
        missing = [f.name for f in dataclasses.fields(entry.schema)
                   if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
                   and f.name not in options]
        if missing:
            raise ValueError(f"{self.kind} {name!r} needs the option(s) "
                             f"{[f'{path}.{m}' for m in missing]}.")
        typed = from_dict(entry.schema, dict(options), path=path)
        return FrozenMap({k: getattr(typed, k) for k in options})

    def typed(self, name: str, options: Mapping[str, Any] | None = None) -> Any:
        """The options as an instance of ``name``'s schema, defaults filled in."""
        return from_dict(self.get(name).schema, dict(self.check_options(name, options)))

    # ------------------------------------------------------------------- build
    def build(self, name: str, options: Mapping[str, Any] | None = None, **context: Any) -> Any:
        """The component: ``factory(**context, **options)``, built once and cached.

        ``options`` should come from :meth:`check_options` (configs do this);
        a plain mapping is checked here.
        """
        if not isinstance(options, FrozenMap):
            options = self.check_options(name, options)
        key = (name, options, tuple(sorted((k, freeze(v)) for k, v in context.items())))
        try:
            return self._built[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable context value: build without caching
            return self.get(name).factory(**context, **options)
        comp = self.get(name).factory(**context, **options)
        self._built[key] = comp
        return comp


def options_schema(factory: Callable[..., Any], *, skip: tuple[str, ...] = ()) -> type:
    """A frozen dataclass whose fields are ``factory``'s keyword options.

    Every keyword (or positional-or-keyword) parameter not in ``skip`` is an
    option: its type from the annotation (else from the default's type, else
    ``Any``), its default from the signature (none: a required option).
    ``*args``/``**kwargs`` are not options.
    """
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        sig = None
    try:
        hints = typing.get_type_hints(factory)
    except Exception:  # unresolvable annotations: fall back to the defaults' types
        hints = {}
    required, optional = [], []
    if sig is not None:
        for p in sig.parameters.values():
            if p.name in skip or p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
                continue
            tp = hints.get(p.name)
            if tp is None:
                d = p.default
                tp = type(d) if isinstance(d, (bool, int, float, str)) else Any
            if p.default is inspect.Parameter.empty:
                required.append((p.name, tp))
            else:
                optional.append((p.name, tp, dataclasses.field(default=p.default)))
    name = f"{getattr(factory, '__name__', 'factory')}_options"
    return dataclasses.make_dataclass(name, required + optional, frozen=True)


def json_options(path: str, options: Any) -> FrozenMap:
    """``options`` (a mapping of name -> JSON value) as a :class:`FrozenMap`.

    Raises:
      TypeError: not a mapping with string keys, or a value JSON cannot hold.
    """
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        raise TypeError(f"`{path}` must be a mapping of option name -> value, got "
                        f"{options!r}.")
    try:
        json.dumps(to_dict(options), sort_keys=True)
    except (TypeError, ValueError) as e:
        raise TypeError(f"`{path}` must be JSON-serialisable: {e}") from None
    return options if isinstance(options, FrozenMap) else FrozenMap(options)
