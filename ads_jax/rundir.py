"""The run directory: its layout, its files, and the lock that makes it single-writer.

Layout of ``loop.out_dir`` (a local path or a cloud URI such as
``gs://bucket/runs/x``; every file goes through ``etils.epath`` and
:mod:`ads_jax._files`, so a URI is never turned into a local path)::

    config.json                              resolved ExperimentConfig
    results.jsonl                            one record per (arm, seed, round)
    .lock                                    held while a run writes (see RunLock)
    checkpoints/<arm>/seed_<s>/<n>/          Orbax: loop state after n finished rounds
    fit_checkpoints/<arm>/seed_<s>/round_<r> per-epoch training checkpoints (optional)
    artefacts/<arm>/seed_<s>/round_<r>.npz   per-round arrays for analysis
    curves.png                               plot

Preparing a directory (:func:`prepare`) checks that it may hold a run of a
config: a directory with checkpoints must have a ``config.json`` that
:func:`matching` finds equal to the config except in
:data:`RESUMABLE_FIELDS` (where it lives, which arms and seeds run now, and
bookkeeping); then it writes ``config.json``.

Per-round artefacts (:func:`save_artefacts`, :func:`load_artefacts`): one
compressed ``.npz`` per acquisition round with

* ``labeled`` (L,) int32 -- pool indices of the labeled set the round valued
  (initial set, then earlier picks in acquisition order);
* ``pool_index`` (U,) int32 -- pool indices of the unlabeled points, the
  order of the per-pool arrays below;
* ``picked`` (B,) int32 -- pool indices picked this round, in selection order;
* ``preselect_mask`` (U,) bool -- the candidates the selector could pick;
* ``train_values`` (L,) float32 and ``values`` (U,) float32 -- the exact values
  of the labeled points and the predicted values of the pool (ADS arms only;
  absent otherwise).

Results: a run keeps its records in memory (:class:`ResultsWriter`) and
rewrites ``results.jsonl`` whole after every round (atomically: a temporary
file renamed over it locally, one object write on a cloud store, where
nothing can be appended). A file written by older versions, or edited, may
still hold a line cut off by a kill: :func:`read_results` drops a cut-off last
line with a warning; a malformed line elsewhere, or two records for one
(arm, seed, round), is an error naming the file and line.

The lock (:class:`RunLock`) is an OS file lock (``fcntl.flock``) on local
file systems and a heartbeat *lease* where ``flock`` is not available (cloud
object stores, network file systems that do not honour it); see the class.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import secrets
import socket
import threading
import time
import warnings
import zipfile
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from ads_jax.config_engine import config_diff, from_dict, to_dict
from ads_jax._files import (
    absolute,
    as_path,
    atomic_savez,
    atomic_write,
    atomic_write_json,
    iter_files,
    is_local,
    makedirs,
    read_bytes,
    read_json,
    remove,
    rmtree,
)
from ads_jax.records import REQUIRED
from ads_jax.training.config import BOOKKEEPING_FIELDS as TRAIN_BOOKKEEPING_FIELDS

__all__ = [
    "CONFIG_NAME",
    "RESULTS_NAME",
    "ENVIRONMENT_NAME",
    "record_environment",
    "LOCK_NAME",
    "RECORD_KEYS",
    "RESUMABLE_FIELDS",
    "config_path",
    "results_path",
    "checkpoint_dir",
    "fit_checkpoint_dir",
    "artefact_path",
    "check_out_dir",
    "has_checkpoints",
    "matching",
    "prepare",
    "remove_fit_checkpoints",
    "save_artefacts",
    "load_artefacts",
    "iter_artefacts",
    "read_results",
    "write_results",
    "ResultsWriter",
    "RunLock",
    "RunDirectoryBusy",
    "LOCK_ENV",
    "LEASE_INTERVAL_ENV",
]

CONFIG_NAME = "config.json"
RESULTS_NAME = "results.jsonl"
ENVIRONMENT_NAME = "environment.json"
LOCK_NAME = ".lock"
#: Keys every result record has (the one definition: :data:`ads_jax.records.REQUIRED`).
RECORD_KEYS = REQUIRED

#: Config fields that may differ between the config of a run directory and the
#: config that resumes it: where it lives, which (arm, seed) pairs to run now
#: and bookkeeping. Anything else changes results, so it must match.
RESUMABLE_FIELDS = ("loop.out_dir", "loop.arms", "loop.seeds", "loop.checkpoint",
                    # loop.warm_timing: a field of earlier versions (run directories they made)
                    "loop.max_to_keep", "loop.share_initial_round", "loop.warm_timing",
                    "loop.checkpoint_training", "loop.save_artefacts", "loop.mesh",
                    "acquisition.arm",
                    *(f"train.{f}" for f in TRAIN_BOOKKEEPING_FIELDS))

_FIX = ("Use another `loop.out_dir`, or --overwrite (run_experiment(overwrite=True)) to "
        "discard the old run.")


def slug(arm: str) -> str:
    """File-system-safe name of an arm (``ads+coreset`` -> ``ads_plus_coreset``)."""
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", arm.replace("+", "_plus_"))
    return s or "arm"


def _join(out_dir: str | os.PathLike, *parts: str) -> str:
    return str(as_path(out_dir).joinpath(*parts))


def config_path(out_dir: str | os.PathLike) -> str:
    """``<out_dir>/config.json``."""
    return _join(out_dir, CONFIG_NAME)


def results_path(out_dir: str | os.PathLike) -> str:
    """``<out_dir>/results.jsonl``."""
    return _join(out_dir, RESULTS_NAME)


def record_environment(out_dir: str | os.PathLike, environment: Mapping[str, Any]) -> None:
    """Append this session's machine and versions to ``<out_dir>/environment.json``
    (a list, one entry per session that wrote to the run; a corrupt file is restarted)."""
    path = _join(out_dir, ENVIRONMENT_NAME)
    sessions = []
    try:
        old = read_json(path, what="Run environment file")
        sessions = old if isinstance(old, list) else []
    except (FileNotFoundError, ValueError):
        pass
    sessions.append(dict(environment, started=time.strftime("%Y-%m-%dT%H:%M:%S%z")))
    atomic_write_json(path, sessions)


def checkpoint_dir(out_dir: str | os.PathLike, arm: str, seed: int) -> str:
    """Orbax checkpoint directory of one (arm, seed) run (absolute if local)."""
    return _join(absolute(out_dir), "checkpoints", slug(arm), f"seed_{seed}")


def fit_checkpoint_dir(out_dir: str | os.PathLike, arm: str, seed: int, round_: int) -> str:
    """Per-epoch training checkpoints of one round (``loop.checkpoint_training``).

    ``arm="shared"`` is the round-0 model shared by all arms of a seed.
    Removed once the round's loop state is checkpointed
    (:func:`remove_fit_checkpoints`).
    """
    return _join(absolute(out_dir), "fit_checkpoints", slug(arm), f"seed_{seed}",
                 f"round_{round_}")


def remove_fit_checkpoints(out_dir: str | os.PathLike, arm: str, seed: int,
                           round_: int) -> bool:
    """Delete the per-epoch training checkpoints of one round; returns whether any existed."""
    return rmtree(fit_checkpoint_dir(out_dir, arm, seed, round_))


def artefact_path(out_dir: str | os.PathLike, arm: str, seed: int, round_: int) -> str:
    """``<out_dir>/artefacts/<arm>/seed_<s>/round_<r>.npz``."""
    return _join(out_dir, "artefacts", slug(arm), f"seed_{seed}", f"round_{round_}.npz")


# ----------------------------------------------------------------------------
# Preparing a run directory: does it belong to this config?
# ----------------------------------------------------------------------------


def check_out_dir(out_dir: str | os.PathLike) -> None:
    """Raise ``NotADirectoryError`` if ``out_dir`` exists and is a file."""
    p = as_path(out_dir)
    if p.exists() and not p.is_dir():
        raise NotADirectoryError(f"`loop.out_dir` {os.fspath(out_dir)!r} is a file, not a "
                                 "directory; choose another path.")


def has_checkpoints(out_dir: str | os.PathLike) -> bool:
    """Whether ``<out_dir>/checkpoints`` holds any file."""
    return next(iter_files(as_path(out_dir) / "checkpoints"), None) is not None


def matching(out_dir: str | os.PathLike, config_dict: Mapping[str, Any],
             resumable_fields: Sequence[str] = RESUMABLE_FIELDS,
             config_type: type | None = None) -> list[str]:
    """The dotted config fields where ``<out_dir>/config.json`` differs from ``config_dict``.

    Fields in ``resumable_fields`` are ignored; ``[]`` means the directory
    belongs to this config. With ``config_type``, the stored config is first
    read as that dataclass, so a field added to the config since the run
    started, left at its default, is no difference (new fields default to the
    old behaviour); a field since removed still is.

    Args:
      out_dir: the run directory.
      config_dict: the config as a dict (``config_engine.to_dict(cfg)``).
      resumable_fields: fields allowed to differ.
      config_type: the config's dataclass (e.g. ``ExperimentConfig``), or None
        to compare the stored JSON as it is.

    Returns:
      sorted dotted field names, e.g. ``["train.learning_rate"]``.

    Raises:
      FileNotFoundError: the directory has no ``config.json``.
      ValueError: ``config.json`` is unreadable, not JSON, or not a config object.
      TypeError: ``config_dict`` is not a mapping.
    """
    if not isinstance(config_dict, Mapping):
        raise TypeError(f"`config_dict` must be a dict (config_engine.to_dict(cfg)), got "
                        f"{type(config_dict).__name__}.")
    path = config_path(out_dir)
    if not as_path(path).exists():
        raise FileNotFoundError(f"Run directory {os.fspath(out_dir)!r} has no config.json, so "
                                "it cannot be checked which config it belongs to.")
    try:
        old = read_json(path, what="config.json")
    except ValueError as e:
        raise ValueError(f"{path} is unreadable: {e}") from None
    if not isinstance(old, dict):
        raise ValueError(f"{path} does not hold a config object (it holds a "
                         f"{type(old).__name__}).")
    if config_type is not None:
        try:  # fill fields added since with their defaults
            old = to_dict(from_dict(config_type, old))
        except (TypeError, ValueError):
            pass  # e.g. a field since removed: compared as stored (it differs)
    skip = set(resumable_fields)
    return [d for d in config_diff(old, dict(config_dict)) if d not in skip]


def prepare(out_dir: str | os.PathLike, config_dict: Mapping[str, Any], *,
            overwrite: bool = False,
            resumable_fields: Sequence[str] = RESUMABLE_FIELDS,
            config_type: type | None = None) -> None:
    """Check that ``out_dir`` may hold a run of ``config_dict`` (resume guard); write config.json.

    Call it with the directory's lock held.

    Args:
      out_dir: the run directory (created if missing).
      config_dict: the resolved config as a dict (``config_engine.to_dict(cfg)``);
        its ``loop.checkpoint`` says whether the run checkpoints.
      overwrite: delete an earlier run's files first (config, results, plot,
        checkpoints, artefacts).
      resumable_fields: fields that may differ from the directory's config.
      config_type: the config's dataclass: fields added since the run started,
        at their defaults, are no difference (see :func:`matching`).

    Raises:
      ValueError: the directory holds checkpoints of another config, or
        checkpoints that cannot be matched (no or corrupt config.json), or
        checkpoints while this run does not checkpoint (they would go stale).
    """
    out = os.fspath(out_dir)
    root = as_path(out_dir)
    if overwrite:
        for name in (CONFIG_NAME, RESULTS_NAME, "curves.png"):
            remove(root / name)
        for sub in ("checkpoints", "fit_checkpoints", "artefacts"):
            rmtree(root / sub)
    has_ckpt = has_checkpoints(out_dir)
    checkpoint = bool((config_dict.get("loop") or {}).get("checkpoint", True))
    if has_ckpt and not checkpoint:
        raise ValueError(
            f"Run directory {out!r} holds checkpoints of an earlier run, but this run has "
            "`loop.checkpoint=false` and would leave them stale. Set loop.checkpoint=true to "
            f"resume it. {_FIX}")
    if has_ckpt:
        try:
            diffs = matching(out_dir, config_dict, resumable_fields, config_type)
        except FileNotFoundError:
            raise ValueError(
                f"Run directory {out!r} holds checkpoints but no config.json, so it cannot be "
                f"checked that they belong to this config. {_FIX}") from None
        except ValueError as e:
            raise ValueError(f"{e} The directory holds checkpoints: they cannot be matched to "
                             f"this config. Restore config.json, or: {_FIX}") from None
        if diffs:
            raise ValueError(
                f"Run directory {out!r} holds a run with a different config (differs in: "
                f"{', '.join(diffs)}; see {config_path(out_dir)}). {_FIX}")
    makedirs(root)
    atomic_write_json(config_path(out_dir), dict(config_dict))


# ----------------------------------------------------------------------------
# Per-round artefacts.
# ----------------------------------------------------------------------------

ARTEFACT_KEYS = ("labeled", "pool_index", "picked", "preselect_mask", "train_values", "values")


def save_artefacts(out_dir, arm: str, seed: int, round_: int, **arrays: Any) -> str:
    """Write one round's arrays (see the module docstring) atomically; returns the path.

    ``None`` entries are left out.
    """
    unknown = sorted(set(arrays) - set(ARTEFACT_KEYS))
    if unknown:
        raise ValueError(f"unknown artefact(s) {unknown}; known: {list(ARTEFACT_KEYS)}.")
    path = artefact_path(out_dir, arm, seed, round_)
    return atomic_savez(path, **{k: np.asarray(v) for k, v in arrays.items() if v is not None})


def load_artefacts(out_dir, arm: str, seed: int, round_: int) -> dict[str, np.ndarray]:
    """The arrays saved for one (arm, seed, round) (see the module docstring).

    Raises:
      FileNotFoundError: no artefact for that round (the message lists what exists).
      ValueError: the file is corrupt (names it).
    """
    path = artefact_path(out_dir, arm, seed, round_)
    try:
        raw = read_bytes(path, what="Artefact file")
    except FileNotFoundError:
        have = sorted(f"{a}/seed {s}/round {r}" for a, s, r, _ in iter_artefacts(out_dir))
        raise FileNotFoundError(
            f"No artefacts at {path!r} (arm {arm!r}, seed {seed}, round {round_}). Saved: "
            f"{have[:20] if have else 'none'}{' ...' if len(have) > 20 else ''}.") from None
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"Artefact file {path!r} is corrupt ({type(e).__name__}: {e}); delete "
                         "it and rerun that round, or ignore it.") from None


def iter_artefacts(out_dir) -> Iterator[tuple[str, int, int, str]]:
    """``(arm slug, seed, round, path)`` of every saved artefact, sorted."""
    root = as_path(out_dir) / "artefacts"
    if not root.is_dir():
        return
    out = []
    for arm in root.iterdir():
        if not arm.is_dir():
            continue
        for sd in arm.iterdir():
            m = re.fullmatch(r"seed_(\d+)", sd.name)
            if not m or not sd.is_dir():
                continue
            for f in sd.iterdir():
                mr = re.fullmatch(r"round_(\d+)\.npz", f.name)
                if mr:
                    out.append((arm.name, int(m.group(1)), int(mr.group(1)), str(f)))
    yield from sorted(out)


# ----------------------------------------------------------------------------
# Results.
# ----------------------------------------------------------------------------


def read_results(path: str | os.PathLike) -> list[dict]:
    """Records of one ``results.jsonl`` (see the module docstring for recovery).

    Raises:
      FileNotFoundError: no such file.
      ValueError: a malformed line other than a cut-off last line, a record
        without the required keys, or a duplicate (arm, seed, round).
    """
    path = os.fspath(path)
    try:
        raw = read_bytes(path, what="Results file")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"No results file at {path!r}. Pass a results.jsonl file or a run directory "
            "written by `ads-jax run` / `ads-jax demo`.") from None
    lines = raw.decode("utf-8", errors="replace").split("\n")
    complete_end = raw.endswith(b"\n")
    records, seen = [], {}
    last = max((i for i, ln in enumerate(lines) if ln.strip()), default=-1)
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            if i == last and not complete_end:
                warnings.warn(f"{path}:{i + 1}: dropped a partial last line (a run killed while "
                              "writing it; rerunning the run rewrites it).", UserWarning,
                              stacklevel=2)
                continue
            raise ValueError(f"{path}:{i + 1} is not valid JSON ({e}). Delete that line, or "
                             "rerun the run (it rebuilds results.jsonl from its checkpoints)."
                             ) from None
        missing = [k for k in RECORD_KEYS if not isinstance(rec, dict) or k not in rec]
        if missing:
            raise ValueError(f"{path}:{i + 1} is not a result record: missing keys {missing}.")
        key = (rec["arm"], rec["seed"], rec["round"])
        if key in seen:
            raise ValueError(f"{path}:{i + 1} repeats the record of arm {key[0]!r}, seed {key[1]}, "
                             f"round {key[2]} (first at line {seen[key]}); two runs wrote to one "
                             "directory. Rerun the run to rebuild the file from its checkpoints.")
        seen[key] = i + 1
        records.append(rec)
    return records


def write_results(path: str | os.PathLike, records: Iterable[dict]) -> None:
    """Rewrite ``path`` with ``records`` (one JSON line each) atomically."""
    atomic_write(path, "".join(json.dumps(rec) + "\n" for rec in records))


class ResultsWriter:
    """``results.jsonl`` of a run: the records in memory, the file rewritten whole on change.

    Correct on every file system (an object cannot be appended to) and never
    leaves a half-written line. Each record is serialized once; a rewrite
    joins the cached lines (about 7 MB for 10,000 records of the loop).

    Args:
      out_dir: the run directory.
      records: the records the file starts with (written at once).
      lock: the run's :class:`RunLock`; checked before every write, so a run
        that lost its lease stops instead of writing over another run.
    """

    def __init__(self, out_dir: str | os.PathLike, records: Iterable[dict] = (), *,
                 lock: "RunLock | None" = None):
        self.path = results_path(out_dir)
        self._lock = lock
        self._lines = [json.dumps(r) + "\n" for r in records]
        self._flush()

    def append(self, rec: dict) -> None:
        """Add one record and rewrite the file."""
        self._lines.append(json.dumps(rec) + "\n")
        self._flush()

    def __len__(self) -> int:
        return len(self._lines)

    def _flush(self) -> None:
        if self._lock is not None:
            self._lock.check()
        atomic_write(self.path, "".join(self._lines))


# ----------------------------------------------------------------------------
# Lock.
# ----------------------------------------------------------------------------

#: Environment variable choosing the lock kind: ``auto`` (default), ``flock`` or ``lease``.
LOCK_ENV = "ADS_JAX_RUN_LOCK"
#: Environment variable with the lease heartbeat interval in seconds (default 10).
LEASE_INTERVAL_ENV = "ADS_JAX_LEASE_INTERVAL"
_DEFAULT_INTERVAL = 10.0
_NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL}


class RunDirectoryBusy(RuntimeError):
    """Another live process holds the run directory's lock."""


class _FlockUnavailable(Exception):
    pass


def _positive(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
        raise ValueError(f"`{name}` must be a positive number of seconds, got {v!r}.")
    return float(v)


class RunLock:
    """The single-writer lock of a run directory (``<out_dir>/.lock``).

    Two kinds:

    * ``"flock"`` -- an exclusive OS file lock (``fcntl.flock``) on local file
      systems. The holder writes ``{"host", "pid"}`` into the file. A lock
      left by a killed run needs no cleaning: the OS releases a dead
      process's locks, so the next run takes it over (and says so when the
      file still names the old holder: :attr:`previous`).
    * ``"lease"`` -- for file systems without ``flock`` (cloud object stores,
      network file systems that do not honour it). ``.lock`` is an object
      ``{"kind": "lease", "host", "pid", "token" (random), "heartbeat" (unix
      time), "interval", "stale_after"}`` that a background thread rewrites
      every ``interval`` seconds. A lease renewed less than ``stale_after``
      seconds ago (the larger of this lock's and the holder's) is live: the
      run fails at once with :class:`RunDirectoryBusy` naming the holder. An
      older one was left by a stopped run and is taken over
      (:attr:`previous` names it). Taking over (or creating) a lease writes
      this lock's token, waits ``settle`` seconds and reads the lease back:
      of several runs starting together the one whose token is there holds
      it, the others get :class:`RunDirectoryBusy`. Release deletes the
      lease only if it still holds this lock's token.

      Residual races (a lease is not a consensus protocol): (1) a contender
      whose write becomes visible more than ``settle`` seconds after it was
      issued can overwrite a lease another run has already verified, and both
      runs proceed; (2) a holder paused for longer than ``stale_after`` (a
      stopped process, a network partition) can be taken over while it still
      runs. In both cases the losing run notices at its next heartbeat (the
      lease no longer holds its token), stops renewing, warns, and
      :meth:`check` (called before every results write, see
      :class:`ResultsWriter`) raises :class:`RunDirectoryBusy`; between those
      points both runs may write. Runs of one config compute the same
      records, so the damage is bounded by redone work. Freshness compares
      the holder's clock with the contender's: hosts must keep their clocks
      within a few seconds of each other (NTP), well under ``stale_after``.

    ``kind="auto"`` (default; or the ``ADS_JAX_RUN_LOCK`` environment variable)
    uses ``flock`` on local paths and falls back to a lease where ``flock``
    fails with ENOLCK / EOPNOTSUPP (e.g. some NFS mounts), and a lease on any
    other scheme (``gs://`` ...). All runs sharing a directory must use the
    same kind (``auto`` chooses the same one for the same path).

    Args:
      out_dir: the run directory (created on acquire).
      kind: ``"auto"``, ``"flock"`` or ``"lease"``; None reads ``ADS_JAX_RUN_LOCK``
        (default ``"auto"``).
      interval: lease heartbeat interval in seconds; None reads
        ``ADS_JAX_LEASE_INTERVAL`` (default 10).
      stale_after: a lease not renewed for this long is taken over (default
        3 x ``interval``; must exceed ``interval``).
      settle: seconds between writing a lease and reading it back (default
        ``min(1, interval / 4)``).

    Attributes:
      kind: the kind in use once acquired (``"flock"`` or ``"lease"``).
      previous: the holder a stopped run left behind (``{"host", "pid", ...}``)
        if this lock took it over, else None.
      lost: None while held; the lease that replaced this one if it was lost.
    """

    def __init__(self, out_dir: str | os.PathLike, *, kind: str | None = None,
                 interval: float | None = None, stale_after: float | None = None,
                 settle: float | None = None):
        kind = kind if kind is not None else (os.environ.get(LOCK_ENV) or "auto")
        if kind not in ("auto", "flock", "lease"):
            raise ValueError(f"lock `kind` must be 'auto', 'flock' or 'lease' (argument or "
                             f"${LOCK_ENV}), got {kind!r}.")
        if interval is None:
            env = os.environ.get(LEASE_INTERVAL_ENV)
            try:
                interval = float(env) if env else _DEFAULT_INTERVAL
            except ValueError:
                raise ValueError(f"${LEASE_INTERVAL_ENV} must be a number of seconds, got "
                                 f"{env!r}.") from None
        self.interval = _positive("interval", interval)
        self.stale_after = (3.0 * self.interval if stale_after is None
                            else _positive("stale_after", stale_after))
        if self.stale_after <= self.interval:
            raise ValueError(f"`stale_after` ({self.stale_after}) must exceed the heartbeat "
                             f"`interval` ({self.interval}), e.g. 3 x interval.")
        self.settle = (min(1.0, self.interval / 4) if settle is None else float(settle))
        if self.settle < 0:
            raise ValueError(f"`settle` must be >= 0 seconds, got {settle!r}.")
        self.out_dir = os.fspath(out_dir)
        self.path = _join(out_dir, LOCK_NAME)
        self._requested = kind
        self.kind: str | None = None
        self.previous: dict | None = None
        self.lost: dict | None = None
        self._fd: int | None = None
        self._token: str | None = None
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None
        self._acquired_at = 0.0

    # ----------------------------------------------------------------- public
    def acquire(self) -> "RunLock":
        """Take the lock or raise :class:`RunDirectoryBusy` at once (never waits for a holder)."""
        if self.kind is not None:
            raise RuntimeError(f"{self.path}: this RunLock is already held.")
        local = is_local(self.out_dir)
        if self._requested == "flock" and not local:
            raise ValueError(f"Lock kind 'flock' needs a local path, got {self.out_dir!r}; "
                             "use kind='lease' (or 'auto').")
        if self._requested != "lease" and local:
            try:
                self._acquire_flock()
                self.kind = "flock"
                return self
            except _FlockUnavailable as e:
                if self._requested == "flock":
                    raise OSError(f"{self.path}: the file system does not support flock "
                                  f"({e}); use the lease lock (kind='lease' or "
                                  f"${LOCK_ENV}=lease).") from None
        self._acquire_lease()
        self.kind = "lease"
        return self

    def check(self) -> None:
        """Raise :class:`RunDirectoryBusy` if this lock lost its lease to another run."""
        if self.lost is not None:
            raise RunDirectoryBusy(
                f"Run directory {self.out_dir!r} was taken over by {_who(self.lost)} while this "
                "run held it (this run's lease was not renewed in time). This run stops; rerun "
                "it once the other run has finished.")

    def release(self) -> None:
        """Give the lock up (no-op if not held)."""
        if self._fd is not None:
            import fcntl  # POSIX only: the lease lock works where it is missing

            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        if self._token is not None:
            if self.lost is None and (self._read_lease() or {}).get("token") == self._token:
                remove(self.path)
            self._token = None
        self.kind = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    # ------------------------------------------------------------------ flock
    def _acquire_flock(self) -> None:
        import fcntl  # POSIX only: the lease lock works where it is missing

        os.makedirs(self.out_dir or ".", exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_holder(fd)
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise RunDirectoryBusy(_busy_message(self.out_dir, holder)) from None
            if e.errno in _NO_FLOCK:
                raise _FlockUnavailable(f"{errno.errorcode.get(e.errno, e.errno)}: {e}") \
                    from None
            raise
        self.previous = _read_holder(fd) or None
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid()}).encode())
        os.fsync(fd)
        self._fd = fd

    # ------------------------------------------------------------------ lease
    def _read_lease(self) -> dict | None:
        """The lease object: None if absent, ``{}`` if unreadable or not a dict."""
        try:
            data = read_bytes(self.path, what="Lock")
        except FileNotFoundError:
            return None
        except ValueError:
            return {}
        try:
            d = json.loads(data.decode("utf-8")) if data.strip() else {}
        except (UnicodeDecodeError, ValueError):
            return {}
        return d if isinstance(d, dict) else {}

    def _lease(self, now: float) -> dict:
        return {"kind": "lease", "host": socket.gethostname(), "pid": os.getpid(),
                "token": self._token, "heartbeat": now, "acquired": self._acquired_at,
                "interval": self.interval, "stale_after": self.stale_after}

    def _age_limit(self, lease: dict) -> float:
        theirs = lease.get("stale_after")
        ok = isinstance(theirs, (int, float)) and not isinstance(theirs, bool)
        return max(self.stale_after, float(theirs) if ok else 0.0)

    def _acquire_lease(self) -> None:
        cur = self._read_lease()
        now = time.time()
        if cur and cur.get("token") and isinstance(cur.get("heartbeat"), (int, float)):
            age = now - float(cur["heartbeat"])
            limit = self._age_limit(cur)
            if age < limit:
                raise RunDirectoryBusy(_busy_message(
                    self.out_dir, cur, f" (its lease was renewed {max(age, 0.0):.1f} s ago; a "
                    f"lease not renewed for {limit:.0f} s is taken over)"))
        previous = cur if cur and (cur.get("pid") is not None or cur.get("host")) else None
        self._token = secrets.token_hex(16)
        self._acquired_at = now
        makedirs(self.out_dir)
        atomic_write_json(self.path, self._lease(now), indent=None)
        if self.settle:
            time.sleep(self.settle)
        got = self._read_lease()
        if not got or got.get("token") != self._token:
            self._token = None
            raise RunDirectoryBusy(_busy_message(
                self.out_dir, got or {}, " (it took the lease at the same time as this run)"))
        self.previous = previous
        self.lost = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat, name=f"lease {self.path}",
                                        daemon=True)
        self._thread.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                cur = self._read_lease()
                if not cur or cur.get("token") != self._token:
                    self.lost = cur or {"host": None, "pid": None}
                    warnings.warn(f"{self.path}: this run lost its lease to {_who(self.lost)}; "
                                  "it stops before its next results write.", RuntimeWarning,
                                  stacklevel=1)
                    return
                atomic_write_json(self.path, self._lease(time.time()), indent=None)
            except Exception:  # noqa: BLE001 - a transient storage error: retry next beat
                continue


def _who(holder: dict) -> str:
    if holder and (holder.get("pid") is not None or holder.get("host")):
        return f"process {holder.get('pid')} on host {holder.get('host')!r}"
    return "another process"


def _busy_message(out_dir: str, holder: dict, detail: str = "") -> str:
    return (f"Run directory {out_dir!r} is in use by {_who(holder)}{detail}. Wait for that run "
            "to finish (or stop it), or use another `loop.out_dir` / `--out-dir`.")


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
        d = json.loads(data.decode()) if data.strip() else {}
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}
