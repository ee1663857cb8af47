#!/usr/bin/env bash
# The program on two ranks. `train` and `meta-train`: SIGINT on one rank
# stops both with a checkpoint and --resume continues bit for bit; a rank
# that fails (a missing data folder) or dies (SIGKILL) ends the whole job
# within seconds and the last checkpoint stays intact. `compare`,
# `meta-eval` and `reproduce` spread their runs over the ranks and report
# exactly what one process reports.
# Usage: mpi_test.sh path/to/metagrad path/to/mpirun cifar-10-dir
set -u
metagrad=$1
mpirun=$2
cifar=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mpi=("$mpirun" --oversubscribe --allow-run-as-root -np 2)
fail() { echo "FAIL: $*"; for f in "$dir"/*.log; do echo "== $f"; tail -20 "$f"; done; exit 1; }

# The rank's pid among mpirun's children, by its MPI rank.
rank_pid() {
  local launcher=$1 rank=$2 pid
  for _ in $(seq 1 200); do
    for pid in $(pgrep -P "$launcher"); do
      if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$rank"; then
        echo "$pid"
        return
      fi
    done
    sleep 0.05
  done
}
wait_for() { for _ in $(seq 1 1200); do [ -f "$1" ] && return; sleep 0.05; done; fail "no $1"; }
# The final epoch's losses and accuracies (17 digits), not its timings.
final_numbers() { tail -1 "$1" | grep -o '"\(train\|test\)_[a-z]*": [^,]*'; }

train=(train --model cnn --dataset synthetic --limit 1024 --batch-size 32 --threads 1 --no-progress)

# 1. An uninterrupted two-rank run.
"${mpi[@]}" "$metagrad" "${train[@]}" --epochs 4 --checkpoint "$dir/whole" --metrics "$dir/whole.jsonl" > "$dir/whole.log" 2>&1 ||
  fail "two-rank training failed"
[ "$(wc -l < "$dir/whole.jsonl")" -eq 4 ] || fail "rank 0 alone should write the 4 metric lines"

# 2. SIGINT to rank 1 alone, mid-run: both ranks stop (exit 130) with a checkpoint.
"${mpi[@]}" "$metagrad" "${train[@]}" --epochs 4 --checkpoint "$dir/cut" --metrics "$dir/cut.jsonl" > "$dir/cut.log" 2>&1 &
launcher=$!
wait_for "$dir/cut/checkpoint.mgt"
kill -INT "$(rank_pid $launcher 1)"
wait $launcher
status=$?
[ $status -ne 0 ] || fail "an interrupted run exited 0"
grep -q "continue with --resume" "$dir/cut.log" || fail "no resume hint from rank 0"
"${mpi[@]}" "$metagrad" "${train[@]}" --epochs 4 --checkpoint "$dir/cut" --metrics "$dir/cut.jsonl" --resume > "$dir/resume.log" 2>&1 ||
  fail "resume on two ranks failed"
[ "$(final_numbers "$dir/whole.jsonl")" == "$(final_numbers "$dir/cut.jsonl")" ] ||
  fail "resumed run differs: $(final_numbers "$dir/cut.jsonl") vs $(final_numbers "$dir/whole.jsonl")"

# 3. One rank given a missing data folder: every rank ends, non-zero, naming the rank.
start=$SECONDS
timeout 60 "$mpirun" --oversubscribe --allow-run-as-root \
  -np 1 "$metagrad" train --dataset cifar10 --data-dir "$cifar" --epochs 1 --no-progress : \
  -np 1 "$metagrad" train --dataset cifar10 --data-dir "$dir/missing" --epochs 1 --no-progress > "$dir/missing.log" 2>&1
status=$?
[ $status -ne 0 ] && [ $status -ne 124 ] || fail "a rank without data: exit $status (124: the job hung)"
grep -q "rank 1 of 2: error: .*missing" "$dir/missing.log" || fail "the error does not name rank 1 and the folder"
[ $((SECONDS - start)) -lt 30 ] || fail "the job took $((SECONDS - start)) s to end"

# A NaN loss (the ranks agree on each step's loss): every rank stops, naming itself.
timeout 60 "${mpi[@]}" "$metagrad" train --model mlp --dataset synthetic --limit 512 --batch-size 32 --threads 1 \
  --no-progress --optimizer 'sgd(lr=1e8)' > "$dir/nan.log" 2>&1
status=$?
[ $status -ne 0 ] && [ $status -ne 124 ] || fail "a diverging run: exit $status (124: the job hung)"
grep -q "rank [01] of 2: error: training diverged: the loss is nan" "$dir/nan.log" || fail "no divergence message"

# 4. Rank 1 killed mid-run: the job ends non-zero within seconds; the last
# complete checkpoint resumes.
"${mpi[@]}" "$metagrad" "${train[@]}" --epochs 50 --checkpoint "$dir/killed" > "$dir/killed.log" 2>&1 &
launcher=$!
wait_for "$dir/killed/checkpoint.mgt"
kill -KILL "$(rank_pid $launcher 1)"
start=$SECONDS
wait $launcher
status=$?
[ $status -ne 0 ] || fail "a job with a killed rank exited 0"
[ $((SECONDS - start)) -lt 20 ] || fail "the job took $((SECONDS - start)) s to end after the kill"
"${mpi[@]}" "$metagrad" "${train[@]}" --epochs 1 --checkpoint "$dir/killed" --resume > "$dir/after-kill.log" 2>&1 ||
  fail "the checkpoint left by the killed job does not resume"

# 5. Meta-training on two ranks (a meta-batch of one problem per rank); rank 0 writes.
meta=(meta-train --task quadratic --steps 20 --unroll 10 --eval-every 2 --validation-problems 3 --threads 1 --no-progress
      --out "$dir/meta")
"${mpi[@]}" "$metagrad" "${meta[@]}" --epochs 4 > "$dir/meta.log" 2>&1 || fail "two-rank meta-training failed"
[ "$(wc -l < "$dir/meta/meta-metrics.jsonl")" -eq 4 ] || fail "expected 4 meta-metric lines"
[ -s "$dir/meta/optimizer.json" ] || fail "no optimizer.json"
"${mpi[@]}" "$metagrad" "${meta[@]}" --epochs 6 --resume > "$dir/meta2.log" 2>&1 || fail "meta-train resume failed"
[ "$(wc -l < "$dir/meta/meta-metrics.jsonl")" -eq 6 ] || fail "expected 6 meta-metric lines after resuming"
# 2 ranks x a meta-batch of 2 are 1 process x a meta-batch of 4, bit for bit: the
# mean is summed in problem order whatever the split (adding the zeros of the
# other ranks' rows is exact).
batch=(meta-train --task quadratic --steps 10 --unroll 5 --eval-every 2 --validation-problems 2 --epochs 4 --no-progress)
"${mpi[@]}" "$metagrad" "${batch[@]}" --threads 1 --meta-batch 2 --out "$dir/meta-2x2" > "$dir/meta-2x2.log" 2>&1 ||
  fail "two-rank meta-training with a meta-batch failed"
"$metagrad" "${batch[@]}" --threads 2 --meta-batch 4 --out "$dir/meta-1x4" > "$dir/meta-1x4.log" 2>&1 ||
  fail "one-process meta-training with a meta-batch of 4 failed"
cmp "$dir/meta-2x2/optimizer.json" "$dir/meta-1x4/optimizer.json" ||
  fail "2 ranks x --meta-batch 2 meta-trained other weights than 1 process x --meta-batch 4"
# The same for PES's pairs: their perturbations depend on the problem's index alone.
"${mpi[@]}" "$metagrad" "${batch[@]}" --threads 1 --estimator pes --population 2 --out "$dir/pes-2x2" \
  > "$dir/pes-2x2.log" 2>&1 || fail "two-rank pes meta-training failed"
"$metagrad" "${batch[@]}" --threads 2 --estimator pes --population 4 --out "$dir/pes-1x4" > "$dir/pes-1x4.log" 2>&1 ||
  fail "one-process pes meta-training with a population of 4 failed"
cmp "$dir/pes-2x2/optimizer.json" "$dir/pes-1x4/optimizer.json" ||
  fail "2 ranks x --population 2 meta-trained other weights than 1 process x --population 4"
# 6. Runs spread over ranks, one thread each, give one process's results.
for ranks in 1 2; do
  "$mpirun" --oversubscribe --allow-run-as-root -np $ranks "$metagrad" compare --no-progress --dataset synthetic \
    --threads 1 --seeds 2 --epochs 1 --optimizer 'sgd(lr={}, momentum=0.9)' --lr-grid 0.01,0.1 \
    --optimizer 'adam(lr=1e-3)' --out "$dir/compare-$ranks" > "$dir/compare-$ranks.log" 2>&1 || fail "compare on $ranks"
  "$mpirun" --oversubscribe --allow-run-as-root -np $ranks "$metagrad" reproduce smes --budget smoke --seeds 2 \
    --threads 1 --no-progress --data-dir "$cifar" --out "$dir/smes-$ranks" > "$dir/smes-$ranks.log" 2>&1 ||
    fail "reproduce on $ranks"
done
for ranks in 1 2; do
  "$mpirun" --oversubscribe --allow-run-as-root -np $ranks "$metagrad" meta-eval --task quadratic --threads 1 \
    --learned "$dir/meta/optimizer.json" --steps 20 --test-problems 4 --validation-problems 2 \
    --out "$dir/meta-eval-$ranks" > "$dir/meta-eval-$ranks.log" 2>&1 || fail "meta-eval on $ranks"
done
# Everything but wall-clock times (the table's last column, the CSV's).
diff <(sed -E 's/\| [0-9.]+ \|$//' "$dir/compare-1/results.md") <(sed -E 's/\| [0-9.]+ \|$//' "$dir/compare-2/results.md") &&
  diff <(sed -E 's/,[^,]*$//' "$dir/compare-1/results.csv") <(sed -E 's/,[^,]*$//' "$dir/compare-2/results.csv") ||
  fail "compare on 2 ranks reports differently"
cmp "$dir/meta-eval-1/results.md" "$dir/meta-eval-2/results.md" || fail "meta-eval on 2 ranks reports differently"
diff <(grep -v "^metagrad reproduce\|^Runs:" "$dir/smes-1/report.md") \
     <(grep -v "^metagrad reproduce\|^Runs:" "$dir/smes-2/report.md") || fail "reproduce on 2 ranks reports differently"
echo "mpi test passed"
