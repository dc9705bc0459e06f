"""``TrainConfig``: every knob of ``fit`` in one frozen, JSON-able dataclass."""

from __future__ import annotations

import dataclasses

from ads_jax import _validation as V

__all__ = ["TrainConfig", "SCHEDULES"]

SCHEDULES = ("cosine", "step", "constant")


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
        for b in ("nesterov", "augment", "flip", "data_parallel", "multi_host"):
            V.check_bool(f"train.{b}", getattr(self, b))
