"""``TrainConfig``: every knob of ``fit`` in one frozen, JSON-able dataclass."""

from __future__ import annotations

import dataclasses

from ads_jax import _validation as V

__all__ = ["TrainConfig", "SCHEDULES", "BOOKKEEPING_FIELDS"]

SCHEDULES = ("cosine", "step", "constant")

#: Fields that change how a fit is checkpointed or which XLA kernels run, never the
#: algorithm: a fit may be resumed with other values (they are not part of ``fit``'s
#: resume fingerprint, nor of the loop's config check).
BOOKKEEPING_FIELDS = ("keep_checkpoints", "checkpoint_every", "async_checkpoint",
                      "deterministic")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (all fields JSON-able; ``dataclasses.asdict`` round-trips).

    Attributes:
      epochs: maximum number of passes over the training set (>= 1).
      batch_size: global mini-batch size over all devices (>= 1). An epoch is split
        into ``ceil(N / batch_size)`` near-equal batches, each padded to the fixed
        size ``round_up(min(batch_size, capacity), n_devices)`` (see ``fit``'s
        ``capacity``) with zero-weight examples that are masked out of the loss and
        of the batch-norm statistics.
      learning_rate: peak SGD learning rate.
      schedule: ``"cosine"`` (decay to 0 over ``epochs``), ``"step"`` (multiply by
        ``step_gamma`` at the fractions ``step_milestones`` of the run) or ``"constant"``.
      warmup_epochs: linear warm-up length in epochs (0 = none).
      step_milestones: fractions of the total steps where the step schedule decays.
      step_gamma: decay factor of the step schedule.
      momentum: SGD momentum.
      nesterov: Nesterov momentum.
      weight_decay: L2 coefficient added to the gradient of conv/dense kernels only
        (never to batch-norm scale/bias or to biases).
      patience: stop after this many epochs without a better validation accuracy
        (ties broken by lower validation loss); ``None`` disables early stopping.
      augment: random reflect-pad + crop (and flip) on device.
      flip: horizontal flips in the augmentation (turn off for digits / text).
      crop_padding: reflect padding before the random crop, in pixels.
      label_smoothing: in [0, 1).
      eval_batch_size: chunk size of validation / inference passes.
      data_parallel: shard every batch over all devices (params replicated).
      multi_host: require a multi-process JAX runtime (call
        ``ads_jax.training.init_distributed()`` at program start first).
      keep_checkpoints: how many per-epoch checkpoints Orbax keeps.
      checkpoint_every: with a ``checkpoint_dir``, which epochs ``fit`` writes
        (k >= 1): epoch e is written iff (a) e is a multiple of k, or (b) e
        is a new best epoch (its validation score beats every earlier epoch;
        only with validation data -- without it every epoch would be "best"),
        or (c) e ends the fit (``epochs`` reached or patience ran out), so a
        finished fit is always on disk and a rerun returns it without
        training. 1 (default) writes every epoch. A killed fit resumes from
        its newest written epoch and replays the epochs after it, so its
        result is the same for every k (every random draw is keyed by the
        epoch number); a larger k only means more epochs to replay.
      async_checkpoint: write checkpoints in the background (Orbax async
        save): ``fit`` copies the state to the host, then goes on training
        while the files are written; it waits for a pending write before the
        next one and at its end. False: every write blocks the train loop.
      deterministic: ask XLA for deterministic GPU kernels
        (``--xla_gpu_deterministic_ops=true``), without which a killed and
        resumed run gives identical records only on CPU / TPU. The flag must
        be in ``XLA_FLAGS`` before JAX initialises its backends: the
        ``ads-jax`` command sets it (:func:`ads_jax.determinism.ensure_deterministic_ops`),
        and ``fit`` raises a RuntimeError saying how to set it when a GPU
        backend is already running without it. Cost: deterministic scatter
        and reductions and the deterministic cuDNN algorithms are slower on
        GPU (the XLA flag also turns off autotuning choices that are not
        reproducible). No effect on CPU and TPU.
    """

    epochs: int = 100
    batch_size: int = 128
    learning_rate: float = 0.1
    schedule: str = "cosine"
    warmup_epochs: int = 0
    step_milestones: tuple[float, ...] = (0.3, 0.6, 0.8)
    step_gamma: float = 0.2
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    patience: int | None = 10
    augment: bool = True
    flip: bool = True
    crop_padding: int = 4
    label_smoothing: float = 0.0
    eval_batch_size: int = 512
    data_parallel: bool = True
    multi_host: bool = False
    keep_checkpoints: int = 2
    checkpoint_every: int = 1
    async_checkpoint: bool = False
    deterministic: bool = True

    def __post_init__(self):
        V.check_int("train.epochs", self.epochs, minimum=1)
        V.check_int("train.batch_size", self.batch_size, minimum=1)
        V.check_number("train.learning_rate", self.learning_rate, lo=0, lo_open=True)
        V.check_choice("train.schedule", self.schedule, SCHEDULES)
        V.check_int("train.warmup_epochs", self.warmup_epochs, minimum=0)
        if self.warmup_epochs >= self.epochs and self.warmup_epochs > 0:
            raise ValueError(f"`train.warmup_epochs` ({self.warmup_epochs}) must be smaller "
                             f"than `train.epochs` ({self.epochs}).")
        ms = tuple(self.step_milestones)  # JSON gives lists: store a tuple (hashable)
        for m in ms:
            V.check_number("train.step_milestones[i]", m, lo=0, hi=1, lo_open=True, hi_open=True)
        if list(ms) != sorted(ms):
            raise ValueError(f"`train.step_milestones` must be increasing, got {list(ms)}.")
        object.__setattr__(self, "step_milestones", tuple(float(m) for m in ms))
        V.check_number("train.step_gamma", self.step_gamma, lo=0, hi=1, lo_open=True)
        V.check_number("train.momentum", self.momentum, lo=0, hi=1, hi_open=True)
        V.check_number("train.weight_decay", self.weight_decay, lo=0)
        V.check_int("train.patience", self.patience, minimum=1, allow_none=True)
        V.check_int("train.crop_padding", self.crop_padding, minimum=0)
        V.check_number("train.label_smoothing", self.label_smoothing, lo=0, hi=1, hi_open=True)
        V.check_int("train.eval_batch_size", self.eval_batch_size, minimum=1)
        V.check_int("train.keep_checkpoints", self.keep_checkpoints, minimum=1)
        V.check_int("train.checkpoint_every", self.checkpoint_every, minimum=1)
        for b in ("nesterov", "augment", "flip", "data_parallel", "multi_host",
                  "async_checkpoint", "deterministic"):
            V.check_bool(f"train.{b}", getattr(self, b))
