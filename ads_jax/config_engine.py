"""The config engine: typed frozen dataclasses <-> JSON, text overrides, diffs.

Generic over any nested frozen dataclass; it knows nothing of ads_jax's own
configs and imports nothing of ads_jax but the file helpers of
:mod:`ads_jax._files` (which import nothing), so every layer may use it:

* :func:`from_dict` / :func:`to_dict` -- the one dict <-> dataclass path
  (built on `dacite <https://github.com/konradhalas/dacite>`_: strict, typed,
  nested; JSON lists become tuples where the field is a tuple). Missing
  fields take their defaults, unknown fields are rejected with the list of
  valid ones.
* :class:`FrozenMap` -- the immutable, hashable mapping of a config's
  free-form ``options`` (so every frozen config hashes from its fields).
* :func:`parse_text` -- the one place that turns command-line text into a
  value (numbers, booleans, ``none``, lists, JSON objects); the declared field
  type is then applied by :func:`from_dict`.
* :func:`apply_overrides` -- dotted ``FIELD=VALUE`` overrides
  (``train.epochs=3``, ``acquisition.estimator.options.aggregate=max``).
* :func:`to_json` / :func:`save_json` / :func:`load_json` / :func:`config_diff`.

Errors a user can cause (unknown field, wrong type, bad override syntax,
missing file) raise ``ValueError``/``TypeError``/``FileNotFoundError`` with a
message naming the dotted field and the fix.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from typing import Any, Iterable, Iterator, Mapping

import dacite

from ads_jax._files import atomic_write, read_json

__all__ = [
    "FrozenMap",
    "freeze",
    "to_dict",
    "from_dict",
    "to_json",
    "save_json",
    "load_json",
    "parse_text",
    "parse_override",
    "apply_overrides",
    "config_diff",
    "field_types",
    "describe_type",
]


class FrozenMap(Mapping):
    """An immutable, hashable ``str -> value`` mapping (values frozen recursively:
    lists become tuples, dicts FrozenMaps). JSON-able through :func:`to_dict`.

    The ``options`` of configs that name a registered component are FrozenMaps,
    so those configs hash and compare by value like every other frozen config.
    """

    __slots__ = ("_items", "_hash")

    def __init__(self, items: Mapping[str, Any] | Iterable[tuple[str, Any]] = ()):
        d = dict(items)
        for k in d:
            if not isinstance(k, str):
                raise TypeError(f"option names must be strings, got {k!r}.")
        object.__setattr__(self, "_items", {k: freeze(v) for k, v in d.items()})
        object.__setattr__(self, "_hash", None)

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        if self._hash is None:
            object.__setattr__(self, "_hash", hash(tuple(sorted(self._items.items()))))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self._items) == dict(other)
        return NotImplemented

    def __setattr__(self, name, value):
        raise AttributeError("FrozenMap is immutable")

    def __repr__(self) -> str:
        return f"FrozenMap({self._items!r})"

    def __reduce__(self):
        return (FrozenMap, (dict(self._items),))


def freeze(v: Any) -> Any:
    """``v`` with lists/tuples as tuples and mappings as :class:`FrozenMap` (recursively)."""
    if isinstance(v, FrozenMap):
        return v
    if isinstance(v, Mapping):
        return FrozenMap(v)
    if isinstance(v, (list, tuple)):
        return tuple(freeze(x) for x in v)
    return v


def _is_mapping_type(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, Mapping) or tp is dict


def _frozen_hook(v):
    return FrozenMap(v) if isinstance(v, Mapping) and not isinstance(v, FrozenMap) else v


def to_dict(cfg: Any) -> Any:
    """Convert a (nested) dataclass into plain JSON-able Python values.

    Dataclasses become dicts (field order kept), tuples and lists become lists,
    scalars and ``None`` are kept. Inverse of :func:`from_dict`.
    """
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg) if f.init}
    if isinstance(cfg, (tuple, list)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, Mapping):
        return {str(k): to_dict(v) for k, v in cfg.items()}
    if hasattr(cfg, "item") and getattr(cfg, "shape", None) == ():  # numpy / jax scalar
        return cfg.item()
    return cfg


def _int_hook(v):
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _float_hook(v):
    return float(v) if isinstance(v, int) and not isinstance(v, bool) else v


def _dacite_config() -> dacite.Config:
    return dacite.Config(strict=True, cast=[tuple], check_types=True,
                         type_hooks={int: _int_hook, float: _float_hook,
                                     FrozenMap: _frozen_hook})


def describe_type(tp: Any) -> str:
    """Words for a type in messages ("an integer", "a list of 2 numbers", ...)."""
    if tp is bool:
        return "true or false (true/false)"
    if tp is int:
        return "an integer"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if dataclasses.is_dataclass(tp):
        return f"a JSON object (mapping) of {tp.__name__} fields"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else describe_type(a) for a in args)
    if origin is typing.Literal:
        return f"one of {list(args)}"
    if origin is tuple or tp is tuple:
        if args and not (len(args) == 2 and args[1] is Ellipsis):
            return f"a list of exactly {len(args)} elements"
        return "a list"
    if origin in (dict, Mapping, typing.Mapping) or _is_mapping_type(tp):
        return "a JSON object"
    return getattr(tp, "__name__", str(tp))


def _check_keys(cls: type, data: Any, path: str) -> None:
    """Unknown fields (recursively into dataclass fields) -> ValueError listing the valid ones."""
    where = path or cls.__name__
    if isinstance(data, cls):
        return
    if not isinstance(data, Mapping):
        raise TypeError(f"`{where}` must be a JSON object (mapping), got {type(data).__name__}.")
    types_ = field_types(cls)
    unknown = [k for k in data if k not in types_]
    if unknown:
        if path:
            raise ValueError(f"Unknown field(s) {unknown} in `{path}`. Valid fields: "
                             f"{sorted(types_)}.")
        raise ValueError(f"Unknown {cls.__name__} field(s) {unknown}. Valid fields: "
                         f"{sorted(types_)}.")
    for k, v in data.items():
        sub = f"{path}.{k}" if path else k
        if dataclasses.is_dataclass(types_[k]) and isinstance(v, Mapping):
            _check_keys(types_[k], v, sub)
        elif v is None and _is_tuple_type(types_[k]) and not _is_optional(types_[k]):
            raise TypeError(f"`{sub}` must be {describe_type(types_[k])}, got null (none); "
                            f"e.g. {sub}={_example(types_[k])}.")
        elif _is_tuple_type(types_[k]) and not (v is None or isinstance(v, (list, tuple))):
            # dacite's cast would turn a string into a tuple of characters
            example = (f"{sub}=[{v}] on the command line or [{json.dumps(v)}] in JSON"
                       if _is_variadic_tuple(types_[k]) else f"{sub}={_example(types_[k])}")
            raise TypeError(f"`{sub}` must be {describe_type(types_[k])}, got "
                            f"{type(v).__name__} {v!r}; write a list, e.g. {example}.")


def _is_tuple_type(tp: Any) -> bool:
    if tp is tuple or typing.get_origin(tp) is tuple:
        return True
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(_is_tuple_type(a) for a in typing.get_args(tp) if a is not type(None))
    return False


def _is_optional(tp: Any) -> bool:
    return (typing.get_origin(tp) in (typing.Union, types.UnionType)
            and type(None) in typing.get_args(tp))


def _tuple_items(tp: Any) -> tuple[Any, ...] | None:
    """Item types of a tuple type: ``(X,)`` for ``tuple[X, ...]``, ``(A, B)`` for
    ``tuple[A, B]``, None for anything else (``Optional[tuple[...]]`` is unwrapped)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        tuples = [a for a in typing.get_args(tp) if typing.get_origin(a) is tuple]
        return _tuple_items(tuples[0]) if len(tuples) == 1 else None
    if typing.get_origin(tp) is not tuple or not typing.get_args(tp):
        return None
    args = typing.get_args(tp)
    return args[:1] if len(args) == 2 and args[1] is Ellipsis else args


def _is_variadic_tuple(tp: Any) -> bool:
    """``tuple[X, ...]`` (or Optional of it): a list of any length."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(_is_variadic_tuple(a) for a in typing.get_args(tp) if a is not type(None))
    args = typing.get_args(tp)
    return typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis


def _matches(v: Any, tp: Any) -> bool:
    """Whether ``v`` is a plain value of type ``tp`` (True where this cannot tell)."""
    if tp is Any:
        return True
    if tp is bool:
        return isinstance(v, bool)
    if tp is int:
        return (isinstance(v, int) and not isinstance(v, bool)) or (
            isinstance(v, float) and v.is_integer())
    if tp is float:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if tp is str:
        return isinstance(v, str)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(v is None if a is type(None) else _matches(v, a) for a in typing.get_args(tp))
    if origin is typing.Literal:
        return v in typing.get_args(tp)
    return True


def _bad_element(tp: Any, value: Any) -> tuple[int, Any] | None:
    """(index, declared item type) of the first item of ``value`` that does not
    match the tuple type ``tp``, or None."""
    items = _tuple_items(tp)
    if items is None or not isinstance(value, (list, tuple)):
        return None
    for i, v in enumerate(value):
        item_tp = items[0] if len(items) == 1 else items[min(i, len(items) - 1)]
        if not _matches(v, item_tp):
            return i, item_tp
    return None


_EXAMPLES = {int: ("0", "1", "2"), float: ("0.1", "0.5", "1.0"), str: ("a", "b"),
             bool: ("true", "false")}


def _example(tp: Any) -> str:
    """A command-line example value of a tuple type (``[0,1,2]``)."""
    items = _tuple_items(tp) or ()
    if len(items) == 1:
        vals = _EXAMPLES.get(items[0], ("...",))
    else:
        vals = [_EXAMPLES.get(t, ("...",))[min(i, 1)] for i, t in enumerate(items)]
    return "[" + ",".join(vals) + "]"


def from_dict(cls: type, data: Any, *, path: str = "") -> Any:
    """Build dataclass ``cls`` from a plain dict, type-checking every value.

    Args:
      cls: a dataclass type (nested dataclass fields are built recursively).
      data: a mapping of field name -> value (JSON-like: lists for tuples).
        Missing fields take their defaults.
      path: dotted prefix used in error messages.

    Returns:
      an instance of ``cls`` (its ``__post_init__`` checks have run).

    Raises:
      ValueError: unknown field (the message lists the valid ones), a list of
        the wrong length for a fixed-size tuple, or a value the dataclass's own
        checks reject.
      TypeError: ``data`` is not a mapping, or a value has the wrong type.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"from_dict needs a dataclass type, got {cls!r}.")
    if isinstance(data, cls):
        return data
    _check_keys(cls, data, path)
    try:
        return dacite.from_dict(cls, dict(data), config=_dacite_config())
    except dacite.WrongTypeError as e:
        where = ".".join(p for p in (path, e.field_path) if p)
        tp, value = e.field_type, e.value
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if (origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis)
                and isinstance(value, (list, tuple)) and len(value) != len(args)):
            raise ValueError(f"`{where}` must have exactly {len(args)} elements, got "
                             f"{len(value)}: {list(value)!r}.") from None
        bad = _bad_element(tp, value)
        if bad is not None:
            i, item_tp = bad
            raise TypeError(f"`{where}[{i}]` must be {describe_type(item_tp)}, got "
                            f"{type(value[i]).__name__} {value[i]!r}; e.g. "
                            f"{where}={_example(tp)}.") from None
        raise TypeError(f"`{where}` must be {describe_type(tp)}, got {type(value).__name__} "
                        f"{value!r}.") from None
    except dacite.MissingValueError as e:  # pragma: no cover - every field has a default
        raise ValueError(f"`{'.'.join(p for p in (path, e.field_path) if p)}` is required.") \
            from None
    except dacite.UnionMatchError as e:
        where = ".".join(p for p in (path, e.field_path) if p)
        raise TypeError(f"`{where}` must be {describe_type(e.field_type)}, got {e.value!r}.") \
            from None


def to_json(cfg: Any, *, indent: int | None = 2) -> str:
    """JSON text of :func:`to_dict` (keys in field order)."""
    return json.dumps(to_dict(cfg), indent=indent)


def save_json(cfg: Any, path: str | os.PathLike) -> None:
    """Write ``cfg`` as JSON to ``path`` atomically (parent directories are created)."""
    atomic_write(path, to_json(cfg) + "\n")


def load_json(cls: type, path: str | os.PathLike) -> Any:
    """Read a JSON file into dataclass ``cls`` via :func:`from_dict`.

    Raises:
      FileNotFoundError: ``path`` does not exist.
      ValueError: the file is not valid JSON, or has unknown fields.
      TypeError: a value has the wrong type.
    """
    return from_dict(cls, read_json(path, what="Config file"))


# ----------------------------------------------------------------------------
# Text -> value, and dotted command-line overrides.
# ----------------------------------------------------------------------------

_NULLS = ("none", "null")
_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def _is_str_type(tp: Any) -> bool:
    if tp is str:
        return True
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(a is str for a in typing.get_args(tp))
    return False


def parse_text(raw: str, tp: Any = Any) -> Any:
    """The one place that turns command-line text into a value.

    ``none``/``null`` -> None; ``true``/``false`` (also yes/no/on/off) ->
    bool; numbers; JSON (objects, lists, quoted strings); ``[a, b]`` or
    ``a,b`` -> a list whose items are parsed the same way; anything else is
    the text itself. Where the declared type ``tp`` is a string, the text is
    kept verbatim (surrounding quotes removed), so ``data.dataset=5`` is the
    string ``"5"``. The declared type is applied afterwards by :func:`from_dict`.
    """
    text = raw.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    if _is_str_type(tp) and text.lower() not in _NULLS:
        return text
    low = text.lower()
    if low in _NULLS:
        return None
    if low in _BOOLS:
        return _BOOLS[low]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    if text[:1] in "[(":
        if text[-1:] not in "])":
            raise ValueError(f"unbalanced brackets in {raw!r}")
        inner = text[1:-1]
        return [parse_text(s) for s in inner.split(",")] if inner.strip() else []
    if "," in text:
        return [parse_text(s) for s in text.split(",")]
    return text


def parse_override(text: str) -> tuple[str, str]:
    """Split ``"a.b=value"`` into ``("a.b", "value")``.

    Raises:
      ValueError: no ``=`` or an empty key.
    """
    if not isinstance(text, str) or "=" not in text:
        raise ValueError(
            f"Bad override {text!r}: expected FIELD=VALUE with a dotted field name, "
            "e.g. train.epochs=3 or acquisition.arm=ads+coreset."
        )
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ValueError(f"Bad override {text!r}: empty field name before '='.")
    return key, raw.strip()


def _set_in(data: dict, tp: Any, parts: list[str], raw: str, full: str, done: str) -> dict:
    """Set ``parts`` (a dotted path below ``data``, a dict of type ``tp``) to text ``raw``."""
    name = parts[0]
    if dataclasses.is_dataclass(tp):
        types_ = field_types(tp)
        if name not in types_:
            raise ValueError(
                f"Unknown config field `{full}`: `{done or tp.__name__}` has no field {name!r}. "
                f"Valid fields: {sorted(types_)}.")
        sub_tp = types_[name]
    elif typing.get_origin(tp) in (dict, Mapping, typing.Mapping) or _is_mapping_type(tp):
        sub_tp = Any  # options of a registered component: typed by its schema later
    else:
        raise ValueError(f"Bad override `{full}`: `{done}` is {describe_type(tp)}, it has no "
                         f"field {name!r}.")
    out = dict(data)
    where = f"{done}.{name}" if done else name
    if len(parts) == 1:
        try:
            value = parse_text(raw, sub_tp)
        except ValueError as e:
            raise ValueError(f"Bad value for `{full}`: {e}.") from None
        if _is_variadic_tuple(sub_tp) and not isinstance(value, (list, tuple, Mapping)) \
                and value is not None:
            value = [value]  # `loop.arms=ads+coreset` is the one-element list [ads+coreset]
        out[name] = value
    else:
        child = out.get(name)
        if not isinstance(child, Mapping):
            if dataclasses.is_dataclass(sub_tp) or sub_tp is Any or _is_mapping_type(sub_tp):
                child = {}
            else:
                raise ValueError(f"Bad override `{full}`: `{where}` is {describe_type(sub_tp)}, "
                                 f"it has no field {parts[1]!r}.")
        out[name] = _set_in(dict(child), sub_tp, parts[1:], raw, full, where)
    return out


def apply_overrides(cfg: Any, overrides: Iterable[str]) -> Any:
    """Return ``cfg`` with dotted ``FIELD=VALUE`` overrides applied.

    Each value is parsed by :func:`parse_text` and typed by the declared type
    of its field (:func:`from_dict`): ``int``/``float``/``bool``
    (``true``/``false``), strings as written (quotes optional),
    ``none``/``null`` for optional fields, tuples as ``[2,5]`` or ``2,5``,
    JSON objects for dict fields. ``options`` of registered components take
    dotted keys (``acquisition.valuation.options.tau=0.5``) checked against the
    component's options. Every sub-config's checks run on the result.

    Args:
      cfg: a (nested) frozen dataclass instance, e.g. an :class:`ExperimentConfig`.
      overrides: strings like ``"train.epochs=3"``, ``"acquisition.arm=ads+badge"``,
        ``"data.noise_beta=[2,5]"``, ``"loop.seeds=[0,1,2]"``.

    Raises:
      ValueError: bad syntax, unknown field (message lists the valid fields of
        that section), or a value of the wrong type.
    """
    overrides = list(overrides)
    if not overrides:
        return cfg
    data = to_dict(cfg)
    for text in overrides:
        key, raw = parse_override(text)
        data = _set_in(data, type(cfg), key.split("."), raw, key, "")
    try:
        return from_dict(type(cfg), data)
    except TypeError as e:
        raise ValueError(f"Bad value: {e}") from None


def config_diff(a: Any, b: Any, *, prefix: str = "") -> list[str]:
    """Dotted paths of the leaves where two configs (or their dicts) differ."""
    da = to_dict(a) if not isinstance(a, dict) else a
    db = to_dict(b) if not isinstance(b, dict) else b
    out = []
    for k in sorted(set(da) | set(db)):
        p = f"{prefix}.{k}" if prefix else k
        va, vb = da.get(k, _MISSING), db.get(k, _MISSING)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += config_diff(va, vb, prefix=p)
        elif va != vb:
            out.append(p)
    return out


_MISSING = object()


def field_types(cls: type) -> dict[str, Any]:
    """Resolved type hints of a dataclass's init fields (types resolved in ``cls``'s module)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}
