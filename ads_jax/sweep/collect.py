"""Collecting a sweep's results: records with their grid point, flat tables, paired statistics.

:func:`collect` reads every job directory under a sweep root and returns the
records (:mod:`ads_jax.records`) with the job's grid point attached;
:func:`records_to_csv` / :func:`write_records` flatten them into a table;
:func:`compare_records` / :func:`collect_comparison` compare every arm with a
baseline arm, paired by seed, within each (sweep, grid point) -- runs of
different grid points are different experiments and are never paired
(:func:`ads_jax.stats.compare`).
"""

from __future__ import annotations

import csv
import io
import json
import os
from typing import Any, Mapping, Sequence

from ads_jax._files import atomic_write
from ads_jax.rundir import read_results, results_path
from ads_jax.stats import compare, format_comparison
from ads_jax.sweep.jobs import JOB_FILE, Job

__all__ = ["collect", "flatten_record", "records_to_csv", "write_records", "compare_records",
           "collect_comparison", "format_comparisons"]


def collect(root: str | os.PathLike | Sequence[str | os.PathLike], *,
            jobs: Sequence[Job] | None = None) -> list[dict]:
    """Every record of the job directories under ``root``, each once, with its job.

    Each record (see :mod:`ads_jax.records`) gets ``job`` (name), ``sweep``,
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
    """Write records (or comparison rows) as ``.json`` (a list) or ``.csv`` (flattened),
    by the suffix; returns the path.

    Raises:
      ValueError: another suffix.
    """
    path = os.fspath(path)
    if path.endswith(".csv"):
        text = records_to_csv(records)
    elif path.endswith(".json"):
        text = json.dumps(list(records), indent=1) + "\n"
    else:
        raise ValueError(f"Output {path!r}: use a .json or .csv file name.")
    return atomic_write(path, text)


def _group_key(rec: Mapping[str, Any]) -> tuple:
    return (rec.get("sweep"), tuple(sorted((rec.get("point") or {}).items())))


def compare_records(records: Sequence[Mapping[str, Any]], *, baseline: str,
                    metric: str = "test_accuracy", method: str = "t", confidence: float = 0.95,
                    n_boot: int = 10000, seed: int = 0) -> list[dict]:
    """Every arm against ``baseline`` within each (sweep, grid point) of collected records.

    Records of one (sweep, grid point) are one experiment; each is passed to
    :func:`ads_jax.stats.compare` (paired by seed: the final-round metric and
    the learning-curve area, with confidence intervals and a verdict). A
    (sweep, point) without records of ``baseline`` is left out.

    Args:
      records: :func:`collect` output (each with ``sweep`` and ``point``).
      baseline: the reference arm.
      metric, method, confidence, n_boot, seed: as :func:`ads_jax.stats.compare`.

    Returns:
      :func:`ads_jax.stats.compare` rows, each with ``sweep`` and ``point``
      first; groups in first-appearance order.

    Raises:
      ValueError: ``records`` is empty, or no (sweep, point) has records of
        ``baseline`` (the message lists the arms there are).
    """
    if not records:
        raise ValueError("No records to compare: run the sweep first (ads-jax sweep run ...).")
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault(_group_key(r), []).append(dict(r))
    rows: list[dict] = []
    for (sweep, point), recs in groups.items():
        if not any(r.get("arm") == baseline for r in recs):
            continue
        for row in compare(recs, baseline=baseline, metric=metric, method=method,
                           confidence=confidence, n_boot=n_boot, seed=seed):
            rows.append({"sweep": sweep, "point": dict(point), **row})
    if not rows and not any(r.get("arm") == baseline for r in records):
        arms = sorted({str(r.get("arm")) for r in records})
        raise ValueError(f"Baseline arm {baseline!r} has no records; the records hold arms "
                         f"{arms}. Pass one of them to --compare.")
    return rows


def collect_comparison(root: str | os.PathLike | Sequence[str | os.PathLike], *,
                       baseline: str, metric: str = "test_accuracy", method: str = "t",
                       confidence: float = 0.95, jobs: Sequence[Job] | None = None) -> list[dict]:
    """:func:`compare_records` of :func:`collect` ``(root, jobs=jobs)``: every arm
    against ``baseline``, paired by seed, per (sweep, grid point).

    Raises:
      FileNotFoundError: ``root`` does not exist.
      ValueError: no records, or none of ``baseline``.
    """
    return compare_records(collect(root, jobs=jobs), baseline=baseline, metric=metric,
                           method=method, confidence=confidence)


def format_comparisons(rows: Sequence[Mapping[str, Any]], *, digits: int = 4) -> str:
    """Markdown of :func:`compare_records` rows: one
    :func:`ads_jax.stats.format_comparison` table per (sweep, grid point), under a
    heading naming it."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(_group_key(r), []).append(dict(r))
    parts = []
    for (sweep, point), grp in groups.items():
        where = ", ".join(f"{k}={v}" for k, v in point) or "base"
        parts.append(f"sweep {sweep}, point {where}:\n\n"
                     + format_comparison(grp, digits=digits))
    return "\n".join(parts)
