#!/usr/bin/env bash
# The main job, offline: validate the shipped rule sets and country files,
# generate a realistic data set for three markets, run every (country,
# therapy area) cycle with field refinements, then a month-later refresh with
# pull-through, and print what happened. Outputs land in demo-out/.
#   scripts/demo.sh [CUSTOMERS_PER_COUNTRY]   (default 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${1:-20000}
countries=(DE FR JP)
out=demo-out
harmonia=build/cli/harmonia

echo "== building (scripts/build.sh)"
scripts/build.sh default >/dev/null
rm -rf "$out"
mkdir -p "$out/cycle1" "$out/cycle2"

echo "== validating rule sets and country files"
"$harmonia" rules validate rules/*.yaml
for cc in "${countries[@]}"; do "$harmonia" countries validate "countries/$cc.yaml"; done

echo "== generating ${customers} customers per market for ${countries[*]}"
"$harmonia" gen --rules rules --countries "$(IFS=,; echo "${countries[*]}")" \
  --customers "$customers" --seed 42 --as-of 2026-11-01 --out "$out/data"

# Therapy areas a country file configures: the keys under `therapy_areas:`.
therapy_areas() {
  awk '/^therapy_areas:/{on=1; next} /^[^ #]/{on=0} on && /^  [a-z_]+:/{sub(/:.*/, ""); gsub(/ /, ""); print}' "$1"
}

segment_shares() {  # assignments.csv → "segment share%" pairs
  awk -F, 'NR>1 {n++; c[$4==""?"(conflict)":$4]++} END {for (s in c) printf "%s %.1f%%\n", s, 100*c[s]/n}' "$1" |
    sort -k2 -nr | tr '\n' ';' | sed 's/;$//; s/;/, /g'
}

# Each country's field teams submit their own refinements (request ids carry
# the country: REQ-DE-000001).
for cc in "${countries[@]}"; do
  awk -F, -v p="REQ-$cc-" 'NR == 1 || index($1, p) == 1' "$out/data/refinements.csv" \
    >"$out/data/refinements-$cc.csv"
done

run_cycle() {  # cycle country ta as_of extra-args…
  local cycle=$1 cc=$2 ta=$3 as_of=$4
  shift 4
  "$harmonia" evaluate --rules "rules/$ta.yaml" --country "countries/$cc.yaml" \
    --data "$out/data" --as-of "$as_of" --out "$out/$cycle/$cc-$ta.csv" --quiet "$@" \
    2>"$out/$cycle/$cc-$ta.log"
}

echo
echo "== cycle 1 (as of 2026-11-01), with the field teams' refinements"
printf '%-3s %-11s %9s  %-60s %s\n' CC TA customers "decided by" "refinements"
for cc in "${countries[@]}"; do
  for ta in $(therapy_areas "countries/$cc.yaml"); do
    run_cycle cycle1 "$cc" "$ta" 2026-11-01 --refinements "$out/data/refinements-$cc.csv"
    log="$out/cycle1/$cc-$ta.log"
    n=$(grep -o '[0-9]* customers in scope' "$log" | cut -d' ' -f1)
    decided=$(grep 'decided by:' "$log" | sed 's/.*decided by: //; s/pull_through/pt/')
    refs=$(grep 'refinements:' "$log" | sed 's/.*refinements: //; s/ (quota.*//; s/ superseded/ sup./')
    printf '%-3s %-11s %9s  %-60s %s\n' "$cc" "$ta" "$n" "$decided" "$refs"
    echo "    segments: $(segment_shares "$out/cycle1/$cc-$ta.csv")"
  done
done

echo
echo "== cycle 2 (as of 2026-12-01), same data: pull-through keeps unchanged customers"
for cc in "${countries[@]}"; do
  for ta in $(therapy_areas "countries/$cc.yaml"); do
    run_cycle cycle2 "$cc" "$ta" 2026-12-01 --previous "$out/cycle1/$cc-$ta.csv"
    decided=$(grep 'decided by:' "$out/cycle2/$cc-$ta.log" | sed 's/.*decided by: //')
    printf '%-3s %-11s %s\n' "$cc" "$ta" "$decided"
  done
done

echo
echo "== refinements the DE field teams see rejected (first three)"
"$harmonia" evaluate --rules rules/oncology.yaml --country countries/DE.yaml --data "$out/data" \
  --as-of 2026-11-01 --refinements "$out/data/refinements-DE.csv" --out "$out/scratch.csv" 2>&1 |
  grep 'refinement rejected' | head -n 3 | sed 's/^/  /'

echo "== engine throughput on the DE oncology batch (one thread)"
"$harmonia" evaluate --rules rules/oncology.yaml --country countries/DE.yaml --data "$out/data" \
  --as-of 2026-11-01 --out "$out/scratch.csv" --quiet --threads 1 --repeat 200 2>&1 | grep '^engine:'

echo
echo "demo: done. Assignments in $out/cycle1 and $out/cycle2, logs beside them, data in $out/data."
