"""The ``ads-jax`` command (also ``python -m ads_jax``).

::

    ads-jax demo [FIELD=VALUE ...]            # built-in digits, noisy pool, 5 arms, ~minutes on a CPU
    ads-jax run CONFIG [FIELD=VALUE ...]      # CONFIG: name[:variant], file.py[:variant], module, JSON
    ads-jax plot RESULTS [RESULTS ...]        # results.jsonl files or run directories
    ads-jax config CONFIG [FIELD=VALUE ...]   # print the resolved config as JSON
    ads-jax list                              # experiments, valuations, estimators, selectors

Overrides address any config field by its dotted path, e.g. ``train.epochs=3``,
``acquisition.arm=ads+badge``, ``loop.arms=[ads+coreset,coreset]``,
``data.noise_beta=[2,5]``, ``acquisition.estimator.options.aggregate=max``.
``--import MODULE`` (repeatable; a module name or a ``.py`` path) imports user
code that registers valuations, estimators or selectors before the config
resolves. Runs write ``config.json``, ``results.jsonl``, per-round artefacts,
Orbax checkpoints and ``curves.png`` to ``loop.out_dir`` (``--out-dir``);
running the same command again resumes an interrupted run.

Errors a user can cause (unknown arm or selector, budget larger than the pool,
missing dataset file, dataset that needs TensorFlow, bad override) print one
line to stderr and exit with status 1; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Sequence

from ads_jax.config_engine import apply_overrides, to_json
from ads_jax.configs import available as available_configs
from ads_jax.configs import load as get_config
from ads_jax.configs import resolve as resolve_config
from ads_jax.determinism import ensure_deterministic_ops
from ads_jax.distributed import is_primary
from ads_jax.loop import run_experiment
from ads_jax.plotting import format_table, load_results, plot_results
from ads_jax.plugins import import_user_modules
from ads_jax.rundir import RunDirectoryBusy
from ads_jax.selection import available_selectors
from ads_jax.valuation import available_estimators, available_valuations

__all__ = ["main", "build_parser", "parse_with_overrides"]

def _user_errors():
    return (ValueError, TypeError, FileNotFoundError, ImportError, NotADirectoryError,
            PermissionError, RunDirectoryBusy)


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
        sp.add_argument("overrides", nargs="*", metavar="FIELD=VALUE",
                        help="dotted config overrides, e.g. train.epochs=3 loop.seeds=[0,1]")
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
                       description="Run CONFIG (a built-in name or a JSON file) with overrides.")
    r.add_argument("config", metavar="CONFIG",
                   help=f"built-in experiment NAME[:VARIANT] ({builtin}), a .py file with "
                        "get_config(variant), a module, or a JSON file")
    run_opts(r)
    pl = sub.add_parser("plot", parents=[common], help="plot result files",
                        description="Accuracy curves (mean +- std over seeds) and selection-time "
                        "bars from results.jsonl files or run directories; prints the table.")
    pl.add_argument("results", nargs="+", metavar="RESULTS")
    pl.add_argument("-o", "--output", help="PNG path (default: <run dir>/curves.png or ./curves.png)")
    pl.add_argument("--title", help="figure title")
    c = sub.add_parser("config", parents=[common], help="print a resolved config as JSON")
    c.add_argument("config", metavar="CONFIG", help=f"built-in config ({builtin}) or JSON file")
    c.add_argument("overrides", nargs="*", metavar="FIELD=VALUE")
    sub.add_parser("list", parents=[common], help="list experiments and registered components",
                   description="Built-in experiments, registered valuations, value estimators "
                               "and selectors (after --import).")
    return p


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
    parts.append(f"model=wrn-{cfg.model.depth}-{cfg.model.width}")
    parts.append(f"{lp.rounds} rounds x {a.budget} picks")
    parts.append(f"arms={','.join(cfg.arms)}")
    parts.append(f"seeds={list(lp.seeds)}")
    return ", ".join(parts)


def _run(cfg, args, *, title: str) -> int:

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
    if not args.no_plot:
        png = plot_results(records, os.path.join(cfg.loop.out_dir, "curves.png"), title=title)
        print(f"\nplot: {png}")
    print(f"results: {os.path.join(cfg.loop.out_dir, 'results.jsonl')}")
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

    print("experiments:", ", ".join(available_configs()))
    print("valuations: ", ", ".join(available_valuations()))
    print("estimators: ", ", ".join(available_estimators()))
    print("selectors:  ", ", ".join(available_selectors()))
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
        return _run(cfg, args, title=f"ads-jax run {os.path.basename(args.config)}")
    if args.command == "plot":

        records = load_results(args.results)
        out = args.output
        if out is None:
            first = args.results[0]
            out = (os.path.join(first, "curves.png")
                   if len(args.results) == 1 and os.path.isdir(first) else "curves.png")
        print(format_table(records))
        print(f"\nplot: {plot_results(records, out, title=args.title)}")
        return 0
    if args.command == "config":

        print(to_json(resolve_config(args.config, args.overrides)))
        return 0
    raise AssertionError(args.command)  # pragma: no cover


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ads-jax``; returns the exit status.

    User errors print ``ads-jax: error: <message>`` to stderr and return 1
    (``--debug`` re-raises them); a keyboard interrupt returns 130 and says
    how to resume.
    """
    parser = build_parser()
    args = parse_with_overrides(parser, argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    debug = getattr(args, "debug", False)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print("ads-jax: interrupted. Run the same command again to resume from the last "
              "finished round.", file=sys.stderr)
        return 130
    except _user_errors() as e:
        if debug:
            raise
        msg = str(e) or type(e).__name__
        if isinstance(e, ImportError) and not str(e):
            msg = f"missing dependency: {e.name}"
        print(f"ads-jax: error: {msg}", file=sys.stderr)
        return 1
