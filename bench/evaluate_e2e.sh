#!/usr/bin/env bash
# `harmonia evaluate` end to end on a generated data set (target:
# 1M customers, ≈14M input rows, ≤ 8 s wall, ≤ 1.5 GB peak memory on 2 cores).
#   bench/evaluate_e2e.sh [CUSTOMERS]        (default 1000000)
# The data set is generated once into $BENCH_DIR (default /tmp/harmonia-bench-N).
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${1:-1000000}
dir=${BENCH_DIR:-/tmp/harmonia-bench-$customers}
harmonia=build/cli/harmonia
scripts/build.sh default >/dev/null

if [[ ! -f $dir/metrics.csv ]]; then
  echo "generating $customers customers into $dir"
  /usr/bin/time -f "gen: %e s wall, %M KB peak" \
    "$harmonia" gen --rules rules/oncology.yaml --countries DE --customers "$customers" \
    --seed 7 --out "$dir"
fi
answers=$(($(wc -l < "$dir/answers.csv") - 1))
metrics=$(($(wc -l < "$dir/metrics.csv") - 1))
echo "data: $customers customers, $answers answers + $metrics metrics = $((answers + metrics)) input rows," \
  "$(du -sh "$dir" | cut -f1) on disk"

for run in 1 2 3; do
  /usr/bin/time -f "evaluate run $run: %e s wall, %U s user, %S s sys, %M KB peak RSS" \
    "$harmonia" evaluate --rules rules/oncology.yaml --country countries/DE.yaml --data "$dir" \
    --as-of 2026-11-01 --refinements "$dir/refinements.csv" --out "$dir/assignments.csv" \
    --quiet 2>&1 | grep -E '^(evaluate run|  load)'
done

echo "engine alone, one thread:"
"$harmonia" evaluate --rules rules/oncology.yaml --country countries/DE.yaml --data "$dir" \
  --as-of 2026-11-01 --out "$dir/assignments.csv" --quiet --threads 1 --repeat 20 2>&1 |
  grep '^engine:'
