#!/usr/bin/env bash
# How well fitted typing tools type, and how long fitting takes
# (docs/typing-tool.md, docs/report.md, docs/performance.md).
#   bench/typing_tool_bench.sh [RESPONDENTS] [HOLDOUT] [SEED]   (default 2000 5000 1)
# For each shipped rule set: a generated study of RESPONDENTS (wave 1) is
# fitted with the defaults (every input, 10 folds) and with forward selection
# (--max-questions 8); each fragment then types HOLDOUT held-out generated
# respondents (wave 2, the same segmentation) through the engine. Prints the
# cross-validated and held-out accuracies, the best possible accuracy on the
# hold-out (the generator's Bayes-optimal classifier) and the fit's wall time.
# Then the data set's customers: 20,000 generated DE customers of the same
# seed, run through `harmonia evaluate` with the fragment in place of the
# rule set's assignment; of the customers the typing tool types (the others
# miss a weighted input and go to unprofiled), the share typed into their
# latent segment (latent.csv).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
respondents=${1:-2000}
holdout=${2:-5000}
seed=${3:-1}
harmonia=$PWD/build/cli/harmonia
scripts/build.sh default >/dev/null
bench_workdir typing-tool

"$harmonia" gen --study "$respondents" --seed "$seed" --out "$work/fit" 2>/dev/null
"$harmonia" gen --study "$holdout" --seed "$seed" --wave 2 --out "$work/holdout" 2>/dev/null
"$harmonia" gen --countries DE --customers 20000 --seed "$seed" --out "$work/customers" 2>/dev/null
printf '%-11s %-16s %6s %15s %9s %14s %8s\n' "RULE SET" "INPUTS" "COUNT" "CROSS-VALIDATED" "HELD OUT" "BEST POSSIBLE" "FIT"
for study in "$work"/fit/*/; do
  ta=$(basename "$study")
  for mode in all selected; do
    flags=()
    [[ $mode == selected ]] && flags=(--max-questions 8)
    start=$(date +%s.%N)
    "$harmonia" typing-tool fit --study "$study" --out "$work/$ta-$mode.yaml" --json "${flags[@]}" \
      > "$work/$ta-$mode.json"
    end=$(date +%s.%N)
    "$harmonia" typing-tool test --study "$work/holdout/$ta" --tool "$work/$ta-$mode.yaml" --json \
      > "$work/$ta-$mode-test.json"
    python3 - "$work/$ta-$mode.json" "$work/$ta-$mode-test.json" "$work/holdout/$ta/study.yaml" \
      "$ta" "$mode" "$start" "$end" <<'PY'
import json, re, sys
fit, test = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
best = re.search(r"^best_possible_accuracy: ([0-9.]+)", open(sys.argv[3]).read(), re.M)
print("%-11s %-16s %6d %14.1f%% %8.1f%% %13.1f%% %6.0f ms" % (
    sys.argv[4], "every input" if sys.argv[5] == "all" else "forward, max 8",
    len(fit["inputs"]), 100 * fit["cross_validated"]["accuracy"], 100 * test["accuracy"],
    100 * float(best.group(1)) if best else float("nan"),
    1000 * (float(sys.argv[7]) - float(sys.argv[6]))))
PY
  done
done

printf '\n%-11s %-16s %8s %9s\n' "RULE SET" "INPUTS" "TYPED" "ACCURACY"
for study in "$work"/fit/*/; do
  ta=$(basename "$study")
  for mode in all selected; do
    # The rule set with the fragment as its assignment (its tests test the old
    # one): the top-level blocks are cut by their lines, as the text stands.
    python3 - "rules/$ta.yaml" "$work/$ta-$mode.yaml" > "$work/$ta-$mode-rules.yaml" <<'PY'
import re, sys
out, skip = [], False
for line in open(sys.argv[1]):
    if re.match(r"[a-z_]+:", line):
        skip = line.startswith(("assignment:", "tests:"))
    if not skip:
        out.append(line)
sys.stdout.write("".join(out) + open(sys.argv[2]).read())
PY
    "$harmonia" evaluate --rules "$work/$ta-$mode-rules.yaml" --country countries/DE.yaml \
      --data "$work/customers" --as-of 2026-11-01 --out "$work/$ta-$mode.csv" 2>/dev/null
    python3 - "$work/$ta-$mode.csv" "$work/customers/latent.csv" "$ta" "$mode" <<'PY'
import csv, sys
latent = {(r["customer_id"], r["therapy_area"]): r["latent_segment"]
          for r in csv.DictReader(open(sys.argv[2]))}
rows = list(csv.DictReader(open(sys.argv[1])))
typed = [r for r in rows if r["decided_by"] == "rules"]
right = sum(latent[(r["customer_id"], r["therapy_area"])] == r["segment"] for r in typed)
print("%-11s %-16s %7.1f%% %8.1f%%" % (sys.argv[3], "every input" if sys.argv[4] == "all"
      else "forward, max 8", 100.0 * len(typed) / len(rows), 100.0 * right / max(1, len(typed))))
PY
  done
done
