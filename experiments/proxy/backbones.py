"""Train the frozen backbones of the proxy runs (two embedding qualities).

Both backbones are WideResNets trained by ads_jax on rows of CIFAR-10's train
split held out from every pool, validation and test set of the proxy
scenarios (the same ``holdout`` rows for both, so both embed the same
scenarios): the ``small`` one on 2,000 of them, the ``large`` one on 8,000;
1,000 more held-out rows are their validation set (early stopping)::

    python experiments/proxy/backbones.py --preset cpu      # both, ~40 min on 2 CPU cores
    python experiments/proxy/backbones.py --preset tiny     # digits, seconds (smoke test)

Each lands in ``runs/backbones/<preset>_<quality>/`` (``backbone.json``,
``holdout.json``, an Orbax checkpoint; resumable: a killed training resumes
from its last epoch) and a summary in
``experiments/results/proxy_backbones_<preset>.json``. Proxy configs name
them with ``data.backbone=runs/backbones/cpu_small`` (see
``ads_jax/configs/proxy_cifar10.py``).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ads_jax._files import atomic_write_json
from ads_jax.configs import cifar10_npz
from ads_jax.models import ModelConfig
from ads_jax.proxy import BackboneConfig, train_backbone
from ads_jax.training import TrainConfig

RESULTS = Path(__file__).resolve().parents[1] / "results"

#: The CPU backbones: WRN-10-2 (128-d features; ~3x faster to embed than WRN-16-2 on CPU).
CPU_MODEL = ModelConfig(depth=10, width=2)
CPU_HOLDOUT = dict(holdout=9000, holdout_seed=20261204, val_rows=1000)


def presets() -> dict[str, dict[str, BackboneConfig]]:
    return {
        "cpu": {
            "small": BackboneConfig(dataset=f"npz:{cifar10_npz()}", labels=2000, model=CPU_MODEL,
                                    train=TrainConfig(epochs=60, batch_size=128,
                                                      learning_rate=0.1, patience=12),
                                    **CPU_HOLDOUT),
            "large": BackboneConfig(dataset=f"npz:{cifar10_npz()}", labels=8000, model=CPU_MODEL,
                                    train=TrainConfig(epochs=30, batch_size=128,
                                                      learning_rate=0.1, patience=8),
                                    **CPU_HOLDOUT),
        },
        "tiny": {
            q: BackboneConfig(dataset="digits", holdout=300, holdout_seed=1, labels=n, val_rows=50,
                              model=ModelConfig(depth=10, width=1),
                              train=TrainConfig(epochs=2, batch_size=32, learning_rate=0.05,
                                                patience=None, flip=False, crop_padding=1))
            for q, n in (("small", 100), ("large", 250))},
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=("cpu", "tiny"), default="cpu")
    p.add_argument("--only", choices=("small", "large"), help="train one of the two")
    p.add_argument("--root", type=Path, default=Path("runs/backbones"))
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    summary = {}
    for quality, cfg in presets()[args.preset].items():
        if args.only and quality != args.only:
            continue
        directory = args.root / f"{args.preset}_{quality}"
        bb = train_backbone(cfg, directory, progress=print)
        info = bb.meta["info"]
        summary[quality] = {"directory": os.fspath(directory), "fingerprint": bb.fingerprint,
                            "model": cfg.model.label, "labels": cfg.labels,
                            **{k: info[k] for k in ("val_accuracy", "test_accuracy", "best_epoch",
                                                    "epochs_run", "train_seconds")}}
        print(json.dumps({quality: summary[quality]}))
    if not args.only:
        out = args.out / f"proxy_backbones_{args.preset}.json"
        atomic_write_json(out, summary)
        print(f"summary: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
