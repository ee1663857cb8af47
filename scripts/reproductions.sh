#!/usr/bin/env bash
# Regenerates docs/reproductions/: a `quick` run of each claim (its report
# and plots, written by `metagrad reproduce`, never edited by hand) and the
# summary table docs/reproductions/README.md (claim, verdict, deciding
# numbers, compute time on this machine).
# CIFAR-10 comes from MG_CIFAR_DIR, else from the default data folder
# (`metagrad data fetch cifar10`); the committed quick reports used the
# 5,085-image slice the project's machines keep beside the repository
# (MG_CIFAR_DIR=../shared/data/cifar-10-subset).
# Usage: [MG_CIFAR_DIR=DIR] scripts/reproductions.sh [--budget quick|full] [--threads N] [CLAIM...]
set -euo pipefail
cd "$(dirname "$0")/.."
budget=quick threads=2 claims=()
while [ $# -gt 0 ]; do
  case $1 in
    --budget) budget=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
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
for claim in "${claims[@]}"; do
  "$metagrad" reproduce "$claim" --budget "$budget" --threads "$threads" "${data_dir[@]}" --out "$out/$claim"
done

{
  echo "# Reproductions of the papers' claims"
  echo
  echo "Each page is written by \`metagrad reproduce CLAIM --budget quick\` on this project's 2-core machine"
  echo "(\`scripts/reproductions.sh\` regenerates all of them). A claim that does not reproduce is a result."
  echo
  echo "| claim | paper | verdict | deciding numbers | compute time |"
  echo "|---|---|---|---|---|"
  "$metagrad" reproduce --list | while read -r name rest; do
    report=$out/$name/report.md
    [ -f "$report" ] || continue
    verdict=$(grep '^verdict: ' "$report" | tail -1 | sed 's/^verdict: //')
    outcome=${verdict%% (*} numbers=${verdict#* (}
    paper=$(grep '^\*\*Paper:\*\*' "$report" | sed 's/^\*\*Paper:\*\* //; s/\.$//')
    minutes=$(sed -n 's/^Runs: [0-9]*, computed in \([0-9.]*\) minutes.*/\1 min/p' "$report")
    echo "| [$name]($name/report.md) | $paper | **$outcome** | ${numbers%)} | $minutes |"
  done
} >"$out/README.md"
echo "wrote $out/README.md"
