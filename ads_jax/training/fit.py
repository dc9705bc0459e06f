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
from ads_jax.config import to_dict
from ads_jax._validation import check_labels, check_same_length
from ads_jax.checkpoint import Checkpointer
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


def _check_fit_args(model, x_train, y_train, x_val, y_val, cfg):
    """Boundary checks of ``fit``; returns normalised (x_train, y_train, x_val, y_val)."""
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"`cfg` must be a TrainConfig, got {type(cfg).__name__}.")
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
    return x_train, y_train, x_val, y_val


@dataclasses.dataclass
class _Progress:
    """Mutable bookkeeping of one ``fit`` run (checkpointed as JSON with the state)."""

    history: list = dataclasses.field(default_factory=list)
    best_epoch: int = 0
    best_score: tuple | None = None
    bad_epochs: int = 0
    finished: bool = False
    stopped_early: bool = False

    def to_meta(self, fingerprint: dict) -> dict:
        return {"fingerprint": fingerprint, "history": self.history,
                "best_epoch": self.best_epoch, "best_score": list(self.best_score),
                "bad_epochs": self.bad_epochs, "finished": self.finished,
                "stopped_early": self.stopped_early}

    @classmethod
    def from_meta(cls, meta: dict) -> "_Progress":
        return cls(history=list(meta["history"]), best_epoch=int(meta["best_epoch"]),
                   best_score=None if meta["best_score"] is None else tuple(meta["best_score"]),
                   bad_epochs=int(meta["bad_epochs"]), finished=bool(meta["finished"]),
                   stopped_early=bool(meta["stopped_early"]))

    def update(self, epoch: int, score: tuple, cfg: TrainConfig, has_val: bool) -> bool:
        """Record an epoch's score; True if it is the best so far (early-stopping rule)."""
        better = self.best_score is None or score > self.best_score
        if better:
            self.best_score, self.best_epoch, self.bad_epochs = score, epoch, 0
        else:
            self.bad_epochs += 1
        self.stopped_early = (has_val and cfg.patience is not None
                              and self.bad_epochs >= cfg.patience and epoch < cfg.epochs)
        self.finished = self.stopped_early or epoch == cfg.epochs
        return better


def _fingerprint(cfg, model, key, x_train, y_train, x_val, y_val) -> dict:
    """What a resumed run must share with the run that wrote the checkpoint."""
    return {
        "config": to_dict(cfg), "model": repr(model),
        "key": [int(v) for v in np.asarray(jax.random.key_data(key)).ravel()],
        "data_crc32": _crc(x_train, y_train, x_val, y_val),
        "shapes": [list(x_train.shape), None if x_val is None else list(x_val.shape)],
    }


def _resume(ckpt, state, best, fingerprint):
    """(state, best, progress, start epoch, resumed_from) from the newest readable epoch."""
    def check(step, items):
        fp = items["meta"].get("fingerprint")
        if fp != fingerprint:
            diff = [k for k in fingerprint if (fp or {}).get(k) != fingerprint[k]]
            raise ValueError(
                f"`checkpoint_dir` {ckpt.directory!r} holds a run with a different {diff}; "
                "pass the same key/config/data to resume, or use a fresh directory.")

    got = ckpt.restore_latest({"state": state, "best": best}, check=check)
    if got is None:
        return state, best, _Progress(), 1, None
    last, items = got
    return items["state"], items["best"], _Progress.from_meta(items["meta"]), last + 1, last


def _train_epoch(step_fn, state, hp, x_train, y_train, perm, steps, padded, mesh, k_epoch, bar):
    """One pass over the training set. -> (state, {loss, accuracy, lr})."""
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
    return state, {"loss": tot["loss_sum"] / tot["weight"],
                   "accuracy": tot["correct"] / tot["weight"], "lr": float(metrics[-1]["lr"])}


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
        from its last readable epoch -- or returned directly if it had finished.
      progress: tqdm bar; None = only when stderr is a terminal.
      callback: ``callback(record, state)`` after each epoch's checkpoint; raising
        from it aborts the run (it resumes from ``checkpoint_dir``).

    Returns:
      ``FitResult`` with the best epoch's variables and the per-epoch history.
    """
    cfg = TrainConfig() if cfg is None else cfg
    key = as_key(key)
    x_train, y_train, x_val, y_val = _check_fit_args(model, x_train, y_train, x_val, y_val, cfg)
    image_shape = tuple(int(s) for s in x_train.shape[1:])

    mesh = data_mesh(cfg.data_parallel)
    nd = num_shards(mesh)
    n = x_train.shape[0]
    steps = math.ceil(n / cfg.batch_size)
    padded = -(-math.ceil(n / steps) // nd) * nd
    hp = replicate({"base_lr": jnp.asarray(cfg.learning_rate, jnp.float32),
                    "total_steps": jnp.asarray(cfg.epochs * steps, jnp.int32),
                    "warmup_steps": jnp.asarray(cfg.warmup_epochs * steps, jnp.int32)}, mesh)
    k_init, k_shuffle, k_step = jax.random.split(key, 3)
    step_fn = train_step_fn(model, StepOptions.from_config(cfg), mesh)
    state = replicate(init_train_state(k_init, model, image_shape, cfg), mesh)
    best = state.variables
    fingerprint = _fingerprint(cfg, model, key, x_train, y_train, x_val, y_val)

    ckpt = None
    if checkpoint_dir:
        ckpt = Checkpointer(checkpoint_dir, {"state": "pytree", "best": "pytree", "meta": "json"},
                            max_to_keep=cfg.keep_checkpoints, asynchronous=True)
    show = (jax.process_index() == 0
            and (sys.stderr.isatty() if progress is None else bool(progress)))
    bar = None
    try:
        prog, start, resumed_from = _Progress(), 1, None
        if ckpt is not None:
            state, best, prog, start, resumed_from = _resume(ckpt, state, best, fingerprint)
        if not prog.finished and start <= cfg.epochs:
            from tqdm.auto import tqdm

            bar = tqdm(total=(cfg.epochs - start + 1) * steps, disable=not show,
                       desc=f"fit {getattr(model, 'depth', '')}-{getattr(model, 'width', '')}",
                       unit="step", file=sys.stderr, dynamic_ncols=True, leave=False)
        for epoch in range(start, cfg.epochs + 1):
            if prog.finished:
                break
            t0 = time.perf_counter()
            perm = np.asarray(jax.random.permutation(jax.random.fold_in(k_shuffle, epoch), n))
            state, train_m = _train_epoch(step_fn, state, hp, x_train, y_train, perm, steps,
                                          padded, mesh, jax.random.fold_in(k_step, epoch), bar)
            record = {"epoch": epoch, "loss": train_m["loss"], "accuracy": train_m["accuracy"],
                      "val_loss": None, "val_accuracy": None, "lr": train_m["lr"]}
            if x_val is not None:
                logits = _forward_all(model, state.variables, x_val, cfg.eval_batch_size, mesh,
                                      outputs=("logits",))["logits"]
                record["val_loss"], record["val_accuracy"] = _val_metrics(logits, y_val)
                score = (record["val_accuracy"], -record["val_loss"])
            else:
                score = (float(epoch), 0.0)
            if prog.update(epoch, score, cfg, x_val is not None):
                best = state.variables
            record["time_s"] = time.perf_counter() - t0
            prog.history.append(record)
            bar.set_postfix(epoch=epoch, loss=f"{record['loss']:.3f}",
                            val_acc="-" if record["val_accuracy"] is None
                            else f"{record['val_accuracy']:.3f}", refresh=False)
            if ckpt is not None:
                ckpt.save(epoch, state=state, best=best, meta=prog.to_meta(fingerprint))
            if callback is not None:
                callback(dict(record), state)
    finally:
        if bar is not None:
            bar.close()
        if ckpt is not None:
            ckpt.close()
    return FitResult(variables=best, history=prog.history, best_epoch=prog.best_epoch,
                     stopped_early=prog.stopped_early, resumed_from=resumed_from)
