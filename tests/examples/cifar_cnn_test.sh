#!/usr/bin/env bash
# examples/cifar_cnn, built against the install tree: it learns the committed
# CIFAR-10 slice (520 training images) above chance (accuracy 10%, loss
# ln 10 = 2.30; six epochs reach about 19% and 1.96), and a run stopped
# halfway and resumed from its checkpoint ends exactly where the
# uninterrupted run does.
set -euo pipefail
program=$1 data=$2 work=$3
[ -f "$data/test_batch.bin" ] || { echo "no CIFAR-10 files in $data"; exit 1; }
rm -rf "$work" && mkdir -p "$work"
args=(--data-dir "$data" --epochs 6 --threads 2)
start=$SECONDS
"$program" "${args[@]}" --checkpoint "$work/full.mgt" | tee "$work/full.log"
echo "uninterrupted run: $((SECONDS - start)) s"
"$program" "${args[@]}" --checkpoint "$work/split.mgt" --stop-after 3 | tee "$work/first.log"
"$program" "${args[@]}" --checkpoint "$work/split.mgt" --resume | tee "$work/second.log"
grep -q 'resumed from .* after epoch 3' "$work/second.log"
full=$(grep '^final test accuracy' "$work/full.log")
resumed=$(grep '^final test accuracy' "$work/second.log")
[ "$full" = "$resumed" ] || { echo "resumed run differs: '$resumed' vs '$full'"; exit 1; }
accuracy=$(awk '{print $4}' <<<"$full") loss=$(awk '{print $6}' <<<"$full")
awk -v a="$accuracy" -v l="$loss" 'BEGIN { exit !(a >= 0.15 && l <= 2.1) }' ||
  { echo "test accuracy $accuracy (expected >= 0.15) or loss $loss (expected <= 2.1) is near chance"; exit 1; }
# Bad input: one clear line and a non-zero exit.
if "$program" --data-dir "$work/none" 2>"$work/error.log"; then exit 1; fi
grep -q 'cifar_cnn: error: .*none' "$work/error.log"
echo "test accuracy $accuracy, resumed run identical"
