"""Judge a valuation in minutes: every registered valuation x value estimator x scenario,
on cached embeddings, many seeds, with 95% confidence intervals.

Protocol (one row of the table = one valuation [x estimator] in one scenario,
mean over seeds with a 95% Student-t interval):

* **data** -- the proxy scenarios (``ads_jax/configs/proxy_paper.py``): CIFAR-10
  with a frozen backbone's features (``--backbone``, default the ``large``
  CPU backbone of ``experiments/proxy/backbones.py``), the backbone's held-out
  rows excluded, 500 validation images from the train split, the copy's 1,017
  test images;
* **scenarios** -- ``noise``: 80% of the pool with Beta(2, 5)-power white
  noise; ``ood``: 40% of the pool replaced by Fashion-MNIST images with random
  labels + 20% mislabeled; ``shift``: 80% of the pool from a shifted copy;
  ``flip``: a curated pool whose seed set has 20% flipped labels;
* **labeled set** -- ``--labeled`` points (1,000): for ``flip`` the seed set
  itself (20% flipped); otherwise drawn uniformly from the corrupted pool (so
  it holds the pool's corruption, as after rounds that labeled corrupted
  points: where valuation acts). The rest of the unlabeled pool is the pool
  whose values the estimators predict;
* **labeled-point metrics** (the valuation alone, against the labeled points'
  provenance, :mod:`ads_jax.value_quality`): detection AUROC, average
  precision and F1 of the lowest-valued fraction equal to the corruption rate;
  point-removal and point-addition curves (a linear head retrained on the kept
  labeled points, test accuracy at 10..50%, highest- and lowest-valued first)
  and their areas;
* **pool metrics** (valuation x estimator, the ADS filter): the non-clean share
  of the top 10/20/30% of the pool by predicted value and the AUROC of the
  values for "clean"; beside them the controls that need no value: the
  ``proximity`` pre-filter's score (near the validation set), ``entropy``,
  ``margin`` and ``random``;
* **the question** -- paired by seed, each valuation x estimator's top-20%
  non-clean share minus the proximity control's, with its 95% interval.

::

    python experiments/value_quality.py --preset cpu     # ~15-25 min on 2 CPU cores (embeddings cached)
    python experiments/value_quality.py --preset tiny    # seconds: digits, a tiny backbone

Writes ``experiments/results/value_quality_<preset>.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import jax
import numpy as np

from ads_jax._files import atomic_savefig, atomic_write, atomic_write_json, read_json
from ads_jax.acquisition import PrefilterInputs, build_prefilter
from ads_jax.configs import cifar10_npz
from ads_jax.configs.paper_cheap10 import cpu_ood
from ads_jax.configs.paper_domain_shift import SOURCE_WEIGHTS, shifted
from ads_jax.configs.proxy_paper import BACKBONES, TINY_BACKBONES, backbone_configs
from ads_jax.data import CLEAN, MISLABELED, ScenarioConfig, build_scenario, load_scenario_datasets
from ads_jax.models import ModelConfig, build_model_component
from ads_jax.proxy import embed_scenario, load_backbone, train_backbone
from ads_jax.stats import paired_difference
from ads_jax.training import predict
from ads_jax.valuation import (EstimateInputs, EstimatorConfig, ValuationConfig,
                               available_valuations, build_estimator, build_valuation)
from ads_jax.value_quality import (detection_auroc, detection_average_precision, detection_f1,
                                   pool_auroc, removal_curve, top_fraction_non_clean)

RESULTS = Path(__file__).resolve().parent / "results"
FRACTIONS = (0.1, 0.2, 0.3)
CURVE = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
K = 5
#: The estimators compared (name, options, label); ``insertion`` needs a closed-form
#: joining value (``jia``).
ESTIMATORS = (("knn_regression", dict(k=5, weights="uniform", top_t=10, aggregate="max"),
               "regression (paper)"),
              ("knn_regression", {}, "regression (ours)"),
              ("insertion", dict(aggregate="max"), "insertion (max)"),
              ("insertion", dict(aggregate="prob_weighted"), "insertion (prob-weighted)"),
              ("insertion", dict(aggregate="mean"), "insertion (mean: a random label)"))
CONTROLS = ("proximity", "entropy", "margin", "random")


def _scenarios(dataset: str, ood: str, base: dict) -> dict[str, dict]:
    return {
        "noise": dict(base, dataset=dataset, kind="noisy", noise_fraction=0.8,
                      noise_beta=(2.0, 5.0)),
        "ood": dict(base, dataset=dataset, kind="cheap", ood_dataset=ood, ood_fraction=0.4,
                    mislabel_fraction=0.2, convert_images=True),
        "shift": dict(base, dataset=dataset, kind="domain_shift",
                      source_datasets=(dataset, shifted(dataset)),
                      source_weights=SOURCE_WEIGHTS),
        "flip": dict(base, dataset=dataset, kind="curated", seed_label_noise=0.2),
    }


def presets() -> dict[str, dict]:
    cifar = f"npz:{cifar10_npz()}"
    return {
        "cpu": dict(scenarios=_scenarios(cifar, cpu_ood(), dict(
                        initial_labeled=1000, val_size=500, val_source="train",
                        test_source="test", pool_size=40500, backbone=BACKBONES["large"])),
                    seeds=tuple(range(10)), labeled=1000, num_bags=32),
        "tiny": dict(scenarios=_scenarios("digits", "digits", dict(
                         initial_labeled=60, val_size=50, test_size=100, pool_size=400,
                         backbone=TINY_BACKBONES["large"])),
                     seeds=(0, 1), labeled=60, num_bags=8),
    }


def _tau(lab_x, val_x, k) -> float:
    """Threshold KNN-Shapley's radius: the median over validation points of the squared
    distance to their K-th nearest labeled point (computed per labeled set)."""
    d = ((val_x[:, None, :].astype(np.float64) - lab_x[None]) ** 2).sum(-1)
    return float(np.median(np.sort(d, 1)[:, min(k, d.shape[1]) - 1]))


def _valuations(num_bags: int) -> list[tuple[str, dict]]:
    out = []
    for name in available_valuations():
        if name == "threshold":
            out.append((name, {"tau": None}))  # filled per labeled set
        elif name == "data_oob":
            out.append((name, {"num_bags": num_bags}))
        else:
            out.append((name, {}))
    return out


def _labeled_split(sc, scenario: str, n_lab: int, seed: int):
    """(labeled rows, pool rows) of the scenario's pool (module docstring)."""
    init = np.asarray(sc.labeled_init)
    unl = np.setdiff1d(np.arange(len(sc.y_pool)), init)
    if scenario == "flip":
        return init, unl
    rng = np.random.default_rng(10_000 + seed)
    lab = np.sort(rng.choice(unl, size=n_lab, replace=False))
    return lab, np.setdiff1d(unl, lab)


def run_one(scenario: str, cfg: ScenarioConfig, seed: int, *, n_lab: int, num_bags: int,
            backbone, datasets, cache) -> dict:
    """Every metric of one (scenario, seed) (module docstring)."""
    sc = embed_scenario(build_scenario(cfg, seed, datasets=datasets), backbone,
                        datasets=datasets, cache_dir=cache)
    C = int(sc.num_classes)
    lab, pool = _labeled_split(sc, scenario, n_lab, seed)
    lx, ly = sc.x_pool[lab], np.asarray(sc.y_pool[lab], np.int32)
    px, vx, vy = sc.x_pool[pool], sc.x_val, np.asarray(sc.y_val, np.int32)
    prov_lab, prov_pool = np.asarray(sc.provenance)[lab], np.asarray(sc.provenance)[pool]
    corrupted = prov_lab != CLEAN
    if scenario == "flip":
        corrupted = prov_lab == MISLABELED
    clean_pool = prov_pool == CLEAN
    head = build_model_component(ModelConfig(name="linear"), C)
    key = jax.random.key(seed)
    variables = head.fit(key, lx, ly, vx, vy).variables
    probs = predict(head.module, variables, px, batch_size=8192)["probs"]

    def fit_eval(keep: np.ndarray) -> float:
        if not keep.any():
            return 1.0 / C
        v = head.fit(key, lx[keep], ly[keep], vx, vy, capacity=len(lx)).variables
        logits = predict(head.module, v, sc.x_test, batch_size=8192)["logits"]
        return float(np.mean(np.argmax(logits, -1) == sc.y_test))

    out = {"labeled": {}, "pool": {}, "corruption_rate_labeled": float(corrupted.mean()),
           "non_clean_rate_pool": float((~clean_pool).mean())}
    cap = int(np.bincount(ly, minlength=C).max())
    for name, opts in _valuations(num_bags):
        if name == "threshold":
            opts = {"tau": _tau(lx, vx, K)}
        vcfg = ValuationConfig(name=name, k=K, options=opts)
        valuation = build_valuation(vcfg)
        t0 = time.perf_counter()
        values = np.asarray(valuation.values(lx, ly, vx, vy, num_classes=C, train_mask=None,
                                             mesh=None, key=jax.random.fold_in(key, 7)))
        row = {"seconds": time.perf_counter() - t0}
        if corrupted.any() and not corrupted.all():
            row.update(auroc=detection_auroc(values, corrupted),
                       ap=detection_average_precision(values, corrupted),
                       f1=detection_f1(values, corrupted))
        for mode in ("remove", "add"):
            for order in ("high_first", "low_first"):
                fr = CURVE if mode == "remove" else CURVE[1:]
                _, scores, area = removal_curve(values, fit_eval, fractions=fr, order=order,
                                                mode=mode)
                row[f"{mode}_{order}"] = {"scores": scores.tolist(), "area": area}
        out["labeled"][name] = row
        for est, eopts, label in ESTIMATORS:
            if est == "insertion" and valuation.joining_values is None:
                continue  # no closed-form joining value: not defined for this valuation
            estimator = build_estimator(EstimatorConfig(name=est, options=eopts))
            x = EstimateInputs(labeled_emb=lx, labeled_y=ly, labeled_values=values,
                               labeled_mask=None, pool_emb=px, pool_probs=probs, val_emb=vx,
                               val_y=vy, num_classes=C, class_capacity=cap)
            pv = np.asarray(estimator.estimate(x, valuation=valuation, mesh=None))
            out["pool"][f"{name} x {label}"] = _pool_metrics(pv, clean_pool)
    pin = PrefilterInputs(pool_emb=px, pool_probs=probs, pool_mask=np.ones(len(px), bool),
                          values=None, val_emb=vx)
    for ctrl in CONTROLS:
        if ctrl == "random":
            s = np.random.default_rng(20_000 + seed).random(len(px))
        else:
            s = np.asarray(build_prefilter(ctrl).score(jax.random.key(0), pin), np.float64)
        out["pool"][f"control: {ctrl}"] = _pool_metrics(s, clean_pool)
    return out


def _pool_metrics(values: np.ndarray, clean: np.ndarray) -> dict:
    top = top_fraction_non_clean(values, ~clean, FRACTIONS)
    row = {f"top{int(round(100 * f))}_non_clean": float(top[f]) for f in FRACTIONS}
    if clean.any() and not clean.all():
        row["auroc"] = pool_auroc(values, clean)
    return row


# ---------------------------------------------------------------------------
# Summary: mean and 95% interval over seeds; paired differences to the proximity control.
# ---------------------------------------------------------------------------


def _ci(values) -> dict:
    v = np.asarray(values, np.float64)
    c = paired_difference(v, np.zeros_like(v))
    return {"mean": c.mean, "lo": c.lo, "hi": c.hi, "n": c.n}


def summarize(per_seed: dict[str, list[dict]]) -> dict:
    out = {}
    for scen, runs in per_seed.items():
        s = {"labeled": {}, "pool": {}, "vs_proximity": {}}
        for name in runs[0]["labeled"]:
            rows = [r["labeled"][name] for r in runs]
            entry = {m: _ci([r[m] for r in rows]) for m in ("auroc", "ap", "f1") if m in rows[0]}
            for curve in ("remove_high_first", "remove_low_first", "add_high_first",
                          "add_low_first"):
                entry[f"{curve}_area"] = _ci([r[curve]["area"] for r in rows])
            entry["seconds"] = float(np.mean([r["seconds"] for r in rows]))
            s["labeled"][name] = entry
        prox = np.asarray([r["pool"]["control: proximity"]["top20_non_clean"] for r in runs])
        for name in runs[0]["pool"]:
            rows = [r["pool"][name] for r in runs]
            s["pool"][name] = {m: _ci([r[m] for r in rows]) for m in rows[0]}
            if name != "control: proximity":
                d = paired_difference(np.asarray([r["top20_non_clean"] for r in rows]), prox)
                s["vs_proximity"][name] = {"mean": d.mean, "lo": d.lo, "hi": d.hi,
                                           "verdict": {"better": "more non-clean",
                                                       "worse": "less non-clean",
                                                       "level": "level"}[d.verdict]}
        s["corruption_rate_labeled"] = float(np.mean([r["corruption_rate_labeled"] for r in runs]))
        s["non_clean_rate_pool"] = float(np.mean([r["non_clean_rate_pool"] for r in runs]))
        out[scen] = s
    return out


def _fmt(c: dict, pct: bool = False, digits: int = 3) -> str:
    if c is None or c.get("mean") is None or (isinstance(c["mean"], float) and math.isnan(c["mean"])):
        return "-"
    k = 100 if pct else 1
    d = 1 if pct else digits
    if c.get("lo") is None or math.isnan(c["lo"]):
        return f"{k * c['mean']:.{d}f}"
    return f"{k * c['mean']:.{d}f} [{k * c['lo']:.{d}f}, {k * c['hi']:.{d}f}]"


def to_markdown(summary: dict, meta: dict) -> str:
    lines = [f"# Value quality ({meta['preset']})", "",
             f"Seeds: {meta['seeds']}; labeled set: {meta['labeled']}; backbone: "
             f"`{meta['backbone']}`. Mean over seeds with 95% t-intervals "
             "(`experiments/value_quality.py`; definitions in `ads_jax/value_quality.py`).", ""]
    for scen, s in summary.items():
        lines += [f"## {scen}", "",
                  f"Corrupted share of the labeled set {100 * s['corruption_rate_labeled']:.1f}%, "
                  f"non-clean share of the pool {100 * s['non_clean_rate_pool']:.1f}%.", "",
                  "Labeled points (the valuation alone): detection of corrupted points, and "
                  "test accuracy areas of the removal / addition curves.", "",
                  "| valuation | AUROC | AP | F1 | remove high-first | remove low-first | "
                  "add high-first | add low-first | s |", "|---|---|---|---|---|---|---|---|---:|"]
        for name, e in s["labeled"].items():
            lines.append(f"| `{name}` | {_fmt(e.get('auroc'))} | {_fmt(e.get('ap'))} | "
                         f"{_fmt(e.get('f1'))} | {_fmt(e['remove_high_first_area'], True)} | "
                         f"{_fmt(e['remove_low_first_area'], True)} | "
                         f"{_fmt(e['add_high_first_area'], True)} | "
                         f"{_fmt(e['add_low_first_area'], True)} | {e['seconds']:.2f} |")
        if s["non_clean_rate_pool"] == 0:
            lines += ["", "The pool is clean in this scenario (only the seed set's labels are "
                      "flipped): it tests the values of labeled points only.", ""]
            continue
        lines += ["", "Pool (valuation x estimator, and the value-free controls): non-clean share "
                  "(%) of the top 10 / 20 / 30% by predicted value, AUROC for clean, and the "
                  "top-20% non-clean share minus the proximity control's (paired by seed).", "",
                  "| valuation / estimator | top 10% | top 20% | top 30% | AUROC | "
                  "vs proximity (top 20%) |", "|---|---|---|---|---|---|"]
        for name, e in s["pool"].items():
            vp = s["vs_proximity"].get(name)
            vs = "-" if vp is None else (f"{100 * vp['mean']:+.1f} [{100 * vp['lo']:+.1f}, "
                                         f"{100 * vp['hi']:+.1f}] {vp['verdict']}")
            lines.append(f"| {name} | {_fmt(e['top10_non_clean'], True)} | "
                         f"{_fmt(e['top20_non_clean'], True)} | {_fmt(e['top30_non_clean'], True)}"
                         f" | {_fmt(e.get('auroc'))} | {vs} |")
        lines.append("")
    return "\n".join(lines)


def plot(summary: dict, path: Path) -> str:
    import matplotlib  # optional at import time: only the figure needs it

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt  # noqa: E402 (after the backend choice)

    scens = [k for k, v in summary.items() if v["non_clean_rate_pool"] > 0]
    fig, axes = plt.subplots(1, len(scens), figsize=(4.2 * len(scens), 5.2), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, scen in zip(axes, scens):
        names = list(summary[scen]["pool"])
        m = [100 * summary[scen]["pool"][n]["top20_non_clean"]["mean"] for n in names]
        lo = [100 * (e["top20_non_clean"]["mean"] - e["top20_non_clean"]["lo"])
              for e in (summary[scen]["pool"][n] for n in names)]
        hi = [100 * (e["top20_non_clean"]["hi"] - e["top20_non_clean"]["mean"])
              for e in (summary[scen]["pool"][n] for n in names)]
        colors = ["#999999" if n.startswith("control") else "#4c72b0" for n in names]
        ax.barh(range(len(names)), m, xerr=[lo, hi], color=colors, capsize=2)
        ax.axvline(100 * summary[scen]["non_clean_rate_pool"], color="k", ls="--", lw=1)
        ax.axvline(30, color="r", ls=":", lw=1)
        ax.set_yticks(range(len(names)))
        ax.set_yticklabels(names, fontsize=7)
        ax.set_title(f"{scen}: top-20% non-clean (%)", fontsize=9)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("ADS filter quality: non-clean share of the top 20% of the pool "
                 "(95% CI; dashed = pool, dotted = 30%)", fontsize=10)
    fig.tight_layout()
    return atomic_savefig(fig, path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=("cpu", "tiny"), default="cpu")
    p.add_argument("--backbone", help="backbone directory (default: the preset's)")
    p.add_argument("--seeds", help="comma-separated seeds (default: the preset's)")
    p.add_argument("--scenarios", help="comma-separated subset of noise,ood,shift,flip")
    p.add_argument("--cache", help="embedding cache (default: $ADS_JAX_CACHE_DIR or ~/.cache)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--report-only", action="store_true",
                   help="rewrite the Markdown and the figure from the preset's JSON")
    args = p.parse_args(argv)
    stem = args.out / f"value_quality_{args.preset}"
    if args.report_only:
        saved = read_json(f"{stem}.json", what="Value-quality results")
        atomic_write(f"{stem}.md", to_markdown(saved["summary"], saved["meta"]))
        plot(saved["summary"], Path(f"{stem}.png"))
        print(f"rewrote {stem}.{{md,png}}")
        return 0
    pre = presets()[args.preset]
    if args.preset == "tiny" and args.backbone is None:  # seconds; a finished one is reused
        train_backbone(backbone_configs("tiny")["large"], TINY_BACKBONES["large"])
    seeds = tuple(int(s) for s in args.seeds.split(",")) if args.seeds else pre["seeds"]
    scenarios = pre["scenarios"]
    if args.scenarios:
        scenarios = {k: scenarios[k] for k in args.scenarios.split(",")}
    per_seed: dict[str, list[dict]] = {}
    t_all = time.perf_counter()
    backbone = None
    for scen, data in scenarios.items():
        if args.backbone:
            data = dict(data, backbone=args.backbone)
        cfg = ScenarioConfig(**data)
        backbone = load_backbone(cfg.backbone)
        datasets = load_scenario_datasets(cfg)
        per_seed[scen] = []
        for seed in seeds:
            t0 = time.perf_counter()
            per_seed[scen].append(run_one(scen, cfg, seed, n_lab=pre["labeled"],
                                          num_bags=pre["num_bags"], backbone=backbone,
                                          datasets=datasets, cache=args.cache))
            print(f"[{scen} | seed {seed}] {time.perf_counter() - t0:.1f} s", flush=True)
    summary = summarize(per_seed)
    meta = {"preset": args.preset, "seeds": list(seeds), "labeled": pre["labeled"],
            "backbone": backbone.directory, "backbone_fingerprint": backbone.fingerprint,
            "seconds": time.perf_counter() - t_all,
            "command": f"python experiments/value_quality.py --preset {args.preset}"}
    atomic_write_json(f"{stem}.json", {"meta": meta, "summary": summary, "per_seed": per_seed},
                      allow_nan=True)
    md = to_markdown(summary, meta)
    atomic_write(f"{stem}.md", md)
    plot(summary, Path(f"{stem}.png"))
    print(md)
    print(f"wrote {stem}.{{json,md,png}} in {meta['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
