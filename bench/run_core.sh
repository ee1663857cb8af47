#!/usr/bin/env bash
# Runs the core benchmark and its PyTorch reference in one go, at 1 and 2
# threads, and prints the ratios. PyTorch runs "tuned" (PERFORMANCE.md):
# tcmalloc preloaded and the OpenMP OpenBLAS.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh python3-torch python3-numpy libgoogle-perftools4
scripts/configure.sh
cmake --build build --target core_bench
tcmalloc=$(ls /usr/lib/*/libtcmalloc.so.4 | head -1)
openblas=$(ls /usr/lib/*/openblas-openmp/libopenblas.so.0 | head -1)
{
  for threads in 1 2; do
    build/bench/core_bench --threads "$threads" "$@"
    LD_PRELOAD="$tcmalloc $openblas" /usr/bin/python3 bench/core_torch.py --threads "$threads" "$@"
  done
} | tee build/core_bench.jsonl | /usr/bin/python3 bench/compare.py
