r"""Figure 3 of the ADS paper (toy): one batch chosen four ways on a 2-D problem.

Ghorbani, Zou & Esteva, "Data Shapley Valuation for Efficient Batch Active
Learning" illustrate ADS on a 2-D binary toy problem. This script rebuilds that
experiment. The paper's text and figure could not be consulted from here
(only the abstract was reachable), so the geometry below is a faithful
*design* of the setting described to us -- a red class that mixes a
majority cluster and a minority cluster, a blue class that is one cluster, a
logistic-regression learner -- not a copy of the paper's numbers:

* blue (label 0): N((0, 0), 0.5^2 I);
* red (label 1): 80% majority N((2.5, 0), 0.5^2 I), 20% minority
  N((-0.5, 3), 0.35^2 I) -- above the blue cluster, i.e. across the boundary
  a model fitted on the majority alone would draw (x ~ 1.25), but on the red
  side of the best linear boundary (x + y ~ 1.25);
* classes are balanced; pool, validation and test sets are independent draws.

Protocol (per seed): a random initial labeled set from the pool (both
classes present), a logistic-regression model fit on it (the initial model),
then ONE batch of ``budget`` pool points selected by

* ``random`` -- uniform (``get_selector("random")``);
* ``uncertainty`` -- smallest top-2 margin of the initial model
  (``get_selector("margin")``: closest to the decision boundary);
* ``coreset`` -- representativeness: greedy k-center in the input space with
  the labeled points as initial centers (``get_selector("coreset")``);
* ``shapley_coreset`` -- ADS with TMC-Shapley: the labeled points are valued
  by TMC-Shapley (:func:`ads_jax.valuation.tmc.tmc_logistic_values`: the
  validation accuracy of the same logistic regression fit on subsets), the
  values are extrapolated to the pool with the per-class KNN value regression
  of ADS (:func:`ads_jax.valuation.regression.predict_values`, the initial
  model's probabilities choosing the classes), the top ``preselect_fraction``
  of the unlabeled pool is kept and k-center runs on those candidates only.
  This is the ADS pipeline (value labeled points, regress, pre-select, run the
  diversity method) with TMC-Shapley in place of the paper's KNN-Shapley;
* ``knn_shapley_coreset`` (JSON only, not drawn) -- the same with exact
  KNN-Shapley values (the paper's valuation), for comparison.

Each batch is added to the labeled set, the model is refit and its test
accuracy reported (overall and on the minority cluster). The TMC values of
the labeled points are compared with exact KNN-Shapley values of the same
points (Spearman rank correlation). Nothing is tuned on the test set: every
setting is fixed in the presets below before any run; TMC/KNN values use the
validation set only.

Outputs (``--results-dir DIR``, alias ``--out``, default ``experiments/results``),
under the stem ``S`` = ``fig3_toy`` for the default preset ``cpu`` (the
committed results) and ``fig3_toy_<preset>`` for every other preset, so that
no other preset overwrites them (:func:`output_files`):

* ``DIR/S/seed_<s>.json`` -- everything of one seed (resumable: a seed
  whose file exists with the same config is not recomputed);
* ``DIR/S.json`` -- config, per-method accuracies (mean, std, min, max,
  per seed), rank correlation, TMC diagnostics;
* ``DIR/S.png`` -- six panels for the first seed: (a) the data,
  (b) the initial model, (c-f) each selection with the refit boundary.

Usage::

    python experiments/paper/fig3_toy.py --preset paper|cpu|tiny [--results-dir DIR] [--seeds 0,1,2]

Presets (:data:`PRESETS`): ``paper`` -- the paper's sizes as far as known: an
initial set of tens of points and one batch from a pool of a few thousand (the
exact numbers are not known to us; the values below are our choice), 10 seeds,
TMC until Ghorbani & Zou's convergence criterion (< 0.05) or 3000
permutations; ``cpu`` -- ~1-2 min on 2 CPU cores; ``tiny`` -- seconds (smoke
test).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import jax
import numpy as np

from ads_jax._files import atomic_savefig, atomic_write_json
from ads_jax.selection import get_selector
from ads_jax.valuation import knn_shapley
from ads_jax.valuation.regression import predict_values
from ads_jax.valuation.tmc import (
    LogisticParams,
    fit_logistic,
    logistic_predict_proba,
    tmc_logistic_values,
)

_REPO = Path(__file__).resolve().parents[2]

VERSION = 1
NAME = "fig3_toy"
METHODS = ("random", "uncertainty", "coreset", "shapley_coreset")
EXTRA_METHODS = ("knn_shapley_coreset",)
LABELS = {
    "random": "Random",
    "uncertainty": "Uncertainty (margin)",
    "coreset": "Representativeness (k-center)",
    "shapley_coreset": "TMC-Shapley filter + k-center",
    "knn_shapley_coreset": "KNN-Shapley filter + k-center",
}
GROUPS = ("blue", "red_majority", "red_minority")

# Data geometry (module doc); part of every config so that results of another
# geometry are never resumed.
GEOMETRY = {
    "blue_mean": (0.0, 0.0),
    "blue_std": 0.5,
    "red_majority_mean": (2.5, 0.0),
    "red_majority_std": 0.5,
    "red_minority_mean": (-0.5, 3.0),
    "red_minority_std": 0.35,
    "red_share": 0.5,
    "minority_share_of_red": 0.2,
}


@dataclasses.dataclass(frozen=True)
class Preset:
    """One experiment configuration (all sizes in points)."""

    name: str
    n_pool: int  # unlabeled pool (labels hidden until selected)
    n_val: int  # validation set: TMC / KNN-Shapley utility
    n_test: int  # test set: reported accuracy only
    n_initial: int  # initial labeled set, drawn from the pool
    budget: int  # the one batch selected
    l2: float  # logistic regression ridge (sklearn C = 2 / l2 for 2 classes)
    tmc_permutations: int  # maximum permutations
    tmc_batch: int  # permutations per vmapped step
    tmc_truncation_tol: float
    tmc_convergence_tol: float | None  # Ghorbani & Zou's criterion; None = all permutations
    tmc_window: int
    preselect_fraction: float  # share of the unlabeled pool kept by the value filter
    regression_k: int  # neighbours of the per-class value regressors
    regression_aggregate: str  # "max" = the paper's
    knn_k: int  # K of KNN-Shapley
    seeds: tuple[int, ...]


PRESETS = {
    "paper": Preset("paper", n_pool=2000, n_val=500, n_test=10000, n_initial=20, budget=10,
                    l2=1.0, tmc_permutations=3000, tmc_batch=128, tmc_truncation_tol=0.01,
                    tmc_convergence_tol=0.05, tmc_window=100, preselect_fraction=0.25,
                    regression_k=3, regression_aggregate="max", knn_k=5,
                    seeds=tuple(range(10))),
    "cpu": Preset("cpu", n_pool=1000, n_val=200, n_test=4000, n_initial=20, budget=10,
                  l2=1.0, tmc_permutations=1000, tmc_batch=128, tmc_truncation_tol=0.01,
                  tmc_convergence_tol=0.05, tmc_window=100, preselect_fraction=0.25,
                  regression_k=3, regression_aggregate="max", knn_k=5,
                  seeds=tuple(range(10))),
    "tiny": Preset("tiny", n_pool=120, n_val=40, n_test=200, n_initial=12, budget=5,
                   l2=1.0, tmc_permutations=64, tmc_batch=32, tmc_truncation_tol=0.01,
                   tmc_convergence_tol=None, tmc_window=16, preselect_fraction=0.25,
                   regression_k=3, regression_aggregate="max", knn_k=5, seeds=(0, 1)),
}


#: the preset whose outputs keep the bare name ``fig3_toy`` (the committed results).
DEFAULT_PRESET = "cpu"


def output_stem(preset: str) -> str:
    """``fig3_toy`` for :data:`DEFAULT_PRESET`, else ``fig3_toy_<preset>``."""
    return NAME if preset == DEFAULT_PRESET else f"{NAME}_{preset}"


def output_files(preset: str, seeds=None) -> list[str]:
    """The files a run of ``preset`` writes, relative to the results directory
    (``seeds``: default the preset's)."""
    stem = output_stem(preset)
    seeds = PRESETS[preset].seeds if seeds is None else seeds
    return [f"{stem}.json", f"{stem}.png"] + [f"{stem}/seed_{s}.json" for s in seeds]


def run_config(preset: Preset) -> dict:
    """What a seed's result depends on (JSON-normalised; name and seeds excluded)."""
    cfg = dataclasses.asdict(preset)
    del cfg["name"], cfg["seeds"]
    cfg["geometry"] = GEOMETRY
    cfg["version"] = VERSION
    return json.loads(json.dumps(cfg))


# ------------------------------------------------------------------------ data
def sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n points: x (n, 2) float32, y (n,) int32, group (n,) int32 (index into GROUPS)."""
    g = GEOMETRY
    red = rng.random(n) < g["red_share"]
    minority = red & (rng.random(n) < g["minority_share_of_red"])
    group = np.where(red, np.where(minority, 2, 1), 0).astype(np.int32)
    means = np.array([g["blue_mean"], g["red_majority_mean"], g["red_minority_mean"]])
    stds = np.array([g["blue_std"], g["red_majority_std"], g["red_minority_std"]])
    x = means[group] + stds[group, None] * rng.standard_normal((n, 2))
    return x.astype(np.float32), red.astype(np.int32), group


def make_data(preset: Preset, seed: int) -> dict:
    """Pool, validation and test sets and the initial labeled indices of one seed."""
    rng = np.random.default_rng(seed)
    pool = sample(rng, preset.n_pool)
    val = sample(rng, preset.n_val)
    test = sample(rng, preset.n_test)
    while True:  # both classes in the initial set
        init = np.sort(rng.choice(preset.n_pool, preset.n_initial, replace=False))
        if len(np.unique(pool[1][init])) == 2:
            break
    return {"pool": pool, "val": val, "test": test, "initial": init}


def data_checksum(data: dict) -> float:
    return float(np.round(np.sum(data["pool"][0], dtype=np.float64)
                          + np.sum(data["test"][0], dtype=np.float64), 6))


# ---------------------------------------------------------------------- model
def fit(preset: Preset, x: np.ndarray, y: np.ndarray) -> LogisticParams:
    return fit_logistic(x, y, num_classes=2, l2=preset.l2, method="newton")


def params_to_json(p: LogisticParams) -> dict:
    return {"w": np.asarray(p.w, np.float64).tolist(), "b": np.asarray(p.b, np.float64).tolist()}


def accuracy(params: dict, x: np.ndarray, y: np.ndarray) -> float:
    logits = x.astype(np.float64) @ np.asarray(params["w"]) + np.asarray(params["b"])
    return float(np.mean(np.argmax(logits, axis=1) == y))


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman rank correlation (average ranks for ties); None if a side is constant."""
    ra, rb = _average_ranks(a), _average_ranks(b)
    if np.std(ra) == 0 or np.std(rb) == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def _average_ranks(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    order = np.argsort(a, kind="stable")
    s = a[order]
    ranks = np.empty(len(a))
    i = 0
    while i < len(a):
        j = i
        while j + 1 < len(a) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return ranks


def _finite(v):
    """JSON-safe float (inf / nan -> None)."""
    v = float(v)
    return v if math.isfinite(v) else None


# ------------------------------------------------------------------- one seed
def run_seed(preset: Preset, seed: int) -> dict:
    """Everything of one seed as a JSON-able dict."""
    t0 = time.time()
    data = make_data(preset, seed)
    xp, yp, gp = data["pool"]
    xv, yv, _ = data["val"]
    xt, yt, gt = data["test"]
    init = data["initial"]
    labeled = np.zeros(preset.n_pool, bool)
    labeled[init] = True
    x_lab, y_lab = xp[init], yp[init]

    params0 = fit(preset, x_lab, y_lab)
    probs0 = np.asarray(logistic_predict_proba(params0, xp))
    p0 = params_to_json(params0)
    minority_test = gt == 2

    key = jax.random.key(seed)
    k_random, k_tmc = jax.random.fold_in(key, 0), jax.random.fold_in(key, 1)
    pool_emb = {"embeddings": xp}

    tmc = tmc_logistic_values(
        k_tmc, x_lab, y_lab, xv, yv, num_classes=2, num_permutations=preset.tmc_permutations,
        batch_size=preset.tmc_batch, truncation_tol=preset.tmc_truncation_tol,
        convergence_tol=preset.tmc_convergence_tol, convergence_window=preset.tmc_window,
        l2=preset.l2, method="newton", standardize=False, return_result=True)
    tmc_values = np.asarray(tmc.values, np.float64)
    knn_values = np.asarray(knn_shapley(x_lab, y_lab, xv, yv, num_classes=2, k=preset.knn_k),
                            np.float64)

    n_unlab = preset.n_pool - preset.n_initial
    n_keep = max(preset.budget, int(math.ceil(preset.preselect_fraction * n_unlab)))

    def value_filter(values: np.ndarray) -> np.ndarray:
        pred = np.asarray(predict_values(
            x_lab, y_lab, values.astype(np.float32), xp, probs0, num_classes=2,
            k=preset.regression_k, top_t=2, aggregate=preset.regression_aggregate))
        pred = np.where(labeled, -np.inf, pred)
        keep = np.argsort(-pred, kind="stable")[:n_keep]
        mask = np.zeros(preset.n_pool, bool)
        mask[keep] = True
        return mask

    coreset = get_selector("coreset")
    candidates = {"shapley_coreset": value_filter(tmc_values),
                  "knn_shapley_coreset": value_filter(knn_values)}
    selections = {
        "random": get_selector("random")(k_random, pool_emb, preset.budget, labeled=labeled),
        "uncertainty": get_selector("margin")(None, {"probs": probs0}, preset.budget,
                                              labeled=labeled),
        "coreset": coreset(None, pool_emb, preset.budget, labeled=labeled),
    }
    for m, mask in candidates.items():
        selections[m] = coreset(None, pool_emb, preset.budget, labeled=labeled, mask=mask)

    methods = {}
    for m in METHODS + EXTRA_METHODS:
        sel = np.asarray(selections[m], np.int64)
        assert len(np.unique(sel)) == preset.budget and not labeled[sel].any()
        idx = np.concatenate([init, sel])
        params = params_to_json(fit(preset, xp[idx], yp[idx]))
        methods[m] = {
            "selected": sel.tolist(),
            "selected_per_group": {g: int(np.sum(gp[sel] == i)) for i, g in enumerate(GROUPS)},
            "test_accuracy": accuracy(params, xt, yt),
            "minority_test_accuracy": accuracy(params, xt[minority_test], yt[minority_test]),
            "params": params,
        }
        if m in candidates:
            methods[m]["candidates"] = np.flatnonzero(candidates[m]).tolist()
            methods[m]["candidates_per_group"] = {
                g: int(np.sum(gp[candidates[m]] == i)) for i, g in enumerate(GROUPS)}

    g_lab = gp[init]
    by_group = {
        name: {g: (float(np.mean(vals[g_lab == i])) if np.any(g_lab == i) else None)
               for i, g in enumerate(GROUPS)}
        for name, vals in (("tmc", tmc_values), ("knn", knn_values))
    }
    return {
        "seed": seed,
        "config": run_config(preset),
        "data_checksum": data_checksum(data),
        "initial": {
            "labeled": init.tolist(),
            "labeled_per_group": {g: int(np.sum(g_lab == i)) for i, g in enumerate(GROUPS)},
            "test_accuracy": accuracy(p0, xt, yt),
            "minority_test_accuracy": accuracy(p0, xt[minority_test], yt[minority_test]),
            "params": p0,
        },
        "methods": methods,
        "values": {"tmc": tmc_values.tolist(), "tmc_stderr": np.asarray(tmc.stderr).tolist(),
                   "knn": knn_values.tolist(), "mean_by_group": by_group},
        "spearman_tmc_vs_knn": spearman(tmc_values, knn_values),
        "tmc": {
            "num_permutations": tmc.num_permutations,
            "converged": bool(tmc.converged),
            "fraction_truncated": tmc.fraction_truncated,
            "utility_evaluations": tmc.utility_evaluations,
            "full_utility": tmc.full_utility,
            "empty_utility": tmc.empty_utility,
            "efficiency_gap": float(np.sum(tmc_values)) - (tmc.full_utility - tmc.empty_utility),
            "final_error": _finite(tmc.trace_error[-1]),
            "max_stderr": _finite(tmc.trace_max_stderr[-1]),
            "trace_permutations": tmc.trace_permutations.tolist(),
            "trace_error": [_finite(v) for v in tmc.trace_error],
            "trace_max_stderr": [_finite(v) for v in tmc.trace_max_stderr],
        },
        "elapsed_s": time.time() - t0,
    }


# ------------------------------------------------------------------ aggregate
def _stats(vals: list) -> dict:
    v = np.asarray([x for x in vals if x is not None], np.float64)
    if v.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "per_seed": vals}
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max()), "per_seed": vals}


def summarise(preset: Preset, seeds: list[int], results: list[dict]) -> dict:
    methods = {}
    for m in METHODS + EXTRA_METHODS:
        methods[m] = {
            "label": LABELS[m],
            "test_accuracy": _stats([r["methods"][m]["test_accuracy"] for r in results]),
            "minority_test_accuracy": _stats(
                [r["methods"][m]["minority_test_accuracy"] for r in results]),
            "minority_selected": _stats(
                [r["methods"][m]["selected_per_group"]["red_minority"] for r in results]),
        }
    acc = {m: np.array([r["methods"][m]["test_accuracy"] for r in results]) for m in methods}
    ref = "shapley_coreset"
    paired = {m: {"mean_diff_shapley_minus_method": float(np.mean(acc[ref] - acc[m])),
                  "seeds_shapley_better": int(np.sum(acc[ref] > acc[m])),
                  "seeds_tied": int(np.sum(acc[ref] == acc[m]))}
              for m in methods if m != ref}
    tmc = [r["tmc"] for r in results]
    return {
        "experiment": "ADS paper Figure 3 (toy), rebuilt: one batch by random / uncertainty / "
                      "k-center / TMC-Shapley-filtered k-center on a 2-D problem whose red "
                      "class has a majority and a minority cluster (design, not the paper's "
                      "exact data; see experiments/paper/fig3_toy.py)",
        "preset": preset.name,
        "config": run_config(preset),
        "seeds": seeds,
        "initial": {
            "test_accuracy": _stats([r["initial"]["test_accuracy"] for r in results]),
            "minority_test_accuracy": _stats(
                [r["initial"]["minority_test_accuracy"] for r in results]),
            "minority_labeled": _stats(
                [r["initial"]["labeled_per_group"]["red_minority"] for r in results]),
        },
        "methods": methods,
        "paired_vs_shapley_coreset": paired,
        "ranking_by_mean_test_accuracy": sorted(
            methods, key=lambda m: -methods[m]["test_accuracy"]["mean"]),
        "spearman_tmc_vs_knn": _stats([r["spearman_tmc_vs_knn"] for r in results]),
        "tmc_diagnostics": {
            "num_permutations": _stats([t["num_permutations"] for t in tmc]),
            "converged_seeds": int(sum(t["converged"] for t in tmc)),
            "fraction_truncated": _stats([t["fraction_truncated"] for t in tmc]),
            "final_error": _stats([t["final_error"] for t in tmc]),
            "max_stderr": _stats([t["max_stderr"] for t in tmc]),
            "efficiency_gap": _stats([t["efficiency_gap"] for t in tmc]),
            "full_utility": _stats([t["full_utility"] for t in tmc]),
        },
        "value_by_group_mean": {
            kind: {g: _stats([r["values"]["mean_by_group"][kind][g] for r in results])["mean"]
                   for g in GROUPS}
            for kind in ("tmc", "knn")
        },
        "elapsed_s_per_seed": _stats([r["elapsed_s"] for r in results]),
    }


# --------------------------------------------------------------------- figure
def _boundary(ax, params: dict, lims, **kw):
    gx, gy = np.meshgrid(np.linspace(*lims[0], 200), np.linspace(*lims[1], 200))
    grid = np.stack([gx.ravel(), gy.ravel()], 1)
    logits = grid @ np.asarray(params["w"]) + np.asarray(params["b"])
    ax.contour(gx, gy, (logits[:, 1] - logits[:, 0]).reshape(gx.shape), levels=[0.0], **kw)


def _scatter_pool(ax, x, y, g, *, alpha):
    for cls, color in ((0, "tab:blue"), (1, "tab:red")):
        for grp, marker in ((0, "o"), (1, "o"), (2, "^")):
            sel = (y == cls) & (g == grp)
            if sel.any():
                ax.scatter(x[sel, 0], x[sel, 1], s=9, c=color, marker=marker, alpha=alpha,
                           linewidths=0)


def plot(preset: Preset, result: dict, summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    data = make_data(preset, result["seed"])
    xp, yp, gp = data["pool"]
    init = np.asarray(result["initial"]["labeled"])
    pad = 0.6
    lims = ((float(xp[:, 0].min()) - pad, float(xp[:, 0].max()) + pad),
            (float(xp[:, 1].min()) - pad, float(xp[:, 1].max()) + pad))
    fig, axes = plt.subplots(2, 3, figsize=(12, 7.6))
    axes = axes.ravel()
    nseed = len(summary["seeds"])

    def labeled(ax):
        ax.scatter(xp[init, 0], xp[init, 1], s=40, c=np.where(yp[init] == 1, "tab:red", "tab:blue"),
                   edgecolors="k", linewidths=1.0, zorder=3)

    ax = axes[0]
    _scatter_pool(ax, xp, yp, gp, alpha=0.6)
    ax.set_title("(a) data: blue vs red\n(red = majority ● + minority ▲ cluster)", fontsize=10)
    ax = axes[1]
    _scatter_pool(ax, xp, yp, gp, alpha=0.15)
    labeled(ax)
    _boundary(ax, result["initial"]["params"], lims, colors="k", linewidths=1.5)
    s0 = summary["initial"]["test_accuracy"]
    ax.set_title(f"(b) initial model ({len(init)} labeled)\ntest acc {result['initial']['test_accuracy']:.3f}"
                 f"  [mean {s0['mean']:.3f} ± {s0['std']:.3f}, {nseed} seeds]", fontsize=10)
    for k, m in enumerate(METHODS):
        ax = axes[2 + k]
        r = result["methods"][m]
        _scatter_pool(ax, xp, yp, gp, alpha=0.15)
        if "candidates" in r:
            c = np.asarray(r["candidates"])
            ax.scatter(xp[c, 0], xp[c, 1], s=14, facecolors="none", edgecolors="tab:green",
                       linewidths=0.6, alpha=0.7)
        labeled(ax)
        sel = np.asarray(r["selected"])
        ax.scatter(xp[sel, 0], xp[sel, 1], s=130, marker="*",
                   c=np.where(yp[sel] == 1, "tab:red", "tab:blue"), edgecolors="k",
                   linewidths=0.8, zorder=4)
        _boundary(ax, result["initial"]["params"], lims, colors="0.5", linewidths=1.0,
                  linestyles="dashed")
        _boundary(ax, r["params"], lims, colors="k", linewidths=1.5)
        s = summary["methods"][m]["test_accuracy"]
        ax.set_title(f"({'cdef'[k]}) {LABELS[m]}\ntest acc {r['test_accuracy']:.3f}"
                     f"  [mean {s['mean']:.3f} ± {s['std']:.3f}]", fontsize=10)
    for ax in axes:
        ax.set_xlim(*lims[0])
        ax.set_ylim(*lims[1])
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal")
    handles = [
        Line2D([], [], marker="o", ls="", mfc="w", mec="k", label="initial labeled"),
        Line2D([], [], marker="*", ls="", ms=11, mfc="w", mec="k", label="selected batch"),
        Line2D([], [], marker="o", ls="", mfc="none", mec="tab:green",
               label=f"value-filter candidates (top {preset.preselect_fraction:.0%})"),
        Line2D([], [], color="0.5", ls="--", label="initial boundary"),
        Line2D([], [], color="k", label="boundary after the batch"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=9, frameon=False)
    fig.suptitle(f"ADS Figure 3 (toy, rebuilt): one batch of {preset.budget} from a pool of "
                 f"{preset.n_pool}; seed {result['seed']} drawn, means over {nseed} seeds "
                 f"(preset '{preset.name}')", fontsize=11)
    fig.tight_layout(rect=(0, 0.04, 1, 0.96))
    # a 128-colour palette keeps the committed PNG small
    atomic_savefig(fig, path, dpi=80, palette=128)


# ------------------------------------------------------------------------ CLI
def _write_json(path: Path, obj) -> None:
    atomic_write_json(path, obj, indent=1, allow_nan=False)


def _load_seed(path: Path, config: dict, checksum: float) -> dict | None:
    try:
        r = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if r.get("config") == config and r.get("data_checksum") == checksum:
        return r
    return None


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default=DEFAULT_PRESET)
    p.add_argument("--results-dir", "--out", dest="out", type=Path,
                   default=_REPO / "experiments" / "results",
                   help="output directory (default: experiments/results)")
    p.add_argument("--seeds", type=str, default=None,
                   help="comma-separated seeds overriding the preset's, e.g. 0,1,2")
    args = p.parse_args(argv)
    if args.seeds is not None:
        try:
            args.seeds = [int(s) for s in args.seeds.split(",") if s.strip() != ""]
        except ValueError:
            p.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
        if not args.seeds or len(set(args.seeds)) != len(args.seeds) or min(args.seeds) < 0:
            p.error("--seeds must list distinct non-negative integers")
    return args


def main(argv=None) -> dict:
    """Run (or resume) the experiment; returns the summary plus ``computed`` /
    ``resumed`` seed lists and the output paths."""
    args = parse_args(argv)
    preset = PRESETS[args.preset]
    seeds = list(preset.seeds) if args.seeds is None else args.seeds
    out = Path(args.out)
    stem = output_stem(args.preset)
    seed_dir = out / stem
    seed_dir.mkdir(parents=True, exist_ok=True)
    config = run_config(preset)
    results, computed, resumed = [], [], []
    for s in seeds:
        path = seed_dir / f"seed_{s}.json"
        checksum = data_checksum(make_data(preset, s))
        r = _load_seed(path, config, checksum) if path.exists() else None
        if r is None:
            r = run_seed(preset, s)
            _write_json(path, r)
            computed.append(s)
            print(f"seed {s}: computed in {r['elapsed_s']:.1f}s", flush=True)
        else:
            resumed.append(s)
            print(f"seed {s}: resumed from {path}", flush=True)
        results.append(r)
    summary = summarise(preset, seeds, results)
    json_path, png_path = out / f"{stem}.json", out / f"{stem}.png"
    _write_json(json_path, summary)
    plot(preset, results[0], summary, png_path)
    for m in ("initial",) + METHODS + EXTRA_METHODS:
        s = summary["initial" if m == "initial" else "methods"]
        s = s if m == "initial" else s[m]
        acc, mino = s["test_accuracy"], s["minority_test_accuracy"]
        print(f"{LABELS.get(m, 'Initial model'):32s} test acc {acc['mean']:.4f} ± {acc['std']:.4f}"
              f"   minority acc {mino['mean']:.3f}")
    sp = summary["spearman_tmc_vs_knn"]
    if sp["mean"] is not None:
        print(f"Spearman(TMC, KNN-Shapley) over labeled points: {sp['mean']:.3f} ± {sp['std']:.3f}")
    print(f"wrote {json_path} and {png_path}")
    return {**summary, "computed": computed, "resumed": resumed,
            "paths": {"json": str(json_path), "png": str(png_path), "seeds": str(seed_dir)}}


if __name__ == "__main__":
    main()
