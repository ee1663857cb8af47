#!/usr/bin/env bash
# Runs every `metagrad bench` workload and the same in PyTorch (tuned:
# tcmalloc and the OpenMP OpenBLAS, PERFORMANCE.md) in one go, at 1 and 2
# threads, and prints our speed and memory relative to PyTorch.
# Usage: bench/run_nn.sh [workload ...]
set -euo pipefail
source "$(dirname "$0")/common.sh" metagrad_cli
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(cnn-train cnn-infer cnn-hvp resnet20-train resnet20-infer mlp-train mlp-small-train
                                         l2l-mlp l2l-mlp-2nd)
out=build/nn_bench.jsonl
: > "$out"
for threads in 1 2; do
  for w in "${workloads[@]}"; do
    build/apps/metagrad bench --workload "$w" --threads "$threads" --json | sed 's/^{/{"impl": "metagrad", /' >> "$out"
    script=bench/nn_torch.py
    [[ $w == l2l-* ]] && script=bench/l2l_torch.py  # the learned optimizer's meta-iteration
    LD_PRELOAD="$tuned_pytorch_preload" /usr/bin/python3 "$script" --workload "$w" --threads "$threads" \
      | sed 's/^{/{"impl": "pytorch", /' >> "$out"
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ours = {(r["workload"], r["threads"]): r for r in rows if r["impl"] == "metagrad"}
ref = {(r["workload"], r["threads"]): r for r in rows if r["impl"] == "pytorch"}
print(f"{'workload':16} {'thr':>3} {'metagrad ms':>12} {'pytorch ms':>11} {'speed-up':>9} {'RSS MB ours/torch':>18}")
for key, r in ours.items():
    t = ref[key]
    print(f"{key[0]:16} {key[1]:>3} {r['ms_per_step']:>12.2f} {t['ms_per_step']:>11.2f} "
          f"{t['ms_per_step'] / r['ms_per_step']:>8.2f}x {r['peak_rss_mb']:>8.0f} / {t['peak_rss_mb']:<8.0f}")
PY
