"""Batched, chunked, data-parallel inference over a whole pool."""

from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import numpy as np

from ads_jax._validation import check_array, check_finite, check_labels, check_positive_int, \
    check_same_length
from ads_jax.distributed import to_host
from ads_jax.training.parallel import data_mesh, num_shards, replicate, shard_batch
from ads_jax.training.steps import forward_fn

__all__ = ["predict", "evaluate"]


def _check_images(name: str, x: Any) -> np.ndarray:
    check_array(name, x, ndim=4)
    return _check_values(name, x)


def _check_inputs(name: str, x: Any) -> np.ndarray:
    """Images (N, H, W, C) uint8 / float, or features (N, d) float (proxy-mode heads)."""
    if getattr(x, "ndim", None) == 2:
        check_array(name, x, ndim=2, kind="f")
        return _check_values(name, x)
    return _check_images(name, x)


def _check_values(name: str, x: Any) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"`{name}` must be uint8 images (N, H, W, C) or already-normalised "
                            f"floats, got dtype {x.dtype}. Cast with .astype(np.uint8).")
        check_finite(name, x)
    return x


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


def _chunk_size(n: int, batch_size: int, mesh) -> int:
    nd = num_shards(mesh)
    return min(_round_up(batch_size, nd), _round_up(n, nd))


def _padded_chunk(x: np.ndarray, start: int, chunk: int) -> tuple[int, np.ndarray]:
    """(real rows m, (chunk, ...) rows ``start:start+chunk`` of x zero-padded to ``chunk``)."""
    xb = x[start:start + chunk]
    m = xb.shape[0]
    if m < chunk:
        xb = np.concatenate([xb, np.zeros((chunk - m,) + xb.shape[1:], xb.dtype)])
    return m, xb


def _device_chunks(x: np.ndarray, batch_size: int, mesh) -> list[tuple[int, Any]]:
    """Put a whole (N, H, W, C) set on device once, as fixed-size chunks sharded along B.

    Returns ``[(m, chunk)]``: ``chunk`` a (C, H, W, C) global array (C = ``batch_size``
    rounded up to the device count, at most N rounded up; the last one zero-padded)
    of which the first ``m`` rows are real. For passes repeated over the same set
    (the validation set of every epoch of ``fit``) with ``_forward_chunks``.
    """
    chunk = _chunk_size(x.shape[0], batch_size, mesh)
    out = []
    for start in range(0, x.shape[0], chunk):
        m, xb = _padded_chunk(x, start, chunk)
        out.append((m, shard_batch(xb, mesh)))
    return out


def _forward_chunks(model: nn.Module, variables: Any, chunks, mesh,
                    outputs: tuple[str, ...] = ("logits", "probs", "embeddings"),
                    ) -> dict[str, np.ndarray]:
    """Eval forward over chunks (an iterable of ``(m, on-device chunk)``), one compile.

    Returns NumPy float32 arrays of the ``outputs`` with the padding rows dropped.
    """
    fwd = forward_fn(model, mesh)
    variables = replicate(variables, mesh)
    pending = [(m, fwd(variables, xb)) for m, xb in chunks]  # async dispatch
    names = ("logits", "probs", "embeddings")
    out = {k: [] for k in outputs}
    for m, res in pending:
        for k, v in zip(names, res):
            if k in out:
                out[k].append(to_host(v)[:m])
    return {k: np.concatenate(v) for k, v in out.items()}


def _forward_all(model: nn.Module, variables: Any, x: np.ndarray, batch_size: int, mesh,
                 outputs: tuple[str, ...] = ("logits", "probs", "embeddings")) -> dict[str, np.ndarray]:
    """Unchecked core of ``predict``: chunks of a fixed padded size (one compile).

    Each host chunk is transferred when its forward pass is dispatched (no chunk
    outlives its pass on device).
    """
    chunk = _chunk_size(x.shape[0], batch_size, mesh)

    def host_chunks():
        for start in range(0, x.shape[0], chunk):
            m, xb = _padded_chunk(x, start, chunk)
            yield m, shard_batch(xb, mesh)

    return _forward_chunks(model, variables, host_chunks(), mesh, outputs)


def predict(model: nn.Module, variables: Any, x: Any, *, batch_size: int = 512,
            data_parallel: bool = True, local: bool = False,
            devices: Sequence[jax.Device] | None = None) -> dict[str, np.ndarray]:
    """Eval-mode forward pass over any number of images, in chunks.

    Args:
      model: a ``WideResNet`` (any Linen module returning ``(logits, features)``).
      variables: ``{"params", "batch_stats"}`` (e.g. ``fit(...).variables``).
      x: (N, H, W, C) uint8 images (normalised with ``to_float``), already
        normalised float images, or (N, d) float features (for the heads).
      batch_size: images per chunk (rounded up to the device count); N need not be
        a multiple: the last chunk is padded and the padding dropped.
      data_parallel: split each chunk over all devices.
      local: use only this process's devices on this process's ``x`` (in a
        multi-process run every process then embeds its own images; the
        ``variables`` may be replicated global arrays).
      devices: run on exactly these devices (see ``fit``).

    Returns:
      dict of NumPy float32 arrays: ``logits`` (N, C), ``probs`` (N, C) softmax,
      ``embeddings`` (N, D) pre-logit features (D = 64 * width for a WRN).
    """
    x = _check_inputs("x", x)
    batch_size = check_positive_int("batch_size", batch_size)
    if local and jax.process_count() > 1:
        variables = jax.tree.map(to_host, variables)
    mesh = data_mesh(data_parallel, local=local, devices=devices)
    return _forward_all(model, variables, x, batch_size, mesh)


def evaluate(model: nn.Module, variables: Any, x: Any, y: Any, *, batch_size: int = 512,
             data_parallel: bool = True) -> float:
    """Top-1 accuracy (float in [0, 1]) of the model on (x (N, H, W, C), y (N,) int)."""
    x = _check_inputs("x", x)
    check_labels("y", y, int(getattr(model, "num_classes", np.max(y) + 1)))
    check_same_length(x=x, y=np.asarray(y))
    batch_size = check_positive_int("batch_size", batch_size)
    logits = _forward_all(model, variables, x, batch_size, data_mesh(data_parallel),
                          outputs=("logits",))["logits"]
    return float(np.mean(np.argmax(logits, -1) == np.asarray(y)))
