"""Batched, chunked, data-parallel inference over a whole pool."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import numpy as np

from ads_jax._validation import check_array, check_finite, check_labels, check_positive_int, \
    check_same_length
from ads_jax.training.parallel import data_mesh, num_shards, replicate, shard_batch, to_host
from ads_jax.training.steps import forward_fn

__all__ = ["predict", "evaluate"]


def _check_images(name: str, x: Any) -> np.ndarray:
    check_array(name, x, ndim=4)
    x = np.asarray(x)
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"`{name}` must be uint8 images (N, H, W, C) or already-normalised "
                            f"floats, got dtype {x.dtype}. Cast with .astype(np.uint8).")
        check_finite(name, x)
    return x


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def _forward_all(model: nn.Module, variables: Any, x: np.ndarray, batch_size: int, mesh,
                 outputs: tuple[str, ...] = ("logits", "probs", "embeddings")) -> dict[str, np.ndarray]:
    """Unchecked core of ``predict``: chunks of a fixed padded size (one compile)."""
    n = x.shape[0]
    nd = num_shards(mesh)
    chunk = min(_round_up(batch_size, nd), _round_up(n, nd))
    fwd = forward_fn(model, mesh)
    variables = replicate(variables, mesh)
    pending = []
    for start in range(0, n, chunk):
        xb = x[start:start + chunk]
        m = xb.shape[0]
        if m < chunk:
            xb = np.concatenate([xb, np.zeros((chunk - m,) + xb.shape[1:], xb.dtype)])
        pending.append((m, fwd(variables, shard_batch(xb, mesh))))  # async dispatch
    names = ("logits", "probs", "embeddings")
    out = {k: [] for k in outputs}
    for m, res in pending:
        for k, v in zip(names, res):
            if k in out:
                out[k].append(to_host(v)[:m])
    return {k: np.concatenate(v) for k, v in out.items()}


def predict(model: nn.Module, variables: Any, x: Any, *, batch_size: int = 512,
            data_parallel: bool = True) -> dict[str, np.ndarray]:
    """Eval-mode forward pass over any number of images, in chunks.

    Args:
      model: a ``WideResNet`` (any Linen module returning ``(logits, features)``).
      variables: ``{"params", "batch_stats"}`` (e.g. ``fit(...).variables``).
      x: (N, H, W, C) uint8 images (normalised with ``to_float``), or already
        normalised float images.
      batch_size: images per chunk (rounded up to the device count); N need not be
        a multiple: the last chunk is padded and the padding dropped.
      data_parallel: split each chunk over all devices.

    Returns:
      dict of NumPy float32 arrays: ``logits`` (N, C), ``probs`` (N, C) softmax,
      ``embeddings`` (N, D) pre-logit features (D = 64 * width for a WRN).
    """
    x = _check_images("x", x)
    batch_size = check_positive_int("batch_size", batch_size)
    return _forward_all(model, variables, x, batch_size, data_mesh(data_parallel))


def evaluate(model: nn.Module, variables: Any, x: Any, y: Any, *, batch_size: int = 512,
             data_parallel: bool = True) -> float:
    """Top-1 accuracy (float in [0, 1]) of the model on (x (N, H, W, C), y (N,) int)."""
    x = _check_images("x", x)
    check_labels("y", y, int(getattr(model, "num_classes", np.max(y) + 1)))
    check_same_length(x=x, y=np.asarray(y))
    batch_size = check_positive_int("batch_size", batch_size)
    logits = _forward_all(model, variables, x, batch_size, data_mesh(data_parallel),
                          outputs=("logits",))["logits"]
    return float(np.mean(np.argmax(logits, -1) == np.asarray(y)))
