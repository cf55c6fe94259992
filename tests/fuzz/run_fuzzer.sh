#!/usr/bin/env bash
# Runs a libFuzzer target for a time budget, seeded with the given files and
# folders, after replaying every saved regression input.
#   run_fuzzer.sh FUZZER SECONDS REGRESSION_DIR SEED…
# The corpus grows in a temporary folder, so the repository is never written.
set -euo pipefail
fuzzer=$1 seconds=$2 regressions=$3
shift 3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/artifacts"
for seed in "$@"; do
  if [[ -d $seed ]]; then
    find "$seed" -maxdepth 1 -type f -exec cp {} "$work/corpus/" \;
  else
    cp "$seed" "$work/corpus/"
  fi
done
if compgen -G "$regressions/*" >/dev/null; then
  echo "replaying $(ls "$regressions" | wc -l) regression inputs"
  "$fuzzer" -runs=1 "$regressions"/*
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=1"
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$work/corpus" 2>&1 | tail -n 25
status=${PIPESTATUS[0]}
if compgen -G "$work/artifacts/*" >/dev/null; then
  echo "fuzzer found crashing inputs; save them under $regressions:" >&2
  for f in "$work/artifacts"/*; do echo "  $(basename "$f"): $(base64 -w0 < "$f" | head -c 200)" >&2; done
  exit 1
fi
exit "$status"
