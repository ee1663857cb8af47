#!/usr/bin/env bash
# examples/data_parallel (tutorial 5) on two ranks ends where one process
# does: the ranks train the one-process model, up to the order of float sums,
# which leaves the printed test loss within 1e-3 (in practice, every digit).
# Usage: data_parallel_test.sh path/to/data_parallel path/to/mpirun
set -euo pipefail
program=$1 mpirun=$2
one=$("$program" --threads 1 | tee /dev/stderr | grep '^final test loss')
two=$("$mpirun" --oversubscribe --allow-run-as-root -np 2 "$program" --threads 1 | tee /dev/stderr |
  grep '^final test loss')
echo "1 process: $one; 2 ranks: $two"
awk -v a="${one##* }" -v b="${two##* }" 'BEGIN { d = a - b; exit !(d < 1e-3 && d > -1e-3) }' ||
  { echo "two ranks ended elsewhere than one process"; exit 1; }
