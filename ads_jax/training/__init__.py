"""Training: ``fit`` with early stopping, checkpoints and data parallelism; ``predict``.

Public API::

    from ads_jax.training import TrainConfig, fit, predict, evaluate, to_float
"""

from ads_jax.training.augment import apply_augment, augment, augment_params, to_float
from ads_jax.training.config import SCHEDULES, TrainConfig
from ads_jax.training.fit import (FitResult, TrainingDivergedError, default_capacity, fit,
                                 init_train_state)
from ads_jax.training.inference import evaluate, predict
from ads_jax.training.heads import (LinearHeadOptions, MLPHeadOptions, fit_linear_head,
                                   fit_mlp_head)
from ads_jax.training import models as _models  # registers wrn, linear, mlp
from ads_jax.distributed import initialize as init_distributed
from ads_jax.training.parallel import data_mesh
from ads_jax.training.state import TrainState, learning_rate_at, make_optimizer, weight_decay_mask
from ads_jax.training.steps import (StepOptions, forward_fn, gather_step_fn, train_step_fn,
                                   weighted_cross_entropy)

__all__ = [
    "TrainConfig", "SCHEDULES", "fit", "FitResult", "TrainingDivergedError", "default_capacity",
    "predict", "evaluate", "to_float",
    "augment", "augment_params", "apply_augment", "TrainState", "init_train_state",
    "make_optimizer", "weight_decay_mask", "learning_rate_at", "train_step_fn", "gather_step_fn",
    "forward_fn",
    "StepOptions", "weighted_cross_entropy", "data_mesh", "init_distributed",
    "fit_linear_head", "fit_mlp_head", "LinearHeadOptions", "MLPHeadOptions",
]
