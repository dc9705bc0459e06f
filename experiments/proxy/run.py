"""The paper's Table 1 and Figure 5 at the paper's sizes in proxy mode, with statistics.

Runs the ``proxy_paper`` presets (``ads_jax/configs/proxy_paper.py``: CIFAR-10,
5,000 initial labels, batches of 5,000, a linear head on a frozen backbone's
features, 10 seeds) on the sweep runner -- one resumable run directory per
(setting, quality, seed), every arm of a seed sharing its round-0 model -- and
writes, per study, a JSON / Markdown report of the paired comparisons (by
seed: final accuracy and area under the learning curve, each with a 95%
t-interval and a verdict) and a figure::

    python experiments/proxy/backbones.py --preset cpu        # once (the two backbones)
    python experiments/proxy/run.py fig5 --quality small      # Figure 5, WRN-10-2 on 2,000 labels
    python experiments/proxy/run.py table1 --quality large
    python experiments/proxy/run.py fig5 --quality small --no-run   # report only
    python experiments/proxy/run.py fig5 --quality small --choices paper  # the 5 arms only

Every seed compiles the same programs; JAX's persistent compilation cache
(``--compile-cache``, default ``~/.cache/ads_jax/xla``) lets later seeds load them.

The paper's value regression and ads_jax's defaults (``_ours``) share every
non-ADS arm, so the ``_ours`` variant runs only the ADS arms and is compared
against the same controls. Outputs:
``experiments/results/proxy_<study>_<quality>.{json,md,png}``; sweep roots
``runs/proxy/<study>_<quality>/``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from ads_jax import sweep
from ads_jax._files import atomic_savefig, atomic_write, atomic_write_json
from ads_jax.configs.paper_cifar10 import CURVE_ARMS, TABLE1_ARMS
from ads_jax.configs.proxy_paper import (QUALITIES, SEEDS, SETTINGS, TINY_BACKBONES,
                                        backbone_configs)
from ads_jax.environment import describe
from ads_jax.proxy import train_backbone
from ads_jax.stats import compare, format_comparison

RESULTS = Path(__file__).resolve().parents[1] / "results"
OURS = "ads (ours)"
BASELINES = {"fig5": ("coreset", "randfilter+coreset", "random", "entropy"),
             "table1": ("coreset", "kmedians", "badge", "randfilter+coreset",
                        "randfilter+kmedians", "randfilter+badge")}


def sweeps(study: str, quality: str, seeds=SEEDS) -> dict[str, list[sweep.Sweep]]:
    """``{setting: [paper-choices sweep, ours sweep]}`` of a study."""
    settings = ("table1",) if study == "table1" else SETTINGS
    arms = TABLE1_ARMS if study == "table1" else CURVE_ARMS
    ads_arms = tuple(a for a in arms if a.startswith("ads"))
    out = {}
    for s in settings:
        out[s] = [sweep.Sweep(f"proxy_paper:{s}_{quality}", arms=arms, seeds=seeds,
                              name=f"{s}_{quality}", group_arms=True),
                  sweep.Sweep(f"proxy_paper:{s}_{quality}_ours", arms=ads_arms, seeds=seeds,
                              name=f"{s}_{quality}_ours", group_arms=True)]
    return out


def _records(sw: list[sweep.Sweep], root: Path) -> list[dict]:
    """The records of a setting; the ``_ours`` ADS arms renamed ``<arm> (ours)``."""
    recs = []
    for s in sw:
        jobs = s.jobs(root)
        for r in sweep.collect(root, jobs=jobs):
            r = dict(r)
            if s.name.endswith("_ours"):
                r["arm"] = f"{r['arm']} (ours)"
            recs.append(r)
    return recs


def _finished(recs: list[dict]) -> tuple[list[dict], list[str]]:
    """The records of finished (arm, seed) runs (those that reached the setting's last
    round), and the names of the unfinished ones (still running, or killed)."""
    last = max(r["round"] for r in recs)
    reached = {(r["arm"], r["seed"]) for r in recs if r["round"] == last}
    runs = {(r["arm"], r["seed"]) for r in recs}
    return ([r for r in recs if (r["arm"], r["seed"]) in reached],
            sorted(f"{a} seed {s}" for a, s in runs - reached))


def report(study: str, quality: str, root: Path, seeds=SEEDS, settings=None) -> dict:
    """Paired comparisons of every arm with each baseline, per setting (finished runs
    only; the unfinished ones are listed under ``"unfinished"``)."""
    out = {}
    for setting, sw in sweeps(study, quality, seeds).items():
        if settings is not None and setting not in settings:
            continue
        recs = _records(sw, root)
        if not recs:
            continue
        recs, unfinished = _finished(recs)
        arms = sorted({r["arm"] for r in recs})
        per = {"arms": {}, "comparisons": {}, "unfinished": unfinished}
        for arm in arms:
            rs = [r for r in recs if r["arm"] == arm]
            last = max(r["round"] for r in rs)
            acc = [r["test_accuracy"] for r in rs if r["round"] == last]
            bal = [r.get("test_balanced_accuracy") for r in rs if r["round"] == last]
            bad = [1 - (r.get("picked_provenance") or {}).get("clean", 1.0)
                   for r in rs if r.get("acquired")]
            per["arms"][arm] = {
                "seeds": len(acc), "final_round": last, "final_accuracy": float(np.mean(acc)),
                "final_accuracy_sd": float(np.std(acc, ddof=1)) if len(acc) > 1 else None,
                "final_balanced_accuracy": float(np.mean([b for b in bal if b is not None]))
                if any(b is not None for b in bal) else None,
                "picked_non_clean": float(np.mean(bad)) if bad else None,
                "selection_seconds": float(np.mean([r["time"]["selection"] for r in rs
                                                    if r.get("acquired")] or [0.0])),
            }
        for base in BASELINES[study]:
            if base in arms:
                per["comparisons"][base] = {
                    m: compare(recs, baseline=base, metric=m)
                    for m in ("test_accuracy", "test_balanced_accuracy")}
        out[setting] = per
    return out


def to_markdown(study: str, quality: str, rep: dict, meta: dict) -> str:
    lines = [f"# Proxy {study} ({quality} backbone)", "",
             f"`{meta['command']}`; {meta['seeds']} seeds; backbone `{meta['backbone']}`; "
             f"processor {meta['environment']['processor']}.", ""]
    for setting, per in rep.items():
        lines += [f"## {setting}", "", "| arm | seeds | final acc. (%) | sd | balanced acc. (%) | "
                  "picked non-clean (%) | selection s |", "|---|---:|---:|---:|---:|---:|---:|"]
        for arm, a in per["arms"].items():
            sd = "-" if a["final_accuracy_sd"] is None else f"{100 * a['final_accuracy_sd']:.2f}"
            bal = "-" if a["final_balanced_accuracy"] is None else \
                f"{100 * a['final_balanced_accuracy']:.2f}"
            nc = "-" if a["picked_non_clean"] is None else f"{100 * a['picked_non_clean']:.1f}"
            lines.append(f"| `{arm}` | {a['seeds']} | {100 * a['final_accuracy']:.2f} | {sd} | "
                         f"{bal} | {nc} | {a['selection_seconds']:.2f} |")
        lines.append("")
        if per.get("unfinished"):
            lines += [f"Unfinished runs (left out): {', '.join(per['unfinished'])}.", ""]
        for base, by_metric in per["comparisons"].items():
            lines += [f"Paired by seed against `{base}` (accuracy; 95% t-interval):", "",
                      format_comparison(by_metric["test_accuracy"]), ""]
    return "\n".join(lines)


def plot(study: str, rep: dict, path: Path) -> str:
    import matplotlib  # optional: only the figure needs it

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt  # noqa: E402 (after the backend choice)

    settings = list(rep)
    fig, axes = plt.subplots(1, len(settings), figsize=(4.5 * len(settings), 4.2))
    axes = np.atleast_1d(axes)
    base = BASELINES[study][0]
    for ax, s in zip(axes, settings):
        rows = [r for r in rep[s]["comparisons"].get(base, {}).get("test_accuracy", [])
                if r["quantity"] == "final" and r["mean"] is not None]
        arms = [r["arm"] for r in rows]
        mean = np.array([100 * r["mean"] for r in rows])
        lo = np.array([100 * (r["mean"] if r["lo"] is None else r["lo"]) for r in rows])
        hi = np.array([100 * (r["mean"] if r["hi"] is None else r["hi"]) for r in rows])
        ax.barh(range(len(arms)), mean, xerr=[mean - lo, hi - mean], capsize=2, color="#4c72b0")
        ax.axvline(0, color="k", lw=1)
        ax.set_yticks(range(len(arms)))
        ax.set_yticklabels(arms, fontsize=8)
        ax.set_title(f"{s}: final accuracy - {base} (pts)", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return atomic_savefig(fig, path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("study", choices=("fig5", "table1"))
    p.add_argument("--quality", choices=QUALITIES + ("tiny",), default="small",
                   help="backbone quality (tiny: digits, seconds; the tiny backbone is made "
                        "on demand)")
    p.add_argument("--seeds", help="comma-separated seeds (default 0..9)")
    p.add_argument("--settings", help="comma-separated settings of fig5 (default all)")
    p.add_argument("--root", type=Path, default=None)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--choices", choices=("both", "paper", "ours"), default="both",
                   help="run the paper-choices sweep (every arm), the ads_jax-defaults sweep "
                        "(the ADS arms only) or both (the report covers whatever has run)")
    p.add_argument("--compile-cache", default=None,
                   help="JAX's persistent compilation cache (every seed compiles the same "
                        "programs: later seeds load them). Default $JAX_COMPILATION_CACHE_DIR, "
                        "else ~/.cache/ads_jax/xla; 'none' to disable")
    p.add_argument("--no-run", action="store_true", help="only collect and report")
    p.add_argument("--quiet", "-q", action="store_true")
    args = p.parse_args(argv)
    cache = args.compile_cache or os.environ.get("JAX_COMPILATION_CACHE_DIR") or \
        os.path.join(os.path.expanduser("~"), ".cache", "ads_jax", "xla")
    if cache.lower() != "none":
        import jax  # the cache only reuses identical programs: results do not change

        jax.config.update("jax_compilation_cache_dir", cache)
    seeds = (tuple(int(s) for s in args.seeds.split(",")) if args.seeds
             else (0, 1) if args.quality == "tiny" else SEEDS)
    if args.quality == "tiny":  # seconds; a finished one is reused
        train_backbone(backbone_configs("tiny")["large"], TINY_BACKBONES["large"])
    root = args.root or Path("runs/proxy") / f"{args.study}_{args.quality}"
    all_sw = sweeps(args.study, args.quality, seeds)
    if args.settings:
        all_sw = {k: all_sw[k] for k in args.settings.split(",")}
    t0 = time.perf_counter()
    if not args.no_run:
        say = None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
        pick = {"both": slice(None), "paper": slice(0, 1), "ours": slice(1, 2)}[args.choices]
        for sw in all_sw.values():
            jobs = sweep.jobs_of(sw[pick], root)
            sweep.run(jobs, progress=say)
    rep = report(args.study, args.quality, root, seeds, settings=tuple(all_sw))
    first = next(iter(all_sw.values()))[0]
    cfg = first.base_config()
    meta = {"study": args.study, "quality": args.quality, "seeds": len(seeds),
            "backbone": cfg.data.backbone, "root": os.fspath(root),
            "seconds": time.perf_counter() - t0, "environment": describe(),
            "command": f"python experiments/proxy/run.py {args.study} --quality {args.quality}"}
    stem = args.out / f"proxy_{args.study}_{args.quality}"
    atomic_write_json(f"{stem}.json", {"meta": meta, "report": rep})
    md = to_markdown(args.study, args.quality, rep, meta)
    atomic_write(f"{stem}.md", md)
    if rep:
        plot(args.study, rep, Path(f"{stem}.png"))
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
