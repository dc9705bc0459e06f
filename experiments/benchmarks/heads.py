"""Benchmark: fitting the proxy-mode heads (and Data-OOB) on frozen features.

Workload: 30,000 x 128 float32 features from a 10-class Gaussian mixture
(class means of norm ~3 in unit-variance noise, so the classes overlap), a
5,000-point validation set for the MLP's early stopping.

* ``fit_linear_head``: L-BFGS, defaults (l2 1e-3, tol 1e-5, max_iter 500);
* ``fit_mlp_head``: defaults (hidden 256, batch 256, lr 1e-3, <= 100 epochs,
  patience 10) -- its time depends on when early stopping fires, printed;
* ``data_oob_values``: 64 bags of the linear head on the first ``--oob-n``
  points (a labeled set's size), for each ``--oob-bag-batch`` (1: bags one
  after the other; none: all bags in one vmap), median of ``--oob-repeats``.

    python experiments/benchmarks/heads.py
    python experiments/benchmarks/heads.py --repeats 5 --n 100000

Times exclude compilation (one warm-up call) and are medians of
``--repeats`` calls. Machines are shared: the numbers are indicative.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import jax
import numpy as np

from ads_jax.training.heads import fit_linear_head, fit_mlp_head
from ads_jax.valuation.data_oob import data_oob_values


def make_data(n, d, c, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(c, d)).astype(np.float32) * (3.0 / np.sqrt(d))
    y = rng.integers(0, c, n).astype(np.int32)
    x = means[y] + rng.normal(size=(n, d)).astype(np.float32)
    return x, y


def timed(fn, repeats):
    out = jax.block_until_ready(fn())  # compile + warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30_000)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--n-val", type=int, default=5_000)
    ap.add_argument("--oob-n", type=int, default=5_000)
    ap.add_argument("--oob-bags", type=int, default=64)
    ap.add_argument("--oob-bag-batch", default="1,none",
                    help="comma-separated bag_batch values to time (int or none)")
    ap.add_argument("--oob-repeats", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    x, y = make_data(args.n + args.n_val, args.d, args.classes)
    xv, yv = x[args.n:], y[args.n:]
    x, y = x[:args.n], y[:args.n]
    w = np.ones(args.n, np.float32)
    key = jax.random.key(0)
    print(f"# heads benchmark: N={args.n} d={args.d} C={args.classes} "
          f"(validation {args.n_val}); jax {jax.__version__} on "
          f"{jax.default_backend()} ({jax.device_count()} device(s)), "
          f"{os.cpu_count()} CPU(s), {platform.processor() or platform.machine()}; "
          f"median of {args.repeats}, compile excluded")

    t, (v, info) = timed(lambda: fit_linear_head(key, x, y, w, num_classes=args.classes),
                         args.repeats)
    p = v["params"]["classifier"]
    acc = float(((xv @ np.asarray(p["kernel"]) + np.asarray(p["bias"])).argmax(1) == yv).mean())
    print(f"fit_linear_head  {t:8.3f} s   iterations {int(info['iterations'])}, "
          f"grad norm {float(info['grad_norm']):.1e}, converged {bool(info['converged'])}, "
          f"val acc {acc:.4f}")

    t, (v, hist) = timed(lambda: fit_mlp_head(key, x, y, w, xv, yv, num_classes=args.classes),
                         args.repeats)
    run = int(hist["epochs_run"])
    print(f"fit_mlp_head     {t:8.3f} s   epochs run {run} (best {int(hist['best_epoch'])}), "
          f"{t / run * 1e3:.1f} ms/epoch, val acc {float(np.nanmax(hist['val_acc'])):.4f}")

    m = min(args.oob_n, args.n)
    for bb in args.oob_bag_batch.split(","):
        bag_batch = None if bb.strip().lower() == "none" else int(bb)
        t, vals = timed(lambda bag_batch=bag_batch: data_oob_values(
            key, x[:m], y[:m], num_classes=args.classes, num_bags=args.oob_bags,
            bag_batch=bag_batch), args.oob_repeats)
        print(f"data_oob_values  {t:8.3f} s   N={m}, {args.oob_bags} bags, "
              f"bag_batch={bag_batch}, mean value {float(np.mean(vals)):.4f}")


if __name__ == "__main__":
    main()
