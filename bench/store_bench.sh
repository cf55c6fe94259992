#!/usr/bin/env bash
# The store end to end on a generated data set (targets, 1M
# customers ≈ 12–14M input rows: import ≤ 60 s on SQLite and ≤ 90 s on
# PostgreSQL; a full cycle ≤ 20 s on SQLite and ≤ 30 s on PostgreSQL).
#   bench/store_bench.sh sqlite|postgresql [CUSTOMERS]     (default 1000000)
# Steps, each timed: import into a fresh store, publish, a first cycle, a
# second cycle with the data set's refinements.csv (pull-through reads the
# first), export, and the same import again (nothing changes); then a
# quarter of CRM activities (gen --follow-up from cycle 2's directives), its
# import, and the next period's cycle, which sums them for its "did it work"
# figures.
# PostgreSQL: a throwaway PostgreSQL 15 server is started in a temp folder
# (as the system user harmonia-pg when run as root) and stopped at the end.
# Its configuration is PostgreSQL's stock one (shared_buffers 128MB, fsync,
# synchronous_commit and full_page_writes on) but for max_wal_size = 1GB
# (bench/lib.sh);
# PG_SETTINGS="-c name=value …" adds or overrides settings. The data set is generated once into
# $BENCH_DIR (default /tmp/harmonia-bench-N).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
backend=${1:?usage: bench/store_bench.sh sqlite|postgresql [CUSTOMERS]}
customers=${2:-1000000}
dir=${BENCH_DIR:-/tmp/harmonia-bench-$customers}
harmonia=$PWD/build/cli/harmonia
scripts/build.sh default >/dev/null

if [[ ! -f $dir/metrics.csv ]]; then
  echo "generating $customers customers into $dir"
  "$harmonia" gen --rules rules/oncology.yaml --countries DE --customers "$customers" \
    --seed 7 --out "$dir"
fi

bench_workdir store

case $backend in
  sqlite)
    url=sqlite:$work/store.db
    ;;
  postgresql)
    start_postgres "$work" bench
    url=$PG_URL
    ;;
  *)
    echo "unknown backend '$backend': expected sqlite or postgresql" >&2
    exit 2
    ;;
esac

answers=$(($(wc -l < "$dir/answers.csv") - 1))
metrics=$(($(wc -l < "$dir/metrics.csv") - 1))
echo "store bench on $backend: $customers customers, $((answers + metrics)) input rows"

timed() {
  local label=$1
  shift
  /usr/bin/time -f "$label: %e s wall, %U s user, %S s sys, %M KB peak RSS (client)" "$@" \
    2>"$work/step.err" >/dev/null || { cat "$work/step.err" >&2; exit 1; }
  grep -E "^(  (customers|answers|metrics)\.csv|cycle [0-9]+ committed|  refinements:|$label)" "$work/step.err"
}
cycle=(cycle run --store "$url" --country DE --ta oncology --as-of 2026-11-01)
timed import "$harmonia" import --quiet --store "$url" "$dir"
"$harmonia" rules publish --store "$url" rules/oncology.yaml >/dev/null
timed "cycle 1" "$harmonia" "${cycle[@]}"
timed "cycle 2 with refinements" "$harmonia" "${cycle[@]}" --refinements "$dir/refinements.csv"
timed export "$harmonia" export --store "$url" --country DE --ta oncology --out "$work/export.csv"
timed "import again" "$harmonia" import --quiet --store "$url" "$dir"
# Did it work: a quarter of CRM activities after cycle 2's plan, imported,
# and the next period's cycle, whose figures compare the two.
"$harmonia" export --store "$url" --country DE --ta oncology --format directives \
  --out "$work/plan.csv" 2>/dev/null
timed "gen --follow-up" "$harmonia" gen --follow-up "$work/plan.csv" --until 2027-02-01 \
  --data "$dir" --rules rules/oncology.yaml --out "$work/after"
echo "  activities.csv: $(($(wc -l < "$work/after/activities.csv") - 1)) rows"
timed "import activities" "$harmonia" import --quiet --store "$url" "$work/after"
grep -E "^  activities\.csv" "$work/step.err" || true
timed "cycle 3, the next period, with the follow-up figures" "$harmonia" cycle run --store "$url" \
  --country DE --ta oncology --as-of 2027-02-01
