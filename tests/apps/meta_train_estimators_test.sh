#!/usr/bin/env bash
# `metagrad meta-train --estimator es|pes` and `--learned mlp_lopt` from the
# command line: a tiny PES meta-training of mlp_lopt that resumes and whose
# weights meta-eval reads, and options that belong to another estimator
# refused with one clear line and a non-zero exit; meta-eval of two learned
# optimizers at once.
# Usage: meta_train_estimators_test.sh METAGRAD WORK_DIR
set -euo pipefail
metagrad=$1 work=$2
rm -rf "$work" && mkdir -p "$work" && cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
small=(--task quadratic --steps 10 --unroll 5 --eval-every 2 --validation-problems 2 --no-progress)

"$metagrad" meta-train "${small[@]}" --learned mlp_lopt --estimator pes --population 3 --sigma 0.02 --epochs 2 \
  --out pes >/dev/null
"$metagrad" meta-train "${small[@]}" --learned mlp_lopt --estimator pes --population 3 --sigma 0.02 --epochs 4 \
  --out pes --resume | grep -q 'done after 4 epochs' || fail "pes did not resume to 4 epochs"
[ "$(tr ',' '\n' <pes/optimizer.json | wc -l)" -eq 1762 ] || fail "optimizer.json is not an mlp_lopt weight list"
# meta-eval compares several learned optimizers: the verdict is about the first.
pretrained=$(dirname "$0")/../../optim/learned/pretrained/quadratic.json
"$metagrad" meta-eval --task quadratic --learned pes/optimizer.json --learned "$pretrained" --steps 10 \
  --test-problems 2 --validation-problems 2 --out eval >/dev/null
grep -q '^verdict: ' eval/results.md || fail "meta-eval of the mlp_lopt weights wrote no verdict"
grep -q '^| `pes/optimizer.json` |' eval/results.md || fail "no row of the mlp_lopt weights"
grep -q "^| \`$pretrained\` |" eval/results.md || fail "no row of the pretrained LSTM"
[ "$(grep -c '^| `' eval/results.md)" -eq 6 ] || fail "expected 2 learned and 4 baseline rows"

expect_error() {  # expect_error PATTERN ARGS...: a non-zero exit with one line matching PATTERN
  local pattern=$1; shift
  if "$metagrad" meta-train "${small[@]}" --epochs 1 "$@" >out.txt 2>err.txt; then fail "meta-train $* succeeded"; fi
  [ "$(wc -l <err.txt)" -eq 1 ] || { cat err.txt; fail "meta-train $*: expected one line"; }
  grep -q -- "$pattern" err.txt || { cat err.txt; fail "meta-train $*: expected '$pattern'"; }
}
expect_error "--mode does not apply to the es estimator" --estimator es --mode second_order --out bad
expect_error "--meta-batch does not apply to the pes estimator" --estimator pes --meta-batch 2 --out bad
expect_error "--population does not apply to the tbptt estimator" --population 4 --out bad
expect_error "--sigma does not apply to the tbptt estimator" --sigma 0.1 --out bad
if "$metagrad" meta-train "${small[@]}" --epochs 1 --out bad --estimator nes 2>err.txt; then fail "--estimator nes succeeded"; fi
grep -q "nes not in {tbptt,es,pes}" err.txt || { cat err.txt; fail "--estimator nes: no list of the estimators"; }
expect_error "the run was meta-trained with pes(sigma=0.02, seed=0), not es(sigma=0.01, seed=0)" --learned mlp_lopt --estimator es --resume --out pes
echo "ok: pes meta-trains mlp_lopt, resumes and meta-eval reads it; foreign options are refused"
