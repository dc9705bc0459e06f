"""Jitted train and forward steps (built once per model/options/mesh and cached).

``gather_step_fn`` is the step of ``fit``: fixed-shape batches gathered on device
from an on-device training set. ``train_step_fn`` takes a host-fed batch (benchmarks,
tests, custom loops).
"""

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

__all__ = ["StepOptions", "train_step_fn", "gather_step_fn", "forward_fn",
           "weighted_cross_entropy"]


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


def _step_body(model: nn.Module, opts: StepOptions) -> Callable:
    """The un-jitted ``step(state, hp, x, y, w, key) -> (state, metrics)`` shared by both steps."""
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

        (loss, (logits, per, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params)
        direction, opt_state = tx.update(grads, state.opt_state, state.params)
        lr = learning_rate_at(state.step, schedule=opts.schedule, base_lr=hp["base_lr"],
                              total_steps=hp["total_steps"], warmup_steps=hp["warmup_steps"],
                              milestones=opts.milestones, gamma=opts.gamma)
        params = jax.tree.map(lambda p, d: p - lr * d.astype(p.dtype), state.params, direction)
        new_state = state.replace(step=state.step + 1, params=params, batch_stats=batch_stats,
                                  opt_state=opt_state)
        correct = (jnp.argmax(logits, -1) == y).astype(jnp.float32)
        finite = jnp.isfinite(loss)
        for leaf in jax.tree.leaves((params, batch_stats)):
            finite = finite & jnp.all(jnp.isfinite(leaf))
        metrics = {"loss_sum": jnp.sum(w * per), "correct": jnp.sum(w * correct),
                   "weight": jnp.sum(w), "lr": lr, "finite": finite.astype(jnp.float32)}
        return new_state, metrics

    return step


@functools.lru_cache(maxsize=32)
def train_step_fn(model: nn.Module, opts: StepOptions, mesh: Mesh | None) -> Callable:
    """Jitted ``step(state, hp, x, y, w, key) -> (state, metrics)`` on a host-fed batch.

    (``fit`` uses ``gather_step_fn``, which gathers its batch from on-device data.)

    Args (of the returned function):
      state: replicated ``TrainState``.
      hp: dict of () arrays ``base_lr`` f32, ``total_steps`` i32, ``warmup_steps`` i32.
      x: (B, H, W, C) uint8 (or normalised float) batch, sharded along B.
      y: (B,) int32 labels. w: (B,) float32 example weights, 0 for padding.
      key: PRNG key of this step (augmentation and dropout).

    Returns:
      the new state and metrics ``loss_sum``, ``correct``, ``weight`` (() float32,
      weighted sums over the batch), ``lr`` (() float32, the rate of this step) and
      ``finite`` (() float32, 1.0 if the batch loss and every new parameter and
      batch-norm statistic are finite, else 0.0).
    """
    step = _step_body(model, opts)
    if mesh is None:
        return jax.jit(step)
    repl = NamedSharding(mesh, P())
    return jax.jit(step, out_shardings=(repl, repl))


@functools.lru_cache(maxsize=32)
def gather_step_fn(model: nn.Module, opts: StepOptions, mesh: Mesh | None) -> Callable:
    """Jitted ``step(state, hp, k_step, data, plan) -> (state, metrics)`` of ``fit``.

    The batch is gathered on device from the training set ``data`` (put there once
    per ``fit``) with this epoch's ``plan`` (put there once per epoch): nothing is
    transferred from the host per step. The position in the run is read from
    ``state.step``: epoch ``e = state.step // steps_per_epoch + 1`` (1-based) and
    step ``s = state.step % steps_per_epoch`` of that epoch, whose key is
    ``fold_in(fold_in(k_step, e), s)`` (the contract in ``ads_jax.training.fit``).
    Every argument has a static shape fixed by ``(N_cap, B)``, so one compile per
    (model, options, mesh, N_cap, B, image shape/dtype) serves every ``fit`` call.

    Args (of the returned function):
      state: replicated ``TrainState``.
      hp: dict of replicated () arrays ``base_lr`` f32, ``total_steps`` i32,
        ``warmup_steps`` i32, ``steps_per_epoch`` i32.
      k_step: replicated PRNG key of the run's steps.
      data: ``{"x": (N_cap, H, W, C) uint8 or float32, "y": (N_cap,) int32}``,
        replicated (rows past the real training set are never selected).
      plan: ``{"idx": (S_cap, B) int32, "w": (S_cap, B) float32}``: row ``s`` holds
        the training-set rows of step ``s`` and their weights (0 = padding); sharded
        ``P(None, "data")`` on a mesh, so the gathered batch is sharded along B.

    Returns:
      the new state and the metrics of ``train_step_fn``.
    """
    body = _step_body(model, opts)
    batch = None if mesh is None else NamedSharding(mesh, P("data"))

    def gathered_train_step(state: TrainState, hp: dict[str, jax.Array], k_step, data, plan):
        spe = jnp.maximum(hp["steps_per_epoch"], 1)
        epoch = state.step // spe + 1
        s = state.step % spe
        idx = jax.lax.dynamic_index_in_dim(plan["idx"], s, axis=0, keepdims=False)
        w = jax.lax.dynamic_index_in_dim(plan["w"], s, axis=0, keepdims=False)
        x = jnp.take(data["x"], idx, axis=0, mode="clip")
        y = jnp.take(data["y"], idx, axis=0, mode="clip")
        if batch is not None:
            x, y, w = (jax.lax.with_sharding_constraint(a, batch) for a in (x, y, w))
        key = jax.random.fold_in(jax.random.fold_in(k_step, epoch), s)
        return body(state, hp, x, y, w, key)

    if mesh is None:
        return jax.jit(gathered_train_step)
    repl = NamedSharding(mesh, P())
    return jax.jit(gathered_train_step, out_shardings=(repl, repl))


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
