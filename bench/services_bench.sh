#!/usr/bin/env bash
# The services under load (targets: refinement submission ≥ 20,000
# refinements/s in batches of 500, and unary get-assignment p99 ≤ 5 ms at 50
# concurrent clients, on loopback with a SQLite store).
#   bench/services_bench.sh [CUSTOMERS]        (default 100000)
# Generates a DE market (once, into $BENCH_DIR, default
# /tmp/harmonia-services-bench-N), imports it into a fresh worker store,
# starts harmonia-rules and harmonia-worker on loopback, publishes
# rules/oncology.yaml, runs a cycle, then runs bench/harmonia_load.cc:
#   refine          2 clients, batches of 500, 10 s, 10,000 customers in quota
#   get-assignment  50 clients, one connection each, one customer per call, 10 s
# and prints its JSON lines. Everything is stopped and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
customers=${1:-100000}
dir=${BENCH_DIR:-/tmp/harmonia-services-bench-$customers}
scripts/build.sh default >/dev/null
build=$PWD/build
harmonia=$build/cli/harmonia

gen_de_market "$dir" "$customers"

bench_workdir services
{
  token_entry ops global_ops
  token_entry field field:DE
  token_entry olaf country_ops:DE
  token_entry worker service
} > "$work/tokens.yaml"
mkdir "$work/countries"
grep -v '^schedule:' tests/golden/DE.yaml > "$work/countries/DE.yaml"

start=$(date +%s.%N)
"$harmonia" import --quiet --store "sqlite:$work/worker.db" "$dir" >/dev/null
echo "import: $(echo "$(date +%s.%N) - $start" | bc) s" >&2

"$build/services/harmonia-rules" --listen 127.0.0.1:0 --store "sqlite:$work/rules.db" \
  --tokens "$work/tokens.yaml" 2>"$work/rules.log" &
pids+=($!)
rules=$(listening "$work/rules.log")
HARMONIA_RULES_TOKEN=worker-token "$build/services/harmonia-worker" --listen 127.0.0.1:0 \
  --store "sqlite:$work/worker.db" --rules-server "$rules" --countries DE \
  --countries-dir "$work/countries" --tokens "$work/tokens.yaml" --scheduler=false \
  2>"$work/worker.log" &
pids+=($!)
worker=$(listening "$work/worker.log")
"$harmonia" rules publish --server "$rules" --token ops-token rules/oncology.yaml >/dev/null
wait_serving "$work/worker.log"
HARMONIA_TOKEN=olaf-token "$harmonia" cycle run --server "$worker" --country DE --ta oncology \
  --as-of 2026-11-01 >&2

awk -F, 'NR > 1 && ($3 == "specialist" || $3 == "pcp") {print $1}' "$dir/customers.csv" \
  > "$work/in_scope.txt"
head -n 10000 "$work/in_scope.txt" > "$work/refine_ids.txt"
load=$build/bench/harmonia-load
"$load" refine --server "$worker" --token field-token --customers "$work/refine_ids.txt" \
  --batch 500 --clients 2 --seconds 10
"$load" get-assignment --server "$worker" --token field-token \
  --customers "$work/in_scope.txt" --clients 50 --channels "${CHANNELS:-50}" --seconds 10
