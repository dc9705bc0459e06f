"""ads_jax: Active Data Shapley (ADS) batch active learning in JAX.

The curated public API. Data flow (see ARCHITECTURE.md): embed (models:
a WideResNet, or a head on a frozen backbone's features) -> value (registered
valuations; knn_shapley) -> estimate (registered value estimators;
predict_values) -> pre-select (registered pre-filters) -> select (selectors),
composed into one jitted program (acquire, make_acquire_fn) -> loop
(run_experiment). Every stage is a registry of factories returning frozen
components (register_valuation, register_estimator, register_prefilter,
register_selector, register_model).
Submodules hold the rest: ``ads_jax.valuation``, ``ads_jax.selection``,
``ads_jax.acquisition``, ``ads_jax.models``, ``ads_jax.training``,
``ads_jax.data``, ``ads_jax.config_engine`` (the config engine),
``ads_jax.configs`` (named experiments), ``ads_jax.proxy`` (backbones and the
embedding cache), ``ads_jax.stats`` (paired statistics),
``ads_jax.value_quality`` (value-quality metrics), ``ads_jax.records`` (the
result record), ``ads_jax.rundir`` (run directories), ``ads_jax.distributed``
(multi-host), ``ads_jax.sweep`` (sweeps).
"""

__version__ = "0.1.0"

# distances
from ads_jax.distances import knn, pairwise_distances
# valuation: exact KNN-Shapley, TMC-Shapley, the valuation and value-estimator registries
from ads_jax.valuation import (
    EstimatorConfig,
    Recursion,
    ValuationConfig,
    available_estimators,
    available_valuations,
    knn_shapley,
    knn_variant,
    predict_values,
    register_estimator,
    register_valuation,
    tmc_shapley,
)
# selection
from ads_jax.selection import SelectorConfig, available_selectors, get_selector, register_selector
# model and training
from ads_jax.models import ModelConfig, WideResNet, available_models, build_model, register_model
from ads_jax.training import FitResult, TrainConfig, evaluate, fit, predict, to_float
# data
from ads_jax.data import PROVENANCE, Dataset, Scenario, ScenarioConfig, build_scenario, load_dataset
# acquisition
from ads_jax.acquisition import (
    ARMS,
    AcquisitionConfig,
    AcquisitionInputs,
    AcquisitionResult,
    PreselectConfig,
    acquire,
    available_prefilters,
    make_acquire_fn,
    parse_arm,
    profile_acquisition,
    register_prefilter,
)
# experiments
from ads_jax.experiment import ExperimentConfig, LoopConfig
from ads_jax.config_engine import apply_overrides
from ads_jax.configs import load as get_config, resolve as resolve_config
from ads_jax.loop import run_experiment
from ads_jax.proxy import embed_scenario, load_backbone, save_backbone, train_backbone
from ads_jax.records import Record
from ads_jax.stats import compare, paired_difference
from ads_jax.plotting import format_table, load_results, plot_results
from ads_jax.rundir import load_artefacts

__all__ = [
    "knn", "pairwise_distances",
    "knn_shapley", "knn_variant", "tmc_shapley", "Recursion", "predict_values",
    "ValuationConfig", "register_valuation", "available_valuations",
    "EstimatorConfig", "register_estimator", "available_estimators",
    "get_selector", "register_selector", "available_selectors", "SelectorConfig",
    "WideResNet", "ModelConfig", "build_model", "register_model", "available_models",
    "TrainConfig", "FitResult", "fit", "predict", "evaluate", "to_float",
    "load_dataset", "Dataset", "ScenarioConfig", "Scenario", "build_scenario", "PROVENANCE",
    "acquire", "make_acquire_fn", "AcquisitionConfig", "PreselectConfig", "AcquisitionInputs",
    "AcquisitionResult",
    "ARMS", "parse_arm", "register_prefilter", "available_prefilters", "profile_acquisition",
    "ExperimentConfig", "LoopConfig", "get_config", "resolve_config", "apply_overrides",
    "run_experiment", "load_results", "load_artefacts", "format_table", "plot_results",
    "Record", "paired_difference", "compare",
    "train_backbone", "save_backbone", "load_backbone", "embed_scenario",
]
