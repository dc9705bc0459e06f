"""Classifier heads on frozen embeddings (the "proxy" mode, as in LabelBench).

In proxy mode a frozen backbone embeds every image once into a feature vector
(``(N, d)`` float32); each active-learning round then retrains a cheap head
from scratch on the labeled features. Both heads here share the call
signature of :class:`ads_jax.models.WideResNet`::

    logits, features = head.apply(variables, x, train=False, mask=None)

so the rest of the loop (``predict``, the valuation on ``features``, BADGE on
``logits``) treats them like the WideResNet. ``train`` and ``mask`` are
accepted and ignored (the heads have no batch norm and no dropout).

* :class:`LinearHead` -- ``logits = x @ W + b``; ``features = x`` itself (the
  representation of a linear probe is the frozen embedding).
* :class:`MLPHead` -- ``h = relu(x @ W1 + b1)``, ``logits = h @ W2 + b2``;
  ``features = h`` (the hidden activations).

Parameters (always float32, whatever the compute ``dtype``)::

    LinearHead: {"params": {"classifier": {"kernel": (d, C), "bias": (C,)}}}
    MLPHead:    {"params": {"hidden": {"kernel": (d, H), "bias": (H,)},
                            "classifier": {"kernel": (H, C), "bias": (C,)}}}

These names are stable: :func:`ads_jax.training.heads.fit_linear_head` and
:func:`~ads_jax.training.heads.fit_mlp_head` return variables of exactly this
form.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["LinearHead", "MLPHead"]


def _check_input(name: str, x: jax.Array) -> jax.Array:
    if x.ndim != 2:
        raise ValueError(f"{name} input `x` must be (B, d) features, got shape {x.shape}.")
    return x


class LinearHead(nn.Module):
    """Multinomial linear classifier on frozen features.

    Attributes:
      num_classes: number of output classes ``C``.
      dtype: compute dtype of the matmul (params stay float32; logits are
        returned as float32).

    Call: ``apply(variables, x, train=False, mask=None)`` with ``x`` (B, d)
    float returns ``logits`` (B, C) float32 and ``features`` (B, d) float32,
    the input itself. ``train`` and ``mask`` are ignored (same signature as
    ``WideResNet``).
    """

    num_classes: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False,
                 mask: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        del train, mask  # no batch norm, no dropout
        x = _check_input("LinearHead", jnp.asarray(x))
        logits = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=jnp.float32,
                          name="classifier")(x.astype(self.dtype))
        return logits.astype(jnp.float32), x.astype(jnp.float32)


class MLPHead(nn.Module):
    """One-hidden-layer MLP classifier on frozen features.

    Attributes:
      num_classes: number of output classes ``C``.
      hidden: width ``H`` of the hidden layer.
      dtype: compute dtype (params stay float32; outputs are float32).

    Call: ``apply(variables, x, train=False, mask=None)`` with ``x`` (B, d)
    float returns ``logits`` (B, C) float32 and ``features`` (B, H) float32,
    the post-ReLU hidden activations. ``train`` and ``mask`` are ignored.
    """

    num_classes: int
    hidden: int = 256
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False,
                 mask: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
        del train, mask
        x = _check_input("MLPHead", jnp.asarray(x))
        h = nn.Dense(self.hidden, dtype=self.dtype, param_dtype=jnp.float32,
                     name="hidden")(x.astype(self.dtype))
        h = nn.relu(h)
        logits = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=jnp.float32,
                          name="classifier")(h)
        return logits.astype(jnp.float32), h.astype(jnp.float32)
