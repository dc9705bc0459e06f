r"""Figure 5 of the ADS paper: active-learning curves over five rounds on curated data and
on the three noisy settings, and the share of noisy / OOD / mislabeled /
shifted points each arm picked per round.

Settings (``paper_*`` preset modules, all at the preset's scale):

* ``curated`` -- ``paper_cifar10`` (pre-selection 30%);
* ``noisy`` -- ``paper_noisy``: 80% of the pool with Beta-power white noise (10%);
* ``cheap`` -- ``paper_cheap10``: the Cheap-10 stand-in, OOD images with random
  labels + mislabeled images (10%);
* ``domain_shift`` -- ``paper_domain_shift``: pool from another source than
  the evaluation data (20%; at ``cpu`` scale a synthetic colour/contrast shift
  of CIFAR-10, see that module).

* ``noisy_ours`` (``cpu`` preset only) -- ``paper_noisy:cpu_ours``: the noisy
  pool with ads_jax's own choices instead of the paper's (Beta(5, 2) noise, a
  noisy seed set, regression k = 10, distance weights, ``mean``), arms
  ``ads+coreset``, ``coreset``, ``randfilter+coreset`` only (time).

Arms: ``ads+coreset``, ``coreset``, ``entropy``, ``random`` and the random
pre-filter control ``randfilter+coreset``; 3 seeds (``tiny``: 2 arms, 1 seed,
1 round). Every arm starts from the same round-0 model per seed.

Rounds: the presets' own (5, the paper's), except ``cpu``: **3 rounds**
(labeled 100 -> 400) instead of 5, so that 3 seeds x 5 settings fit in
the time of one working session on 2 CPU cores (``--rounds 5`` restores
the paper's count; finished rounds are kept when a run is extended).

Runs on the sweep runner (:mod:`ads_jax.sweep`): one resumable job per
(setting, seed) under ``--root``, the arms sharing the round-0 model
(``--no-group-arms``: per (setting, arm, seed));
a rerun skips finished jobs; ``--shard I --num-shards N`` splits the jobs,
``--no-run`` only collects.

Outputs (``--results-dir``, alias ``--out``, default ``experiments/results``),
``fig5_curves_<preset>`` (:func:`output_files`):

* ``.json`` -- per setting, arm and round: labeled-set size, test accuracy
  (mean, std, min, max over seeds and per seed), the share of each provenance
  (clean / noisy / ood / mislabeled / source_domain) and of all non-clean
  points among the picks, among the pre-selected candidates and in the pool;
* ``.csv`` -- the same, one row per (setting, arm, round);
* ``.md`` -- per setting, accuracy per labeled-set size and arm, non-clean shares
  and the paired final-round differences of ``ads+coreset`` to the other arms;
* ``.png`` -- top row: accuracy vs labeled-set size per setting (mean line,
  band = ± std, thin lines = min/max); bottom row: non-clean share of the
  picks per acquisition round (dashed grey: the pool's).

Usage::

    python experiments/paper/fig5_curves.py --preset cpu [--seeds 0,1,2] [--settings noisy,cheap]
"""

from __future__ import annotations

from pathlib import Path

from experiments.paper import _common as C

NAME = "fig5_curves"
SETTINGS = {"curated": "paper_cifar10", "noisy": "paper_noisy", "cheap": "paper_cheap10",
            "domain_shift": "paper_domain_shift", "noisy_ours": "paper_noisy"}
#: settings run by default per preset; a setting's variant is the preset's unless listed here.
DEFAULT_SETTINGS = {"paper": ("curated", "noisy", "cheap", "domain_shift"),
                    "cpu": ("curated", "noisy", "cheap", "domain_shift", "noisy_ours"),
                    "tiny": ("curated", "noisy", "cheap", "domain_shift")}
VARIANT = {("noisy_ours", "cpu"): "cpu_ours"}
SETTING_ARMS = {"noisy_ours": ("ads+coreset", "coreset", "randfilter+coreset")}
#: rounds per preset (None: the preset config's own).
ROUNDS = {"paper": None, "cpu": 3, "tiny": None}
TITLES = {"curated": "curated (CIFAR-10)", "noisy": "80% white noise",
          "cheap": "OOD + mislabeled (Cheap-10 stand-in)", "domain_shift": "domain shift",
          "noisy_ours": "80% white noise, ads_jax's choices"}
ARMS = {"paper": ("ads+coreset", "coreset", "entropy", "random", "randfilter+coreset"),
        "cpu": ("ads+coreset", "coreset", "entropy", "random", "randfilter+coreset"),
        "tiny": ("ads+coreset", "random")}
COLORS = {"ads+coreset": "tab:red", "coreset": "tab:gray", "entropy": "tab:green",
          "random": "tab:orange", "randfilter+coreset": "tab:blue"}


def output_files(preset: str) -> list[str]:
    """The files a run of ``preset`` writes, relative to the results directory."""
    stem = C.stem(Path(), NAME, preset).name
    return [stem + x for x in (".json", ".csv", ".md", ".png")]


def spec_of(setting: str, preset: str) -> str:
    return f"{SETTINGS[setting]}:{VARIANT.get((setting, preset), preset)}"


def arms_of(setting: str, preset: str, arms=None) -> tuple:
    if arms:
        return tuple(arms)
    return tuple(a for a in ARMS[preset] if a in SETTING_ARMS.get(setting, ARMS[preset]))


def build_sweeps(preset: str, settings, seeds, group_arms: bool, arms=None, rounds=None):
    from ads_jax.sweep import Sweep

    rounds = ROUNDS[preset] if rounds is None else rounds
    overrides = [] if rounds is None else [f"loop.rounds={rounds}"]
    return [Sweep(spec_of(s, preset), arms=list(arms_of(s, preset, arms)), seeds=seeds,
                  overrides=overrides, group_arms=group_arms, name=f"{s}-{preset}")
            for s in settings]


def _prov_means(rs: list[dict], field: str) -> dict | None:
    from ads_jax.data import PROVENANCE

    vals = [r[field] for r in rs if r.get(field) is not None]
    if not vals:
        return None
    out = {k: sum(v.get(k, 0.0) for v in vals) / len(vals) for k in PROVENANCE}
    out["non_clean"] = C.stats(C.non_clean(v) for v in vals)
    return out


def summarise(records: list[dict], settings, preset: str, arms=None) -> dict:
    out = {}
    for s in settings:
        rs = [r for r in records if r["sweep"] == f"{s}-{preset}"]
        per_arm = {}
        for arm in arms_of(s, preset, arms):
            ra = [r for r in rs if r["arm"] == arm]
            rounds = []
            for t in sorted({r["round"] for r in ra}):
                rt = sorted((r for r in ra if r["round"] == t), key=lambda r: r["seed"])
                rounds.append({
                    "round": t, "labeled": rt[0]["labeled"], "seeds": [r["seed"] for r in rt],
                    "test_accuracy": C.stats(r["test_accuracy"] for r in rt),
                    "test_accuracy_per_seed": [r["test_accuracy"] for r in rt],
                    "picked": _prov_means(rt, "picked_provenance"),
                    "candidates": _prov_means(rt, "candidate_provenance"),
                    "pool": _prov_means(rt, "pool_provenance"),
                    "selection_seconds": C.stats(r["time"]["selection"] for r in rt
                                                 if r["acquired"]),
                })
            per_arm[arm] = rounds
        out[s] = {"spec": spec_of(s, preset), "title": TITLES[s], "arms": per_arm}
    return out


def csv_rows(summary: dict) -> list[dict]:
    from ads_jax.data import PROVENANCE

    rows = []
    for s, d in summary.items():
        for arm, rounds in d["arms"].items():
            for x in rounds:
                row = {"setting": s, "spec": d["spec"], "arm": arm, "round": x["round"],
                       "labeled": x["labeled"], "n_seeds": x["test_accuracy"]["n"],
                       **{f"test_accuracy_{k}": x["test_accuracy"][k]
                          for k in ("mean", "std", "min", "max")}}
                for what in ("picked", "candidates", "pool"):
                    pv = x[what] or {}
                    row[f"{what}_non_clean"] = (pv.get("non_clean") or {}).get("mean")
                    for k in PROVENANCE[1:]:
                        row[f"{what}_{k}"] = pv.get(k)
                rows.append(row)
    return rows


def _paired_final(d: dict, a: str, b: str) -> dict | None:
    """Final-round test accuracy of arm ``a`` minus arm ``b``, paired by seed."""
    ra, rb = d["arms"].get(a), d["arms"].get(b)
    if not ra or not rb:
        return None
    xa = dict(zip(ra[-1]["seeds"], ra[-1]["test_accuracy_per_seed"]))
    xb = dict(zip(rb[-1]["seeds"], rb[-1]["test_accuracy_per_seed"]))
    common = sorted(set(xa) & set(xb))
    return C.stats(xa[k] - xb[k] for k in common) if common else None


def markdown(summary: dict, preset: str) -> str:
    """Per setting: accuracy per labeled-set size (mean ± std over seeds), the mean
    non-clean share of the picks / candidates / pool, and paired final differences."""
    lines = [f"Figure 5, preset `{preset}`: test accuracy (%), mean ± std over seeds; "
             "non-clean shares (%) averaged over the acquisitions.", ""]
    for s, d in summary.items():
        arms = {a: r for a, r in d["arms"].items() if r}
        if not arms:
            lines += [f"**{d['title']}** (`{d['spec']}`): no results yet.", ""]
            continue
        sizes = sorted({x["labeled"] for r in arms.values() for x in r})
        n = max(x["test_accuracy"]["n"] for r in arms.values() for x in r)
        lines += [f"**{d['title']}** (`{d['spec']}`, {n} seeds)", "",
                  "| arm | " + " | ".join(f"{z}" for z in sizes)
                  + " | picked non-clean | candidates non-clean | pool non-clean |",
                  "|---|" + "---:|" * (len(sizes) + 3)]
        for arm, rounds in arms.items():
            by = {x["labeled"]: x for x in rounds}
            acc = [C.pm(by[z]["test_accuracy"]) if z in by else "-" for z in sizes]

            def share(what):
                v = [x[what]["non_clean"]["mean"] for x in rounds if x[what]]
                return f"{100 * sum(v) / len(v):.1f}" if v else "-"

            lines.append(f"| `{arm}` | " + " | ".join(acc)
                         + f" | {share('picked')} | {share('candidates')} | {share('pool')} |")
        diffs = []
        for b in ("coreset", "randfilter+coreset", "random", "entropy"):
            st = _paired_final(d, "ads+coreset", b)
            if st and st["n"]:
                diffs.append(f"`ads+coreset` − `{b}` {C.pm(st)}")
        if diffs:
            lines += ["", "Final round, paired by seed (points): " + "; ".join(diffs) + "."]
        lines.append("")
    return "\n".join(lines)


def plot(summary: dict, preset: str, path: Path) -> Path:
    plt = C.pyplot()
    from matplotlib.ticker import MaxNLocator

    n = len(summary)
    fig, axes = plt.subplots(2, n, figsize=(3.9 * n, 6.2), squeeze=False)
    for j, (s, d) in enumerate(summary.items()):
        ax, bx = axes[0][j], axes[1][j]
        pool_line = None
        for arm, rounds in d["arms"].items():
            pts = [x for x in rounds if x["test_accuracy"]["mean"] is not None]
            if not pts:
                continue
            c = COLORS.get(arm)
            xs = [x["labeled"] for x in pts]
            m = [100 * x["test_accuracy"]["mean"] for x in pts]
            sd = [100 * x["test_accuracy"]["std"] for x in pts]
            ax.plot(xs, m, marker="o", ms=3, color=c, label=arm)
            ax.fill_between(xs, [a - b for a, b in zip(m, sd)], [a + b for a, b in zip(m, sd)],
                            color=c, alpha=0.15, lw=0)
            for k in ("min", "max"):
                ax.plot(xs, [100 * x["test_accuracy"][k] for x in pts], color=c, lw=0.5,
                        alpha=0.5)
            acq = [x for x in rounds if x["picked"] is not None]
            if acq:
                bx.plot([x["round"] + 1 for x in acq],
                        [100 * x["picked"]["non_clean"]["mean"] for x in acq], marker="o",
                        ms=3, color=c, label=arm)
                pool_line = [(x["round"] + 1, 100 * x["pool"]["non_clean"]["mean"])
                             for x in acq if x["pool"] is not None]
        if pool_line:
            bx.plot(*zip(*pool_line), color="0.5", ls="--", lw=1, marker="_", label="pool")
        ax.set_title(d["title"], fontsize=9)
        ax.set_xlabel("labeled images")
        bx.set_xlabel("acquisition round")
        bx.set_ylim(-3, 103)
        bx.xaxis.set_major_locator(MaxNLocator(integer=True))
        if j == 0:
            ax.set_ylabel("test accuracy (%)")
            bx.set_ylabel("non-clean share of the picks (%)")
    axes[0][0].legend(fontsize=7)
    axes[1][-1].legend(fontsize=7)
    fig.suptitle(f"Figure 5: AL curves and picked non-clean share, preset '{preset}' "
                 f"(mean ± std over seeds)", fontsize=10)
    fig.tight_layout()
    return C.save_png(fig, path)


def main(argv=None) -> dict:
    p = C.parser(__doc__.split("\n\n")[0], NAME)
    p.add_argument("--settings", default=None,
                   help=f"comma-separated subset of {','.join(SETTINGS)} (default: all)")
    p.add_argument("--arms", default=None, help="comma-separated arms (default: the preset's)")
    p.add_argument("--rounds", type=int, default=None,
                   help="acquisition rounds (default: cpu 3, otherwise the preset config's)")
    args = p.parse_args(argv)
    settings = (tuple(args.settings.split(",")) if args.settings
                else DEFAULT_SETTINGS[args.preset])
    bad = [s for s in settings if s not in SETTINGS]
    if bad:
        p.error(f"unknown settings {bad}; choose from {list(SETTINGS)}")
    arms = tuple(args.arms.split(",")) if args.arms else None
    sweeps = build_sweeps(args.preset, settings, C.parse_seeds(args.seeds), args.group_arms, arms,
                          args.rounds)
    jobs, reports, records = C.run_and_collect(sweeps, args, NAME)
    summary = summarise(records, settings, args.preset, arms)
    stem = C.stem(args.out, NAME, args.preset)
    out = {"experiment": "ADS paper Figure 5: AL curves, curated and noisy settings",
           "preset": args.preset, "settings": summary,
           "jobs": C.job_summary(jobs, reports, records), "reports": reports}
    paths = C.write_outputs(stem, out, csv_rows(summary), markdown(summary, args.preset))
    paths["png"] = plot(summary, args.preset, stem.with_suffix(".png"))
    for s, d in summary.items():
        print(f"{d['title']}: final test accuracy (%) / mean picked non-clean share (%)")
        for arm, rounds in d["arms"].items():
            if not rounds:
                continue
            acq = [x["picked"]["non_clean"]["mean"] for x in rounds if x["picked"]]
            share = f"{100 * sum(acq) / len(acq):.0f}" if acq else "-"
            print(f"  {arm:22s} {C.pm(rounds[-1]['test_accuracy'])}   {share}")
    print("wrote " + ", ".join(str(v) for v in paths.values()))
    return dict(out, paths={k: str(v) for k, v in paths.items()})


if __name__ == "__main__":
    main()
