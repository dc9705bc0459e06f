"""Kind ``noisy``: additive white Gaussian noise on part of the pool's images.

As ``curated``, then a fraction ``noise_fraction`` (paper: 0.8) of the
*unlabeled* pool images get additive white Gaussian noise. Per image a
power ``p ~ Beta(*noise_beta)`` is drawn and the noise standard deviation
in grey levels is ``std = noise_scale * p * 255``; the noisy image is
``clip(rint(x + std * N(0, 1)), 0, 255)`` as uint8, independently per
pixel and channel. The initial labeled set, validation and test stay
clean, unless ``noisy_initial=True``: then ``noise_fraction`` of all P
pool points, seed set included, are corrupted. Defaults
``noise_beta=(5, 2)``, ``noise_scale=1``: mean power 5/7, mean std about
182 grey levels, i.e. images largely destroyed, as the paper's noisy SVHN
pool of "white-noise images" (it does not publish its Beta parameters).
With the milder Beta(2, 5) (mean std about 73) a small WRN still
classifies most noisy images correctly and ADS's value signal does not
separate them from clean ones (experiments/noise_sweep.py, RESULTS.md).

Images only: a features data set is rejected (``needs_images=True``).
"""

from __future__ import annotations

import numpy as np

from ads_jax._validation import check_array
from ads_jax.data.kinds._registry import register_kind
from ads_jax.data.pool import NOISY, Build, Pool, count_from_fraction, target_pool

__all__ = ["add_white_noise"]


def add_white_noise(
    x: np.ndarray, std: np.ndarray, rng: np.random.Generator, *, chunk: int = 1024,
    held: np.ndarray | None = None,
) -> np.ndarray:
    """Add per-image white Gaussian noise to uint8 images.

    ``out[i] = clip(rint(x[i] + std[i] * n), 0, 255)`` with ``n`` i.i.d.
    standard normal per pixel and channel (float32, drawn in chunks of
    ``chunk`` images to bound memory).

    Args:
      x: uint8 (N, H, W, C) images, or with ``held`` only the (n_held, H, W, C)
        images of the held ones.
      std: float (N,) noise standard deviations in grey levels (>= 0), of all N.
      rng: NumPy generator (explicit randomness).
      chunk: images per draw.
      held: optional bool (N,): ``x`` holds the images where it is True (a
        per-host build). The noise of all N images is drawn in the same order
        and chunks as without it (the stream decides which noise image ``i``
        gets), and only the held images receive theirs: ``out`` equals the
        held rows of the whole computation exactly.

    Returns:
      uint8 (N, H, W, C) noisy images (new array); (n_held, H, W, C) with ``held``.
    """
    check_array("x", x, ndim=4, allow_empty=True)
    std = np.asarray(std, dtype=np.float32)
    n_all = std.shape[0] if std.ndim == 1 else -1
    held = np.ones(n_all, bool) if held is None else np.asarray(held, bool)
    if std.ndim != 1 or held.shape != std.shape or x.shape[0] != int(held.sum()):
        raise ValueError(f"`std` must have shape (N,) and `x` one image per held row; got "
                         f"std {std.shape}, held {held.shape} ({int(held.sum())} held), "
                         f"x {x.shape}.")
    if not np.all(np.isfinite(std)) or np.any(std < 0):
        raise ValueError("`std` must be finite and >= 0.")
    out = np.empty_like(x, dtype=np.uint8)
    first = np.concatenate([[0], np.cumsum(held)])  # position in x of each row's image
    for s in range(0, n_all, chunk):
        e = min(s + chunk, n_all)
        n = rng.standard_normal((e - s, *x.shape[1:]), dtype=np.float32)
        keep = held[s:e]
        if not keep.any():
            continue
        n = n[keep] if not keep.all() else n
        xs = x[first[s]:first[e]].astype(np.float32)
        n *= std[s:e][keep].reshape(-1, *([1] * (x.ndim - 1)))
        out[first[s]:first[e]] = np.clip(np.rint(xs + n), 0, 255).astype(np.uint8)
    return out


def add_noise(b: Build, pool: Pool) -> None:
    """Beta-power white noise on ``noise_fraction`` of the (unlabeled) pool."""
    cfg, rng = b.cfg, b.rng_corrupt
    # noisy_initial: the seed set is exposed to the noise like any pool point.
    cand = np.arange(pool.prov.size) if cfg.noisy_initial else np.flatnonzero(~pool.is_init)
    k = count_from_fraction(cfg.noise_fraction, cand.size)
    idx = np.sort(rng.choice(cand, size=k, replace=False))
    power = rng.beta(*cfg.noise_beta, size=k)
    pool.noise_std[idx] = (cfg.noise_scale * power * 255.0).astype(np.float32)
    pos, held = pool.held_positions(idx)  # a per-host build: noise only the held rows
    pool.x[pos] = add_white_noise(pool.x[pos], pool.noise_std[idx], rng, held=held)
    pool.prov[idx] = NOISY


register_kind("noisy", target_pool, add_noise, needs_images=True, per_host=True)
