"""Wide residual networks (Zagoruyko & Komodakis, 2016) in Flax Linen.

``WRN-d-k`` has depth ``d = 6n + 4`` (one stem conv, three groups of ``n``
pre-activation basic blocks with two 3x3 convs each, one classifier layer)
and widening factor ``k``; the three groups have ``16k``, ``32k`` and ``64k``
channels, the stem has 16. The first group keeps the resolution, the other two
halve it (stride-2 first conv). A block whose input and output shapes differ
gets a 1x1 conv shortcut applied to the pre-activated input, as in the
reference implementation. After the last group: batch norm, ReLU, global
average pooling -> the pre-logit features (``64k`` floats), then a dense layer
-> logits.

The network accepts any spatial size (8x8 digits up to 64x64 Tiny ImageNet and
beyond) and any channel count; compute can run in bfloat16 while parameters
and batch statistics stay float32.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ads_jax._validation import check_positive_int
from ads_jax.models.registry import DTYPES, ModelConfig, check_depth

__all__ = ["WideResNet", "BasicBlock", "build_model", "PRESETS"]


# He-normal with fan_out, as in the reference WRN code (PyTorch kaiming_normal_(mode="fan_out")).
_conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


class BasicBlock(nn.Module):
    """Pre-activation basic block: BN-ReLU-conv3x3-BN-ReLU-(dropout)-conv3x3 + shortcut.

    Attributes:
      features: output channels.
      strides: stride of the first conv (1 or 2).
      dropout_rate: dropout probability between the two convs (0 disables it).
      dtype: compute dtype; parameters are always float32.
    """

    features: int
    strides: int = 1
    dropout_rate: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool, mask: jax.Array | None = None) -> jax.Array:
        """x: (B, H, W, C_in) -> (B, ceil(H/s), ceil(W/s), features), dtype ``self.dtype``."""
        norm = lambda name: nn.BatchNorm(  # noqa: E731
            use_running_average=not train, momentum=0.9, epsilon=1e-5,
            dtype=self.dtype, param_dtype=jnp.float32, name=name)
        conv = lambda f, k, s, name: nn.Conv(  # noqa: E731
            f, (k, k), strides=(s, s), padding=[(k // 2, k // 2)] * 2, use_bias=False,
            kernel_init=_conv_init, dtype=self.dtype, param_dtype=jnp.float32, name=name)

        o = nn.relu(norm("bn1")(x, mask=mask))
        if x.shape[-1] != self.features or self.strides != 1:
            shortcut = conv(self.features, 1, self.strides, "shortcut")(o)
        else:
            shortcut = x
        y = conv(self.features, 3, self.strides, "conv1")(o)
        y = nn.relu(norm("bn2")(y, mask=mask))
        if self.dropout_rate > 0:
            y = nn.Dropout(rate=self.dropout_rate, deterministic=not train)(y)
        y = conv(self.features, 3, 1, "conv2")(y)
        return y + shortcut


class WideResNet(nn.Module):
    """WRN-``depth``-``width`` classifier returning ``(logits, features)``.

    Attributes:
      depth: total depth, ``6n + 4`` (10, 16, 22, 28, ...); anything else raises ValueError.
      width: widening factor ``k`` (group widths 16k, 32k, 64k).
      num_classes: number of output classes ``C``.
      dropout_rate: dropout between the two convs of every block (0 = none).
      dtype: compute dtype (``jnp.float32`` or ``jnp.bfloat16``); params stay float32.

    Call: ``model.apply(variables, x, train=False)`` with ``x`` (B, H, W, C_in) float
    (normalised, e.g. ``ads_jax.training.to_float`` of uint8 images) returns
    ``logits`` (B, num_classes) float32 and ``features`` (B, 64 * width) float32,
    the globally average-pooled pre-logit activations. With ``train=True`` pass
    ``mutable=["batch_stats"]`` (and ``rngs={"dropout": key}`` if dropout > 0).
    ``mask`` (B,) bool, optional: examples excluded from the batch-norm statistics
    (zero-weight padding in data-parallel batches); ignored when ``train=False``.
    """

    depth: int = 16
    width: int = 1
    num_classes: int = 10
    dropout_rate: float = 0.0
    dtype: Any = jnp.float32

    def __post_init__(self):
        check_depth(self.depth)
        super().__post_init__()

    @property
    def feature_dim(self) -> int:
        """Size of the pre-logit feature vector, ``64 * width``."""
        return 64 * self.width

    @nn.compact
    def __call__(
        self, x: jax.Array, train: bool = False, mask: jax.Array | None = None
    ) -> tuple[jax.Array, jax.Array]:
        if x.ndim != 4:
            raise ValueError(f"WideResNet input `x` must be (B, H, W, C), got shape {x.shape}.")
        n = (self.depth - 4) // 6
        if mask is not None:
            mask = jnp.asarray(mask, bool).reshape((-1, 1, 1, 1))
        bn_mask = mask if train else None
        x = jnp.asarray(x, self.dtype)
        x = nn.Conv(16, (3, 3), padding=[(1, 1), (1, 1)], use_bias=False, kernel_init=_conv_init,
                    dtype=self.dtype, param_dtype=jnp.float32, name="stem")(x)
        for g, (mult, stride) in enumerate(((16, 1), (32, 2), (64, 2))):
            for b in range(n):
                x = BasicBlock(mult * self.width, stride if b == 0 else 1, self.dropout_rate,
                               self.dtype, name=f"group{g + 1}_block{b + 1}")(x, train, bn_mask)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                         dtype=self.dtype, param_dtype=jnp.float32, name="bn_final")(x, mask=bn_mask)
        x = nn.relu(x)
        features = jnp.mean(x.astype(jnp.float32), axis=(1, 2))
        logits = nn.Dense(self.num_classes, dtype=jnp.float32, param_dtype=jnp.float32,
                          bias_init=nn.initializers.zeros, name="classifier")(features)
        return logits, features


PRESETS: dict[str, ModelConfig] = {
    # Tiny networks for tests and CPU demos.
    "wrn-10-1": ModelConfig(depth=10, width=1),
    "wrn-16-1": ModelConfig(depth=16, width=1),
    "wrn-16-2": ModelConfig(depth=16, width=2),
    "wrn-16-4": ModelConfig(depth=16, width=4),
    # The paper's network for the digit datasets (MNIST, SVHN-style small inputs).
    "wrn-16-8": ModelConfig(depth=16, width=8),
    # The paper reports "WRN-24-10" for CIFAR-10 / CINIC-10 / Tiny ImageNet, but 24 is
    # not of the form 6n + 4, so no such pre-activation WRN exists; WRN-28-10 is the
    # standard network of that size (n = 4 blocks per group) and the one we use.
    "wrn-28-10": ModelConfig(depth=28, width=10),
}
"""Named model configurations. Note: the paper's "WRN-24-10" is not a valid WRN
depth (24 != 6n + 4); ``"wrn-28-10"`` is the substitute used throughout."""


def build_model(cfg: ModelConfig | str, num_classes: int) -> WideResNet:
    """Build the WideResNet described by ``cfg`` (a ``name="wrn"`` ModelConfig or a PRESETS name).

    Args:
      cfg: ``ModelConfig`` or a preset name such as ``"wrn-16-2"``.
      num_classes: number of classes C >= 1 of the output layer.

    Returns:
      An unbound ``WideResNet``; ``model.init({"params": key}, x, train=False)`` with
      ``x`` (B, H, W, C_in) float creates ``{"params", "batch_stats"}`` (float32).
    """
    if isinstance(cfg, str):
        if cfg not in PRESETS:
            raise ValueError(f"Unknown model preset {cfg!r}; choose one of {sorted(PRESETS)}.")
        cfg = PRESETS[cfg]
    if not isinstance(cfg, ModelConfig):
        raise TypeError(f"`cfg` must be a ModelConfig or preset name, got {type(cfg).__name__}.")
    if cfg.name != "wrn":
        raise ValueError(f"build_model builds WideResNets; `model.name`={cfg.name!r} is another "
                         "model (build it with ads_jax.models.build_model_component).")
    num_classes = check_positive_int("num_classes", num_classes)
    return WideResNet(depth=cfg.depth, width=cfg.width, num_classes=num_classes,
                      dropout_rate=float(cfg.dropout_rate), dtype=DTYPES[cfg.dtype])
