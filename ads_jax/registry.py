"""Name -> component registries: the one extension mechanism of ads_jax.

Three kinds of component are looked up by name from configs, the loop and the
command line, each in its own :class:`Registry`:

* valuations (``ads_jax.valuation.register_valuation``): labeled points ->
  data values (KNN-Shapley variants, TMC-Shapley, yours);
* value estimators (``ads_jax.valuation.register_estimator``): values of the
  labeled points -> values of the pool (the paper's per-class KNN regression,
  yours);
* selectors (``ads_jax.selection.register_selector``): a batch from a pool.

Each entry is a callable plus an **options schema**: a frozen dataclass whose
fields are the component's tunable options (their types and defaults). A
config names a component and gives its options as a plain JSON object; the
registry validates that object against the schema once, when the config is
built (:meth:`Registry.parse_options`), so an unknown option or a wrong type
fails with the list of valid options before any work starts. The component
receives the typed options object.

A user registers a component from any module (``ads-jax run --import
my_module ...`` imports it before the config resolves); see ARCHITECTURE.md.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import typing
from typing import Any, Callable, Mapping

__all__ = ["Entry", "Registry", "NoOptions", "ComponentConfig", "options_from_signature"]


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """Options schema of a component that takes no options."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered component.

    Attributes:
      name: registry name.
      fn: the component (a callable, or a kind-specific object such as a
        :class:`~ads_jax.valuation.Recursion`).
      options: frozen dataclass type of its options (:class:`NoOptions` if none).
      meta: kind-specific flags (e.g. ``{"traceable": True}``).
    """

    name: str
    fn: Any
    options: type
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)


class Registry:
    """A name -> :class:`Entry` table for one kind of component.

    Args:
      kind: what is registered, for messages (``"valuation"``).
      register_hint: how to register one, for messages.
    """

    def __init__(self, kind: str, register_hint: str):
        self.kind = kind
        self.register_hint = register_hint
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, fn: Any, *, options: type | None = None,
                 overwrite: bool = False, **meta: Any) -> Entry:
        """Add ``fn`` under ``name`` (ValueError if taken, unless ``overwrite``).

        ``options`` must be a dataclass type (its fields are the options) or
        None for none. Re-registering the same object under the same name is
        a no-op, so modules may be imported twice.
        """
        if not isinstance(name, str) or not name or name != name.strip():
            raise TypeError(f"{self.kind} `name` must be a non-empty string, got {name!r}.")
        if options is None:
            options = NoOptions
        if not (isinstance(options, type) and dataclasses.is_dataclass(options)):
            raise TypeError(
                f"`options` of {self.kind} {name!r} must be a dataclass type (its fields are the "
                f"options), got {options!r}.")
        old = self._entries.get(name)
        if old is not None and not overwrite and old.fn is not fn:
            raise ValueError(
                f"a {self.kind} named {name!r} is already registered; pass overwrite=True to "
                "replace it.")
        entry = Entry(name, fn, options, dict(meta))
        self._entries[name] = entry
        return entry

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

    def parse_options(self, name: str, options: Mapping[str, Any] | None, *,
                      path: str = "options") -> Any:
        """Validate ``options`` against ``name``'s schema; return the typed options object.

        Raises:
          ValueError: unknown component, or an option it does not take (the
            message lists the valid options).
          TypeError: an option of the wrong type.
        """
        from ads_jax.config_engine import from_dict  # the one dict -> dataclass path

        entry = self.get(name)
        options = {} if options is None else options
        if not isinstance(options, Mapping):
            raise TypeError(f"`{path}` must be a mapping of option name -> value, got "
                            f"{type(options).__name__}.")
        valid = [f.name for f in dataclasses.fields(entry.options) if f.init]
        unknown = [k for k in options if k not in valid]
        if unknown:
            raise ValueError(
                f"{self.kind} {name!r} does not take the option(s) {unknown} (in `{path}`). "
                f"Valid options: {valid if valid else 'none'}.")
        return from_dict(entry.options, dict(options), path=path)


class ComponentConfig:
    """Mixin of the configs that name a registered component: fields ``name`` and
    ``options`` (a JSON object checked against the component's schema).

    Subclasses set ``_registry`` and ``_section`` (the config section, for
    messages), call :meth:`_check_component` in ``__post_init__`` and set
    ``__hash__ = ComponentConfig.__hash__`` (frozen dataclasses would make one
    from the fields, and ``options`` is a dict).
    """

    _registry: Registry
    _section: str

    def _check_component(self) -> None:
        if not isinstance(self.name, str):
            raise TypeError(f"`{self._section}.name` must be a string, got {self.name!r}.")
        self._registry.get(self.name, arg=f"{self._section}.name")
        typed = self._registry.parse_options(self.name, self.options,
                                             path=f"{self._section}.options")
        # The given options, with their declared types (1 -> 1.0 for a float), so
        # equal configs hash equal.
        object.__setattr__(self, "options", {k: getattr(typed, k) for k in self.options})

    def __hash__(self):
        return hash(json.dumps(dataclasses.asdict(self), sort_keys=True))

    def typed_options(self) -> Any:
        """The options as the component's typed options object."""
        return self._registry.parse_options(self.name, self.options,
                                            path=f"{self._section}.options")


def options_from_signature(fn: Callable, skip: tuple[str, ...]) -> type:
    """An options dataclass built from ``fn``'s keyword parameters.

    Every parameter with a default that is not in ``skip`` becomes a field
    (type from the annotation, else from the default's type, else ``Any``).
    Used for selectors, whose options are their keyword arguments.
    """
    try:
        sig = inspect.signature(fn)
        hints = typing.get_type_hints(fn)
    except (TypeError, ValueError, NameError):
        sig, hints = None, {}
    fields = []
    if sig is not None:
        for p in sig.parameters.values():
            if p.name in skip or p.default is inspect.Parameter.empty:
                continue
            if p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
                continue
            tp = hints.get(p.name)
            if tp is None:
                d = p.default
                tp = type(d) if isinstance(d, (bool, int, float, str)) else Any
            fields.append((p.name, tp, dataclasses.field(default=p.default)))
    name = f"{getattr(fn, '__name__', 'fn')}_options"
    return dataclasses.make_dataclass(name, fields, frozen=True)
