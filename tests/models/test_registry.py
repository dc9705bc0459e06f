"""Models as registered components: ModelConfig checks, the built-in wrn/linear/mlp, a user
model registered from outside the package."""

from __future__ import annotations

import flax.linen as nn
import jax
import numpy as np
import pytest

from ads_jax.config_engine import from_dict
from ads_jax.models import (MODELS, Model, ModelConfig, WideResNet, available_models,
                            build_model_component, register_model)
from ads_jax.training import FitResult, TrainConfig


def test_builtin_models_and_config_checks():
    assert {"wrn", "linear", "mlp"} <= set(available_models())
    w = build_model_component(ModelConfig(depth=10, width=2), 5)
    assert isinstance(w.module, WideResNet) and w.inputs == "images" and w.label == "wrn-10-2"
    lin = build_model_component(ModelConfig(name="linear", options={"l2": 0.01}), 4)
    assert lin.inputs == "features" and lin.module.num_classes == 4
    mlp = build_model_component(ModelConfig(name="mlp", options={"hidden": 16}), 4)
    assert mlp.label == "mlp-16"
    cfg = from_dict(ModelConfig, {"name": "mlp", "options": {"hidden": 16.0}})
    assert cfg.options["hidden"] == 16 and hash(cfg) == hash(ModelConfig(name="mlp",
                                                                         options={"hidden": 16}))
    for bad, msg in [(dict(name="nope"), "unknown model"),
                     (dict(options={"l2": 1.0}), "must be empty for model 'wrn'"),
                     (dict(name="linear", options={"hidden": 3}), "does not take"),
                     (dict(name="linear", options={"l2": -1.0}), "model.options.l2"),
                     (dict(depth=12), "6n \\+ 4"),
                     (dict(dtype="float16"), "model.dtype")]:
        with pytest.raises(ValueError, match=msg):
            ModelConfig(**bad)
    # a WRN preset switched to a head keeps working (the WRN fields are ignored)
    assert ModelConfig(name="linear", depth=28, width=10).label == "linear"


def test_a_user_model_plugs_in():
    class Tiny(nn.Module):
        num_classes: int

        @nn.compact
        def __call__(self, x, train=False, mask=None):
            h = nn.Dense(3)(x)
            return nn.Dense(self.num_classes)(h), h

    def tiny(*, num_classes, scale: float = 1.0):
        module = Tiny(num_classes)

        def fit(key, x, y, x_val, y_val, train=None, *, capacity=None, checkpoint_dir=None):
            v = module.init(key, np.zeros((1, x.shape[1]), np.float32))
            v = jax.tree.map(lambda a: a * scale, v)
            return FitResult(variables=v, history=[{"epoch": 1, "val_accuracy": 0.0}],
                             best_epoch=1, stopped_early=False)

        return Model(module=module, inputs="features", fit=fit, label="tiny")

    register_model("tiny_user", tiny)
    try:
        cfg = ModelConfig(name="tiny_user", options={"scale": 0.5})
        m = build_model_component(cfg, 2)
        res = m.fit(jax.random.key(0), np.ones((4, 5), np.float32), np.zeros(4, np.int32),
                    None, None, TrainConfig())
        logits, feats = m.module.apply(res.variables, np.ones((2, 5), np.float32))
        assert logits.shape == (2, 2) and feats.shape == (2, 3)
    finally:
        MODELS.unregister("tiny_user")
    with pytest.raises(ValueError, match="unknown model"):
        ModelConfig(name="tiny_user")
