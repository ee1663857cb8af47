#!/usr/bin/env bash
# Runs every `metagrad bench` workload and the same in PyTorch (tuned:
# tcmalloc and the OpenMP OpenBLAS, PERFORMANCE.md) in one go, at 1 and 2
# threads, and prints our speed and memory relative to PyTorch.
# Each pair runs REPEATS times (default 3), ours and PyTorch alternating so
# that both see the same minutes of this shared machine; the table shows
# the medians over the repeats, and the lowest and highest speed-up.
# Usage: [REPEATS=N] [THREADS="1 2"] bench/run_nn.sh [workload ...]
set -euo pipefail
source "$(dirname "$0")/common.sh" metagrad_cli
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(cnn-train cnn-infer cnn-hvp resnet20-train resnet20-infer mlp-train mlp-small-train
                                         l2l-mlp l2l-mlp-2nd l2l-mlp-pes)
repeats=${REPEATS:-3}
out=build/nn_bench.jsonl
: > "$out"
for threads in ${THREADS:-1 2}; do
  for w in "${workloads[@]}"; do
    script=bench/nn_torch.py
    [[ $w == l2l-* ]] && script=bench/l2l_torch.py  # the learned optimizer's meta-iteration
    population=()
    [[ $w == l2l-mlp-pes ]] && population=(--meta-batch 8)  # 8 antithetic pairs, as l2l_torch.py's --pairs default
    for ((r = 0; r < repeats; ++r)); do
      build/apps/metagrad bench --workload "$w" "${population[@]}" --threads "$threads" --json | sed 's/^{/{"impl": "metagrad", /' >> "$out"
      LD_PRELOAD="$tuned_pytorch_preload" /usr/bin/python3 "$script" --workload "$w" --threads "$threads" \
        | sed 's/^{/{"impl": "pytorch", /' >> "$out"
    done
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
from collections import defaultdict
runs = defaultdict(lambda: defaultdict(list))
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs[(r["workload"], r["threads"])][r["impl"]].append(r)
print(f"{'workload':16} {'thr':>3} {'metagrad ms':>12} {'pytorch ms':>11} {'speed-up':>9} {'range':>13} "
      f"{'RSS MB ours/torch':>18}")
for key, by_impl in runs.items():
    ours, ref = by_impl["metagrad"], by_impl["pytorch"]
    ratios = [t["ms_per_step"] / o["ms_per_step"] for o, t in zip(ours, ref)]
    ms = statistics.median(o["ms_per_step"] for o in ours)
    ref_ms = statistics.median(t["ms_per_step"] for t in ref)
    rss, ref_rss = max(o["peak_rss_mb"] for o in ours), max(t["peak_rss_mb"] for t in ref)
    print(f"{key[0]:16} {key[1]:>3} {ms:>12.2f} {ref_ms:>11.2f} {statistics.median(ratios):>8.2f}x "
          f"{min(ratios):>5.2f}-{max(ratios):.2f}x {rss:>8.0f} / {ref_rss:<8.0f}")
PY
