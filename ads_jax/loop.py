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
``inference`` (test accuracy + pool/validation embeddings), ``selection``
(the wall time of the arm's one acquisition program, run once per round;
one jitted program per arm for the whole run, fixed shapes) and ``compile``
(compiling that program, ahead of its first call: non-zero in the round that
compiled it)). Per-stage times are a profiling matter
(:func:`ads_jax.acquisition.profile_acquisition`, the benchmarks).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import threading
import time
from typing import Any, Callable

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from ads_jax.acquisition import (AcquisitionInputs, check_inputs, make_acquire_fn,
                                 make_pool_acquire_fn, preselect_note)
from ads_jax.checkpoint import Checkpointer, CheckpointError
from ads_jax._files import as_path
from ads_jax.config_engine import to_dict
from ads_jax.data import (NON_CLEAN, PROVENANCE, PoolRows, build_scenario,
                          load_scenario_datasets)
from ads_jax.data.kinds import get_kind
from ads_jax.distributed import (broadcast_ok, gather_pool_rows, global_rows, initialize,
                                 is_primary, pool_rows,
                                 to_host)
from ads_jax.environment import describe, processor
from ads_jax.experiment import ExperimentConfig
from ads_jax.models import build_model_component
from ads_jax.proxy import embed_scenario, load_backbone
from ads_jax.records import Record, Times, non_clean_share
from ads_jax.stats import balanced_accuracy
from ads_jax.sharding import pool_mesh
from ads_jax.determinism import ensure_deterministic_ops
from ads_jax.training import predict
from ads_jax.rundir import (
    record_environment,
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
    "RESUMABLE_FIELDS",
]



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

    codes = np.asarray(codes)
    n = max(codes.size, 1)
    return {name: float(np.sum(codes == i)) / n for i, name in enumerate(PROVENANCE)}


def _acq_configs(cfg: ExperimentConfig) -> dict[str, Any]:
    """One AcquisitionConfig per arm (validates arm names and options before any training)."""
    out = {}
    for arm in cfg.arms:
        try:
            out[arm] = dataclasses.replace(cfg.acquisition, arm=arm)
        except (ValueError, TypeError) as e:
            raise ValueError(f"Invalid arm {arm!r} in loop.arms: {e}") from None
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


def _check_model_inputs(cfg: ExperimentConfig, scenario) -> None:
    """The model reads what the scenario holds (images or feature vectors), else a clear error."""
    model = build_model_component(cfg.model, int(scenario.num_classes))
    # With a backbone the images are embedded before training (proxy mode).
    has_images = np.ndim(scenario.x_pool) == 4 and cfg.data.backbone is None
    if model.inputs == "images" and not has_images:
        raise ValueError(
            f"`model.name`={cfg.model.name!r} trains on images, but the scenario holds "
            f"feature vectors (`data.dataset`={cfg.data.dataset!r}"
            + (", embedded by `data.backbone`" if cfg.data.backbone else "") + "): train a "
            "head on them with model.name=linear or model.name=mlp (proxy mode).")
    if model.inputs == "features" and has_images:
        raise ValueError(
            f"`model.name`={cfg.model.name!r} trains on feature vectors, but `data.dataset`="
            f"{cfg.data.dataset!r} holds images: give features (data.dataset=features:PATH.npz) "
            "or embed the images with a frozen backbone (data.backbone=DIR), or use "
            "model.name=wrn.")


class _Trainer:
    """Train / evaluate / embed with a per-seed cache of the round-0 model outputs."""

    def __init__(self, cfg: ExperimentConfig, scenario, devices=None):
        self.cfg = cfg
        self.sc = scenario
        self.on = devices  # this seed's slice of the devices (None: all of them)
        self.model = build_model_component(cfg.model, int(scenario.num_classes))
        self._cache: dict[tuple, dict] = {}
        # Final labeled-set size: one on-device training buffer (and one compile of
        # the train step) for every round of the run.
        self.capacity = _Capacity(cfg, scenario).labeled
        self.devices = _DevicePool(cfg, scenario) if _device_path(cfg) else None

    def run(self, seed: int, round_: int, labeled: np.ndarray, *, need_embeddings: bool,
            arm: str) -> dict:
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
        module = self.model.module
        x_lab = gather_pool_rows(sc.x_pool, labeled)  # a per-host pool fetches new picks
        res = self.model.fit(train_key, x_lab, sc.y_pool[labeled], sc.x_val,
                             sc.y_val, self.cfg.train, checkpoint_dir=fit_dir,
                             capacity=self.capacity, devices=self.on)
        jax.block_until_ready(res.variables)
        t1 = time.perf_counter()
        pred = np.argmax(predict(module, res.variables, sc.x_test, batch_size=bs,
                                 devices=self.on)["logits"], -1)
        out = {"test_accuracy": float(np.mean(pred == sc.y_test)),
               "test_balanced_accuracy": balanced_accuracy(sc.y_test, pred,
                                                           int(sc.num_classes)),
               "best_epoch": int(res.best_epoch), "shared": share}
        best = [h for h in res.history if h.get("epoch") == res.best_epoch]
        out["val_accuracy"] = float(best[0]["val_accuracy"]) if best else None
        if need_embeddings:
            if self.devices is not None:  # each process embeds its slice of the pool
                out.update(self.devices.embed(module, res.variables, bs))
            else:
                pool_out = predict(module, res.variables, sc.x_pool, batch_size=bs,
                                   devices=self.on)
                out["pool_emb"] = np.asarray(pool_out["embeddings"])
                out["pool_probs"] = np.asarray(pool_out["probs"])
            val_out = predict(module, res.variables, sc.x_val, batch_size=bs,
                              local=self.devices is not None, devices=self.on)
            out["val_emb"] = np.asarray(val_out["embeddings"])
        t2 = time.perf_counter()
        out["time"] = {"training": t1 - t0, "inference": t2 - t1}
        if share:
            self._cache = {cache_key: out}
        return out


def _device_path(cfg: ExperimentConfig) -> bool:
    """Acquisition on global device arrays: ``loop.mesh="all"`` or several processes."""
    return cfg.loop.mesh == "all" or jax.process_count() > 1


class _DevicePool:
    """The pool's embeddings as global arrays over the acquisition mesh.

    The P pool rows are padded to a multiple of the device count (copies of
    a held row, never valid) and sharded over a 1-D mesh of every device; each
    process embeds only the rows its devices hold (:func:`distributed.pool_rows`)
    and the slices form one global array (``make_array_from_process_local_data``).
    """

    def __init__(self, cfg: ExperimentConfig, scenario):
        self.p = int(scenario.x_pool.shape[0])
        self.sharding, self.p_pad = _pool_sharding(self.p)
        self.rows = pool_rows(self.sharding, self.p_pad)
        x = scenario.x_pool
        pad_row = int(x.rows[0]) if isinstance(x, PoolRows) else 0
        self.x_local = x[np.where(self.rows < self.p, self.rows, pad_row)]

    def embed(self, model, variables, batch_size: int) -> dict:

        out = predict(model, variables, self.x_local, batch_size=batch_size, local=True)
        return {"pool_emb": global_rows(out["embeddings"], self.sharding, self.p_pad),
                "pool_probs": global_rows(out["probs"], self.sharding, self.p_pad)}


def _pool_sharding(p: int) -> tuple[NamedSharding, int]:
    """The acquisition mesh's sharding of the pool rows and P padded to the device count."""
    n_dev = jax.device_count()
    return NamedSharding(pool_mesh(), PartitionSpec("pool")), -(-p // n_dev) * n_dev


def _local_pool_rows(p: int) -> np.ndarray:
    """The pool rows (< P) this process's devices hold: its slice of a per-host build."""
    sharding, p_pad = _pool_sharding(p)
    rows = pool_rows(sharding, p_pad)
    return rows[rows < p]


def _scenario_rows(cfg: ExperimentConfig):
    """``rows=`` of ``build_scenario``: each process's slice in a multi-process run on
    images (:mod:`ads_jax.distributed`), None (the whole scenario) otherwise -- one
    process, proxy mode (the backbone embeds the whole scenario) or a kind registered
    without ``per_host``."""
    if jax.process_count() == 1 or cfg.data.backbone is not None:
        return None
    return _local_pool_rows if get_kind(cfg.data.kind).per_host else None


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
            class_capacity=self.class_bound,
        )
        return inputs, unl


def _acquire_round(cfg, acq_cfg, arm, seed, r, scenario, labeled, tr, cap: _Capacity,
                   programs: "_Programs"):
    """One acquisition with the run's fixed shapes: the arm's one acquisition
    program (compiled once per run, ahead of its first call), run once.

    Returns (picked pool indices (B,) int32, record fields, times, artefacts).
    """
    prov = np.asarray(scenario.provenance)
    _, acq_key = round_keys(seed, r)
    if _device_path(cfg):
        lab_buf, lab_mask, pool_buf, pool_mask, unl = cap.buffers(scenario, labeled)
        fn = make_pool_acquire_fn(acq_cfg, num_classes=int(scenario.num_classes),
                                  mesh=pool_mesh(), class_capacity=cap.class_bound)
        args = (acq_key, tr["pool_emb"], tr["pool_probs"], lab_buf, lab_mask,
                np.asarray(scenario.y_pool[lab_buf], np.int32), pool_buf, pool_mask,
                tr["val_emb"], np.asarray(scenario.y_val, np.int32))
    else:
        inputs, unl = cap.inputs(scenario, labeled, tr)
        inputs = check_inputs(inputs, acq_cfg)
        fn = make_acquire_fn(acq_cfg)
        args = (acq_key, inputs)
    res, compile_s, call_s = programs.run(arm, fn, args)
    res = jax.tree.map(to_host, res)
    u = unl.size
    picked = unl[np.asarray(res.indices, np.int64)]
    if np.unique(picked).size != picked.size or np.isin(picked, labeled).any():
        raise RuntimeError(f"Arm {arm!r} returned duplicate or labeled indices.")
    mask = np.asarray(res.preselect_mask, bool)[:u]
    fields = {
        "acquired": int(picked.size),
        "picked_provenance": _fractions(prov[picked]),
        "pool_provenance": _fractions(prov[unl]),
        "preselected": int(mask.sum()),
        "candidate_provenance": _fractions(prov[unl[mask]]),
    }
    times = {"selection": call_s, "compile": compile_s}
    n_lab = int(np.asarray(labeled).size)
    artefacts = dict(
        labeled=np.asarray(labeled, np.int32), pool_index=unl,
        picked=picked.astype(np.int32), preselect_mask=mask,
        train_values=None if res.train_values is None else np.asarray(res.train_values)[:n_lab],
        values=None if res.values is None else np.asarray(res.values)[:u])
    return picked.astype(np.int32), fields, times, artefacts


class _Programs:
    """The run's acquisition programs, one per arm, compiled ahead of their first call.

    The compile time is recorded once (``time.compile`` of the round that
    compiled) and every round's ``time.selection`` is the wall time of the
    one call of the compiled program.
    """

    def __init__(self):
        self._compiled: dict[str, Any] = {}

    def run(self, arm: str, fn, args) -> tuple[Any, float, float]:
        leaves, tree = jax.tree.flatten(args)
        # jax.config.jax_default_device: the device of this seed's slice (parallel seeds).
        key = (arm, fn, tree, str(jax.config.jax_default_device),
               tuple((np.shape(x), str(getattr(x, "dtype", type(x))))
                                    for x in leaves))
        compiled = self._compiled.get(key)
        compile_s = 0.0
        if compiled is None:
            t0 = time.perf_counter()
            compiled = fn.lower(*args).compile()
            compile_s = time.perf_counter() - t0
            self._compiled[key] = compiled
        t0 = time.perf_counter()
        out = jax.block_until_ready(compiled(*args))
        return out, compile_s, time.perf_counter() - t0


def _new_record(arm: str, seed: int, r: int, labeled: np.ndarray, tr: dict) -> Record:
    """The record of round ``r`` before its acquisition (the fields of a last round)."""
    return Record(arm=arm, seed=int(seed), round=r, labeled=int(labeled.size),
                  test_accuracy=tr["test_accuracy"],
                  test_balanced_accuracy=tr["test_balanced_accuracy"],
                  val_accuracy=tr["val_accuracy"], best_epoch=tr["best_epoch"],
                  shared_training=bool(tr["shared"]), processor=processor(),
                  time=Times(**tr["time"]))


def _progress_line(rec: Record, R: int) -> str:
    shared = " (shared by the arms)" if rec.shared_training else ""
    msg = (f"[{rec.arm} | seed {rec.seed}] round {rec.round}/{R}: "
           f"labeled={rec.labeled} test acc={100 * rec.test_accuracy:.1f}%  "
           f"train {rec.time.training:.1f}s{shared}")
    if rec.picked_provenance is not None:
        bad = non_clean_share(rec.picked_provenance, NON_CLEAN)
        msg += (f"  select {rec.time.selection:.2f}s"
                + (f" (+{rec.time.compile:.1f}s compile)" if rec.time.compile else "")
                + f"  picked non-clean {100 * bad:.0f}%")
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


def _run_arm(cfg, acq_cfg, arm, seed, scenario, trainer, programs, write_record, progress,
             callback):
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
            record = _new_record(arm, seed, r, labeled, tr)
            emit({"event": "trained", "arm": arm, "seed": seed, "round": r})
            if not last:
                picked, fields, times, arts = _acquire_round(cfg, acq_cfg, arm, seed, r,
                                                             scenario, labeled, tr, cap,
                                                             programs)
                record = dataclasses.replace(record, **fields,
                                             time=dataclasses.replace(record.time, **times))
                if cfg.loop.save_artefacts and is_primary():
                    save_artefacts(cfg.loop.out_dir, arm, seed, r, **arts)
                labeled = np.concatenate([labeled, picked])
                emit({"event": "acquired", "arm": arm, "seed": seed, "round": r})
            rec = record.to_dict()
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
                progress(_progress_line(record, R))
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
      RuntimeError: ``train.deterministic`` on a GPU backend started without
        ``--xla_gpu_deterministic_ops=true`` (see :mod:`ads_jax.determinism`).
      FileNotFoundError: dataset file missing.
    """
    if not isinstance(cfg, ExperimentConfig):
        raise TypeError(f"`cfg` must be an ExperimentConfig, got {type(cfg).__name__}.")
    # Before anything starts JAX's backends (train.deterministic; no effect on CPU).
    ensure_deterministic_ops(cfg.train.deterministic)
    if cfg.loop.parallel_seeds > 1 and jax.process_count() > 1:
        raise ValueError("`loop.parallel_seeds` > 1 runs seeds on slices of one process's "
                         "devices; a multi-process run uses them all (loop.parallel_seeds=1).")
    if cfg.train.multi_host:
        initialize()
    acq_cfgs = _acq_configs(cfg)
    # Build the first scenario before touching the run directory: a missing
    # dataset or a too-small pool fails fast, without leaving files behind.
    seeds = list(cfg.loop.seeds)
    datasets = load_scenario_datasets(cfg.data)  # every data set named, once for all seeds
    scenario = build_scenario(cfg.data, seeds[0], datasets=datasets, rows=_scenario_rows(cfg))
    _check_sizes(cfg, scenario)
    _check_model_inputs(cfg, scenario)
    unlabeled = int(np.shape(scenario.x_pool)[0]) - int(np.asarray(scenario.labeled_init).size)
    note = preselect_note(cfg.acquisition, cfg.arms, unlabeled, cfg.loop.rounds)
    if note and progress and is_primary():
        progress(note)
    out = cfg.loop.out_dir
    check_out_dir(out)

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
                prepare(out, to_dict(cfg), overwrite=overwrite, config_type=type(cfg))
                record_environment(out, describe())
            ok = True
        finally:
            broadcast_ok(ok, "Preparing the run directory")
        return _run_locked(cfg, acq_cfgs, seeds, datasets, scenario, progress, callback, lock)
    finally:
        if lock is not None:
            lock.release()


def _run_locked(cfg, acq_cfgs, seeds, datasets, scenario, progress, callback, lock):

    out = cfg.loop.out_dir
    # Rebuild results.jsonl from the checkpoints: it may lag behind them, hold
    # a half-written line after a kill, or records a killed run wrote twice.
    existing: dict[tuple[int, str], list[dict]] = {}

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

    programs = _Programs()
    backbones: dict[str, Any] = {}
    write_lock = threading.Lock()

    def write_record_locked(rec: dict) -> None:
        with write_lock:  # seeds may run in parallel threads
            write_record(rec)

    def run_seed(seed: int, devices) -> list[dict]:
        """Every arm of one seed (its records, finished ones from the checkpoints)."""
        todo = [a for a in cfg.arms if len(existing.get((seed, a), [])) < cfg.loop.rounds + 1]
        if not todo:
            return [r for arm in cfg.arms for r in existing[(seed, arm)]]
        sc = scenario if seed == seeds[0] else build_scenario(cfg.data, seed, datasets=datasets,
                                                              rows=_scenario_rows(cfg))
        _check_sizes(cfg, sc)
        if cfg.data.backbone is not None:  # proxy mode: the head trains on cached features
            if cfg.data.backbone not in backbones:
                backbones[cfg.data.backbone] = load_backbone(cfg.data.backbone)
            sc = embed_scenario(sc, backbones[cfg.data.backbone], datasets=datasets,
                                progress=progress)
        trainer = _Trainer(cfg, sc, devices=devices)
        out_records = []
        for arm in cfg.arms:
            if arm not in todo:
                out_records += existing[(seed, arm)]
                continue
            out_records += _run_arm(cfg, acq_cfgs[arm], arm, seed, sc, trainer, programs,
                                    write_record_locked, progress, callback)
        return out_records

    k = cfg.loop.parallel_seeds
    if k == 1:
        return [r for seed in seeds for r in run_seed(seed, None)]
    slices = _device_slices(k)
    by_seed: dict[int, list[dict]] = {}
    for start in range(0, len(seeds), k):  # groups of k seeds, one device slice each
        group = seeds[start:start + k]
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(group)) as pool:
            futures = {seed: pool.submit(_on_devices, slices[i], run_seed, seed, slices[i])
                       for i, seed in enumerate(group)}
            for seed, fut in futures.items():
                by_seed[seed] = fut.result()
    return [r for seed in seeds for r in by_seed[seed]]


def _device_slices(k: int) -> list[list]:
    """``k`` disjoint, equal slices of this process's devices (``loop.parallel_seeds``)."""
    devices = jax.local_devices()
    if len(devices) % k:
        raise ValueError(f"`loop.parallel_seeds`={k} must divide the {len(devices)} devices "
                         "(each seed runs on an equal, disjoint slice of them).")
    n = len(devices) // k
    return [devices[i * n:(i + 1) * n] for i in range(k)]


def _on_devices(devices, fn, *args):
    """``fn(*args)`` with the slice's first device as the default device (this thread)."""
    with jax.default_device(devices[0]):
        return fn(*args)
