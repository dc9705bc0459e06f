"""The model registry: what is trained every round, by name (``model.name``).

Every model is a component (the shape of :mod:`ads_jax.registry`): a factory
registered under a name, called with the number of classes and its options,
returns a :class:`Model` -- a Flax Linen module whose ``apply(variables, x,
train=False)`` gives ``(logits, features)`` (the features are the embedding
that valuation and selection use), the kind of input it reads, and how it is
fit from scratch on a labeled set. Built-in (registered in
:mod:`ads_jax.training.models`):

* ``wrn``    -- a WideResNet on images, trained with SGD (``train.*``); its
  architecture in the config's own fields (``model.depth``, ``model.width``,
  ``model.dropout_rate``, ``model.dtype``);
* ``linear`` -- multinomial logistic regression on frozen features (proxy
  mode), trained to convergence with L-BFGS; its embedding is the features;
* ``mlp``    -- one hidden layer on frozen features; its embedding is the
  hidden activations.

A user's model is one module: its Linen module, a factory returning a
:class:`Model`, and ``register_model(name, factory)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax.numpy as jnp

from ads_jax.config_engine import FrozenMap
from ads_jax.registry import Registry, json_options

__all__ = ["MODELS", "Model", "ModelConfig", "register_model", "available_models",
           "build_model_component", "DTYPES", "INPUTS", "check_depth"]

MODELS = Registry("model", "Register one with ads_jax.models.register_model(name, factory).",
                  context=("num_classes",))

#: Compute dtypes of the WideResNet (params stay float32).
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
#: What a model reads: uint8/float images (N, H, W, C) or float features (N, d).
INPUTS = ("images", "features")


class Model(NamedTuple):
    """A built model.

    Attributes:
      module: Flax Linen module; ``module.apply(variables, x, train=False)`` ->
        ``(logits (B, C) float, features (B, D) float)``.
      inputs: ``"images"`` or ``"features"`` (:data:`INPUTS`).
      fit: ``fit(key, x, y, x_val, y_val, train: TrainConfig, *, capacity=None,
        checkpoint_dir=None, devices=None) -> FitResult``
        (``ads_jax.training.FitResult``): trains from scratch on (x, y), model
        selection on (x_val, y_val). ``capacity``: rows of a fixed-size
        training buffer (one compile for growing sets); ``checkpoint_dir``:
        per-epoch checkpoints (models that train in seconds may ignore it);
        ``devices``: the devices to use (a run's slice when seeds run in
        parallel; a one-device model uses the default device).
      label: a short description (``"wrn-16-1"``, ``"linear"``, ``"mlp-256"``).
    """

    module: Any
    inputs: str
    fit: Callable[..., Any]
    label: str


def register_model(name: str, factory: Callable[..., Model], *,
                   overwrite: bool = False) -> Callable[..., Model]:
    """Register ``factory(*, num_classes, **options) -> Model`` under ``name``."""
    return MODELS.register(name, factory, overwrite=overwrite)


def available_models() -> tuple[str, ...]:
    """Names of every registered model."""
    return MODELS.names()


def check_depth(depth: Any) -> int:
    """A WideResNet depth ``6n + 4`` (n >= 1), else a ValueError naming the nearest ones."""
    if isinstance(depth, bool) or not isinstance(depth, int):
        raise TypeError(f"`depth` must be an integer, got {type(depth).__name__} {depth!r}.")
    if depth < 10 or (depth - 4) % 6 != 0:
        lo = max(1, (depth - 4) // 6)
        near = sorted({6 * lo + 4, 6 * (lo + 1) + 4})
        raise ValueError(
            f"WideResNet `depth` must be 6n + 4 with n >= 1 (10, 16, 22, 28, 34, 40, ...), "
            f"got {depth}. Nearest valid depths: {near}."
        )
    return depth


_WRN_FIELDS = ("depth", "width", "dropout_rate", "dtype")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The model trained every round (``model``; JSON-able, diffable).

    Attributes:
      name: a registered model (:func:`available_models`): ``"wrn"`` (default),
        ``"linear"``, ``"mlp"`` or yours.
      depth: WideResNet depth, 6n + 4 (10, 16, 22, 28, ...); ``wrn`` only.
      width: WideResNet widening factor k >= 1; ``wrn`` only.
      dropout_rate: dropout between block convs, in [0, 1); ``wrn`` only.
      dtype: compute dtype name, ``"float32"`` or ``"bfloat16"`` (params stay
        float32); ``wrn`` only.
      options: the options of any other model as a JSON object (``linear``:
        ``l2``, ``max_iter``, ``tol``; ``mlp``: ``hidden``, ``learning_rate``,
        ...), checked against its factory when the config is built.

    The WideResNet fields are ignored by the other models (so a WRN preset
    switches to a head with ``model.name=linear`` alone); ``options`` must be
    empty for ``wrn``.
    """

    name: str = "wrn"
    depth: int = 16
    width: int = 1
    dropout_rate: float = 0.0
    dtype: str = "float32"
    options: FrozenMap = dataclasses.field(default_factory=FrozenMap)

    def __post_init__(self):
        if not isinstance(self.name, str):
            raise TypeError(f"`model.name` must be a string, got {self.name!r}.")
        if self.name != "wrn":  # (the WideResNet is validated by its fields below)
            MODELS.get(self.name, arg="model.name")
        check_depth(self.depth)
        if isinstance(self.width, bool) or not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"`model.width` must be an integer >= 1, got {self.width!r}.")
        if isinstance(self.dropout_rate, bool) or not isinstance(self.dropout_rate, (int, float)) \
                or not 0 <= self.dropout_rate < 1:
            raise ValueError(f"`model.dropout_rate` must be a float in [0, 1), got "
                             f"{self.dropout_rate!r}.")
        if self.dtype not in DTYPES:
            raise ValueError(f"`model.dtype` must be one of {list(DTYPES)}, got {self.dtype!r}.")
        options = json_options("model.options", self.options)
        if self.name == "wrn":
            if options:
                raise ValueError(f"`model.options` must be empty for model 'wrn' (its "
                                 f"architecture is model.depth/width/...), got {dict(options)}.")
        else:
            options = MODELS.check_options(self.name, options, path="model.options")
        object.__setattr__(self, "options", options)
        if self.name != "wrn":
            build_model_component(self, 2)  # the factory checks the option values, once

    @property
    def label(self) -> str:
        """``"wrn-<depth>-<width>"`` for the WideResNet, else the model's name."""
        return f"wrn-{self.depth}-{self.width}" if self.name == "wrn" else self.name

    def factory_options(self) -> dict[str, Any]:
        """The options the model's factory receives (the WideResNet's own fields for ``wrn``)."""
        if self.name == "wrn":
            return {f: getattr(self, f) for f in _WRN_FIELDS}
        return dict(self.options)


def build_model_component(config: ModelConfig, num_classes: int) -> Model:
    """The :class:`Model` of ``config`` for ``num_classes`` classes (built once per value)."""
    return MODELS.build(config.name, config.factory_options(), num_classes=int(num_classes))
