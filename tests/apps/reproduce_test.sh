#!/usr/bin/env bash
# `metagrad reproduce`: the list, bad input (one clear line, non-zero exit),
# a smoke-budget run whose report has the structure of the committed quick
# report (headings and table columns), and a run stopped with Ctrl-C that
# the same command then finishes, reusing the runs already done.
# Usage: reproduce_test.sh METAGRAD SOURCE_DIR CIFAR_DIR WORK_DIR
set -euo pipefail
metagrad=$1 source_dir=$2 cifar=$3 work=$4
rm -rf "$work" && mkdir -p "$work" && cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$metagrad" reproduce --list >list.txt
for claim in rllc l2l-quadratic l2l-mlp l2l-generalization l2l-cnn l2l-settings integrators smes root-free; do grep -q "^$claim " list.txt || fail "--list lacks $claim"; done

expect_error() {  # expect_error PATTERN ARGS...: exit 1 with one line matching PATTERN
  local pattern=$1; shift
  if "$metagrad" reproduce "$@" >out.txt 2>err.txt; then fail "reproduce $* succeeded"; fi
  [ "$(wc -l <err.txt)" -eq 1 ] || { cat err.txt; fail "reproduce $*: expected one line"; }
  grep -q "$pattern" err.txt || { cat err.txt; fail "reproduce $*: expected '$pattern'"; }
}
expect_error "unknown claim 'nope'; the claims are: rllc, l2l-quadratic," nope --out x
expect_error "must be quick, full or smoke, not 'huge'" smes --budget huge --data-dir "$cifar" --out x
export XDG_DATA_HOME="$work/no-data"  # no fetched datasets, whatever this machine has
expect_error "trains on CIFAR-10: no cifar10 data in .*metagrad data fetch cifar10" smes --out x
expect_error "no such file" smes --data-dir "$work/missing" --out x

[ -f "$cifar/test_batch.bin" ] || fail "no CIFAR-10 files in $cifar"

# The report's skeleton: headings, and each table's header row.
skeleton() { awk '/^#/ {print} /^\|---/ {print previous} {previous=$0}' "$1"; }
"$metagrad" reproduce smes --budget smoke --threads 1 --no-progress --data-dir "$cifar" --out smes >smes.txt
grep -q '^verdict: \(reproduced\|not reproduced\|inconclusive\) (' smes/report.md || fail "smes: no verdict line"
test -s smes/curves.svg || fail "smes: no plot"
diff <(skeleton smes/report.md) <(skeleton "$source_dir/docs/reproductions/smes/report.md") ||
  fail "the smoke report's structure differs from the committed docs/reproductions/smes/report.md"

# Ctrl-C: stop, then the same command finishes without redoing the finished runs.
: >progress1.txt  # there before the loop reads it (the background job opens it in its own time)
"$metagrad" reproduce integrators --budget smoke --threads 1 --data-dir "$cifar" --out integrators 2>>progress1.txt &
pid=$!
while [ "$(grep -c '^integrators \[' progress1.txt || true)" -lt 3 ]; do
  kill -0 $pid 2>/dev/null || break  # finished before three runs were reported: the check below fails
  sleep 0.1
done
kill -INT $pid
status=0; wait $pid || status=$?
[ "$status" -eq 130 ] || fail "an interrupted reproduce exits 130, not $status"
grep -q "interrupted: the finished runs are kept" progress1.txt || fail "no interruption message"
done_before=$(ls integrators/runs | wc -l)
[ "$done_before" -ge 3 ] || fail "only $done_before runs were kept"
"$metagrad" reproduce integrators --budget smoke --threads 1 --data-dir "$cifar" --out integrators 2>progress2.txt
grep -q '^verdict: ' integrators/report.md || fail "integrators: no verdict after resuming"
computed_again=$(grep -c '^integrators \[' progress2.txt || true)
total=$(ls integrators/runs | wc -l)
[ $((done_before + computed_again)) -eq "$total" ] || fail "resumed run recomputed finished runs ($done_before + $computed_again != $total)"
echo "ok: $done_before runs kept, $computed_again computed after resuming, $total in all"
