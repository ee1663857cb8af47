#!/usr/bin/env bash
# Scaling over MPI ranks: throughput of 2 ranks x 1 thread against 1 rank x
# 1 thread and 1 rank x 2 threads, on mlp-train, cnn-train (global batch
# 128, data-parallel) and the l2l meta-iteration (one problem per rank),
# with the gradient all-reduce's time per step and how much of it backward
# hid. Needs Open MPI (scripts/install-deps.sh libopenmpi-dev openmpi-bin).
# Usage: bench/run_mpi.sh [workload ...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh libopenmpi-dev openmpi-bin
scripts/configure.sh -DMG_MPI=ON
cmake --build build --target metagrad_cli
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(mlp-train cnn-train l2l-mlp)
out=build/mpi_bench.jsonl
: > "$out"
mpirun=(mpirun --oversubscribe --allow-run-as-root --bind-to core)
for w in "${workloads[@]}"; do
  steps=(--steps 30 --warmup 5)
  [[ $w == l2l-* ]] && steps=(--steps 8 --warmup 2)
  build/apps/metagrad bench --workload "$w" --threads 1 "${steps[@]}" --json >> "$out"
  build/apps/metagrad bench --workload "$w" --threads 2 "${steps[@]}" --json >> "$out"
  "${mpirun[@]}" -np 2 build/apps/metagrad bench --workload "$w" --threads 1 "${steps[@]}" --json >> "$out"
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = {(r["workload"], r["ranks"], r["threads"]): r for r in rows}
print(f"{'workload':12} {'1x1 img/s':>10} {'1x2 img/s':>10} {'2x1 img/s':>10} {'2x1 / 1x1':>9} {'2x1 / 1x2':>9} "
      f"{'all-reduce ms':>13} {'hidden':>7}")
for (w, ranks, threads), r in by.items():
    if ranks != 2:
        continue
    one, two_threads = by[(w, 1, 1)], by[(w, 1, 2)]
    comm = r["communication_ms"]
    hidden = f"{100 * (1 - r['exposed_communication_ms'] / comm):.0f}%" if comm > 0 else "-"
    print(f"{w:12} {one['images_per_s']:>10.0f} {two_threads['images_per_s']:>10.0f} {r['images_per_s']:>10.0f} "
          f"{r['images_per_s'] / one['images_per_s']:>8.2f}x {r['images_per_s'] / two_threads['images_per_s']:>8.2f}x "
          f"{comm:>13.3f} {hidden:>7}")
PY
