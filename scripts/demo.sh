#!/usr/bin/env bash
# The main job: trains the small CNN on Fashion-MNIST (Debian's
# dataset-fashion-mnist) for two epochs, printing progress and per-epoch
# loss and accuracy, and writing metrics to build/demo-metrics.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh dataset-fashion-mnist
scripts/configure.sh
cmake --build build --target metagrad_cli fit_mlp
build/apps/metagrad train --model cnn --dataset fashion-mnist --epochs 2 --metrics build/demo-metrics.jsonl "$@"
cat <<'MSG'

Next:
  CIFAR-10 (downloaded once, verified, into ~/.local/share/metagrad):
    build/apps/metagrad data fetch cifar10
    build/apps/metagrad train --model cnn --dataset cifar10 --epochs 5 --augment
  Compare optimizers over seeds (writes results.md, results.csv, curves.svg):
    build/apps/metagrad compare --optimizer 'sgd(lr=0.05, momentum=0.9)' --optimizer 'adam(lr=1e-3)' \
        --optimizer 'rmsprop(lr=1e-3)' --seeds 3 --epochs 2 --out build/compare
MSG
