"""Train state, optimizer, weight-decay mask and learning-rate schedules.

The optimizer is SGD with (Nesterov) momentum and *coupled* L2 weight decay, as in
the WRN paper and PyTorch's ``SGD(weight_decay=...)``: ``g <- g + wd * w`` for
conv/dense kernels only, then the momentum trace, then ``w <- w - lr * trace``.
This is exactly ``optax.chain(optax.add_decayed_weights(wd, mask),
optax.sgd(schedule, momentum, nesterov))``, but the learning rate is applied
outside the optax chain and computed inside the jitted step from traced
scalars, so one compiled step serves every ``fit`` call (every active-learning
round) whatever its number of steps.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from ads_jax.training.config import TrainConfig

__all__ = ["TrainState", "weight_decay_mask", "make_optimizer", "learning_rate_at"]


@flax.struct.dataclass
class TrainState:
    """Everything that changes during training (a pytree; checkpointed as is).

    Attributes:
      step: () int32, optimizer steps taken.
      params: model parameters (float32 pytree).
      batch_stats: batch-norm running statistics (float32 pytree).
      opt_state: optax state of ``make_optimizer(cfg)`` (momentum trace).
    """

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any

    @property
    def variables(self) -> dict[str, Any]:
        """``{"params": ..., "batch_stats": ...}`` for ``model.apply``."""
        return {"params": self.params, "batch_stats": self.batch_stats}


def weight_decay_mask(params: Any) -> Any:
    """Pytree of bools like ``params``: True for conv/dense ``kernel`` leaves only.

    Batch-norm ``scale``/``bias`` and dense ``bias`` are excluded from weight decay.
    """
    def is_kernel(path, _):
        last = path[-1]
        name = getattr(last, "key", getattr(last, "name", None))
        return name == "kernel"

    return jax.tree_util.tree_map_with_path(is_kernel, params)


@functools.lru_cache(maxsize=None)
def _optimizer(weight_decay: float, momentum: float, nesterov: bool) -> optax.GradientTransformation:
    parts = []
    if weight_decay > 0:
        parts.append(optax.add_decayed_weights(weight_decay, mask=weight_decay_mask))
    parts.append(optax.trace(decay=momentum, nesterov=nesterov))
    return optax.chain(*parts)


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """Direction part of SGD: masked weight decay + (Nesterov) momentum trace.

    The update to *add* to the params is ``-lr * direction``; see ``learning_rate_at``.
    The same object is returned for equal (weight_decay, momentum, nesterov), so
    jitted steps are reused across ``fit`` calls.
    """
    return _optimizer(float(cfg.weight_decay), float(cfg.momentum), bool(cfg.nesterov))


def learning_rate_at(step: jax.Array, *, schedule: str, base_lr: jax.Array | float,
                     total_steps: jax.Array | int, warmup_steps: jax.Array | int = 0,
                     milestones: tuple[float, ...] = (0.3, 0.6, 0.8),
                     gamma: float = 0.2) -> jax.Array:
    """Learning rate (float32 scalar) for optimizer step ``step`` (0-based).

    Args:
      step: () int, the number of steps already taken.
      schedule: ``"cosine"`` (half-cosine from ``base_lr`` to 0 after warm-up),
        ``"step"`` (``base_lr * gamma**k`` after the k-th milestone) or ``"constant"``.
      base_lr: peak learning rate.
      total_steps: () int, steps of the whole run (epochs * steps_per_epoch).
      warmup_steps: () int, linear warm-up from ``base_lr / warmup_steps`` (0 = none).
      milestones: step schedule: fractions of ``total_steps`` where the rate decays.
      gamma: step schedule decay factor.

    ``step``, ``base_lr``, ``total_steps`` and ``warmup_steps`` may be traced, so a
    jitted step compiled once serves runs of any length.
    """
    base = jnp.asarray(base_lr, jnp.float32)
    s = jnp.asarray(step, jnp.float32)
    total = jnp.maximum(jnp.asarray(total_steps, jnp.float32), 1.0)
    warm = jnp.asarray(warmup_steps, jnp.float32)
    if schedule == "cosine":
        t = jnp.clip((s - warm) / jnp.maximum(total - warm, 1.0), 0.0, 1.0)
        lr = base * 0.5 * (1.0 + jnp.cos(math.pi * t))
    elif schedule == "step":
        k = jnp.zeros((), jnp.float32)
        for m in milestones:
            k = k + (s >= jnp.floor(m * total)).astype(jnp.float32)
        lr = base * jnp.asarray(gamma, jnp.float32) ** k
    elif schedule == "constant":
        lr = base
    else:
        raise ValueError(f"`schedule` must be 'cosine', 'step' or 'constant', got {schedule!r}.")
    return jnp.where(s < warm, base * (s + 1.0) / jnp.maximum(warm, 1.0), lr)
