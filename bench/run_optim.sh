#!/usr/bin/env bash
# One optimizer step on 1M and 10M parameters and on ResNet-20's parameter
# list: metagrad's fused loops against
# torch.optim (foreach, tuned PyTorch), at 1 and 2 threads, with the fraction
# of the STREAM-triad bandwidth measured in the same run.
set -euo pipefail
source "$(dirname "$0")/common.sh" optim_bench
out=build/optim_bench.jsonl
: > "$out"
for threads in 1 2; do
  build/bench/optim_bench --threads "$threads" >> "$out"
  LD_PRELOAD="$tuned_pytorch_preload" /usr/bin/python3 bench/optim_torch.py --threads "$threads" >> "$out"
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
triad = {r["threads"]: r["gbps"] for r in rows if r["bench"] == "stream-triad"}
ours = {(r["bench"], r["size"], r["threads"]): r for r in rows if r["impl"] == "metagrad" and "size" in r}
ref = {(r["bench"], r["size"], r["threads"]): r for r in rows if r["impl"] == "pytorch"}
print(f"{'optimizer':14} {'params':>9} {'thr':>3} {'metagrad ms':>12} {'torch ms':>9} {'speed-up':>9} {'of triad':>9}")
assert all(ref[key]["tensors"] == r["tensors"] for key, r in ours.items()), "parameter lists differ"
for key, r in ours.items():
    t = ref[key]
    print(f"{key[0]:14} {key[1]:>9} {key[2]:>3} {r['ms']:>12.3f} {t['ms']:>9.3f} {t['ms'] / r['ms']:>8.2f}x "
          f"{100 * r['fraction_of_triad']:>7.0f}%   (triad {triad[key[2]]:.0f} GB/s)")
PY
