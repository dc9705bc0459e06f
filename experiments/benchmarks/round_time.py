"""Wall time per active-learning round before and after the fixed-shape programs.

Runs the same experiment (default: ``fashion_mnist_noisy`` with one seed and
one arm, the Fashion-MNIST sizes of RESULTS.md section 2) twice, one after the
other in fresh processes: with the code of a *baseline* git revision (checked
out into a temporary worktree and put first on ``PYTHONPATH``) and with the
working tree. Per round it reports the wall time between progress lines (train +
evaluate + embed + acquire + checkpoint), the training time (fit, compilation
included) and the acquisition time including its compilation (``time.selection
+ time.compile`` of the record; ``time.selection_first_call`` in records of
earlier versions), and the ratio baseline / current from the same run of this
script.

Usage::

    python experiments/benchmarks/round_time.py --baseline 4e4a25e \\
        --data /work/shared/data/fashion_mnist/fashion_mnist.npz [--arm ads+coreset]

Prints a Markdown table (for BENCHMARKS.md) and writes JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def first_call_seconds(t: dict) -> float | None:
    """Compile + first call of the acquisition in a record's ``time``: ``selection +
    compile`` (records since the acquisition is one AOT-compiled program; ``compile`` is 0
    in the rounds that reuse it) or ``selection_first_call`` (records of earlier versions)."""
    if t.get("compile") is not None and t.get("selection") is not None:
        return float(t["selection"]) + float(t["compile"])
    return t.get("selection_first_call")


def _run(src: str, args, out_dir: str) -> dict:
    """One run with the package at ``src``; per-round times from its progress lines."""
    overrides = [f"data.dataset=npz:{args.data}", f"loop.out_dir={out_dir}", "loop.seeds=[0]",
                 f"loop.arms=[{args.arm}]", *args.overrides]
    # Old revisions name the pre-selection field differently; both are given a default.
    code = ("import sys, time; from ads_jax import resolve_config; "
            "from ads_jax.loop import run_experiment; "
            "t0 = time.perf_counter(); "
            "cfg = resolve_config(sys.argv[1], sys.argv[2:]); "
            "p = lambda m: print(f'[{time.perf_counter() - t0:.2f}] {m}', flush=True); "
            "run_experiment(cfg, progress=p)")
    env = dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, args.config, *overrides], env=env,
                          capture_output=True, text=True, cwd=src)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"run with {src} failed:\n{proc.stderr[-3000:]}")
    marks = [(float(m.group(1)), int(m.group(2))) for m in re.finditer(
        r"^\[([\d.]+)\] \[.*\] round (\d+)/", proc.stdout, re.M)]
    starts = [0.0] + [t for t, _ in marks[:-1]]
    recs = [json.loads(line) for line in open(os.path.join(out_dir, "results.jsonl"))]
    rounds = []
    for (t, r), s0, rec in zip(marks, starts, recs):
        tt = rec.get("time", {})
        rounds.append({"round": r, "wall": t - s0, "training": tt.get("training"),
                       "selection_first_call": first_call_seconds(tt),
                       "test_accuracy": rec["test_accuracy"]})
    return {"wall": wall, "rounds": rounds}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", default="4e4a25e", help="git revision to compare against")
    p.add_argument("--config", default="fashion_mnist_noisy")
    p.add_argument("--data", default="/work/shared/data/fashion_mnist/fashion_mnist.npz")
    p.add_argument("--arm", default="ads+coreset")
    p.add_argument("--out", default="experiments/results/round_time.json")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        base_src = os.path.join(tmp, "baseline")
        subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", base_src,
                        args.baseline], check=True, capture_output=True)
        try:
            base = _run(base_src, args, os.path.join(tmp, "run_base"))
            cur = _run(ROOT, args, os.path.join(tmp, "run_cur"))
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", base_src],
                           capture_output=True)
    load = os.getloadavg()[0]
    lines = [f"`python experiments/benchmarks/round_time.py {' '.join(argv or sys.argv[1:])}` "
             f"(baseline {args.baseline}; load average {load:.1f} at the end)", "",
             "| round | wall s (baseline) | wall s (now) | ratio | training s (baseline / now) "
             "| acquisition 1st call s (baseline / now) |", "|---|---|---|---|---|---|"]
    for b, c in zip(base["rounds"], cur["rounds"]):
        sel_b = b["selection_first_call"] or 0.0
        sel_c = c["selection_first_call"] or 0.0
        lines.append(f"| {b['round']} | {b['wall']:.1f} | {c['wall']:.1f} | "
                     f"{b['wall'] / max(c['wall'], 1e-9):.2f}x | {b['training']:.1f} / "
                     f"{c['training']:.1f} | {sel_b:.2f} / {sel_c:.2f} |")
    lines.append(f"| all (process) | {base['wall']:.1f} | {cur['wall']:.1f} | "
                 f"{base['wall'] / cur['wall']:.2f}x | | |")
    print("\n".join(lines))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"baseline": args.baseline, "args": vars(args), "baseline_run": base,
                   "current_run": cur}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
