r"""Figure 4 of the ADS paper (efficiency): time to select one batch with Core-set,
K-Medians and BADGE, each alone and behind ADS, for growing pools.

Arms: ``coreset`` (greedy k-center), ``kmedians``, ``badge`` on the whole pool,
and ``ads+<method>`` at the pre-selection fractions ``--fractions`` (default
0.3, the paper's fraction for curated CIFAR-10, and 0.1). The time of an ADS
arm is the whole acquisition step: KNN-Shapley valuation of the labeled
points, value regression to the pool, pre-selection and the method on the
candidates (plus the labeled points as centers). Speed-up = time of the
method alone / time of ``ads+<method>``.

Per cell (pool size, arm, fraction), in its own worker process (``--in-process``:
all in this one; the ``tiny`` preset's default), on the same inputs and key
(the ``MEASURES`` dict below and in the JSON says what each time field is):

* **program** -- :func:`ads_jax.acquisition.make_acquire_fn`, the one jitted
  program that the loop runs (valuation, regression, pre-selection and the
  selector), compiled ahead of time (``fn.lower(key, inputs).compile()``; its
  compile time and first call are recorded), then ``repeats`` timed calls of
  the compiled program: ``program_seconds`` (median) is *the* time per batch
  and the speed-ups are computed from it;
* **stages** -- :func:`ads_jax.acquisition.profile_acquisition`, the same
  stage functions as separate jitted programs blocking in between: one run to
  compile, then ``repeats`` timed runs; per-stage medians (valuation,
  regression, preselection, diversity; the diversity stage includes building
  the selector's compact sub-pool) show where the time goes; their total is
  not the program's time (no fusion across stages, one dispatch each). Their
  picks are checked against the program's (``stages_same_picks``);
* **memory** -- the process's peak resident set size
  (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) after the cell (and, on an
  accelerator, the device's ``peak_bytes_in_use``), next to the bytes of the
  inputs and what one pool x budget float32 matrix would take (the library
  never forms one; nor pool x pool).

Cells measured by earlier versions of this script (a "staged" and a "fused"
path, before the acquisition was one program; ``experiments/results/
fig4_efficiency_cpu.*`` were measured so) are never reused: a run re-measures
them, ``--no-run`` lists them as ignored (``old_cells_ignored``).

Embeddings (real images, tiled to 640 dimensions): a small WideResNet
(``model``) is trained from scratch for ``epochs`` epochs on the
``labeled`` images of the data set (a seeded permutation of its train
split), the next ``val`` images are the validation set and all remaining
train images are the pool's *source* images. The network's D-dimensional
features (64 x width) and softmax probabilities of every image are computed
once and cached (``<root>/embeddings.npz``). For a pool of U points, row i is
source image ``src[i mod N_src]`` (a seeded permutation), its embedding the
D-dim feature tiled ``dim / D`` times plus independent Gaussian noise of std
``noise`` x the RMS per-feature std of the source features (so no two rows
are equal), its probabilities the source image's softmax. Labeled and
validation embeddings are tiled and perturbed the same way; labels are the
true labels; labeled probabilities are the model's. Pools beyond N_src rows
repeat source images (with fresh noise): these are near-duplicates, which
k-center, K-Medians and BADGE treat as distinct points.

Presets (``--preset``):

* ``paper`` -- pools of 50,000, 100,000, 250,000 and 500,000 points, B = 5,000,
  d = 640, 5,000 labeled (the paper's initial set), 500 validation, 10 classes,
  3 timed repeats, every cell (GPU: ``--data`` points to CIFAR-10, default the
  TFDS ``cifar10``);
* ``cpu`` -- the same sizes on the local CIFAR-10 copy, 1 timed repeat per
  path, and a cell is not started when its predicted wall time (from the same
  arm at the largest smaller pool, scaled linearly in the pool size, times the
  number of runs) exceeds ``--cell-limit`` seconds (default 240): the JSON
  then holds the prediction (``status: "skipped"``), never a measurement;
* ``tiny`` -- the smoke test: digits, pools of 1,000 and 2,000, B = 20, d =
  128, ``coreset`` only (``--methods`` adds the others), every cell in this
  process. Its time is compilation (a program and four stage programs per
  cell, ~5 s each on 2 busy CPU cores) and the WRN's one epoch: ~1 min, where
  all three methods in worker processes took ~4.5 min.

Resumable: each cell is a JSON file under ``<root>/cells/`` (default root
``runs/paper/fig4_efficiency/<preset>``); a rerun skips cells whose file holds
the same cell config. Cells run one after another, never in parallel.

Outputs (``--results-dir``, alias ``--out``, default ``experiments/results``):
``fig4_efficiency_<preset>`` (:func:`output_files`) ``.json`` (config, what
each time field means, embeddings, every cell, speed-ups), ``.csv`` (one row
per cell: ``program_*`` and ``stage_*_seconds`` columns), ``.md`` (the table,
also printed), ``.png`` (bar plot: per method, time per batch for each pool
size, alone vs ADS at each fraction; bars = the profiled stages stacked into
ADS overhead and selector time, a black tick = the one program, its speed-up
written above the bars).

Usage::

    python experiments/paper/fig4_efficiency.py --preset cpu [--sizes 50000,100000] [--methods coreset]
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ads_jax.acquisition.profile import STAGES
from experiments.paper import _common as C

NAME = "fig4_efficiency"
METHODS = ("coreset", "kmedians", "badge")
_VERSION = 1  # of the cached embeddings
#: version of the cell files: 2 = the one program + the profiled stages (1, unversioned:
#: the earlier "staged" and "fused" paths; such cells are re-measured, never reused).
CELL_VERSION = 2
#: the stages that ADS adds in front of the selector (its overhead).
ADS_STAGES = tuple(s for s in STAGES if s != "diversity")


@dataclasses.dataclass(frozen=True)
class Preset:
    sizes: tuple[int, ...]
    budget: int
    dim: int
    labeled: int
    val: int
    fractions: tuple[float, ...]
    data: str
    model: str
    epochs: int
    batch_size: int
    learning_rate: float
    noise: float
    repeats: int
    cell_limit_s: float | None
    in_process: bool = False  # every cell in this process (no worker processes)
    methods: tuple[str, ...] = METHODS  # default --methods
    seed: int = 0


def _cifar10_npz() -> str:
    from ads_jax.configs import CIFAR10_NPZ

    return f"npz:{CIFAR10_NPZ}"


PRESETS = {
    "paper": Preset(sizes=(50_000, 100_000, 250_000, 500_000), budget=5000, dim=640,
                    labeled=5000, val=500, fractions=(0.3, 0.1), data="cifar10",
                    model="wrn-16-1", epochs=10, batch_size=128, learning_rate=0.1, noise=0.05,
                    repeats=3, cell_limit_s=None),
    "cpu": Preset(sizes=(50_000, 100_000, 250_000, 500_000), budget=5000, dim=640,
                  labeled=5000, val=500, fractions=(0.3, 0.1), data="<cifar10-npz>",
                  model="wrn-16-1", epochs=3, batch_size=128, learning_rate=0.1, noise=0.05,
                  repeats=1, cell_limit_s=240.0),
    "tiny": Preset(sizes=(1000, 2000), budget=20, dim=128, labeled=50, val=50,
                   fractions=(0.3, 0.1), data="digits", model="wrn-10-1", epochs=1,
                   batch_size=32, learning_rate=0.05, noise=0.05, repeats=1,
                   cell_limit_s=None, in_process=True, methods=("coreset",)),
}


def preset_of(name: str, **changes) -> Preset:
    p = PRESETS[name]
    if p.data == "<cifar10-npz>":
        p = dataclasses.replace(p, data=_cifar10_npz())
    return dataclasses.replace(p, **{k: v for k, v in changes.items() if v is not None})


def _hash(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


def _rss_now() -> int:
    """Current resident set size in bytes (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _peak_rss() -> int:
    """Peak resident set size of this process in bytes (ru_maxrss is KiB on Linux)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r) * (1 if sys.platform == "darwin" else 1024)


# ----------------------------------------------------------------------------
# Embeddings of real images (trained once, cached).
# ----------------------------------------------------------------------------


def embedding_config(p: Preset) -> dict:
    return {"version": _VERSION, "data": p.data, "model": p.model, "epochs": p.epochs,
            "batch_size": p.batch_size, "learning_rate": p.learning_rate,
            "labeled": p.labeled, "val": p.val, "seed": p.seed}


def train_embeddings(p: Preset, path: Path, say=print) -> dict:
    """Train the WRN on the labeled images and embed every train image; cache to ``path``."""
    meta_path = path.with_suffix(".json")
    want = embedding_config(p)
    if path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("config") == want:
            return meta
    import jax
    import numpy as np

    from ads_jax._files import atomic_savez
    from ads_jax.data import load_dataset
    from ads_jax.models import build_model
    from ads_jax.training import TrainConfig, evaluate, fit, predict

    t0 = time.perf_counter()
    ds = load_dataset(p.data)
    n = len(ds.y_train)
    if p.labeled + p.val >= n:
        raise SystemExit(f"{p.data}: {n} train images, need more than labeled + val = "
                         f"{p.labeled + p.val}")
    perm = np.random.default_rng(p.seed).permutation(n)
    lab, val, src = perm[:p.labeled], perm[p.labeled:p.labeled + p.val], perm[p.labeled + p.val:]
    num_classes = len(ds.class_names)
    model = build_model(p.model, num_classes)
    flip = ds.x_train.shape[-1] == 3
    cfg = TrainConfig(epochs=p.epochs, batch_size=p.batch_size, learning_rate=p.learning_rate,
                      patience=None, flip=flip, crop_padding=4 if ds.x_train.shape[1] >= 32 else 1)
    say(f"embeddings: training {p.model} on {p.labeled} {p.data} train images for "
        f"{p.epochs} epochs")
    res = fit(jax.random.key(p.seed), model, ds.x_train[lab], ds.y_train[lab],
              ds.x_train[val], ds.y_train[val], cfg, progress=False)
    t_train = time.perf_counter() - t0
    val_acc = evaluate(model, res.variables, ds.x_train[val], ds.y_train[val])
    t1 = time.perf_counter()
    out = predict(model, res.variables, ds.x_train[perm])
    t_embed = time.perf_counter() - t1
    atomic_savez(path, compress=False, features=out["embeddings"].astype(np.float32),
                 probs=out["probs"].astype(np.float32), labels=ds.y_train[perm].astype(np.int32),
                 image_index=perm.astype(np.int64))
    meta = {"config": want, "num_classes": num_classes, "feature_dim": int(out["embeddings"].shape[1]),
            "n_labeled": int(lab.size), "n_val": int(val.size), "n_source": int(src.size),
            "val_accuracy": float(val_acc), "train_seconds": t_train,
            "embed_seconds": t_embed, "embedded_images": int(perm.size),
            "image_shape": list(ds.x_train.shape[1:])}
    C.write_json(meta_path, meta)
    say(f"embeddings: val accuracy {val_acc:.3f}, train {t_train:.0f} s, embed {perm.size} "
        f"images {t_embed:.0f} s")
    return meta


def make_inputs(p: Preset, emb_path: Path, meta: dict, size: int):
    """NumPy AcquisitionInputs for a pool of ``size`` rows (see the module docstring)."""
    import numpy as np

    from ads_jax.acquisition import AcquisitionInputs

    z = np.load(emb_path)
    feat, probs, labels = z["features"], z["probs"], z["labels"]
    nl, nv = meta["n_labeled"], meta["n_val"]
    D = feat.shape[1]
    if p.dim % D:
        raise SystemExit(f"dim {p.dim} is not a multiple of the feature dimension {D}")
    reps = p.dim // D
    src = np.arange(nl + nv, feat.shape[0])
    sigma = float(p.noise * np.sqrt(np.mean(np.var(feat[src], axis=0))))
    rng = np.random.default_rng([p.seed, size])
    order = src[rng.permutation(src.size)]
    rows = order[np.arange(size) % order.size]

    def tiled(idx):
        out = np.empty((idx.size, p.dim), np.float32)
        for s in range(0, idx.size, 65536):
            part = idx[s:s + 65536]
            block = np.tile(feat[part], (1, reps))
            block += sigma * rng.standard_normal(block.shape, dtype=np.float32)
            out[s:s + part.size] = block
        return out

    lab, val = np.arange(nl), np.arange(nl, nl + nv)
    inputs = AcquisitionInputs(
        labeled_emb=tiled(lab), labeled_y=labels[lab], pool_emb=tiled(rows),
        pool_probs=probs[rows], val_emb=tiled(val), val_y=labels[val],
        num_classes=int(meta["num_classes"]), labeled_probs=probs[lab])
    info = {"sigma": sigma, "tile": reps, "source_images": int(src.size),
            "distinct_source_images_in_pool": int(min(size, src.size))}
    return inputs, info


# ----------------------------------------------------------------------------
# One cell: (pool size, arm, fraction).
# ----------------------------------------------------------------------------


#: What the time fields of a cell mean (also written into the JSON).
MEASURES = {
    "program_seconds": "median wall time of the timed calls of the one compiled acquisition "
                       "program (make_acquire_fn; valuation, regression, pre-selection and "
                       "selector in one jitted program): what the loop runs per batch",
    "program_compile_seconds": "make_acquire_fn(config).lower(key, inputs).compile()",
    "program_first_call_seconds": "first call of the compiled program (not in the median)",
    "stages": "profile_acquisition: each stage as its own jitted program, blocking between "
              "stages; median per stage of the timed runs after one compiling run; 'total' "
              "is their sum (not the program's time); diversity includes building the "
              "selector's compact sub-pool",
    "stages_same_picks": "the stage-by-stage run picked the same set as the program",
    "speedup": "program_seconds of the method alone / of ads+<method>",
    "speedup_stages": "stages total of the method alone / of ads+<method>",
}


def cell_id(size: int, arm: str, fraction: float | None) -> str:
    f = "" if fraction is None else f"__f{fraction:g}"
    return f"{size}__{arm.replace('+', '_plus_')}{f}"


def cell_config(p: Preset, size: int, arm: str, fraction: float | None) -> dict:
    from ads_jax.configs.paper_cifar10 import PAPER_ESTIMATOR, VALUATION

    return {"cell_version": CELL_VERSION, "size": size, "arm": arm, "fraction": fraction,
            "budget": p.budget, "dim": p.dim, "labeled": p.labeled, "val": p.val,
            "noise": p.noise, "repeats": p.repeats, "seed": p.seed,
            "embeddings": embedding_config(p), "valuation": VALUATION,
            "estimator": PAPER_ESTIMATOR}


def acq_config(cc: dict):
    from ads_jax.acquisition import AcquisitionConfig, PreselectConfig
    from ads_jax.valuation import EstimatorConfig, ValuationConfig

    est = cc["estimator"]
    return AcquisitionConfig(
        arm=cc["arm"], budget=cc["budget"],
        valuation=ValuationConfig(**cc["valuation"]),
        estimator=EstimatorConfig(name=est["name"], options=dict(est["options"])),
        preselect=PreselectConfig(fraction=cc["fraction"] if cc["fraction"] is not None else 0.3))


def run_cell(p: Preset, emb_path: Path, meta: dict, size: int, arm: str,
             fraction: float | None) -> dict:
    """Time one cell in this process; -> the cell record (module docstring: program, stages)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from ads_jax.acquisition import check_inputs, make_acquire_fn, profile_acquisition

    cc = cell_config(p, size, arm, fraction)
    cfg = acq_config(cc)
    rss0 = _rss_now()
    t0 = time.perf_counter()
    inputs_np, info = make_inputs(p, emb_path, meta, size)
    input_bytes = sum(int(np.asarray(a).nbytes) for a in jax.tree.leaves(inputs_np))
    # validated once, num_classes and the static class_capacity filled in (as acquire does)
    inputs = jax.tree.map(jnp.asarray, check_inputs(inputs_np, cfg))
    jax.block_until_ready(inputs)
    del inputs_np
    t_inputs = time.perf_counter() - t0
    key = jax.random.key(p.seed)

    # The program: the one jitted acquisition function the loop runs, compiled ahead of time.
    fn = make_acquire_fn(cfg)
    t0 = time.perf_counter()
    compiled = fn.lower(key, inputs).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = jax.block_until_ready(compiled(key, inputs))
    first_call = time.perf_counter() - t0
    calls = []
    for _ in range(p.repeats):
        t0 = time.perf_counter()
        res = jax.block_until_ready(compiled(key, inputs))
        calls.append(time.perf_counter() - t0)
    picks = np.asarray(res.indices)
    m = int(res.preselect_size)

    # The stages: the same stage functions as separate jitted programs (a profiling split).
    profile_acquisition(key, inputs, cfg)  # compiles the stage programs
    stage_runs = []
    for _ in range(p.repeats):
        pres, times = profile_acquisition(key, inputs, cfg)
        stage_runs.append(times)
    stages = {s: statistics.median(t[s] for t in stage_runs) for s in STAGES + ("total",)}
    spicks = np.asarray(pres.indices)
    peak = _peak_rss()
    try:  # accelerators: the device's own peak (host RSS does not see it)
        dev_stats = jax.devices()[0].memory_stats() or {}
    except Exception:  # noqa: BLE001 - not every backend reports memory
        dev_stats = {}
    return {
        "cell": cell_id(size, arm, fraction), "config": cc, "status": "measured",
        "size": size, "arm": arm, "method": arm.split("+")[-1],
        "filter": "ads" if arm.startswith("ads+") else "none", "fraction": fraction,
        "candidates": m, "budget": p.budget,
        "program_seconds": statistics.median(calls), "program_calls_seconds": calls,
        "program_compile_seconds": compile_s, "program_first_call_seconds": first_call,
        "stages": stages,
        "stages_same_picks": bool(np.array_equal(np.sort(spicks), np.sort(picks))),
        "stages_picks_equal_in_order": bool(np.array_equal(spicks, picks)),
        "repeats": p.repeats, "input_seconds": t_inputs,
        "memory": {"peak_rss_bytes": peak, "rss_before_inputs_bytes": rss0,
                   "input_bytes": input_bytes,
                   "pool_x_budget_float32_bytes": 4 * size * p.budget,
                   "pool_x_pool_float32_bytes": 4 * size * size,
                   "device_peak_bytes": dev_stats.get("peak_bytes_in_use")},
        "inputs": info,
        "load_average": os.getloadavg()[0],
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


# ----------------------------------------------------------------------------
# Driver.
# ----------------------------------------------------------------------------


def cells_of(p: Preset, methods) -> list[tuple[int, str, float | None]]:
    out = []
    for size in p.sizes:
        for m in methods:
            out.append((size, m, None))
            for f in p.fractions:
                out.append((size, f"ads+{m}", f))
    return out


def _cell_path(root: Path, size, arm, fraction) -> Path:
    return root / "cells" / f"{cell_id(size, arm, fraction)}.json"


def _load_cell(path: Path, cc: dict) -> dict | None:
    if not path.is_file():
        return None
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return rec if rec.get("config") == cc else None


def _is_old_cell(path: Path) -> bool:
    """A cell file of an earlier version of this script (its "staged" and "fused"
    paths, before the acquisition was one program): never reused, re-measured."""
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    cfg = rec.get("config") if isinstance(rec, dict) else None
    return isinstance(cfg, dict) and cfg.get("cell_version") != CELL_VERSION


def predict_seconds(done: list[dict], size: int, arm: str, fraction, runs: float) -> float | None:
    """Predicted wall time of a cell: the same arm at the largest smaller measured pool,
    scaled linearly in the pool size, times the number of (warm-equivalent) runs."""
    prev = [c for c in done if c["status"] == "measured" and c["arm"] == arm
            and c["fraction"] == fraction and c["size"] < size]
    if not prev:
        return None
    c = max(prev, key=lambda c: c["size"])
    per_run = max(c["stages"]["total"], c["program_seconds"]) * size / c["size"]
    return runs * per_run


def _absolute_data(spec: str | None) -> str | None:
    """A ``load_dataset`` spec with a relative local path made absolute (for a worker)."""
    if not spec or ":" not in spec:
        return spec
    kind, rest = spec.split(":", 1)
    return f"{kind}:{os.path.abspath(rest)}" if rest and os.path.exists(rest) else spec


def _worker_cmd(args, size, arm, fraction, cell_file: Path) -> list[str]:
    """The worker's command line: this module by name (``-m``, run from the checkout
    that holds it, so the worker imports the same code), every path absolute."""
    cmd = [sys.executable, "-m", "experiments.paper.fig4_efficiency", "--preset", args.preset,
           "--root", str(Path(args.root).resolve()),
           "--worker", f"{size},{arm},{'' if fraction is None else fraction}",
           "--worker-out", str(Path(cell_file).resolve())]
    if args.data:
        cmd += ["--data", _absolute_data(args.data)]
    if args.repeats is not None:
        cmd += ["--repeats", str(args.repeats)]
    return cmd


def runs_per_cell(p: Preset) -> float:
    """Warm-equivalent acquisitions of one cell: the program's first and ``repeats``
    timed calls, the stages' compiling and ``repeats`` timed runs, ~0.3 for compiling."""
    return 2 + 2 * p.repeats + 0.3


def run_all(p: Preset, args, say) -> tuple[dict, list[dict], list[str]]:
    """Measure (or resume) every cell; -> (embedding meta, cells, old cell files ignored)."""
    root = Path(args.root)
    (root / "cells").mkdir(parents=True, exist_ok=True)
    emb_path = root / "embeddings.npz"
    meta = (train_embeddings(p, emb_path, say) if not args.no_run else
            (json.loads(emb_path.with_suffix(".json").read_text())
             if emb_path.with_suffix(".json").is_file() else {}))
    limit = args.cell_limit if args.cell_limit is not None else p.cell_limit_s
    in_process = p.in_process if args.in_process is None else args.in_process
    runs = runs_per_cell(p)
    cells, old = [], []
    for size, arm, fraction in cells_of(p, args.methods):
        cc = cell_config(p, size, arm, fraction)
        path = _cell_path(root, size, arm, fraction)
        rec = _load_cell(path, cc)
        if rec is not None and (rec["status"] == "measured" or args.no_run):
            cells.append(rec)
            continue
        if rec is None and _is_old_cell(path):
            old.append(str(path))
        if args.no_run:
            continue
        est = predict_seconds(cells, size, arm, fraction, runs)
        if limit is not None and est is not None and est > limit:
            rec = {"cell": cell_id(size, arm, fraction), "config": cc, "status": "skipped",
                   "size": size, "arm": arm, "method": arm.split("+")[-1],
                   "filter": "ads" if arm.startswith("ads+") else "none",
                   "fraction": fraction, "budget": p.budget,
                   "predicted_cell_seconds": est, "predicted_batch_seconds": est / runs,
                   "reason": f"predicted {est:.0f} s for the cell ({runs:g} runs of "
                             f"~{est / runs:.0f} s) > --cell-limit {limit:.0f} s"}
            say(f"[{rec['cell']}] skipped: {rec['reason']}")
            C.write_json(path, rec)
            cells.append(rec)
            continue
        say(f"[{cell_id(size, arm, fraction)}] running"
            + ("" if est is None else f" (predicted {est:.0f} s)"))
        t0 = time.perf_counter()
        if in_process:
            rec = run_cell(p, emb_path, meta, size, arm, fraction)
        else:
            tmp = path.with_suffix(".worker.json")
            timeout = None if limit is None else max(3 * limit, 120)
            try:
                proc = subprocess.run(_worker_cmd(args, size, arm, fraction, tmp),
                                      timeout=timeout, capture_output=True, text=True,
                                      cwd=C.REPO)
            except subprocess.TimeoutExpired:
                rec = {"cell": cell_id(size, arm, fraction), "config": cc, "status": "timed_out",
                       "size": size, "arm": arm, "method": arm.split("+")[-1],
                       "filter": "ads" if arm.startswith("ads+") else "none",
                       "fraction": fraction, "budget": p.budget,
                       "reason": f"killed after {timeout:.0f} s"}
            else:
                if proc.returncode != 0 or not tmp.is_file():
                    sys.stderr.write(proc.stdout + proc.stderr)
                    raise SystemExit(f"cell {cell_id(size, arm, fraction)} failed "
                                     f"(exit {proc.returncode})")
                rec = json.loads(tmp.read_text())
                tmp.unlink()
        rec["cell_wall_seconds"] = time.perf_counter() - t0
        C.write_json(path, rec)
        if rec["status"] == "measured":
            mem = rec["memory"]
            say(f"[{rec['cell']}] program {rec['program_seconds']:.2f} s (compile "
                f"{rec['program_compile_seconds']:.1f} s) | stages "
                + " ".join(f"{k} {rec['stages'][k]:.2f}" for k in STAGES)
                + f" | m {rec['candidates']} | peak RSS {mem['peak_rss_bytes'] / 2**30:.2f} GiB"
                  f" | cell {rec['cell_wall_seconds']:.0f} s")
        cells.append(rec)
    if old:
        say(f"{len(old)} cell file(s) under {root / 'cells'} were measured by an earlier version "
            "of this script (its 'staged' and 'fused' paths) and are not used: "
            + ("rerun without --no-run to re-measure them." if args.no_run
               else "re-measured now."))
    return meta, cells, old


def speedups(cells: list[dict], p: Preset, methods) -> list[dict]:
    """Per (size, method, fraction): speed-up = time of the method alone / time of
    ``ads+<method>``, of the one program (``speedup``, what the loop runs) and of the
    profiled stages' sum (``speedup_stages``)."""
    by = {(c["size"], c["arm"], c["fraction"]): c for c in cells}
    out = []
    for size in p.sizes:
        for m in methods:
            alone = by.get((size, m, None))
            for f in p.fractions:
                ads = by.get((size, f"ads+{m}", f))
                row = {"size": size, "method": m, "fraction": f, "alone_status":
                       alone["status"] if alone else "missing",
                       "ads_status": ads["status"] if ads else "missing"}
                ok = alone and ads and alone["status"] == ads["status"] == "measured"
                if (alone and ads and ads["status"] == "measured" and alone["status"] == "skipped"
                        and alone.get("predicted_batch_seconds")):
                    # not a measurement: the alone time is the linear extrapolation
                    row.update({"alone_predicted": alone["predicted_batch_seconds"],
                                "ads_program": ads["program_seconds"],
                                "speedup_vs_predicted_alone":
                                    alone["predicted_batch_seconds"] / ads["program_seconds"]})
                if ok:
                    row.update({
                        "alone_program": alone["program_seconds"],
                        "ads_program": ads["program_seconds"],
                        "speedup": alone["program_seconds"] / ads["program_seconds"],
                        "alone_stages": alone["stages"]["total"],
                        "ads_stages": ads["stages"]["total"],
                        "speedup_stages": alone["stages"]["total"] / ads["stages"]["total"],
                        "ads_overhead_stages": sum(ads["stages"][s] for s in ADS_STAGES),
                        "candidates": ads["candidates"]})
                out.append(row)
    return out


def _t(x) -> str:
    if x is None:
        return "-"
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def markdown(cells, sp, p: Preset, methods, meta) -> str:
    lines = [f"Time per batch (s), B = {p.budget:,}, d = {p.dim}, L = {p.labeled:,} labeled, "
             f"M = {p.val} validation, warm. **program**: the whole acquisition step as the one "
             "compiled program the loop runs (median of the timed calls; compile: its ahead-of-"
             "time compilation). **Stages** (a profiling split, each stage its own compiled "
             "program, so their total is not the program's time): val. = valuation, reg. = "
             "regression, pre. = pre-selection, div. = selector incl. its sub-pool.", "",
             "| pool U | arm | f | candidates m | val. | reg. | pre. | div. | stages total "
             "| **program** | compile | peak RSS GiB | note |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for c in cells:
        f = "" if c["fraction"] is None else f"{c['fraction']:g}"
        if c["status"] == "measured":
            s = c["stages"]
            same = "" if c["stages_same_picks"] else "stage-by-stage picks differ"
            deg = " (m = B: top-B by value)" if c["candidates"] == p.budget and c["filter"] == "ads" \
                else ""
            lines.append(
                f"| {c['size']:,} | `{c['arm']}` | {f} | {c['candidates']:,} | "
                + " | ".join(_t(s[k]) if c["filter"] == "ads" or k == "diversity" else "-"
                             for k in STAGES)
                + f" | {_t(s['total'])} | **{_t(c['program_seconds'])}** "
                  f"| {_t(c['program_compile_seconds'])} "
                  f"| {c['memory']['peak_rss_bytes'] / 2**30:.2f} | {same}{deg} |")
        else:
            est = c.get("predicted_batch_seconds")
            lines.append(f"| {c['size']:,} | `{c['arm']}` | {f} | | | | | | | not run"
                         + (f" (predicted ~{est:.0f})" if est else "") + f" | | | {c['reason']} |")
    lines += ["", "Speed-up of ADS = time of the method alone / time of `ads+<method>` "
                  "(same run, same inputs): of the program (what the loop runs) and of the "
                  "stages' total. In brackets: the method alone was not run (see above); its "
                  "time is the linear extrapolation from the largest smaller pool, a "
                  "prediction, not a measurement.", "",
              "| method | pool U | " + " | ".join(f"f = {f:g} program | f = {f:g} stages"
                                                  for f in p.fractions) + " |",
              "|---|---:|" + "---:|" * (2 * len(p.fractions))]
    for m in methods:
        for size in p.sizes:
            vals = []
            for f in p.fractions:
                r = next(x for x in sp if x["size"] == size and x["method"] == m
                         and x["fraction"] == f)
                if "speedup" in r:
                    vals += [f"{r['speedup']:.2f}x", f"{r['speedup_stages']:.2f}x"]
                elif "speedup_vs_predicted_alone" in r:
                    vals += [f"(~{r['speedup_vs_predicted_alone']:.1f}x predicted)", "-"]
                else:
                    vals += ["-", "-"]
            lines.append(f"| {m} | {size:,} | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


def csv_rows(cells) -> list[dict]:
    """One row per cell: ``program_*`` = the one compiled program (``program_seconds``
    the warm median), ``stage_*`` = the profiled per-stage split (warm medians)."""
    rows = []
    for c in cells:
        row = {"size": c["size"], "arm": c["arm"], "method": c["method"], "filter": c["filter"],
               "fraction": c["fraction"], "status": c["status"], "budget": c["budget"],
               "candidates": c.get("candidates")}
        if c["status"] == "measured":
            row.update({"program_seconds": c["program_seconds"],
                        "program_compile_seconds": c["program_compile_seconds"],
                        "program_first_call_seconds": c["program_first_call_seconds"]})
            row.update({f"stage_{k}_seconds": v for k, v in c["stages"].items()})
            row.update({"stages_same_picks": c["stages_same_picks"],
                        "peak_rss_bytes": c["memory"]["peak_rss_bytes"],
                        "input_bytes": c["memory"]["input_bytes"],
                        "pool_x_budget_float32_bytes": c["memory"]["pool_x_budget_float32_bytes"]})
        else:
            row["predicted_batch_seconds"] = c.get("predicted_batch_seconds")
            row["reason"] = c.get("reason")
        rows.append(row)
    return rows


def plot(cells, sp, p: Preset, methods, path: Path, preset: str) -> Path:
    """Per method, time per batch for each pool size, alone vs ADS at each fraction: bars =
    the profiled stages (hatched: ADS's valuation + regression + pre-selection), black tick =
    the one program (what the loop runs), speed-up of the program written above."""
    plt = C.pyplot()
    by = {(c["size"], c["arm"], c["fraction"]): c for c in cells}
    bars = [(None, "alone", "tab:gray")] + [
        (f, f"ADS, top {100 * f:g}%", col) for f, col in zip(p.fractions, ("tab:red", "tab:orange",
                                                                          "tab:purple"))]
    fig, axes = plt.subplots(1, len(methods), figsize=(4.3 * len(methods), 3.6), squeeze=False)
    w = 0.8 / len(bars)
    labeled = set()

    def once(name):
        if name in labeled:
            return None
        labeled.add(name)
        return name

    for ax, m in zip(axes[0], methods):
        top = 0.0
        for j, (f, label, col) in enumerate(bars):
            arm = m if f is None else f"ads+{m}"
            for i, size in enumerate(p.sizes):
                x = i + (j - (len(bars) - 1) / 2) * w
                c = by.get((size, arm, f))
                if c and c["status"] == "skipped" and c.get("predicted_batch_seconds"):
                    est = c["predicted_batch_seconds"]
                    ax.bar(x, est, w, fill=False, edgecolor=col, ls="--", lw=0.8,
                           label=once("predicted, not run"))
                    top = max(top, est)
                    continue
                if not c or c["status"] != "measured":
                    ax.text(x, 0, "n/r", ha="center", va="bottom", fontsize=6, rotation=90)
                    continue
                s = c["stages"]
                over = sum(s[k] for k in ADS_STAGES)
                ax.bar(x, s["diversity"], w, bottom=over, color=col,
                       label=label if i == 0 else None)
                if over > 0:
                    ax.bar(x, over, w, color=col, alpha=0.45, hatch="//",
                           label=once("ADS valuation + regression + pre-selection"))
                prog = c["program_seconds"]
                ax.plot([x - w / 2, x + w / 2], [prog, prog], color="k", lw=1.2,
                        label=once("one program (what the loop runs)"))
                top = max(top, s["total"], prog)
                if f is not None:
                    r = next(x_ for x_ in sp if x_["size"] == size and x_["method"] == m
                             and x_["fraction"] == f)
                    y = max(s["total"], prog)
                    if "speedup" in r:
                        ax.text(x, y, f"{r['speedup']:.1f}x", ha="center", va="bottom",
                                fontsize=6)
                    elif "speedup_vs_predicted_alone" in r:
                        ax.text(x, y, f"(~{r['speedup_vs_predicted_alone']:.1f}x)",
                                ha="center", va="bottom", fontsize=5, style="italic")
        ax.set_xticks(range(len(p.sizes)))
        ax.set_xticklabels([f"{s // 1000}k" if s >= 1000 else str(s) for s in p.sizes])
        ax.set_xlabel("pool size U")
        ax.set_title(m, fontsize=10)
        ax.set_ylim(0, 1.15 * top if top > 0 else 1)
    axes[0][0].set_ylabel("time per batch (s, warm)")
    axes[0][0].legend(fontsize=6, loc="upper left")
    fig.suptitle(f"Figure 4: selection time per batch of {p.budget:,}, d = {p.dim}, preset "
                 f"'{preset}' (bars: stages profiled one by one; tick: the one program; "
                 "speed-up = alone / ADS, of the program; dashed = predicted, not run)",
                 fontsize=8)
    fig.tight_layout()
    return C.save_png(fig, path)


def output_files(preset: str) -> list[str]:
    """The files a run of ``preset`` writes, relative to the results directory."""
    stem = C.stem(Path(), NAME, preset).name
    return [stem + x for x in (".json", ".csv", ".md", ".png")]


def _parse_list(text, kind):
    return None if text is None else tuple(kind(s) for s in text.split(",") if s.strip())


def parse_args(argv=None):
    """The command line (``--results-dir``, alias ``--out``, default experiments/results)."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=tuple(PRESETS), default="cpu")
    ap.add_argument("--results-dir", "--out", dest="out", type=Path, default=C.RESULTS,
                    help="directory of the outputs (default experiments/results)")
    ap.add_argument("--root", type=Path, default=None,
                    help="cells and cached embeddings (default runs/paper/fig4_efficiency/PRESET)")
    ap.add_argument("--sizes", default=None, help="comma-separated pool sizes")
    ap.add_argument("--methods", default=None,
                    help=f"subset of {','.join(METHODS)} (default: the preset's, all but for tiny)")
    ap.add_argument("--fractions", default=None, help="comma-separated pre-selection fractions")
    ap.add_argument("--data", default=None, help="data set of the embeddings (load_dataset name)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed calls of the program and timed stage-by-stage runs")
    ap.add_argument("--cell-limit", type=float, default=None,
                    help="seconds; skip cells predicted to take longer (cpu default 240)")
    ap.add_argument("--in-process", action=argparse.BooleanOptionalAction, default=None,
                    help="run every cell in this process (peak RSS is then cumulative); "
                         "--no-in-process: each cell in a worker process (default: the "
                         "preset's, in-process for tiny only)")
    ap.add_argument("--no-run", action="store_true", help="only collect the cells there are")
    ap.add_argument("--quiet", "-q", action="store_true")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.methods = _parse_list(args.methods, str)
    bad = [m for m in args.methods or () if m not in METHODS]
    if bad:
        ap.error(f"unknown methods {bad}; choose from {list(METHODS)}")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    p = preset_of(args.preset, sizes=_parse_list(args.sizes, int),
                  fractions=_parse_list(args.fractions, float), data=args.data,
                  repeats=args.repeats)
    args.methods = args.methods or p.methods
    args.root = args.root or C.REPO / "runs" / "paper" / NAME / args.preset
    if args.worker:
        size, arm, frac = args.worker.split(",")
        emb_path = Path(args.root) / "embeddings.npz"
        meta = json.loads(emb_path.with_suffix(".json").read_text())
        rec = run_cell(p, emb_path, meta, int(size), arm, float(frac) if frac else None)
        C.write_json(args.worker_out, rec)
        return rec
    say = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    load0 = os.getloadavg()[0]
    meta, cells, old = run_all(p, args, say)
    sp = speedups(cells, p, args.methods)
    import jax

    stem = C.stem(args.out, NAME, args.preset)
    out = {"experiment": "ADS paper Figure 4: selection time per batch, method alone vs ADS",
           "preset": args.preset, "config": dataclasses.asdict(p), "methods": list(args.methods),
           "measures": MEASURES, "embeddings": meta, "cells": cells, "speedups": sp,
           "old_cells_ignored": old,
           "environment": {"jax": jax.__version__, "backend": jax.default_backend(),
                           "cpu_count": os.cpu_count(), "python": platform.python_version(),
                           "load_average_start": load0, "load_average_end": os.getloadavg()[0],
                           "wall_seconds_this_invocation": time.perf_counter() - t0,
                           "cells_wall_seconds": sum(c.get("cell_wall_seconds", 0.0)
                                                     for c in cells),
                           "cell_load_average": C.stats(c.get("load_average") for c in cells
                                                        if c["status"] == "measured")}}
    md = markdown(cells, sp, p, args.methods, meta)
    paths = {"json": C.write_json(stem.with_suffix(".json"), out),
             "csv": C.write_csv(stem.with_suffix(".csv"), csv_rows(cells)),
             "md": C.write_text(stem.with_suffix(".md"), md),
             "png": plot(cells, sp, p, args.methods, stem.with_suffix(".png"), args.preset)}
    print(md)
    print("wrote " + ", ".join(str(v) for v in paths.values()))
    return dict(out, paths={k: str(v) for k, v in paths.items()})


if __name__ == "__main__":
    main()
