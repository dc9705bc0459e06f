"""An experiment: its typed config (scenario, model, training, acquisition, loop).

An experiment is one :class:`ExperimentConfig`, made of the typed sub-configs
of the layers it drives; each layer receives only its own sub-config::

    ExperimentConfig(
        data=ScenarioConfig(...),           # ads_jax.data: dataset and pool make-up
        model=ModelConfig(...),             # ads_jax.models: the network or head
        train=TrainConfig(...),             # ads_jax.training: optimiser, epochs, patience
        acquisition=AcquisitionConfig(      # ads_jax.acquisition: arm, budget and
            valuation=..., estimator=...,   #   the sub-configs of its stages
            preselect=..., selector=...),
        loop=LoopConfig(...),               # this module: rounds, arms, seeds, out_dir
    )

Each sub-config validates its own fields in ``__post_init__`` (with the
helpers of :mod:`ads_jax._validation`), once, when it is built. Converting,
overriding and diffing configs is the job of the generic engine
(:mod:`ads_jax.config_engine`); finding a named experiment is the job of
:mod:`ads_jax.configs`.
"""

from __future__ import annotations

import dataclasses

from ads_jax import _validation as V
from ads_jax.acquisition import AcquisitionConfig
from ads_jax.config_engine import field_types
from ads_jax.data import ScenarioConfig
from ads_jax.models import ModelConfig
from ads_jax.training import TrainConfig

__all__ = ["LoopConfig", "ExperimentConfig"]


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """How the active learning loop runs (see :func:`ads_jax.loop.run_experiment`).

    Attributes:
      rounds: number of acquisition rounds R >= 0. The loop trains R + 1 models
        (after 0, 1, ..., R acquisitions) and records R + 1 rows per arm and seed.
        The batch size of one acquisition is ``acquisition.budget``.
      arms: arms to compare, e.g. ``("ads+coreset", "coreset", "randfilter+coreset")``.
        Empty (default) means the single arm ``acquisition.arm``.
      seeds: experiment seeds; seed s fixes the scenario split
        (``build_scenario(data, s)``) and every PRNG key of the run, which derive
        from ``jax.random.key(s)`` via ``fold_in(round)``.
      out_dir: run directory (``config.json``, ``results.jsonl``, ``checkpoints/``,
        ``artefacts/``, ``curves.png``).
      checkpoint: save the loop state with Orbax after every round and resume
        from it when the same run directory is reused.
      max_to_keep: checkpoints kept per (arm, seed) (>= 1).
      checkpoint_training: also checkpoint every training epoch (``fit``'s
        ``checkpoint_dir``), so that a run killed in the middle of a long
        training resumes from its last epoch instead of the start of the
        round. Worth it for GPU-scale runs; off by default because saving
        every epoch costs more than it saves on the tiny CPU runs.
      eval_batch_size: batch size of inference (pool embedding, test accuracy).
      share_initial_round: the round-0 model depends only on the seed (same
        initial labeled set, same key), so train it once per seed and reuse it
        for every arm. Results are identical either way; this only saves time.
      save_artefacts: write the per-round arrays a researcher analyses (exact
        values of the labeled points, predicted values of the pool, the
        pre-selection mask, the picks) to ``artefacts/<arm>/seed_<s>/
        round_<r>.npz`` (see :mod:`ads_jax.rundir`).
      mesh: devices of the acquisition step: ``"none"`` (one device, the
        arrays gathered on the host) or ``"all"`` (a 1-D mesh over every device
        of every process: the pool embeddings stay sharded on the devices, and
        valuation, regression and selection run on the global arrays; needed
        for multi-host runs, ``train.multi_host=true``). Training always uses
        every device (``train.data_parallel``). Same picks either way.
      parallel_seeds: run this many seeds at once, each on its own equal,
        disjoint slice of the devices (training data-parallel over the slice,
        inference and the acquisition program on it) in its own thread; the
        seeds of a run go in groups of this size. Records equal those of runs
        of single seeds on a slice of the same size (the number of devices a
        model trains on changes float rounding). 1: one seed after the other
        on every device. Must divide the device count; one process only.
    """

    rounds: int = 4
    arms: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0,)
    out_dir: str = "runs/experiment"
    checkpoint: bool = True
    max_to_keep: int = 2
    checkpoint_training: bool = False
    eval_batch_size: int = 512
    share_initial_round: bool = True
    save_artefacts: bool = True
    mesh: str = "none"
    parallel_seeds: int = 1

    def __post_init__(self):
        V.check_int("loop.rounds", self.rounds, minimum=0)
        V.check_choice("loop.mesh", self.mesh, ("none", "all"))
        V.check_int("loop.max_to_keep", self.max_to_keep, minimum=1)
        V.check_int("loop.eval_batch_size", self.eval_batch_size, minimum=1)
        V.check_int("loop.parallel_seeds", self.parallel_seeds, minimum=1)
        if self.parallel_seeds > 1 and self.mesh != "none":
            raise ValueError("`loop.parallel_seeds` > 1 runs each seed on its own slice of the "
                             "devices; it needs loop.mesh='none' (one process).")
        if not isinstance(self.arms, tuple) or not all(isinstance(a, str) and a for a in self.arms):
            raise TypeError(f"`loop.arms` must be a tuple of non-empty strings, got {self.arms!r}.")
        if len(set(self.arms)) != len(self.arms):
            raise ValueError(f"`loop.arms` contains duplicates: {list(self.arms)}.")
        if not isinstance(self.seeds, tuple) or not self.seeds:
            raise ValueError(f"`loop.seeds` must be a non-empty tuple of integers, got {self.seeds!r}.")
        for i, s in enumerate(self.seeds):
            V.check_int(f"loop.seeds[{i}]", s, minimum=0)
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"`loop.seeds` contains duplicates: {list(self.seeds)}.")
        if not isinstance(self.out_dir, str) or not self.out_dir.strip():
            raise ValueError(f"`loop.out_dir` must be a non-empty path, got {self.out_dir!r}.")
        for b in ("checkpoint", "checkpoint_training", "share_initial_round", "save_artefacts"):
            V.check_bool(f"loop.{b}", getattr(self, b))


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """One complete, JSON-able experiment: scenario, model, training, acquisition, loop.

    Every field has a default (the package defaults of each module), so
    ``ExperimentConfig()`` is valid and a JSON file only needs the fields that
    differ.
    """

    data: ScenarioConfig = dataclasses.field(default_factory=ScenarioConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    acquisition: AcquisitionConfig = dataclasses.field(default_factory=AcquisitionConfig)
    loop: LoopConfig = dataclasses.field(default_factory=LoopConfig)

    def __post_init__(self):
        for name, tp in field_types(ExperimentConfig).items():
            v = getattr(self, name)
            if not isinstance(v, tp):
                raise TypeError(
                    f"`ExperimentConfig.{name}` must be a {tp.__name__}, got {type(v).__name__}.")

    @property
    def arms(self) -> tuple[str, ...]:
        """The arms the loop runs: ``loop.arms``, or ``(acquisition.arm,)`` when empty."""
        return self.loop.arms if self.loop.arms else (self.acquisition.arm,)
