"""Result files -> tables and plots that never merge different runs silently.

The loop (:mod:`ads_jax.loop`) writes one :class:`~ads_jax.records.Record` per
(arm, seed, round) to ``results.jsonl``. This module reads them typed
(:func:`load_sources`: one :class:`Source` per file or run directory, labelled
by the run directory's name), cuts them into :class:`Series` -- the curves
that may be averaged over seeds -- prints the comparison table
(:func:`format_table`) and draws accuracy curves with mean +- std over seeds,
the picked non-clean share and the acquisition time (:func:`plot_results`,
matplotlib's Agg backend: no display needed).

What is averaged with what:

* records of one source are one experiment: per arm, rounds are averaged over
  its seeds;
* several sources are merged into one experiment only when their
  ``config.json`` files are equal outside :data:`ads_jax.rundir.RESUMABLE_FIELDS`
  (where a run lives, which arms and seeds it ran) and they hold disjoint
  (arm, seed) runs -- e.g. one experiment whose seeds ran in two directories.
  Otherwise (configs differ, no ``config.json``, or both hold the same
  (arm, seed)) their curves are shown side by side, labelled ``arm [run]``
  (``run`` = the run directory's name), and never averaged together;
* within a series, rounds are averaged only over seeds with the same
  labeled-set schedule (the ``labeled`` size of every round; an unfinished
  run's schedule is a prefix of the finished ones'). Seeds with another
  schedule form their own series, labelled ``arm (labeled 10, 20, 30)``.

Every function taking ``data`` accepts a list of :class:`Source` s, or the
records of one run (``Record`` s or their dicts, e.g. what
:func:`ads_jax.loop.run_experiment` returns). A list of records holding two
different records for one (arm, seed, round) mixes two runs: that is an error
naming them, never an average.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Mapping, Sequence

import numpy as np

from ads_jax._files import absolute, as_path, atomic_savefig, read_json
from ads_jax.config_engine import config_diff
from ads_jax.data import NON_CLEAN
from ads_jax.records import NON_CLEAN_NOTE, Record, non_clean_share
from ads_jax.rundir import CONFIG_NAME, RESULTS_NAME, RESUMABLE_FIELDS, read_results

__all__ = [
    "Source",
    "Series",
    "load_sources",
    "load_results",
    "series",
    "summarize",
    "format_table",
    "plot_results",
    "COLUMNS",
]

#: What each column of :func:`format_table` means (printed under the table).
COLUMNS = (
    ("round", "acquisition round r: the model trained after r acquisitions"),
    ("labeled", "training-set size of that round's model"),
    ("arm columns", "test accuracy (%) of that round; 'mean +- std' = over the seeds "
                    "(population std)"),
    ("seeds", "number of seeds (runs of the arm) averaged"),
    ("select s", "mean wall time of one warm acquisition (time.selection: valuation, "
                 "estimation, pre-selection and selection as one compiled program), per round"),
    ("compile s", "compiling that program, once per run (time.compile; mean over the runs "
                  "that compiled it)"),
    ("train s", "mean training time per round; a round-0 model shared by the arms is not "
                "counted per arm (see the round-0 line)"),
    ("picked non-clean %", NON_CLEAN_NOTE.split(" = ", 1)[1]
     + "; mean over the acquisitions"),
)


@dataclasses.dataclass(frozen=True)
class Source:
    """The records of one ``results.jsonl`` (a run directory, or a file).

    Attributes:
      label: short name: the run directory's name (the file's stem for a
        file outside a run directory), made unique among the sources loaded
        together.
      path: the ``results.jsonl`` read.
      run_dir: the run directory holding it (None for another file).
      config: the run directory's ``config.json`` as a dict (None if absent).
      records: the typed records, in file order.
    """

    label: str
    path: str
    run_dir: str | None
    config: Mapping[str, Any] | None
    records: tuple[Record, ...]


@dataclasses.dataclass(frozen=True)
class Series:
    """One curve: an arm's runs that may be averaged over seeds.

    Attributes:
      label: the arm, plus ``[run]`` when several experiments are shown and
        ``(labeled ...)`` when the arm's seeds have several schedules.
      arm: the arm.
      sources: labels of the sources whose records it holds.
      runs: ``{seed: records sorted by round}``; every seed has the same
        labeled-set schedule (up to unfinished rounds).
    """

    label: str
    arm: str
    sources: tuple[str, ...]
    runs: Mapping[int, tuple[Record, ...]]

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seeds, sorted."""
        return tuple(sorted(self.runs))

    def records(self) -> list[Record]:
        """Every record (seeds in order, rounds in order)."""
        return [r for s in self.seeds for r in self.runs[s]]


# ----------------------------------------------------------------------------
# Reading.
# ----------------------------------------------------------------------------


def _locate(path: str) -> tuple[str, str | None]:
    """(results file, run directory or None) of a results file or run directory path."""
    p = as_path(path)
    if p.is_dir():
        return str(p / RESULTS_NAME), path
    parent = p.parent
    if p.name == RESULTS_NAME or (parent / CONFIG_NAME).exists():
        return path, str(parent)
    return path, None


def _name(results: str, run_dir: str | None) -> list[str]:
    """Path components naming a source, innermost first (the label candidates)."""
    full = absolute(run_dir) if run_dir is not None else absolute(results)
    parts = [x for x in full.replace("\\", "/").split("/") if x and not x.endswith(":")]
    if run_dir is None and parts:
        parts[-1] = os.path.splitext(parts[-1])[0]
    return list(reversed(parts)) or ["results"]


def _unique_labels(names: list[list[str]]) -> list[str]:
    """The shortest distinct ``a/b`` suffix of each source's path (``#i`` if none)."""
    depth = [1] * len(names)
    while True:
        labels = ["/".join(reversed(n[:d])) for n, d in zip(names, depth)]
        dup = [i for i, lab in enumerate(labels) if labels.count(lab) > 1]
        grow = [i for i in dup if depth[i] < len(names[i])]
        if not grow:
            break
        for i in grow:
            depth[i] += 1
    seen: dict[str, int] = {}
    out = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        out.append(lab if seen[lab] == 1 else f"{lab}#{seen[lab]}")
    return out


def load_sources(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Source]:
    """Read ``results.jsonl`` files or run directories (local or ``gs://...``), one
    :class:`Source` each.

    A directory means ``<dir>/results.jsonl`` and ``<dir>/config.json``; a file
    named ``results.jsonl`` (or next to a ``config.json``) belongs to the run
    directory it is in. A path given twice is read once; a source without
    records is left out.

    Raises:
      FileNotFoundError: a path (or its results.jsonl) does not exist.
      ValueError: no paths, a malformed line or record, a repeated record in
        one file, an unreadable config.json, or no records at all.
    """
    return [src for src, _ in _load(paths)]


def _load(paths) -> list[tuple[Source, list[dict]]]:
    """(source, its records as written) of each path (see :func:`load_sources`)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("`paths` is empty: pass at least one results.jsonl file or run directory.")
    located, seen = [], set()
    for p in paths:
        results, run_dir = _locate(p)
        if absolute(results) in seen:
            continue
        seen.add(absolute(results))
        located.append((results, run_dir))
    labels = _unique_labels([_name(r, d) for r, d in located])
    out = []
    for (results, run_dir), label in zip(located, labels):
        raws = read_results(results)
        recs = tuple(Record.from_dict(r, where=f"{results}, record {i + 1}")
                     for i, r in enumerate(raws))
        config = None
        if run_dir is not None and (as_path(run_dir) / CONFIG_NAME).exists():
            config = read_json(str(as_path(run_dir) / CONFIG_NAME), what="config.json")
            if not isinstance(config, dict):
                raise ValueError(f"{as_path(run_dir) / CONFIG_NAME} does not hold a config "
                                 f"object (it holds a {type(config).__name__}).")
        if recs:
            out.append((Source(label, results, run_dir, config, recs), raws))
    if not out:
        raise ValueError(f"No result records in {paths}.")
    return out


def load_results(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[dict]:
    """The records (dicts, as written) of ``results.jsonl`` files or run directories
    that form ONE experiment.

    Several paths are accepted only if they merge into one experiment (see the
    module docstring: equal configs, disjoint (arm, seed) runs); otherwise use
    :func:`load_sources` and pass the sources to :func:`format_table` /
    :func:`plot_results`, which show them side by side. Works on ``gs://``
    paths (through :mod:`ads_jax._files`).

    Returns:
      the records of all files, in file order (a last line cut off by a
      kill is dropped with a warning; :func:`ads_jax.rundir.read_results`).

    Raises:
      FileNotFoundError: a path (or its results.jsonl) does not exist.
      ValueError: a line is not valid JSON or lacks the required keys, a file
        repeats a record, or the paths hold different experiments.
    """
    loaded = _load(paths)
    sources = [src for src, _ in loaded]
    groups = _groups(sources)
    if len(groups) > 1:
        raise ValueError(
            f"{[s.path for s in sources]} hold different experiments "
            f"({_why_apart(groups[1][0], groups[0][0])}): their records must not be merged. "
            "Load them with ads_jax.plotting.load_sources and pass the sources to "
            "format_table / plot_results to show them side by side.")
    return [r for _, raws in loaded for r in raws]


# ----------------------------------------------------------------------------
# Series: what may be averaged.
# ----------------------------------------------------------------------------


def _as_sources(data: Any) -> list[Source]:
    data = list(data)
    if not data:
        raise ValueError("No records: nothing to summarize.")
    if all(isinstance(d, Source) for d in data):
        return data
    if any(isinstance(d, Source) for d in data):
        raise TypeError("Pass either a list of Sources or a list of records, not a mix.")
    recs = tuple(d if isinstance(d, Record) else Record.from_dict(d, where=f"record {i}")
                 for i, d in enumerate(data))
    return [Source("records", "<records>", None, None, recs)]


def _keys(src: Source) -> set[tuple[str, int]]:
    return {(r.arm, int(r.seed)) for r in src.records}


def _config_differs(a: Source, b: Source) -> list[str] | None:
    """Config fields where two sources differ (None if either has no config)."""
    if a.config is None or b.config is None:
        return None
    return [d for d in config_diff(dict(a.config), dict(b.config)) if d not in RESUMABLE_FIELDS]


def _why_apart(a: Source, b: Source) -> str | None:
    """Why ``a`` cannot be merged with ``b`` (None if it can)."""
    diff = _config_differs(a, b)
    if diff is None:
        missing = [s.label for s in (a, b) if s.config is None]
        return f"no config.json in {', '.join(missing)}: cannot tell that they are one experiment"
    if diff:
        more = f" and {len(diff) - 6} more" if len(diff) > 6 else ""
        return f"configs differ in {', '.join(diff[:6])}{more}"
    both = sorted(_keys(a) & _keys(b))
    if both:
        arm, seed = both[0]
        more = f" (and {len(both) - 1} more arm/seed pairs)" if len(both) > 1 else ""
        return f"both hold arm {arm!r} seed {seed}{more}"
    return None


def _groups(sources: list[Source]) -> list[list[Source]]:
    """Sources cut into experiments: each group's sources may be averaged together."""
    groups: list[list[Source]] = []
    for src in sources:
        for g in groups:
            if all(_why_apart(src, m) is None for m in g):
                g.append(src)
                break
        else:
            groups.append([src])
    return groups


def _schedule_text(sched: tuple[int, ...]) -> str:
    vals = [str(v) for v in sched]
    if len(vals) > 4:
        vals = vals[:2] + ["..."] + vals[-1:]
    return "labeled " + ", ".join(vals)


def series(data: Any) -> list[Series]:
    """The curves of ``data`` (a list of :class:`Source` s, or one run's records).

    Experiments (groups of sources, see the module docstring) in source
    order, arms in first-appearance order, schedules longest first.

    Raises:
      ValueError: one (arm, seed, round) twice with different results within
        one experiment (two runs mixed in one list of records).
    """
    sources = _as_sources(data)
    groups = _groups(sources)
    multi = len(groups) > 1
    out: list[Series] = []
    for grp in groups:
        glabel = "+".join(s.label for s in grp)
        by: dict[str, dict[int, dict[int, Record]]] = {}
        for src in grp:
            for rec in src.records:
                runs = by.setdefault(rec.arm, {}).setdefault(int(rec.seed), {})
                old = runs.get(int(rec.round))
                if old is not None and old != rec:
                    raise ValueError(
                        f"Arm {rec.arm!r}, seed {rec.seed}, round {rec.round} appears twice with "
                        f"different results (test accuracy {old.test_accuracy} vs "
                        f"{rec.test_accuracy}) in {src.label}: these records mix two runs. "
                        "Read each run directory as its own source (ads-jax plot DIR1 DIR2, "
                        "ads_jax.plotting.load_sources) to show them side by side.")
                runs[int(rec.round)] = rec
        for arm, seeds in by.items():
            runs = {s: tuple(rr[k] for k in sorted(rr)) for s, rr in seeds.items()}
            scheds = {s: tuple(int(r.labeled) for r in recs) for s, recs in runs.items()}
            classes: list[tuple[tuple[int, ...], list[int]]] = []
            for s in sorted(runs, key=lambda s: (-len(scheds[s]), s)):
                for key, members in classes:
                    if key[:len(scheds[s])] == scheds[s]:
                        members.append(s)
                        break
                else:
                    classes.append((scheds[s], [s]))
            base = f"{arm} [{glabel}]" if multi else arm
            for key, members in classes:
                label = base if len(classes) == 1 else f"{base} ({_schedule_text(key)})"
                out.append(Series(label, arm, tuple(s.label for s in grp),
                                  {s: runs[s] for s in sorted(members)}))
    return out


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def summarize(data: Any) -> dict[str, dict[str, Any]]:
    """Aggregate each :func:`series` over its seeds, per round.

    Returns:
      ``{series label: {"arm", "sources", "seeds" (list), "rounds": [r...],
      "labeled": [L per round], "acc_mean": [...], "acc_std": [...] (population
      std over seeds, 0 for one seed), "n_seeds": [...] (per round),
      "selection_time": mean warm ``time.selection`` per acquisition,
      "compile_time": mean ``time.compile`` over the runs that compiled,
      "training_time": mean ``time.training`` per round over the rounds the
      arm trained itself, "shared_training_time": mean ``time.training`` of
      the round-0 model shared by the arms, "picked_provenance": {name: mean
      fraction over acquisitions}, "pool_non_clean": mean non-clean share of
      the unlabeled pool}}``; NaN where there is nothing to average.
    """
    out: dict[str, dict[str, Any]] = {}
    for s in series(data):
        recs = s.records()
        rounds = sorted({int(r.round) for r in recs})
        at = {k: [r for r in recs if int(r.round) == k] for k in rounds}
        accs = [np.array([r.test_accuracy for r in at[k]], np.float64) for k in rounds]
        acq = [r for r in recs if r.acquired]
        prov: dict[str, list[float]] = {}
        for r in acq:
            for name, frac in (r.picked_provenance or {}).items():
                prov.setdefault(name, []).append(float(frac))
        pool = [non_clean_share(r.pool_provenance, NON_CLEAN) for r in acq]
        out[s.label] = {
            "arm": s.arm,
            "sources": list(s.sources),
            "seeds": list(s.seeds),
            "rounds": rounds,
            "labeled": [float(np.mean([r.labeled for r in at[k]])) for k in rounds],
            "acc_mean": [float(a.mean()) for a in accs],
            "acc_std": [float(a.std()) for a in accs],
            "n_seeds": [int(a.size) for a in accs],
            "selection_time": _mean([r.time.selection for r in acq]),
            "compile_time": _mean([r.time.compile for r in recs if r.time.compile > 0]),
            "training_time": _mean([r.time.training for r in recs if not r.shared_training]),
            "shared_training_time": _mean([r.time.training for r in recs
                                           if r.shared_training]),
            "picked_provenance": {k: float(np.mean(v)) for k, v in prov.items()},
            "pool_non_clean": _mean([p for p in pool if p is not None]),
        }
    return out


# ----------------------------------------------------------------------------
# The table.
# ----------------------------------------------------------------------------


def _num(v: float, fmt: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def _blocks(summ: dict[str, dict[str, Any]]) -> list[list[str]]:
    """Series labels grouped by labeled-set schedule (one accuracy table each)."""
    blocks: list[tuple[list[int], list[str]]] = []
    for lab in sorted(summ, key=lambda k: -len(summ[k]["rounds"])):
        sched = {k: v for k, v in zip(summ[lab]["rounds"], summ[lab]["labeled"])}
        for key, members in blocks:
            if all(key.get(k) == v for k, v in sched.items()):
                members.append(lab)
                break
        else:
            blocks.append((sched, [lab]))
    order = list(summ)
    return [sorted(m, key=order.index) for _, m in sorted(blocks,
                                                          key=lambda b: order.index(b[1][0]))]


def _sources_note(sources: list[Source]) -> list[str]:
    if len(sources) < 2:
        return []
    lines = ["sources:"]
    w = max(len(s.label) for s in sources)
    for s in sources:
        lines.append(f"  {s.label.ljust(w)}  {s.path}")
    groups = _groups(sources)
    for i, g in enumerate(groups[1:], 1):
        why = next(_why_apart(g[0], h[0]) for h in groups[:i])
        lines.append(f"  {'+'.join(x.label for x in g)} shown apart from "
                     f"{'+'.join(x.label for x in groups[0])}: {why}")
    if len(groups) > 1:
        lines.append("  'arm [run]' = that arm's curve in run directory 'run'; curves of "
                     "different experiments are never averaged together")
    else:
        lines.append("  one experiment (same config, disjoint seeds): averaged together")
    lines.append("")
    return lines


def format_table(data: Any) -> str:
    """Plain-text comparison table of ``data`` (sources, or one run's records).

    One accuracy table per labeled-set schedule: a row per round (with the
    labeled-set size), a column per :func:`series`, ``mean +- std`` over the
    seeds when a column has several. Then per series the seed count, the
    mean warm acquisition time, the compile time, the training time and the
    picked non-clean share, the round-0 training shared by the arms, and a
    definition of every column (:data:`COLUMNS`).
    """
    sources = _as_sources(data)
    summ = summarize(sources)
    labels = list(summ)
    multi_seed = any(n > 1 for s in summ.values() for n in s["n_seeds"])
    width = max(14 if multi_seed else 8, *(len(a) for a in labels)) + 2
    lines = _sources_note(sources)
    seed_counts = sorted({len(s["seeds"]) for s in summ.values()})
    for bi, block in enumerate(_blocks(summ)):
        head = "test accuracy (%)"
        if multi_seed:
            head += (f", mean +- std over {seed_counts[0]} seeds" if len(seed_counts) == 1
                     else ", mean +- std over the seeds (column 'seeds' below)")
        if bi:
            lines.append("")
            head += " -- series with another labeled-set schedule"
        lines.append(head)
        lines.append("round  labeled" + "".join(a.rjust(width) for a in block))
        rounds = sorted({k for a in block for k in summ[a]["rounds"]})
        for k in rounds:
            labeled, cells = "", []
            for a in block:
                s = summ[a]
                if k in s["rounds"]:
                    i = s["rounds"].index(k)
                    labeled = labeled or f"{s['labeled'][i]:.0f}"
                    m, sd = 100 * s["acc_mean"][i], 100 * s["acc_std"][i]
                    cells.append((f"{m:.1f} +- {sd:.1f}" if multi_seed else f"{m:.1f}")
                                 .rjust(width))
                else:
                    cells.append("-".rjust(width))
            lines.append(f"{k:>5}  {labeled:>7}" + "".join(cells))
    lines.append("")
    multi_src = len(_groups(sources)) > 1
    lines.append(("arm [run]" if multi_src else "arm").ljust(width) + "seeds".rjust(6)
                 + "select s".rjust(10) + "compile s".rjust(11) + "train s".rjust(9)
                 + "picked non-clean %".rjust(20))
    for a in labels:
        s = summ[a]
        p = s["picked_provenance"]
        bad = non_clean_share(p, NON_CLEAN)
        lines.append(a.ljust(width) + str(len(s["seeds"])).rjust(6)
                     + _num(s["selection_time"], ".3f").rjust(10)
                     + _num(s["compile_time"], ".2f").rjust(11)
                     + _num(s["training_time"], ".1f").rjust(9)
                     + (_num(100 * bad, ".0f") if bad is not None else "-").rjust(20))
    shared: dict[str, float] = {}
    for a in labels:
        t = summ[a]["shared_training_time"]
        key = "+".join(summ[a]["sources"])
        if not math.isnan(t):
            shared.setdefault(key, t)
    lines.append("")
    for key, t in shared.items():
        where = f" [{key}]" if multi_src else ""
        lines.append(f"round 0{where}: one model per seed, shared by the arms: trained in "
                     f"{t:.1f} s (each arm's round-0 line shows this same model; counted once, "
                     "not in 'train s')")
    for name, text in COLUMNS:
        lines.append(f"{name}: {text}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------
# The plot.
# ----------------------------------------------------------------------------


def plot_results(
    data: Any,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    dpi: int = 110,
) -> str:
    """Write a PNG: accuracy curves (mean +- std over seeds) and acquisition times.

    Left panel: test accuracy vs labeled-set size, one line per
    :func:`series` (shaded band = +- one std over its seeds). Middle panel
    (when the records carry provenance): share of non-clean points among the
    picked ones per series, with their share in the unlabeled pool as a
    dashed line. Right panel: per series the mean wall time of one warm
    acquisition (``time.selection``, solid) and of compiling the acquisition
    program once (``time.compile``, hatched).

    Args:
      data: a list of :class:`Source` s, or one run's records.
      path: output file (local or ``gs://``; the suffix picks the format),
        written whole (:func:`ads_jax._files.atomic_savefig`).
      title: figure title.
      dpi: resolution.

    Returns:
      ``path`` as a string.
    """
    # matplotlib is optional for ads_jax: only code that draws imports it, here at call time.
    import matplotlib

    matplotlib.use("Agg", force=True)
    # pyplot after choosing the backend (matplotlib's rule), so it is imported here too.
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch  # with pyplot, for the same reason

    summ = summarize(data)
    labels = list(summ)
    has_prov = any(s["picked_provenance"] for s in summ.values())
    ncols = 3 if has_prov else 2
    fig, axes = plt.subplots(
        1, ncols, figsize=(15 if has_prov else 11, 4.6),
        gridspec_kw={"width_ratios": [1.6, 1, 1] if has_prov else [1.6, 1]},
    )
    ax1, ax2 = axes[0], axes[-1]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    color = [colors[i % len(colors)] for i in range(len(labels))]
    for i, (lab, s) in enumerate(summ.items()):
        x = np.asarray(s["labeled"])
        m = 100 * np.asarray(s["acc_mean"])
        sd = 100 * np.asarray(s["acc_std"])
        arm = s["arm"]
        style = "-" if arm.startswith("ads") else "--" if "+" in arm else ":"
        ax1.plot(x, m, style, marker="o", ms=3.5, color=color[i], label=lab)
        if np.any(sd > 0):
            ax1.fill_between(x, m - sd, m + sd, color=color[i], alpha=0.15, lw=0)
    n_seeds = sorted({len(s["seeds"]) for s in summ.values()})
    ax1.set_xlabel("labeled examples")
    ax1.set_ylabel("test accuracy (%)")
    if n_seeds[-1] > 1:
        over = f"{n_seeds[0]} seeds" if len(n_seeds) == 1 else "seeds"
        ax1.set_title(f"accuracy (mean \u00b1 std over {over})")
    else:
        ax1.set_title("accuracy")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8)

    ticks = range(len(labels))
    if has_prov:
        ax3 = axes[1]
        share = [100 * (non_clean_share(summ[a]["picked_provenance"], NON_CLEAN) or 0.0)
                 for a in labels]
        ax3.bar(ticks, share, color=color)
        pool = [summ[a]["pool_non_clean"] for a in labels
                if not math.isnan(summ[a]["pool_non_clean"])]
        if pool:
            base = 100 * float(np.mean(pool))
            ax3.axhline(base, color="k", ls="--", lw=1, label=f"share in pool ({base:.0f}%)")
            ax3.legend(fontsize=8, loc="lower right")
        ax3.set_xticks(list(ticks))
        ax3.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
        ax3.set_ylabel("% of picked points")
        ax3.set_title("picked non-clean (noisy/ood/mislabeled/other domain)", fontsize=10)
        ax3.set_ylim(0, 100)
        ax3.grid(axis="y", alpha=0.3)

    sel = np.array([summ[a]["selection_time"] for a in labels], np.float64)
    comp = np.array([summ[a]["compile_time"] for a in labels], np.float64)
    xs = np.arange(len(labels), dtype=np.float64)
    ax2.bar(xs - 0.2, np.nan_to_num(sel), width=0.4, color=color)
    handles = [Patch(facecolor="0.5", label="warm call (mean per round)")]
    if np.any(comp > 0):
        ax2.bar(xs + 0.2, np.nan_to_num(comp), width=0.4, color=color, alpha=0.45,
                hatch="//", edgecolor="k", lw=0.5)
        handles.append(Patch(facecolor="0.8", hatch="//", edgecolor="k", lw=0.5,
                             label="compile (once per run)"))
    pos = np.concatenate([sel[sel > 0], comp[comp > 0]])
    if pos.size and pos.max() / pos.min() > 50:
        ax2.set_yscale("log")
    ax2.set_xticks(list(ticks))
    ax2.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax2.set_ylabel("seconds")
    ax2.set_title("acquisition time: warm call, compile (hatched)", fontsize=10)
    ax2.grid(axis="y", alpha=0.3)
    if pos.size:
        ax2.legend(handles=handles, fontsize=7, loc="best", framealpha=0.8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return atomic_savefig(fig, path, dpi=dpi)
