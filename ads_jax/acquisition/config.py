"""Arms and the acquisition config: what one acquisition step does.

Arms (:data:`ARMS`, :func:`parse_arm`):

* ``"<selector>"``             -- the selector alone on the whole pool;
* ``"<prefilter>+<selector>"`` -- the top ``m`` pool points by the pre-filter's
  score (``ads``: predicted value; ``randfilter``: random; ``margin``,
  ``entropy``: uncertainty; ``proximity``: near the validation set; any
  registered pre-filter), then the selector on them;
* ``"ads-top"``                -- the top-B points by predicted value (no selector).
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple, Sequence

from ads_jax import _validation as V
from ads_jax.acquisition.prefilters import PREFILTERS, Prefilter, build_prefilter
from ads_jax.config_engine import FrozenMap
from ads_jax.registry import json_options
from ads_jax.selection import SELECTORS, Selector, SelectorConfig, build_selector
from ads_jax.valuation import EstimatorConfig, ValuationConfig, build_estimator, build_valuation

__all__ = ["ARMS", "Arm", "parse_arm", "available_arms", "PreselectConfig", "preselect_size",
           "preselect_note", "AcquisitionConfig", "Components"]

#: Arm name templates; ``<selector>`` is any registered selector, ``<prefilter>`` any
#: registered pre-filter.
ARMS = ("<selector>", "<prefilter>+<selector>", "ads-top", "<prefilter>+top_value")


class Arm(NamedTuple):
    """A parsed arm name.

    Attributes:
      name: the arm string as given.
      filter: the pre-filter's registry name (``"ads"``, ``"randfilter"``, ...)
        or ``"none"`` (the whole pool).
      selector: registry name of the selector, or ``None`` for ``ads-top``.
    """

    name: str
    filter: str
    selector: str | None

    @property
    def uses_values(self) -> bool:
        """True if the arm runs valuation and value estimation."""
        return self.filter != "none" and build_prefilter(self.filter).uses_values


def parse_arm(arm: str) -> Arm:
    """Parse and validate an arm name (see :data:`ARMS`).

    Raises:
      ValueError: unknown form, pre-filter or selector (the message lists the
        choices), or a value-ranking selector without values.
    """
    if not isinstance(arm, str):
        raise TypeError(f"`arm` must be a string like 'ads+coreset', got {type(arm).__name__}.")
    if arm == "ads-top":
        return Arm(arm, "ads", None)
    filt, plus, sel = arm.partition("+")
    if not plus:
        filt, sel = "none", arm
    elif filt not in PREFILTERS:
        raise ValueError(
            f"`arm`={arm!r}: unknown prefix {filt!r}, not a registered pre-filter "
            f"{list(PREFILTERS.names())}. Arms are {list(ARMS)}, e.g. 'ads+coreset' or "
            "'randfilter+coreset'.")
    if sel not in SELECTORS:
        raise ValueError(
            f"`arm`={arm!r}: unknown selector {sel!r}. Available selectors: "
            f"{list(SELECTORS.names())}; arms are {list(ARMS)}.")
    out = Arm(arm, filt, sel)
    if build_selector(sel).uses_values and not out.uses_values:
        raise ValueError(
            f"`arm`={arm!r}: selector {sel!r} ranks points by their predicted value, which "
            "only a value pre-filter computes. Use 'ads-top' (or 'ads+top_value').")
    return out


def available_arms() -> tuple[str, ...]:
    """All concrete arm names for the pre-filters and selectors registered now."""
    out = ["ads-top"]
    for s in SELECTORS.names():
        for a in [s] + [f"{p}+{s}" for p in PREFILTERS.names()]:
            try:
                parse_arm(a)
            except ValueError:
                continue
            out.append(a)
    return tuple(out)


@dataclasses.dataclass(frozen=True)
class PreselectConfig:
    """Stage 3, the pre-selection (``acquisition.preselect``).

    Attributes:
      fraction: pre-select the top ``ceil(f x U)`` points (paper 0.1-0.3).
        Ignored when ``multiple`` is set.
      multiple: pre-select the top ``ceil(m x B)`` points (paper 2-10); takes
        precedence over ``fraction``.
      options: options of the arm's pre-filter (JSON object; e.g. ``{"k": 5}``
        for ``proximity``), checked when the acquisition config is built.

    ``m`` is clipped to ``[B, U]``: the pre-selection never holds fewer than
    B points, so a pool that shrinks over the rounds never makes a run fail
    (when ``m == B`` the arm degenerates to ranking by the pre-filter score).
    """

    fraction: float | None = 0.2
    multiple: float | None = None
    options: FrozenMap = dataclasses.field(default_factory=FrozenMap)

    def __post_init__(self):
        if self.fraction is None and self.multiple is None:
            raise ValueError("Set `preselect.fraction` (e.g. 0.2) or `preselect.multiple` "
                             "(e.g. 5); both are None.")
        if self.fraction is not None:
            V.check_fraction("preselect.fraction", self.fraction)
        if self.multiple is not None:
            V.check_number("preselect.multiple", self.multiple, lo=1)
        object.__setattr__(self, "options", json_options("preselect.options", self.options))


def preselect_size(config: PreselectConfig, budget: int, pool_size: int) -> int:
    """Number m of pre-selected candidates for a pool of ``pool_size`` points.

    ``ceil(multiple x budget)`` if set, else ``ceil(fraction x pool_size)``,
    clipped to ``[budget, pool_size]``.
    """
    pool_size = V.check_positive_int("pool_size", pool_size)
    b = V.check_positive_int("budget", budget)
    if config.multiple is not None:
        m = math.ceil(config.multiple * b - 1e-9)
    else:
        m = math.ceil(config.fraction * pool_size - 1e-9)
    return int(min(pool_size, max(b, m)))


def _raw_preselect_size(config: PreselectConfig, budget: int, pool_size: int) -> int:
    """m before clipping to ``[budget, pool_size]``."""
    if config.multiple is not None:
        return math.ceil(config.multiple * budget - 1e-9)
    return math.ceil(config.fraction * pool_size - 1e-9)


def _rounds_text(rounds: list[int], n: int) -> str:
    if len(rounds) == n:
        return "in every round" if n > 1 else "in its round"
    if rounds == list(range(rounds[0], n)):
        return f"from round {rounds[0]} on" if rounds[0] < n - 1 else f"in round {rounds[0]}"
    return "in rounds " + ", ".join(map(str, rounds))


def preselect_note(acquisition: "AcquisitionConfig", arms: Sequence[str], unlabeled: int,
                   rounds: int) -> str | None:
    """One info line for the user when the pre-selection size is clipped in some round.

    Round ``r`` (``0 <= r < rounds``) pre-selects ``m = preselect_size(...)``
    of its ``U_r = unlabeled - r x budget`` unlabeled points: the configured
    ``ceil(fraction x U_r)`` (or ``ceil(multiple x budget)``) clipped to
    ``[budget, U_r]``. Nothing says so in the records, so a run tells the
    user once, e.g. ``"acquisition.preselect.fraction=0.01 gives 15 candidates
    (of 1500 unlabeled points), fewer than the budget 100: raised to 100 in
    every round; ads+coreset then picks the top 100 by its pre-filter score"``.

    Args:
      acquisition: the run's acquisition config (budget, preselect).
      arms: the run's arms; only those with a pre-filter and a selector
        (``<prefilter>+<selector>``) pre-select.
      unlabeled: U_0, unlabeled pool points before the first acquisition.
      rounds: number of acquisition rounds R (``loop.rounds``).

    Returns:
      the line, or None when no round clips ``m`` (or no arm pre-selects).
    """
    unlabeled = V.check_nonneg_int("unlabeled", unlabeled)
    rounds = V.check_nonneg_int("rounds", rounds)
    b = int(acquisition.budget)
    pre = acquisition.preselect
    users = [a for a in arms if parse_arm(a).filter != "none" and parse_arm(a).selector]
    sizes = [unlabeled - r * b for r in range(rounds)]
    sizes = [u for u in sizes if u >= b]  # a smaller pool fails the run's size check
    if not users or not sizes:
        return None
    field = (f"acquisition.preselect.multiple={pre.multiple:g}" if pre.multiple is not None
             else f"acquisition.preselect.fraction={pre.fraction:g}")
    raw = [_raw_preselect_size(pre, b, u) for u in sizes]
    who = ", ".join(users)
    raised = [r for r, m in enumerate(raw) if m < b]
    if raised:
        r0 = raised[0]
        return (f"{field} gives {raw[r0]} candidates (of {sizes[r0]} unlabeled points"
                f"{' in round ' + str(r0) if r0 else ''}), fewer than the budget {b}: raised to "
                f"{b} {_rounds_text(raised, len(sizes))}; {who} then "
                f"{'pick' if len(users) > 1 else 'picks'} the top {b} by "
                f"{'their' if len(users) > 1 else 'its'} pre-filter score, without diversity.")
    lowered = [r for r, (m, u) in enumerate(zip(raw, sizes)) if m > u]
    if lowered:
        r0 = lowered[0]
        return (f"{field} gives {raw[r0]} candidates, more than the {sizes[r0]} unlabeled "
                f"points{' of round ' + str(r0) if r0 else ''}: lowered to the whole pool "
                f"{_rounds_text(lowered, len(sizes))} ({who} then "
                f"{'select' if len(users) > 1 else 'selects'} from every unlabeled point).")
    return None


class Components(NamedTuple):
    """The built stages of one arm (what the acquisition program composes).

    ``prefilter`` is None for a plain selector arm, ``selector`` None for
    ``ads-top``; ``valuation`` and ``estimator`` are built for every arm
    (they run only when the pre-filter uses values).
    """

    arm: Arm
    prefilter: Prefilter | None
    selector: Selector | None
    valuation: object
    estimator: object


@dataclasses.dataclass(frozen=True)
class AcquisitionConfig:
    """Everything that defines one acquisition step; frozen, JSON-able, hashable.

    Each stage reads only its own sub-config.

    Attributes:
      arm: see :data:`ARMS` (``"ads+coreset"``, ``"coreset"``,
        ``"randfilter+coreset"``, ``"ads-top"``, ...).
      budget: points picked per step, B >= 1.
      valuation: stage 1, :class:`~ads_jax.valuation.ValuationConfig`.
      estimator: stage 2, :class:`~ads_jax.valuation.EstimatorConfig`.
      preselect: stage 3, :class:`PreselectConfig` (size, pre-filter options).
      selector: stage 4, :class:`~ads_jax.selection.SelectorConfig` (options
        of the arm's selector; whether labeled points enter its sub-pool).
    """

    arm: str = "ads+coreset"
    budget: int = 100
    valuation: ValuationConfig = dataclasses.field(default_factory=ValuationConfig)
    estimator: EstimatorConfig = dataclasses.field(default_factory=EstimatorConfig)
    preselect: PreselectConfig = dataclasses.field(default_factory=PreselectConfig)
    selector: SelectorConfig = dataclasses.field(default_factory=SelectorConfig)

    def __post_init__(self):
        arm = parse_arm(self.arm)
        V.check_positive_int("acquisition.budget", self.budget)
        for name, cls in (("valuation", ValuationConfig), ("estimator", EstimatorConfig),
                          ("preselect", PreselectConfig), ("selector", SelectorConfig)):
            if not isinstance(getattr(self, name), cls):
                raise TypeError(f"`acquisition.{name}` must be a {cls.__name__}, got "
                                f"{type(getattr(self, name)).__name__}.")
        if arm.selector is None:
            if self.selector.options:
                raise ValueError(f"arm {self.arm!r} runs no selector, so "
                                 f"`selector.options` must be empty, got "
                                 f"{dict(self.selector.options)}.")
        else:
            opts = SELECTORS.check_options(arm.selector, self.selector.options,
                                           path="acquisition.selector.options")
            object.__setattr__(self, "selector",
                               dataclasses.replace(self.selector, options=opts))
        if arm.filter == "none":
            if self.preselect.options:
                raise ValueError(f"arm {self.arm!r} has no pre-filter, so "
                                 "`preselect.options` must be empty, got "
                                 f"{dict(self.preselect.options)}.")
        else:
            opts = PREFILTERS.check_options(arm.filter, self.preselect.options,
                                            path="acquisition.preselect.options")
            object.__setattr__(self, "preselect",
                               dataclasses.replace(self.preselect, options=opts))
        comps = self.components()
        if (comps.prefilter is not None and comps.prefilter.uses_values
                and comps.estimator.needs_joining and comps.valuation.joining_values is None):
            raise ValueError(
                f"estimator {self.estimator.name!r} needs the exact joining value of the "
                f"valuation, which valuation {self.valuation.name!r} does not provide (no "
                "closed form); use valuation 'jia' or estimator 'knn_regression'.")

    @property
    def parsed_arm(self) -> Arm:
        """The parsed :class:`Arm`."""
        return parse_arm(self.arm)

    def components(self) -> Components:
        """The built stages of this config's arm (each built once per config value)."""
        arm = parse_arm(self.arm)
        pre = None if arm.filter == "none" else build_prefilter(arm.filter,
                                                                self.preselect.options)
        sel = None if arm.selector is None else build_selector(arm.selector,
                                                               self.selector.options)
        return Components(arm, pre, sel, build_valuation(self.valuation),
                          build_estimator(self.estimator))
