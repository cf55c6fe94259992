#!/usr/bin/env bash
# Scale run (target: 50 markets × 100,000 customers on PostgreSQL,
# every market refreshed through its worker in ≤ 10 minutes on 2 cores, each
# worker ≤ 1 GB RSS).
#   bench/scale_bench.sh [MARKETS] [CUSTOMERS] [PARALLEL]     (default 50 100000 2)
# Steps: generate the markets (once, into $BENCH_DIR, shared with
# bench/report_bench.sh), start a throwaway PostgreSQL 15 server (as the user
# harmonia-pg when run as root; stock settings but max_wal_size = 1GB),
# import, start harmonia-rules and one harmonia-worker per market (every
# process on this host, all on the one PostgreSQL), publish oncology, then
# refresh every market with `harmonia cycle run --server` PARALLEL at a time,
# and build the cross-market report. Prints wall times, throughput, the
# cycles' own times from the workers' logs and every daemon's peak RSS
# (VmHWM).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
markets=${1:-50}
customers=${2:-100000}
parallel=${3:-2}
dir=${BENCH_DIR:-/tmp/harmonia-report-bench-$markets-$customers}
bin=$PWD/build
harmonia=$bin/cli/harmonia
scripts/build.sh default >/dev/null

((markets <= ${#BENCH_MARKETS[@]})) || { echo "at most ${#BENCH_MARKETS[@]} markets" >&2; exit 2; }
codes=("${BENCH_MARKETS[@]:0:markets}")
if [[ ! -f $dir/metrics.csv ]]; then
  "$harmonia" gen --rules rules/oncology.yaml --countries "$(IFS=,; echo "${codes[*]}")" \
    --customers "$customers" --seed 7 --as-of 2026-11-01 --out "$dir" >/dev/null
fi

bench_workdir scale
start_postgres "$work" scale
store=$PG_URL
echo "scale run: $markets markets × $customers customers on PostgreSQL 15, $parallel cycles at a time"

/usr/bin/time -o "$work/t" -f "%e s, %M KB" "$harmonia" import --quiet --store "$store" "$dir" \
  > "$work/import.out" 2>&1
rows=$(grep -oE '^  (answers|metrics)\.csv: [0-9]+' "$work/import.out" | awk '{s += $2} END {print s}')
echo "  import: $(cat "$work/t") peak RSS; $((markets * customers)) customers, $rows input rows"

mkdir -p "$work/logs"
write_country_files "$work/countries" "${codes[@]}"
{
  token_entry ops global_ops
  token_entry worker service
  for cc in "${codes[@]}"; do token_entry "ops-$cc" "country_ops:$cc"; done
} > "$work/tokens.yaml"
printf %s worker-token > "$work/worker.token"

"$bin/services/harmonia-rules" --listen 127.0.0.1:0 --store "$store" --tokens "$work/tokens.yaml" \
  2> "$work/logs/rules.log" &
pids+=($!)
rules=$(listening "$work/logs/rules.log")
declare -A worker worker_pid
for cc in "${codes[@]}"; do
  "$bin/services/harmonia-worker" --listen 127.0.0.1:0 --store "$store" --rules-server "$rules" \
    --rules-token-file "$work/worker.token" --countries "$cc" --countries-dir "$work/countries" \
    --tokens "$work/tokens.yaml" --scheduler=false --store-connections 2 --cycle-threads 1 \
    2> "$work/logs/worker-$cc.log" &
  pids+=($!)
  worker_pid[$cc]=$!
  worker[$cc]=$(listening "$work/logs/worker-$cc.log")
done
HARMONIA_TOKEN=ops-token "$harmonia" rules publish --server "$rules" rules/oncology.yaml >/dev/null
for cc in "${codes[@]}"; do
  HARMONIA_TOKEN=x "$harmonia" health --server "${worker[$cc]}" \
    --service harmonia.v1.CountryService --wait 120 >/dev/null
done
echo "  rules service + $markets workers serving"

cat > "$work/refresh-one" <<SH
#!/bin/sh
# refresh-one CC ADDR: one market's cycle through its worker
HARMONIA_TOKEN=ops-\$1-token "$harmonia" cycle run --server "\$2" --country "\$1" --ta oncology \\
  --as-of 2026-11-01 > /dev/null 2>> "$work/logs/cli.err" || echo "cycle of \$1 failed" >> "$work/logs/cli.err"
SH
chmod +x "$work/refresh-one"
start=$(date +%s.%N)
for cc in "${codes[@]}"; do echo "$cc ${worker[$cc]}"; done | xargs -P "$parallel" -n 2 "$work/refresh-one"
end=$(date +%s.%N)
wall=$(echo "$end - $start" | bc)
committed=$(cat "$work"/logs/worker-*.log | grep -c '"event":"cycle_committed"' || true)
assigned=$(cat "$work"/logs/worker-*.log | grep -o '"event":"cycle_committed".*"customers":[0-9]*' |
  grep -oE '"customers":[0-9]+' | cut -d: -f2 | awk '{s += $1} END {print s}')
echo "  refresh: $committed of $markets markets committed in $wall s ($(echo "$assigned / $wall" | bc) customers in scope/s, $assigned assignments)"
cat "$work"/logs/worker-*.log | grep -oE '"seconds":[0-9.]+' | cut -d: -f2 | sort -n |
  awk '{a[NR] = $1; s += $1} END {printf "  cycle time per market (worker log): min %.1f s, median %.1f s, max %.1f s, mean %.1f s\n", a[1], a[int((NR + 1) / 2)], a[NR], s / NR}'
max_rss=0 max_cc=""
for cc in "${codes[@]}"; do
  rss=$(awk '/VmHWM/ {print $2}' "/proc/${worker_pid[$cc]}/status")
  if ((rss > max_rss)); then max_rss=$rss; max_cc=$cc; fi
  echo "$rss" >> "$work/rss"
done
echo "  worker peak RSS (VmHWM): max $((max_rss / 1024)) MB ($max_cc), median $(($(sort -n "$work/rss" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}') / 1024)) MB"
echo "  rules service peak RSS: $(($(awk '/VmHWM/ {print $2}' "/proc/${pids[0]}/status") / 1024)) MB"
/usr/bin/time -o "$work/t" -f "%e s, %M KB" "$harmonia" report --store "$store" --ta oncology \
  > "$work/report.txt"
echo "  report over $markets markets: $(cat "$work/t") peak RSS"
echo "  store size: $("${AS_PG[@]}" "$PG_BIN/psql" "$PG_URL" -Atc "SELECT pg_size_pretty(pg_database_size('scale'))")"
if [[ -s $work/logs/cli.err ]]; then echo "  cycle errors:"; sed 's/^/    /' "$work/logs/cli.err" | head; fi
