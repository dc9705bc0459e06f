"""``fit``: train a model from scratch with early stopping, checkpoints and data parallelism.

Reproducibility contract: everything random is derived from the ``key`` argument
by ``fold_in`` on the epoch (and step) number -- the shuffle of epoch ``e`` is
``permutation(fold_in(k_shuffle, e), N)``, the augmentation/dropout key of step
``s`` of epoch ``e`` is ``fold_in(fold_in(k_step, e), s)`` -- so a run resumed
from the checkpoint of epoch ``e`` replays epochs ``e+1, ...`` exactly as the
uninterrupted run would have.

Shapes: the training set is put on the device(s) once per ``fit``, zero-padded to
``N_cap`` rows (``capacity``; default ``default_capacity(N)``), replicated over the
data mesh; every step gathers its batch there from a (B,) index row of the
epoch's plan, transferred once per epoch. Every batch has the static size
``B = round_up(min(batch_size, N_cap), n_devices)`` (real examples weight 1,
padding weight 0 and masked out of the batch-norm statistics), so the train step
compiles once per (model, step options, mesh, N_cap, B, image shape/dtype),
whatever N is: growing labeled sets that share a capacity bucket share a compile.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import time
import zlib
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from ads_jax import _validation as V
from ads_jax.config_engine import to_dict
from ads_jax._validation import check_labels, check_same_length
from ads_jax.checkpoint import Checkpointer
from ads_jax.determinism import ensure_deterministic_ops
from ads_jax.training.config import BOOKKEEPING_FIELDS, TrainConfig
from ads_jax.training.inference import _check_images, _device_chunks, _forward_chunks
from ads_jax.training.parallel import DATA_AXIS, data_mesh, num_shards, put_global, replicate
from ads_jax.training.state import TrainState, make_optimizer
from ads_jax.training.steps import StepOptions, gather_step_fn

__all__ = ["fit", "FitResult", "TrainingDivergedError", "default_capacity",
           "init_train_state", "should_checkpoint"]

MIN_CAPACITY = 64
CAPACITY_GROWTH = 4


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


class TrainingDivergedError(ValueError):
    """The training loss (or the parameters) became NaN or infinite.

    Attributes:
      epoch: 1-based epoch in which it was detected (not checkpointed).
      value: the offending epoch loss (float; may be finite when only the
        parameters or the validation loss are non-finite).
    """

    def __init__(self, message: str, epoch: int, value: float):
        super().__init__(message)
        self.epoch = epoch
        self.value = value


def default_capacity(n: int) -> int:
    """Default on-device training-buffer rows for ``n`` examples (``fit(capacity=None)``).

    The smallest ``MIN_CAPACITY * CAPACITY_GROWTH**k >= n`` (k >= 0): 64, 256, 1024,
    4096, 16384, 65536, ... Fits whose set sizes fall in the same bucket share one
    compiled train step; the buffer is at most 4x the data (plus 64 rows). A run
    growing its set from a to 5a (5 rounds of equal steps) spans at most 3 buckets,
    usually 2 (e.g. 10..50 -> 64 only, 50..250 -> 64, 256; 5000..25000 -> 16384,
    65536). Pass ``capacity`` (e.g. the final set size of an active-learning run)
    for exactly one compile.
    """
    cap = MIN_CAPACITY
    while cap < n:
        cap *= CAPACITY_GROWTH
    return cap


@functools.lru_cache(maxsize=32)
def _init_fn(model: nn.Module, image_shape: tuple[int, ...]):
    return jax.jit(lambda k: model.init({"params": k}, jnp.zeros((1, *image_shape), jnp.float32),
                                        train=False))


def init_train_state(key: jax.Array, model: nn.Module, image_shape: tuple[int, int, int],
                     cfg: TrainConfig) -> TrainState:
    """Fresh ``TrainState`` (step 0, zero momentum) for images of shape (H, W, C).

    Params and batch stats come from ``model.init`` with ``key``; float32.
    """
    variables = _init_fn(model, tuple(int(s) for s in image_shape))(V.check_key("key", key))
    params = variables["params"]
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      batch_stats=variables.get("batch_stats", {}),
                      opt_state=make_optimizer(cfg).init(params))


def _crc(*arrays: np.ndarray | None) -> list[int]:
    return [None if a is None else zlib.crc32(np.ascontiguousarray(a).view(np.uint8)) & 0xFFFFFFFF
            for a in arrays]


@dataclasses.dataclass(frozen=True)
class _Layout:
    """Static shapes of one ``fit``: N examples in ``steps`` batches of B slots each.

    ``n_cap`` rows of the on-device training buffer, ``s_cap`` rows of the epoch
    plan (>= steps: the plan's shape depends on (n_cap, B) only).
    """

    n: int
    steps: int
    batch: int
    n_cap: int
    s_cap: int

    @classmethod
    def make(cls, n: int, batch_size: int, n_cap: int, n_devices: int) -> "_Layout":
        steps = math.ceil(n / batch_size)
        batch = -(-min(batch_size, n_cap) // n_devices) * n_devices
        return cls(n, steps, batch, n_cap, math.ceil(n_cap / batch_size))


def _epoch_plan(perm: np.ndarray, lay: _Layout) -> dict[str, np.ndarray]:
    """The batches of one epoch as a fixed-shape plan.

    ``np.array_split(perm, steps)`` gives the near-equal batches; row ``s`` of the
    plan holds batch ``s`` padded to B slots (padding repeats the batch's first
    index with weight 0); rows ``steps..s_cap-1`` are all padding (never used).

    Returns:
      ``{"idx": (s_cap, B) int32, "w": (s_cap, B) float32}``.
    """
    idx = np.zeros((lay.s_cap, lay.batch), np.int32)
    w = np.zeros((lay.s_cap, lay.batch), np.float32)
    for s, chunk in enumerate(np.array_split(perm, lay.steps)):
        idx[s] = chunk[0]
        idx[s, : len(chunk)] = chunk
        w[s, : len(chunk)] = 1.0
    return {"idx": idx, "w": w}


def _put_plan(plan: dict[str, np.ndarray], mesh) -> dict[str, jax.Array]:
    """One transfer per epoch: plan arrays sharded ``P(None, "data")`` (along B)."""
    return {k: put_global(v, mesh, P(None, DATA_AXIS)) for k, v in plan.items()}


def _put_train_data(x: np.ndarray, y: np.ndarray, n_cap: int, mesh) -> dict[str, jax.Array]:
    """The training set on device once: zero-padded to ``n_cap`` rows, replicated.

    Returns ``{"x": (n_cap, H, W, C) x.dtype, "y": (n_cap,) int32}``.
    """
    def pad(a):
        out = np.zeros((n_cap,) + a.shape[1:], a.dtype)
        out[: a.shape[0]] = a
        return put_global(out, mesh, P())

    return {"x": pad(x), "y": pad(np.asarray(y, np.int32))}


def _val_metrics(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    z = logits.astype(np.float64)
    z = z - z.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    loss = float(-logp[np.arange(len(y)), y].mean())
    acc = float(np.mean(np.argmax(logits, -1) == y))
    return loss, acc


def _check_capacity(capacity: Any, n: int) -> int:
    """``capacity`` of ``fit`` -> N_cap (``default_capacity(n)`` for None)."""
    if capacity is None:
        return default_capacity(n)
    capacity = V.check_int("capacity", capacity, minimum=1)
    if capacity < n:
        raise ValueError(f"`capacity`={capacity} is smaller than the training set ({n} "
                         "examples): pass capacity >= len(x_train) (e.g. the final labeled-set "
                         "size of the run), or None for the default bucket.")
    return capacity


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
    """What a resumed run must share with the run that wrote the checkpoint (the
    config without its bookkeeping fields: ``checkpoint_every`` etc. may change)."""
    config = {k: v for k, v in to_dict(cfg).items() if k not in BOOKKEEPING_FIELDS}
    return {
        "config": config, "model": repr(model),
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


def should_checkpoint(epoch: int, improved: bool, finished: bool, cfg: TrainConfig,
                      has_val: bool) -> bool:
    """Whether ``fit`` writes the checkpoint of ``epoch`` (``TrainConfig.checkpoint_every``).

    True iff ``epoch % cfg.checkpoint_every == 0``, or the epoch improved the
    best validation score (only with validation data), or it ends the fit.
    """
    return (epoch % cfg.checkpoint_every == 0 or (has_val and improved) or finished)


def _run_steps(step_fn, state, hp, k_step, data, plan, steps, bar):
    """Dispatch the ``steps`` steps of one epoch (no host transfer, no host sync).

    -> (state, list of per-step metric dicts, on device).
    """
    metrics = []
    for _ in range(steps):
        state, m = step_fn(state, hp, k_step, data, plan)
        metrics.append(m)
        bar.update(1)
    return state, metrics


def _train_epoch(step_fn, state, hp, k_step, data, perm, lay, mesh, bar):
    """One pass over the training set. -> (state, {loss, accuracy, lr, finite}).

    The epoch's plan is transferred once, the metrics fetched once at the end.
    """
    plan = _put_plan(_epoch_plan(perm, lay), mesh)
    state, metrics = _run_steps(step_fn, state, hp, k_step, data, plan, lay.steps, bar)
    metrics = jax.device_get(metrics)
    tot = {k: float(np.sum([m[k] for m in metrics], dtype=np.float64))
           for k in ("loss_sum", "correct", "weight")}
    return state, {"loss": tot["loss_sum"] / tot["weight"],
                   "accuracy": tot["correct"] / tot["weight"], "lr": float(metrics[-1]["lr"]),
                   "finite": bool(all(float(m["finite"]) == 1.0 for m in metrics))}


def _diverged(cfg: TrainConfig, epoch: int, what: str, value: float,
              checkpoint_dir: str | None) -> TrainingDivergedError:
    msg = (f"Training diverged in epoch {epoch}: {what} (epoch training loss {value!r}). "
           f"Lower `train.learning_rate` (now {cfg.learning_rate:g}; e.g. 10x smaller), or "
           f"check `train.weight_decay` ({cfg.weight_decay:g}) and `train.momentum` "
           f"({cfg.momentum:g}); a longer `train.warmup_epochs` can also help.")
    if checkpoint_dir and epoch > 1:
        msg += (f" Epoch {epoch} was not checkpointed; the checkpoints of earlier (finite) "
                f"epochs in {checkpoint_dir!r} are kept, but a rerun with a changed config "
                "does not resume them (another config's run is refused): use a fresh "
                "`checkpoint_dir` or delete that one.")
    return TrainingDivergedError(msg, epoch, value)


def fit(key: Any, model: nn.Module, x_train: Any, y_train: Any, x_val: Any = None,
        y_val: Any = None, cfg: TrainConfig | None = None, *,
        checkpoint_dir: str | None = None, progress: bool | None = None,
        callback: Callable[[dict[str, Any], TrainState], None] | None = None,
        capacity: int | None = None, devices: Sequence[jax.Device] | None = None) -> FitResult:
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
      checkpoint_dir: if given, Orbax checkpoints are written after the epochs
        ``cfg.checkpoint_every`` selects (every epoch by default; always after a
        new best epoch and after the last one; in the background with
        ``cfg.async_checkpoint``) and an existing run in this directory (same
        config up to its bookkeeping fields, key and data) is resumed from its
        last readable epoch -- or returned directly if it had finished. The
        result does not depend on where it was interrupted.
      progress: tqdm bar; None = only when stderr is a terminal.
      callback: ``callback(record, state)`` after each epoch (and its checkpoint,
        if one is written then); raising from it aborts the run (it resumes from
        ``checkpoint_dir``; a pending asynchronous write is finished first).
      capacity: rows ``N_cap >= N`` of the on-device training buffer (x_train and
        y_train zero-padded to N_cap rows, put on the device(s) once). The train
        step compiles once per (model, step options, mesh, N_cap, B), with the
        batch size ``B = round_up(min(cfg.batch_size, N_cap), n_devices)``, so
        fits on growing sets (active-learning rounds) passing the same capacity
        (e.g. the final set size) share one compile. None: ``default_capacity(N)``
        (the smallest 64 * 4**k >= N). The capacity changes the results only at
        float-rounding level (the amount of zero-weight padding per batch).
      devices: train on exactly these devices (data parallel over them; the
        default device alone when one): a run's slice when seeds run in
        parallel. None: every device.

    Returns:
      ``FitResult`` with the best epoch's variables and the per-epoch history.

    Raises:
      TrainingDivergedError: the training loss, the parameters or the validation
        loss became NaN/inf in some epoch (checked once per epoch, before that
        epoch is checkpointed); the message names the config fields to change.
      ValueError: ``capacity < N`` (and the other argument checks).
      RuntimeError: ``cfg.deterministic`` on a GPU backend that was started
        without ``--xla_gpu_deterministic_ops=true`` (the message says how to
        set it).
    """
    cfg = TrainConfig() if cfg is None else cfg
    if isinstance(cfg, TrainConfig):
        ensure_deterministic_ops(cfg.deterministic)
    key = V.check_key("key", key)
    x_train, y_train, x_val, y_val = _check_fit_args(model, x_train, y_train, x_val, y_val, cfg)
    n = x_train.shape[0]
    n_cap = _check_capacity(capacity, n)
    image_shape = tuple(int(s) for s in x_train.shape[1:])

    mesh = data_mesh(cfg.data_parallel, devices=devices)
    lay = _Layout.make(n, cfg.batch_size, n_cap, num_shards(mesh))
    steps = lay.steps
    hp = replicate({"base_lr": jnp.asarray(cfg.learning_rate, jnp.float32),
                    "total_steps": jnp.asarray(cfg.epochs * steps, jnp.int32),
                    "warmup_steps": jnp.asarray(cfg.warmup_epochs * steps, jnp.int32),
                    "steps_per_epoch": jnp.asarray(steps, jnp.int32)}, mesh)
    k_init, k_shuffle, k_step = jax.random.split(key, 3)
    step_fn = gather_step_fn(model, StepOptions.from_config(cfg), mesh)
    state = replicate(init_train_state(k_init, model, image_shape, cfg), mesh)
    best = state.variables
    fingerprint = _fingerprint(cfg, model, key, x_train, y_train, x_val, y_val)

    ckpt = None
    if checkpoint_dir:
        ckpt = Checkpointer(checkpoint_dir, {"state": "pytree", "best": "pytree", "meta": "json"},
                            max_to_keep=cfg.keep_checkpoints,
                            asynchronous=cfg.async_checkpoint)
    show = (jax.process_index() == 0
            and (sys.stderr.isatty() if progress is None else bool(progress)))
    bar = None
    try:
        prog, start, resumed_from = _Progress(), 1, None
        if ckpt is not None:
            state, best, prog, start, resumed_from = _resume(ckpt, state, best, fingerprint)
        if not prog.finished and start <= cfg.epochs:
            from tqdm.auto import tqdm  # only when a progress bar is shown

            bar = tqdm(total=(cfg.epochs - start + 1) * steps, disable=not show,
                       desc=f"fit {getattr(model, 'depth', '')}-{getattr(model, 'width', '')}",
                       unit="step", file=sys.stderr, dynamic_ncols=True, leave=False)
            # on device once per fit: training set (N_cap rows), step key, validation chunks
            data = _put_train_data(x_train, y_train, n_cap, mesh)
            k_step_dev = replicate(k_step, mesh)
            val_chunks = (None if x_val is None
                          else _device_chunks(x_val, cfg.eval_batch_size, mesh))
        for epoch in range(start, cfg.epochs + 1):
            if prog.finished:
                break
            t0 = time.perf_counter()
            perm = np.asarray(jax.random.permutation(jax.random.fold_in(k_shuffle, epoch), n))
            state, train_m = _train_epoch(step_fn, state, hp, k_step_dev, data, perm, lay, mesh,
                                          bar)
            if not (train_m["finite"] and math.isfinite(train_m["loss"])):
                what = ("the training loss became NaN/inf" if not math.isfinite(train_m["loss"])
                        else "a batch loss or the parameters became non-finite")
                raise _diverged(cfg, epoch, what, train_m["loss"], checkpoint_dir)
            record = {"epoch": epoch, "loss": train_m["loss"], "accuracy": train_m["accuracy"],
                      "val_loss": None, "val_accuracy": None, "lr": train_m["lr"]}
            if x_val is not None:
                logits = _forward_chunks(model, state.variables, val_chunks, mesh,
                                         outputs=("logits",))["logits"]
                record["val_loss"], record["val_accuracy"] = _val_metrics(logits, y_val)
                if not math.isfinite(record["val_loss"]):
                    raise _diverged(cfg, epoch, f"the validation loss is {record['val_loss']!r}",
                                    train_m["loss"], checkpoint_dir)
                score = (record["val_accuracy"], -record["val_loss"])
            else:
                score = (float(epoch), 0.0)
            improved = prog.update(epoch, score, cfg, x_val is not None)
            if improved:
                best = state.variables
            record["time_s"] = time.perf_counter() - t0
            prog.history.append(record)
            bar.set_postfix(epoch=epoch, loss=f"{record['loss']:.3f}",
                            val_acc="-" if record["val_accuracy"] is None
                            else f"{record['val_accuracy']:.3f}", refresh=False)
            if ckpt is not None and should_checkpoint(epoch, improved, prog.finished, cfg,
                                                      x_val is not None):
                ckpt.wait()  # at most one write in flight (async_checkpoint)
                ckpt.save(epoch, state=state, best=best, meta=prog.to_meta(fingerprint))
            if callback is not None:
                callback(dict(record), state)
    finally:
        if bar is not None:
            bar.close()
        if ckpt is not None:
            ckpt.close()  # waits for a pending asynchronous write
    return FitResult(variables=best, history=prog.history, best_epoch=prog.best_epoch,
                     stopped_early=prog.stopped_early, resumed_from=resumed_from)
