"""``ads_jax.acquisition.preselect_note``: the one info line when the pre-selection
size m is clipped to [B, U] in some round, checked against ``preselect_size`` by
enumerating configs and pool sizes."""

from __future__ import annotations

import itertools
import math

import pytest

from ads_jax.acquisition import AcquisitionConfig, PreselectConfig, preselect_note, preselect_size


def _acq(fraction=None, multiple=None, budget=10):
    return AcquisitionConfig(arm="ads+coreset", budget=budget,
                             preselect=PreselectConfig(fraction=fraction, multiple=multiple))


def test_the_example_of_the_issue():
    note = preselect_note(_acq(fraction=0.01, budget=100), ["ads+coreset", "coreset"], 1500, 4)
    assert note.startswith("acquisition.preselect.fraction=0.01 gives 15 candidates (of 1500 "
                           "unlabeled points), fewer than the budget 100: raised to 100 in "
                           "every round")
    assert "ads+coreset" in note and "coreset," not in note  # coreset has no pre-filter


@pytest.mark.parametrize("fraction, multiple", [(f, None) for f in (0.05, 0.1, 0.2, 0.5)]
                         + [(None, m) for m in (1, 1.5, 3, 8)])
def test_note_iff_some_round_clips(fraction, multiple):
    b = 10
    acq = _acq(fraction, multiple, b)
    for u0, rounds in itertools.product((30, 55, 100, 200, 400), (1, 2, 4)):
        sizes = [u0 - r * b for r in range(rounds) if u0 - r * b >= b]
        raw = [math.ceil(multiple * b - 1e-9) if multiple else math.ceil(fraction * u - 1e-9)
               for u in sizes]
        clipped = [r for r, (m, u) in enumerate(zip(raw, sizes))
                   if preselect_size(acq.preselect, b, u) != m]
        note = preselect_note(acq, ["ads+coreset"], u0, rounds)
        assert (note is not None) == bool(clipped), (u0, rounds, note)
        if clipped:
            r0 = clipped[0]
            assert f"gives {raw[r0]} candidates" in note
            assert (f"raised to {b}" in note) == (raw[r0] < b)
            assert (f"more than the {sizes[r0]} unlabeled" in note) == (raw[r0] > sizes[r0])
            if r0:
                assert f"round {r0}" in note


def test_arms_without_a_prefilter_get_no_note():
    acq = _acq(fraction=0.01)
    assert preselect_note(acq, ["coreset", "random", "ads-top"], 500, 3) is None
    assert preselect_note(acq, ["randfilter+coreset"], 500, 3) is not None
    assert preselect_note(acq, ["ads+coreset"], 500, 0) is None  # no acquisition round
    with pytest.raises(ValueError, match="unlabeled"):
        preselect_note(acq, ["ads+coreset"], -1, 3)
