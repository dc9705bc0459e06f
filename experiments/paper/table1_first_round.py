r"""Table 1 of the ADS paper: test accuracy after the first acquisition round for each
diversity method alone, with ADS in front of it, and with a random pre-filter of
the same size (``randfilter+``, the control the paper lacks).

For every setting (a ``paper_*`` preset module) and seed, the round-0 model is
trained on the initial labeled set, each arm picks one batch, the model is
retrained from scratch and its test accuracy reported (``loop.rounds=1``).
Arms: ``coreset`` (greedy k-center), ``kmedians``, ``badge``, each alone,
``ads+`` and ``randfilter+`` (pre-selection fraction of the setting: 30%
CIFAR-10, 20% CINIC-10 / Tiny ImageNet, ...).

Settings per preset (``--settings`` picks others, e.g. ``paper_noisy``; a setting
``module:variant`` names its variant, otherwise the preset's is used):

* ``paper``: ``paper_cifar10``, ``paper_cinic10``, ``paper_tiny_imagenet`` at the
  paper's sizes (GPU; CINIC-10 and Tiny ImageNet need their directories);
* ``cpu``: ``paper_cifar10:cpu`` (the local CIFAR-10 copy; 100 labeled + one
  batch of 100 from a pool of 1,000, WRN-10-1); ``--settings
  paper_cifar10,paper_cifar10:cpu_ours`` adds ads_jax's regression defaults
  (k = 10, distance weights, ``mean`` instead of the paper's ``max``) beside it;
* ``tiny``: ``paper_cifar10:tiny`` (digits; seconds), arms coreset only.

Runs on the sweep runner (:mod:`ads_jax.sweep`): one resumable job per
(setting, seed) under ``--root``, sharing the round-0 model between the arms
(``--no-group-arms``: one job per (setting, arm, seed)); a rerun skips finished jobs;
``--shard I --num-shards N`` splits the jobs over processes or machines and
``--no-run`` collects what is there.

Outputs (``--results-dir``, alias ``--out``, default ``experiments/results``):
``table1_first_round_<preset>.{json,csv,md,png}`` (:func:`output_files`) -- per
setting and arm the first-round accuracy (mean ± std over seeds, per seed), the
round-0 accuracy, the paired differences to the method alone, the selection
time of round 0 (``selection_seconds``: one warm call of the compiled
acquisition program, ``time.selection`` of the record;
``selection_first_call_seconds``: that plus compiling the program,
``time.selection + time.compile``) and the non-clean share of the picks; the
Markdown table is also printed.

Usage::

    python experiments/paper/table1_first_round.py --preset cpu [--seeds 0,1,2] [--no-group-arms]
"""

from __future__ import annotations

from pathlib import Path

from experiments.paper import _common as C

NAME = "table1_first_round"
SETTINGS = {
    "paper": ("paper_cifar10", "paper_cinic10", "paper_tiny_imagenet"),
    "cpu": ("paper_cifar10",),
    "tiny": ("paper_cifar10",),
}
DIVERSITY = {"paper": ("coreset", "kmedians", "badge"), "cpu": ("coreset", "kmedians", "badge"),
             "tiny": ("coreset",)}
FILTERS = ("", "ads+", "randfilter+")
FILTER_LABEL = {"": "alone", "ads+": "ADS +", "randfilter+": "random filter +"}


def output_files(preset: str) -> list[str]:
    """The files a run of ``preset`` writes, relative to the results directory."""
    stem = C.stem(Path(), NAME, preset).name
    return [stem + x for x in (".json", ".csv", ".md", ".png")]


def first_call_seconds(t: dict) -> float | None:
    """Compile + one call of the acquisition program, from a record's ``time``.

    ``time.selection + time.compile`` (records of this version); records of
    earlier versions held it as ``time.selection_first_call``.
    """
    if t.get("compile") is not None and t.get("selection") is not None:
        return float(t["selection"]) + float(t["compile"])
    return t.get("selection_first_call")


def arms_for(preset: str, methods=None) -> list[str]:
    return [f"{f}{m}" for m in (methods or DIVERSITY[preset]) for f in FILTERS]


def spec_of(setting: str, preset: str) -> str:
    """``module:variant`` of a setting (its own variant, else the preset's)."""
    return setting if ":" in setting else f"{setting}:{preset}"


def build_sweeps(preset: str, settings, seeds, group_arms: bool, methods=None):
    from ads_jax.sweep import Sweep

    return [Sweep(spec_of(s, preset), arms=arms_for(preset, methods), seeds=seeds,
                  overrides=["loop.rounds=1"], group_arms=group_arms) for s in settings]


def summarise(records: list[dict], settings, preset: str, methods=None) -> dict:
    out = {}
    for s in settings:
        spec = spec_of(s, preset)
        rs = [r for r in records if r["spec"] == spec]
        arms = {}
        for arm in arms_for(preset, methods):
            r0 = {r["seed"]: r for r in rs if r["arm"] == arm and r["round"] == 0}
            r1 = {r["seed"]: r for r in rs if r["arm"] == arm and r["round"] == 1}
            seeds = sorted(r1)
            arms[arm] = {
                "seeds": seeds,
                "labeled": r1[seeds[0]]["labeled"] if seeds else None,
                "test_accuracy": C.stats(r1[x]["test_accuracy"] for x in seeds),
                "test_accuracy_per_seed": [r1[x]["test_accuracy"] for x in seeds],
                "round0_test_accuracy": C.stats(r0[x]["test_accuracy"] for x in sorted(r0)),
                "selection_seconds": C.stats(r0[x]["time"]["selection"] for x in sorted(r0)),
                "selection_first_call_seconds": C.stats(
                    first_call_seconds(r0[x]["time"]) for x in sorted(r0)),
                "preselected": C.stats(r0[x]["preselected"] for x in sorted(r0)),
                "picked_non_clean": C.stats(C.non_clean(r0[x]["picked_provenance"])
                                            for x in sorted(r0)),
            }
        acc = {a: {r["seed"]: r["test_accuracy"] for r in rs if r["arm"] == a and r["round"] == 1}
               for a in arms}
        paired = {}
        for m in (methods or DIVERSITY[preset]):
            for f in ("ads+", "randfilter+"):
                common = sorted(set(acc[f + m]) & set(acc[m]))
                paired[f"{f}{m} - {m}"] = C.stats(acc[f + m][x] - acc[m][x] for x in common)
            common = sorted(set(acc["ads+" + m]) & set(acc["randfilter+" + m]))
            paired[f"ads+{m} - randfilter+{m}"] = C.stats(
                acc["ads+" + m][x] - acc["randfilter+" + m][x] for x in common)
        out[s] = {"spec": spec, "arms": arms, "paired_differences": paired}
    return out


def markdown(summary: dict, preset: str, methods=None) -> str:
    lines = [f"Test accuracy (%) after the first acquisition round, mean ± std over seeds "
             f"(preset `{preset}`).", "",
             "| setting | method | round 0 | alone | ADS + | random filter + | ADS − alone "
             "| ADS − random filter | selection s (alone / ADS) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s, d in summary.items():
        for m in (methods or DIVERSITY[preset]):
            a = d["arms"]
            sel = a[m]["selection_seconds"]["mean"], a["ads+" + m]["selection_seconds"]["mean"]
            sel_txt = " / ".join("-" if v is None else f"{v:.3f}" for v in sel)
            n = a[m]["test_accuracy"]["n"]
            lines.append(
                f"| {s} | {m} | {C.pm(a[m]['round0_test_accuracy'])} "
                f"| {C.pm(a[m]['test_accuracy'])} | {C.pm(a['ads+' + m]['test_accuracy'])} "
                f"| {C.pm(a['randfilter+' + m]['test_accuracy'])} "
                f"| {C.pm(d['paired_differences'][f'ads+{m} - {m}'])} "
                f"| {C.pm(d['paired_differences'][f'ads+{m} - randfilter+{m}'])} "
                f"| {sel_txt} |" + ("" if n else " (no results yet)"))
    return "\n".join(lines) + "\n"


def csv_rows(summary: dict) -> list[dict]:
    rows = []
    for s, d in summary.items():
        for arm, a in d["arms"].items():
            filt = "ads" if arm.startswith("ads+") else (
                "random" if arm.startswith("randfilter+") else "none")
            rows.append({"setting": s, "spec": d["spec"], "arm": arm, "filter": filt,
                         "selector": arm.split("+")[-1], "n_seeds": a["test_accuracy"]["n"],
                         "labeled": a["labeled"],
                         "test_accuracy_mean": a["test_accuracy"]["mean"],
                         "test_accuracy_std": a["test_accuracy"]["std"],
                         "round0_test_accuracy_mean": a["round0_test_accuracy"]["mean"],
                         "selection_seconds_mean": a["selection_seconds"]["mean"],
                         "preselected_mean": a["preselected"]["mean"],
                         "picked_non_clean_mean": a["picked_non_clean"]["mean"]})
    return rows


def plot(summary: dict, preset: str, path: Path, methods=None) -> Path:
    plt = C.pyplot()
    methods = methods or DIVERSITY[preset]
    n = len(summary)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False)
    colors = {"": "tab:gray", "ads+": "tab:red", "randfilter+": "tab:blue"}
    for ax, (s, d) in zip(axes[0], summary.items()):
        w = 0.8 / len(FILTERS)
        for j, f in enumerate(FILTERS):
            xs, ms, es = [], [], []
            for i, m in enumerate(methods):
                st = d["arms"][f + m]["test_accuracy"]
                if st["mean"] is not None:
                    xs.append(i + (j - 1) * w)
                    ms.append(100 * st["mean"])
                    es.append(100 * st["std"])
            ax.bar(xs, ms, w, yerr=es, capsize=2, color=colors[f], label=FILTER_LABEL[f])
        r0 = [d["arms"][m]["round0_test_accuracy"]["mean"] for m in methods]
        r0 = [v for v in r0 if v is not None]
        if r0:
            ax.axhline(100 * r0[0], color="k", ls=":", lw=1, label="round 0")
        ax.set_xticks(range(len(methods)))
        ax.set_xticklabels(methods)
        ax.set_title(s, fontsize=10)
        ax.set_ylabel("test accuracy after round 1 (%)")
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"Table 1 (first acquisition round), preset '{preset}'", fontsize=10)
    fig.tight_layout()
    return C.save_png(fig, path)


def main(argv=None) -> dict:
    p = C.parser(__doc__.split("\n\n")[0], NAME)
    p.add_argument("--settings", default=None,
                   help="comma-separated paper_* preset modules (default: the preset's)")
    p.add_argument("--methods", default=None,
                   help="comma-separated diversity selectors (default: coreset,kmedians,badge)")
    args = p.parse_args(argv)
    settings = tuple(args.settings.split(",")) if args.settings else SETTINGS[args.preset]
    methods = tuple(args.methods.split(",")) if args.methods else None
    seeds = C.parse_seeds(args.seeds)
    sweeps = build_sweeps(args.preset, settings, seeds, args.group_arms, methods)
    jobs, reports, records = C.run_and_collect(sweeps, args, NAME)
    summary = summarise(records, settings, args.preset, methods)
    md = markdown(summary, args.preset, methods)
    stem = C.stem(args.out, NAME, args.preset)
    out = {"experiment": "ADS paper Table 1: accuracy after the first acquisition round",
           "preset": args.preset, "settings": summary,
           "jobs": C.job_summary(jobs, reports, records), "reports": reports}
    paths = C.write_outputs(stem, out, csv_rows(summary), md)
    paths["png"] = plot(summary, args.preset, stem.with_suffix(".png"), methods)
    print(md)
    print("wrote " + ", ".join(str(v) for v in paths.values()))
    return dict(out, paths={k: str(v) for k, v in paths.items()})


if __name__ == "__main__":
    main()
