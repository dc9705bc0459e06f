"""Benchmark: the value regression at a run's fixed buffers (issue 16's proxy Figure 5).

The loop passes the acquisition program a labeled buffer of the run's final size
(L0 + R x B rows, the labeled ones masked in) and a static class bound (the pool's
largest class), so that one program serves every round. This times
``predict_values`` (``method="network"``) on those shapes with few valid labeled rows
(round 0) and many (round 4), for the paper's regression choices and ads_jax's
defaults, and writes the values to an ``.npz`` so that two versions of the code can be
compared bit for bit (how BENCHMARKS.md's "before / after" rows were made)::

    python experiments/benchmarks/regression_extent.py --out before.npz   # at commit dc96301
    python experiments/benchmarks/regression_extent.py --out after.npz    # now
    python experiments/benchmarks/regression_extent.py --compare before.npz after.npz

Synthetic data (standard normal embeddings, Dirichlet probabilities); median of
``--repeats`` timed calls after a compiling one.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

#: name -> (U, L buffer, L valid, d, C, class bound, regression options)
PAPER = dict(k=5, top_t=10, aggregate="max", weights="uniform")
OURS = dict(k=10, top_t=10, aggregate="mean", weights="distance")
CASES = {
    "round0_paper": (35_500, 30_000, 5_000, 128, 10, 4_050, PAPER),
    "round0_ours": (35_500, 30_000, 5_000, 128, 10, 4_050, OURS),
    "round4_paper": (15_500, 30_000, 25_000, 128, 10, 4_050, PAPER),
}


def run(repeats: int) -> dict[str, tuple[float, np.ndarray]]:
    import jax
    import jax.numpy as jnp

    from ads_jax.valuation.regression import predict_values_unchecked

    out = {}
    rng = np.random.default_rng(0)
    for name, (u, lb, lv, d, c, bound, opts) in CASES.items():
        emb = rng.normal(size=(lb, d)).astype(np.float32)
        y = rng.integers(0, c, lb).astype(np.int32)
        v = rng.normal(size=lb).astype(np.float32)
        q = rng.normal(size=(u, d)).astype(np.float32)
        q[:3] = emb[:3]  # copies of labeled points: the exact-distance path too
        p = rng.dirichlet(np.ones(c), u).astype(np.float32)
        mask = jnp.asarray(np.arange(lb) < lv)
        f = jax.jit(lambda *a, o=opts: predict_values_unchecked(
            *a, num_classes=c, max_class_count=bound, method="network", train_mask=mask,
            chunk_size=1024, metric="euclidean", **o))
        vals = np.asarray(jax.block_until_ready(f(emb, y, v, q, p)))
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(f(emb, y, v, q, p))
            times.append(time.perf_counter() - t0)
        out[name] = (statistics.median(times), vals)
        print(f"{name}: {out[name][0]:.3f} s", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", help="write the values and times here (.npz)")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"),
                    help="compare two --out files: times and bit-equality")
    args = ap.parse_args(argv)
    if args.compare:
        a, b = (np.load(f) for f in args.compare)
        for name in CASES:
            same = np.array_equal(a[name], b[name])
            print(f"{name}: {float(a[name + '_s']):.3f} s -> {float(b[name + '_s']):.3f} s "
                  f"({float(a[name + '_s']) / float(b[name + '_s']):.1f}x); values "
                  f"{'identical' if same else 'DIFFER'}")
        return 0
    res = run(args.repeats)
    if args.out:
        np.savez(args.out, **{k: v for k, (_, v) in res.items()},
                 **{f"{k}_s": t for k, (t, _) in res.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
