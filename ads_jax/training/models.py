"""The built-in models as components (:data:`ads_jax.models.MODELS`): network + how it is fit.

* ``wrn``    -- :class:`~ads_jax.models.WideResNet` on images, trained by
  :func:`ads_jax.training.fit` (SGD, augmentation, early stopping on the
  validation set; ``train.*`` configures it);
* ``linear`` -- :class:`~ads_jax.models.LinearHead` on features, trained to
  convergence by :func:`ads_jax.training.heads.fit_linear_head` (full-batch
  L-BFGS, L2; ``model.options.l2|max_iter|tol``; ``train.*`` unused);
* ``mlp``    -- :class:`~ads_jax.models.MLPHead` on features, trained by
  :func:`ads_jax.training.heads.fit_mlp_head` (AdamW, early stopping on the
  validation set; ``model.options.hidden|learning_rate|...``).

Every ``fit`` pads the labeled set to ``capacity`` rows (weight 0), so a run
whose labeled set grows compiles its training program once.
"""

from __future__ import annotations

import numpy as np

from ads_jax.models import LinearHead, MLPHead, Model, WideResNet, register_model
from ads_jax.models.registry import DTYPES
from ads_jax.training.fit import FitResult, fit
from ads_jax.training.heads import (
    LinearHeadOptions,
    MLPHeadOptions,
    fit_linear_head,
    fit_mlp_head,
)
from ads_jax.training.inference import predict

__all__ = ["wrn", "linear", "mlp", "pad_rows"]


def pad_rows(x: np.ndarray, y: np.ndarray, capacity: int | None):
    """``(x, y, weight)`` zero-padded to ``capacity`` rows (weight 1 real, 0 padding)."""
    n = int(x.shape[0])
    cap = n if capacity is None else int(capacity)
    if cap < n:
        raise ValueError(f"`capacity`={cap} is smaller than the {n} training rows.")
    xp = np.zeros((cap,) + tuple(x.shape[1:]), np.float32)
    xp[:n] = x
    yp = np.zeros((cap,), np.int32)
    yp[:n] = y
    return xp, yp, (np.arange(cap) < n).astype(np.float32)


def _accuracy(module, variables, x, y) -> float:
    if x is None or len(x) == 0:
        return None
    logits = predict(module, variables, x, batch_size=4096)["logits"]
    return float(np.mean(np.argmax(logits, -1) == np.asarray(y)))


def wrn(*, num_classes: int, depth: int = 16, width: int = 1, dropout_rate: float = 0.0,
        dtype: str = "float32") -> Model:
    """``wrn``: a WideResNet trained by :func:`ads_jax.training.fit`."""
    module = WideResNet(depth=depth, width=width, num_classes=num_classes,
                        dropout_rate=float(dropout_rate), dtype=DTYPES[dtype])

    def fit_wrn(key, x, y, x_val, y_val, train, *, capacity=None, checkpoint_dir=None,
                devices=None):
        return fit(key, module, x, y, x_val, y_val, train, checkpoint_dir=checkpoint_dir,
                   capacity=capacity, devices=devices)

    return Model(module=module, inputs="images", fit=fit_wrn, label=f"wrn-{depth}-{width}")


def linear(*, num_classes: int, l2: float = LinearHeadOptions.l2,
           max_iter: int = LinearHeadOptions.max_iter,
           tol: float = LinearHeadOptions.tol) -> Model:
    """``linear``: multinomial logistic regression with L2, trained to convergence."""
    LinearHeadOptions(l2=l2, max_iter=max_iter, tol=tol)  # checks the values
    module = LinearHead(num_classes)

    def fit_linear(key, x, y, x_val, y_val, train=None, *, capacity=None, checkpoint_dir=None,
                   devices=None):  # one device: the default one (jax.default_device)
        xp, yp, w = pad_rows(np.asarray(x, np.float32), np.asarray(y), capacity)
        variables, info = fit_linear_head(key, xp, yp, w, num_classes=num_classes, l2=l2,
                                          max_iter=max_iter, tol=tol)
        rec = {"epoch": 1, "loss": float(info["loss"]), "iterations": int(info["iterations"]),
               "grad_norm": float(info["grad_norm"]), "converged": bool(info["converged"]),
               "val_accuracy": _accuracy(module, variables, x_val, y_val)}
        return FitResult(variables=variables, history=[rec], best_epoch=1, stopped_early=False)

    return Model(module=module, inputs="features", fit=fit_linear, label="linear")


def mlp(*, num_classes: int, hidden: int = MLPHeadOptions.hidden,
        learning_rate: float = MLPHeadOptions.learning_rate,
        weight_decay: float = MLPHeadOptions.weight_decay, epochs: int = MLPHeadOptions.epochs,
        batch_size: int = MLPHeadOptions.batch_size,
        patience: int | None = MLPHeadOptions.patience) -> Model:
    """``mlp``: one hidden layer (its activations are the embedding), AdamW, early stopping."""
    MLPHeadOptions(hidden=hidden, learning_rate=learning_rate, weight_decay=weight_decay,
                   epochs=epochs, batch_size=batch_size, patience=patience)
    module = MLPHead(num_classes, hidden=hidden)

    def fit_mlp(key, x, y, x_val, y_val, train=None, *, capacity=None, checkpoint_dir=None,
                devices=None):  # one device: the default one (jax.default_device)
        xp, yp, w = pad_rows(np.asarray(x, np.float32), np.asarray(y), capacity)
        variables, hist = fit_mlp_head(
            key, xp, yp, w, np.asarray(x_val, np.float32), np.asarray(y_val, np.int32),
            num_classes=num_classes, hidden=hidden, learning_rate=learning_rate,
            weight_decay=weight_decay, epochs=epochs, batch_size=batch_size, patience=patience)
        run = int(hist["epochs_run"])
        history = [{"epoch": e + 1, "loss": float(hist["train_loss"][e]),
                    "val_loss": float(hist["val_loss"][e]),
                    "val_accuracy": float(hist["val_acc"][e])} for e in range(run)]
        best = int(hist["best_epoch"]) + 1
        return FitResult(variables=variables, history=history, best_epoch=best,
                         stopped_early=run < epochs)

    return Model(module=module, inputs="features", fit=fit_mlp, label=f"mlp-{hidden}")


register_model("wrn", wrn)
register_model("linear", linear)
register_model("mlp", mlp)
