"""The result record: one definition of what a round of a run reports.

The loop writes one :class:`Record` per (arm, seed, round) as a JSON line of
``results.jsonl`` (:mod:`ads_jax.rundir`); plotting, the sweep's ``collect``,
the statistics and the paper scripts read them back through
:meth:`Record.from_dict`, so every consumer agrees on the fields::

    {"arm": "ads+coreset", "seed": 0, "round": 2, "labeled": 90,
     "test_accuracy": 0.71, "test_balanced_accuracy": 0.70, "val_accuracy": 0.70,
     "best_epoch": 11, "acquired": 30, "preselected": 45,
     "picked_provenance": {"clean": 0.9, "noisy": 0.1, ...},
     "candidate_provenance": {...}, "pool_provenance": {...},
     "shared_training": false, "processor": "AMD EPYC",
     "time": {"training": 4.2, "inference": 0.3, "selection": 0.08, "compile": 0.0}}

Records written by earlier versions of ads_jax (other ``time`` entries, no
balanced accuracy) still load: unknown ``time`` entries are dropped, missing
optional fields take their defaults.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

__all__ = ["Record", "Times", "TIME_FIELDS", "REQUIRED", "NON_CLEAN_NOTE", "non_clean_share"]

#: Wall-time entries of a record (seconds).
TIME_FIELDS = ("training", "inference", "selection", "compile")
#: Keys every record has.
REQUIRED = ("arm", "seed", "round", "labeled", "test_accuracy")
#: What "picked non-clean" means, for the tables and plots that show it.
NON_CLEAN_NOTE = ("picked non-clean = share of the picked points that are not clean target "
                  "points (noisy, out-of-distribution, mislabeled or from another domain)")


@dataclasses.dataclass(frozen=True)
class Times:
    """Wall times of one round, in seconds.

    Attributes:
      training: fitting the round's model (including its compilation).
      inference: test accuracy plus the pool and validation embeddings.
      selection: one call of the arm's compiled acquisition program (valuation,
        estimation, pre-selection and selection as one program).
      compile: compiling that program, ahead of its first call (non-zero in the
        round that compiled it, 0 afterwards).
    """

    training: float = 0.0
    inference: float = 0.0
    selection: float = 0.0
    compile: float = 0.0


@dataclasses.dataclass(frozen=True)
class Record:
    """One round of one (arm, seed) run.

    Attributes:
      arm, seed, round: which run and round (round r trains after r acquisitions).
      labeled: training-set size of the round's model.
      test_accuracy: top-1 accuracy on the test set, in [0, 1].
      test_balanced_accuracy: mean per-class recall on the test set (None in
        records of older versions).
      val_accuracy: validation accuracy of the selected epoch (or None).
      best_epoch: the selected epoch (1-based).
      acquired: points picked this round (0 in the last round).
      preselected: candidates after pre-selection (None in the last round).
      picked_provenance, candidate_provenance, pool_provenance: fraction of each
        provenance class (:data:`ads_jax.data.PROVENANCE`) among the picked
        points, the candidates and the whole unlabeled pool (None in the last round).
      shared_training: the round's model is shared by every arm of the seed
        (round 0): its ``time.training``/``time.inference`` were spent once for all.
      processor: the CPU model the round ran on (:func:`ads_jax.environment.processor`;
        results reproduce bit for bit only on the same processor type and versions).
      time: :class:`Times`.
    """

    arm: str
    seed: int
    round: int
    labeled: int
    test_accuracy: float
    test_balanced_accuracy: float | None = None
    val_accuracy: float | None = None
    best_epoch: int | None = None
    acquired: int = 0
    preselected: int | None = None
    picked_provenance: Mapping[str, float] | None = None
    candidate_provenance: Mapping[str, float] | None = None
    pool_provenance: Mapping[str, float] | None = None
    shared_training: bool = False
    processor: str | None = None
    time: Times = dataclasses.field(default_factory=Times)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``results.jsonl`` (field order as above)."""
        out = dataclasses.asdict(self)
        for k in ("picked_provenance", "candidate_provenance", "pool_provenance"):
            if out[k] is not None:
                out[k] = dict(out[k])
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, where: str = "record") -> "Record":
        """Parse a record object (clear ValueError naming ``where`` if it is not one)."""
        if not isinstance(d, Mapping):
            raise ValueError(f"{where} is not a result record (a JSON object), got "
                             f"{type(d).__name__}.")
        missing = [k for k in REQUIRED if k not in d]
        if missing:
            raise ValueError(f"{where} is not a result record: missing keys {missing}.")
        fields = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in fields and k != "time"}
        t = d.get("time") or {}
        if not isinstance(t, Mapping):
            raise ValueError(f"{where}: `time` must be an object, got {type(t).__name__}.")
        try:
            kw["time"] = Times(**{k: float(t[k]) for k in TIME_FIELDS if t.get(k) is not None})
            rec = cls(**kw)
            for k in ("seed", "round", "labeled"):
                if isinstance(getattr(rec, k), bool) or int(getattr(rec, k)) != getattr(rec, k):
                    raise ValueError(f"`{k}` must be an integer, got {getattr(rec, k)!r}")
            if not isinstance(rec.arm, str):
                raise ValueError(f"`arm` must be a string, got {rec.arm!r}")
            if (isinstance(rec.test_accuracy, bool)
                    or not isinstance(rec.test_accuracy, (int, float))
                    or not math.isfinite(rec.test_accuracy)):
                raise ValueError(f"`test_accuracy` must be a number, got {rec.test_accuracy!r}")
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where} is not a valid result record: {e}.") from None
        return rec

    @property
    def key(self) -> tuple[str, int, int]:
        """``(arm, seed, round)``: one record per key in a run directory."""
        return (self.arm, int(self.seed), int(self.round))


def non_clean_share(provenance: Mapping[str, float] | None, non_clean) -> float | None:
    """The summed fraction of the ``non_clean`` provenance classes (None if unknown)."""
    if not provenance:
        return None
    return float(sum(provenance.get(n, 0.0) for n in non_clean))
