#!/usr/bin/env bash
# The README's main command, small: scripts/demo.sh on 2,000 customers per
# market with the binaries of this build. Checks what a user should see.
#   tests/demo_test.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d /tmp/harmonia-demo-test-XXXXXX)
trap 'rm -rf "$out"' EXIT
log=$out/demo.log
scripts/demo.sh --bin "$1" --customers 2000 --out "$out/run" --stop >"$log" 2>&1 || {
  cat "$log"; echo "demo_test: the demo failed" >&2; exit 1; }
for expected in \
  "rules/oncology.yaml: published oncology v3" \
  "not a customer of DE" \
  "refine submit: 5 sent: 3 accepted, 2 rejected" \
  "PERMISSION_DENIED: principal 'anna'" \
  "DE oncology: 3 customers carry a field refinement" \
  "DE oncology: eta-squared" \
  "report: $out/run/report-oncology.html" \
  "console: http://127.0.0.1:" \
  "sign in as a field rep (anna, DE-North) with the token" \
  "all processes stopped cleanly"; do
  grep -qF "$expected" "$log" || { cat "$log"; echo "demo_test: missing: $expected" >&2; exit 1; }
done
for f in DE-oncology DE-diabetes DE-immunology FR-oncology FR-immunology ES-oncology ES-immunology; do
  [[ -s $out/run/export/assignments-$f.csv ]] || { echo "demo_test: no export for $f" >&2; exit 1; }
done
# Every market and therapy area profiles most customers: unprofiled <= 15%
# in the summary's UNPROFILED column (docs/country-options.md).
awk '/^== per-country summary/ {s = 1; next} /^==/ {s = 0}
     s && $1 ~ /^(DE|FR|ES)$/ && $5 ~ /%$/ {n++; u = $5; sub(/%/, "", u); if (u + 0 > 15) bad = bad " " $1 "/" $2 "=" $5}
     END {if (n != 7 || bad != "") {print "demo_test: unprofiled share above 15% or rows missing (" n " rows):" bad; exit 1}}' \
  "$log" || { cat "$log"; exit 1; }
grep -q 'class="chart-share"' "$out/run/report-oncology.html" ||
  { echo "demo_test: the report has no share chart" >&2; exit 1; }
echo "demo_test: ok"
