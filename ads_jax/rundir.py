"""The run directory: its layout, its files, and the lock that makes it single-writer.

Layout of ``loop.out_dir``::

    config.json                              resolved ExperimentConfig
    results.jsonl                            one record per (arm, seed, round)
    .lock                                    held (OS file lock) while a run writes
    checkpoints/<arm>/seed_<s>/<n>/          Orbax: loop state after n finished rounds
    fit_checkpoints/<arm>/seed_<s>/round_<r> per-epoch training checkpoints (optional)
    artefacts/<arm>/seed_<s>/round_<r>.npz   per-round arrays for analysis
    curves.png                               plot

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

Results (:func:`read_results`): a last line cut off by a kill is dropped with
a warning; a malformed line elsewhere, or two records for one (arm, seed,
round), is an error naming the file and line.
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import warnings
import zipfile
from typing import Any, Iterable, Iterator

import numpy as np

__all__ = [
    "CONFIG_NAME",
    "RESULTS_NAME",
    "RECORD_KEYS",
    "config_path",
    "results_path",
    "checkpoint_dir",
    "fit_checkpoint_dir",
    "artefact_path",
    "save_artefacts",
    "load_artefacts",
    "iter_artefacts",
    "read_results",
    "write_results",
    "append_record",
    "RunLock",
    "RunDirectoryBusy",
]

CONFIG_NAME = "config.json"
RESULTS_NAME = "results.jsonl"
LOCK_NAME = ".lock"
#: Keys every result record has.
RECORD_KEYS = ("arm", "seed", "round", "labeled", "test_accuracy")


def slug(arm: str) -> str:
    """File-system-safe name of an arm (``ads+coreset`` -> ``ads_plus_coreset``)."""
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", arm.replace("+", "_plus_"))
    return s or "arm"


def config_path(out_dir: str | os.PathLike) -> str:
    """``<out_dir>/config.json``."""
    return os.path.join(os.fspath(out_dir), CONFIG_NAME)


def results_path(out_dir: str | os.PathLike) -> str:
    """``<out_dir>/results.jsonl``."""
    return os.path.join(os.fspath(out_dir), RESULTS_NAME)


def checkpoint_dir(out_dir: str | os.PathLike, arm: str, seed: int) -> str:
    """Orbax checkpoint directory of one (arm, seed) run."""
    return os.path.join(os.path.abspath(os.fspath(out_dir)), "checkpoints", slug(arm),
                        f"seed_{seed}")


def fit_checkpoint_dir(out_dir: str | os.PathLike, arm: str, seed: int, round_: int) -> str:
    """Per-epoch training checkpoints of one round (``loop.checkpoint_training``).

    ``arm="shared"`` is the round-0 model shared by all arms of a seed.
    Removed once the round's loop state is checkpointed.
    """
    return os.path.join(os.path.abspath(os.fspath(out_dir)), "fit_checkpoints", slug(arm),
                        f"seed_{seed}", f"round_{round_}")


def artefact_path(out_dir: str | os.PathLike, arm: str, seed: int, round_: int) -> str:
    """``<out_dir>/artefacts/<arm>/seed_<s>/round_<r>.npz``."""
    return os.path.join(os.fspath(out_dir), "artefacts", slug(arm), f"seed_{seed}",
                        f"round_{round_}.npz")


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
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, **{k: np.asarray(v) for k, v in arrays.items() if v is not None})
    os.replace(tmp, path)
    return path


def load_artefacts(out_dir, arm: str, seed: int, round_: int) -> dict[str, np.ndarray]:
    """The arrays saved for one (arm, seed, round) (see the module docstring).

    Raises:
      FileNotFoundError: no artefact for that round (the message lists what exists).
      ValueError: the file is corrupt (names it).
    """
    path = artefact_path(out_dir, arm, seed, round_)
    if not os.path.isfile(path):
        have = sorted(f"{a}/seed {s}/round {r}" for a, s, r, _ in iter_artefacts(out_dir))
        raise FileNotFoundError(
            f"No artefacts at {path!r} (arm {arm!r}, seed {seed}, round {round_}). Saved: "
            f"{have[:20] if have else 'none'}{' ...' if len(have) > 20 else ''}.")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"Artefact file {path!r} is corrupt ({type(e).__name__}: {e}); delete "
                         "it and rerun that round, or ignore it.") from None


def iter_artefacts(out_dir) -> Iterator[tuple[str, int, int, str]]:
    """``(arm slug, seed, round, path)`` of every saved artefact, sorted."""
    root = os.path.join(os.fspath(out_dir), "artefacts")
    if not os.path.isdir(root):
        return
    out = []
    for arm in sorted(os.listdir(root)):
        for sd in sorted(os.listdir(os.path.join(root, arm))):
            m = re.fullmatch(r"seed_(\d+)", sd)
            if not m:
                continue
            for f in os.listdir(os.path.join(root, arm, sd)):
                mr = re.fullmatch(r"round_(\d+)\.npz", f)
                if mr:
                    out.append((arm, int(m.group(1)), int(mr.group(1)),
                                os.path.join(root, arm, sd, f)))
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
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No results file at {path!r}. Pass a results.jsonl file or a run directory "
            "written by `ads-jax run` / `ads-jax demo`.")
    with open(path, "rb") as fh:
        raw = fh.read()
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
    """Rewrite ``path`` with ``records`` atomically."""
    path = os.fspath(path)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def append_record(path: str | os.PathLike, rec: dict) -> None:
    """Append one record as a JSON line (flushed and synced)."""
    with open(os.fspath(path), "a") as f:
        f.write(json.dumps(rec) + "\n")
        f.flush()
        os.fsync(f.fileno())


# ----------------------------------------------------------------------------
# Lock.
# ----------------------------------------------------------------------------


class RunDirectoryBusy(RuntimeError):
    """Another live process holds the run directory's lock."""


class RunLock:
    """An exclusive OS file lock (``fcntl.flock``) on ``<out_dir>/.lock``.

    The holder writes ``{"host", "pid"}`` into the file. A second run on the
    same directory gets :class:`RunDirectoryBusy` at once, naming the holder.
    A lock left by a killed run needs no cleaning: the OS releases a dead
    process's locks, so the next run takes it over (and says so when the
    file still names the old holder).
    """

    def __init__(self, out_dir: str | os.PathLike):
        self.path = os.path.join(os.fspath(out_dir), LOCK_NAME)
        self._fd: int | None = None
        self.previous: dict | None = None

    def acquire(self) -> "RunLock":
        import fcntl

        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_holder(fd)
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                who = (f"process {holder.get('pid')} on host {holder.get('host')!r}"
                       if holder else "another process")
                raise RunDirectoryBusy(
                    f"Run directory {os.path.dirname(self.path)!r} is in use by {who}. Wait for "
                    "that run to finish (or stop it), or use another `loop.out_dir` / "
                    "`--out-dir`.") from None
            raise
        self.previous = _read_holder(fd) or None
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid()}).encode())
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock up (no-op if not held)."""
        import fcntl

        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
        return json.loads(data.decode()) if data.strip() else {}
    except (OSError, ValueError):
        return {}
