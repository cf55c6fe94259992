#!/usr/bin/python3
"""`harmonia typing-tool fit` against scikit-learn (Debian's python3-sklearn).

For each shipped rule set, a generated study (`harmonia gen --study`) is
fitted by Harmonia and by sklearn's LinearDiscriminantAnalysis (solver lsqr:
coef = Σ⁻¹ μ_k, intercept = −½ μ_k' Σ⁻¹ μ_k + log prior_k, Σ the pooled
maximum-likelihood covariance), on the same inputs, and:
  - every written weight and intercept equals sklearn's, to the significant
    digits Harmonia wrote;
  - the 10-fold cross-validated predictions agree (the same stratified folds:
    the j-th respondent of a segment in file order is in fold j mod 10), and
    so do the accuracy and the confusion matrix;
  - with --priors equal: the same weights, intercepts moved from log(share)
    to log(1/K), and the same cross-validated predictions. (Harmonia pools
    the covariance by counts whatever the priors, as MASS::lda and SPSS do;
    sklearn's own `priors=` would weight the class covariances by them, so
    the reference is sklearn's study-prior fit with its priors replaced.)
Run by CTest as `typing.sklearn_reference`.

usage: typing_tool_reference_test.py --cli HARMONIA --source REPO
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import yaml
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

FAILURES = []


def check(ok, message):
    if not ok:
        FAILURES.append(message)
        print("FAIL: " + message)


def value(text):
    if text in ("true", "false"):
        return 1.0 if text == "true" else 0.0
    return float(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        subprocess.run([args.cli, "gen", "--study", "1500", "--seed", "3", "--rules",
                        os.path.join(args.source, "rules"), "--out", work],
                       check=True, capture_output=True)
        for ta in ("diabetes", "immunology", "oncology"):
            for priors in ("study", "equal"):
                compare(args.cli, os.path.join(work, ta), ta, priors, work)
    if FAILURES:
        print("%d checks failed" % len(FAILURES))
        return 1
    print("typing.sklearn_reference: every check passed")
    return 0


def compare(cli, study, ta, priors, work):
    out = os.path.join(work, "%s-%s.yaml" % (ta, priors))
    run = subprocess.run([cli, "typing-tool", "fit", "--study", study, "--out", out, "--json",
                          "--priors", priors], check=True, capture_output=True, text=True)
    fit = json.loads(run.stdout)
    inputs = fit["inputs"]
    rows = list(csv.DictReader(open(os.path.join(study, "respondents.csv"))))
    X = np.array([[value(r[i]) for i in inputs] for r in rows])
    y = np.array([r["segment"] for r in rows])
    segments = fit["cross_validated"]["segments"]  # the rule set's order
    classes = sorted(set(y))  # sklearn's order
    lda = LinearDiscriminantAnalysis(solver="lsqr").fit(X, y)
    # The intercepts under the chosen priors.
    shift = np.zeros(len(classes))
    if priors == "equal":
        shift = np.log(1.0 / len(classes)) - np.log(lda.priors_)

    functions = yaml.safe_load(open(out))["assignment"]["functions"]
    digits = fit["significant_digits"]
    tol = 10.0 ** (1 - digits)
    worst = 0.0
    for k, segment in enumerate(classes):
        f = functions[segment]
        ours = [f["weights"].get(i, 0.0) for i in inputs] + [f["intercept"]]
        theirs = list(lda.coef_[k]) + [lda.intercept_[k] + shift[k]]
        for a, b, name in zip(ours, theirs, inputs + ["intercept"]):
            err = abs(a - b) / max(abs(b), 1e-9)
            worst = max(worst, err)
            check(err <= tol, "%s %s %s %s: %r, sklearn %r" % (ta, priors, segment, name, a, b))
    print("%s, priors %s: %d inputs, %d functions, worst relative difference %.2g (written to %d "
          "significant digits)" % (ta, priors, len(inputs), len(classes), worst, digits))

    # Cross-validation on the same folds.
    rank = {}
    fold = []
    for label in y:
        fold.append(rank.get(label, 0) % fit["folds"])
        rank[label] = rank.get(label, 0) + 1
    fold = np.array(fold)
    predicted = np.empty(len(y), dtype=object)
    for f in range(fit["folds"]):
        train, test = fold != f, fold == f
        model = LinearDiscriminantAnalysis(solver="lsqr").fit(X[train], y[train])
        score = model.decision_function(X[test])
        if priors == "equal":
            score = score + (np.log(1.0 / len(model.classes_)) - np.log(model.priors_))
        # Ties go to the segment listed first in the rule set, as the engine's.
        order = [list(model.classes_).index(s) for s in segments if s in model.classes_]
        predicted[test] = [model.classes_[order[int(np.argmax(row[order]))]] for row in score]
    accuracy = float(np.mean(predicted == y))
    ours = fit["cross_validated"]["accuracy"]
    check(abs(accuracy - ours) < 1e-6,
          "%s %s: cross-validated accuracy %.6f, sklearn %.6f" % (ta, priors, ours, accuracy))
    confusion = [[int(np.sum((y == a) & (predicted == b))) for b in segments] + [0]
                 for a in segments]
    check(confusion == fit["cross_validated"]["confusion"],
          "%s %s: confusion %s, sklearn %s" % (ta, priors, fit["cross_validated"]["confusion"],
                                               confusion))
    print("  10-fold cross-validated accuracy %.4f, sklearn %.4f" % (ours, accuracy))


if __name__ == "__main__":
    sys.exit(main())
