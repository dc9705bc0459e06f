"""Jitted train and forward steps (built once per model/options/mesh and cached)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from ads_jax.training.augment import augment, to_float
from ads_jax.training.config import TrainConfig
from ads_jax.training.state import TrainState, _optimizer, learning_rate_at

__all__ = ["StepOptions", "train_step_fn", "forward_fn", "weighted_cross_entropy"]


@dataclasses.dataclass(frozen=True)
class StepOptions:
    """The static (compile-time) part of a TrainConfig used by the train step."""

    schedule: str
    milestones: tuple[float, ...]
    gamma: float
    momentum: float
    nesterov: bool
    weight_decay: float
    augment: bool
    flip: bool
    pad: int
    label_smoothing: float

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> "StepOptions":
        return cls(cfg.schedule, tuple(cfg.step_milestones), float(cfg.step_gamma),
                   float(cfg.momentum), bool(cfg.nesterov), float(cfg.weight_decay),
                   bool(cfg.augment), bool(cfg.flip), int(cfg.crop_padding),
                   float(cfg.label_smoothing))


def weighted_cross_entropy(logits: jax.Array, labels: jax.Array, weights: jax.Array,
                           label_smoothing: float = 0.0) -> tuple[jax.Array, jax.Array]:
    """Per-example softmax cross-entropy and its weighted mean.

    Args:
      logits: (B, C) float. labels: (B,) int. weights: (B,) float (0 = padding).
      label_smoothing: mass spread uniformly over the C classes.

    Returns:
      ``(mean, per_example)``: () float32 ``sum(w * ce) / sum(w)`` and (B,) float32.
    """
    c = logits.shape[-1]
    target = jax.nn.one_hot(labels, c, dtype=jnp.float32)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / c
    per = optax.softmax_cross_entropy(logits.astype(jnp.float32), target)
    return jnp.sum(weights * per) / jnp.maximum(jnp.sum(weights), 1e-12), per


@functools.lru_cache(maxsize=32)
def train_step_fn(model: nn.Module, opts: StepOptions, mesh: Mesh | None) -> Callable:
    """Jitted ``step(state, hp, x, y, w, key) -> (state, metrics)``.

    Args (of the returned function):
      state: replicated ``TrainState``.
      hp: dict of () arrays ``base_lr`` f32, ``total_steps`` i32, ``warmup_steps`` i32.
      x: (B, H, W, C) uint8 (or normalised float) batch, sharded along B.
      y: (B,) int32 labels. w: (B,) float32 example weights, 0 for padding.
      key: PRNG key of this step (augmentation and dropout).

    Returns:
      the new state and metrics ``loss_sum``, ``correct``, ``weight`` (() float32,
      weighted sums over the batch).
    """
    tx = _optimizer(opts.weight_decay, opts.momentum, opts.nesterov)

    def step(state: TrainState, hp: dict[str, jax.Array], x, y, w, key):
        x = to_float(x)
        k_aug, k_drop = jax.random.split(key)
        if opts.augment:
            x = augment(k_aug, x, pad=opts.pad, flip=opts.flip)

        def loss_fn(params):
            (logits, _), mutated = model.apply(
                {"params": params, "batch_stats": state.batch_stats}, x, train=True,
                mask=w > 0, rngs={"dropout": k_drop}, mutable=["batch_stats"])
            loss, per = weighted_cross_entropy(logits, y, w, opts.label_smoothing)
            return loss, (logits, per, mutated["batch_stats"])

        (_, (logits, per, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params)
        direction, opt_state = tx.update(grads, state.opt_state, state.params)
        lr = learning_rate_at(state.step, schedule=opts.schedule, base_lr=hp["base_lr"],
                              total_steps=hp["total_steps"], warmup_steps=hp["warmup_steps"],
                              milestones=opts.milestones, gamma=opts.gamma)
        params = jax.tree.map(lambda p, d: p - lr * d.astype(p.dtype), state.params, direction)
        new_state = state.replace(step=state.step + 1, params=params, batch_stats=batch_stats,
                                  opt_state=opt_state)
        correct = (jnp.argmax(logits, -1) == y).astype(jnp.float32)
        metrics = {"loss_sum": jnp.sum(w * per), "correct": jnp.sum(w * correct),
                   "weight": jnp.sum(w), "lr": lr}
        return new_state, metrics

    if mesh is None:
        return jax.jit(step)
    repl = NamedSharding(mesh, P())
    return jax.jit(step, out_shardings=(repl, repl))


@functools.lru_cache(maxsize=32)
def forward_fn(model: nn.Module, mesh: Mesh | None) -> Callable:
    """Jitted eval-mode ``fwd(variables, x) -> (logits, probs, features)``, all float32.

    x: (B, H, W, C) uint8 or normalised float, sharded along B on ``mesh``.
    """
    def fwd(variables, x):
        logits, feats = model.apply(variables, to_float(x), train=False)
        logits = logits.astype(jnp.float32)
        return logits, jax.nn.softmax(logits, -1), feats.astype(jnp.float32)

    if mesh is None:
        return jax.jit(fwd)
    batch = NamedSharding(mesh, P("data"))
    return jax.jit(fwd, out_shardings=(batch, batch, batch))
