#!/usr/bin/env bash
# The main job: builds metagrad and trains an MLP on a synthetic task.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/configure.sh
cmake --build build --target fit_mlp metagrad_cli
build/examples/fit_mlp
