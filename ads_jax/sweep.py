"""Sweeps: many independent, resumable experiment jobs, spread over processes or machines.

A :class:`Sweep` is a base experiment (a config spec such as
``"paper_cifar10:cpu"``), a grid of overrides, arms and seeds. It expands into
:class:`Job` s, one per (grid point, arm, seed) -- or per (grid point, seed)
with ``group_arms=True`` -- each with a stable name and its own run directory
``<root>/<job name>/`` (``job.json`` + everything :func:`ads_jax.loop.run_experiment`
writes: ``config.json``, ``results.jsonl``, checkpoints, artefacts)::

    from ads_jax import sweep

    sw = sweep.Sweep("paper_noisy:cpu",
                     grid={"aggregate": ["acquisition.estimator.options.aggregate=max",
                                         "acquisition.estimator.options.aggregate=mean"]},
                     arms=["ads+coreset"], seeds=[0, 1, 2])
    jobs = sw.jobs("runs/sweeps/agg")                  # 2 points x 1 arm x 3 seeds = 6 jobs
    sweep.run(jobs, shard=0, num_shards=2)             # this process: jobs 0, 2, 4
    records = sweep.collect("runs/sweeps/agg")         # every record once, with its grid point

Grid (``Sweep.grid``):

* ``None`` -- one point, the base config;
* a mapping ``factor -> levels`` -- the Cartesian product of the factors (in
  the mapping's order). A level is one override string
  (``"acquisition.preselect.fraction=0.1"``; its label is the text after the
  first ``=``), a list of override strings (label: their values joined by
  ``+``), or the levels are a mapping ``label -> override(s)``;
* a list of points -- each a list of override strings (the point is
  ``{field: value}`` of its overrides), a mapping ``{"point": {factor:
  label}, "overrides": [...]}``, or a :class:`GridPoint`. Use this for
  designs that vary one or two factors at a time around a base point.

Grid points must not set ``loop.arms``, ``loop.seeds`` or ``loop.out_dir``:
the sweep sets them per job.

Jobs are enumerated deterministically: sweeps in the order given, then grid
points, then seeds, then arms. :func:`run` with ``shard=i, num_shards=n``
runs jobs ``i, i + n, i + 2n, ...`` of that list, so ``n`` processes or
machines given the same sweep and ``i = 0 .. n-1`` split the work exactly. A
job whose directory already holds all its records (with the same config) is
skipped, an interrupted one resumes from its last finished round (the loop's
checkpoints), and a job whose directory is locked by another process is
skipped (``on_busy="skip"``), so several processes may also simply run the
same unsharded list. :func:`collect` reads every job directory under a root
and returns the records with the job's grid point attached.

Command line (machine-readable output: JSON lines / CSV)::

    python -m ads_jax.sweep list    SPEC [--root R] [--arms A,B] [--seeds 0,1] \\
                                         [--grid 'FIELD=V1|V2' ...] [FIELD=VALUE ...] [--format text|json|csv]
    python -m ads_jax.sweep run     SPEC [--root R] [--shard I --num-shards N] [same options]
    python -m ads_jax.sweep collect ROOT [ROOT ...] [--format json|csv] [--output FILE]

``SPEC`` is a config spec (``name[:variant]``, a ``.py`` or ``.json`` config)
or a sweep file: JSON ``{"spec": ..., "grid": ..., "arms": [...], "seeds":
[...], "overrides": [...], "name": ..., "group_arms": false}`` or ``{"sweeps":
[...]}``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import io
import itertools
import json
import os
import re
import sys
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

__all__ = [
    "GridPoint",
    "Sweep",
    "Job",
    "grid_points",
    "jobs_of",
    "shard_jobs",
    "run",
    "collect",
    "flatten_record",
    "records_to_csv",
    "write_records",
    "load_sweeps",
    "main",
    "JOB_FILE",
]

#: Name of the job manifest in each job directory.
JOB_FILE = "job.json"
_VERSION = 1
# Loop fields the sweep sets per job; grid points and sweep overrides must not.
_RESERVED = ("loop.arms", "loop.seeds", "loop.out_dir")


# ----------------------------------------------------------------------------
# Grid points.
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GridPoint:
    """One point of a grid.

    Attributes:
      label: ordered ``(factor, level)`` pairs naming the point (``()`` = the
        base config).
      overrides: the dotted ``FIELD=VALUE`` overrides of the point.
    """

    label: tuple[tuple[str, str], ...] = ()
    overrides: tuple[str, ...] = ()

    @property
    def point(self) -> dict[str, str]:
        """The label as a dict ``{factor: level}``."""
        return dict(self.label)

    def slug(self) -> str:
        """File-system-safe name of the point (``base`` for the empty point)."""
        if not self.label:
            return "base"
        return ",".join(f"{_safe(_short_key(k))}={_safe(v)}" for k, v in self.label)


def _safe(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.=-]+", "_", str(text).replace("+", "_plus_")).strip("_")
    return s or "_"


def _short_key(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def _hash(obj: Any, n: int = 8) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:n]


def _check_overrides(overrides: Iterable[str], where: str) -> tuple[str, ...]:
    from ads_jax.config_engine import parse_override

    out = []
    for o in overrides:
        if not isinstance(o, str):
            raise TypeError(f"{where}: overrides must be strings like 'train.epochs=3', got "
                            f"{type(o).__name__} {o!r}.")
        key, _ = parse_override(o)
        if key in _RESERVED:
            raise ValueError(f"{where}: {o!r} sets `{key}`, which the sweep sets per job; give "
                             "arms and seeds as Sweep(arms=..., seeds=...) (CLI: --arms, --seeds) "
                             "and the directory as the sweep root.")
        out.append(o)
    return tuple(out)


def _value_of(override: str) -> str:
    return override.split("=", 1)[1].strip()


def _level(factor: str, label: str | None, level: Any) -> tuple[str, tuple[str, ...]]:
    """(label, overrides) of one level of a factor."""
    where = f"grid factor {factor!r}"
    if isinstance(level, str):
        ovr = _check_overrides([level], where)
    elif isinstance(level, (list, tuple)) and level:
        ovr = _check_overrides(level, where)
    else:
        raise TypeError(f"{where}: a level must be an override string or a non-empty list of "
                        f"them, got {level!r}.")
    if label is None:
        label = "+".join(_value_of(o) for o in ovr)
    return str(label), ovr


def grid_points(grid: Any) -> list[GridPoint]:
    """The points of a grid specification (see the module docstring).

    Raises:
      TypeError / ValueError: malformed grid, an override that sets a
        reserved loop field, or two points with the same label.
    """
    if grid is None:
        return [GridPoint()]
    if isinstance(grid, GridPoint):
        return [grid]
    points: list[GridPoint] = []
    if isinstance(grid, Mapping):
        factors = []
        for factor, levels in grid.items():
            if not isinstance(factor, str) or not factor:
                raise TypeError(f"grid factor names must be non-empty strings, got {factor!r}.")
            if isinstance(levels, Mapping):
                lv = [_level(factor, lab, ov) for lab, ov in levels.items()]
            elif isinstance(levels, (list, tuple)):
                lv = [_level(factor, None, ov) for ov in levels]
            else:
                raise TypeError(f"grid factor {factor!r}: levels must be a list of overrides or "
                                f"a mapping label -> override(s), got {type(levels).__name__}.")
            if not lv:
                raise ValueError(f"grid factor {factor!r} has no levels.")
            factors.append((factor, lv))
        for combo in itertools.product(*[lv for _, lv in factors]):
            label = tuple((f, lab) for (f, _), (lab, _) in zip(factors, combo))
            ovr = tuple(o for _, ov in combo for o in ov)
            points.append(GridPoint(label, ovr))
    elif isinstance(grid, (list, tuple)):
        for i, p in enumerate(grid):
            where = f"grid point {i}"
            if isinstance(p, GridPoint):
                _check_overrides(p.overrides, where)
                points.append(p)
            elif isinstance(p, Mapping):
                unknown = set(p) - {"point", "overrides"}
                if unknown or "overrides" not in p:
                    raise ValueError(f"{where}: a point mapping has keys 'overrides' and optional "
                                     f"'point' (its label), got {sorted(p)}.")
                ovr = _check_overrides(p["overrides"], where)
                lab = p.get("point")
                if lab is None:
                    lab = {k: v for k, v in (o.split("=", 1) for o in ovr)}
                if not isinstance(lab, Mapping):
                    raise TypeError(f"{where}: 'point' must be a mapping factor -> level.")
                points.append(GridPoint(tuple((str(k), str(v)) for k, v in lab.items()), ovr))
            elif isinstance(p, (list, tuple)):
                ovr = _check_overrides(p, where)
                lab = tuple((k.strip(), v.strip()) for k, v in (o.split("=", 1) for o in ovr))
                points.append(GridPoint(lab, ovr))
            else:
                raise TypeError(f"{where}: expected a list of overrides, a mapping or a "
                                f"GridPoint, got {type(p).__name__}.")
    else:
        raise TypeError("`grid` must be None, a mapping factor -> levels, or a list of points; "
                        f"got {type(grid).__name__}.")
    seen: dict[tuple, int] = {}
    for i, p in enumerate(points):
        if p.label in seen:
            raise ValueError(f"grid points {seen[p.label]} and {i} have the same label "
                             f"{p.point}; give them distinct labels.")
        seen[p.label] = i
    return points


# ----------------------------------------------------------------------------
# Sweeps and jobs.
# ----------------------------------------------------------------------------


def _spec_name(spec: str) -> str:
    name, _, arg = spec.partition(":")
    base = os.path.splitext(os.path.basename(name))[0] if (
        name.endswith((".py", ".json")) or os.sep in name) else name
    return _safe(f"{base}-{arg}" if arg else base)


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
        object.__setattr__(self, "overrides", _check_overrides(self.overrides, "Sweep.overrides"))
        object.__setattr__(self, "imports", tuple(self.imports))
        if self.name is not None and (not isinstance(self.name, str) or _safe(self.name) != self.name):
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
        from ads_jax.configs import resolve as resolve_config

        _import(self.imports)
        return resolve_config(self.spec, self.overrides)

    def jobs(self, root: str | os.PathLike) -> list["Job"]:
        """Every job of the sweep, in the deterministic order (points, seeds, arms).

        Each job's config is resolved once here, so a bad override or arm fails
        before anything runs.

        Raises:
          ValueError: an invalid config, arm or override (naming the job).
        """
        from ads_jax.rundir import slug as arm_slug

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
                slugs[i] = f"{s[:80]}-{_hash([list(points[i].label), list(points[i].overrides)])}"
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
        from ads_jax.configs import resolve as resolve_config

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
        from ads_jax.config_engine import to_dict
        from ads_jax.rundir import matching, read_results, results_path

        cfg = cfg or self.config()
        try:
            if matching(self.out_dir, to_dict(cfg)):
                return "stale"
        except FileNotFoundError:
            return "todo"
        except ValueError:
            return "stale"
        import warnings

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
        from ads_jax.cli import import_user_modules

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
    from ads_jax._files import atomic_write_json
    from ads_jax.loop import run_experiment
    from ads_jax.rundir import RunDirectoryBusy

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


# ----------------------------------------------------------------------------
# Collecting results.
# ----------------------------------------------------------------------------


def collect(root: str | os.PathLike | Sequence[str | os.PathLike], *,
            jobs: Sequence[Job] | None = None) -> list[dict]:
    """Every record of the job directories under ``root``, each once, with its job.

    Each record (see :mod:`ads_jax.loop`) gets ``job`` (name), ``sweep``,
    ``spec``, ``point`` (``{factor: level}``) and ``overrides``. Directories
    without a ``job.json`` are ignored; jobs not run yet contribute nothing.

    Args:
      root: a sweep root (or a list of roots).
      jobs: only these jobs (default: every job directory under ``root``).

    Returns:
      records in job-name order, then in each ``results.jsonl``'s order.

    Raises:
      FileNotFoundError: ``root`` does not exist.
    """
    from ads_jax.rundir import read_results, results_path

    roots = [root] if isinstance(root, (str, os.PathLike)) else list(root)
    dirs: list[str] = []
    if jobs is not None:
        dirs = [j.out_dir for j in jobs]
    else:
        for r in roots:
            r = os.fspath(r)
            if not os.path.isdir(r):
                raise FileNotFoundError(f"Sweep root {r!r} does not exist.")
            dirs += [os.path.join(r, d) for d in sorted(os.listdir(r))
                     if os.path.isfile(os.path.join(r, d, JOB_FILE))]
    out: list[dict] = []
    for d in dirs:
        mpath, rpath = os.path.join(d, JOB_FILE), results_path(d)
        if not (os.path.isfile(mpath) and os.path.isfile(rpath)):
            continue
        with open(mpath) as f:
            man = json.load(f)
        for rec in read_results(rpath):
            out.append({"job": man["name"], "sweep": man.get("sweep"), "spec": man.get("spec"),
                        "point": dict(man.get("point") or {}),
                        "overrides": list(man.get("overrides") or []), **rec})
    return out


def flatten_record(rec: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A record as one flat dict: nested keys joined by ``.`` (``time.selection``,
    ``point.aggregate``, ``picked_provenance.noisy``); lists become JSON text."""
    out: dict[str, Any] = {}
    for k, v in rec.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten_record(v, f"{key}."))
        elif isinstance(v, (list, tuple)):
            out[key] = json.dumps(list(v))
        else:
            out[key] = v
    return out


def records_to_csv(records: Sequence[Mapping[str, Any]]) -> str:
    """CSV text of :func:`flatten_record` rows (columns: union, first-seen order)."""
    rows = [flatten_record(r) for r in records]
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(cols), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    return buf.getvalue()


def write_records(records: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> str:
    """Write records as ``.json`` (a list) or ``.csv`` (flattened), by the suffix."""
    from ads_jax._files import atomic_write

    path = os.fspath(path)
    if path.endswith(".csv"):
        text = records_to_csv(records)
    elif path.endswith(".json"):
        text = json.dumps(list(records), indent=1) + "\n"
    else:
        raise ValueError(f"Output {path!r}: use a .json or .csv file name.")
    return atomic_write(path, text)


# ----------------------------------------------------------------------------
# Command line.
# ----------------------------------------------------------------------------


def _sweep_from_dict(d: Mapping[str, Any]) -> Sweep:
    fields = {f.name for f in dataclasses.fields(Sweep)}
    unknown = set(d) - fields
    if unknown:
        raise ValueError(f"Unknown sweep field(s) {sorted(unknown)}; valid: {sorted(fields)}.")
    return Sweep(**d)


def load_sweeps(path: str | os.PathLike) -> list[Sweep]:
    """Sweeps from a JSON file: one sweep object, ``{"sweeps": [...]}`` or a list."""
    with open(path) as f:
        data = json.load(f)
    if isinstance(data, Mapping) and "sweeps" in data:
        data = data["sweeps"]
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(d, Mapping) for d in data):
        raise ValueError(f"Sweep file {os.fspath(path)!r}: expected a sweep object, a list of "
                         "them or {'sweeps': [...]}.")
    return [_sweep_from_dict(d) for d in data]


def _is_sweep_file(spec: str) -> bool:
    if not spec.endswith(".json") or not os.path.isfile(spec):
        return False
    try:
        with open(spec) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(data, list) or (isinstance(data, Mapping) and ("spec" in data
                                                                     or "sweeps" in data))


def _split_list(text: str | None, kind: type) -> list | None:
    if text is None:
        return None
    items = [s.strip() for s in text.strip().strip("[]").split(",") if s.strip()]
    try:
        return [kind(s) for s in items]
    except ValueError:
        raise ValueError(f"Bad list {text!r}: expected comma-separated {kind.__name__}s.") \
            from None


def _cli_grid(items: Sequence[str]) -> dict | None:
    if not items:
        return None
    grid = {}
    for it in items:
        if "=" not in it:
            raise ValueError(f"--grid {it!r}: expected FIELD=V1|V2|..., e.g. "
                             "'acquisition.preselect.fraction=0.1|0.2'.")
        key, vals = it.split("=", 1)
        key = key.strip()
        levels = [v.strip() for v in vals.split("|") if v.strip()]
        if not key or not levels:
            raise ValueError(f"--grid {it!r}: empty field or no values.")
        grid[key] = {v: f"{key}={v}" for v in levels}
    return grid


def _sweeps_from_args(args) -> list[Sweep]:
    arms, seeds = _split_list(args.arms, str), _split_list(args.seeds, int)
    grid = _cli_grid(args.grid or [])
    if _is_sweep_file(args.spec):
        out = []
        for sw in load_sweeps(args.spec):
            ch = {}
            if arms is not None:
                ch["arms"] = arms
            if seeds is not None:
                ch["seeds"] = seeds
            if grid is not None:
                ch["grid"] = grid
            if args.overrides:
                ch["overrides"] = (*sw.overrides, *args.overrides)
            if args.group_arms:
                ch["group_arms"] = True
            if args.imports:
                ch["imports"] = (*sw.imports, *args.imports)
            out.append(dataclasses.replace(sw, **ch))
        return out
    return [Sweep(args.spec, grid=grid, arms=arms, seeds=seeds, overrides=args.overrides,
                  name=args.name, group_arms=args.group_arms, imports=args.imports or ())]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ads_jax.sweep",
                                description="Resumable experiment sweeps: one run directory per "
                                            "(grid point, arm, seed) job.")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def spec_opts(sp):
        sp.add_argument("spec", metavar="SPEC",
                        help="config spec (name[:variant], .py, .json config) or a sweep JSON file")
        sp.add_argument("overrides", nargs="*", metavar="FIELD=VALUE",
                        help="overrides applied to every job")
        sp.add_argument("--root", default=os.path.join("runs", "sweeps"),
                        help="sweep root: one directory per job (default runs/sweeps)")
        sp.add_argument("--arms", help="comma-separated arms (default: the config's)")
        sp.add_argument("--seeds", help="comma-separated seeds (default: the config's)")
        sp.add_argument("--grid", action="append", metavar="FIELD=V1|V2",
                        help="a grid factor; repeat for a Cartesian product")
        sp.add_argument("--name", help="job name prefix (default: from SPEC)")
        sp.add_argument("--group-arms", action="store_true",
                        help="one job per (point, seed) with every arm (shares round 0)")
        sp.add_argument("--import", dest="imports", action="append", default=[],
                        metavar="MODULE", help="import MODULE first (registers components)")
        sp.add_argument("--shard", type=int, default=0, help="this process's shard (0-based)")
        sp.add_argument("--num-shards", type=int, default=1, help="number of shards")

    ls = sub.add_parser("list", help="list the jobs (and their status) of a sweep")
    spec_opts(ls)
    ls.add_argument("--format", choices=("text", "json", "csv"), default="text")
    rn = sub.add_parser("run", help="run this shard's jobs, skipping finished ones")
    spec_opts(rn)
    rn.add_argument("--overwrite", action="store_true",
                    help="discard and rerun jobs whose directory holds another config")
    rn.add_argument("--keep-going", action="store_true", help="continue after a failing job")
    rn.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    co = sub.add_parser("collect", help="every record under sweep roots, with grid points")
    co.add_argument("roots", nargs="+", metavar="ROOT")
    co.add_argument("--format", choices=("json", "csv"), default="json")
    co.add_argument("--output", "-o", help="write to FILE (.json or .csv) instead of stdout")
    return p


def _dispatch(args) -> int:
    if args.command == "collect":
        recs = collect(args.roots)
        if args.output:
            print(write_records(recs, args.output), file=sys.stderr)
        elif args.format == "csv":
            sys.stdout.write(records_to_csv(recs))
        else:
            for r in recs:
                print(json.dumps(r))
        return 0
    _import(args.imports)
    jobs = jobs_of(_sweeps_from_args(args), args.root)
    if args.command == "list":
        mine = shard_jobs(jobs, args.shard, args.num_shards)
        rows = [{"job": j.name, "status": j.status(), "sweep": j.sweep, "spec": j.spec,
                 "point": j.point, "arms": list(j.arms), "seed": j.seed, "dir": j.out_dir}
                for j in mine]
        if args.format == "json":
            for r in rows:
                print(json.dumps(r))
        elif args.format == "csv":
            sys.stdout.write(records_to_csv(rows))
        else:
            for r in rows:
                print(f"{r['status']:8s} {r['job']}")
            counts = {s: sum(r["status"] == s for r in rows) for s in
                      ("done", "partial", "todo", "stale")}
            print(f"{len(rows)} jobs (shard {args.shard}/{args.num_shards} of {len(jobs)}): "
                  + ", ".join(f"{v} {k}" for k, v in counts.items()), file=sys.stderr)
        return 0
    if args.command == "run":
        say = None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
        reports = run(jobs, args.shard, args.num_shards, overwrite=args.overwrite,
                      progress=say, keep_going=args.keep_going)
        for r in reports:
            print(json.dumps(r))
        return 1 if any(r["status"] == "failed" for r in reports) else 0
    raise AssertionError(args.command)  # pragma: no cover


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m ads_jax.sweep``; returns the exit status."""
    from ads_jax.cli import parse_with_overrides

    parser = build_parser()
    args = parse_with_overrides(parser, argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("sweep: interrupted; run the same command again to resume.", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, ImportError, NotADirectoryError) as e:
        if args.debug:
            raise
        print(f"sweep: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
