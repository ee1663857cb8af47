#!/usr/bin/env bash
# The learned optimizers' step (general, mlp_lopt) on 1M and 10M parameters:
# metagrad's fused step against a PyTorch implementation of the same step
# (bench/learned_torch.py, checked against the float64 fixtures with
# --check), at 1 and 2 threads, with the fraction of the FP32 FLOP peak
# (PERFORMANCE.md: 227 GFLOP/s per core) that the step's MLP reaches.
set -euo pipefail
source "$(dirname "$0")/common.sh" optim_bench
out=build/learned_bench.jsonl
: > "$out"
/usr/bin/python3 bench/learned_torch.py --check > /dev/null
for threads in 1 2; do
  build/bench/optim_bench --threads "$threads" --spec 'general(weights=formula)' --spec 'mlp_lopt(weights=formula)' |
    sed -e 's/"general(weights=formula)"/"general"/' -e 's/"mlp_lopt(weights=formula)"/"mlp_lopt"/' >> "$out"
  LD_PRELOAD="$tuned_pytorch_preload" /usr/bin/python3 bench/learned_torch.py --threads "$threads" >> "$out"
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ref = {(r["bench"], r["size"], r["threads"]): r for r in rows if r["impl"] == "pytorch"}
ours = {key: r for r in rows if r["impl"] == "metagrad" and (key := (r["bench"], r.get("size"), r["threads"])) in ref}
peak_per_core = 227e9  # PERFORMANCE.md: 64 FLOP/cycle/core with zmm FMAs
print(f"{'optimizer':10} {'params':>7} {'thr':>3} {'metagrad ms':>12} {'torch ms':>9} {'speed-up':>9} {'of peak':>8}")
for key, r in sorted(ours.items()):
    t = ref[key]
    flops = t["flops_per_step"] / (r["ms"] * 1e-3)
    print(f"{key[0]:10} {key[1]:>7} {key[2]:>3} {r['ms']:>12.2f} {t['ms']:>9.2f} {t['ms'] / r['ms']:>8.2f}x "
          f"{100 * flops / (peak_per_core * key[2]):>7.0f}%")
PY
