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
                     arms=["ads+coreset", "coreset"], seeds=[0, 1, 2])
    jobs = sw.jobs("runs/sweeps/agg")                  # 2 points x 2 arms x 3 seeds = 12 jobs
    sweep.run(jobs, shard=0, num_shards=2)             # this process: jobs 0, 2, 4, ...
    records = sweep.collect("runs/sweeps/agg")         # every record once, with its grid point
    rows = sweep.collect_comparison("runs/sweeps/agg", baseline="coreset")  # paired by seed

Modules:

* :mod:`ads_jax.sweep.grid` -- grid points (:class:`GridPoint`, :func:`grid_points`);
* :mod:`ads_jax.sweep.jobs` -- :class:`Sweep`, :class:`Job`, sharding, :func:`run`,
  sweep files (:func:`load_sweeps`);
* :mod:`ads_jax.sweep.collect` -- :func:`collect`, flat CSV/JSON output,
  paired statistics per grid point (:func:`collect_comparison`).

Command line (``ads-jax sweep``, :mod:`ads_jax.cli`; also ``python -m ads_jax.sweep``;
machine-readable output: JSON lines / CSV)::

    ads-jax sweep list    SPEC [--root R] [--arms A,B] [--seeds 0,1] \\
                               [--grid 'FIELD=V1|V2' ...] [FIELD=VALUE ...] [--format text|json|csv]
    ads-jax sweep run     SPEC [--root R] [--shard I --num-shards N] [same options]
    ads-jax sweep collect ROOT [ROOT ...] [--format json|csv] [--output FILE]
                               [--compare BASELINE_ARM [--metric test_accuracy]]

``SPEC`` is a config spec (``name[:variant]``, a ``.py`` or ``.json`` config)
or a sweep file (:func:`load_sweeps`).
"""

from ads_jax.sweep.collect import (
    collect,
    collect_comparison,
    compare_records,
    flatten_record,
    format_comparisons,
    records_to_csv,
    write_records,
)
from ads_jax.sweep.grid import RESERVED, GridPoint, grid_points
from ads_jax.sweep.jobs import (
    JOB_FILE,
    Job,
    Sweep,
    is_sweep_file,
    jobs_of,
    load_sweeps,
    run,
    shard_jobs,
)

__all__ = [
    "GridPoint",
    "Sweep",
    "Job",
    "grid_points",
    "jobs_of",
    "shard_jobs",
    "run",
    "collect",
    "collect_comparison",
    "compare_records",
    "format_comparisons",
    "flatten_record",
    "records_to_csv",
    "write_records",
    "load_sweeps",
    "is_sweep_file",
    "JOB_FILE",
    "RESERVED",
]
