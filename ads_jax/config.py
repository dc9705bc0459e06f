"""Experiment configuration: frozen dataclasses you can diff, save and override.

An experiment is one :class:`ExperimentConfig`, made of the config dataclasses
of the modules it drives::

    ExperimentConfig(
        data=ScenarioConfig(...),          # ads_jax.data: dataset and pool make-up
        model=ModelConfig(...),            # ads_jax.models: Wide ResNet size
        train=TrainConfig(...),            # ads_jax.training: optimiser, epochs, patience
        acquisition=AcquisitionConfig(...),# ads_jax.acquisition: arm, budget, valuation
        loop=LoopConfig(...),              # this module: rounds, arms, seeds, out_dir
    )

Generic utilities work on any (nested) frozen dataclass whose fields are
JSON-able scalars, tuples, ``None`` or further dataclasses:

* :func:`to_dict` / :func:`from_dict` — plain-dict round trip. ``from_dict``
  type-checks every value, turns JSON lists into tuples, fills missing fields
  with their defaults (so a JSON file only needs what differs from the
  defaults) and rejects unknown fields with the list of valid ones.
* :func:`save_json` / :func:`load_json` — the same through a JSON file.
* :func:`apply_overrides` — command-line style dotted overrides
  ``["train.epochs=3", "acquisition.arm=ads+badge", "data.noise_beta=[2,5]"]``,
  each value parsed according to the declared type of its field.
* :func:`get_config` / :func:`available_configs` — named built-in experiments
  (``"demo"``, ``"fashion_mnist_noisy"``, ``"cifar10_noisy"``, ``"tiny"``);
  :func:`resolve_config` accepts a built-in name or a JSON path.

Errors a user can cause (unknown field, wrong type, bad override syntax,
unknown config name, missing file) raise ``ValueError``/``TypeError``/
``FileNotFoundError`` with a message naming the field and the fix.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import types
import typing
from typing import Any, Callable, Iterable, Mapping, Sequence

__all__ = [
    "LoopConfig",
    "ExperimentConfig",
    "to_dict",
    "from_dict",
    "to_json",
    "save_json",
    "load_json",
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
        ``curves.png``).
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
      warm_timing: run each acquisition twice with the same key and record
        the stage times of the second call. Pool and labeled-set sizes change
        every round, so the first call includes JIT compilation, which would
        otherwise dominate the selection times of small pools. The picks of
        both calls must agree (checked); ``time.selection_first_call`` keeps
        the first call's total.
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

    def __post_init__(self):
        _check_int("loop.rounds", self.rounds, minimum=0)
        _check_int("loop.max_to_keep", self.max_to_keep, minimum=1)
        _check_int("loop.eval_batch_size", self.eval_batch_size, minimum=1)
        if not isinstance(self.arms, tuple) or not all(isinstance(a, str) and a for a in self.arms):
            raise TypeError(f"`loop.arms` must be a tuple of non-empty strings, got {self.arms!r}.")
        if len(set(self.arms)) != len(self.arms):
            raise ValueError(f"`loop.arms` contains duplicates: {list(self.arms)}.")
        if not isinstance(self.seeds, tuple) or not self.seeds:
            raise ValueError(f"`loop.seeds` must be a non-empty tuple of integers, got {self.seeds!r}.")
        for s in self.seeds:
            _check_int("loop.seeds[...]", s, minimum=0)
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"`loop.seeds` contains duplicates: {list(self.seeds)}.")
        if not isinstance(self.out_dir, str) or not self.out_dir:
            raise TypeError(f"`loop.out_dir` must be a non-empty path string, got {self.out_dir!r}.")


def _check_int(name: str, v: Any, *, minimum: int) -> None:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer, got {type(v).__name__} {v!r}.")
    if v < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {v}.")


# ----------------------------------------------------------------------------
# Experiment configuration.
# ----------------------------------------------------------------------------


def _default_data():
    from ads_jax.data import ScenarioConfig

    return ScenarioConfig()


def _default_model():
    from ads_jax.models import ModelConfig

    return ModelConfig()


def _default_train():
    from ads_jax.training import TrainConfig

    return TrainConfig()


def _default_acquisition():
    from ads_jax.acquisition import AcquisitionConfig

    return AcquisitionConfig()


def _sub_config_types() -> dict[str, type]:
    from ads_jax.acquisition import AcquisitionConfig
    from ads_jax.data import ScenarioConfig
    from ads_jax.models import ModelConfig
    from ads_jax.training import TrainConfig

    return {
        "data": ScenarioConfig,
        "model": ModelConfig,
        "train": TrainConfig,
        "acquisition": AcquisitionConfig,
        "loop": LoopConfig,
    }


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """One complete, JSON-able experiment: scenario, model, training, acquisition, loop.

    Every field has a default (the package defaults of each module), so
    ``ExperimentConfig()`` is valid and a JSON file only needs the fields that
    differ. Sub-config types are resolved lazily (the modules import JAX).
    """

    data: Any = dataclasses.field(default_factory=_default_data)
    model: Any = dataclasses.field(default_factory=_default_model)
    train: Any = dataclasses.field(default_factory=_default_train)
    acquisition: Any = dataclasses.field(default_factory=_default_acquisition)
    loop: LoopConfig = dataclasses.field(default_factory=LoopConfig)

    def __post_init__(self):
        for name, cls in _sub_config_types().items():
            v = getattr(self, name)
            if not isinstance(v, cls):
                raise TypeError(
                    f"`ExperimentConfig.{name}` must be a {cls.__name__}, got {type(v).__name__}."
                )

    @property
    def arms(self) -> tuple[str, ...]:
        """The arms the loop runs: ``loop.arms``, or ``(acquisition.arm,)`` when empty."""
        return self.loop.arms if self.loop.arms else (self.acquisition.arm,)


def _field_types(cls: type) -> dict[str, Any]:
    """Resolved type hints of a dataclass's init fields (handles string annotations)."""
    if cls is ExperimentConfig:
        return _sub_config_types()
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # pragma: no cover - unresolvable annotation: fall back to raw
        hints = {f.name: f.type for f in dataclasses.fields(cls)}
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls) if f.init}


# ----------------------------------------------------------------------------
# Generic dict / JSON conversion.
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


def to_json(cfg: Any, *, indent: int | None = 2) -> str:
    """JSON text of :func:`to_dict` (keys in field order)."""
    return json.dumps(to_dict(cfg), indent=indent)


def save_json(cfg: Any, path: str | os.PathLike) -> None:
    """Write ``cfg`` as JSON to ``path`` (parent directories are created)."""
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(to_json(cfg))
        f.write("\n")
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


def from_dict(cls: type, data: Any, *, path: str = "") -> Any:
    """Build dataclass ``cls`` from a plain dict, type-checking every value.

    Args:
      cls: a dataclass type (nested dataclass fields are built recursively).
      data: a mapping of field name -> value (JSON-like: lists for tuples).
        Missing fields take their defaults.
      path: dotted prefix used in error messages.

    Returns:
      an instance of ``cls``.

    Raises:
      ValueError: unknown field (the message lists the valid ones) or a value
        the dataclass's own checks reject.
      TypeError: ``data`` is not a mapping, or a value has the wrong type.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"from_dict needs a dataclass type, got {cls!r}.")
    where = path or cls.__name__
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        raise TypeError(f"`{where}` must be a JSON object (mapping), got {type(data).__name__}.")
    types_ = _field_types(cls)
    unknown = [k for k in data if k not in types_]
    if unknown:
        raise ValueError(
            f"Unknown field(s) {unknown} in `{where}`. Valid fields: {sorted(types_)}."
        )
    kwargs = {}
    for name, value in data.items():
        sub = f"{path}.{name}" if path else name
        kwargs[name] = _coerce(value, types_[name], sub)
    return cls(**kwargs)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check/convert a JSON value to the declared field type ``tp``."""
    if tp is Any or tp is object:
        return _freeze(value)
    if isinstance(tp, str):  # unresolved forward reference: accept as is
        return _freeze(value)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path=path)
    origin = typing.get_origin(tp)
    if _is_union(tp):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise TypeError(f"`{path}` must not be null (expected {_type_name(tp)}).")
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, path)
            except (TypeError, ValueError):
                pass
        raise TypeError(f"`{path}` must be {_type_name(tp)}, got {value!r}.")
    if origin is typing.Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ValueError(f"`{path}` must be one of {list(choices)}, got {value!r}.")
        return value
    if origin in (tuple, list, Sequence, typing.Sequence) or tp in (tuple, list):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise TypeError(f"`{path}` must be a list, got {type(value).__name__} {value!r}.")
        args = typing.get_args(tp)
        if not args:
            out = [_freeze(v) for v in value]
        elif origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise ValueError(
                    f"`{path}` must have exactly {len(args)} elements, got {len(value)}: {value!r}."
                )
            out = [_coerce(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            out = [_coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(value)]
        return out if origin is list or tp is list else tuple(out)
    if origin in (dict, Mapping, typing.Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise TypeError(f"`{path}` must be a JSON object, got {type(value).__name__}.")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise TypeError(f"`{path}` must be true or false, got {value!r}.")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise TypeError(f"`{path}` must be an integer, got {type(value).__name__} {value!r}.")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"`{path}` must be a number, got {type(value).__name__} {value!r}.")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise TypeError(f"`{path}` must be a string, got {type(value).__name__} {value!r}.")
        return value
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        try:
            return tp(value)
        except Exception:
            raise TypeError(f"`{path}` must be {tp.__name__}, got {value!r}.") from None
    return _freeze(value)


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


# ----------------------------------------------------------------------------
# Dotted command-line overrides.
# ----------------------------------------------------------------------------

_NULLS = ("none", "null")


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


def _parse_raw(raw: str, tp: Any, path: str) -> Any:
    """Parse the text of an override according to the declared field type."""
    if _is_union(tp):
        args = typing.get_args(tp)
        if raw.lower() in _NULLS and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _parse_raw(raw, a, path)
            except (TypeError, ValueError):
                pass
        raise ValueError(f"Bad value for `{path}`: {raw!r} is not {_type_name(tp)}.")
    if tp is str:
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            return raw[1:-1]
        return raw
    if tp is bool:
        low = raw.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"Bad value for `{path}`: {raw!r} is not a boolean (use true/false).")
    if tp is int:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"Bad value for `{path}`: {raw!r} is not an integer.") from None
    if tp is float:
        try:
            v = float(raw)
        except ValueError:
            raise ValueError(f"Bad value for `{path}`: {raw!r} is not a number.") from None
        if math.isnan(v):
            raise ValueError(f"Bad value for `{path}`: NaN is not allowed.")
        return v
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        for choice in typing.get_args(tp):
            if str(choice) == raw:
                return choice
        raise ValueError(
            f"Bad value for `{path}`: {raw!r} is not one of {list(typing.get_args(tp))}."
        )
    if origin in (tuple, list) or tp in (tuple, list):
        text = raw.strip()
        if text.startswith("[") or text.startswith("("):
            inner = text[1:-1] if text[-1:] in ("]", ")") else None
            if inner is None:
                raise ValueError(f"Bad value for `{path}`: unbalanced brackets in {raw!r}.")
        else:
            inner = text
        items = [s.strip() for s in inner.split(",")] if inner.strip() else []
        args = typing.get_args(tp)
        if not args:
            elem_types = [Any] * len(items)
        elif origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(items) != len(args):
                raise ValueError(
                    f"Bad value for `{path}`: expected {len(args)} comma-separated values, "
                    f"got {len(items)} in {raw!r}."
                )
            elem_types = list(args)
        else:
            elem_types = [args[0]] * len(items)
        out = [_parse_raw(s, t, f"{path}[{i}]") for i, (s, t) in enumerate(zip(items, elem_types))]
        return out if origin is list else tuple(out)
    if origin in (dict, Mapping, typing.Mapping) or tp is dict:
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            raise ValueError(
                f"Bad value for `{path}`: expected a JSON object like '{{\"name\": 1}}', got {raw!r}."
            )
        return data
    if dataclasses.is_dataclass(tp):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueError(
                f"Bad value for `{path}`: a whole section needs a JSON object, got {raw!r}. "
                f"Override single fields instead, e.g. {path}.<field>=VALUE."
            ) from None
        return from_dict(tp, data, path=path)
    # Any / other: JSON if it parses, else the string.
    try:
        return _freeze(json.loads(raw))
    except json.JSONDecodeError:
        return raw


def apply_overrides(cfg: Any, overrides: Iterable[str]) -> Any:
    """Return ``cfg`` with dotted ``FIELD=VALUE`` overrides applied.

    Each value is parsed according to the declared type of its field:
    ``int``/``float``/``bool`` (``true``/``false``), strings as written (quotes
    optional), ``none``/``null`` for optional fields, tuples as ``[2,5]`` or
    ``2,5``. Dataclass ``__post_init__`` checks run on the result.

    Args:
      cfg: a (nested) frozen dataclass instance, e.g. an :class:`ExperimentConfig`.
      overrides: strings like ``"train.epochs=3"``, ``"acquisition.arm=ads+badge"``,
        ``"data.noise_beta=[2,5]"``, ``"loop.seeds=[0,1,2]"``.

    Raises:
      ValueError: bad syntax, unknown field (message lists the valid fields of
        that section), or a value of the wrong type.
    """
    for text in overrides:
        key, raw = parse_override(text)
        cfg = _set_path(cfg, key.split("."), raw, key)
    return cfg


def _set_path(obj: Any, parts: list[str], raw: str, full: str) -> Any:
    if not dataclasses.is_dataclass(obj):
        raise ValueError(f"Bad override `{full}`: cannot set a field inside a {type(obj).__name__}.")
    types_ = _field_types(type(obj))
    name = parts[0]
    done = full[: len(full) - len(".".join(parts))].rstrip(".")
    if name not in types_:
        section = done or type(obj).__name__
        raise ValueError(
            f"Unknown config field `{full}`: `{section}` has no field {name!r}. "
            f"Valid fields: {sorted(types_)}."
        )
    if len(parts) == 1:
        value = _parse_raw(raw, types_[name], full)
    else:
        value = _set_path(getattr(obj, name), parts[1:], raw, full)
    return dataclasses.replace(obj, **{name: value})


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
# Built-in named configs.
# ----------------------------------------------------------------------------

# Arms of the built-in comparison (paper's ADS + its diversity selector, the
# diversity selector alone, the random pre-filter control, uncertainty, random).
DEMO_ARMS = ("ads+coreset", "coreset", "randfilter+coreset", "entropy", "random")


def _experiment(data: dict, model: dict, train: dict, acquisition: dict, loop: dict) -> ExperimentConfig:
    return from_dict(
        ExperimentConfig,
        {"data": data, "model": model, "train": train, "acquisition": acquisition, "loop": loop},
    )


# Training recipe for the small CPU-feasible runs (tens to hundreds of labeled
# images): SGD + cosine, small batches so that even the first round takes enough
# steps, early stopping on the validation set.
_SMALL_TRAIN = dict(epochs=40, batch_size=32, learning_rate=0.05, patience=10)


def _demo() -> ExperimentConfig:
    """Built-in digits (8x8, sklearn), 80% of the pool Beta(5, 2)-power white noise.

    Pool = the 1,000 digits train images (20 labeled, class-balanced), 800 of
    them noisy, seed set included (``noisy_initial``: the seed set is drawn
    from the same noisy pool, so the value regressor sees noisy labeled points
    from round 0), validation 200 and test 597 images from the test split.
    WRN-10-1, 4 rounds of 20 picks, 5 arms, one seed.
    """
    return _experiment(
        data=dict(dataset="digits", kind="noisy", noise_fraction=0.8, initial_labeled=20,
                  val_size=200, noisy_initial=True),
        model=dict(depth=10, width=1),
        train=dict(epochs=60, batch_size=16, learning_rate=0.05, patience=15, flip=False,
                   crop_padding=1),
        acquisition=dict(arm="ads+coreset", budget=20, preselect_fraction=0.2),
        loop=dict(rounds=4, arms=DEMO_ARMS, seeds=(0,), out_dir="runs/demo"),
    )


def _tiny() -> ExperimentConfig:
    """Smallest end-to-end config (tests, smoke checks): seconds on a CPU."""
    return _experiment(
        data=dict(dataset="digits", kind="noisy", noise_fraction=0.8, initial_labeled=10,
                  val_size=50, test_size=100, pool_size=150),
        model=dict(depth=10, width=1),
        train=dict(epochs=2, batch_size=32, learning_rate=0.05, patience=None, flip=False,
                   crop_padding=1),
        acquisition=dict(arm="ads+coreset", budget=10, preselect_fraction=0.3),
        loop=dict(rounds=2, arms=("ads+coreset", "coreset"), seeds=(0,), out_dir="runs/tiny"),
    )


def _fashion_mnist_noisy() -> ExperimentConfig:
    """Fashion-MNIST, 80% noisy pool, WRN-10-1: the CPU-feasible ADS comparison.

    Pool = 3,000 train images, 80% of them (seed set included,
    ``noisy_initial``) with Beta(5, 2)-power white noise; 50 labeled to start;
    validation 500 and test 2,000 images; 4 rounds of 50 picks; 3 seeds.

    ``data.dataset`` is the TFDS name; point it at a local copy with
    ``data.dataset=npz:/path/fashion_mnist.npz`` (see experiments/fashion_mnist_noisy.py).
    """
    return _experiment(
        data=dict(dataset="fashion_mnist", kind="noisy", noise_fraction=0.8, initial_labeled=50,
                  val_size=500, test_size=2000, pool_size=3000, noisy_initial=True),
        model=dict(depth=10, width=1),
        train=dict(_SMALL_TRAIN),
        acquisition=dict(arm="ads+coreset", budget=50, preselect_fraction=0.2),
        loop=dict(
            rounds=4,
            arms=("ads+coreset", "coreset", "randfilter+coreset"),
            seeds=(0, 1, 2),
            out_dir="runs/fashion_mnist_noisy",
        ),
    )


def _cifar10_noisy() -> ExperimentConfig:
    """CIFAR-10 with an 80% noisy pool and WRN-16-4 (the paper's setting; needs a GPU)."""
    return _experiment(
        data=dict(dataset="cifar10", kind="noisy", noise_fraction=0.8, initial_labeled=1000,
                  noisy_initial=True),
        model=dict(depth=16, width=4),
        train=dict(epochs=100, batch_size=128, learning_rate=0.1, patience=10),
        acquisition=dict(arm="ads+coreset", budget=1000, preselect_fraction=0.2),
        loop=dict(
            rounds=10,
            arms=("ads+coreset", "coreset", "randfilter+coreset", "badge", "entropy", "random"),
            seeds=(0, 1, 2),
            out_dir="runs/cifar10_noisy",
            checkpoint_training=True,
        ),
    )


_BUILTIN: dict[str, Callable[[], ExperimentConfig]] = {
    "demo": _demo,
    "tiny": _tiny,
    "fashion_mnist_noisy": _fashion_mnist_noisy,
    "cifar10_noisy": _cifar10_noisy,
}


def available_configs() -> tuple[str, ...]:
    """Names accepted by :func:`get_config`."""
    return tuple(_BUILTIN)


def get_config(name: str) -> ExperimentConfig:
    """A built-in named :class:`ExperimentConfig` (``"demo"``, ``"tiny"``, ...).

    Raises:
      ValueError: unknown name (the message lists the available ones).
    """
    if name not in _BUILTIN:
        raise ValueError(
            f"Unknown config {name!r}. Built-in configs: {list(_BUILTIN)}; "
            "or pass the path of a JSON config file."
        )
    return _BUILTIN[name]()


def resolve_config(spec: str, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """A built-in name or a JSON file path, with dotted overrides applied.

    Raises:
      FileNotFoundError: ``spec`` looks like a path (ends with .json or contains a
        path separator) but does not exist.
      ValueError: unknown built-in name, bad JSON, unknown field, bad override.
    """
    if spec in _BUILTIN:
        cfg = get_config(spec)
    elif spec.endswith(".json") or os.sep in spec or os.path.exists(spec):
        cfg = load_json(ExperimentConfig, spec)
    else:
        raise ValueError(
            f"Unknown config {spec!r}: not a built-in config {list(_BUILTIN)} "
            "and not an existing JSON file."
        )
    return apply_overrides(cfg, overrides)
