#!/usr/bin/python3
"""quality/stats.h against SciPy and NumPy (Debian's python3-scipy) on random
data: integer-valued groups (many ties, like deciles), continuous groups of
unequal sizes and spreads, and groups with one value; Welch's t-test
between the first two groups against scipy.stats.ttest_ind(equal_var=False). Run by CTest as
`report.stats_reference`; the stats_tool binary prints Harmonia's figures.

usage: stats_reference_test.py STATS_TOOL
"""
import json
import random
import subprocess
import sys

import numpy as np
from scipy import stats


def harmonia(tool, groups):
    text = "\n".join(" ".join(repr(v) for v in g) for g in groups) + "\n"
    out = subprocess.run([tool], input=text, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def eta_squared(groups):
    values = np.concatenate([np.asarray(g, dtype=float) for g in groups])
    grand = values.mean()
    total = ((values - grand) ** 2).sum()
    between = sum(len(g) * (np.mean(g) - grand) ** 2 for g in groups)
    return between / total


def close(a, b, tol):
    return abs(a - b) <= tol * max(1.0, abs(b))


def main():
    tool = sys.argv[1]
    rng = random.Random(20261125)
    cases = []
    for _ in range(30):  # deciles: ties everywhere
        k = rng.randint(2, 7)
        cases.append([[rng.randint(0, 10) for _ in range(rng.randint(1, 60))] for _ in range(k)])
    for _ in range(30):  # continuous, shifted means, unequal spreads
        k = rng.randint(2, 6)
        cases.append([[rng.gauss(0.1 * g, 0.05 + 0.1 * rng.random()) for _ in range(rng.randint(2, 400))]
                      for g in range(k)])
    cases.append([[1.0], [2.0], [3.0, 4.0]])  # singletons
    for _ in range(20):  # two groups for Welch's t: close means, very different sizes and spreads
        cases.append([[rng.gauss(0.02, 0.05) for _ in range(rng.randint(2, 30))],
                      [rng.gauss(0.0, 0.2 * rng.random() + 0.01) for _ in range(rng.randint(2, 3000))]])
    failures = []
    welch_cases = [0]
    for i, groups in enumerate(cases):
        got = harmonia(tool, groups)
        h, p = stats.kruskal(*groups)
        values = np.concatenate([np.asarray(g, dtype=float) for g in groups])
        want = {
            "eta_squared": eta_squared(groups),
            "h": h,
            "p": p,
            "mean": values.mean(),
            "sd": values.std(ddof=1),
            "q1": np.percentile(values, 25),
            "median": np.percentile(values, 50),
            "q3": np.percentile(values, 75),
        }
        a, b = np.asarray(groups[0], dtype=float), np.asarray(groups[1], dtype=float)
        if len(a) >= 2 and len(b) >= 2 and (a.var() > 0 or b.var() > 0):
            welch = stats.ttest_ind(a, b, equal_var=False)
            va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
            want["welch_t"] = welch.statistic
            want["welch_df"] = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
            want["welch_p"] = welch.pvalue
            welch_cases[0] += 1
        elif got["welch_t"] is not None:
            failures.append("case %d: welch_t %r for groups too small or constant" % (i, got["welch_t"]))
        if got["n"] != len(values) or got["df"] != len(groups) - 1:
            failures.append("case %d: n %s df %s" % (i, got["n"], got["df"]))
        for key, value in want.items():
            tol = 1e-9 if key != "p" else 1e-9
            if got[key] is None or not close(got[key], float(value), tol):
                failures.append("case %d: %s = %r, SciPy/NumPy %r" % (i, key, got[key], value))
    if failures:
        print("\n".join(failures))
        return 1
    print("stats_reference: %d cases (%d with Welch's t) agree with SciPy %s / NumPy %s" %
          (len(cases), welch_cases[0], __import__("scipy").__version__, np.__version__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
