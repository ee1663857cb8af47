#!/usr/bin/env bash
# Independent runs go to the process's cores (run_concurrently), and the
# results never depend on how many there are: compare, meta-eval and
# reproduce write the same reports at --threads 1 and --threads 2, apart
# from wall-clock figures (compare's time column, reproduce's "Runs:" line).
# Usage: threads_test.sh METAGRAD CIFAR_DIR WORK_DIR
set -euo pipefail
metagrad=$1 cifar=$2 work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
without_time() { sed -E 's/\| [0-9.]+ \|$/| - |/' "$1"; }  # compare's last column: seconds

for t in 1 2; do
  "$metagrad" compare --no-progress --dataset synthetic --seeds 2 --epochs 1 --limit 2048 --threads $t \
    --optimizer 'sgd(lr={}, momentum=0.9)' --optimizer 'adam(lr=1e-3)' --lr-grid 0.01,0.1 --out compare-$t 2>/dev/null >/dev/null
  "$metagrad" meta-eval --task quadratic --learned "$(dirname "$0")/../../optim/learned/pretrained/quadratic.json" \
    --steps 20 --test-problems 4 --validation-problems 3 --threads $t --out meta-eval-$t 2>/dev/null >/dev/null
  "$metagrad" reproduce smes --budget smoke --seeds 2 --threads $t --no-progress --data-dir "$cifar" \
    --out smes-$t 2>/dev/null >/dev/null
done
diff <(without_time compare-1/results.md) <(without_time compare-2/results.md) || fail "compare differs"
diff <(cut -d, -f1-10 compare-1/results.csv) <(cut -d, -f1-10 compare-2/results.csv) || fail "compare's csv differs"
cmp meta-eval-1/results.md meta-eval-2/results.md || fail "meta-eval differs"
cmp meta-eval-1/results.csv meta-eval-2/results.csv || fail "meta-eval's csv differs"
diff <(grep -v '^metagrad reproduce\|^Runs: ' smes-1/report.md) <(grep -v '^metagrad reproduce\|^Runs: ' smes-2/report.md) ||
  fail "reproduce smes differs"
echo "ok: compare, meta-eval and reproduce report the same on 1 and 2 threads"
