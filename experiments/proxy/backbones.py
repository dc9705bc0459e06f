"""Train the frozen backbones of the proxy runs (two embedding qualities).

Both backbones are WideResNets trained by ads_jax on rows of CIFAR-10's train
split held out from every pool, validation and test set of the proxy
scenarios (the same ``holdout`` rows for both, so both embed the same
scenarios): the ``small`` one on 2,000 of them, the ``large`` one on 8,000;
1,000 more held-out rows are their validation set (early stopping)::

    python experiments/proxy/backbones.py --preset cpu      # both, ~40 min on 2 CPU cores
    python experiments/proxy/backbones.py --preset tiny     # digits, seconds (smoke test)

The backbones' configs are :func:`ads_jax.configs.proxy_paper.backbone_configs`.
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
from ads_jax.configs.proxy_paper import backbone_configs
from ads_jax.proxy import train_backbone

RESULTS = Path(__file__).resolve().parents[1] / "results"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=("cpu", "tiny"), default="cpu")
    p.add_argument("--only", choices=("small", "large"), help="train one of the two")
    p.add_argument("--root", type=Path, default=Path("runs/backbones"))
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    summary = {}
    for quality, cfg in backbone_configs(args.preset).items():
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
