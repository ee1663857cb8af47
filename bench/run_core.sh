#!/usr/bin/env bash
# Runs the core benchmark and its PyTorch reference in one go, at 1 and 2
# threads, and prints the ratios. PyTorch runs "tuned" (PERFORMANCE.md):
# tcmalloc preloaded and the OpenMP OpenBLAS.
set -euo pipefail
source "$(dirname "$0")/common.sh" core_bench
{
  for threads in 1 2; do
    build/bench/core_bench --threads "$threads" "$@"
    LD_PRELOAD="$tuned_pytorch_preload" /usr/bin/python3 bench/core_torch.py --threads "$threads" "$@"
  done
} | tee build/core_bench.jsonl | /usr/bin/python3 bench/compare.py
