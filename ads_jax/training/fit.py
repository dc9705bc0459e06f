"""``fit``: train a model from scratch with early stopping, checkpoints and data parallelism.

Reproducibility contract: everything random is derived from the ``key`` argument
by ``fold_in`` on the epoch (and step) number -- the shuffle of epoch ``e`` is
``permutation(fold_in(k_shuffle, e), N)``, the augmentation/dropout key of step
``s`` of epoch ``e`` is ``fold_in(fold_in(k_step, e), s)`` -- so a run resumed
from the checkpoint of epoch ``e`` replays epochs ``e+1, ...`` exactly as the
uninterrupted run would have.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import time
import zlib
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ads_jax import _validation as V
from ads_jax._validation import check_labels, check_same_length
from ads_jax.training.checkpoint import EpochCheckpointer
from ads_jax.training.config import TrainConfig
from ads_jax.training.inference import _check_images, _forward_all
from ads_jax.training.parallel import data_mesh, num_shards, replicate, shard_batch
from ads_jax.training.state import TrainState, make_optimizer
from ads_jax.training.steps import StepOptions, train_step_fn

__all__ = ["fit", "FitResult", "init_train_state", "as_key"]


@dataclasses.dataclass(frozen=True)
class FitResult:
    """Outcome of ``fit``.

    Attributes:
      variables: ``{"params", "batch_stats"}`` of the best epoch (highest validation
        accuracy, ties -> lower validation loss; the last epoch without validation data).
      history: one dict per epoch: ``epoch`` (1-based), ``loss`` and ``accuracy``
        (weighted means over that epoch's augmented training batches, train mode),
        ``val_loss``, ``val_accuracy`` (None without validation data), ``lr`` (last
        step's learning rate), ``time_s``.
      best_epoch: epoch (1-based) whose variables are returned.
      stopped_early: True if patience ran out before ``cfg.epochs``.
      resumed_from: epoch restored from ``checkpoint_dir`` (None for a fresh run).
    """

    variables: dict[str, Any]
    history: list[dict[str, Any]]
    best_epoch: int
    stopped_early: bool
    resumed_from: int | None = None

    @property
    def epochs_run(self) -> int:
        return len(self.history)


def as_key(key: Any, name: str = "key") -> jax.Array:
    """Typed PRNG key from a typed or legacy key (see ``_validation.check_key``)."""
    return V.check_key(name, key)


@functools.lru_cache(maxsize=32)
def _init_fn(model: nn.Module, image_shape: tuple[int, ...]):
    return jax.jit(lambda k: model.init({"params": k}, jnp.zeros((1, *image_shape), jnp.float32),
                                        train=False))


def init_train_state(key: jax.Array, model: nn.Module, image_shape: tuple[int, int, int],
                     cfg: TrainConfig) -> TrainState:
    """Fresh ``TrainState`` (step 0, zero momentum) for images of shape (H, W, C).

    Params and batch stats come from ``model.init`` with ``key``; float32.
    """
    variables = _init_fn(model, tuple(int(s) for s in image_shape))(as_key(key))
    params = variables["params"]
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      batch_stats=variables.get("batch_stats", {}),
                      opt_state=make_optimizer(cfg).init(params))


def _crc(*arrays: np.ndarray | None) -> list[int]:
    return [None if a is None else zlib.crc32(np.ascontiguousarray(a).view(np.uint8)) & 0xFFFFFFFF
            for a in arrays]


def _epoch_batches(perm: np.ndarray, steps: int, padded: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split a permutation into ``steps`` near-equal batches padded to ``padded`` entries.

    Returns (indices (padded,) int64, weights (padded,) float32) per batch; padding
    repeats the batch's first index with weight 0.
    """
    out = []
    for chunk in np.array_split(perm, steps):
        idx = np.full(padded, chunk[0], dtype=np.int64)
        idx[: len(chunk)] = chunk
        w = np.zeros(padded, np.float32)
        w[: len(chunk)] = 1.0
        out.append((idx, w))
    return out


def _val_metrics(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    z = logits.astype(np.float64)
    z = z - z.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    loss = float(-logp[np.arange(len(y)), y].mean())
    acc = float(np.mean(np.argmax(logits, -1) == y))
    return loss, acc


def fit(key: Any, model: nn.Module, x_train: Any, y_train: Any, x_val: Any = None,
        y_val: Any = None, cfg: TrainConfig | None = None, *,
        checkpoint_dir: str | None = None, progress: bool | None = None,
        callback: Callable[[dict[str, Any], TrainState], None] | None = None) -> FitResult:
    """Train ``model`` from scratch on (x_train, y_train), early-stopping on (x_val, y_val).

    Args:
      key: PRNG key (typed ``jax.random.key`` or legacy uint32); init, shuffles,
        augmentation and dropout all derive from it.
      model: ``WideResNet`` (a Linen module with ``num_classes`` returning
        ``(logits, features)`` and accepting ``train=`` and ``mask=``).
      x_train: (N, H, W, C) uint8 images (or normalised float32).
      y_train: (N,) int labels in [0, model.num_classes).
      x_val, y_val: (M, H, W, C), (M,) validation set for model selection and early
        stopping; both None -> no early stopping, the last epoch is returned.
      cfg: ``TrainConfig`` (default ``TrainConfig()``).
      checkpoint_dir: if given, an Orbax checkpoint is written after every epoch and
        an existing run in this directory (same config, key and data) is resumed
        from its last epoch -- or returned directly if it had finished.
      progress: tqdm bar; None = only when stderr is a terminal.
      callback: ``callback(record, state)`` after each epoch's checkpoint; raising
        from it aborts the run (it resumes from ``checkpoint_dir``).

    Returns:
      ``FitResult`` with the best epoch's variables and the per-epoch history.
    """
    cfg = TrainConfig() if cfg is None else cfg
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"`cfg` must be a TrainConfig, got {type(cfg).__name__}.")
    key = as_key(key)
    if not isinstance(model, nn.Module) or not hasattr(model, "num_classes"):
        raise TypeError("`model` must be a flax.linen Module with a `num_classes` attribute "
                        "(use ads_jax.models.build_model).")
    num_classes = int(model.num_classes)
    x_train = _check_images("x_train", x_train)
    y_train = np.asarray(check_labels("y_train", y_train, num_classes), np.int32)
    check_same_length(x_train=x_train, y_train=y_train)
    if (x_val is None) != (y_val is None):
        raise ValueError("Pass both `x_val` and `y_val`, or neither (no early stopping).")
    if x_val is not None:
        x_val = _check_images("x_val", x_val)
        y_val = np.asarray(check_labels("y_val", y_val, num_classes), np.int32)
        check_same_length(x_val=x_val, y_val=y_val)
        if x_val.shape[1:] != x_train.shape[1:]:
            raise ValueError(f"`x_val` images have shape {x_val.shape[1:]} but `x_train` images "
                             f"have {x_train.shape[1:]}; they must match.")
    image_shape = tuple(int(s) for s in x_train.shape[1:])
    if cfg.augment and cfg.crop_padding >= min(image_shape[:2]):
        raise ValueError(f"TrainConfig.crop_padding={cfg.crop_padding} must be smaller than the "
                         f"image size {image_shape[:2]}; lower it or set augment=False.")
    if cfg.multi_host and not jax.distributed.is_initialized():
        raise RuntimeError("TrainConfig.multi_host=True needs the multi-process runtime: call "
                           "ads_jax.training.init_distributed() at program start, before any "
                           "JAX array is created.")

    mesh = data_mesh(cfg.data_parallel)
    nd = num_shards(mesh)
    n = x_train.shape[0]
    steps = math.ceil(n / cfg.batch_size)
    padded = -(-math.ceil(n / steps) // nd) * nd
    hp = {"base_lr": jnp.asarray(cfg.learning_rate, jnp.float32),
          "total_steps": jnp.asarray(cfg.epochs * steps, jnp.int32),
          "warmup_steps": jnp.asarray(cfg.warmup_epochs * steps, jnp.int32)}
    hp = replicate(hp, mesh)
    k_init, k_shuffle, k_step = jax.random.split(key, 3)
    step_fn = train_step_fn(model, StepOptions.from_config(cfg), mesh)

    state = replicate(init_train_state(k_init, model, image_shape, cfg), mesh)
    best = state.variables
    history: list[dict[str, Any]] = []
    best_epoch, best_score, bad_epochs, start, resumed_from = 0, None, 0, 1, None
    finished = stopped_early = False

    fingerprint = {
        "config": cfg.to_dict(), "model": repr(model),
        "key": [int(v) for v in np.asarray(jax.random.key_data(key)).ravel()],
        "data_crc32": _crc(x_train, y_train, x_val, y_val),
        "shapes": [list(x_train.shape), None if x_val is None else list(x_val.shape)],
    }
    ckpt = EpochCheckpointer(checkpoint_dir, keep=cfg.keep_checkpoints) if checkpoint_dir else None
    show = (jax.process_index() == 0
            and (sys.stderr.isatty() if progress is None else bool(progress)))
    bar = None
    try:
        if ckpt is not None and ckpt.latest_epoch() is not None:
            last = ckpt.latest_epoch()
            state, best, meta = ckpt.restore(last, state, best)
            if meta["fingerprint"] != fingerprint:
                diff = [k for k in fingerprint if meta["fingerprint"].get(k) != fingerprint[k]]
                raise ValueError(
                    f"`checkpoint_dir` {ckpt.directory!r} holds a run with a different {diff}; "
                    "pass the same key/config/data to resume, or use a fresh directory.")
            history = list(meta["history"])
            best_epoch, bad_epochs = int(meta["best_epoch"]), int(meta["bad_epochs"])
            best_score = None if meta["best_score"] is None else tuple(meta["best_score"])
            finished, stopped_early = bool(meta["finished"]), bool(meta["stopped_early"])
            start, resumed_from = last + 1, last

        if not finished and start <= cfg.epochs:
            from tqdm.auto import tqdm

            bar = tqdm(total=(cfg.epochs - start + 1) * steps, disable=not show,
                       desc=f"fit {getattr(model, 'depth', '')}-{getattr(model, 'width', '')}",
                       unit="step", file=sys.stderr, dynamic_ncols=True, leave=False)
        for epoch in range(start, cfg.epochs + 1):
            if finished:
                break
            t0 = time.perf_counter()
            perm = np.asarray(jax.random.permutation(jax.random.fold_in(k_shuffle, epoch), n))
            k_epoch = jax.random.fold_in(k_step, epoch)
            metrics = []
            for s, (idx, w) in enumerate(_epoch_batches(perm, steps, padded)):
                state, m = step_fn(state, hp, shard_batch(x_train[idx], mesh),
                                   shard_batch(y_train[idx], mesh), shard_batch(w, mesh),
                                   jax.random.fold_in(k_epoch, s))
                metrics.append(m)
                bar.update(1)
            metrics = jax.device_get(metrics)
            tot = {k: float(np.sum([m[k] for m in metrics], dtype=np.float64))
                   for k in ("loss_sum", "correct", "weight")}
            record = {"epoch": epoch, "loss": tot["loss_sum"] / tot["weight"],
                      "accuracy": tot["correct"] / tot["weight"],
                      "val_loss": None, "val_accuracy": None, "lr": float(metrics[-1]["lr"])}
            if x_val is not None:
                logits = _forward_all(model, state.variables, x_val, cfg.eval_batch_size, mesh,
                                      outputs=("logits",))["logits"]
                record["val_loss"], record["val_accuracy"] = _val_metrics(logits, y_val)
                score = (record["val_accuracy"], -record["val_loss"])
            else:
                score = (float(epoch), 0.0)
            if best_score is None or score > best_score:
                best_score, best_epoch, best, bad_epochs = score, epoch, state.variables, 0
            else:
                bad_epochs += 1
            stopped_early = (x_val is not None and cfg.patience is not None
                             and bad_epochs >= cfg.patience and epoch < cfg.epochs)
            finished = stopped_early or epoch == cfg.epochs
            record["time_s"] = time.perf_counter() - t0
            history.append(record)
            bar.set_postfix(epoch=epoch, loss=f"{record['loss']:.3f}",
                            val_acc="-" if record["val_accuracy"] is None
                            else f"{record['val_accuracy']:.3f}", refresh=False)
            if ckpt is not None:
                ckpt.save(epoch, state, best, {
                    "fingerprint": fingerprint, "history": history, "best_epoch": best_epoch,
                    "best_score": list(best_score), "bad_epochs": bad_epochs,
                    "finished": finished, "stopped_early": stopped_early})
            if callback is not None:
                callback(dict(record), state)
    finally:
        if bar is not None:
            bar.close()
        if ckpt is not None:
            ckpt.close()
    return FitResult(variables=best, history=history, best_epoch=best_epoch,
                     stopped_early=stopped_early, resumed_from=resumed_from)
