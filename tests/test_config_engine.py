"""The config engine (``ads_jax.config_engine``) and the named configs (``ads_jax.configs``):
dict/JSON round trips, typed overrides, and messages that name the field and the fix.

Moved from test_loop.py (assertions kept), plus the messages a new user meets:
a wrong list element, a single value for a list field, a config file that
returns a dict, raises or does not parse, and the variants of each config.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from ads_jax import config_engine as C
from ads_jax.configs import available as available_configs
from ads_jax.configs import load as load_config
from ads_jax.configs import resolve as resolve_config
from ads_jax.configs import variants as config_variants
from ads_jax.experiment import ExperimentConfig, LoopConfig
from ads_jax.plugins import UserCodeError

# ----------------------------------------------------------------------------
# Generic config utilities (no JAX work).
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Inner:
    n: int = 1
    beta: tuple[float, float] = (1.0, 2.0)
    names: tuple[str, ...] = ("a",)
    opt: int | None = None
    s: str = "x"
    flag: bool = False


@dataclasses.dataclass(frozen=True)
class _Outer:
    inner: _Inner = dataclasses.field(default_factory=_Inner)
    lr: float = 0.5
    opts: dict = dataclasses.field(default_factory=dict)


def test_generic_dict_json_round_trip(tmp_path):
    cfg = _Outer(_Inner(n=3, beta=(2.0, 5.0), names=("p", "q"), opt=7, s="hi", flag=True), 0.25,
                 {"k": 2})
    d = C.to_dict(cfg)
    assert d == {"inner": {"n": 3, "beta": [2.0, 5.0], "names": ["p", "q"], "opt": 7, "s": "hi",
                           "flag": True}, "lr": 0.25, "opts": {"k": 2}}
    assert C.from_dict(_Outer, json.loads(json.dumps(d))) == cfg
    C.save_json(cfg, tmp_path / "sub" / "c.json")
    assert C.load_json(_Outer, tmp_path / "sub" / "c.json") == cfg
    # Missing fields take defaults; ints are accepted for floats.
    assert C.from_dict(_Outer, {"inner": {"n": 4}, "lr": 1}) == _Outer(_Inner(n=4), 1.0)


@pytest.mark.parametrize("data, exc, words", [
    ({"bogus": 1}, ValueError, ["bogus", "Valid fields", "inner", "lr"]),
    ({"inner": {"n": "3"}}, TypeError, ["inner.n", "integer"]),
    ({"inner": {"n": 2.5}}, TypeError, ["inner.n"]),
    ({"inner": {"flag": 1}}, TypeError, ["inner.flag"]),
    ({"inner": {"beta": [1, 2, 3]}}, ValueError, ["inner.beta", "2 elements"]),
    ({"inner": {"names": "abc"}}, TypeError, ["inner.names", "list"]),
    ({"inner": 3}, TypeError, ["inner", "mapping"]),
    ({"lr": None}, TypeError, ["lr"]),
])
def test_from_dict_errors_name_the_field(data, exc, words):
    with pytest.raises(exc) as e:
        C.from_dict(_Outer, data)
    for w in words:
        assert w in str(e.value)


def test_overrides_parse_by_declared_type():
    cfg = C.apply_overrides(_Outer(), [
        "inner.n=3", "inner.beta=[2,5]", "inner.names=ads+badge,coreset", "inner.opt=none",
        "inner.s=5", "lr=1", "inner.flag=true", 'opts={"a": [1, 2]}',
    ])
    assert cfg == _Outer(_Inner(n=3, beta=(2.0, 5.0), names=("ads+badge", "coreset"), opt=None,
                                s="5", flag=True), 1.0, {"a": [1, 2]})
    assert isinstance(cfg.inner.n, int) and isinstance(cfg.lr, float)
    assert C.apply_overrides(cfg, ["inner.opt=4", "inner.names=[]", "inner.s='a b'"]).inner == \
        _Inner(n=3, beta=(2.0, 5.0), names=(), opt=4, s="a b", flag=True)
    # Overrides do not mutate the input.
    assert _Outer().inner.n == 1


@pytest.mark.parametrize("text, words", [
    ("inner.zz=1", ["inner.zz", "Valid fields", "beta"]),
    ("zz=1", ["zz", "Valid fields", "inner"]),
    ("inner.n=1.5", ["inner.n", "integer"]),
    ("inner.beta=[1]", ["inner.beta", "2"]),
    ("inner.flag=maybe", ["inner.flag", "true/false"]),
    ("inner.n.x=1", ["inner.n.x"]),
    ("noequals", ["FIELD=VALUE"]),
    ("=3", ["empty field"]),
    ("lr=abc", ["lr", "number"]),
    ("inner.opt=x", ["inner.opt"]),
])
def test_bad_overrides_raise_clear_errors(text, words):
    with pytest.raises(ValueError) as e:
        C.apply_overrides(_Outer(), [text])
    for w in words:
        assert w in str(e.value)


def test_config_diff():
    a, b = _Outer(), C.apply_overrides(_Outer(), ["inner.n=2", "lr=3"])
    assert C.config_diff(a, b) == ["inner.n", "lr"]
    assert C.config_diff(a, a) == []


# ----------------------------------------------------------------------------
# ExperimentConfig and the built-in configs.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", available_configs())
def test_builtin_configs_round_trip(name, tmp_path):
    cfg = load_config(name)
    assert isinstance(cfg, ExperimentConfig)
    assert C.from_dict(ExperimentConfig, json.loads(C.to_json(cfg))) == cfg
    C.save_json(cfg, tmp_path / "c.json")
    assert resolve_config(str(tmp_path / "c.json")) == cfg
    assert resolve_config(name) == cfg


def test_demo_config_matches_the_issue():
    cfg = load_config("demo")
    assert cfg.data.dataset == "digits" and cfg.data.kind == "noisy"
    assert cfg.data.noise_fraction >= 0.5  # "most pool images corrupted"
    assert cfg.arms == ("ads+coreset", "coreset", "randfilter+coreset", "entropy", "random")


def test_experiment_overrides():
    cfg = resolve_config("demo", [
        "train.epochs=3", "acquisition.arm=ads+badge", "data.noise_beta=[2,5]",
        "loop.seeds=[0,1]", "loop.arms=[]", "data.test_size=none", "model.width=2",
        "data.pool_size=600",
    ])
    assert cfg.train.epochs == 3 and cfg.model.width == 2
    assert cfg.acquisition.arm == "ads+badge" and cfg.arms == ("ads+badge",)
    assert cfg.data.noise_beta == (2.0, 5.0) and cfg.data.test_size is None
    assert cfg.loop.seeds == (0, 1)
    base = load_config("demo")
    assert sorted(C.config_diff(base, cfg)) == sorted([
        "train.epochs", "acquisition.arm", "loop.seeds", "loop.arms", "model.width",
        "data.pool_size", "data.noise_beta"])


@pytest.mark.parametrize("overrides, exc, words", [
    (["train.epochz=3"], ValueError, ["train.epochz", "Valid fields", "epochs"]),
    (["acquisition.arm=ads+nosuch"], ValueError, ["nosuch"]),
    (["train.epochs=0"], ValueError, ["epochs"]),
    (["loop.rounds=-1"], ValueError, ["loop.rounds"]),
    (["loop.seeds=[0,0]"], ValueError, ["duplicates"]),
    (["foo.bar=1"], ValueError, ["foo", "Valid fields", "acquisition"]),
])
def test_experiment_override_errors(overrides, exc, words):
    with pytest.raises(exc) as e:
        resolve_config("demo", overrides)
    for w in words:
        assert w in str(e.value)


def test_partial_json_and_missing_file(tmp_path):
    p = tmp_path / "exp.json"
    p.write_text(json.dumps({"train": {"epochs": 7}, "loop": {"rounds": 1}}))
    cfg = resolve_config(str(p))
    assert cfg.train.epochs == 7 and cfg.loop.rounds == 1
    assert cfg.model == ExperimentConfig().model
    with pytest.raises(FileNotFoundError):
        resolve_config(str(tmp_path / "nope.json"))
    with pytest.raises(ValueError, match="Built-in configs|built-in config"):
        resolve_config("no_such_config")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        resolve_config(str(tmp_path / "bad.json"))
    (tmp_path / "unk.json").write_text(json.dumps({"trian": {}}))
    with pytest.raises(ValueError, match="trian"):
        resolve_config(str(tmp_path / "unk.json"))


def test_loop_config_checks():
    with pytest.raises(ValueError, match="duplicates"):
        LoopConfig(arms=("coreset", "coreset"))
    with pytest.raises(ValueError, match="seeds"):
        LoopConfig(seeds=())
    with pytest.raises(TypeError, match="rounds"):
        LoopConfig(rounds=1.5)


# ----------------------------------------------------------------------------
# Messages a new user meets.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("text, words", [
    ("loop.seeds=[a]", ["`loop.seeds[0]` must be an integer, got str 'a'", "loop.seeds=[0,1,2]"]),
    ("loop.seeds=[0,1.5]", ["`loop.seeds[1]` must be an integer", "1.5"]),
    ("loop.arms=[ads+coreset,2]", ["`loop.arms[1]` must be a string", "got int 2"]),
    ("data.noise_beta=[a,2]", ["`data.noise_beta[0]` must be a number", "got str 'a'"]),
    ("data.noise_beta=2", ["data.noise_beta", "exactly 2", "data.noise_beta=[0.1,0.5]"]),
    ("loop.seeds=none", ["`loop.seeds` must be a list", "null", "loop.seeds=[0,1,2]"]),
    ("loop.seeds=[0,-1]", ["`loop.seeds[1]`", ">= 0"]),
])
def test_list_errors_name_the_element_and_the_form(text, words):
    with pytest.raises(ValueError) as e:
        resolve_config("tiny", [text])
    for w in words:
        assert w in str(e.value)


def test_a_single_value_is_a_one_element_list():
    # the same rule for every list field: arms and seeds alike
    cfg = resolve_config("tiny", ["loop.arms=ads+coreset", "loop.seeds=3"])
    assert cfg.loop.arms == ("ads+coreset",) and cfg.arms == ("ads+coreset",)
    assert cfg.loop.seeds == (3,)
    assert cfg == resolve_config("tiny", ["loop.arms=[ads+coreset]", "loop.seeds=[3]"])
    assert resolve_config("tiny", ["loop.seeds=0,1"]).loop.seeds == (0, 1)
    assert C.apply_overrides(_Outer(), ["inner.names=p"]).inner.names == ("p",)
    # fixed-length tuples and JSON stay strict, with the bracket form in the message
    with pytest.raises(TypeError) as e:
        C.from_dict(_Outer, {"inner": {"names": "abc"}})
    assert 'inner.names=[abc]' in str(e.value) and '["abc"]' in str(e.value)


README_HINT = "ads_jax.configs.experiment(data=..., model=..."


@pytest.mark.parametrize("body, words", [
    ('def get_config(arg=""):\n    return {"data": {}}\n',
     ["returned a dict, not an ExperimentConfig", README_HINT, "README.md"]),
    ('def get_config(arg=""):\n    return None\n', ["returned a NoneType", README_HINT]),
    ("x = 1\n", ["has no get_config", README_HINT]),
    ('import math\n\ndef get_config(arg=""):\n    return 1 / 0\n',
     ["exp.py, line 4: ZeroDivisionError: division by zero"]),
    ('def get_config(arg=""):\n    return (\n', ["exp.py, line 2: SyntaxError:"]),
    ("undefined_name\n", ["exp.py, line 1: NameError:", "undefined_name"]),
    ('from ads_jax.configs import experiment\n\ndef get_config(arg=""):\n'
     '    return experiment(trian={})\n', ["exp.py, line 4:", "trian", "Valid fields"]),
])
def test_config_file_errors_say_where_and_how(tmp_path, body, words):
    path = tmp_path / "exp.py"
    path.write_text(body)
    with pytest.raises(ValueError) as e:
        resolve_config(str(path))
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg
    if "line" in words[0]:
        assert isinstance(e.value, UserCodeError)
        assert e.value.__cause__ is not None  # --debug shows the original traceback


def test_a_failed_config_file_is_not_cached(tmp_path):
    path = tmp_path / "exp.py"
    path.write_text("1 / 0\n")
    with pytest.raises(UserCodeError):
        resolve_config(str(path))
    path.write_text('from ads_jax.configs import load\n\ndef get_config(arg=""):\n'
                    '    return load("tiny")\n')
    assert resolve_config(str(path)) == load_config("tiny")


@pytest.mark.parametrize("name", available_configs())
def test_variants_are_listed_without_building_and_all_build(name):
    names = config_variants(name)
    assert names is not None and "" in names
    for v in names:
        assert isinstance(load_config(f"{name}:{v}" if v else name), ExperimentConfig)
    with pytest.raises(ValueError) as e:
        load_config(f"{name}:no_such_variant")
    for v in names:
        assert repr(v or "(default)") in str(e.value)


def test_variants_of_a_user_file(tmp_path):
    path = tmp_path / "exp.py"
    path.write_text('from ads_jax.configs import load, variant\n\n'
                    'def get_config(arg=""):\n    return variant(arg, VARIANTS, '
                    'experiment_name="exp")\n\nVARIANTS = {"": lambda: load("tiny"), '
                    '"b": lambda: load("demo")}\n')
    assert config_variants(str(path)) == ("", "b")
    (tmp_path / "plain.py").write_text('def get_config(arg=""):\n    return None\n')
    assert config_variants(str(tmp_path / "plain.py")) is None
