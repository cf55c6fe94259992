#!/usr/bin/python3
"""Did the plan work (docs/report.md "Did it work"), end to end against an
independent computation: the real `harmonia` CLI on a SQLite store, checked
with plain Python and SciPy (Debian's python3-scipy). Run by CTest as
`report.follow_up_reference`.

1. 400 customers with clean inputs (one value per input, so the objective
   behaviour each cycle sees is known here), cycle 1 on 2026-11-01.
2. Its directives export gives each customer's segment, tier and n=1 plan.
3. This script writes what the CRM reports — activities.csv with partial
   attainment, plus rows outside the window, rows of a customer out of
   scope and rows repeating a key — and new objective values that move more
   where the plan was carried out; `harmonia import` loads that folder alone.
4. Cycle 2 on 2027-02-01 (the next quarter of tests/golden/DE.yaml's
   schedule); `harmonia report --json` must show exactly the attainment per
   segment x tier and market, and the behaviour change with Welch's t-test,
   computed here from the files.

usage: follow_up_reference_test.py --cli HARMONIA --source DIR
"""
import argparse
import collections
import csv
import datetime
import json
import os
import random
import subprocess
import sys
import tempfile

from scipy import stats

ACTIVITIES = ["calls", "remote", "email", "events"]
WINDOW = (datetime.date(2026, 11, 1), datetime.date(2027, 2, 1))


def run(cli, source, *args):
    out = subprocess.run([cli, *args], cwd=source, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("harmonia %s failed (%d):\n%s" % (" ".join(args), out.returncode, out.stderr))
    return out.stdout


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def close(a, b, tol=1e-9):
    return abs(a - b) <= tol * max(1.0, abs(b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    rng = random.Random(20261203)
    tmp = tempfile.mkdtemp(prefix="harmonia-follow-up-")
    store = "sqlite:" + os.path.join(tmp, "store.db")
    first, second = os.path.join(tmp, "first"), os.path.join(tmp, "second")
    os.makedirs(first)
    os.makedirs(second)

    # 1. Customers with one value per input; a nurse is out of scope.
    ids = ["DE%04d" % k for k in range(400)]
    customers = [(c, "DE", rng.choice(["specialist", "pcp"]), "oncology", "Dr. %s" % c) for c in ids]
    customers.append(("DE9999", "DE", "nurse", "oncology", "Nurse"))
    write_csv(os.path.join(first, "customers.csv"),
              ["customer_id", "country", "customer_type", "specialty", "name"], customers)
    answers = []
    for c in ids:
        for q in ["q1", "q2", "q3", "q4", "q6", "q8"]:
            answers.append((c, "oncology", q, rng.randint(1, 5), "rep", "2026-10-01"))
        answers.append((c, "oncology", "q7", rng.choice(["face_to_face", "remote", "digital"]),
                        "rep", "2026-10-01"))
    write_csv(os.path.join(first, "answers.csv"),
              ["customer_id", "therapy_area", "question_id", "value", "source", "as_of"], answers)
    before = {}
    metrics = []
    for c in ids:
        metrics.append((c, "oncology", "trx_decile", rng.randint(0, 10), "external", "2026-10-01"))
        if rng.random() < 0.95:  # some customers have no objective value
            before[c] = round(rng.uniform(0.05, 0.6), 4)
            metrics.append((c, "oncology", "trx_share", before[c], "external", "2026-10-01"))
    write_csv(os.path.join(first, "metrics.csv"),
              ["customer_id", "therapy_area", "metric_id", "value", "source", "as_of"], metrics)
    run(args.cli, args.source, "import", "--quiet", "--store", store, first)
    run(args.cli, args.source, "rules", "publish", "--store", store, "rules/oncology.yaml")
    cycle = ["cycle", "run", "--store", store, "--country", "DE", "--ta", "oncology",
             "--countries", "tests/golden"]
    run(args.cli, args.source, *cycle, "--as-of", "2026-11-01")

    # 2. The plan, from the directives export.
    directives = os.path.join(tmp, "directives.csv")
    run(args.cli, args.source, "export", "--store", store, "--country", "DE", "--ta", "oncology",
        "--format", "directives", "--out", directives)
    plan = {}
    with open(directives, newline="") as f:
        for row in csv.DictReader(f):
            plan[row["customer_id"]] = (row["segment"], row["tier"],
                                        [int(row["plan_" + a]) for a in ACTIVITIES])
    assert len(plan) == len(ids), len(plan)

    # 3. What the CRM reports, and the behaviour after.
    days = (WINDOW[1] - WINDOW[0]).days
    actual = {c: [0, 0, 0, 0] for c in ids}
    keyed = collections.defaultdict(int)  # (customer, activity, day) -> count
    outside = 0
    for c in ids:
        diligence = rng.choice([0.0, 0.3, 0.7, 1.0, 1.0, 1.2])
        for k, a in enumerate(ACTIVITIES):
            for _ in range(int(round(plan[c][2][k] * diligence))):
                day = WINDOW[0] + datetime.timedelta(days=rng.randrange(days))
                keyed[(c, a, day)] += 1
                actual[c][k] += 1
        if rng.random() < 0.1:  # before the plan, and on the next cycle's date: not counted
            keyed[(c, "calls", WINDOW[0] - datetime.timedelta(days=3))] += 2
            keyed[(c, "email", WINDOW[1])] += 1
    keyed[("DE9999", "calls", WINDOW[0] + datetime.timedelta(days=5))] += 3  # out of scope
    outside += 3
    rows = []
    for (c, a, day), n in sorted(keyed.items()):
        if n >= 2 and rng.random() < 0.5:  # one row per call: the import adds them up
            rows.extend([(c, "oncology", a, day.isoformat(), 1, "crm")] * n)
        else:
            rows.append((c, "oncology", a, day.isoformat(), n, "crm"))
    rng.shuffle(rows)
    write_csv(os.path.join(second, "activities.csv"),
              ["customer_id", "therapy_area", "activity", "date", "count", "source"], rows)
    after = dict(before)
    new_metrics = []
    for c in ids:
        planned = sum(plan[c][2])
        if c not in before or rng.random() < 0.1:
            continue  # no new value: the old one stays effective
        done = planned > 0 and sum(actual[c]) >= planned
        value = min(1.0, max(0.0, before[c] + (0.04 if done else 0.0) + rng.gauss(0, 0.05)))
        after[c] = round(value, 4)
        new_metrics.append((c, "oncology", "trx_share", after[c], "external", "2027-01-15"))
    write_csv(os.path.join(second, "metrics.csv"),
              ["customer_id", "therapy_area", "metric_id", "value", "source", "as_of"], new_metrics)
    run(args.cli, args.source, "import", "--quiet", "--store", store, second)
    run(args.cli, args.source, *cycle, "--as-of", "2027-02-01")
    report = json.loads(run(args.cli, args.source, "report", "--store", store, "--ta", "oncology",
                            "--country", "DE", "--json"))
    got = report["markets"][0]["quality"]["follow_up"]

    # 4. The same figures, computed here.
    failures = []

    def check(name, have, want, tol=1e-9):
        if isinstance(want, float):
            if have is None or not close(float(have), want, tol):
                failures.append("%s = %r, expected %r" % (name, have, want))
        elif str(have) != str(want):
            failures.append("%s = %r, expected %r" % (name, have, want))

    cells = collections.defaultdict(lambda: {"customers": 0, "planned": 0, "carried_out": 0,
                                             "plan": [0, 0, 0, 0], "actual": [0, 0, 0, 0]})
    market = cells[("", "")]
    for c in ids:
        segment, tier, p = plan[c]
        for cell in (cells[(segment, tier)], market):
            cell["customers"] += 1
            cell["plan"] = [x + y for x, y in zip(cell["plan"], p)]
            cell["actual"] = [x + y for x, y in zip(cell["actual"], actual[c])]
            if sum(p) > 0:
                cell["planned"] += 1
                cell["carried_out"] += sum(actual[c]) >= sum(p)

    def compare(name, have, want):
        for key in ("customers", "planned", "carried_out"):
            check("%s.%s" % (name, key), have[key], want[key])
        for k, a in enumerate(ACTIVITIES):
            check("%s.plan.%s" % (name, a), have["plan"][a], want["plan"][k])
            check("%s.actual.%s" % (name, a), have["actual"][a], want["actual"][k])
        if sum(want["plan"]) > 0:
            check(name + ".attainment", have.get("attainment"), sum(want["actual"]) / sum(want["plan"]))
        elif "attainment" in have:
            failures.append("%s.attainment present with nothing planned" % name)

    listed = {(a["segment"], a["tier"]): a for a in got["attainment"]}
    want_cells = {k: v for k, v in cells.items() if k != ("", "")}
    if set(listed) != set(want_cells):
        failures.append("cells %s, expected %s" % (sorted(listed), sorted(want_cells)))
    for key in sorted(set(listed) & set(want_cells)):
        compare("attainment[%s/%s]" % key, listed[key], want_cells[key])
    compare("market", got["market"], market)
    check("activities_outside_plan", got["activities_outside_plan"], outside)
    check("from", got["from"], "2026-11-01")
    check("to", got["to"], "2027-02-01")

    carried, not_carried = [], []
    for c in ids:
        p = sum(plan[c][2])
        if p == 0 or c not in before:
            continue
        (carried if sum(actual[c]) >= p else not_carried).append(after[c] - before[c])
    behaviour = got["behaviour"]
    for name, values in (("carried_out", carried), ("not_carried_out", not_carried)):
        d = behaviour[name]
        check("behaviour.%s.n" % name, d["n"], len(values))
        check("behaviour.%s.mean" % name, d["mean"], sum(values) / len(values))
        check("behaviour.%s.sd" % name, d["sd"], float(stats.tstd(values)))
    welch = stats.ttest_ind(carried, not_carried, equal_var=False)
    check("behaviour.mean_difference", behaviour["mean_difference"],
          sum(carried) / len(carried) - sum(not_carried) / len(not_carried))
    check("behaviour.welch_t", behaviour["welch_t"], float(welch.statistic))
    check("behaviour.p_value", behaviour["p_value"], float(welch.pvalue))
    if failures:
        print("\n".join(failures))
        return 1
    print("follow_up_reference: %d cells, market attainment %.4f, %d carried out vs %d not: "
          "t = %.3f, p = %.3g, as computed independently" %
          (len(listed), got["market"]["attainment"], len(carried), len(not_carried),
           behaviour["welch_t"], behaviour["p_value"]))
    subprocess.run(["rm", "-rf", tmp])
    return 0


if __name__ == "__main__":
    sys.exit(main())
