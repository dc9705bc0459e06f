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
  --gpu         the configuration of the accelerator preset (``--preset``, default
                ``paper_cifar10:paper_gpu``: WRN-28-10 bfloat16, its TrainConfig -- batch 128,
                <= 100 epochs, patience 10, per-epoch checkpoints every 5 epochs written
                asynchronously, deterministic GPU kernels): throughput of fit's own train
                step at the preset's batch size and the run's labeled capacity (L0 + R x B),
                and the first round's fit (the preset's initial_labeled CIFAR-10 labels,
                val_size validation images carved from the train split, test = the 1,017
                partial test images) with its checkpoints written into a temporary directory,
                so checkpoint time is part of the timing.
  --gpu-raw     the old raw-throughput mode: WRN-28-10 bfloat16, batch 512, host-fed step
                (target >= 5,000 img/s on one H100).

Example (CPU, as recorded in docs/bench/training.md):
  python experiments/benchmarks/training.py --throughput --accuracy --epochs 12 \
      --out docs/bench/training.md
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ads_jax.configs import resolve as resolve_config
from ads_jax.determinism import ensure_deterministic_ops
from ads_jax.models import ModelConfig, build_model
from ads_jax.training import TrainConfig, evaluate, fit, init_train_state, to_float
from ads_jax.training.fit import _epoch_plan, _Layout, _put_plan, _put_train_data
from ads_jax.training.parallel import data_mesh, replicate, shard_batch
from ads_jax.training.steps import StepOptions, gather_step_fn, train_step_fn

CIFAR = "/work/shared/data/cifar10/cifar10.npz"
GPU_PRESET = "paper_cifar10:paper_gpu"


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


def run_capacity(cfg) -> int:
    """The labeled-buffer rows of a run of ``cfg`` (L0 + R x B, as ``loop._Capacity``)."""
    return cfg.data.initial_labeled + cfg.loop.rounds * cfg.acquisition.budget


def preset_throughput(spec: str, steps: int, image_shape=(32, 32, 3), num_classes: int = 10,
                      n_train: int | None = None) -> dict:
    """Images/s of ``fit``'s own train step (gathered batches from the on-device training
    buffer) with the preset's model and TrainConfig, at its batch size and the run's
    capacity; ``n_train`` real rows (default the preset's initial_labeled)."""
    cfg = resolve_config(spec)
    tcfg = cfg.train
    model = build_model(cfg.model, num_classes)
    mesh = data_mesh(tcfg.data_parallel)
    n_cap = run_capacity(cfg)
    n = n_train or cfg.data.initial_labeled
    lay = _Layout.make(n, tcfg.batch_size, n_cap, 1 if mesh is None else mesh.devices.size)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, *image_shape), dtype=np.uint8)
    y = rng.integers(0, num_classes, n).astype(np.int32)
    data = _put_train_data(x, y, n_cap, mesh)
    plan = _put_plan(_epoch_plan(rng.permutation(n), lay), mesh)
    state = replicate(init_train_state(jax.random.key(0), model, image_shape, tcfg), mesh)
    hp = replicate({"base_lr": jnp.float32(tcfg.learning_rate),
                    "total_steps": jnp.int32(tcfg.epochs * lay.steps),
                    "warmup_steps": jnp.int32(tcfg.warmup_epochs * lay.steps),
                    "steps_per_epoch": jnp.int32(lay.steps)}, mesh)
    k_step = replicate(jax.random.key(1), mesh)
    step = gather_step_fn(model, StepOptions.from_config(tcfg), mesh)
    t0 = time.perf_counter()
    state, m = step(state, hp, k_step, data, plan)
    jax.block_until_ready(m)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        state, m = step(state, hp, k_step, data, plan)
    jax.block_until_ready((state, m))
    dt = time.perf_counter() - t0
    return {"preset": spec, "model": cfg.model.name, "dtype": cfg.model.dtype,
            "batch": lay.batch, "capacity": n_cap, "steps": steps,
            "devices": 1 if mesh is None else int(mesh.devices.size),
            "compile_s": round(compile_s, 1), "img_per_s": round(lay.batch * steps / dt, 1),
            "s_per_step": round(dt / steps, 4)}


def preset_fit(spec: str, seed: int, epochs: int | None = None) -> dict:
    """The first round of the preset on the local CIFAR-10 copy: its initial_labeled train
    images, val_size validation images from the train split (disjoint), the 1,017 partial
    test images; the preset's TrainConfig with its checkpoints written to a temporary
    directory (checkpoint_every, async_checkpoint as configured)."""
    import tempfile

    cfg = resolve_config(spec)
    tcfg = cfg.train if epochs is None else dataclasses.replace(cfg.train, epochs=epochs)
    d = np.load(CIFAR)
    x_all, y_all = d["x_train"], d["y_train"].astype(np.int32)
    n_train, n_val = cfg.data.initial_labeled, cfg.data.val_size
    perm = np.random.default_rng(seed).permutation(len(x_all))
    tr, va = perm[:n_train], perm[n_train:n_train + n_val]
    x_test, y_test = d["x_test_partial"], d["y_test_partial"].astype(np.int32)
    model = build_model(cfg.model, 10)
    with tempfile.TemporaryDirectory() as ck:
        t0 = time.perf_counter()
        res = fit(jax.random.key(seed), model, x_all[tr], y_all[tr], x_all[va], y_all[va], tcfg,
                  checkpoint_dir=os.path.join(ck, "fit"), capacity=run_capacity(cfg))
        jax.block_until_ready(res.variables)
        fit_s = time.perf_counter() - t0
    test_acc = evaluate(model, res.variables, x_test, y_test,
                        batch_size=cfg.loop.eval_batch_size)
    return {"preset": spec, "model": cfg.model.name, "dtype": cfg.model.dtype,
            "n_train": n_train, "n_val": n_val, "epochs_max": tcfg.epochs,
            "epochs_run": res.epochs_run, "best_epoch": res.best_epoch,
            "batch": tcfg.batch_size, "checkpoint_every": tcfg.checkpoint_every,
            "async_checkpoint": tcfg.async_checkpoint, "deterministic": tcfg.deterministic,
            "val_accuracy": res.history[res.best_epoch - 1]["val_accuracy"],
            "test_accuracy_1017": test_acc, "fit_s": round(fit_s, 1),
            "s_per_epoch": round(float(np.mean([h["time_s"] for h in res.history])), 2)}


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
    if "gpu" in results or "gpu_raw" in results:
        lines += ["### GPU", "", "```", json.dumps({k: results[k] for k in ("gpu", "gpu_raw")
                                                    if k in results}, indent=1), "```", ""]
    else:
        lines += ["### GPU (not measured)", "",
                  f"No GPU was lent for this task. `--gpu` times the configuration of "
                  f"`{GPU_PRESET}` (WRN-28-10 bfloat16, batch 128, checkpoints every 5 epochs, "
                  "asynchronous, deterministic kernels): fit's train-step throughput and the "
                  "first round's fit from 5,000 labels; `--gpu-raw` the raw bf16 batch-512 "
                  "throughput (target >= 5,000 img/s on one H100). **Not measured** yet.", ""]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--throughput", action="store_true")
    ap.add_argument("--accuracy", action="store_true")
    ap.add_argument("--gpu", action="store_true",
                    help="time the accelerator preset's own configuration (--preset)")
    ap.add_argument("--gpu-raw", action="store_true",
                    help="raw WRN-28-10 bf16 batch-512 throughput (the old --gpu throughput)")
    ap.add_argument("--preset", default=GPU_PRESET, help="config of --gpu (default %(default)s)")
    ap.add_argument("--gpu-epochs", type=int, default=None,
                    help="cap the epochs of --gpu's fit (default: the preset's)")
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
    if a.gpu:  # before JAX starts its backends (XLA_FLAGS is read then)
        ensure_deterministic_ops(resolve_config(a.preset).train.deterministic)
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
    if (a.gpu or a.gpu_raw) and jax.default_backend() != "gpu":
        sys.exit("--gpu / --gpu-raw need a CUDA backend (pip install -U 'jax[cuda12]').")
    if a.gpu:
        results["gpu"] = {"throughput": preset_throughput(a.preset, 20),
                          "first_round_fit": preset_fit(a.preset, a.seed, a.gpu_epochs)}
        print(json.dumps(results["gpu"]), flush=True)
    if a.gpu_raw:
        results["gpu_raw"] = throughput("wrn-28-10", "bfloat16", 512, 20, data_parallel=True)
        print(json.dumps(results["gpu_raw"]), flush=True)
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
