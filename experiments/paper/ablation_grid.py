r"""Ablation grid of ADS's free choices on the noisy pool, in one command.

Base point: the ``paper_noisy`` preset (80% Beta-power white noise, top-10%
pre-selection) with the paper's choices -- regression aggregated by ``max``
over the top-10 classes, k = 5 uniform regression, exact KNN-Shapley (``jia``)
with K = 5, a clean seed set, Beta(2, 5) noise -- and the arm ``ads+coreset``.

Factors (levels; base first):

=============  =====================================  ==============================================
factor         levels                                 override
=============  =====================================  ==============================================
aggregate      max, mean, prob_weighted               acquisition.estimator.options.aggregate
weights        uniform, distance                      acquisition.estimator.options.weights
reg_k          5, 1, 10, 20                           acquisition.estimator.options.k
fraction       0.1, 0.05, 0.2, 0.3                    acquisition.preselect.fraction
K              5, 1, 10, 20                           acquisition.valuation.k
valuation      jia, soft, threshold                   acquisition.valuation.name (threshold =
                                                      ``threshold_radius``, see below)
seed_set       clean, noisy                           data.noisy_initial
noise          Beta(2,5), Beta(5,2)                   data.noise_beta
=============  =====================================  ==============================================

Design: the full product (3 x 2 x 4^3 x 3 x 2 x 2 = 4,608 points) is out of
reach, so factors vary one or two at a time around the base point, in
blocks: aggregate x weights (the pair RESULTS.md found to interact: uniform
weights with ``max`` tie), seed set x aggregate (``max`` prefers noise when
the labeled set is clean), and each of reg_k, fraction, K, valuation, noise
alone. Every point sets all eight factors explicitly, so it is what its
label says whatever the base preset's defaults; points shared by several
blocks (the base point in all of them) run once: 21 points.

``threshold``: the built-in threshold KNN-Shapley needs an absolute radius
``tau``, and the embedding scale changes every round, so the grid uses the
plugin :mod:`experiments.plugins.threshold_radius`: ``tau`` = the median over
validation points of their distance to the K-th nearest labeled point,
recomputed inside every valuation call (a ``tau_quantile`` option of the
built-in would do the same; proposed to the lead).

Presets: ``paper`` -- ``paper_noisy:paper`` (GPU), 5 rounds, 3 seeds;
``cpu`` -- ``paper_noisy:cpu`` (Fashion-MNIST, pool 3,000, batches of 100,
WRN-10-1), 2 rounds, **seed 0 only** (21 jobs of 3 trainings each, about 20 min
on 2 CPU cores; reduced from seeds 0 and 1 to fit the time budget of the CPU
runs -- ``--seeds 0,1`` adds seed 1, resuming the finished jobs); ``tiny``
-- ``paper_noisy:tiny``, 3 points (aggregate max/mean, valuation
jia/threshold), 1 round, seed 0. ``--blocks`` picks a subset of the blocks,
``--rounds`` changes the number of rounds, ``--base`` another noisy preset.

Runs on the sweep runner (:mod:`ads_jax.sweep`): one resumable job per
(point, seed) under ``--root``; a rerun skips finished jobs; ``--shard I
--num-shards N`` splits the jobs over processes or machines.

Outputs (``--results-dir``, alias ``--out``, default ``experiments/results``;
:func:`output_files`), ``ablation_grid_<preset>``: ``.json`` (per point: levels,
blocks, per-seed and mean ± std metrics), ``.csv`` (one row per point),
``.md`` (the table, also printed), and one heatmap per metric,
``_<metric>.png`` for ``final_accuracy``, ``picked_non_clean`` and
``selection_seconds`` (one panel per block). Metrics: test accuracy after the
last round; the non-clean share of the picks (mean over the acquisitions of a
seed, then over seeds; also round 0 alone and the candidates'); the warm
selection time per acquisition (valuation + regression + pre-selection +
diversity).

Usage::

    python experiments/paper/ablation_grid.py --preset cpu [--blocks aggregate*weights,fraction]
"""

from __future__ import annotations

import itertools
from pathlib import Path

from experiments.paper import _common as C
from experiments.plugins import threshold_radius  # registers the valuation

NAME = "ablation_grid"
PLUGIN = "experiments.plugins.threshold_radius"
ARM = "ads+coreset"
_E = "acquisition.estimator.options."
#: factor -> level -> overrides (first level = base).
FACTORS = {
    "aggregate": {v: [f"{_E}aggregate={v}"] for v in ("max", "mean", "prob_weighted")},
    "weights": {v: [f"{_E}weights={v}"] for v in ("uniform", "distance")},
    "reg_k": {v: [f"{_E}k={v}"] for v in ("5", "1", "10", "20")},
    "fraction": {v: [f"acquisition.preselect.fraction={v}"] for v in ("0.1", "0.05", "0.2", "0.3")},
    "K": {v: [f"acquisition.valuation.k={v}"] for v in ("5", "1", "10", "20")},
    "valuation": {"jia": ["acquisition.valuation.name=jia"],
                  "soft": ["acquisition.valuation.name=soft"],
                  "threshold": [f"acquisition.valuation.name={threshold_radius.NAME}"]},
    "seed_set": {"clean": ["data.noisy_initial=false"], "noisy": ["data.noisy_initial=true"]},
    "noise": {"Beta(2,5)": ["data.noise_beta=[2,5]"], "Beta(5,2)": ["data.noise_beta=[5,2]"]},
}
BASE = {f: next(iter(levels)) for f, levels in FACTORS.items()}
#: blocks of factors varied together (the others at the base level).
DESIGN = {
    "paper": (("aggregate", "weights"), ("seed_set", "aggregate"), ("reg_k",), ("fraction",),
              ("K",), ("valuation",), ("noise",)),
    "cpu": (("aggregate", "weights"), ("seed_set", "aggregate"), ("reg_k",), ("fraction",),
            ("K",), ("valuation",), ("noise",)),
    "tiny": (("aggregate",), ("valuation",)),
}
#: levels per factor where a preset uses fewer than all.
LEVELS = {"tiny": {"aggregate": ("max", "mean"), "valuation": ("jia", "threshold")}}
ROUNDS = {"paper": None, "cpu": 2, "tiny": 1}
SEEDS = {"paper": (0, 1, 2), "cpu": (0,), "tiny": (0,)}
METRICS = {"final_accuracy": ("test accuracy after the last round (%)", 100, "viridis"),
           "picked_non_clean": ("non-clean share of the picks (%)", 100, "magma_r"),
           "selection_seconds": ("warm selection time per acquisition (ms)", 1000, "cividis")}


def output_files(preset: str) -> list[str]:
    """The files a run of ``preset`` writes, relative to the results directory."""
    stem = C.stem(Path(), NAME, preset).name
    return [stem + x for x in (".json", ".csv", ".md")] + [f"{stem}_{m}.png" for m in METRICS]


def block_name(block) -> str:
    return "*".join(block)


def design_points(preset: str, blocks=None) -> list[dict]:
    """The grid points: ``{"levels", "label", "blocks", "overrides"}`` in design order."""
    design = DESIGN[preset]
    if blocks is not None:
        known = {block_name(b): b for b in design}
        bad = [b for b in blocks if b not in known]
        if bad:
            raise SystemExit(f"unknown blocks {bad}; choose from {list(known)}")
        design = tuple(known[b] for b in blocks)
    levels_of = {f: tuple(LEVELS.get(preset, {}).get(f, tuple(FACTORS[f]))) for f in FACTORS}
    points: dict[tuple, dict] = {}
    for block in design:
        for combo in itertools.product(*[levels_of[f] for f in block]):
            levels = dict(BASE, **dict(zip(block, combo)))
            label = tuple((f, levels[f]) for f in FACTORS if levels[f] != BASE[f])
            if label not in points:
                points[label] = {"levels": levels, "label": label, "blocks": [],
                                 "overrides": [o for f in FACTORS for o in FACTORS[f][levels[f]]]}
            points[label]["blocks"].append(block_name(block))
    return list(points.values())


def build_sweep(preset: str, points, seeds, rounds, base: str):
    from ads_jax.sweep import Sweep

    grid = [{"point": dict(p["label"]), "overrides": p["overrides"]} for p in points]
    overrides = [] if rounds is None else [f"loop.rounds={rounds}"]
    return Sweep(base, grid=grid, arms=[ARM], seeds=seeds, overrides=overrides,
                 imports=[PLUGIN], name=f"ablation-{base.replace(':', '-')}")


def _seed_metrics(rs: list[dict]) -> dict:
    """Metrics of one (point, seed) from its records."""
    last = max(rs, key=lambda r: r["round"])
    acq = sorted((r for r in rs if r["acquired"]), key=lambda r: r["round"])
    mean = lambda xs: sum(xs) / len(xs) if xs else None  # noqa: E731
    return {
        "final_accuracy": last["test_accuracy"],
        "final_labeled": last["labeled"],
        "picked_non_clean": mean([C.non_clean(r["picked_provenance"]) for r in acq]),
        "picked_non_clean_round0": (C.non_clean(acq[0]["picked_provenance"]) if acq else None),
        "candidate_non_clean": mean([C.non_clean(r["candidate_provenance"]) for r in acq]),
        "pool_non_clean": mean([C.non_clean(r["pool_provenance"]) for r in acq]),
        "selection_seconds": mean([r["time"]["selection"] for r in acq]),
        "preselected": mean([r["preselected"] for r in acq]),
    }


def summarise(records: list[dict], points) -> list[dict]:
    out = []
    for p in points:
        want = dict(p["label"])
        rs = [r for r in records if r["point"] == want]
        per_seed = {}
        for s in sorted({r["seed"] for r in rs}):
            per_seed[s] = _seed_metrics([r for r in rs if r["seed"] == s])
        keys = list(next(iter(per_seed.values()))) if per_seed else []
        metrics = {k: C.stats(m[k] for m in per_seed.values()) for k in keys}
        out.append({"point": "base" if not p["label"] else ", ".join(f"{k}={v}"
                                                                     for k, v in p["label"]),
                    "levels": p["levels"], "blocks": p["blocks"], "overrides": p["overrides"],
                    "seeds": sorted(per_seed), "per_seed": {str(k): v for k, v in per_seed.items()},
                    "metrics": metrics})
    return out


def markdown(rows, preset: str, base: str) -> str:
    lines = [f"Ablation around `{base}` with `{ARM}` (preset `{preset}`): mean ± std over "
             "seeds. Non-clean shares are of the picks (all acquisitions / round 0) and of "
             "the pre-selected candidates.", "",
             "| point | blocks | seeds | final acc. % | picked non-clean % | round 0 % "
             "| candidates % | selection ms |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m = r["metrics"]
        g = lambda k, s=100: C.pm(m[k], s) if k in m else "-"  # noqa: E731
        lines.append(f"| {r['point']} | {', '.join(r['blocks'])} | {len(r['seeds'])} "
                     f"| {g('final_accuracy')} | {g('picked_non_clean')} "
                     f"| {g('picked_non_clean_round0')} | {g('candidate_non_clean')} "
                     f"| {g('selection_seconds', 1000)} |")
    return "\n".join(lines) + "\n"


def csv_rows(rows) -> list[dict]:
    out = []
    for r in rows:
        row = {"point": r["point"], "blocks": ";".join(r["blocks"]), "n_seeds": len(r["seeds"]),
               **{f"level.{k}": v for k, v in r["levels"].items()}}
        for k, s in r["metrics"].items():
            row[f"{k}_mean"], row[f"{k}_std"] = s["mean"], s["std"]
        out.append(row)
    return out


def heatmap(rows, preset: str, design, metric: str, path: Path) -> Path:
    import numpy as np

    plt = C.pyplot()
    title, scale, cmap = METRICS[metric]
    levels_of = {f: tuple(LEVELS.get(preset, {}).get(f, tuple(FACTORS[f]))) for f in FACTORS}
    by_levels = {tuple(sorted(r["levels"].items())): r for r in rows}
    mats = []
    for block in design:
        fa = block[0]
        fb = block[1] if len(block) > 1 else None
        ra, rb = levels_of[fa], (levels_of[fb] if fb else ("",))
        mat = np.full((len(ra), len(rb)), np.nan)
        for i, a in enumerate(ra):
            for j, b in enumerate(rb):
                lv = dict(BASE, **{fa: a}, **({fb: b} if fb else {}))
                r = by_levels.get(tuple(sorted(lv.items())))
                v = r["metrics"].get(metric, {}).get("mean") if r else None
                if v is not None:
                    mat[i, j] = scale * v
        mats.append((block, ra, rb, mat))
    finite = np.concatenate([m[np.isfinite(m)] for *_, m in mats]) if mats else np.array([])
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if vmax - vmin < 1e-6:  # every cell equal: a readable colour scale around it
        vmin, vmax = vmin - 1.0, vmax + 1.0
    widths = [max(len(rb), 1) for _, _, rb, _ in mats]
    fig, axes = plt.subplots(1, len(mats), figsize=(0.8 * sum(widths) + 1.2 * len(mats) + 1.0, 3.6),
                             squeeze=False, gridspec_kw={"width_ratios": widths, "wspace": 0.9})
    for ax, (block, ra, rb, mat) in zip(axes[0], mats):
        im = ax.imshow(mat, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        for (i, j), v in np.ndenumerate(mat):
            rgb = im.cmap(im.norm(v))[:3] if np.isfinite(v) else (1, 1, 1)
            dark = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] < 0.5
            ax.text(j, i, "-" if not np.isfinite(v) else f"{v:.1f}", ha="center", va="center",
                    fontsize=7, color="w" if dark else "k")
        ax.set_title(" x ".join(block), fontsize=8)
        ax.set_yticks(range(len(ra)))
        ax.set_yticklabels(ra, fontsize=7)
        ax.set_ylabel(block[0], fontsize=8, labelpad=1)
        if len(block) > 1:
            ax.set_xticks(range(len(rb)))
            ax.set_xticklabels(rb, fontsize=7, rotation=30)
            ax.set_xlabel(block[1], fontsize=8)
        else:
            ax.set_xticks([])
    fig.subplots_adjust(left=0.06, right=0.93, top=0.8, bottom=0.22)
    fig.colorbar(im, ax=list(axes[0]), shrink=0.8, pad=0.02)
    fig.suptitle(f"{title}; preset '{preset}' (base: first level of each factor)", fontsize=9)
    return C.save_png(fig, path)


def main(argv=None) -> dict:
    p = C.parser(__doc__.split("\n\n")[0], NAME)
    p.add_argument("--blocks", default=None,
                   help="comma-separated blocks, e.g. aggregate*weights,fraction (default: all)")
    p.add_argument("--rounds", type=int, default=None, help="rounds (default: the preset's)")
    p.add_argument("--base", default=None,
                   help="base config spec of kind 'noisy' (default paper_noisy:PRESET)")
    args = p.parse_args(argv)
    blocks = args.blocks.split(",") if args.blocks else None
    points = design_points(args.preset, blocks)
    design = [tuple(b.split("*")) for b in (blocks or [block_name(b) for b in DESIGN[args.preset]])]
    base = args.base or f"paper_noisy:{args.preset}"
    rounds = args.rounds if args.rounds is not None else ROUNDS[args.preset]
    seeds = C.parse_seeds(args.seeds) or list(SEEDS[args.preset])
    sweep = build_sweep(args.preset, points, seeds, rounds, base)
    jobs, reports, records = C.run_and_collect([sweep], args, NAME)
    rows = summarise(records, points)
    md = markdown(rows, args.preset, base)
    stem = C.stem(args.out, NAME, args.preset)
    out = {"experiment": "ADS ablation grid around the paper's choices on the noisy pool",
           "preset": args.preset, "base": base, "arm": ARM, "rounds": rounds, "seeds": seeds,
           "factors": {f: list(v) for f, v in FACTORS.items()}, "base_levels": BASE,
           "design": [block_name(b) for b in design], "points": rows,
           "jobs": C.job_summary(jobs, reports, records), "reports": reports}
    paths = C.write_outputs(stem, out, csv_rows(rows), md)
    for metric in METRICS:
        paths[metric] = heatmap(rows, args.preset, design, metric,
                                stem.with_name(f"{stem.name}_{metric}.png"))
    print(md)
    print("wrote " + ", ".join(str(v) for v in paths.values()))
    return dict(out, paths={k: str(v) for k, v in paths.items()})


if __name__ == "__main__":
    main()
