"""Models: the Flax Linen WideResNet used as ADS's representation learner."""

from ads_jax.models.wide_resnet import (
    DTYPES,
    PRESETS,
    BasicBlock,
    ModelConfig,
    WideResNet,
    build_model,
)

__all__ = ["WideResNet", "BasicBlock", "ModelConfig", "build_model", "PRESETS", "DTYPES"]
