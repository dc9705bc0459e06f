"""Training benchmark: WRN throughput and small-label CIFAR-10 accuracy (issue 4).

Modes (run one or several):
  --throughput  training images/s of WRN-16-2 and WRN-16-8 on 32x32x3 after compilation,
                for ads_jax's train step (augmentation + masked weighted loss + masked BN +
                traced LR schedule) and, as the in-run baseline, a minimal Flax/optax step
                on the same model (no augmentation, plain mean loss, optax.sgd).
  --accuracy    WRN-16-2 trained with ``ads_jax.training.fit`` on 5,000 CIFAR-10 training
                images; 1,000 *other* training images are the validation set (early
                stopping / model selection); the 1,017 partial test images are the test
                set. In-run baseline: logistic regression on raw pixels (scikit-learn).
  --gpu         WRN-28-10 bfloat16 throughput (target >= 5,000 img/s on one H100) and the
                CIFAR-10 accuracy from 5,000 labels (the paper's first round), 200 epochs.

Example (CPU, as recorded in docs/bench/training.md):
  python experiments/benchmarks/training.py --throughput --accuracy --epochs 12 \
      --out docs/bench/training.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ads_jax.models import ModelConfig, build_model
from ads_jax.training import TrainConfig, evaluate, fit, init_train_state, to_float
from ads_jax.training.parallel import data_mesh, replicate, shard_batch
from ads_jax.training.steps import StepOptions, train_step_fn

CIFAR = "/work/shared/data/cifar10/cifar10.npz"


def _baseline_step(model):
    """Minimal Flax train step: the reference a user would write by hand."""
    tx = optax.sgd(0.1, momentum=0.9, nesterov=True)

    @jax.jit
    def step(params, batch_stats, opt_state, x, y):
        def loss_fn(p):
            (logits, _), mut = model.apply({"params": p, "batch_stats": batch_stats}, to_float(x),
                                           train=True, mutable=["batch_stats"])
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), mut
        (loss, mut), g = jax.value_and_grad(loss_fn, has_aux=True)(params)
        u, opt_state = tx.update(g, opt_state, params)
        return optax.apply_updates(params, u), mut["batch_stats"], opt_state, loss
    return step, tx


def throughput(name: str, dtype: str, batch: int, steps: int, data_parallel: bool) -> dict:
    model = build_model(ModelConfig(depth=int(name.split("-")[1]), width=int(name.split("-")[2]),
                                    dtype=dtype), 10)
    cfg = TrainConfig(data_parallel=data_parallel)
    mesh = data_mesh(data_parallel)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, batch).astype(np.int32)
    w = np.ones(batch, np.float32)
    state = replicate(init_train_state(jax.random.key(0), model, (32, 32, 3), cfg), mesh)
    hp = replicate({"base_lr": jnp.float32(0.1), "total_steps": jnp.int32(10_000),
                    "warmup_steps": jnp.int32(0)}, mesh)
    step = train_step_fn(model, StepOptions.from_config(cfg), mesh)
    xs, ys, ws = shard_batch(x, mesh), shard_batch(y, mesh), shard_batch(w, mesh)
    key = jax.random.key(1)
    t0 = time.perf_counter()
    state, m = step(state, hp, xs, ys, ws, key)
    jax.block_until_ready(m)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(steps):
        state, m = step(state, hp, xs, ys, ws, jax.random.fold_in(key, i))
    jax.block_until_ready((state, m))
    ours = batch * steps / (time.perf_counter() - t0)

    bstep, tx = _baseline_step(model)
    p, bs = state.params, state.batch_stats
    os_ = tx.init(p)
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    p, bs, os_, loss = bstep(p, bs, os_, xj, yj)
    jax.block_until_ready(loss)
    t0 = time.perf_counter()
    for _ in range(steps):
        p, bs, os_, loss = bstep(p, bs, os_, xj, yj)
    jax.block_until_ready(loss)
    base = batch * steps / (time.perf_counter() - t0)
    return {"model": name, "dtype": dtype, "batch": batch, "steps": steps,
            "devices": 1 if mesh is None else int(mesh.devices.size),
            "compile_s": round(compile_s, 1), "img_per_s": round(ours, 1),
            "baseline_img_per_s": round(base, 1), "ratio_vs_baseline": round(ours / base, 3)}


def accuracy(model_name: str, n_train: int, n_val: int, epochs: int, batch: int, lr: float,
             patience: int | None, seed: int, dtype: str = "float32",
             checkpoint_dir: str | None = None) -> dict:
    d = np.load(CIFAR)
    x_all, y_all = d["x_train"], d["y_train"].astype(np.int32)
    perm = np.random.default_rng(seed).permutation(len(x_all))
    tr, va = perm[:n_train], perm[n_train:n_train + n_val]
    x_test, y_test = d["x_test_partial"], d["y_test_partial"].astype(np.int32)
    depth, width = (int(v) for v in model_name.split("-")[1:])
    model = build_model(ModelConfig(depth=depth, width=width, dtype=dtype), 10)
    cfg = TrainConfig(epochs=epochs, batch_size=batch, learning_rate=lr, schedule="cosine",
                      patience=patience, augment=True, flip=True)
    t0 = time.perf_counter()
    res = fit(jax.random.key(seed), model, x_all[tr], y_all[tr], x_all[va], y_all[va], cfg,
              checkpoint_dir=checkpoint_dir)
    fit_s = time.perf_counter() - t0
    test_acc = evaluate(model, res.variables, x_test, y_test)

    # in-run baseline: multinomial logistic regression on raw pixels
    from sklearn.linear_model import LogisticRegression

    t1 = time.perf_counter()
    flat = lambda a: to_float(a).reshape(len(a), -1).__array__()  # noqa: E731
    lr_clf = LogisticRegression(max_iter=100, C=0.01).fit(flat(x_all[tr]), y_all[tr])
    base_val = float(lr_clf.score(flat(x_all[va]), y_all[va]))
    base_test = float(lr_clf.score(flat(x_test), y_test))
    return {"model": model_name, "dtype": dtype, "n_train": n_train, "n_val": n_val,
            "epochs_max": epochs, "epochs_run": res.epochs_run, "best_epoch": res.best_epoch,
            "batch": batch, "lr": lr, "patience": patience,
            "val_accuracy": res.history[res.best_epoch - 1]["val_accuracy"],
            "test_accuracy_1017": test_acc, "fit_s": round(fit_s, 1),
            "s_per_epoch": round(float(np.mean([h["time_s"] for h in res.history])), 1),
            "baseline_logreg_val": base_val, "baseline_logreg_test": base_test,
            "baseline_s": round(time.perf_counter() - t1, 1),
            "history": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in h.items()}
                        for h in res.history]}


def to_markdown(results: dict, command: str) -> str:
    lines = ["## Training (issue 4): WideResNet on CPU", "",
             f"Command: `{command}`", "",
             f"Machine: {platform.machine()} {os.cpu_count()} CPU cores shared with other "
             f"jobs; jax {jax.__version__}, backend {jax.default_backend()}, "
             f"{jax.device_count()} device(s).", ""]
    if "throughput" in results:
        lines += ["### Training throughput (32x32x3, after compilation)", "",
                  "| model | dtype | batch | ads_jax step img/s | minimal Flax step img/s | ratio | "
                  "compile s |", "|---|---|---|---|---|---|---|"]
        for r in results["throughput"]:
            lines.append(f"| {r['model']} | {r['dtype']} | {r['batch']} | {r['img_per_s']} | "
                         f"{r['baseline_img_per_s']} | {r['ratio_vs_baseline']} | "
                         f"{r['compile_s']} |")
        lines += ["", "The ads_jax step also does the on-device pad+crop+flip augmentation, the "
                  "zero-weight padding mask (loss and BN statistics) and the traced LR "
                  "schedule; the minimal step does none of these.", ""]
    if "accuracy" in results:
        r = results["accuracy"]
        lines += [f"### CIFAR-10, WRN-16-2 from {r['n_train']:,} labels", "",
                  f"Train {r['n_train']:,} / validation {r['n_val']} disjoint CIFAR-10 training "
                  f"images (seeded permutation), test = the 1,017 partial test images. SGD "
                  f"Nesterov 0.9, lr {r['lr']}, cosine over {r['epochs_max']} epochs, batch "
                  f"{r['batch']}, wd 5e-4, pad-4 crop + flip, patience {r['patience']}.", "",
                  "| | validation acc | test acc (1,017) | wall |", "|---|---|---|---|",
                  f"| WRN-16-2, {r['epochs_run']} epochs (best {r['best_epoch']}) | "
                  f"{r['val_accuracy']:.4f} | {r['test_accuracy_1017']:.4f} | {r['fit_s']} s "
                  f"({r['s_per_epoch']} s/epoch) |",
                  f"| baseline: logistic regression on pixels | {r['baseline_logreg_val']:.4f} | "
                  f"{r['baseline_logreg_test']:.4f} | {r['baseline_s']} s |", "",
                  f"Ratio WRN-16-2 / baseline test accuracy: "
                  f"{r['test_accuracy_1017'] / r['baseline_logreg_test']:.2f}.", "",
                  "Per-epoch history (val accuracy): "
                  + ", ".join(f"{h['epoch']}: {h['val_accuracy']:.3f}" for h in r["history"]), ""]
    if "gpu" in results:
        lines += ["### GPU", "", "```", json.dumps(results["gpu"], indent=1), "```", ""]
    else:
        lines += ["### GPU (not measured)", "",
                  "No GPU was lent for this task. `--gpu` measures WRN-28-10 bfloat16 training "
                  "throughput (target >= 5,000 img/s on one H100) and CIFAR-10 accuracy from "
                  "5,000 labels; both are **not measured** yet.", ""]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--throughput", action="store_true")
    ap.add_argument("--accuracy", action="store_true")
    ap.add_argument("--gpu", action="store_true")
    ap.add_argument("--models", default="wrn-16-2,wrn-16-8")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--n-val", type=int, default=1000)
    ap.add_argument("--patience", type=int, default=None)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint-dir", default=None)
    ap.add_argument("--out", default=None, help="markdown fragment to write")
    ap.add_argument("--json", default=None, help="raw results to write")
    a = ap.parse_args(argv)
    results: dict = {}
    if a.throughput:
        results["throughput"] = []
        for name in a.models.split(","):
            r = throughput(name, "float32", a.batch, a.steps, data_parallel=True)
            print(json.dumps(r), flush=True)
            results["throughput"].append(r)
    if a.accuracy:
        r = accuracy("wrn-16-2", a.n_train, a.n_val, a.epochs, a.batch, a.lr, a.patience, a.seed,
                     checkpoint_dir=a.checkpoint_dir)
        print(json.dumps({k: v for k, v in r.items() if k != "history"}), flush=True)
        results["accuracy"] = r
    if a.gpu:
        if jax.default_backend() != "gpu":
            sys.exit("--gpu needs a CUDA backend (pip install -U 'jax[cuda12]').")
        results["gpu"] = {
            "throughput": throughput("wrn-28-10", "bfloat16", 512, 20, data_parallel=True),
            "accuracy": {k: v for k, v in accuracy(
                "wrn-28-10", 5000, 1000, 200, 128, 0.1, None, a.seed,
                dtype="bfloat16").items() if k != "history"},
        }
        print(json.dumps(results["gpu"]), flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    if a.out:
        cmd = "python experiments/benchmarks/training.py " + " ".join(
            sys.argv[1:] if argv is None else argv)
        with open(a.out, "w") as f:
            f.write(to_markdown(results, cmd))


if __name__ == "__main__":
    main()
