"""Sweeps and jobs: one resumable run directory per (grid point, arm, seed), sharded.

A :class:`Sweep` is a base experiment (a config spec such as
``"paper_cifar10:cpu"``), a grid of overrides (:mod:`ads_jax.sweep.grid`),
arms and seeds. It expands into :class:`Job` s, one per (grid point, arm,
seed) -- or per (grid point, seed) with ``group_arms=True`` -- each with a
stable name and its own run directory ``<root>/<job name>/`` (``job.json``
+ everything :func:`ads_jax.loop.run_experiment` writes).

Jobs are enumerated deterministically: sweeps in the order given, then grid
points, then seeds, then arms. :func:`run` with ``shard=i, num_shards=n``
runs jobs ``i, i + n, i + 2n, ...`` of that list, so ``n`` processes or
machines given the same sweep and ``i = 0 .. n-1`` split the work exactly. A
job whose directory already holds all its records (with the same config) is
skipped, an interrupted one resumes from its last finished round (the loop's
checkpoints), and a job whose directory is locked by another process is
skipped (``on_busy="skip"``), so several processes may also simply run the
same unsharded list.

Sweep files (:func:`load_sweeps`): JSON ``{"spec": ..., "grid": ...,
"arms": [...], "seeds": [...], "overrides": [...], "name": ...,
"group_arms": false, "imports": [...]}``, a list of them or ``{"sweeps": [...]}``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from typing import Any, Callable, Iterable, Mapping, Sequence

from ads_jax._files import atomic_write_json, read_json
from ads_jax.config_engine import to_dict
from ads_jax.configs import resolve as resolve_config
from ads_jax.loop import run_experiment
from ads_jax.plugins import import_user_modules
from ads_jax.rundir import RunDirectoryBusy, matching, read_results, results_path
from ads_jax.rundir import slug as arm_slug
from ads_jax.sweep.grid import GridPoint, check_overrides, grid_points, safe_name, short_hash

__all__ = ["Sweep", "Job", "jobs_of", "shard_jobs", "run", "load_sweeps", "is_sweep_file",
           "JOB_FILE"]

#: Name of the job manifest in each job directory.
JOB_FILE = "job.json"
_VERSION = 1


def _spec_name(spec: str) -> str:
    name, _, arg = spec.partition(":")
    base = os.path.splitext(os.path.basename(name))[0] if (
        name.endswith((".py", ".json")) or os.sep in name) else name
    return safe_name(f"{base}-{arg}" if arg else base)


@dataclasses.dataclass(frozen=True)
class Sweep:
    """A base experiment, a grid of overrides, arms and seeds (see the module docstring).

    Attributes:
      spec: config spec for :func:`ads_jax.configs.resolve`
        (``"paper_cifar10:cpu"``, ``path/exp.py:arg``, ``config.json``).
      grid: grid specification (``None``: the base config only).
      arms: arms to run; ``None`` = the base config's arms.
      seeds: seeds to run; ``None`` = the base config's ``loop.seeds``.
      overrides: overrides applied to every job before the grid point's.
      name: prefix of the job names (default: from the spec, e.g.
        ``paper_cifar10-cpu``); sweeps sharing a root need distinct names.
      group_arms: one job per (point, seed) running every arm (the round-0
        model is then trained once per seed and shared by the arms, as in a
        plain ``run_experiment``) instead of one job per (point, arm, seed).
      imports: modules (names or ``.py`` paths) imported before configs are
        resolved, e.g. to register a valuation (like ``ads-jax --import``).
    """

    spec: str
    grid: Any = None
    arms: Sequence[str] | None = None
    seeds: Sequence[int] | None = None
    overrides: Sequence[str] = ()
    name: str | None = None
    group_arms: bool = False
    imports: Sequence[str] = ()

    def __post_init__(self):
        if not isinstance(self.spec, str) or not self.spec.strip():
            raise ValueError(f"`Sweep.spec` must be a config spec like 'paper_cifar10:cpu', got "
                             f"{self.spec!r}.")
        for f in ("arms", "seeds"):
            v = getattr(self, f)
            if v is not None:
                if isinstance(v, (str, bytes)) or not isinstance(v, Iterable):
                    raise TypeError(f"`Sweep.{f}` must be a list, got {v!r}.")
                v = tuple(v)
                if not v:
                    raise ValueError(f"`Sweep.{f}` is empty; give at least one (or None for "
                                     "the config's).")
                if len(set(v)) != len(v):
                    raise ValueError(f"`Sweep.{f}` has duplicates: {list(v)}.")
                object.__setattr__(self, f, v)
        if self.seeds is not None and not all(
                isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds):
            raise ValueError(f"`Sweep.seeds` must be non-negative integers, got {self.seeds}.")
        if self.arms is not None and not all(isinstance(a, str) and a for a in self.arms):
            raise ValueError(f"`Sweep.arms` must be non-empty strings, got {self.arms}.")
        object.__setattr__(self, "overrides", check_overrides(self.overrides, "Sweep.overrides"))
        object.__setattr__(self, "imports", tuple(self.imports))
        if self.name is not None and (not isinstance(self.name, str)
                                      or safe_name(self.name) != self.name):
            raise ValueError(f"`Sweep.name` must be a file-system-safe string "
                             f"([A-Za-z0-9_.=-]), got {self.name!r}.")
        if not isinstance(self.group_arms, bool):
            raise TypeError(f"`Sweep.group_arms` must be a bool, got {self.group_arms!r}.")

    @property
    def label(self) -> str:
        """The name prefix of the jobs."""
        return self.name or _spec_name(self.spec)

    def points(self) -> list[GridPoint]:
        """The grid points (see :func:`grid_points`)."""
        return grid_points(self.grid)

    def base_config(self):
        """The base config: ``spec`` with the sweep's ``overrides``."""
        _import(self.imports)
        return resolve_config(self.spec, self.overrides)

    def jobs(self, root: str | os.PathLike) -> list["Job"]:
        """Every job of the sweep, in the deterministic order (points, seeds, arms).

        Each job's config is resolved once here, so a bad override or arm fails
        before anything runs.

        Raises:
          ValueError: an invalid config, arm or override (naming the job).
        """
        root = os.fspath(root)
        base = self.base_config()
        arms = tuple(self.arms) if self.arms is not None else tuple(base.arms)
        seeds = tuple(self.seeds) if self.seeds is not None else tuple(base.loop.seeds)
        for arm in arms:  # unknown arms fail here, not when the job runs
            try:
                dataclasses.replace(base.acquisition, arm=arm)
            except (ValueError, TypeError) as e:
                raise ValueError(f"Sweep {self.label!r}: invalid arm {arm!r}: {e}") from None
        points = self.points()
        slugs = [p.slug() for p in points]
        for i, s in enumerate(slugs):  # over-long or colliding slugs get a hash of the point
            if len(s) > 100 or slugs.count(s) > 1:
                h = short_hash([list(points[i].label), list(points[i].overrides)])
                slugs[i] = f"{s[:80]}-{h}"
        out = []
        for point, pslug in zip(points, slugs):
            for seed in seeds:
                groups = [arms] if self.group_arms else [(a,) for a in arms]
                for group in groups:
                    aslug = "all_arms" if self.group_arms else arm_slug(group[0])
                    name = f"{self.label}__{pslug}__{aslug}__seed{seed}"
                    job = Job(name=name, sweep=self.label, spec=self.spec, label=point.label,
                              overrides=tuple(self.overrides) + tuple(point.overrides),
                              arms=tuple(group), seed=int(seed), root=root,
                              imports=tuple(self.imports))
                    try:
                        job.config()
                    except (ValueError, TypeError) as e:
                        raise ValueError(f"Job {name}: {e}") from None
                    out.append(job)
        return out


@dataclasses.dataclass(frozen=True)
class Job:
    """One run directory: a config spec + overrides, its arms and one seed.

    Attributes:
      name: stable, file-system-safe name; the directory is ``<root>/<name>``.
      sweep: the sweep's name.
      spec: base config spec.
      label: the grid point, ``(factor, level)`` pairs.
      overrides: the sweep's and the point's overrides (not arms/seeds/out_dir).
      arms: the arms this job runs (one unless the sweep groups them).
      seed: the seed.
      root: the sweep root.
      imports: modules imported before the config resolves.
    """

    name: str
    sweep: str
    spec: str
    label: tuple[tuple[str, str], ...]
    overrides: tuple[str, ...]
    arms: tuple[str, ...]
    seed: int
    root: str
    imports: tuple[str, ...] = ()

    @property
    def point(self) -> dict[str, str]:
        """The grid point ``{factor: level}``."""
        return dict(self.label)

    @property
    def out_dir(self) -> str:
        """``<root>/<name>``."""
        return os.path.join(self.root, self.name)

    def config(self):
        """The job's :class:`~ads_jax.experiment.ExperimentConfig`."""
        _import(self.imports)
        arms = ",".join(self.arms)
        return resolve_config(self.spec, [*self.overrides, f"loop.arms=[{arms}]",
                                          f"loop.seeds=[{self.seed}]",
                                          f"loop.out_dir={self.out_dir}"])

    def manifest(self) -> dict:
        """The content of ``job.json``."""
        return {"version": _VERSION, "name": self.name, "sweep": self.sweep, "spec": self.spec,
                "point": self.point, "label": [list(p) for p in self.label],
                "overrides": list(self.overrides), "arms": list(self.arms), "seed": self.seed,
                "imports": list(self.imports)}

    def expected(self, cfg=None) -> set[tuple[str, int, int]]:
        """The (arm, seed, round) keys of a finished job."""
        cfg = cfg or self.config()
        return {(a, self.seed, r) for a in self.arms for r in range(cfg.loop.rounds + 1)}

    def status(self, cfg=None) -> str:
        """``"done"`` (every record present, same config), ``"partial"``, ``"todo"``
        or ``"stale"`` (the directory holds a run of another config, or an
        unreadable config.json)."""
        cfg = cfg or self.config()
        try:
            if matching(self.out_dir, to_dict(cfg), config_type=type(cfg)):
                return "stale"
        except FileNotFoundError:
            return "todo"
        except ValueError:
            return "stale"
        with warnings.catch_warnings():  # a line cut off by a kill: the run resumes it
            warnings.simplefilter("ignore")
            try:
                have = {(r["arm"], r["seed"], r["round"])
                        for r in read_results(results_path(self.out_dir))}
            except FileNotFoundError:
                return "todo"
            except ValueError:
                return "partial"
        need = self.expected(cfg)
        if need <= have:
            return "done"
        return "partial" if have & need else "todo"


def jobs_of(sweeps: Sweep | Sequence[Sweep], root: str | os.PathLike) -> list[Job]:
    """The jobs of one or several sweeps sharing ``root``, in order.

    Raises:
      ValueError: two jobs with the same name (give the sweeps distinct names).
    """
    if isinstance(sweeps, Sweep):
        sweeps = [sweeps]
    out: list[Job] = []
    for sw in sweeps:
        out += sw.jobs(root)
    names = [j.name for j in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"Several jobs are named {dup[:3]}: sweeps sharing a root need "
                         "distinct names (Sweep(name=...)).")
    return out


def shard_jobs(jobs: Sequence[Job], shard: int = 0, num_shards: int = 1) -> list[Job]:
    """Jobs ``shard, shard + num_shards, ...`` of ``jobs`` (a round-robin split).

    Raises:
      ValueError: ``num_shards < 1`` or ``shard`` outside ``[0, num_shards)``.
    """
    if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 1:
        raise ValueError(f"`num_shards` must be an integer >= 1, got {num_shards!r}.")
    if isinstance(shard, bool) or not isinstance(shard, int) or not 0 <= shard < num_shards:
        raise ValueError(f"`shard` must be an integer in [0, {num_shards}), got {shard!r}.")
    return list(jobs[shard::num_shards])


def _import(imports: Sequence[str]) -> None:
    if imports:
        import_user_modules(list(imports))


def run(jobs: Sequence[Job], shard: int = 0, num_shards: int = 1, *, overwrite: bool = False,
        progress: Callable[[str], None] | None = print, on_busy: str = "skip",
        keep_going: bool = False) -> list[dict]:
    """Run this process's share of ``jobs``, skipping finished ones.

    Args:
      jobs: from :meth:`Sweep.jobs` / :func:`jobs_of`.
      shard, num_shards: run ``shard_jobs(jobs, shard, num_shards)``.
      overwrite: a job whose directory holds a run of another config
        ("stale") is discarded and rerun; otherwise that is an error.
        Finished jobs are never rerun (delete the directory for that).
      progress: called with one line per job and per round (None: silent).
      on_busy: ``"skip"`` a job whose directory another process holds, or
        ``"raise"``.
      keep_going: record a failing job as ``"failed"`` and continue instead of
        raising.

    Returns:
      one report per job of the share: ``{"job", "status"}`` with status
      ``"skipped"`` (already done), ``"ran"``, ``"busy"`` or ``"failed"``,
      plus ``"records"`` (the job's record count), ``"seconds"`` and
      ``"error"`` where they apply.
    """
    if on_busy not in ("skip", "raise"):
        raise ValueError(f"`on_busy` must be 'skip' or 'raise', got {on_busy!r}.")
    mine = shard_jobs(jobs, shard, num_shards)
    say = progress or (lambda msg: None)
    reports = []
    for i, job in enumerate(mine):
        cfg = job.config()
        st = job.status(cfg)
        head = f"[sweep {i + 1}/{len(mine)}] {job.name}"
        if st == "done":
            say(f"{head}: done, skipped")
            reports.append({"job": job.name, "status": "skipped",
                            "records": len(job.expected(cfg))})
            continue
        if st == "stale" and not overwrite:
            err = (f"{job.out_dir} holds a run of another config (see its config.json); "
                   "delete it or run with overwrite=True (CLI: --overwrite).")
            if not keep_going:
                raise ValueError(err)
            say(f"{head}: FAILED: {err}")
            reports.append({"job": job.name, "status": "failed", "error": err})
            continue
        say(f"{head}: {'resuming' if st == 'partial' else 'running'}")
        t0 = time.perf_counter()
        try:
            atomic_write_json(os.path.join(job.out_dir, JOB_FILE), job.manifest(), indent=1)
            recs = run_experiment(cfg, overwrite=(st == "stale"),
                                  progress=(lambda m: say(f"  {m}")) if progress else None)
        except RunDirectoryBusy as e:
            if on_busy == "raise":
                raise
            say(f"{head}: busy (another process runs it), skipped")
            reports.append({"job": job.name, "status": "busy", "error": str(e)})
            continue
        except Exception as e:  # noqa: BLE001 - reported, re-raised unless keep_going
            if not keep_going:
                raise
            say(f"{head}: FAILED: {type(e).__name__}: {e}")
            reports.append({"job": job.name, "status": "failed",
                            "error": f"{type(e).__name__}: {e}"})
            continue
        reports.append({"job": job.name, "status": "ran", "records": len(recs),
                        "seconds": round(time.perf_counter() - t0, 3)})
    return reports



def _sweep_from_dict(d: Mapping[str, Any]) -> Sweep:
    fields = {f.name for f in dataclasses.fields(Sweep)}
    unknown = set(d) - fields
    if unknown:
        raise ValueError(f"Unknown sweep field(s) {sorted(unknown)}; valid: {sorted(fields)}.")
    return Sweep(**d)


def load_sweeps(path: str | os.PathLike) -> list[Sweep]:
    """Sweeps from a JSON file: one sweep object, ``{"sweeps": [...]}`` or a list.

    Raises:
      FileNotFoundError: no such file.
      ValueError: not JSON, not a sweep object / list, or unknown sweep fields.
    """
    data = read_json(path, what="Sweep file")
    if isinstance(data, Mapping) and "sweeps" in data:
        data = data["sweeps"]
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(d, Mapping) for d in data):
        raise ValueError(f"Sweep file {os.fspath(path)!r}: expected a sweep object, a list of "
                         "them or {'sweeps': [...]}.")
    return [_sweep_from_dict(d) for d in data]


def is_sweep_file(spec: str) -> bool:
    """Whether ``spec`` is an existing JSON file holding sweeps (not an experiment config)."""
    if not spec.endswith(".json") or not os.path.isfile(spec):
        return False
    try:
        with open(spec) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(data, list) or (isinstance(data, Mapping) and ("spec" in data
                                                                     or "sweeps" in data))
