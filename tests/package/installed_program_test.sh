#!/usr/bin/env bash
# The installed `metagrad` program runs from its prefix with no help from the
# environment: its run path finds libmetagrad, and libmetagrad's finds the
# OpenMP OpenBLAS.
set -euo pipefail
prefix=$1
program=$prefix/bin/metagrad
run() { env -u LD_LIBRARY_PATH "$@"; }
run "$program" --version | grep -q '^metagrad [0-9]'
run "$program" train --dataset synthetic --model mlp --epochs 1 --limit 512 --no-progress --threads 1 \
  | tee /dev/stderr | grep -q 'final test accuracy'
# The library must use the OpenMP build of OpenBLAS (one thread pool with oneDNN).
run ldd "$program" | tee /dev/stderr | grep -q 'openblas-openmp/libopenblas'
echo "the installed program runs from $prefix"
