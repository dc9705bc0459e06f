"""Result files -> tables and plots (matplotlib, Agg backend: no display needed).

The loop (:mod:`ads_jax.loop`) writes one JSON object per (arm, seed, round)
to ``results.jsonl``::

    {"arm": "ads+coreset", "seed": 0, "round": 2, "labeled": 90,
     "test_accuracy": 0.71, "val_accuracy": 0.70, "best_epoch": 11,
     "acquired": 30, "picked_provenance": {"clean": 0.9, "noisy": 0.1, ...},
     "time": {"training": 4.2, "inference": 0.3, "valuation": 0.01,
              "regression": 0.02, "preselection": 0.001, "diversity": 0.05,
              "selection": 0.081, "selection_first_call": 1.2}}

This module reads such files (:func:`load_results`), aggregates over seeds
(:func:`summarize`), prints the comparison table (:func:`format_table`) and
draws accuracy curves with mean +- std over seeds next to selection-time bars
split by stage (:func:`plot_results`).
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from typing import Any, Iterable, Sequence

import numpy as np

from ads_jax.acquisition import STAGES as SELECTION_STAGES
from ads_jax.data import NON_CLEAN
from ads_jax.rundir import read_results, results_path

__all__ = [
    "SELECTION_STAGES",
    "load_results",
    "summarize",
    "format_table",
    "plot_results",
]

def load_results(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[dict]:
    """Read result records from ``results.jsonl`` files or run directories.

    Args:
      paths: one path or a list; a directory means ``<dir>/results.jsonl``.

    Returns:
      the records (dicts) of all files, in file order (a last line cut off by
      a kill is dropped with a warning; :func:`ads_jax.rundir.read_results`).

    Raises:
      FileNotFoundError: a path (or its results.jsonl) does not exist.
      ValueError: a line is not valid JSON or lacks the required keys, or a
        file repeats a record.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise ValueError("`paths` is empty: pass at least one results.jsonl file or run directory.")
    records: list[dict] = []
    for p in paths:
        p = os.fspath(p)
        records += read_results(results_path(p) if os.path.isdir(p) else p)
    if not records:
        raise ValueError(f"No result records in {[os.fspath(p) for p in paths]}.")
    return records


def _arm_order(records: Iterable[dict]) -> list[str]:
    seen: list[str] = []
    for r in records:
        if r["arm"] not in seen:
            seen.append(r["arm"])
    return seen


def summarize(records: Sequence[dict]) -> dict[str, dict[str, Any]]:
    """Aggregate records over seeds, per arm and round.

    Returns:
      ``{arm: {"rounds": [r...], "labeled": [mean L...], "acc_mean": [...],
      "acc_std": [...], "n_seeds": [...], "selection_time": {stage: mean seconds
      per acquisition}, "selection_program_time": mean wall time of the
      fused acquisition program, "training_time": mean seconds per round,
      "picked_provenance": {name: mean fraction over acquisitions}}}``;
      arms in first-appearance order. ``acc_std`` is the population std over
      seeds (0 for a single seed).
    """
    out: dict[str, dict[str, Any]] = {}
    for arm in _arm_order(records):
        recs = [r for r in records if r["arm"] == arm]
        by_round: dict[int, list[dict]] = defaultdict(list)
        for r in recs:
            by_round[int(r["round"])].append(r)
        rounds = sorted(by_round)
        accs = [np.array([r["test_accuracy"] for r in by_round[k]], dtype=np.float64) for k in rounds]
        stage_times: dict[str, list[float]] = defaultdict(list)
        prov: dict[str, list[float]] = defaultdict(list)
        train_t = []
        first_t = []
        prog_t = []
        for r in recs:
            t = r.get("time") or {}
            if "training" in t:
                train_t.append(t["training"])
            if r.get("acquired"):
                if "selection_first_call" in t:
                    first_t.append(float(t["selection_first_call"]))
                prog_t.append(float(t["selection"]) if "selection" in t else
                              sum(float(t.get(s, 0.0) or 0.0) for s in SELECTION_STAGES))
                for s in SELECTION_STAGES:
                    stage_times[s].append(float(t.get(s, 0.0) or 0.0))
                for name, frac in (r.get("picked_provenance") or {}).items():
                    prov[name].append(frac)
        out[arm] = {
            "rounds": rounds,
            "labeled": [float(np.mean([r["labeled"] for r in by_round[k]])) for k in rounds],
            "acc_mean": [float(a.mean()) for a in accs],
            "acc_std": [float(a.std()) for a in accs],
            "n_seeds": [int(a.size) for a in accs],
            "selection_time": {s: float(np.mean(v)) if v else 0.0 for s, v in stage_times.items()},
            "training_time": float(np.mean(train_t)) if train_t else math.nan,
            "selection_first_call_time": float(np.mean(first_t)) if first_t else math.nan,
            "selection_program_time": float(np.mean(prog_t)) if prog_t else 0.0,
            "picked_provenance": {k: float(np.mean(v)) for k, v in prov.items()},
        }
    return out


def format_table(records: Sequence[dict]) -> str:
    """Plain-text comparison table: test accuracy (%) per round and arm.

    One row per round (with the labeled-set size), one column per arm,
    ``mean +- std`` over seeds when there is more than one; then per arm the
    mean selection time per acquisition, the mean training time per round and
    the mean share of non-clean points (noisy, out-of-distribution, mislabeled,
    source domain) among the picked ones.
    """
    summ = summarize(records)
    arms = list(summ)
    multi = any(n > 1 for s in summ.values() for n in s["n_seeds"])
    width = max(14 if multi else 8, *(len(a) for a in arms)) + 2
    rounds = sorted({r for s in summ.values() for r in s["rounds"]})
    lines = []
    seeds = sorted({int(r["seed"]) for r in records})
    head = "test accuracy (%)" + (f", mean +- std over {len(seeds)} seeds" if multi else "")
    lines.append(head)
    lines.append("round  labeled" + "".join(a.rjust(width) for a in arms))
    for k in rounds:
        labeled = ""
        cells = []
        for a in arms:
            s = summ[a]
            if k in s["rounds"]:
                i = s["rounds"].index(k)
                labeled = labeled or f"{s['labeled'][i]:.0f}"
                m, sd = 100 * s["acc_mean"][i], 100 * s["acc_std"][i]
                cells.append((f"{m:.1f} +- {sd:.1f}" if multi else f"{m:.1f}").rjust(width))
            else:
                cells.append("-".rjust(width))
        lines.append(f"{k:>5}  {labeled:>7}" + "".join(cells))
    lines.append("")
    lines.append(
        "arm".ljust(width) + "select s".rjust(10) + "(1st call)".rjust(11) + "train s".rjust(9)
        + "picked non-clean %".rjust(20)
    )
    for a in arms:
        s = summ[a]
        sel = s["selection_program_time"]
        first = s["selection_first_call_time"]
        p = s["picked_provenance"]
        bad = sum(p.get(n, 0.0) for n in NON_CLEAN)
        lines.append(
            a.ljust(width) + f"{sel:.3f}".rjust(10)
            + (f"({first:.2f})" if first == first else "").rjust(11)
            + f"{s['training_time']:.1f}".rjust(9)
            + (f"{100 * bad:.0f}" if p else "-").rjust(20)
        )
    lines.append("(mean per round; select = the whole acquisition (valuation + regression + "
                 "pre-selection + diversity) as one program, warm; 1st call includes JIT "
                 "compilation in round 0)")
    return "\n".join(lines)


def plot_results(
    records: Sequence[dict],
    path: str | os.PathLike,
    *,
    title: str | None = None,
    dpi: int = 110,
) -> str:
    """Write a PNG: accuracy curves (mean +- std over seeds) and selection-time bars.

    Left panel: test accuracy vs labeled-set size, one line per arm, shaded
    band = +- one std over seeds. Middle panel (when the records carry
    provenance): share of noisy / out-of-distribution / mislabeled /
    source-domain points among the picked ones per arm, with their share in
    the unlabeled pool as a dashed line. Right panel: mean wall time of one
    acquisition per arm, stacked by stage (valuation, regression,
    pre-selection, diversity).

    Args:
      records: result records (see :func:`load_results`).
      path: output PNG path (parent directories are created).
      title: figure title.
      dpi: resolution.

    Returns:
      ``path`` as a string.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    summ = summarize(records)
    if not summ:
        raise ValueError("`records` is empty: nothing to plot.")
    path = os.fspath(path)
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    arms = list(summ)
    has_prov = any(s["picked_provenance"] for s in summ.values())
    ncols = 3 if has_prov else 2
    fig, axes = plt.subplots(
        1, ncols, figsize=(15 if has_prov else 11, 4.4),
        gridspec_kw={"width_ratios": [1.6, 1, 1] if has_prov else [1.6, 1]},
    )
    ax1, ax2 = axes[0], axes[-1]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (arm, s) in enumerate(summ.items()):
        x = np.asarray(s["labeled"])
        m = 100 * np.asarray(s["acc_mean"])
        sd = 100 * np.asarray(s["acc_std"])
        c = colors[i % len(colors)]
        style = "-" if arm.startswith("ads") else "--" if "+" in arm else ":"
        ax1.plot(x, m, style, marker="o", ms=3.5, color=c, label=arm)
        if np.any(sd > 0):
            ax1.fill_between(x, m - sd, m + sd, color=c, alpha=0.15, lw=0)
    n_seeds = max(max(s["n_seeds"]) for s in summ.values())
    ax1.set_xlabel("labeled examples")
    ax1.set_ylabel("test accuracy (%)")
    ax1.set_title("accuracy" + (f" (mean \u00b1 std, {n_seeds} seeds)" if n_seeds > 1 else ""))
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8)

    if has_prov:
        ax3 = axes[1]
        bad = NON_CLEAN
        share = [100 * sum(summ[a]["picked_provenance"].get(n, 0.0) for n in bad) for a in arms]
        ax3.bar(range(len(arms)), share, color=[colors[i % len(colors)] for i in range(len(arms))])
        pool = [r.get("pool_provenance") for r in records if r.get("pool_provenance")]
        if pool:
            base = 100 * np.mean([sum(p.get(n, 0.0) for n in bad) for p in pool])
            ax3.axhline(base, color="k", ls="--", lw=1, label=f"share in pool ({base:.0f}%)")
            ax3.legend(fontsize=8, loc="lower right")
        ax3.set_xticks(range(len(arms)))
        ax3.set_xticklabels(arms, rotation=30, ha="right", fontsize=8)
        ax3.set_ylabel("% of picked points")
        ax3.set_title("picked non-clean (noisy/ood/mislabeled/other domain)", fontsize=10)
        ax3.set_ylim(0, 100)
        ax3.grid(axis="y", alpha=0.3)

    bottom = np.zeros(len(arms))
    stage_colors = dict(zip(SELECTION_STAGES, ["#4c72b0", "#55a868", "#c44e52", "#8172b2"]))
    for stage in SELECTION_STAGES:
        v = np.array([summ[a]["selection_time"].get(stage, 0.0) for a in arms])
        if np.any(v > 0):
            ax2.bar(range(len(arms)), v, bottom=bottom, color=stage_colors[stage], label=stage)
            bottom += v
    ax2.set_xticks(range(len(arms)))
    ax2.set_xticklabels(arms, rotation=30, ha="right", fontsize=8)
    ax2.set_ylabel("seconds per acquisition")
    ax2.set_title("selection time (warm)")
    ax2.grid(axis="y", alpha=0.3)
    if np.any(bottom > 0):
        ax2.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
