"""Seeds in parallel (``loop.parallel_seeds``) vs one seed after the other.

Runs the same 4-seed experiment twice in one process: sequentially (every seed on all
devices) and with ``loop.parallel_seeds=4`` (each seed on a quarter of the devices, in its
own thread), and prints the wall times and their ratio. On a CPU the "devices" are
simulated slices of the same cores (``--xla_force_host_platform_device_count``), so the
ratio shows the overhead and the overlap of host work, not accelerator throughput; on a
multi-GPU host or a pod slice each seed gets its own chips::

    XLA_FLAGS=--xla_force_host_platform_device_count=8 \\
        python experiments/benchmarks/parallel_seeds.py            # tiny, ~2 min on 2 cores
    python experiments/benchmarks/parallel_seeds.py --config paper_cifar10:paper_gpu --seeds 0,1,2,3
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time

import jax

from ads_jax.configs import resolve
from ads_jax.environment import describe
from ads_jax.loop import run_experiment


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="tiny")
    p.add_argument("--seeds", default="0,1,2,3")
    p.add_argument("overrides", nargs="*", default=["train.epochs=2", "loop.rounds=2"])
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    k = len(seeds)
    root = tempfile.mkdtemp(prefix="ads_jax_parallel_seeds_")
    out = {}
    try:
        for name, extra in (("sequential", []), ("parallel", [f"loop.parallel_seeds={k}"])):
            cfg = resolve(args.config, [*args.overrides, f"loop.seeds={seeds}",
                                        f"loop.out_dir={root}/{name}", *extra])
            t0 = time.perf_counter()
            run_experiment(cfg)
            out[name] = time.perf_counter() - t0
    finally:
        shutil.rmtree(root, ignore_errors=True)
    env = describe()
    print(json.dumps({"config": args.config, "overrides": args.overrides, "seeds": seeds,
                      "devices": jax.device_count(), "sequential_s": round(out["sequential"], 1),
                      "parallel_s": round(out["parallel"], 1),
                      "speedup": round(out["sequential"] / out["parallel"], 2),
                      "processor": env["processor"], "cpu_count": env["cpu_count"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
