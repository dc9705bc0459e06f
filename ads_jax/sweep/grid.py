"""Grid points of a sweep: which overrides each point applies, and its label.

Grid (``Sweep.grid``, :func:`grid_points`):

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

Grid points must not set ``loop.arms``, ``loop.seeds`` or ``loop.out_dir``
(:data:`RESERVED`): the sweep sets them per job.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
from typing import Any, Iterable, Mapping

from ads_jax.config_engine import parse_override

__all__ = ["GridPoint", "grid_points", "check_overrides", "safe_name", "RESERVED"]

#: Loop fields the sweep sets per job; grid points and sweep overrides must not.
RESERVED = ("loop.arms", "loop.seeds", "loop.out_dir")


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
        return ",".join(f"{safe_name(_short_key(k))}={safe_name(v)}" for k, v in self.label)


def safe_name(text: str) -> str:
    """``text`` with every run of characters outside ``[A-Za-z0-9_.=-]`` as ``_``
    (``+`` becomes ``_plus_``); ``"_"`` if nothing is left."""
    s = re.sub(r"[^A-Za-z0-9_.=-]+", "_", str(text).replace("+", "_plus_")).strip("_")
    return s or "_"


def _short_key(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def short_hash(obj: Any, n: int = 8) -> str:
    """First ``n`` hex digits of the SHA-1 of ``obj``'s sorted-key JSON."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:n]


def check_overrides(overrides: Iterable[str], where: str) -> tuple[str, ...]:
    """``overrides`` as a tuple, each a ``FIELD=VALUE`` string that does not set a
    :data:`RESERVED` field.

    Raises:
      TypeError: an override that is not a string.
      ValueError: bad override syntax, or a reserved field (names ``where``).
    """
    out = []
    for o in overrides:
        if not isinstance(o, str):
            raise TypeError(f"{where}: overrides must be strings like 'train.epochs=3', got "
                            f"{type(o).__name__} {o!r}.")
        key, _ = parse_override(o)
        if key in RESERVED:
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
        ovr = check_overrides([level], where)
    elif isinstance(level, (list, tuple)) and level:
        ovr = check_overrides(level, where)
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
                check_overrides(p.overrides, where)
                points.append(p)
            elif isinstance(p, Mapping):
                unknown = set(p) - {"point", "overrides"}
                if unknown or "overrides" not in p:
                    raise ValueError(f"{where}: a point mapping has keys 'overrides' and optional "
                                     f"'point' (its label), got {sorted(p)}.")
                ovr = check_overrides(p["overrides"], where)
                lab = p.get("point")
                if lab is None:
                    lab = {k: v for k, v in (o.split("=", 1) for o in ovr)}
                if not isinstance(lab, Mapping):
                    raise TypeError(f"{where}: 'point' must be a mapping factor -> level.")
                points.append(GridPoint(tuple((str(k), str(v)) for k, v in lab.items()), ovr))
            elif isinstance(p, (list, tuple)):
                ovr = check_overrides(p, where)
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
