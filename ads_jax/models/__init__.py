"""Models: what is trained every round (``model.name``), as registered components.

* :mod:`ads_jax.models.registry` -- :data:`MODELS`, :class:`ModelConfig`,
  :class:`Model`, :func:`register_model`;
* :mod:`ads_jax.models.wide_resnet` -- the Flax Linen WideResNet (images);
* :mod:`ads_jax.models.heads` -- linear and MLP heads on frozen features
  (proxy mode).

The built-in models are registered with their training in
:mod:`ads_jax.training.models`.
"""

from ads_jax.models.heads import LinearHead, MLPHead
from ads_jax.models.registry import (
    DTYPES,
    INPUTS,
    MODELS,
    Model,
    ModelConfig,
    available_models,
    build_model_component,
    register_model,
)
from ads_jax.models.wide_resnet import PRESETS, BasicBlock, WideResNet, build_model

__all__ = ["WideResNet", "BasicBlock", "LinearHead", "MLPHead", "ModelConfig", "Model",
           "MODELS", "register_model", "available_models", "build_model",
           "build_model_component", "PRESETS", "DTYPES", "INPUTS"]
