# Shared by the bench/*.sh scripts (sourced, not run).

# The 50 ISO 3166 alpha-2 codes the multi-market benchmarks use, in order.
BENCH_MARKETS=(AT BE BG CH CY CZ DE DK EE ES FI FR GB GR HR HU IE IS IT LT LU LV MT NL NO PL PT RO
               SE SI SK US CA MX BR AR CL CO PE JP KR CN IN AU NZ ZA EG MA TR IL)

# write_country_files DIR CC…: one country file per market, DE's oncology
# settings, no schedule (cycles run when the benchmark says).
write_country_files() {
  local dir=$1 cc
  shift
  mkdir -p "$dir"
  for cc in "$@"; do
    cat > "$dir/$cc.yaml" <<YAML
country: $cc
timezone: Europe/Berlin
data_sources: [rep, external, local]
max_input_age_days: 540
therapy_areas:
  oncology:
    options: {tier_bands: broad, process: field_refined, pull_through: on}
refinement:
  window_days: 20
  valid_cycles: 2
YAML
  done
}

# start_postgres WORK DB: a throwaway PostgreSQL 15 server in WORK/pg (as the
# system user harmonia-pg when run as root), stock settings but
# max_wal_size = 1GB and max_connections = 300, plus $PG_SETTINGS
# ("-c name=value …"). Sets PG_URL (postgresql://harmonia@127.0.0.1:PORT/DB)
# and AS_PG (the command prefix to run PostgreSQL tools as its user);
# stop_postgres WORK stops it.
PG_BIN=/usr/lib/postgresql/15/bin
AS_PG=()
start_postgres() {
  local work=$1 db=$2 port
  if [[ $(id -u) == 0 ]]; then
    # the user comes from scripts/setup.sh (which build.sh runs first)
    chmod 755 "$work"
    mkdir "$work/pg" && chown harmonia-pg "$work/pg"
    AS_PG=(runuser -u harmonia-pg --)
  else
    mkdir "$work/pg"
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "${AS_PG[@]}" "$PG_BIN/initdb" -D "$work/pg" --auth=trust --username=harmonia -E UTF8 >/dev/null
  "${AS_PG[@]}" "$PG_BIN/pg_ctl" start -w -D "$work/pg" -l "$work/pg/server.log" \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$work/pg -c max_wal_size=1GB -c max_connections=300 ${PG_SETTINGS:-}" >/dev/null
  "${AS_PG[@]}" "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U harmonia -d postgres -qc "CREATE DATABASE $db" >/dev/null
  PG_URL=postgresql://harmonia@127.0.0.1:$port/$db
}
stop_postgres() {
  if [[ -f $1/pg/postmaster.pid ]]; then
    "${AS_PG[@]}" "$PG_BIN/pg_ctl" stop -D "$1/pg" -m fast >/dev/null || true
  fi
}

# listening LOG: the address a daemon's JSON log says it listens on (waits up
# to 30 s for the "listening" line; exits with the log when there is none).
listening() {
  local a
  for _ in $(seq 600); do
    a=$(grep -o '"event":"listening".*' "$1" 2>/dev/null | grep -o '"address":"[^"]*"' | head -1 |
        cut -d'"' -f4 || true)
    if [[ -n $a ]]; then echo "$a"; return; fi
    sleep 0.05
  done
  echo "no listening line in $1" >&2; cat "$1" >&2; exit 1
}

# bench_workdir NAME: a fresh folder for this run in $work and an empty
# $pids for the daemons the script starts; on exit every daemon gets SIGTERM,
# a PostgreSQL started in $work (start_postgres) is stopped, and $work goes.
bench_workdir() {
  work=$(mktemp -d "/tmp/harmonia-$1-bench-XXXXXX")
  pids=()
  trap bench_cleanup EXIT
}
bench_cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  stop_postgres "$work"
  rm -rf "$work"
}

# token_entry PRINCIPAL ROLE: a tokens-file entry whose token is
# "PRINCIPAL-token" (docs/api.md).
token_entry() {
  printf -- '- principal: %s\n  token_sha256: %s\n  roles: [%s]\n' "$1" \
    "$(printf %s "$1-token" | sha256sum | cut -d' ' -f1)" "$2"
}

# gen_de_market DIR CUSTOMERS: a DE market of oncology customers (seed 7, no
# refinements) in DIR, generated once: kept while DIR/metrics.csv is there.
gen_de_market() {
  [[ -f $1/metrics.csv ]] && return
  echo "generating $2 customers into $1" >&2
  "$harmonia" gen --rules rules/oncology.yaml --countries DE --customers "$2" \
    --seed 7 --refinements 0 --out "$1" >/dev/null
}

# wait_serving LOG: waits up to 30 s for a worker's "serving" log line.
wait_serving() {
  for _ in $(seq 600); do grep -q '"event":"serving"' "$1" && return; sleep 0.05; done
  echo "no serving line in $1" >&2; cat "$1" >&2; exit 1
}
