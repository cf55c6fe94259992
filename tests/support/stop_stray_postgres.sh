#!/usr/bin/env bash
# Stops PostgreSQL servers that tests left behind and removes their directories.
#
# Each PostgresServer (tests/support/postgres_server.h) lives in
# /tmp/harmonia-pg-XXXXXX, next to a file `owner` naming its test process, and
# cleans up after itself: its destructor, or its watchdog when the test is
# killed. This script is for what remains when the watchdog died too (kill -9
# of every process, the OOM killer). Safe to run at any time: by default it
# leaves alone the servers of tests that are still running.
#
#   tests/support/stop_stray_postgres.sh            # servers whose test is gone
#   tests/support/stop_stray_postgres.sh --all      # every harness server
#   tests/support/stop_stray_postgres.sh --dry-run  # only say what it would do
#
# HARMONIA_PG_PREFIX (default /tmp/harmonia-pg-, as in postgres_server.cc)
# selects the directories. Run it as root or as the user that ran the tests.
set -euo pipefail

prefix=${HARMONIA_PG_PREFIX:-/tmp/harmonia-pg-}
all=0
dry_run=0
for arg in "$@"; do
  case $arg in
    --all) all=1 ;;
    --dry-run | -n) dry_run=1 ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "stop_stray_postgres.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

# owner_alive ROOT: the test process recorded in ROOT/owner ("pid starttime")
# still runs. The start time tells it from a later process with the same pid.
owner_alive() {
  local pid start stat
  read -r pid start <"$1/owner" 2>/dev/null || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }  # drop "pid (comm) ": fields from the 3rd on
  read -r -a fields <<<"$stat"
  [[ ${fields[19]:-} == "$start" ]]  # field 22, starttime
}

# stop_postmaster PID: fast shutdown, then immediate, then SIGKILL.
stop_postmaster() {
  local pid=$1 signal i
  for signal in INT QUIT KILL; do
    kill -s "$signal" "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || return 0
      sleep 0.1
    done
  done
}

act() {
  if ((dry_run)); then
    echo "would $*"
  else
    echo "$*"
  fi
}

stopped=0
removed=0
kept=0

# 1. Postmasters started on a data directory under the prefix, found by their
#    command line (which survives the directory being deleted).
for cmdline_file in /proc/[0-9]*/cmdline; do
  pid=${cmdline_file#/proc/}
  pid=${pid%/cmdline}
  mapfile -d "" -t argv 2>/dev/null <"$cmdline_file" || continue
  ((${#argv[@]} > 2)) || continue
  [[ ${argv[0]##*/} == postgres || ${argv[0]##*/} == postmaster ]] || continue
  data=""
  for ((i = 1; i < ${#argv[@]} - 1; i++)); do
    if [[ ${argv[i]} == -D ]]; then data=${argv[i + 1]}; fi
  done
  [[ $data == "$prefix"* ]] || continue
  root=${data%/data}
  if ((!all)) && owner_alive "$root"; then
    echo "keeping postmaster $pid ($data): its test is still running (--all to stop it)"
    kept=$((kept + 1))
    continue
  fi
  act "stop postmaster $pid ($data)"
  ((dry_run)) || stop_postmaster "$pid"
  stopped=$((stopped + 1))
done

# 2. Directories whose test is gone (those without an `owner` file are not
#    the harness's).
for root in "$prefix"*; do
  [[ -d $root && -f $root/owner ]] || continue
  if ((!all)) && owner_alive "$root"; then continue; fi
  if ((!dry_run)) && [[ -f $root/data/postmaster.pid ]]; then
    pid=$(head -n 1 "$root/data/postmaster.pid")
    if [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
      grep -qF -- "-D $root/data "; then
      echo "postmaster $pid still runs in $root: not removing it" >&2
      continue
    fi
  fi
  act "remove $root"
  ((dry_run)) || rm -rf -- "$root"
  removed=$((removed + 1))
done

echo "stop_stray_postgres.sh: $stopped server(s) stopped, $removed director(ies) removed," \
  "$kept kept$( ((dry_run)) && echo ' (dry run)')"
