"""Experiment configs as code: one module per experiment, ``get_config(arg)``.

Following big_vision and the Flax examples, every named experiment is a small
Python module of this package whose ``get_config(arg: str = "")`` returns an
:class:`~ads_jax.experiment.ExperimentConfig`; ``arg`` picks a variant
(``"cpu"``, ``"paper"``, ``"tiny"``, ...). The command line finds them by
name and applies dotted overrides on top::

    ads-jax run fashion_mnist_noisy                 # the module's default variant
    ads-jax run cifar10_noisy:cpu train.epochs=3    # variant "cpu", one override
    ads-jax run path/to/my_exp.py:small             # any file with a get_config
    ads-jax run my_pkg.my_exp:paper                 # any importable module

A new experiment is one file here (or anywhere, named by path or module;
README.md, "Your own experiment file", has a complete example). Helpers for
writing one: :func:`experiment` (sections as plain dicts, typed and validated
by the config engine) and :func:`variant` (pick a variant by name with a
clear error). A module-level ``VARIANTS`` mapping (variant name -> builder)
lets :func:`variants` (and ``ads-jax list``) list the variants without
building them.

An error in a user's config file (it does not parse, raises, or its
``get_config`` returns something else than an ExperimentConfig) is a
``ValueError`` whose message names the file and line
(:class:`ads_jax.plugins.UserCodeError`).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from types import ModuleType
from typing import Any, Callable, Mapping, Sequence

from ads_jax.config_engine import apply_overrides, from_dict, load_json
from ads_jax.data.location import data_dir, local_path
from ads_jax.experiment import ExperimentConfig
from ads_jax.plugins import call_user_code, exec_user_file, import_user_module

__all__ = ["available", "variants", "load", "resolve", "experiment", "variant", "DEMO_ARMS",
           "DATA_DIR",
           "CIFAR10_NPZ", "FASHION_MNIST_NPZ", "cifar10_npz", "fashion_mnist_npz"]

# Local data copies live under the user-level data directory
# (:func:`ads_jax.data.location.data_dir`: ``$ADS_JAX_DATA_DIR``, default
# ``~/.cache/ads_jax/data``), read when a config is built, so the variable can
# be set at any time before. Configs name files under it;
# ``data.dataset=npz:/other/file.npz`` overrides any of them. A missing file is
# reported when the data are loaded, with the directory in use, the files
# expected under it and how to get them. The module attributes ``DATA_DIR``,
# ``CIFAR10_NPZ`` and ``FASHION_MNIST_NPZ`` are computed on access (see
# ``__getattr__`` below).


def cifar10_npz() -> str:
    """The local CIFAR-10 copy, ``<data dir>/cifar10/cifar10.npz`` (the copy these configs
    were tuned on holds 50,000 train images and only 1,017 test images)."""
    return local_path("cifar10/cifar10.npz")


def fashion_mnist_npz() -> str:
    """The local Fashion-MNIST copy, ``<data dir>/fashion_mnist/fashion_mnist.npz``
    (complete train and test splits)."""
    return local_path("fashion_mnist/fashion_mnist.npz")


_LAZY = {"DATA_DIR": data_dir, "CIFAR10_NPZ": cifar10_npz, "FASHION_MNIST_NPZ": fashion_mnist_npz}


def __getattr__(name: str):
    if name in _LAZY:  # the data directory as of now ($ADS_JAX_DATA_DIR read on access)
        return _LAZY[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

#: The arms of the built-in comparison: the paper's ADS with its diversity
#: selector, the selector alone, the random pre-filter control, uncertainty, random.
DEMO_ARMS = ("ads+coreset", "coreset", "randfilter+coreset", "entropy", "random")


def available() -> tuple[str, ...]:
    """Names of the experiment modules of this package."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)
                        if not m.name.startswith("_")))


def experiment(**sections: Mapping[str, Any]):
    """An :class:`~ads_jax.experiment.ExperimentConfig` from plain dict sections
    (``data=``, ``model=``, ``train=``, ``acquisition=``, ``loop=``), typed and
    validated by :func:`ads_jax.config_engine.from_dict`; missing fields take defaults."""
    return from_dict(ExperimentConfig, sections)


def variant(arg: str, variants: Mapping[str, Callable[[], Any]], *, experiment_name: str):
    """``variants[arg]()``, or a ValueError listing the variants of ``experiment_name``."""
    if arg not in variants:
        names = [v if v else "(default)" for v in variants]
        raise ValueError(f"Experiment {experiment_name!r} has no variant {arg!r}; variants: "
                         f"{names} (use {experiment_name}:<variant>).")
    return variants[arg]()


#: Where to look for an example of a config file (in messages).
_EXAMPLE_HINT = ("return ads_jax.configs.experiment(data=..., model=..., train=..., "
                 "acquisition=..., loop=...) from get_config (each section a dict of fields; "
                 "see 'Your own experiment file' in README.md for a complete example)")


def _module_from_file(path: str):
    name = "_ads_jax_config_" + "".join(c if c.isalnum() else "_" for c in
                                        os.path.splitext(os.path.abspath(path))[0])
    return exec_user_file(path, name, what="Config file")


def _module(spec: str) -> tuple[ModuleType, str, bool]:
    """(module, its name or path, whether it is user code) of a ``name[:arg]`` spec."""
    name = spec.partition(":")[0]
    if name.endswith(".py"):
        return _module_from_file(name), name, True
    if name in available():
        return importlib.import_module(f"{__name__}.{name}"), name, False
    if "." in name and os.sep not in name:
        try:
            return import_user_module(name, what="Config module"), name, True
        except ModuleNotFoundError as e:
            if e.name and name.startswith(e.name):
                raise ValueError(f"Unknown config {spec!r}: no module {name!r}.") from None
            raise
    raise ValueError(
        f"Unknown config {spec!r}. Built-in configs: {list(available())}; or pass a "
        "JSON file, a .py file with get_config(arg), or a module name.")


def variants(name: str) -> tuple[str, ...] | None:
    """Variant names of an experiment (``""`` is the default), without building any.

    Read from the module's ``VARIANTS`` mapping (variant name -> builder) or
    sequence of names; ``None`` when the module does not declare them.

    Raises:
      ValueError: unknown experiment; FileNotFoundError: no such file.
    """
    mod, _, _ = _module(name)
    declared = getattr(mod, "VARIANTS", None)
    if declared is None:
        return None
    return tuple(str(v) for v in declared)


def load(spec: str):
    """Resolve ``name[:arg]`` / ``file.py[:arg]`` / ``pkg.module[:arg]`` to a config.

    Raises:
      FileNotFoundError: a ``.py`` file that does not exist.
      ValueError: unknown name (the message lists the built-in experiments),
        a module without ``get_config``, a ``get_config`` that does not
        return an ExperimentConfig (the message says how to build one), or a
        user file that does not parse or raises (the message names the file
        and line; :class:`ads_jax.plugins.UserCodeError`).
    """
    _, _, arg = spec.partition(":")
    mod, name, user = _module(spec)
    get = getattr(mod, "get_config", None)
    if not callable(get):
        raise ValueError(f"Config module {name!r} has no get_config(arg) function: define "
                         f"`def get_config(arg: str = \"\")` and {_EXAMPLE_HINT}.")
    if user:
        cfg = call_user_code(get, arg, path=getattr(mod, "__file__", None) or name,
                             what="Config file")
    else:
        cfg = get(arg)
    if not isinstance(cfg, ExperimentConfig):
        raise ValueError(f"{name}: get_config({arg!r}) returned a {type(cfg).__name__}, not "
                         f"an ExperimentConfig: {_EXAMPLE_HINT}.")
    return cfg


def resolve(spec: str, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """A named experiment, a Python config file or a JSON file, with overrides applied.

    ``spec`` is ``name[:arg]`` (a module of this package),
    ``path/to/exp.py[:arg]`` or ``package.module[:arg]`` (any module with a
    ``get_config(arg)``), or ``path/to/config.json``.

    Raises:
      FileNotFoundError: ``spec`` names a file that does not exist.
      ValueError: unknown name, bad JSON, unknown field, bad override.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("The config must be a built-in name, a .py/.json file or a module, "
                         f"got {spec!r}.")
    if spec.endswith(".json"):
        cfg = load_json(ExperimentConfig, spec)
    else:
        cfg = load(spec)
    return apply_overrides(cfg, overrides)
