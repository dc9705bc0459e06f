#!/usr/bin/env bash
# The GPU checks of issues 9 and 17, as one prepared script for a machine with one GPU
# (none was lent so far: BENCHMARKS.md marks these targets "not measured").
#
#   CIFAR10_NPZ=/path/to/cifar10.npz OUT=gpu_checks bash experiments/benchmarks/gpu_checks.sh
#
# Needs the package installed with a CUDA jaxlib; no network (CIFAR-10 is read from the
# local .npz copy, whose 1,017 test images are too few: the test set is carved from the
# train split). Each step writes its Markdown/JSON under $OUT; a failing step is reported
# and the next one still runs. About 10 minutes on one H100/H200 with the default
# EPOCHS=30 for the preset's round (the preset's own 100: set EPOCHS=100, ~5 more minutes).
set -uo pipefail
OUT=${OUT:-gpu_checks}
NPZ=${CIFAR10_NPZ:-../shared/data/cifar10/cifar10.npz}
EPOCHS=${EPOCHS:-30}
mkdir -p "$OUT"
step() { local name=$1; shift; echo "== $name"
  if "$@" > "$OUT/$name.log" 2>&1; then echo "   ok"; else echo "   FAILED (see $OUT/$name.log)"; fi; }
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
python -c "import jax; print(jax.devices())" > "$OUT/devices.txt" 2>&1
# KNN-Shapley at N = 1M, M = 1,000, d = 640 (target < 2 s end to end).
step knn_shapley python experiments/benchmarks/knn_shapley.py --gpu-size --no-refs \
  --out "$OUT/knn_shapley.md"
# Selectors at 500k x 640, B = 5,000 (targets: k-center < 3 s, BADGE < 5 s, K-Medians < 15 s).
step selection python experiments/benchmarks/selection.py --gpu-size --no-references \
  --out "$OUT/selection.md"
# WRN-28-10 bf16: the paper_gpu preset's own training configuration (>= 5,000 img/s).
step training python experiments/benchmarks/training.py --gpu --gpu-epochs 2 \
  --out "$OUT/training.md" --json "$OUT/training.json"
# One round of the paper's CIFAR-10 Figure 5 preset for accelerators (one seed, one arm).
step paper_gpu_round ads-jax run paper_cifar10:paper_gpu "data.dataset=npz:$NPZ" \
  data.val_source=train data.test_source=train data.test_size=10000 loop.rounds=1 \
  "train.epochs=$EPOCHS" \
  "loop.seeds=[0]" "loop.arms=[ads+coreset]" --out-dir "$OUT/paper_gpu_round"
# Seeds in parallel on the device (sequential vs loop.parallel_seeds).
step parallel_seeds python experiments/benchmarks/parallel_seeds.py --config tiny
