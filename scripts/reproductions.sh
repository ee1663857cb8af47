#!/usr/bin/env bash
# Regenerates docs/reproductions/: a `quick` run of each claim (its report
# and plots, written by `metagrad reproduce`, never edited by hand) and the
# summary table docs/reproductions/README.md (claim, verdict, deciding
# numbers, compute time on this machine).
# CIFAR-10 comes from MG_CIFAR_DIR, else from the default data folder
# (`metagrad data fetch cifar10`); the committed quick reports used the
# 5,085-image slice the project's machines keep beside the repository
# (MG_CIFAR_DIR=../shared/data/cifar-10-subset).
# A full-budget run goes to CLAIM-full/ (hours: Ctrl-C stops it, and the
# same command continues it). --table only writes the table again.
# Usage: [MG_CIFAR_DIR=DIR] scripts/reproductions.sh [--budget quick|full] [--threads N] [--table] [CLAIM...]
set -euo pipefail
cd "$(dirname "$0")/.."
budget=quick threads=2 table_only=false claims=()
while [ $# -gt 0 ]; do
  case $1 in
    --budget) budget=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --table) table_only=true; shift ;;
    *) claims+=("$1"); shift ;;
  esac
done
metagrad=build/apps/metagrad
data_dir=()
[ -n "${MG_CIFAR_DIR:-}" ] && data_dir=(--data-dir "$MG_CIFAR_DIR")
[ -x "$metagrad" ] || { echo "build first (scripts/test.sh)" >&2; exit 1; }
[ ${#claims[@]} -gt 0 ] || mapfile -t claims < <("$metagrad" reproduce --list | cut -d' ' -f1)
out=docs/reproductions
mkdir -p "$out"
$table_only || for claim in "${claims[@]}"; do
  dir=$claim
  [ "$budget" = full ] && dir=$claim-full
  "$metagrad" reproduce "$claim" --budget "$budget" --threads "$threads" "${data_dir[@]}" --out "$out/$dir"
done

# One row per report: the quick run in CLAIM/, the specification's full
# budget in CLAIM-full/ (its README's "Compute time:" line, when it has one,
# gives the time of a run done in several stints; a run still in progress has
# a README and no report yet).
row() {  # row NAME DIR BUDGET
  local report=$out/$2/report.md readme=$out/$2/README.md
  if [ ! -f "$report" ]; then
    [ -f "$readme" ] && echo "| [$1]($2/README.md) | | $3 | *in progress* | | |"
    return 0
  fi
  local verdict outcome numbers paper time
  verdict=$(grep '^verdict: ' "$report" | tail -1 | sed 's/^verdict: //')
  outcome=${verdict%% (*} numbers=${verdict#* (}
  paper=$(grep '^\*\*Paper:\*\*' "$report" | sed 's/^\*\*Paper:\*\* //; s/\.$//')
  time=$(sed -n 's/^Runs: [0-9]*, computed in \([0-9.]*\) minutes.*/\1 min/p' "$report")
  [ -f "$readme" ] && grep -q '^Compute time: ' "$readme" && time=$(sed -n 's/^Compute time: //p' "$readme")
  echo "| [$1]($2/report.md) | $paper | $3 | **$outcome** | ${numbers%)} | $time |"
}

# The page's text above the table is written by hand (the protocols of
# paper 2 among it) and kept; the table is written anew.
preamble=$(sed '/^| claim | paper | budget |/,$d' "$out/README.md")
{
  printf '%s\n\n' "$preamble"
  echo "| claim | paper | budget | verdict | deciding numbers | compute time |"
  echo "|---|---|---|---|---|---|"
  "$metagrad" reproduce --list | while read -r name rest; do
    row "$name" "$name" quick
    row "$name" "$name-full" full
    row "$name" "$name-code-full" "full, protocol code"
  done
} >"$out/README.md.tmp"
mv "$out/README.md.tmp" "$out/README.md"
echo "wrote $out/README.md"
