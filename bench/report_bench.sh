#!/usr/bin/env bash
# Reports at scale (target: a report over 50 markets × 100,000
# customers generated from the store in ≤ 10 s).
#   bench/report_bench.sh [MARKETS] [CUSTOMERS]        (default 50 100000)
# Generates MARKETS countries × CUSTOMERS customers for oncology (once, into
# $BENCH_DIR, default /tmp/harmonia-report-bench-M-N), imports them into a
# fresh SQLite store, publishes oncology, runs one cycle per market (two at a
# time, each writing its quality figures), a second cycle of the first market
# (churn), and then times the report in each output: tables, --json and
# --html, over every market, and one market's report with its history.
# Wall times and peak RSS from /usr/bin/time.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
markets=${1:-50}
customers=${2:-100000}
dir=${BENCH_DIR:-/tmp/harmonia-report-bench-$markets-$customers}
harmonia=$PWD/build/cli/harmonia
scripts/build.sh default >/dev/null

((markets <= ${#BENCH_MARKETS[@]})) || { echo "at most ${#BENCH_MARKETS[@]} markets" >&2; exit 2; }
codes=("${BENCH_MARKETS[@]:0:markets}")
list=$(IFS=,; echo "${codes[*]}")

if [[ ! -f $dir/metrics.csv ]]; then
  echo "generating $markets × $customers customers into $dir"
  /usr/bin/time -f "  gen: %e s, %M KB" "$harmonia" gen --rules rules/oncology.yaml \
    --countries "$list" --customers "$customers" --seed 7 --as-of 2026-11-01 --out "$dir"
fi

work=$(mktemp -d /tmp/harmonia-report-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
write_country_files "$work/countries" "${codes[@]}"
store="sqlite:$work/h.db"
timed() {  # the figures go to stdout even when the command's stderr is discarded
  local what=$1; shift
  /usr/bin/time -o "$work/time" -f "  $what: %e s, peak RSS %M KB" "$@"
  cat "$work/time"
}
timed "import" "$harmonia" import --quiet --store "$store" "$dir" >/dev/null
"$harmonia" rules publish --store "$store" rules/oncology.yaml >/dev/null
start=$(date +%s.%N)
for ((i = 0; i < markets; i += 2)); do
  for cc in "${codes[@]:i:2}"; do
    "$harmonia" cycle run --store "$store" --country "$cc" --ta oncology \
      --countries "$work/countries" --as-of 2026-11-01 --threads 1 >/dev/null 2>&1 &
  done
  wait
done
echo "  $markets cycles (2 at a time): $(echo "$(date +%s.%N) - $start" | bc) s"
timed "second cycle of ${codes[0]}" "$harmonia" cycle run --store "$store" --country "${codes[0]}" \
  --ta oncology --countries "$work/countries" --as-of 2026-11-15 >/dev/null 2>&1
echo "  store: $(du -h "$work/h.db" | cut -f1)"
for run in 1 2 3; do
  timed "report, $markets markets, tables (run $run)" "$harmonia" report --store "$store" \
    --ta oncology > "$work/report.txt"
done
timed "report --json" "$harmonia" report --store "$store" --ta oncology --json > "$work/report.json"
timed "report --html" "$harmonia" report --store "$store" --ta oncology --html "$work/report.html"
timed "report --country ${codes[0]} (history)" "$harmonia" report --store "$store" --ta oncology \
  --country "${codes[0]}" > /dev/null
echo "  report sizes: $(wc -c < "$work/report.txt") B text, $(wc -c < "$work/report.json") B JSON, $(wc -c < "$work/report.html") B HTML"
echo "  warnings:"; sed -n '/^Warnings/,/^$/p' "$work/report.txt" | sed 1d | sed 's/^/  /'
