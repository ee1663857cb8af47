#!/usr/bin/env bash
# Scaling over threads: ms per step of mlp-small-train, mlp-train, cnn-train,
# resnet20-train and the l2l-mlp meta-iteration (meta-batch 1, and a
# meta-batch of as many problems as threads: problems per second) at 1, 2,
# 4, ... and nproc threads, the speed-up over 1 thread, and PyTorch's figure
# for the same workload and thread count where a peer script exists (tuned
# as in run_nn.sh), run alternately in the same go. A line marked "SLOWER"
# took longer than the same workload at fewer threads.
#
# Usage: [THREADS="1 2 4"] [STEPS=N] [TORCH=0] bench/run_scaling.sh [workload ...]
# On a machine without Debian's packages (a many-core box), run the program
# packed by ../shared/tools/device-bundle: METAGRAD=/tmp/mg/bin/metagrad with
# LD_LIBRARY_PATH=/tmp/mg/lib; nothing is built or installed then, and
# PyTorch runs when `python3 -c 'import torch'` works there (TORCH=0: never).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${METAGRAD:-}" ]; then
  source bench/common.sh metagrad_cli
  METAGRAD=build/apps/metagrad
  python=/usr/bin/python3
else
  tuned_pytorch_preload=""
  python=$(command -v python3 || true)
fi
torch=${TORCH:-1}
if [ "$torch" = 1 ] && ! { [ -n "$python" ] && "$python" -c 'import torch' 2>/dev/null; }; then
  echo "(PyTorch not found: our figures only)" >&2
  torch=0
fi
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(mlp-small-train mlp-train cnn-train resnet20-train l2l-mlp)
cores=$(nproc)
if [ -z "${THREADS:-}" ]; then
  THREADS=""
  for ((t = 1; t < cores; t *= 2)); do THREADS+="$t "; done
  THREADS+="$cores"
fi
steps=${STEPS:-20}
out=build/scaling_bench.jsonl
mkdir -p build && : > "$out"

run_ours() {  # run_ours WORKLOAD THREADS META_BATCH
  "$METAGRAD" bench --workload "$1" --threads "$2" --meta-batch "$3" --steps "$steps" --json |
    sed "s/^{/{\"impl\": \"metagrad\", /"
}
run_torch() {  # run_torch WORKLOAD THREADS
  local script=bench/nn_torch.py
  [[ $1 == l2l-* ]] && script=bench/l2l_torch.py
  LD_PRELOAD="$tuned_pytorch_preload" "$python" "$script" --workload "$1" --threads "$2" --steps "$steps" |
    sed "s/^{/{\"impl\": \"pytorch\", \"meta_batch\": 1, /"
}

for w in "${workloads[@]}"; do
  for t in $THREADS; do
    run_ours "$w" "$t" 1 >>"$out"
    [ "$torch" = 1 ] && run_torch "$w" "$t" >>"$out"
    if [[ $w == l2l-* && $t -gt 1 ]]; then run_ours "$w" "$t" "$t" >>"$out"; fi
  done
done

"${python:-python3}" - "$out" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
ours = [r for r in rows if r["impl"] == "metagrad"]
torch = {(r["workload"], r["threads"]): r["ms_per_step"] for r in rows if r["impl"] == "pytorch"}
base = {}  # (workload, meta-batch 1): ms at 1 thread; for throughput, problems/s at 1 thread
print(f"{'workload':16} {'meta-batch':>10} {'threads':>7} {'ms/step':>9} {'speed-up':>9} {'problems/s':>10} "
      f"{'vs 1 thread':>11} {'pytorch ms':>10} {'ours vs pytorch':>15}")
previous = {}
for r in ours:
    w, t, k = r["workload"], r["threads"], r.get("meta_batch", 1)
    ms, pps = r["ms_per_step"], r.get("problems_per_s", 0.0)
    if t == 1 and k == 1:
        base[w] = (ms, pps)
    b_ms, b_pps = base.get(w, (ms, pps))
    speed = b_ms / ms if k == 1 else float("nan")
    throughput = f"{pps / b_pps:10.2f}x" if pps and b_pps else f"{'':>11}"
    ref = torch.get((w, t)) if k == 1 else None
    ref_text = f"{ref:10.2f} {ref / ms:14.2f}x" if ref else f"{'':>10} {'':>15}"
    slower = ""
    key = (w, k == 1)
    if k == 1 and key in previous and ms > previous[key] * 1.05:
        slower = "  SLOWER"
    if k == 1:
        previous[key] = min(ms, previous.get(key, ms))
    speed_text = f"{speed:8.2f}x" if k == 1 else f"{'':>9}"
    print(f"{w:16} {k:>10} {t:>7} {ms:9.2f} {speed_text} {pps if pps else float('nan'):10.2f} {throughput} "
          f"{ref_text}{slower}")
PY
