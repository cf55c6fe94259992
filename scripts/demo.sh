#!/usr/bin/env bash
# The Harmonia demo — the README's main command:
#
#   scripts/demo.sh [--customers N] [--out DIR] [--bin DIR] [--stop]
#
# Builds if needed (scripts/build.sh), generates a market for DE, FR and ES
# and imports them into one harmonized store (SQLite, WAL), starts the central
# rules service and one country worker per market as separate processes on
# loopback, all on that store, publishes
# the rule sets as global ops, submits refinements as a German field rep (one
# of them for a French customer, which DE refuses), runs every market's
# cycles through its worker, prints a per-country summary, exports each
# cycle's assignments.csv, then starts the web console (harmonia-console) and
# prints its address and demo sign-ins. On a terminal it keeps running until
# Ctrl-C; otherwise (or with --stop) it stops everything with SIGTERM.
#
# --customers N   customers per country (default 20000)
# --out DIR       where the stores, logs and CSVs go (default /tmp/harmonia-demo;
#                 emptied first)
# --bin DIR       use the binaries in DIR/cli, DIR/services, DIR/console
#                 (default: build with scripts/build.sh and use build/)
# --stop          stop at the end even on a terminal
#
# The demo runs cycles on demand, so its copies of countries/*.yaml leave out
# `schedule:` (a scheduled market takes refinements only in the first
# window_days of each cycle period; docs/api.md).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
customers=20000
out=/tmp/harmonia-demo
bin=""
stop=false
[[ -t 0 && -t 1 ]] || stop=true  # not on a terminal: nobody to use the console
while [[ $# -gt 0 ]]; do
  case $1 in
    --customers) customers=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --stop) stop=true; shift ;;
    *) echo "usage: scripts/demo.sh [--customers N] [--out DIR] [--bin DIR] [--stop]" >&2; exit 2 ;;
  esac
done
if [[ -z $bin ]]; then
  echo "== building (scripts/build.sh)"
  scripts/build.sh default >/dev/null
  bin=$root/build
fi
harmonia=$bin/cli/harmonia
countries=(DE FR ES)
today=$(date -u +%F)

rm -rf "$out"
mkdir -p "$out"/{data,countries,logs,export}
pids=()
stop_all() {  # SIGTERM everything still running; their exit codes must be 0
  local failed=0
  for p in "${pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p"
      wait "$p" || failed=1
    fi
  done
  pids=()
  return $failed
}
trap 'stop_all || true' EXIT

echo "== generating $customers customers for each of ${countries[*]} (as of $today)"
for i in "${!countries[@]}"; do
  cc=${countries[$i]}
  "$harmonia" gen --rules rules --countries "$cc" --customers "$customers" --seed $((i + 11)) \
    --as-of "$today" --out "$out/data/$cc" >/dev/null 2>&1
  grep -v '^schedule:' "countries/$cc.yaml" > "$out/countries/$cc.yaml"
done
# DE's field force: anna covers DE-North, ben DE-South (territories.csv).
awk -F, 'NR == 1 {print "customer_id,territory,rep"; next}
         $3 == "specialist" || $3 == "pcp" {print $1 "," (n++ % 2 ? "DE-South,ben" : "DE-North,anna")}' \
  "$out/data/DE/customers.csv" > "$out/data/DE/territories.csv"


# Tokens: random secrets, only their SHA-256 in the tokens file.
token() { head -c 18 /dev/urandom | base64 | tr '+/' '-_'; }
declare -A tok
{
  for p in ops worker anna ben olaf; do tok[$p]=$(token); done
  role_ops=global_ops; role_worker=service; role_anna=field:DE; role_ben=field:DE; role_olaf=country_ops:DE
  for p in ops worker anna ben olaf; do
    role_var=role_$p
    printf -- '- principal: %s\n  token_sha256: %s\n  roles: [%s]\n' "$p" \
      "$(printf %s "${tok[$p]}" | sha256sum | cut -d' ' -f1)" "${!role_var}"
  done
  for cc in FR ES; do
    tok[ops_$cc]=$(token)
    printf -- '- principal: ops.%s\n  token_sha256: %s\n  roles: [country_ops:%s]\n' \
      "${cc,,}" "$(printf %s "${tok[ops_$cc]}" | sha256sum | cut -d' ' -f1)" "$cc"
  done
} > "$out/tokens.yaml"
printf %s "${tok[worker]}" > "$out/worker.token"
chmod 600 "$out/worker.token"

# Therapy areas a country file configures: the keys under `therapy_areas:`.
therapy_areas() {
  awk '/^therapy_areas:/{on=1; next} /^[^ #]/{on=0} on && /^  [a-z_]+:/{sub(/:.*/, ""); gsub(/ /, ""); print}' "$1"
}

listening() {  # the address a daemon's JSON log says it listens on
  for _ in $(seq 600); do
    local a
    a=$(grep -o '"event":"listening".*' "$1" 2>/dev/null | grep -o '"address":"[^"]*"' |
        cut -d'"' -f4 || true)
    if [[ -n $a ]]; then echo "$a"; return; fi
    sleep 0.05
  done
  echo "demo: no 'listening' line in $1:" >&2; cat "$1" >&2; return 1
}

echo "== starting the rules service and one worker per country (loopback)"
store="sqlite:$out/harmonia.db"
for cc in "${countries[@]}"; do
  "$harmonia" import --quiet --store "$store" "$out/data/$cc" >/dev/null 2>&1
done
echo "   one harmonized store: $out/harmonia.db ($((3 * customers)) customers)"
"$bin/services/harmonia-rules" --listen 127.0.0.1:0 --store "$store" \
  --tokens "$out/tokens.yaml" 2>"$out/logs/rules.log" &
pids+=($!)
rules=$(listening "$out/logs/rules.log")
echo "   rules service  $rules"
declare -A worker
for cc in "${countries[@]}"; do
  "$bin/services/harmonia-worker" --listen 127.0.0.1:0 --store "$store" \
    --rules-server "$rules" --rules-token-file "$out/worker.token" --countries "$cc" \
    --countries-dir "$out/countries" --tokens "$out/tokens.yaml" \
    2>"$out/logs/worker-$cc.log" &
  pids+=($!)
  worker[$cc]=$(listening "$out/logs/worker-$cc.log")
  echo "   worker $cc      ${worker[$cc]}"
done

echo "== publishing the rule sets as global ops"
HARMONIA_TOKEN=${tok[ops]} "$harmonia" rules publish --server "$rules" rules/*.yaml | sed 's/^/   /'
for cc in "${countries[@]}"; do  # each worker serves once it holds its rule sets
  for i in $(seq 601); do
    grep -q '"event":"serving"' "$out/logs/worker-$cc.log" && break
    if ((i == 601)); then echo "demo: worker $cc is not serving:" >&2; cat "$out/logs/worker-$cc.log" >&2; exit 1; fi
    sleep 0.05
  done
done

echo "== refinements from a German field rep (anna, field:DE)"
ids=$(awk -F, 'NR > 1 && $3 == "specialist" {print $1; if (++n == 3) exit}' "$out/data/DE/customers.csv")
fr=$(awk -F, 'NR == 2 {print $1}' "$out/data/FR/customers.csv")
set -- $ids
{
  echo "request_id,customer_id,therapy_area,segment,calls_delta,reason,comment,submitted_by"
  echo "demo-1,$1,oncology,early_adopter,2,new_information,Joined the regional tumour board,anna"
  echo "demo-2,$2,oncology,,-3,practice_change,Fewer visits wanted,anna"
  echo "demo-3,$3,oncology,conservative,,access_change,Formulary restriction,anna"
  echo "demo-4,$fr,oncology,conservative,,access_change,A French customer: not DE's,anna"
  echo "demo-5,$1,oncology,teleporter,,new_information,No such segment,anna"
} > "$out/refinements-DE.csv"
HARMONIA_TOKEN=${tok[anna]} "$harmonia" refine submit --server "${worker[DE]}" --country DE \
  "$out/refinements-DE.csv" 2>&1 | sed 's/^/   /'

echo "   … and anna may not read France's assignments:"
HARMONIA_TOKEN=${tok[anna]} "$harmonia" assignments --server "${worker[FR]}" --country FR \
  --ta oncology --limit 1 2>&1 | sed 's/^/   /' || true

echo "== running every market's cycles through its worker"
for cc in "${countries[@]}"; do
  t=${tok[ops_$cc]:-${tok[olaf]}}
  for ta in $(therapy_areas "$out/countries/$cc.yaml"); do
    HARMONIA_TOKEN=$t "$harmonia" cycle run --server "${worker[$cc]}" --country "$cc" --ta "$ta" \
      --json > "$out/logs/cycle-$cc-$ta.json"
    "$harmonia" export --store "$store" --country "$cc" --ta "$ta" \
      --out "$out/export/assignments-$cc-$ta.csv" >/dev/null 2>&1
    # What a CRM receives: each customer's message, channels, tags and n=1 plan.
    "$harmonia" export --store "$store" --country "$cc" --ta "$ta" --format directives \
      --out "$out/export/directives-$cc-$ta.csv" >/dev/null 2>&1
  done
done

echo "== per-country summary"
printf '   %-3s %-11s %5s %9s %10s  %-40s %s\n' CC "THERAPY" "RULES" CUSTOMERS UNPROFILED "SEGMENTS (share)" "DECIDED BY"
for f in "$out"/logs/cycle-*.json; do
  python3 - "$f" "$out" <<'PY'
import collections, csv, json, sys
c = json.load(open(sys.argv[1]))
rows = list(csv.DictReader(open("%s/export/assignments-%s-%s.csv" % (sys.argv[2], c["country"], c["therapy_area"]))))
seg = collections.Counter(r["segment"] or "(none)" for r in rows)
by = collections.Counter(r["decided_by"] for r in rows)
top = ", ".join("%s %.0f%%" % (s, 100.0 * n / len(rows)) for s, n in seg.most_common(3))
dec = ", ".join("%s %d" % kv for kv in sorted(by.items()))
# Unprofiled: decided by the unprofiled table (a required answer missing).
unprofiled = 100.0 * by["unprofiled"] / len(rows) if rows else 0
print("   %-3s %-11s %5s %9d %9.1f%%  %-40s %s" % (c["country"], c["therapy_area"], "v" + c["rule_set_version"], len(rows), unprofiled, top, dec))
PY
done
refined=$(awk -F, '$10 == "refinement"' "$out/export/assignments-DE-oncology.csv" | wc -l)
echo "   DE oncology: $refined customers carry a field refinement"

echo "== the quality report, as global ops through the rules service"
HARMONIA_TOKEN=${tok[ops]} "$harmonia" report --server "$rules" --ta oncology \
  --html "$out/report-oncology.html" --json > "$out/report-oncology.json" 2>/dev/null
python3 - "$out/report-oncology.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for m in r["markets"]:
    s = m["quality"]["separation"]
    p = "< 1e-300" if s["p_value"] == 0 else "%.1e" % s["p_value"]  # 0: below the smallest double
    print("   %s oncology: eta-squared %.3f on %s (min_differentiation %.2f), Kruskal-Wallis p %s"
          % (m["country"], s["eta_squared"], r["objective_metric"], r["min_differentiation"], p))
for w in r["warnings"]:
    print("   ! " + w)
PY
echo "   report: $out/report-oncology.html (open it in a browser; no network needed)"

echo "== the web console"
console_log=$out/logs/console.log
workers=""
for cc in "${countries[@]}"; do workers+="${workers:+,}$cc=${worker[$cc]}"; done
start_console() {
  "$bin/console/harmonia-console" --listen "$1" --rules-server "$rules" --workers "$workers" \
    2>"$console_log" &
  console_pid=$!
}
start_console 127.0.0.1:7480
sleep 0.3
if ! kill -0 "$console_pid" 2>/dev/null; then start_console 127.0.0.1:0; fi  # 7480 taken
pids+=("$console_pid")
console=$(listening "$console_log")
python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=5)' \
  "http://$console" || { echo "demo: the console does not answer" >&2; exit 1; }
{
  echo "console: http://$console/"
  echo "  field rep (anna, field:DE, territory DE-North):  ${tok[anna]}"
  echo "  country ops (olaf, country_ops:DE):              ${tok[olaf]}"
  echo "  global ops (ops):                                ${tok[ops]}"
} > "$out/console-sign-in.txt"
echo "   console: http://$console/ (docs/console.md)"
echo "   sign in as a field rep (anna, DE-North) with the token ${tok[anna]}"
echo "   sign in as country ops (olaf, DE) with the token ${tok[olaf]}"
echo "   (also in $out/console-sign-in.txt)"
if ! $stop; then
  echo "== the demo keeps running for the console: press Ctrl-C to stop"
  trap 'echo; echo "== stopping everything (SIGTERM)"; stop_all && echo "   all processes stopped cleanly"; exit 0' INT TERM
  while true; do sleep 3600 & wait $!; done
fi

echo "== stopping everything (SIGTERM)"
stop_all
echo "   all processes stopped cleanly"
echo "== done: report in $out/report-oncology.html, assignments in $out/export, logs in $out/logs"
