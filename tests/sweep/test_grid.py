"""Grid points of a sweep (``ads_jax.sweep.grid``): forms, labels, reserved fields."""

from __future__ import annotations

import pytest

from ads_jax import sweep as S

NOISE = "data.noise_fraction"


def test_grid_forms():
    pts = S.grid_points({"a": ["x.a=1", "x.a=2"], "b": {"lo": "x.b=0.1", "hi": ["x.b=0.9", "x.c=1"]}})
    assert [p.point for p in pts] == [{"a": "1", "b": "lo"}, {"a": "1", "b": "hi"},
                                      {"a": "2", "b": "lo"}, {"a": "2", "b": "hi"}]
    assert pts[1].overrides == ("x.a=1", "x.b=0.9", "x.c=1")
    pts = S.grid_points([["x.a=1"], {"point": {"f": "v"}, "overrides": ["x.b=2", "x.c=3"]},
                         {"overrides": ["x.d=4"]}])
    assert [p.point for p in pts] == [{"x.a": "1"}, {"f": "v"}, {"x.d": "4"}]
    assert S.grid_points(None) == [S.GridPoint()] and S.GridPoint().slug() == "base"
    assert pts[0].slug() == "a=1"
    with pytest.raises(ValueError, match="loop.seeds"):
        S.grid_points({"s": ["loop.seeds=[1]"]})
    with pytest.raises(ValueError, match="same label"):
        S.grid_points([["x.a=1"], ["x.a=1"]])
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        S.grid_points({"a": ["no_equals_sign"]})
    with pytest.raises(ValueError, match="loop.arms"):
        S.Sweep("tiny", overrides=["loop.arms=[random]"])


def test_grid_point_slugs_are_file_system_safe():
    pts = S.grid_points({"acquisition.arm": ["acquisition.arm=ads+coreset"],
                          "x/y": {"a b": "data.noise_beta=[2,5]"}})
    assert pts[0].slug() == "arm=ads_plus_coreset,x_y=a_b"
    assert pts[0].point == {"acquisition.arm": "ads+coreset", "x/y": "a b"}
    with pytest.raises(TypeError, match="non-empty list"):
        S.grid_points({"a": [[]]})
    with pytest.raises(ValueError, match="no levels"):
        S.grid_points({"a": []})
