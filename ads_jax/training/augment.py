"""Input normalisation and on-device data augmentation (pure, key-driven)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["to_float", "augment", "augment_params", "apply_augment"]


def to_float(x) -> jax.Array:
    """The one input normalisation: uint8 images -> float32 in [-1, 1].

    Args:
      x: (..., H, W, C) uint8 images (NumPy or JAX). Floating inputs are taken to be
        normalised already and are only cast to float32.

    Returns:
      float32 array of the same shape, ``x / 127.5 - 1`` for uint8 input.
    """
    x = jnp.asarray(x)
    if x.dtype == jnp.uint8:
        return x.astype(jnp.float32) * (1.0 / 127.5) - 1.0
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"`x` must be uint8 images or already-normalised floats, got {x.dtype}.")
    return x.astype(jnp.float32)


def augment_params(key: jax.Array, batch_size: int, *, pad: int = 4,
                   flip: bool = True) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Draw per-example crop offsets and flips.

    Args:
      key: PRNG key.
      batch_size: B.
      pad: reflect padding; offsets lie in ``[0, 2 * pad]``.
      flip: if False, no example is flipped.

    Returns:
      ``(dy, dx, flips)``: (B,) int32, (B,) int32, (B,) bool. ``dy = dx = pad`` is
      the identity crop.
    """
    ky, kx, kf = jax.random.split(key, 3)
    dy = jax.random.randint(ky, (batch_size,), 0, 2 * pad + 1, dtype=jnp.int32)
    dx = jax.random.randint(kx, (batch_size,), 0, 2 * pad + 1, dtype=jnp.int32)
    flips = jax.random.bernoulli(kf, 0.5, (batch_size,))
    if not flip:
        flips = jnp.zeros_like(flips)
    return dy, dx, flips


def apply_augment(x: jax.Array, dy: jax.Array, dx: jax.Array, flips: jax.Array, *,
                  pad: int = 4) -> jax.Array:
    """Reflect-pad by ``pad``, crop at ``(dy, dx)`` back to (H, W), then mirror if ``flips``.

    Args:
      x: (B, H, W, C) images (any dtype); ``pad < min(H, W)`` (reflect padding).
      dy, dx: (B,) int crop offsets in ``[0, 2 * pad]``.
      flips: (B,) bool, horizontal mirror after the crop.

    Returns:
      (B, H, W, C) array, same dtype as ``x``.
    """
    b, h, w, c = x.shape
    if pad:
        xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
        crop = jax.vmap(lambda im, i, j: jax.lax.dynamic_slice(im, (i, j, 0), (h, w, c)))(xp, dy, dx)
    else:
        crop = x
    return jnp.where(flips[:, None, None, None], crop[:, :, ::-1, :], crop)


def augment(key: jax.Array, x: jax.Array, *, pad: int = 4, flip: bool = True) -> jax.Array:
    """Random reflect-pad-``pad`` crop and (optional) horizontal flip of a batch.

    Deterministic for a given key; jit-able; works on sharded batches.

    Args:
      key: PRNG key.
      x: (B, H, W, C) images; ``pad < min(H, W)``.
      pad: padding in pixels (0 disables the crop).
      flip: random horizontal flips (off for digits).

    Returns:
      (B, H, W, C) augmented images, same dtype.
    """
    if x.ndim != 4:
        raise ValueError(f"`x` must be (B, H, W, C), got shape {x.shape}.")
    if pad >= min(x.shape[1], x.shape[2]):
        raise ValueError(f"`pad`={pad} must be smaller than the image size {x.shape[1:3]} for "
                         "reflect padding; lower TrainConfig.crop_padding.")
    dy, dx, flips = augment_params(key, x.shape[0], pad=pad, flip=flip)
    return apply_augment(x, dy, dx, flips, pad=pad)

