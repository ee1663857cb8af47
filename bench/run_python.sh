#!/usr/bin/env bash
# The Python module's optimizer steps (bench/python_module.py) against
# torch.optim.Adam(foreach=True) and a PyTorch implementation of the lstm
# step, in one process, and against the same steps in C++ (optim_bench), at
# 1 and 2 threads. The machine is noisy: each side runs three times, and the
# summary takes each case's best median.
set -euo pipefail
source "$(dirname "$0")/common.sh" optim_bench metagrad_python
out=build/python_bench.jsonl
: > "$out"
for threads in 1 2 1 2 1 2; do
  build/bench/optim_bench --threads "$threads" --spec 'adam(lr=0.001)' --sizes 1M,10M |
    sed -e 's/"adam(lr=0.001)"/"adam"/' >> "$out"
  build/bench/optim_bench --threads "$threads" --spec lstm --sizes 1M >> "$out"
  PYTHONPATH=build/python:bench LD_PRELOAD="$tuned_pytorch_preload" /usr/bin/python3 bench/python_module.py \
    --threads "$threads" >> "$out"
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for r in rows:
    if "ms" in r:
        key = (r["bench"], r.get("size"), r["threads"], r["impl"])
        by[key] = min(by.get(key, r["ms"]), r["ms"])
print(f"{'optimizer':9} {'params':>6} {'thr':>3} {'python ms':>10} {'torch ms':>9} {'C++ ms':>8} "
      f"{'vs torch':>9} {'vs C++':>8}")
for (bench, size, threads, impl), ms in sorted(by.items()):
    if impl != "metagrad-python":
        continue
    torch_ms, cpp_ms = by[(bench, size, threads, "pytorch")], by.get((bench, size, threads, "metagrad"))
    cpp, vs_cpp = (f"{cpp_ms:.2f}", f"{100 * (ms / cpp_ms - 1):+.1f}%") if cpp_ms else ("-", "-")
    print(f"{bench:9} {size:>6} {threads:>3} {ms:>10.2f} {torch_ms:>9.2f} {cpp:>8} {torch_ms / ms:>8.2f}x {vs_cpp:>8}")
PY
