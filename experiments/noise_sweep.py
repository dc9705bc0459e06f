"""When does the ADS value filter see the noise? A sweep over noise power and settings.

For each noise law (``noise_beta`` a, b and ``noise_scale``) of a noisy-pool
experiment config and each labeled-set composition, this trains the config's
model once and then, on the same embeddings, measures

* how destroyed the noisy images are: accuracy of the trained model on the
  clean and on the noisy unlabeled pool points (chance = 1/C);
* the value gap between clean and noisy *labeled* points under the config's
  valuation (``acquisition.valuation``, default exact KNN-Shapley; mean values
  and AUC = P(value of a random clean point > value of a random noisy one);
  0.5 = no separation), for several K;
* the noisy share among the top ``preselect_fraction`` of the unlabeled pool
  ranked by the regressed value (the pool's own noisy share = no information),
  for several regression settings (neighbours k, weights, top-T, aggregate),
  and how many distinct values the regressor produced.

Labeled-set compositions (``--compositions``):

* ``clean``: the (clean) seed set plus ``--extra`` clean pool points (what
  round 0 looks like with a clean seed set: no noisy labeled point);
* ``mixed``: the seed set plus ``--extra`` points drawn uniformly from the
  unlabeled pool (mostly noisy, like the labeled set after acquisitions that
  do not avoid noise).

Usage::

    python experiments/noise_sweep.py [CONFIG] [--noise 2,5,1 5,2,1 ...] [--extra 60]
        [--seeds 0 1] [--compositions clean mixed] [FIELD=VALUE ...]

CONFIG defaults to the built-in ``demo`` (digits). Prints one block per
(noise, composition, seed) and a summary table averaged over seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import defaultdict

import jax
import jax.numpy as jnp
import numpy as np

from ads_jax.config_engine import apply_overrides
from ads_jax.configs import resolve as resolve_config
from ads_jax.data import NOISY, build_scenario
from ads_jax.models import build_model_component
from ads_jax.training import predict
from ads_jax.valuation import build_valuation
from ads_jax.valuation.regression import predict_values

SHAPLEY_K = (5, 10)
# (name, regression_k, weights, top_t, aggregate)
REGRESSIONS = [
    ("k10 unif T10 max", 10, "uniform", 10, "max"),  # the old default
    ("k5 unif T10 max", 5, "uniform", 10, "max"),
    ("k5 dist T10 max", 5, "distance", 10, "max"),
    ("k10 dist T10 max", 10, "distance", 10, "max"),
    ("k5 dist T10 mean", 5, "distance", 10, "mean"),
    ("k10 dist T10 mean", 10, "distance", 10, "mean"),
    ("k5 dist T3 max", 5, "distance", 3, "max"),
    ("k5 dist T3 pw", 5, "distance", 3, "prob_weighted"),
    ("k1 T1", 1, "uniform", 1, "max"),
]


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(pos > neg) + 0.5 P(pos == neg) over all pairs (Mann-Whitney AUC)."""
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    d = pos[:, None] - neg[None, :]
    return float((d > 0).mean() + 0.5 * (d == 0).mean())


def run_one(cfg, seed: int, composition: str, extra: int) -> dict:
    sc = build_scenario(cfg.data, seed)
    rng = np.random.default_rng(1000 + seed)
    unl0 = np.setdiff1d(np.arange(len(sc.x_pool)), sc.labeled_init)
    if composition == "clean":
        cand = unl0[sc.provenance[unl0] == 0]
    else:
        cand = unl0
    lab = np.concatenate([sc.labeled_init, rng.choice(cand, extra, replace=False)]).astype(np.int32)
    model = build_model_component(cfg.model, sc.num_classes)  # model.name: wrn, linear, mlp...
    res = model.fit(jax.random.key(seed), sc.x_pool[lab], sc.y_pool[lab], sc.x_val, sc.y_val,
                    cfg.train)
    net = model.module
    pool, val = predict(net, res.variables, sc.x_pool), predict(net, res.variables, sc.x_val)
    emb, probs = pool["embeddings"], pool["probs"]
    unl = np.setdiff1d(np.arange(len(sc.x_pool)), lab)
    nl = sc.provenance[lab] == NOISY
    nu = sc.provenance[unl] == NOISY
    pred = probs[unl].argmax(1)
    correct = pred == sc.y_true[unl]
    out = dict(acc_clean=correct[~nu].mean(), acc_noisy=correct[nu].mean() if nu.any() else np.nan,
               n_noisy_lab=int(nl.sum()), n_lab=int(lab.size), pool_noisy=nu.mean())
    m = int(np.ceil(cfg.acquisition.preselect.fraction * unl.size))
    for K in SHAPLEY_K:
        valuation = build_valuation(dataclasses.replace(cfg.acquisition.valuation, k=K))
        v = np.asarray(valuation.values(
            jnp.asarray(emb[lab]), jnp.asarray(sc.y_pool[lab], jnp.int32),
            jnp.asarray(val["embeddings"]), jnp.asarray(sc.y_val, jnp.int32),
            num_classes=sc.num_classes, train_mask=None, mesh=None,
            key=jax.random.fold_in(jax.random.key(seed), 2)))
        out[f"K{K} v_clean"] = v[~nl].mean()
        out[f"K{K} v_noisy"] = v[nl].mean() if nl.any() else np.nan
        out[f"K{K} auc"] = auc(v[~nl], v[nl])
        for name, k, w, t, agg in REGRESSIONS:
            pv = np.asarray(predict_values(emb[lab], sc.y_pool[lab], v, emb[unl], probs[unl],
                                           num_classes=sc.num_classes, k=k, top_t=t,
                                           aggregate=agg, weights=w))
            top = np.argsort(-pv, kind="stable")[:m]
            out[f"K{K} {name} top%"] = 100 * nu[top].mean()
            out[f"K{K} {name} distinct"] = np.unique(pv).size
            out[f"K{K} {name} auc"] = auc(pv[~nu], pv[nu])
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config", nargs="?", default="demo")
    p.add_argument("--noise", nargs="+", default=["2,5,1", "2,5,2", "1,1,1", "5,2,1"],
                   help="noise laws a,b,scale (std = scale * Beta(a,b) * 255 grey levels)")
    p.add_argument("--extra", type=int, default=60, help="labeled points added to the seed set")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--compositions", nargs="+", default=["clean", "mixed"])
    p.add_argument("overrides", nargs="*")
    a = p.parse_intermixed_args(argv)
    base = resolve_config(a.config, a.overrides)
    t0 = time.perf_counter()
    summary = defaultdict(list)
    for noise in a.noise:
        na, nb, ns = (float(s) for s in noise.split(","))
        # The seed set is always clean here (noisy_initial=False): the
        # composition alone decides whether noisy points are labeled.
        cfg = apply_overrides(base, [f"data.noise_beta=[{na},{nb}]", f"data.noise_scale={ns}",
                                     "data.noisy_initial=false"])
        for comp in a.compositions:
            for seed in a.seeds:
                r = run_one(cfg, seed, comp, a.extra)
                summary[(noise, comp)].append(r)
                print(f"[{time.perf_counter() - t0:6.0f}s] noise {noise} {comp} seed {seed}: "
                      f"acc clean/noisy pool {100 * r['acc_clean']:.0f}/{100 * r['acc_noisy']:.0f}%"
                      f", K5 value clean/noisy {r['K5 v_clean']:.4f}/{r['K5 v_noisy']:.4f} "
                      f"(AUC {r['K5 auc']:.2f}), top-20% noisy (pool {100 * r['pool_noisy']:.0f}%):"
                      f" old default {r['K5 k10 unif T10 max top%']:.0f}%, "
                      f"new default {r['K5 k10 dist T10 mean top%']:.0f}%", flush=True)
    print(f"\nmean over seeds {a.seeds}; config {a.config}, labeled = seed set + {a.extra}")
    keys = [k for k in next(iter(summary.values()))[0] if k not in ("n_lab",)]
    for (noise, comp), rs in summary.items():
        print(f"\n== noise a,b,scale = {noise}, labeled set {comp} "
              f"({rs[0]['n_lab']} labeled, {np.mean([r['n_noisy_lab'] for r in rs]):.0f} noisy)")
        for k in keys:
            vals = np.array([r[k] for r in rs], float)
            print(f"  {k:32s} {np.nanmean(vals):10.4f}")
    print(f"wall time {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
