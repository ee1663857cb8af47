#!/usr/bin/env bash
# Ctrl-C during `metagrad train` writes a checkpoint and exits with 130;
# --resume then finishes the run. Usage: sigint_test.sh path/to/metagrad
set -u
metagrad=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
args=(train --model mlp --dataset synthetic --epochs 400 --batch-size 16 --checkpoint "$dir/ck" --no-progress)
"$metagrad" "${args[@]}" > "$dir/log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ -f "$dir/ck/checkpoint.mgt" ] && break; sleep 0.05; done
kill -INT "$pid"
wait "$pid"
status=$?
[ "$status" -eq 130 ] || { echo "expected exit 130 after SIGINT, got $status"; cat "$dir/log"; exit 1; }
grep -q "continue with --resume" "$dir/log" || { echo "no resume hint"; cat "$dir/log"; exit 1; }
args[6]=3  # fewer epochs than already done: resuming just finishes
"$metagrad" "${args[@]}" --resume > "$dir/log2" 2>&1 || { echo "resume failed"; cat "$dir/log2"; exit 1; }
echo "sigint test passed"
