"""Fashion-MNIST with an 80% noisy pool: ads+coreset vs coreset vs randfilter+coreset.

The CPU-feasible version of the paper's noisy-pool experiment (RESULTS.md):
the built-in config ``fashion_mnist_noisy`` (WRN-10-1; pool of 3,000 train
images, 80% of them (2,400, seed set included: ``noisy_initial``) carrying
Beta(5, 2)-power white noise; 50 labeled to start; validation 500 and test
2,000 images from the test split; 4 rounds of 50 picks; 3 seeds) run with the
local ``.npz`` copy of the data.

Usage::

    python experiments/fashion_mnist_noisy.py \\
        [--data /work/shared/data/fashion_mnist/fashion_mnist.npz] \\
        [--out-dir runs/fashion_mnist_noisy] [--plot docs/fashion_mnist_noisy.png] \\
        [FIELD=VALUE ...]

Interrupted runs resume (same command). Writes ``results.jsonl``,
``config.json`` and checkpoints to the run directory, the plot to ``--plot``
and prints the comparison table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from ads_jax.configs import resolve as resolve_config
from ads_jax.loop import run_experiment
from ads_jax.plotting import format_table, plot_results

DEFAULT_DATA = "/work/shared/data/fashion_mnist/fashion_mnist.npz"


def provenance_summary(records) -> str:
    """Noisy share (%) of the pool, of the selector's candidates and of the picks,
    per arm, averaged over the acquisitions (seeds x rounds) of the records."""
    rows = ["noisy share (%), mean over acquisitions   pool  candidates  picked"]
    for arm in dict.fromkeys(r["arm"] for r in records):
        rs = [r for r in records if r["arm"] == arm and r.get("picked_provenance")]
        if not rs:
            continue
        pool, cand, picked = (100 * float(np.mean([r[f]["noisy"] for r in rs]))
                              for f in ("pool_provenance", "candidate_provenance",
                                        "picked_provenance"))
        rows.append(f"  {arm:38s} {pool:5.1f}  {cand:10.1f}  {picked:6.1f}")
    return "\n".join(rows)


def paired_differences(records, arm, baselines) -> str:
    """Accuracy differences (points) of ``arm`` minus each baseline, same seed and round."""
    acc = {(r["arm"], r["seed"], r["round"]): r["test_accuracy"] for r in records}
    seeds = sorted({r["seed"] for r in records})
    last = max(r["round"] for r in records)
    rows = [f"{arm} minus baseline (accuracy points): mean over rounds 1-{last} and seeds | "
            f"final round per seed {seeds}"]
    for b in baselines:
        d = {(s, t): 100 * (acc[(arm, s, t)] - acc[(b, s, t)]) for s in seeds
             for t in range(1, last + 1) if (arm, s, t) in acc and (b, s, t) in acc}
        if not d:
            continue
        fin = " / ".join(f"{d[(s, last)]:+.1f}" for s in seeds if (s, last) in d)
        rows.append(f"  - {b:20s} {np.mean(list(d.values())):+.1f} | {fin}")
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=os.environ.get("FASHION_MNIST_NPZ", DEFAULT_DATA),
                   help="Fashion-MNIST .npz with x_train, y_train, x_test, y_test")
    p.add_argument("--out-dir", default="runs/fashion_mnist_noisy")
    p.add_argument("--plot", default="docs/fashion_mnist_noisy.png")
    p.add_argument("overrides", nargs="*", metavar="FIELD=VALUE")
    args = p.parse_intermixed_args(argv)

    cfg = resolve_config("fashion_mnist_noisy", [
        f"data.dataset=npz:{args.data}", f"loop.out_dir={args.out_dir}", *args.overrides])
    t0 = time.perf_counter()

    def progress(msg):
        print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", file=sys.stderr, flush=True)

    records = run_experiment(cfg, progress=progress)
    print(format_table(records))
    print()
    print(provenance_summary(records))
    print()
    print(paired_differences(records, "ads+coreset", ("coreset", "randfilter+coreset")))
    n = len(cfg.loop.seeds)
    png = plot_results(records, args.plot, dpi=80,
                       title=f"Fashion-MNIST, 80% noisy pool, {cfg.model.label}, {n} seeds")
    print(f"\nplot: {png}\nresults: {os.path.join(args.out_dir, 'results.jsonl')}")
    print(f"wall time: {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
