"""Experiment configuration: typed frozen dataclasses you can diff, save and override.

An experiment is one :class:`ExperimentConfig`, made of the typed sub-configs
of the layers it drives; each layer receives only its own sub-config::

    ExperimentConfig(
        data=ScenarioConfig(...),           # ads_jax.data: dataset and pool make-up
        model=ModelConfig(...),             # ads_jax.models: Wide ResNet size
        train=TrainConfig(...),             # ads_jax.training: optimiser, epochs, patience
        acquisition=AcquisitionConfig(      # ads_jax.acquisition: arm, budget and
            valuation=..., estimator=...,   #   the sub-configs of its four stages
            preselect=..., selector=...),
        loop=LoopConfig(...),               # this module: rounds, arms, seeds, out_dir
    )

Each sub-config validates its own fields in ``__post_init__`` (with the
helpers of :mod:`ads_jax._validation`), once, when it is built; components
named by a registry (valuation, estimator, selector) have their ``options``
checked against the component's registered options schema there too.

The engine (generic over any nested frozen dataclass):

* :func:`from_dict` / :func:`to_dict` -- the one dict <-> dataclass path
  (built on `dacite <https://github.com/konradhalas/dacite>`_: strict, typed,
  nested; JSON lists become tuples where the field is a tuple). Missing
  fields take their defaults, unknown fields are rejected with the list of
  valid ones.
* :func:`parse_text` -- the one place that turns command-line text into a
  value (numbers, booleans, ``none``, lists, JSON objects); the declared field
  type is then applied by :func:`from_dict`.
* :func:`apply_overrides` -- dotted ``FIELD=VALUE`` overrides
  (``train.epochs=3``, ``acquisition.estimator.options.aggregate=max``).
* :func:`save_json` / :func:`load_json` / :func:`config_diff`.

Named experiments are code: one module per experiment in :mod:`ads_jax.configs`
with ``get_config(arg)``; :func:`resolve_config` accepts ``name[:arg]``, a
Python file (``path/exp.py[:arg]``), a module (``pkg.mod[:arg]``) or a JSON file.

Errors a user can cause (unknown field, wrong type, bad override syntax,
unknown config name, missing file) raise ``ValueError``/``TypeError``/
``FileNotFoundError`` with a message naming the field and the fix.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import dacite

from ads_jax import _validation as V

if TYPE_CHECKING:  # real types of the sub-configs (resolved lazily: those modules import JAX)
    from ads_jax.acquisition import AcquisitionConfig
    from ads_jax.data import ScenarioConfig
    from ads_jax.models import ModelConfig
    from ads_jax.training import TrainConfig

__all__ = [
    "LoopConfig",
    "ExperimentConfig",
    "to_dict",
    "from_dict",
    "to_json",
    "save_json",
    "load_json",
    "parse_text",
    "parse_override",
    "apply_overrides",
    "config_diff",
    "get_config",
    "available_configs",
    "resolve_config",
]


# ----------------------------------------------------------------------------
# Loop configuration (owned here).
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """How the active learning loop runs (see :func:`ads_jax.loop.run_experiment`).

    Attributes:
      rounds: number of acquisition rounds R >= 0. The loop trains R + 1 models
        (after 0, 1, ..., R acquisitions) and records R + 1 rows per arm and seed.
        The batch size of one acquisition is ``acquisition.budget``.
      arms: arms to compare, e.g. ``("ads+coreset", "coreset", "randfilter+coreset")``.
        Empty (default) means the single arm ``acquisition.arm``.
      seeds: experiment seeds; seed s fixes the scenario split
        (``build_scenario(data, s)``) and every PRNG key of the run, which derive
        from ``jax.random.key(s)`` via ``fold_in(round)``.
      out_dir: run directory (``config.json``, ``results.jsonl``, ``checkpoints/``,
        ``artefacts/``, ``curves.png``).
      checkpoint: save the loop state with Orbax after every round and resume
        from it when the same run directory is reused.
      max_to_keep: checkpoints kept per (arm, seed) (>= 1).
      checkpoint_training: also checkpoint every training epoch (``fit``'s
        ``checkpoint_dir``), so that a run killed in the middle of a long
        training resumes from its last epoch instead of the start of the
        round. Worth it for GPU-scale runs; off by default because saving
        every epoch costs more than it saves on the tiny CPU runs.
      eval_batch_size: batch size of inference (pool embedding, test accuracy).
      share_initial_round: the round-0 model depends only on the seed (same
        initial labeled set, same key), so train it once per seed and reuse it
        for every arm. Results are identical either way; this only saves time.
      warm_timing: time each acquisition on warm calls: the fused program
        runs a second time (``time.selection``; ``time.selection_first_call``
        keeps the first call, which compiles in round 0), and the staged path
        runs for the per-stage times (``time.valuation`` ...); its picks are
        compared with the fused program's every round (a difference, a float
        near-tie broken differently by two programs, is a warning; the run
        keeps the fused picks). Off: only the fused program runs (GPU-scale
        runs).
      save_artefacts: write the per-round arrays a researcher analyses (exact
        values of the labeled points, predicted values of the pool, the
        pre-selection mask, the picks) to ``artefacts/<arm>/seed_<s>/
        round_<r>.npz`` (see :mod:`ads_jax.rundir`).
      mesh: devices of the acquisition step: ``"none"`` (one device, the
        arrays gathered on the host) or ``"all"`` (a 1-D mesh over every device
        of every process: the pool embeddings stay sharded on the devices, and
        valuation, regression and selection run on the global arrays; needed
        for multi-host runs, ``train.multi_host=true``). Training always uses
        every device (``train.data_parallel``). Same picks either way.
    """

    rounds: int = 4
    arms: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0,)
    out_dir: str = "runs/experiment"
    checkpoint: bool = True
    max_to_keep: int = 2
    checkpoint_training: bool = False
    eval_batch_size: int = 512
    share_initial_round: bool = True
    warm_timing: bool = True
    save_artefacts: bool = True
    mesh: str = "none"

    def __post_init__(self):
        V.check_int("loop.rounds", self.rounds, minimum=0)
        V.check_choice("loop.mesh", self.mesh, ("none", "all"))
        V.check_int("loop.max_to_keep", self.max_to_keep, minimum=1)
        V.check_int("loop.eval_batch_size", self.eval_batch_size, minimum=1)
        if not isinstance(self.arms, tuple) or not all(isinstance(a, str) and a for a in self.arms):
            raise TypeError(f"`loop.arms` must be a tuple of non-empty strings, got {self.arms!r}.")
        if len(set(self.arms)) != len(self.arms):
            raise ValueError(f"`loop.arms` contains duplicates: {list(self.arms)}.")
        if not isinstance(self.seeds, tuple) or not self.seeds:
            raise ValueError(f"`loop.seeds` must be a non-empty tuple of integers, got {self.seeds!r}.")
        for s in self.seeds:
            V.check_int("loop.seeds[...]", s, minimum=0)
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"`loop.seeds` contains duplicates: {list(self.seeds)}.")
        if not isinstance(self.out_dir, str) or not self.out_dir.strip():
            raise ValueError(f"`loop.out_dir` must be a non-empty path, got {self.out_dir!r}.")
        for b in ("checkpoint", "checkpoint_training", "share_initial_round", "warm_timing",
                  "save_artefacts"):
            V.check_bool(f"loop.{b}", getattr(self, b))


# ----------------------------------------------------------------------------
# Experiment configuration.
# ----------------------------------------------------------------------------


def _sub_config_types() -> dict[str, type]:
    """The sub-config types of :class:`ExperimentConfig` (imported lazily)."""
    from ads_jax.acquisition import AcquisitionConfig
    from ads_jax.data import ScenarioConfig
    from ads_jax.models import ModelConfig
    from ads_jax.training import TrainConfig

    return {"ScenarioConfig": ScenarioConfig, "ModelConfig": ModelConfig,
            "TrainConfig": TrainConfig, "AcquisitionConfig": AcquisitionConfig,
            "LoopConfig": LoopConfig}


def _default(name: str):
    return lambda: _sub_config_types()[name]()


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """One complete, JSON-able experiment: scenario, model, training, acquisition, loop.

    Every field has a default (the package defaults of each module), so
    ``ExperimentConfig()`` is valid and a JSON file only needs the fields that
    differ.
    """

    data: ScenarioConfig = dataclasses.field(default_factory=_default("ScenarioConfig"))
    model: ModelConfig = dataclasses.field(default_factory=_default("ModelConfig"))
    train: TrainConfig = dataclasses.field(default_factory=_default("TrainConfig"))
    acquisition: AcquisitionConfig = dataclasses.field(
        default_factory=_default("AcquisitionConfig"))
    loop: LoopConfig = dataclasses.field(default_factory=LoopConfig)

    def __post_init__(self):
        for name, tp in _field_types(ExperimentConfig).items():
            v = getattr(self, name)
            if not isinstance(v, tp):
                raise TypeError(
                    f"`ExperimentConfig.{name}` must be a {tp.__name__}, got {type(v).__name__}.")

    @property
    def arms(self) -> tuple[str, ...]:
        """The arms the loop runs: ``loop.arms``, or ``(acquisition.arm,)`` when empty."""
        return self.loop.arms if self.loop.arms else (self.acquisition.arm,)


def _field_types(cls: type) -> dict[str, Any]:
    """Resolved type hints of a dataclass's init fields."""
    hints = typing.get_type_hints(cls, localns=_sub_config_types())
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


# ----------------------------------------------------------------------------
# dict <-> dataclass (the one conversion path).
# ----------------------------------------------------------------------------


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
                         type_hooks={int: _int_hook, float: _float_hook},
                         forward_references=_sub_config_types())


def _describe(tp: Any) -> str:
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
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    if origin is typing.Literal:
        return f"one of {list(args)}"
    if origin is tuple or tp is tuple:
        if args and not (len(args) == 2 and args[1] is Ellipsis):
            return f"a list of exactly {len(args)} elements"
        return "a list"
    if origin in (dict, Mapping, typing.Mapping) or tp is dict:
        return "a JSON object"
    return getattr(tp, "__name__", str(tp))


def _check_keys(cls: type, data: Any, path: str) -> None:
    """Unknown fields (recursively into dataclass fields) -> ValueError listing the valid ones."""
    where = path or cls.__name__
    if isinstance(data, cls):
        return
    if not isinstance(data, Mapping):
        raise TypeError(f"`{where}` must be a JSON object (mapping), got {type(data).__name__}.")
    types_ = _field_types(cls)
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
        elif _is_tuple_type(types_[k]) and not (v is None or isinstance(v, (list, tuple))):
            # dacite's cast would turn a string into a tuple of characters
            raise TypeError(f"`{sub}` must be {_describe(types_[k])}, got "
                            f"{type(v).__name__} {v!r}.")


def _is_tuple_type(tp: Any) -> bool:
    if tp is tuple or typing.get_origin(tp) is tuple:
        return True
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return any(_is_tuple_type(a) for a in typing.get_args(tp) if a is not type(None))
    return False


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
        raise TypeError(f"`{where}` must be {_describe(tp)}, got {type(value).__name__} "
                        f"{value!r}.") from None
    except dacite.MissingValueError as e:  # pragma: no cover - every field has a default
        raise ValueError(f"`{'.'.join(p for p in (path, e.field_path) if p)}` is required.") \
            from None
    except dacite.UnionMatchError as e:
        where = ".".join(p for p in (path, e.field_path) if p)
        raise TypeError(f"`{where}` must be {_describe(e.field_type)}, got {e.value!r}.") \
            from None


def to_json(cfg: Any, *, indent: int | None = 2) -> str:
    """JSON text of :func:`to_dict` (keys in field order)."""
    return json.dumps(to_dict(cfg), indent=indent)


def save_json(cfg: Any, path: str | os.PathLike) -> None:
    """Write ``cfg`` as JSON to ``path`` atomically (parent directories are created)."""
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(to_json(cfg))
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_json(cls: type, path: str | os.PathLike) -> Any:
    """Read a JSON file into dataclass ``cls`` via :func:`from_dict`.

    Raises:
      FileNotFoundError: ``path`` does not exist.
      ValueError: the file is not valid JSON, or has unknown fields.
      TypeError: a value has the wrong type.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Config file {path!r} does not exist.")
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"Config file {path!r} is not valid JSON: {e}.") from None
    return from_dict(cls, data)


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
        types_ = _field_types(tp)
        if name not in types_:
            raise ValueError(
                f"Unknown config field `{full}`: `{done or tp.__name__}` has no field {name!r}. "
                f"Valid fields: {sorted(types_)}.")
        sub_tp = types_[name]
    elif typing.get_origin(tp) in (dict, Mapping, typing.Mapping) or tp in (dict, Mapping):
        sub_tp = Any  # options of a registered component: typed by its schema later
    else:
        raise ValueError(f"Bad override `{full}`: `{done}` is {_describe(tp)}, it has no "
                         f"field {name!r}.")
    out = dict(data)
    where = f"{done}.{name}" if done else name
    if len(parts) == 1:
        try:
            out[name] = parse_text(raw, sub_tp)
        except ValueError as e:
            raise ValueError(f"Bad value for `{full}`: {e}.") from None
    else:
        child = out.get(name)
        if not isinstance(child, Mapping):
            if dataclasses.is_dataclass(sub_tp) or sub_tp in (dict, Any):
                child = {}
            else:
                raise ValueError(f"Bad override `{full}`: `{where}` is {_describe(sub_tp)}, "
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


# ----------------------------------------------------------------------------
# Named experiments (configs as code, in ads_jax.configs).
# ----------------------------------------------------------------------------


def available_configs() -> tuple[str, ...]:
    """Names of the built-in experiment modules in :mod:`ads_jax.configs`."""
    from ads_jax.configs import available

    return available()


def get_config(spec: str) -> ExperimentConfig:
    """A named experiment: ``"name"`` or ``"name:arg"`` (see :mod:`ads_jax.configs`).

    Raises:
      ValueError: unknown name or variant (the message lists the choices).
    """
    from ads_jax.configs import load

    return load(spec)


def resolve_config(spec: str, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """A named experiment, a Python config file or a JSON file, with overrides applied.

    ``spec`` is ``name[:arg]`` (a module of :mod:`ads_jax.configs`),
    ``path/to/exp.py[:arg]`` or ``package.module[:arg]`` (any module with a
    ``get_config(arg)``), or ``path/to/config.json``.

    Raises:
      FileNotFoundError: ``spec`` names a file that does not exist.
      ValueError: unknown name, bad JSON, unknown field, bad override.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("The config must be a built-in name, a .py/.json file or a module, "
                         f"got {spec!r}.")
    if spec.endswith(".json"):
        cfg = load_json(ExperimentConfig, spec)
    else:
        cfg = get_config(spec)
    return apply_overrides(cfg, overrides)
