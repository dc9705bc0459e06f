"""The active learning loop: train -> evaluate -> embed -> acquire -> reveal, resumable.

For every seed s and arm a of an :class:`~ads_jax.experiment.ExperimentConfig`,
:func:`run_experiment` runs ``loop.rounds`` acquisition rounds::

    labeled = scenario.labeled_init
    for r in 0 .. R:
        model   = fit(train_key(s, r), labeled)         # from scratch, early stopping on val
        acc     = accuracy on the test set
        if r < R:
            embeddings/probs of the pool and the validation set (predict)
            picked  = acquire(acquire_key(s, r), inputs, acquisition(arm=a))
            labeled = labeled + picked                   # reveal the labels
        record round r; checkpoint (labeled set, key, records)

Every random choice derives from ``jax.random.key(s)`` by ``fold_in(round)``
and then ``fold_in(0)`` (training) or ``fold_in(1)`` (acquisition); nothing
depends on wall-clock time or on the arm's position in the list. So the
round-0 model of seed s is the same for every arm (trained once per seed when
``loop.share_initial_round``), and a run that is killed and restarted in the
same ``loop.out_dir`` continues with its next unfinished round and ends with
exactly the records an uninterrupted run writes (wall times aside).

Run directory (``loop.out_dir``; layout, artefacts and lock in
:mod:`ads_jax.rundir`): ``config.json``, ``results.jsonl``, Orbax
``checkpoints/`` of the loop state (labeled indices, key data and records
after n finished rounds), per-round ``artefacts/`` and a ``.lock`` held while
the run writes (a second run on a busy directory fails at once).

A record (see :func:`ads_jax.plotting.load_results`) has: ``arm, seed, round,
labeled`` (training-set size), ``test_accuracy, val_accuracy, best_epoch``,
``acquired`` (points picked this round, 0 in the last round),
``picked_provenance`` / ``candidate_provenance`` / ``pool_provenance``
(fraction of each :data:`ads_jax.data.PROVENANCE` class among the picked
points / the pre-selected candidates / the whole unlabeled pool; ``None`` in the
last round), ``preselected`` (number of candidates after pre-selection) and
``time`` (seconds: ``training`` (fit, including any compilation),
``inference`` (test accuracy + pool/validation embeddings), ``selection`` --
the wall time of the fused acquisition program (one jitted program per arm
for the whole run, fixed shapes), on a second, warm call when
``loop.warm_timing`` -- ``selection_first_call`` (the first call: it compiles
in round 0 only), and with ``loop.warm_timing`` the per-stage times
``valuation, regression, preselection, diversity`` of the staged path (warm)
and their sum ``selection_staged``).
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from typing import Any, Callable

import jax
import numpy as np

from ads_jax.acquisition import STAGES as SELECTION_STAGES
from ads_jax.checkpoint import Checkpointer, CheckpointError
from ads_jax.experiment import ExperimentConfig
from ads_jax._files import as_path
from ads_jax.config_engine import to_dict
from ads_jax.distributed import is_primary
from ads_jax.rundir import (
    RESUMABLE_FIELDS,
    ResultsWriter,
    RunLock,
    check_out_dir,
    checkpoint_dir,
    fit_checkpoint_dir,
    prepare,
    remove_fit_checkpoints,
    results_path,
    save_artefacts,
)

__all__ = [
    "run_experiment",
    "round_keys",
    "load_state",
    "results_path",
    "checkpoint_dir",
    "fit_checkpoint_dir",
    "STAGES",
    "RESUMABLE_FIELDS",
]

#: Per-round wall-time entries of a record's ``time`` dict.
STAGES = ("training", "inference") + SELECTION_STAGES


def round_keys(seed: int, round_: int) -> tuple[jax.Array, jax.Array]:
    """PRNG keys of one round: ``(train_key, acquire_key)``.

    ``base = fold_in(key(seed), round)``; ``train = fold_in(base, 0)``,
    ``acquire = fold_in(base, 1)``. Typed keys (``jax.random.key``).
    """
    base = jax.random.fold_in(jax.random.key(seed), round_)
    return jax.random.fold_in(base, 0), jax.random.fold_in(base, 1)


# ----------------------------------------------------------------------------
# Checkpointing of the loop state.
# ----------------------------------------------------------------------------


def _checkpointer(path: str, max_to_keep: int) -> Checkpointer:
    return Checkpointer(path, {"state": "pytree", "meta": "json"}, max_to_keep=max_to_keep)


def _save_state(ckpt: Checkpointer, labeled: np.ndarray, key_data: np.ndarray,
                records: list[dict]) -> None:
    ckpt.save(len(records),
              state={"labeled": np.asarray(labeled, np.int32),
                     "key": np.asarray(key_data, np.uint32)},
              meta={"records": records, "rounds_done": len(records)})


def _restore_state(ckpt: Checkpointer) -> tuple[np.ndarray, np.ndarray, list[dict]] | None:
    """Newest readable loop state ``(labeled, key data, records)``, or None."""
    def check(step, items):
        records = items["meta"].get("records")
        if not isinstance(records, list) or len(records) != step:
            raise CheckpointError(f"step {step} holds {len(records or [])} records, expected "
                                  f"{step}")

    got = ckpt.restore_latest(check=check)
    if got is None:
        return None
    _, items = got
    return (np.asarray(items["state"]["labeled"], np.int32),
            np.asarray(items["state"]["key"]), list(items["meta"]["records"]))


def load_state(out_dir: str | os.PathLike, arm: str, seed: int) -> dict | None:
    """Latest checkpointed loop state of one (arm, seed) run, or ``None``.

    Returns:
      ``{"labeled": int32 (L,) pool indices (initial set, then picks in
      acquisition order), "key": uint32 key data of ``key(seed)``,
      "records": list of per-round dicts}``.
    """
    path = checkpoint_dir(out_dir, arm, seed)
    if not as_path(path).is_dir():
        return None
    with _checkpointer(path, 1000) as ckpt:
        got = _restore_state(ckpt)
    if got is None:
        return None
    labeled, key, records = got
    return {"labeled": labeled, "key": key, "records": records}


# ----------------------------------------------------------------------------
# The loop.
# ----------------------------------------------------------------------------


def _fractions(codes: np.ndarray) -> dict[str, float]:
    from ads_jax.data import PROVENANCE

    codes = np.asarray(codes)
    n = max(codes.size, 1)
    return {name: float(np.sum(codes == i)) / n for i, name in enumerate(PROVENANCE)}


def _stage_times(res) -> dict[str, float]:
    t = getattr(res, "timings", None) or {}
    return {s: float(t.get(s, 0.0)) for s in SELECTION_STAGES}


def _acq_configs(cfg: ExperimentConfig) -> dict[str, Any]:
    """One AcquisitionConfig per arm (validates arm names and options before any training)."""
    out = {}
    for arm in cfg.arms:
        try:
            out[arm] = dataclasses.replace(cfg.acquisition, arm=arm)
        except (ValueError, TypeError) as e:
            raise ValueError(f"Invalid arm {arm!r} in loop.arms: {e}") from None
    return out


def _load_datasets(data_cfg) -> dict:
    """Load every data set a scenario names once (reused for all seeds)."""
    from ads_jax.data import load_dataset

    names = [data_cfg.dataset, *data_cfg.source_datasets]
    if data_cfg.ood_dataset:
        names.append(data_cfg.ood_dataset)
    out = {}
    for n in names:
        if n not in out:
            out[n] = load_dataset(n, data_dir=data_cfg.data_dir)
    return out


def _check_sizes(cfg: ExperimentConfig, scenario) -> None:
    pool = int(scenario.x_pool.shape[0])
    init = int(np.asarray(scenario.labeled_init).shape[0])
    budget = int(cfg.acquisition.budget)
    need = cfg.loop.rounds * budget
    if init + need > pool:
        raise ValueError(
            f"The pool is too small: {cfg.loop.rounds} rounds x budget {budget} = {need} picks, "
            f"but the pool has {pool} points of which {init} are labeled initially "
            f"({pool - init} unlabeled). Lower `acquisition.budget` or `loop.rounds`, "
            "or enlarge the pool (data.pool_size)."
        )


class _Trainer:
    """Train / evaluate / embed with a per-seed cache of the round-0 model outputs."""

    def __init__(self, cfg: ExperimentConfig, scenario):
        from ads_jax.models import build_model

        self.cfg = cfg
        self.sc = scenario
        self.model = build_model(cfg.model, int(scenario.num_classes))
        self._cache: dict[tuple, dict] = {}
        # Final labeled-set size: one on-device training buffer (and one compile of
        # the train step) for every round of the run.
        self.capacity = _Capacity(cfg, scenario).labeled
        self.devices = _DevicePool(cfg, scenario) if _device_path(cfg) else None

    def run(self, seed: int, round_: int, labeled: np.ndarray, *, need_embeddings: bool,
            arm: str) -> dict:
        from ads_jax.training import evaluate, fit, predict

        cache_key = (seed, round_, labeled.tobytes())
        share = self.cfg.loop.share_initial_round and round_ == 0
        if share and cache_key in self._cache:
            return self._cache[cache_key]
        sc, bs = self.sc, self.cfg.loop.eval_batch_size
        train_key, _ = round_keys(seed, round_)
        fit_dir = None
        if self.cfg.loop.checkpoint and self.cfg.loop.checkpoint_training:
            fit_dir = fit_checkpoint_dir(self.cfg.loop.out_dir, "shared" if share else arm,
                                         seed, round_)
        t0 = time.perf_counter()
        res = fit(train_key, self.model, sc.x_pool[labeled], sc.y_pool[labeled],
                  sc.x_val, sc.y_val, self.cfg.train, checkpoint_dir=fit_dir,
                  capacity=self.capacity)
        jax.block_until_ready(res.variables)
        t1 = time.perf_counter()
        acc = float(evaluate(self.model, res.variables, sc.x_test, sc.y_test, batch_size=bs))
        out = {"test_accuracy": acc, "best_epoch": int(res.best_epoch)}
        best = [h for h in res.history if h.get("epoch") == res.best_epoch]
        out["val_accuracy"] = float(best[0]["val_accuracy"]) if best else None
        if need_embeddings:
            if self.devices is not None:  # each process embeds its slice of the pool
                out.update(self.devices.embed(self.model, res.variables, bs))
            else:
                pool_out = predict(self.model, res.variables, sc.x_pool, batch_size=bs)
                out["pool_emb"] = np.asarray(pool_out["embeddings"])
                out["pool_probs"] = np.asarray(pool_out["probs"])
            val_out = predict(self.model, res.variables, sc.x_val, batch_size=bs,
                              local=self.devices is not None)
            out["val_emb"] = np.asarray(val_out["embeddings"])
        t2 = time.perf_counter()
        out["time"] = {"training": t1 - t0, "inference": t2 - t1}
        if share:
            self._cache = {cache_key: out}
        return out


def _pool_mesh():
    """The acquisition mesh of ``loop.mesh="all"``: every device, axis ``"pool"`` (Auto)."""
    return jax.make_mesh((jax.device_count(),), ("pool",),
                         axis_types=(jax.sharding.AxisType.Auto,))


def _device_path(cfg: ExperimentConfig) -> bool:
    """Acquisition on global device arrays: ``loop.mesh="all"`` or several processes."""
    return cfg.loop.mesh == "all" or jax.process_count() > 1


class _DevicePool:
    """The pool's embeddings as global arrays over the acquisition mesh.

    The P pool rows are padded to a multiple of the device count (copies of
    row 0, never valid) and sharded over a 1-D mesh of every device; each
    process embeds only the rows its devices hold (:func:`distributed.pool_rows`)
    and the slices form one global array (``make_array_from_process_local_data``).
    """

    def __init__(self, cfg: ExperimentConfig, scenario):
        from jax.sharding import NamedSharding, PartitionSpec

        from ads_jax.distributed import pool_rows

        n_dev = jax.device_count()
        self.mesh = _pool_mesh()
        self.p = int(scenario.x_pool.shape[0])
        self.p_pad = -(-self.p // n_dev) * n_dev
        self.sharding = NamedSharding(self.mesh, PartitionSpec("pool"))
        self.rows = pool_rows(self.sharding, self.p_pad)
        self.x_local = scenario.x_pool[np.where(self.rows < self.p, self.rows, 0)]

    def embed(self, model, variables, batch_size: int) -> dict:
        from ads_jax.distributed import global_rows
        from ads_jax.training import predict

        out = predict(model, variables, self.x_local, batch_size=batch_size, local=True)
        return {"pool_emb": global_rows(out["embeddings"], self.sharding, self.p_pad),
                "pool_probs": global_rows(out["probs"], self.sharding, self.p_pad)}


class _Capacity:
    """Fixed shapes of a whole run: the acquisition program compiles once per arm.

    ``labeled`` = L0 + R x B rows of the labeled buffer, ``pool`` = P - L0 rows of
    the unlabeled-pool buffer (valid rows first, padding masked out), and a static
    bound on the labeled points of one class (for the per-class value estimator).
    """

    def __init__(self, cfg: ExperimentConfig, scenario):
        p = int(scenario.x_pool.shape[0])
        l0 = int(np.asarray(scenario.labeled_init).shape[0])
        self.labeled = l0 + cfg.loop.rounds * cfg.acquisition.budget
        self.pool = p - l0
        counts = np.bincount(np.asarray(scenario.y_pool), minlength=int(scenario.num_classes))
        self.class_bound = int(min(self.labeled, counts.max()))

    def buffers(self, scenario, labeled: np.ndarray):
        """Index buffers of the run's fixed capacity: ``(labeled (L,), labeled mask,
        pool (U,), pool mask, unlabeled pool indices (U_valid,))`` (valid rows first)."""
        is_lab = np.zeros(int(scenario.x_pool.shape[0]), bool)
        is_lab[labeled] = True
        unl = np.flatnonzero(~is_lab).astype(np.int32)
        lab_buf = np.full(self.labeled, labeled[0], np.int32)
        lab_buf[: labeled.size] = labeled
        pool_buf = np.full(self.pool, unl[0], np.int32)
        pool_buf[: unl.size] = unl
        return (lab_buf, np.arange(self.labeled) < labeled.size, pool_buf,
                np.arange(self.pool) < unl.size, unl)

    def inputs(self, scenario, labeled: np.ndarray, tr: dict):
        """(AcquisitionInputs with padded buffers and masks, unlabeled pool indices (U,))."""
        from ads_jax.acquisition import AcquisitionInputs

        lab_buf, lab_mask, pool_buf, pool_mask, unl = self.buffers(scenario, labeled)
        inputs = AcquisitionInputs(
            labeled_emb=tr["pool_emb"][lab_buf],
            labeled_y=np.asarray(scenario.y_pool[lab_buf], np.int32),
            pool_emb=tr["pool_emb"][pool_buf],
            pool_probs=tr["pool_probs"][pool_buf],
            val_emb=tr["val_emb"],
            val_y=np.asarray(scenario.y_val, np.int32),
            num_classes=int(scenario.num_classes),
            labeled_probs=tr["pool_probs"][lab_buf],
            labeled_mask=lab_mask,
            pool_mask=pool_mask,
        )
        return inputs, unl


def _acquire_round(cfg, acq_cfg, arm, seed, r, scenario, labeled, tr, cap: _Capacity):
    """One acquisition with the run's fixed shapes.

    The picks come from the fused acquisition program (one jitted program per
    arm for the whole run). With ``loop.warm_timing`` the program runs a
    second time for a warm wall time, and -- when the pool is on the host --
    the staged path (same stages, one program each) runs for the per-stage
    times; its picks are compared (a warning if they differ).

    Returns (picked pool indices (B,) int32, record fields, times, artefacts).
    """
    prov = np.asarray(scenario.provenance)
    _, acq_key = round_keys(seed, r)
    if _device_path(cfg):
        res, unl, first, total, stages = _acquire_on_devices(cfg, acq_cfg, scenario, labeled,
                                                             tr, cap, acq_key)
    else:
        res, unl, first, total, stages = _acquire_on_host(cfg, acq_cfg, arm, scenario, labeled,
                                                          tr, cap, acq_key)
    u = unl.size
    indices, values, pmask, tv = res
    picked = unl[np.asarray(indices, np.int64)]
    if np.unique(picked).size != picked.size or np.isin(picked, labeled).any():
        raise RuntimeError(f"Arm {arm!r} returned duplicate or labeled indices.")
    mask = np.asarray(pmask, bool)[:u]
    fields = {
        "acquired": int(picked.size),
        "picked_provenance": _fractions(prov[picked]),
        "pool_provenance": _fractions(prov[unl]),
        "preselected": int(mask.sum()),
        "candidate_provenance": _fractions(prov[unl[mask]]),
    }
    times = dict(stages, selection=total, selection_first_call=first,
                 selection_staged=sum(stages.values()))
    n_lab = int(np.asarray(labeled).size)
    artefacts = dict(
        labeled=np.asarray(labeled, np.int32), pool_index=unl,
        picked=picked.astype(np.int32), preselect_mask=mask,
        train_values=None if tv is None else np.asarray(tv)[:n_lab],
        values=None if values is None else np.asarray(values)[:u])
    return picked.astype(np.int32), fields, times, artefacts


def _acquire_on_host(cfg, acq_cfg, arm, scenario, labeled, tr, cap, acq_key):
    """Padded host buffers -> ``acquire`` (fused; staged too for stage times)."""
    from ads_jax.acquisition import acquire

    inputs, unl = cap.inputs(scenario, labeled, tr)
    kw = dict(max_class_count=cap.class_bound)
    res = acquire(acq_key, inputs, acq_cfg, fused=True, **kw)
    first = total = res.timings["total"]
    stages = {s: 0.0 for s in SELECTION_STAGES}
    if cfg.loop.warm_timing:
        total = acquire(acq_key, inputs, acq_cfg, fused=True, **kw).timings["total"]
        for _ in range(2):  # the second staged call is warm
            staged = acquire(acq_key, inputs, acq_cfg, **kw)
        if not np.array_equal(np.asarray(staged.indices), np.asarray(res.indices)):
            # Two different XLA programs: float rounding may break a near-tie
            # differently. The run keeps the fused program's picks (reproducible).
            warnings.warn(
                f"The fused and the staged acquisition of arm {arm!r} picked different "
                f"points ({np.setdiff1d(np.asarray(res.indices), np.asarray(staged.indices)).size}"
                f" of {acq_cfg.budget} differ; a float near-tie). The run keeps the fused "
                "program's picks; the staged times are still recorded.", RuntimeWarning,
                stacklevel=2)
        stages = _stage_times(staged)
    out = (res.indices, res.values, res.preselect_mask, res.train_values)
    return out, unl, first, total, stages


def _acquire_on_devices(cfg, acq_cfg, scenario, labeled, tr, cap, acq_key):
    """The pool stays on the devices (global sharded arrays; multi-process runs):
    the program gathers the labeled / unlabeled rows itself. No staged path."""
    from ads_jax.acquisition import make_pool_acquire_fn
    from ads_jax.distributed import to_host

    lab_buf, lab_mask, pool_buf, pool_mask, unl = cap.buffers(scenario, labeled)
    mesh = _pool_mesh()
    fn = make_pool_acquire_fn(acq_cfg, num_classes=int(scenario.num_classes), mesh=mesh,
                              max_class_count=cap.class_bound)
    args = (acq_key, tr["pool_emb"], tr["pool_probs"], lab_buf, lab_mask,
            np.asarray(scenario.y_pool[lab_buf], np.int32), pool_buf, pool_mask,
            tr["val_emb"], np.asarray(scenario.y_val, np.int32))
    t0 = time.perf_counter()
    res = jax.block_until_ready(fn(*args))
    first = total = time.perf_counter() - t0
    if cfg.loop.warm_timing:
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        total = time.perf_counter() - t0
    stages = {s: 0.0 for s in SELECTION_STAGES}
    return tuple(to_host(x) for x in res), unl, first, total, stages


def _new_record(arm: str, seed: int, r: int, labeled: np.ndarray, tr: dict) -> dict:
    """The record of round ``r`` before its acquisition (fields of the last round)."""
    rec: dict[str, Any] = {
        "arm": arm,
        "seed": int(seed),
        "round": r,
        "labeled": int(labeled.size),
        "test_accuracy": tr["test_accuracy"],
        "val_accuracy": tr["val_accuracy"],
        "best_epoch": tr["best_epoch"],
        "acquired": 0,
        "preselected": None,
        "picked_provenance": None,
        "candidate_provenance": None,
        "pool_provenance": None,
        "time": {s: 0.0 for s in STAGES} | {"selection": 0.0, "selection_first_call": 0.0,
                                            "selection_staged": 0.0},
    }
    rec["time"].update(tr["time"])
    return rec


def _progress_line(rec: dict, R: int) -> str:
    from ads_jax.data import NON_CLEAN

    msg = (f"[{rec['arm']} | seed {rec['seed']}] round {rec['round']}/{R}: "
           f"labeled={rec['labeled']} test acc={100 * rec['test_accuracy']:.1f}%  "
           f"train {rec['time']['training']:.1f}s")
    if rec["picked_provenance"] is not None:
        bad = sum(rec["picked_provenance"].get(k, 0.0) for k in NON_CLEAN)
        msg += f"  select {rec['time']['selection']:.2f}s  picked non-clean {100 * bad:.0f}%"
    return msg


def _resume_arm(cfg, arm, seed, ckpt):
    """(labeled, records) to continue one (arm, seed) from: its checkpoint or the start."""
    key_data = np.asarray(jax.random.key_data(jax.random.key(seed)), np.uint32)
    got = None if ckpt is None else _restore_state(ckpt)
    if got is None:
        return None, [], key_data
    labeled, saved_key, records = got
    if not np.array_equal(saved_key, key_data):
        raise ValueError(f"Checkpoint of {arm!r} seed {seed} was written with another key.")
    if len(records) > cfg.loop.rounds + 1:
        raise ValueError(
            f"Checkpoint of {arm!r} seed {seed} has {len(records) - 1} rounds but "
            f"loop.rounds={cfg.loop.rounds}; use a new out_dir.")
    return labeled, records, key_data


def _run_arm(cfg, acq_cfg, arm, seed, scenario, trainer, write_record, progress, callback):
    """All remaining rounds of one (arm, seed), resuming from its checkpoint; returns its records."""
    R = cfg.loop.rounds
    cap = _Capacity(cfg, scenario)
    ckpt = (_checkpointer(checkpoint_dir(cfg.loop.out_dir, arm, seed), cfg.loop.max_to_keep)
            if cfg.loop.checkpoint else None)
    emit = callback or (lambda ev: None)
    try:
        labeled, records, key_data = _resume_arm(cfg, arm, seed, ckpt)
        if labeled is None:
            labeled = np.asarray(scenario.labeled_init, np.int32)
        if records and progress:
            progress(f"[{arm} | seed {seed}] resuming after round {len(records) - 1}")
        for r in range(len(records), R + 1):
            last = r == R
            tr = trainer.run(seed, r, labeled, need_embeddings=not last, arm=arm)
            rec = _new_record(arm, seed, r, labeled, tr)
            emit({"event": "trained", "arm": arm, "seed": seed, "round": r})
            if not last:
                picked, fields, times, arts = _acquire_round(cfg, acq_cfg, arm, seed, r,
                                                             scenario, labeled, tr, cap)
                rec.update(fields)
                rec["time"].update(times)
                if cfg.loop.save_artefacts and is_primary():
                    save_artefacts(cfg.loop.out_dir, arm, seed, r, **arts)
                labeled = np.concatenate([labeled, picked])
                emit({"event": "acquired", "arm": arm, "seed": seed, "round": r})
            records.append(rec)
            if ckpt is not None:
                _save_state(ckpt, labeled, key_data, records)
                # The round is safe: its per-epoch training checkpoints are not needed.
                for who in (arm, "shared"):
                    if is_primary():
                        remove_fit_checkpoints(cfg.loop.out_dir, who, seed, r)
            emit({"event": "checkpointed", "arm": arm, "seed": seed, "round": r})
            write_record(rec)
            if progress:
                progress(_progress_line(rec, R))
            emit({"event": "saved", "arm": arm, "seed": seed, "round": r})
    finally:
        if ckpt is not None:
            ckpt.close()
    return records


def run_experiment(
    cfg: ExperimentConfig,
    *,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
    callback: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Run (or resume) every (seed, arm) of an experiment; return all records.

    Args:
      cfg: the experiment. ``cfg.arms`` are run for each of ``cfg.loop.seeds``
        (seeds outer, arms inner) for ``cfg.loop.rounds`` rounds of
        ``cfg.acquisition.budget`` picks.
      overwrite: discard an existing run in ``cfg.loop.out_dir`` first.
        Otherwise a run directory with a matching config is resumed (finished
        (arm, seed) pairs are not recomputed) and one with a different config
        is refused.
      progress: called with one human-readable line per finished round (e.g.
        ``print``); ``None`` for silence.
      callback: called with ``{"event": "trained" | "acquired" | "checkpointed"
        | "saved", "arm", "seed", "round"}`` at those points of every round
        (the state is checkpointed between "acquired" and "checkpointed", the
        record written between "checkpointed" and "saved"); raising from it
        stops the run like a kill would (tests use this).

    Returns:
      list of record dicts, in ``results.jsonl`` order.

    Raises:
      ValueError: unknown arm, budget x rounds larger than the pool, config
        mismatch with an existing run directory, errors of the data/model/
        training/acquisition configs.
      RunDirectoryBusy: another run holds the run directory.
      FileNotFoundError: dataset file missing.
    """
    from ads_jax.data import build_scenario

    if not isinstance(cfg, ExperimentConfig):
        raise TypeError(f"`cfg` must be an ExperimentConfig, got {type(cfg).__name__}.")
    if cfg.train.multi_host:
        from ads_jax.distributed import initialize

        initialize()
    acq_cfgs = _acq_configs(cfg)
    # Build the first scenario before touching the run directory: a missing
    # dataset or a too-small pool fails fast, without leaving files behind.
    seeds = list(cfg.loop.seeds)
    datasets = _load_datasets(cfg.data)
    scenario = build_scenario(cfg.data, seeds[0], datasets=datasets)
    _check_sizes(cfg, scenario)
    out = cfg.loop.out_dir
    check_out_dir(out)
    from ads_jax.distributed import broadcast_ok, is_primary

    primary = is_primary()
    if not primary:  # only process 0 talks and writes
        progress = None
    lock = RunLock(out) if primary else None
    ok = False
    try:
        try:
            if primary:
                lock.acquire()
                if lock.previous and progress:
                    progress(f"run directory {out}: took over the lock of a stopped run "
                             f"(pid {lock.previous.get('pid')} on {lock.previous.get('host')!r})")
                prepare(out, to_dict(cfg), overwrite=overwrite)
            ok = True
        finally:
            broadcast_ok(ok, "Preparing the run directory")
        return _run_locked(cfg, acq_cfgs, seeds, datasets, scenario, progress, callback, lock)
    finally:
        if lock is not None:
            lock.release()


def _run_locked(cfg, acq_cfgs, seeds, datasets, scenario, progress, callback, lock):
    from ads_jax.data import build_scenario

    out = cfg.loop.out_dir
    # Rebuild results.jsonl from the checkpoints: it may lag behind them, hold
    # a half-written line after a kill, or records a killed run wrote twice.
    existing: dict[tuple[int, str], list[dict]] = {}
    from ads_jax.distributed import is_primary

    primary = is_primary()
    if cfg.loop.checkpoint:
        for seed in seeds:
            for arm in cfg.arms:
                st = load_state(out, arm, seed)
                if st is not None:
                    existing[(seed, arm)] = st["records"]
    results = ResultsWriter(out, [rec for seed in seeds for arm in cfg.arms
                                  for rec in existing.get((seed, arm), [])],
                            lock=lock) if primary else None

    def write_record(rec: dict) -> None:
        if results is not None:
            results.append(rec)

    if progress:
        n_done = sum(len(v) for v in existing.values())
        n_all = len(seeds) * len(cfg.arms) * (cfg.loop.rounds + 1)
        progress(f"run directory: {out}" + (f" (resuming: {n_done} of {n_all} rounds done)"
                                            if n_done else ""))

    all_records: list[dict] = []
    for i, seed in enumerate(seeds):
        todo = [a for a in cfg.arms if len(existing.get((seed, a), [])) < cfg.loop.rounds + 1]
        if not todo:
            for arm in cfg.arms:
                all_records += existing[(seed, arm)]
            continue
        if i > 0:
            scenario = build_scenario(cfg.data, seed, datasets=datasets)
            _check_sizes(cfg, scenario)
        trainer = _Trainer(cfg, scenario)
        for arm in cfg.arms:
            if arm not in todo:
                all_records += existing[(seed, arm)]
                continue
            all_records += _run_arm(cfg, acq_cfgs[arm], arm, seed, scenario, trainer,
                                    write_record, progress, callback)
    return all_records
