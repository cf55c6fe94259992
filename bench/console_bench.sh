#!/usr/bin/env bash
# The console under load (targets: first meaningful paint of "my customers"
# ≤ 1 s; API p99 ≤ 20 ms at 50 concurrent sessions reading pages of
# customers), on a 100,000-customer country on loopback with a SQLite store.
#   bench/console_bench.sh [CUSTOMERS]        (default 100000)
# Generates a DE market (once, into $BENCH_DIR, default
# /tmp/harmonia-console-bench-N) with 50 territories of equal size, rep01 …
# rep50 one each; imports it, starts harmonia-rules, harmonia-worker and
# harmonia-console, publishes the three rule sets (DE runs all), runs an oncology cycle, then:
#   paint   bench/console_paint.mjs: rep01 opens "my customers" in Chromium
#   load    bench/console_load.cc: 50 sessions (rep01 … rep50) reading pages
#           of their customers (a search every tenth call) for 20 s, first
#           with 0.5–1.5 s between pages (people reading), then with none
# and prints their JSON lines. Everything is stopped and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
customers=${1:-100000}
dir=${BENCH_DIR:-/tmp/harmonia-console-bench-$customers}
scripts/build.sh default >/dev/null
build=$PWD/build
harmonia=$build/cli/harmonia

gen_de_market "$dir" "$customers"
if [[ ! -f $dir/territories.csv ]]; then
  awk -F, 'NR == 1 {print "customer_id,territory,rep"; next}
           {t = n++ % 50 + 1; printf "%s,DE-%02d,rep%02d\n", $1, t, t}' \
    "$dir/customers.csv" > "$dir/territories.csv"
fi

bench_workdir console
{
  token_entry ops global_ops
  token_entry olaf country_ops:DE
  token_entry worker service
  for k in $(seq -w 1 50); do
    token_entry "rep$k" field:DE
    echo "rep$k-token" >> "$work/rep-tokens"
  done
} > "$work/tokens.yaml"
printf worker-token > "$work/worker.token"
mkdir "$work/countries"
grep -v '^schedule:' countries/DE.yaml | sed 's/requires_approval: false/requires_approval: true/' \
  > "$work/countries/DE.yaml"
store=sqlite:$work/harmonia.db
"$harmonia" import --quiet --store "$store" "$dir" >/dev/null

"$build/services/harmonia-rules" --listen 127.0.0.1:0 --store "$store" \
  --tokens "$work/tokens.yaml" 2>"$work/rules.log" &
pids+=($!)
rules=$(listening "$work/rules.log")
"$harmonia" rules publish --server "$rules" --token ops-token rules/oncology.yaml \
  rules/diabetes.yaml rules/immunology.yaml >/dev/null  # every rule set DE's file names
"$build/services/harmonia-worker" --listen 127.0.0.1:0 --store "$store" --rules-server "$rules" \
  --rules-token-file "$work/worker.token" --countries DE --countries-dir "$work/countries" \
  --tokens "$work/tokens.yaml" --scheduler=false 2>"$work/worker.log" &
pids+=($!)
worker=$(listening "$work/worker.log")
wait_serving "$work/worker.log"
"$harmonia" cycle run --server "$worker" --country DE --ta oncology --token olaf-token >/dev/null
"$build/console/harmonia-console" --listen 127.0.0.1:0 --rules-server "$rules" \
  --workers "DE=$worker" 2>"$work/console.log" &
pids+=($!)
console=$(listening "$work/console.log")
echo "console on $console, $customers customers, 50 territories of $((customers / 50))" >&2

if [[ -n ${HOLD:-} ]]; then  # keep it running for a closer look (Ctrl-C ends it)
  echo "HOLD: console http://$console worker $worker; tokens rep01-token … rep50-token" >&2
  sleep infinity
fi
echo -n "paint "
CONSOLE_URL=http://$console WEB_MODULES=$build/web/node_modules TOKEN=rep01-token \
  node bench/console_paint.mjs
# People read a page before the next: 50 sessions with a second's thought
# (0.5–1.5 s) between pages; then the same 50 with none, as fast as the
# console answers (its throughput, and what queueing does to the latency).
for think in 1000 0; do
  echo -n "load  "
  "$build/bench/console_load" --console "$console" --tokens "$work/rep-tokens" --sessions 50 \
    --seconds "${SECONDS_OF_LOAD:-20}" --think_ms "$think"
done
