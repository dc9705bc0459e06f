"""The active learning loop: train -> evaluate -> embed -> acquire -> reveal, resumable.

For every seed s and arm a of an :class:`~ads_jax.config.ExperimentConfig`,
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

Run directory (``loop.out_dir``)::

    config.json                      resolved ExperimentConfig
    results.jsonl                    one record per (seed, arm, round)
    checkpoints/<arm>/seed_<s>/<n>/  Orbax: state (labeled indices, key data)
                                     + records after n finished rounds

A record (see :func:`ads_jax.plotting.load_results`) has: ``arm, seed, round,
labeled`` (training-set size), ``test_accuracy, val_accuracy, best_epoch``,
``acquired`` (points picked this round, 0 in the last round),
``picked_provenance`` / ``candidate_provenance`` / ``pool_provenance``
(fraction of each :data:`ads_jax.data.PROVENANCE` class among the picked
points / the pre-selected candidates / the whole unlabeled pool; ``None`` in the
last round), ``preselected`` (number of candidates after pre-selection) and
``time`` (seconds: ``training`` (fit, including any compilation),
``inference`` (test accuracy + pool/validation embeddings), ``valuation,
regression, preselection, diversity`` and their sum ``selection`` -- measured
on a second, warm call of ``acquire`` with the same key when
``loop.warm_timing`` (shapes change every round, so the first call compiles)
-- and ``selection_first_call``, the same sum for the first call).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import time
from typing import Any, Callable

import jax
import numpy as np

from ads_jax.config import ExperimentConfig, config_diff, save_json, to_dict

__all__ = [
    "run_experiment",
    "round_keys",
    "load_state",
    "results_path",
    "checkpoint_dir",
    "fit_checkpoint_dir",
    "STAGES",
]

#: Per-round wall-time entries of a record's ``time`` dict.
STAGES = ("training", "inference", "valuation", "regression", "preselection", "diversity")

# Loop fields that may differ between the config of a run directory and the
# config that resumes it: where it lives, which (arm, seed) pairs to run now
# and bookkeeping. Anything else changes results, so it must match.
_RESUMABLE_DIFFS = ("loop.out_dir", "loop.arms", "loop.seeds", "loop.checkpoint",
                    "loop.max_to_keep", "loop.share_initial_round", "loop.warm_timing",
                    "loop.checkpoint_training", "acquisition.arm")


def round_keys(seed: int, round_: int) -> tuple[jax.Array, jax.Array]:
    """PRNG keys of one round: ``(train_key, acquire_key)``.

    ``base = fold_in(key(seed), round)``; ``train = fold_in(base, 0)``,
    ``acquire = fold_in(base, 1)``. Typed keys (``jax.random.key``).
    """
    base = jax.random.fold_in(jax.random.key(seed), round_)
    return jax.random.fold_in(base, 0), jax.random.fold_in(base, 1)


def results_path(out_dir: str | os.PathLike) -> str:
    """``<out_dir>/results.jsonl``."""
    return os.path.join(os.fspath(out_dir), "results.jsonl")


def _slug(arm: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", arm.replace("+", "_plus_"))
    return s or "arm"


def checkpoint_dir(out_dir: str | os.PathLike, arm: str, seed: int) -> str:
    """Orbax checkpoint directory of one (arm, seed) run."""
    return os.path.join(os.path.abspath(os.fspath(out_dir)), "checkpoints", _slug(arm), f"seed_{seed}")


def fit_checkpoint_dir(out_dir: str | os.PathLike, arm: str, seed: int, round_: int) -> str:
    """Per-epoch training checkpoints of one round (``loop.checkpoint_training``).

    ``arm="shared"`` is the round-0 model shared by all arms of a seed.
    Removed once the round's loop state is checkpointed.
    """
    return os.path.join(os.path.abspath(os.fspath(out_dir)), "fit_checkpoints", _slug(arm),
                        f"seed_{seed}", f"round_{round_}")


# ----------------------------------------------------------------------------
# Checkpointing of the loop state (Orbax).
# ----------------------------------------------------------------------------


def _manager(path: str, max_to_keep: int):
    import orbax.checkpoint as ocp

    opts = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep,
        enable_async_checkpointing=False,
        cleanup_tmp_directories=True,
        create=True,
    )
    return ocp.CheckpointManager(path, options=opts, item_names=("state", "meta"))


def _save(mgr, step: int, labeled: np.ndarray, key_data: np.ndarray, records: list[dict]) -> None:
    import orbax.checkpoint as ocp

    mgr.save(
        step,
        args=ocp.args.Composite(
            state=ocp.args.StandardSave(
                {"labeled": np.asarray(labeled, np.int32), "key": np.asarray(key_data, np.uint32)}
            ),
            meta=ocp.args.JsonSave({"records": records, "rounds_done": step}),
        ),
        force=True,
    )
    mgr.wait_until_finished()


def _restore(mgr) -> tuple[np.ndarray, np.ndarray, list[dict]] | None:
    import orbax.checkpoint as ocp

    step = mgr.latest_step()
    if step is None:
        return None
    out = mgr.restore(
        step, args=ocp.args.Composite(state=ocp.args.StandardRestore(), meta=ocp.args.JsonRestore())
    )
    records = list(out["meta"]["records"])
    if len(records) != step:
        raise ValueError(f"Corrupt checkpoint at {mgr.directory}/{step}: {len(records)} records.")
    return np.asarray(out["state"]["labeled"], np.int32), np.asarray(out["state"]["key"]), records


def load_state(out_dir: str | os.PathLike, arm: str, seed: int) -> dict | None:
    """Latest checkpointed loop state of one (arm, seed) run, or ``None``.

    Returns:
      ``{"labeled": int32 (L,) pool indices (initial set, then picks in
      acquisition order), "key": uint32 key data of ``key(seed)``,
      "records": list of per-round dicts}``.
    """
    path = checkpoint_dir(out_dir, arm, seed)
    if not os.path.isdir(path):
        return None
    with _manager(path, 1000) as mgr:
        got = _restore(mgr)
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


_SELECTION_STAGES = ("valuation", "regression", "preselection", "diversity")


def _stage_times(res) -> dict[str, float]:
    t = getattr(res, "timings", None) or {}
    return {s: float(t.get(s, 0.0)) for s in _SELECTION_STAGES}


def _acq_configs(cfg: ExperimentConfig) -> dict[str, Any]:
    """One AcquisitionConfig per arm (validates arm names before any training)."""
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

    names = [data_cfg.dataset, *getattr(data_cfg, "source_datasets", ())]
    if getattr(data_cfg, "ood_dataset", None):
        names.append(data_cfg.ood_dataset)
    out = {}
    for n in names:
        if n not in out:
            out[n] = load_dataset(n, data_dir=getattr(data_cfg, "data_dir", None))
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


def _prepare_dir(cfg: ExperimentConfig, overwrite: bool) -> None:
    out = cfg.loop.out_dir
    cfg_path = os.path.join(out, "config.json")
    if overwrite:
        for name in ("config.json", "results.jsonl", "curves.png"):
            p = os.path.join(out, name)
            if os.path.exists(p):
                os.remove(p)
        for sub in ("checkpoints", "fit_checkpoints"):
            if os.path.isdir(os.path.join(out, sub)):
                shutil.rmtree(os.path.join(out, sub))
    elif os.path.isfile(cfg_path) and cfg.loop.checkpoint:
        with open(cfg_path) as f:
            try:
                old = json.load(f)
            except json.JSONDecodeError:
                old = None
        if old is not None:
            diffs = [d for d in config_diff(old, to_dict(cfg)) if d not in _RESUMABLE_DIFFS]
            if diffs:
                raise ValueError(
                    f"Run directory {out!r} holds a run with a different config "
                    f"(differs in: {', '.join(diffs)}). Use another `loop.out_dir`, "
                    "or --overwrite to discard the old run."
                )
    os.makedirs(out, exist_ok=True)
    save_json(cfg, cfg_path)


class _Trainer:
    """Train / evaluate / embed with a per-seed cache of the round-0 model outputs."""

    def __init__(self, cfg: ExperimentConfig, scenario):
        from ads_jax.models import build_model

        self.cfg = cfg
        self.sc = scenario
        self.model = build_model(cfg.model, int(scenario.num_classes))
        self._cache: dict[tuple, dict] = {}

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
                  sc.x_val, sc.y_val, self.cfg.train, checkpoint_dir=fit_dir)
        jax.block_until_ready(res.variables)
        t1 = time.perf_counter()
        acc = float(evaluate(self.model, res.variables, sc.x_test, sc.y_test, batch_size=bs))
        out = {"test_accuracy": acc, "best_epoch": int(res.best_epoch)}
        best = [h for h in res.history if h.get("epoch") == res.best_epoch]
        out["val_accuracy"] = float(best[0]["val_accuracy"]) if best else None
        if need_embeddings:
            pool_out = predict(self.model, res.variables, sc.x_pool, batch_size=bs)
            val_out = predict(self.model, res.variables, sc.x_val, batch_size=bs)
            out["pool_emb"] = np.asarray(pool_out["embeddings"])
            out["pool_probs"] = np.asarray(pool_out["probs"])
            out["val_emb"] = np.asarray(val_out["embeddings"])
        t2 = time.perf_counter()
        out["time"] = {"training": t1 - t0, "inference": t2 - t1}
        if share:
            self._cache = {cache_key: out}
        return out


def _acquire_round(cfg, acq_cfg, arm, seed, r, scenario, labeled, tr):
    """One acquisition: returns (picked pool indices (B,) int32, record fields and times)."""
    from ads_jax.acquisition import AcquisitionInputs, acquire

    pool_size = int(scenario.x_pool.shape[0])
    prov = np.asarray(scenario.provenance)
    is_lab = np.zeros(pool_size, bool)
    is_lab[labeled] = True
    unl = np.flatnonzero(~is_lab).astype(np.int32)
    inputs = AcquisitionInputs(
        labeled_emb=tr["pool_emb"][labeled],
        labeled_y=np.asarray(scenario.y_pool[labeled], np.int32),
        pool_emb=tr["pool_emb"][unl],
        pool_probs=tr["pool_probs"][unl],
        val_emb=tr["val_emb"],
        val_y=np.asarray(scenario.y_val, np.int32),
        num_classes=int(scenario.num_classes),
        labeled_probs=tr["pool_probs"][labeled],
    )
    _, acq_key = round_keys(seed, r)
    res = acquire(acq_key, inputs, acq_cfg)
    cold = _stage_times(res)
    timed = cold
    if cfg.loop.warm_timing:
        # Shapes change every round, so the first call compiles; time the
        # stages again on a warm call (same key: same picks).
        warm = acquire(acq_key, inputs, acq_cfg)
        if not np.array_equal(np.asarray(warm.indices), np.asarray(res.indices)):
            raise RuntimeError(
                f"acquire() with arm {arm!r} returned different picks for the same key and "
                "inputs: results would not be reproducible."
            )
        timed = _stage_times(warm)
    picked = unl[np.asarray(res.indices, np.int64)]
    if np.unique(picked).size != picked.size or is_lab[picked].any():
        raise RuntimeError(f"Arm {arm!r} returned duplicate or labeled indices.")
    fields = {
        "acquired": int(picked.size),
        "picked_provenance": _fractions(prov[picked]),
        "pool_provenance": _fractions(prov[unl]),
    }
    mask = getattr(res, "preselect_mask", None)
    if mask is not None:
        mask = np.asarray(mask, bool)
        fields["preselected"] = int(mask.sum())
        fields["candidate_provenance"] = _fractions(prov[unl[mask]])
    times = dict(timed, selection=sum(timed.values()), selection_first_call=sum(cold.values()))
    return picked.astype(np.int32), {"fields": fields, "time": times}


def _run_arm(cfg, acq_cfg, arm, seed, scenario, trainer, write_record, progress, callback):
    """All remaining rounds of one (arm, seed), resuming from its checkpoint; returns its records."""
    R = cfg.loop.rounds
    key_data = np.asarray(jax.random.key_data(jax.random.key(seed)), np.uint32)
    labeled = np.asarray(scenario.labeled_init, np.int32)
    records: list[dict] = []
    mgr = None
    if cfg.loop.checkpoint:
        mgr = _manager(checkpoint_dir(cfg.loop.out_dir, arm, seed), cfg.loop.max_to_keep)
        got = _restore(mgr)
        if got is not None:
            labeled, saved_key, records = got
            if not np.array_equal(saved_key, key_data):
                raise ValueError(f"Checkpoint of {arm!r} seed {seed} was written with another key.")
    try:
        if len(records) > R:
            raise ValueError(
                f"Checkpoint of {arm!r} seed {seed} has {len(records) - 1} rounds but "
                f"loop.rounds={R}; use a new out_dir."
            )
        if records and progress:
            progress(f"[{arm} | seed {seed}] resuming after round {len(records) - 1}")
        for r in range(len(records), R + 1):
            last = r == R
            tr = trainer.run(seed, r, labeled, need_embeddings=not last, arm=arm)
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
                "time": {s: 0.0 for s in STAGES} | {"selection": 0.0, "selection_first_call": 0.0},
            }
            rec["time"].update(tr["time"])
            if callback:
                callback({"event": "trained", "arm": arm, "seed": seed, "round": r})
            if not last:
                picked, info = _acquire_round(cfg, acq_cfg, arm, seed, r, scenario, labeled, tr)
                rec.update(info["fields"])
                rec["time"].update(info["time"])
                labeled = np.concatenate([labeled, picked])
                if callback:
                    callback({"event": "acquired", "arm": arm, "seed": seed, "round": r})
            records.append(rec)
            if mgr is not None:
                _save(mgr, len(records), labeled, key_data, records)
                # The round is safe: its per-epoch training checkpoints are not needed.
                for who in (arm, "shared"):
                    fdir = fit_checkpoint_dir(cfg.loop.out_dir, who, seed, r)
                    if os.path.isdir(fdir):
                        shutil.rmtree(fdir, ignore_errors=True)
            write_record(rec)
            if progress:
                msg = (f"[{arm} | seed {seed}] round {r}/{R}: labeled={rec['labeled']} "
                       f"test acc={100 * rec['test_accuracy']:.1f}%  "
                       f"train {rec['time']['training']:.1f}s")
                if not last:
                    bad = sum(rec["picked_provenance"].get(k, 0.0)
                              for k in ("noisy", "ood", "mislabeled", "source_domain"))
                    msg += (f"  select {rec['time']['selection']:.2f}s  "
                            f"picked non-clean {100 * bad:.0f}%")
                progress(msg)
            if callback:
                callback({"event": "saved", "arm": arm, "seed": seed, "round": r})
    finally:
        if mgr is not None:
            mgr.close()
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
      callback: called with ``{"event": "trained" | "acquired" | "saved",
        "arm", "seed", "round"}`` at those points of every round (the state is
        checkpointed between "acquired" and "saved"); raising from it stops
        the run like a kill would (tests use this).

    Returns:
      list of record dicts, in ``results.jsonl`` order.

    Raises:
      ValueError: unknown arm, budget x rounds larger than the pool, config
        mismatch with an existing run directory, errors of the data/model/
        training/acquisition configs.
      FileNotFoundError: dataset file missing.
    """
    from ads_jax.data import build_scenario

    if not isinstance(cfg, ExperimentConfig):
        raise TypeError(f"`cfg` must be an ExperimentConfig, got {type(cfg).__name__}.")
    acq_cfgs = _acq_configs(cfg)
    # Build the first scenario before touching the run directory: a missing
    # dataset or a too-small pool fails fast, without leaving files behind.
    seeds = list(cfg.loop.seeds)
    datasets = _load_datasets(cfg.data)
    scenario = build_scenario(cfg.data, seeds[0], datasets=datasets)
    _check_sizes(cfg, scenario)
    _prepare_dir(cfg, overwrite)

    out = cfg.loop.out_dir
    res_path = results_path(out)
    # Rebuild results.jsonl from the checkpoints (it may lag behind them or
    # hold a half-written line after a kill).
    existing: dict[tuple[int, str], list[dict]] = {}
    if cfg.loop.checkpoint:
        for seed in seeds:
            for arm in cfg.arms:
                st = load_state(out, arm, seed)
                if st is not None:
                    existing[(seed, arm)] = st["records"]
    with open(res_path + ".tmp", "w") as f:
        for seed in seeds:
            for arm in cfg.arms:
                for rec in existing.get((seed, arm), []):
                    f.write(json.dumps(rec) + "\n")
    os.replace(res_path + ".tmp", res_path)

    def write_record(rec: dict) -> None:
        with open(res_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
            f.flush()

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
