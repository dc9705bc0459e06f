"""Shared pieces of the ``experiments/paper`` scripts that run on the sweep runner.

Every script: ``--preset paper|cpu|tiny``; builds :class:`ads_jax.sweep.Sweep` s,
runs this process's share of their jobs (``--shard I --num-shards N``; finished
jobs are skipped, interrupted ones resume), collects every record under the
sweep root and writes small JSON / CSV / PNG / Markdown files to
``--results-dir`` (alias ``--out``; default ``experiments/results``), named
``<script>_<preset>.*`` (:func:`stem`), so a preset never overwrites another
preset's (committed) results. ``--no-run`` only collects and reports (e.g.
after the shards ran on other machines into a shared root).

Imported as ``from experiments.paper import _common`` (the ``experiments``
package is installed with ads_jax: ``pip install -e .``).
``--group-arms`` (the default; ``--no-group-arms`` turns it off) runs the arms
of one seed in one job, so they share the round-0 model.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "experiments" / "results"
PRESETS = ("paper", "cpu", "tiny")


def parser(description: str, name: str) -> argparse.ArgumentParser:
    """The common options of the paper scripts."""
    p = argparse.ArgumentParser(description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=PRESETS, default="cpu")
    p.add_argument("--results-dir", "--out", dest="out", type=Path, default=RESULTS,
                   help="directory of the JSON/CSV/PNG/MD outputs (default experiments/results)")
    p.add_argument("--root", type=Path, default=None,
                   help=f"sweep root, one run directory per job (default runs/paper/{name}/PRESET)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default: the preset's)")
    p.add_argument("--shard", type=int, default=0, help="this process's shard (0-based)")
    p.add_argument("--num-shards", type=int, default=1, help="number of shards")
    p.add_argument("--group-arms", action=argparse.BooleanOptionalAction, default=True,
                   help="one job per (setting, point, seed) running every arm (default): the "
                        "round-0 model is trained once per seed and shared by its arms, so they "
                        "start from the same model on every backend (GPU kernels need not give "
                        "bitwise-equal models in separate jobs). --no-group-arms: one job per "
                        "arm (more, shorter jobs that can run in parallel)")
    p.add_argument("--no-run", action="store_true",
                   help="do not run jobs; collect what the root holds and write the outputs")
    p.add_argument("--quiet", "-q", action="store_true", help="no per-round progress")
    return p


def parse_seeds(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"--seeds must be comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise SystemExit("--seeds must list distinct non-negative integers")
    return seeds


def stem(results_dir: Path, name: str, preset: str) -> Path:
    """``<results_dir>/<name>_<preset>``: the outputs of one preset of a script (+ suffixes)."""
    return Path(results_dir) / f"{name}_{preset}"


def root_of(args, name: str) -> Path:
    return Path(args.root) if args.root is not None else REPO / "runs" / "paper" / name / args.preset


def run_and_collect(sweeps, args, name: str) -> tuple[list, list[dict], list[dict]]:
    """Run this shard's jobs (unless ``--no-run``); -> (jobs, run reports, records)."""
    from ads_jax import sweep as S

    root = root_of(args, name)
    jobs = S.jobs_of(sweeps, root)
    reports: list[dict] = []
    if not args.no_run:
        say = None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
        reports = S.run(jobs, args.shard, args.num_shards, progress=say)
    records = S.collect(root, jobs=jobs) if root.is_dir() else []
    return jobs, reports, records


def job_summary(jobs, reports, records) -> dict:
    """Which jobs have all their records (for the JSON: partial results are flagged)."""
    have = {}
    for r in records:
        have.setdefault(r["job"], set()).add((r["arm"], r["seed"], r["round"]))
    missing = [j.name for j in jobs if not j.expected() <= have.get(j.name, set())]
    return {"total": len(jobs), "complete": len(jobs) - len(missing), "missing": missing,
            "this_run": {s: sum(r["status"] == s for r in reports)
                         for s in ("ran", "skipped", "busy", "failed")}}


def stats(values: Iterable[float | None]) -> dict:
    """mean, std (ddof=1; 0 for one value), min, max, n of the non-None values."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    if not v:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return {"mean": m, "std": sd, "min": min(v), "max": max(v), "n": len(v)}


def non_clean(prov: dict | None) -> float | None:
    """Share of non-clean points in a provenance dict (None stays None)."""
    from ads_jax.data import NON_CLEAN

    if prov is None:
        return None
    return float(sum(prov.get(k, 0.0) for k in NON_CLEAN))


def pm(s: dict, scale: float = 100.0, digits: int = 1) -> str:
    """``mean ± std`` text of a :func:`stats` dict (``-`` when empty)."""
    if not s or s.get("mean") is None:
        return "-"
    return f"{scale * s['mean']:.{digits}f} ± {scale * s['std']:.{digits}f}"


def write_json(path: Path, obj: Any) -> Path:
    """``obj`` as indented JSON (no NaN/inf), written atomically."""
    from ads_jax._files import atomic_write_json

    atomic_write_json(path, obj, indent=1, allow_nan=False)
    return path


def write_text(path: Path, text: str) -> Path:
    """``text`` written atomically."""
    from ads_jax._files import atomic_write

    atomic_write(path, text)
    return path


def write_csv(path: Path, rows: Sequence[dict]) -> Path:
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(cols), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    return write_text(path, buf.getvalue())


def write_outputs(stem: Path, out: dict, rows: Sequence[dict], md: str) -> dict[str, Path]:
    """``<stem>.json`` (``out``), ``.csv`` (``rows``) and ``.md`` (``md``); -> their paths."""
    return {"json": write_json(stem.with_suffix(".json"), out),
            "csv": write_csv(stem.with_suffix(".csv"), rows),
            "md": write_text(stem.with_suffix(".md"), md)}


def save_png(fig, path: Path, dpi: int = 80) -> Path:
    """Save a matplotlib figure as a small PNG (128-colour palette), atomically, and close it."""
    from ads_jax._files import atomic_savefig

    atomic_savefig(fig, path, dpi=dpi, palette=128)
    return path


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
