"""The ``ads-jax`` command (also ``python -m ads_jax``).

::

    ads-jax demo [FIELD=VALUE ...]            # built-in digits, noisy pool, 5 arms, ~minutes on a CPU
    ads-jax run CONFIG [FIELD=VALUE ...]      # CONFIG: name[:variant], file.py[:variant], module, JSON
    ads-jax plot RESULTS [RESULTS ...]        # results.jsonl files or run directories
    ads-jax config CONFIG [FIELD=VALUE ...]   # print the resolved config as JSON
    ads-jax list                              # experiments (and variants), components
    ads-jax sweep list|run|collect ...        # resumable grids of runs (ads_jax.sweep)

Overrides address any config field by its dotted path, e.g. ``train.epochs=3``,
``acquisition.arm=ads+badge``, ``loop.arms=[ads+coreset,coreset]`` (one value
is a one-element list: ``loop.arms=ads+coreset``, ``loop.seeds=3``),
``data.noise_beta=[2,5]``, ``acquisition.estimator.options.aggregate=max``.
``--import MODULE`` (repeatable; a module name or a ``.py`` path) imports user
code that registers valuations, estimators or selectors before the config
resolves. Runs write ``config.json``, ``results.jsonl``, per-round artefacts,
Orbax checkpoints and ``curves.png`` to ``loop.out_dir`` (``--out-dir``);
running the same command again resumes an interrupted run.

``ads-jax plot`` reads result files labelled by their run directory: records
of different experiments (different configs, or two runs of one arm and seed)
are shown side by side as ``arm [run]``, never averaged together
(:mod:`ads_jax.plotting`); it writes a PNG only into the one run directory
it reads, or where ``-o`` says.

Errors a user can cause (unknown arm or selector, budget larger than the pool,
missing dataset file, dataset that needs TensorFlow, bad override, a config
file that does not parse or raises) print one line to stderr and exit with
status 1; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from typing import Sequence

from ads_jax._files import as_path, atomic_write
from ads_jax.acquisition import ARMS, available_prefilters
from ads_jax.config_engine import apply_overrides, to_json
from ads_jax.configs import available as available_configs
from ads_jax.configs import load as get_config
from ads_jax.configs import resolve as resolve_config
from ads_jax.configs import variants as config_variants
from ads_jax.determinism import ensure_deterministic_ops
from ads_jax.distributed import is_primary
from ads_jax.loop import run_experiment
from ads_jax.models import available_models
from ads_jax.plotting import format_table, load_sources, plot_results
from ads_jax.plan import format_plan, plan
from ads_jax.plugins import import_user_modules
from ads_jax.rundir import RunDirectoryBusy
from ads_jax.selection import available_selectors
from ads_jax.stats import METHODS
from ads_jax.sweep import (
    Sweep,
    collect,
    compare_records,
    format_comparisons,
    is_sweep_file,
    jobs_of,
    load_sweeps,
    records_to_csv,
    run as run_sweep,
    shard_jobs,
    write_records,
)
from ads_jax.valuation import available_estimators, available_valuations

__all__ = ["main", "build_parser", "parse_with_overrides", "SMOKE_TEST_NOTE"]

#: Printed with the results of a ``tiny`` config or variant.
SMOKE_TEST_NOTE = ("note: `tiny` is a smoke test (a 150-image pool, 1-2 epochs, seconds on a "
                   "CPU): it checks that everything runs; chance-level accuracy is expected and "
                   "says nothing about the arms.")


def _user_errors():
    return (ValueError, TypeError, FileNotFoundError, ImportError, NotADirectoryError,
            PermissionError, RunDirectoryBusy)


def _overrides_arg(sp: argparse.ArgumentParser, help_text: str) -> None:
    # default=[]: a "*" positional without a default is listed as *required* in
    # argparse's usage errors ("required: CONFIG, FIELD=VALUE").
    sp.add_argument("overrides", nargs="*", default=[], metavar="FIELD=VALUE", help=help_text)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``ads-jax``."""

    builtin = ", ".join(available_configs())
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show full tracebacks instead of one-line errors")
    common.add_argument("--import", dest="imports", action="append", default=argparse.SUPPRESS,
                        metavar="MODULE",
                        help="import MODULE (a module name or a .py file) first, e.g. to "
                             "register your own valuation, estimator or selector; repeatable")
    p = argparse.ArgumentParser(
        prog="ads-jax",
        description="Active Data Shapley (ADS) batch active learning in JAX.",
        parents=[common],
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def run_opts(sp):
        _overrides_arg(sp, "optional dotted config overrides, e.g. train.epochs=3 "
                           "loop.seeds=[0,1]")
        sp.add_argument("--out-dir", help="run directory (overrides loop.out_dir)")
        sp.add_argument("--overwrite", action="store_true",
                        help="discard an existing run in the run directory instead of resuming it")
        sp.add_argument("--quiet", "-q", action="store_true", help="no per-round progress lines")
        sp.add_argument("--no-plot", action="store_true", help="do not write curves.png")

    d = sub.add_parser("demo", parents=[common], help="run the built-in demo (digits, noisy pool)",
                       description="Built-in digits data with 80% of the pool corrupted by "
                       "Beta-power white noise; compares ads+coreset, coreset, randfilter+coreset, "
                       "entropy and random. Prints accuracy per round and selection time per arm "
                       "and writes a PNG plot.")
    run_opts(d)
    r = sub.add_parser("run", parents=[common], help="run an experiment config",
                       usage="ads-jax run [options] CONFIG [FIELD=VALUE ...]",
                       description="Run CONFIG (a built-in name, a .py file, a module or a JSON "
                                   "file), optionally with dotted FIELD=VALUE overrides. "
                                   "`ads-jax list` shows the built-in configs and their variants.")
    r.add_argument("config", metavar="CONFIG",
                   help=f"built-in experiment NAME[:VARIANT] ({builtin}), a .py file with "
                        "get_config(variant), a module, or a JSON file")
    run_opts(r)
    pl = sub.add_parser("plot", parents=[common], help="plot result files",
                        description="Accuracy curves (mean +- std over seeds) and acquisition-"
                        "time bars from results.jsonl files or run directories; prints the "
                        "table. Each source is labelled by its run directory; different "
                        "experiments are shown side by side ('arm [run]'), never averaged "
                        "together.")
    pl.add_argument("results", nargs="+", metavar="RESULTS",
                    help="results.jsonl files or run directories (local or gs://)")
    pl.add_argument("-o", "--output",
                    help="image path (default: <run dir>/curves.png when RESULTS is one run "
                         "directory; otherwise no image unless -o is given)")
    pl.add_argument("--title", help="figure title")
    c = sub.add_parser("config", parents=[common], help="print a resolved config as JSON",
                       usage="ads-jax config [options] CONFIG [FIELD=VALUE ...]")
    c.add_argument("config", metavar="CONFIG", help=f"built-in config ({builtin}) or JSON file")
    _overrides_arg(c, "optional dotted config overrides")
    sub.add_parser("list", parents=[common], help="list experiments and registered components",
                   description="Built-in experiments with their variants, registered "
                               "valuations, value estimators, pre-filters, selectors and models "
                               "(after --import).")
    pn = sub.add_parser("plan", parents=[common], help="size a run before it starts",
                        usage="ads-jax plan [options] CONFIG [FIELD=VALUE ...]",
                        description="Compile the run's programs (train step, inference, one "
                                    "acquisition program per arm) at the config's shapes with "
                                    "abstract inputs on this backend; print per-device memory, "
                                    "FLOPs, bytes and compile time, and -- given a device's peak "
                                    "FLOP/s and bandwidth -- a round-time estimate. No data is "
                                    "loaded (WideResNet runs).")
    pn.add_argument("config", metavar="CONFIG", help=f"built-in config ({builtin}) or a file")
    _overrides_arg(pn, "optional dotted config overrides")
    pn.add_argument("--peak-tflops", type=float, help="the device's peak TFLOP/s (e.g. 989 for "
                    "an H100 in bf16)")
    pn.add_argument("--bandwidth-tbs", type=float, help="the device's memory bandwidth in TB/s "
                    "(e.g. 3.35 for an H100)")
    _sweep_parser(sub, common)
    return p


def _sweep_parser(sub, common) -> None:
    sw = sub.add_parser("sweep", parents=[common], help="resumable sweeps of runs (grids x arms "
                        "x seeds), sharded over processes",
                        description="Resumable experiment sweeps: one run directory per (grid "
                                    "point, arm, seed) job (ads_jax.sweep).")
    ssub = sw.add_subparsers(dest="sweep_command", metavar="SUBCOMMAND")

    def spec_opts(sp):
        sp.add_argument("spec", metavar="SPEC",
                        help="config spec (name[:variant], .py, .json config) or a sweep JSON file")
        _overrides_arg(sp, "optional overrides applied to every job")
        sp.add_argument("--root", default=os.path.join("runs", "sweeps"),
                        help="sweep root: one directory per job (default runs/sweeps)")
        sp.add_argument("--arms", help="comma-separated arms (default: the config's)")
        sp.add_argument("--seeds", help="comma-separated seeds (default: the config's)")
        sp.add_argument("--grid", action="append", metavar="FIELD=V1|V2",
                        help="a grid factor; repeat for a Cartesian product")
        sp.add_argument("--name", help="job name prefix (default: from SPEC)")
        sp.add_argument("--group-arms", action="store_true",
                        help="one job per (point, seed) with every arm (shares round 0)")
        sp.add_argument("--shard", type=int, default=0, help="this process's shard (0-based)")
        sp.add_argument("--num-shards", type=int, default=1, help="number of shards")

    ls = ssub.add_parser("list", parents=[common], help="list the jobs (and their status)",
                         usage="ads-jax sweep list [options] SPEC [FIELD=VALUE ...]")
    spec_opts(ls)
    ls.add_argument("--format", choices=("text", "json", "csv"), default="text")
    rn = ssub.add_parser("run", parents=[common],
                         help="run this shard's jobs, skipping finished ones",
                         usage="ads-jax sweep run [options] SPEC [FIELD=VALUE ...]")
    spec_opts(rn)
    rn.add_argument("--overwrite", action="store_true",
                    help="discard and rerun jobs whose directory holds another config")
    rn.add_argument("--keep-going", action="store_true", help="continue after a failing job")
    rn.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    co = ssub.add_parser("collect", parents=[common],
                         help="every record under sweep roots, with grid points; optionally "
                              "paired statistics against a baseline arm",
                         description="Records go to stdout (JSON lines or CSV) or to --output. "
                                     "With --compare ARM, every other arm is compared with ARM "
                                     "paired by seed within each (sweep, grid point): final "
                                     "metric and learning-curve area, mean difference with a "
                                     "95%% CI and a verdict (ads_jax.stats.compare). The "
                                     "comparison table goes to stdout when the records go to "
                                     "--output, else to stderr; --compare-output FILE "
                                     "(.json/.csv/.md) also writes it.")
    co.add_argument("roots", nargs="+", metavar="ROOT")
    co.add_argument("--format", choices=("json", "csv"), default="json")
    co.add_argument("--output", "-o", help="write the records to FILE (.json or .csv) instead "
                                           "of stdout")
    co.add_argument("--compare", metavar="BASELINE_ARM",
                    help="compare every arm with this one, paired by seed")
    co.add_argument("--metric", default="test_accuracy",
                    help="record field to compare (default test_accuracy; e.g. "
                         "test_balanced_accuracy)")
    co.add_argument("--method", choices=METHODS, default="t",
                    help="confidence interval: Student t (default) or percentile bootstrap")
    co.add_argument("--compare-output", metavar="FILE",
                    help="also write the comparison rows to FILE (.json, .csv or .md)")


def parse_with_overrides(parser: argparse.ArgumentParser, argv: Sequence[str] | None):
    """``parser.parse_args`` where FIELD=VALUE overrides may also follow the options.

    argparse stops filling a ``nargs="*"`` positional at the first option, so the
    leftovers are re-attached to ``args.overrides`` (any other leftover is an error).
    """
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not hasattr(args, "overrides") or any(a.startswith("-") for a in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = [*args.overrides, *extra]
    return args


def _log(msg: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def _describe(cfg) -> str:
    d, a, lp = cfg.data, cfg.acquisition, cfg.loop
    parts = [f"dataset={getattr(d, 'dataset', '?')}"]
    if getattr(d, "kind", None) == "noisy":
        parts.append(f"noisy pool ({100 * getattr(d, 'noise_fraction', 0):.0f}% Beta-power white noise)")
    elif getattr(d, "kind", None):
        parts.append(f"scenario={d.kind}")
    if cfg.model.name == "wrn":
        parts.append(f"model=wrn-{cfg.model.depth}-{cfg.model.width}")
    else:
        parts.append(f"model={cfg.model.name}")
    parts.append(f"{lp.rounds} rounds x {a.budget} picks")
    parts.append(f"arms={','.join(cfg.arms)}")
    parts.append(f"seeds={list(lp.seeds)}")
    return ", ".join(parts)


def _is_smoke_test(spec: str) -> bool:
    """A ``tiny`` config or variant (``tiny``, ``paper_noisy:tiny``)."""
    name, _, arg = spec.partition(":")
    return name == "tiny" or arg == "tiny"


def _run(cfg, args, *, title: str, smoke_test: bool = False) -> int:

    # XLA reads XLA_FLAGS when JAX starts its backends: importing ads_jax and
    # resolving the config start nothing, so the flag set here applies to the run.
    ensure_deterministic_ops(cfg.train.deterministic)
    t0 = time.perf_counter()
    started = []

    def progress(msg: str) -> None:
        # The header comes with the first progress line, i.e. only once the
        # config, data and sizes have been validated (errors stay one line).
        if not started:
            started.append(True)
            _log(f"{title}: {_describe(cfg)}", t0)
        _log(msg, t0)

    records = run_experiment(cfg, overwrite=args.overwrite,
                             progress=None if args.quiet else progress)

    if not is_primary():  # multi-process runs: process 0 reports and plots
        return 0
    print(format_table(records))
    if smoke_test:
        print(f"\n{SMOKE_TEST_NOTE}")
    if not args.no_plot:
        png = plot_results(records, str(as_path(cfg.loop.out_dir) / "curves.png"), title=title)
        print(f"\nplot: {png}")
    print(f"results: {as_path(cfg.loop.out_dir) / 'results.jsonl'}")
    if not args.quiet:
        _log("done", t0)
    return 0


def _apply_cli(cfg, args):

    cfg = apply_overrides(cfg, args.overrides)
    if args.out_dir is not None:
        out = args.out_dir
        if not out.strip():
            raise ValueError("`--out-dir` is empty; give a directory path (or leave the option "
                             "out to use loop.out_dir).")
        if os.path.exists(out) and not os.path.isdir(out):
            raise NotADirectoryError(f"`--out-dir` {out!r} is a file, not a directory; choose "
                                     "another path.")
        cfg = apply_overrides(cfg, [f"loop.out_dir={out}"])
    return cfg


def _list() -> int:
    print("experiments (ads-jax run NAME[:VARIANT]; (default) = NAME alone):")
    names = available_configs()
    w = max(map(len, names))
    for name in names:
        vs = config_variants(name)
        text = "?" if vs is None else ", ".join(v or "(default)" for v in vs)
        print(f"  {name.ljust(w)}  {text}")
    print("valuations: ", ", ".join(available_valuations()))
    print("estimators: ", ", ".join(available_estimators()))
    print("pre-filters:", ", ".join(available_prefilters()))
    print("selectors:  ", ", ".join(available_selectors()))
    print("models:     ", ", ".join(available_models()))
    print("arms:       ", ", ".join(ARMS), "(e.g. ads+coreset, randfilter+coreset, coreset)")
    return 0


def _plot(args) -> int:
    sources = load_sources(args.results)
    print(format_table(sources))
    out = args.output
    if out is None and len(sources) == 1 and sources[0].run_dir is not None:
        out = str(as_path(sources[0].run_dir) / "curves.png")
    if out is None:
        why = (f"{len(sources)} sources" if len(sources) > 1
               else f"{sources[0].path} is not in a run directory")
        print(f"\nno plot written ({why}); add -o FILE.png to write one.")
        return 0
    print(f"\nplot: {plot_results(sources, out, title=args.title)}")
    return 0


def _dispatch(args) -> int:
    import_user_modules(getattr(args, "imports", []))
    if args.command == "list":
        return _list()
    if args.command == "demo":

        cfg = _apply_cli(get_config("demo"), args)
        return _run(cfg, args, title="ads-jax demo")
    if args.command == "run":

        cfg = resolve_config(args.config, ())
        cfg = _apply_cli(cfg, args)
        return _run(cfg, args, title=f"ads-jax run {os.path.basename(args.config)}",
                    smoke_test=_is_smoke_test(args.config))
    if args.command == "plot":
        return _plot(args)
    if args.command == "config":

        print(to_json(resolve_config(args.config, args.overrides)))
        return 0
    if args.command == "sweep":
        return _sweep(args)
    if args.command == "plan":
        cfg = resolve_config(args.config, args.overrides)
        if (args.peak_tflops is None) != (args.bandwidth_tbs is None):
            raise ValueError("give both --peak-tflops and --bandwidth-tbs (or neither).")
        peak = None if args.peak_tflops is None else args.peak_tflops * 1e12
        bw = None if args.bandwidth_tbs is None else args.bandwidth_tbs * 1e12
        print(format_plan(plan(cfg, peak_flops=peak, bandwidth=bw)))
        return 0
    raise AssertionError(args.command)  # pragma: no cover


# ----------------------------------------------------------------------------
# ads-jax sweep
# ----------------------------------------------------------------------------


def _split_list(text: str | None, kind: type, option: str) -> list | None:
    if text is None:
        return None
    items = [s.strip() for s in text.strip().strip("[]").split(",") if s.strip()]
    try:
        return [kind(s) for s in items]
    except ValueError:
        raise ValueError(f"{option} {text!r}: expected comma-separated {kind.__name__}s, e.g. "
                         f"{option} {'0,1,2' if kind is int else 'ads+coreset,coreset'}.") \
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
    arms = _split_list(args.arms, str, "--arms")
    seeds = _split_list(args.seeds, int, "--seeds")
    grid = _cli_grid(args.grid or [])
    imports = list(getattr(args, "imports", []))
    if is_sweep_file(args.spec):
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
            if imports:
                ch["imports"] = (*sw.imports, *imports)
            out.append(dataclasses.replace(sw, **ch))
        return out
    return [Sweep(args.spec, grid=grid, arms=arms, seeds=seeds, overrides=args.overrides,
                  name=args.name, group_arms=args.group_arms, imports=imports)]


def _write_comparison(rows: list[dict], path: str) -> str:
    if path.endswith(".md"):
        return atomic_write(path, format_comparisons(rows))
    return write_records(rows, path)


def _sweep_collect(args) -> int:
    recs = collect(args.roots)
    rows = None
    if args.compare is not None:  # before any output: a bad baseline writes nothing
        rows = compare_records(recs, baseline=args.compare, metric=args.metric,
                               method=args.method)
    if args.output:
        print(write_records(recs, args.output), file=sys.stderr)
    elif args.format == "csv":
        sys.stdout.write(records_to_csv(recs))
    else:
        for r in recs:
            print(json.dumps(r))
    if rows is None:
        return 0
    table = format_comparisons(rows)
    print(table, file=sys.stdout if args.output else sys.stderr, end="")
    if args.compare_output:
        print(_write_comparison(rows, args.compare_output), file=sys.stderr)
    return 0


def _sweep(args) -> int:
    cmd = getattr(args, "sweep_command", None)
    if cmd == "collect":
        return _sweep_collect(args)
    jobs = jobs_of(_sweeps_from_args(args), args.root)
    if cmd == "list":
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
    if cmd == "run":
        say = None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
        reports = run_sweep(jobs, args.shard, args.num_shards, overwrite=args.overwrite,
                            progress=say, keep_going=args.keep_going)
        for r in reports:
            print(json.dumps(r))
        return 1 if any(r["status"] == "failed" for r in reports) else 0
    raise AssertionError(cmd)  # pragma: no cover


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ads-jax``; returns the exit status.

    User errors print ``ads-jax: error: <message>`` (``ads-jax sweep: error:``
    for sweep commands) to stderr and return 1 (``--debug`` re-raises them);
    a keyboard interrupt returns 130 and says how to resume.
    """
    parser = build_parser()
    args = parse_with_overrides(parser, argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "sweep" and getattr(args, "sweep_command", None) is None:
        print("usage: ads-jax sweep {list,run,collect} ...\nads-jax sweep: choose a "
              "subcommand: list (the jobs), run (this shard's jobs) or collect (the records); "
              "see ads-jax sweep --help.", file=sys.stderr)
        return 2
    prog = "ads-jax sweep" if args.command == "sweep" else "ads-jax"
    debug = getattr(args, "debug", False)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{prog}: interrupted. Run the same command again to resume from the last "
              "finished round.", file=sys.stderr)
        return 130
    except _user_errors() as e:
        if debug:
            raise
        msg = str(e) or type(e).__name__
        if isinstance(e, ImportError) and not str(e):
            msg = f"missing dependency: {e.name}"
        print(f"{prog}: error: {msg}", file=sys.stderr)
        return 1
