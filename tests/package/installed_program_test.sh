#!/usr/bin/env bash
# The installed `metagrad` program runs from its prefix with no help from the
# environment: its run path finds libmetagrad, and libmetagrad's finds the
# OpenMP OpenBLAS.
set -euo pipefail  # (grep reads all its input: grep -q would end a pipeline early, SIGPIPE under pipefail)
prefix=$1
program=$prefix/bin/metagrad
run() { env -u LD_LIBRARY_PATH "$@"; }
run "$program" --version | grep '^metagrad [0-9]' > /dev/null
run "$program" train --dataset synthetic --model mlp --epochs 1 --limit 512 --no-progress --threads 1 \
  | tee /dev/stderr | grep 'final test accuracy' > /dev/null
# The library must use the OpenMP build of OpenBLAS (one thread pool with oneDNN).
run ldd "$program" | tee /dev/stderr | grep 'openblas-openmp/libopenblas' > /dev/null
echo "the installed program runs from $prefix"
