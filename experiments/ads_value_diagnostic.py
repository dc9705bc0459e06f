"""Does the ADS value signal separate noisy from clean points? A diagnostic.

Trains the model of an experiment config on a labeled set that mixes the
seed set (noisy points included under ``noisy_initial``) with extra clean and
noisy pool points, then reports

* the mean value of the clean and of the noisy labeled points under the
  config's valuation (``acquisition.valuation``; exact KNN-Shapley against the
  validation set by default), and
* the share of noisy points among the top ``preselect_fraction`` of the
  unlabeled pool ranked by the regressed value, for a few regression settings
  (the pool's own noisy share is the no-information baseline).

Usage::

    python experiments/ads_value_diagnostic.py [CONFIG] [--clean 20] [--noisy 60] [FIELD=VALUE ...]

CONFIG defaults to the built-in ``demo`` (digits, 80% noisy pool).
"""

from __future__ import annotations

import argparse
import sys

import jax
import jax.numpy as jnp
import numpy as np

from ads_jax.configs import resolve as resolve_config
from ads_jax.data import NOISY, build_scenario
from ads_jax.models import build_model_component
from ads_jax.training import predict
from ads_jax.valuation import build_valuation
from ads_jax.valuation.regression import predict_values

SETTINGS = [  # (regression_k, weights, top_t, aggregate)
    (10, "uniform", 10, "max"),  # the first default: degenerate on small labeled sets
    (10, "distance", 10, "mean"),  # the current default (KNNRegressionOptions)
    (10, "distance", 10, "max"),
    (3, "uniform", 10, "mean"),
    (3, "distance", 3, "prob_weighted"),
    (1, "uniform", 1, "max"),
]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config", nargs="?", default="demo")
    p.add_argument("--clean", type=int, default=20, help="extra clean labeled points")
    p.add_argument("--noisy", type=int, default=60, help="noisy labeled points")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("overrides", nargs="*")
    a = p.parse_intermixed_args(argv)
    cfg = resolve_config(a.config, a.overrides)
    sc = build_scenario(cfg.data, a.seed)
    rng = np.random.default_rng(a.seed)
    clean = np.setdiff1d(np.flatnonzero(sc.provenance == 0), sc.labeled_init)
    noisy = np.flatnonzero(sc.provenance == NOISY)
    lab = np.concatenate([sc.labeled_init, rng.choice(clean, a.clean, replace=False),
                          rng.choice(noisy, a.noisy, replace=False)]).astype(np.int32)
    model = build_model_component(cfg.model, sc.num_classes)  # model.name: wrn, linear, mlp...
    res = model.fit(jax.random.key(a.seed), sc.x_pool[lab], sc.y_pool[lab], sc.x_val, sc.y_val,
                    cfg.train)
    net = model.module
    acc = float(np.mean(predict(net, res.variables, sc.x_test)["logits"].argmax(-1) == sc.y_test))
    pool, val = predict(net, res.variables, sc.x_pool), predict(net, res.variables, sc.x_val)
    emb, probs = pool["embeddings"], pool["probs"]
    unl = np.setdiff1d(np.arange(len(sc.x_pool)), lab)
    is_noisy_lab = sc.provenance[lab] == NOISY
    is_noisy_unl = sc.provenance[unl] == NOISY
    acq = cfg.acquisition
    vc = acq.valuation
    values = np.asarray(build_valuation(vc).values(
        jnp.asarray(emb[lab]), jnp.asarray(sc.y_pool[lab], jnp.int32),
        jnp.asarray(val["embeddings"]), jnp.asarray(sc.y_val, jnp.int32),
        num_classes=sc.num_classes, train_mask=None, mesh=None,
        key=jax.random.fold_in(jax.random.key(a.seed), 2)))
    print(f"{cfg.data.dataset}: labeled {lab.size} ({is_noisy_lab.sum()} noisy), "
          f"{cfg.model.label}, test accuracy {100 * acc:.1f}%")
    print(f"valuation {vc.name} (K={vc.k}) mean value: clean "
          f"{values[~is_noisy_lab].mean():.4f}, noisy {values[is_noisy_lab].mean():.4f}")
    m = int(np.ceil(acq.preselect.fraction * unl.size))
    print(f"noisy share of the unlabeled pool: {100 * is_noisy_unl.mean():.1f}%; "
          f"in the top {m} by regressed value:")
    for k, w, t, agg in SETTINGS:
        pv = np.asarray(predict_values(emb[lab], sc.y_pool[lab], values, emb[unl], probs[unl],
                                       num_classes=sc.num_classes, k=k, top_t=t, aggregate=agg,
                                       weights=w))
        top = np.argsort(-pv, kind="stable")[:m]
        print(f"  regression_k={k:2d} weights={w:8s} top_t={t:2d} aggregate={agg:13s}: "
              f"{100 * is_noisy_unl[top].mean():5.1f}%  ({np.unique(pv).size} distinct values)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
