#!/usr/bin/python3
"""The console in a real browser, against real daemons and a real store.

Generates DE and FR markets (400 customers each) into one SQLite store, with
a territory alignment for DE (anna.rep: DE-North, ben.rep: DE-South), country
files where DE requires approval and counts the quota per territory, starts
the rules service, one worker per country and harmonia-console on loopback,
publishes the rule sets and runs a first cycle of each market; then runs
tests/browser/console_test.mjs (playwright-core driving Debian's Chromium),
which signs people in and does their jobs through the pages. Screenshots go
to --screenshots.

usage: console_browser_test.py --bin BUILD_DIR --source DIR --screenshots DIR
"""
import argparse
import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

TOKENS = {  # principal → roles; each token is "<principal>-secret"
    "ops@hq": "global_ops",
    "worker": "service",
    "anna.rep": "field:DE",
    "ben.rep": "field:DE",
    "olaf.ops": "country_ops:DE",
    "pierre.rep": "field:FR",
    "fanny.ops": "country_ops:FR",
}


def run(args, env=None):
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit("FAILED: %s\nstdout: %s\nstderr: %s" % (" ".join(args), r.stdout, r.stderr))
    return r.stdout


def listening(log, proc):
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit("%s exited:\n%s" % (log, open(log).read()))
        m = re.search(r'"event":"listening".*?"address":"([^"]+)"', open(log).read())
        if m:
            return m.group(1)
        time.sleep(0.05)
    raise SystemExit("no listening line in %s" % log)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--screenshots", required=True)
    a = ap.parse_args()
    a.bin, a.source, a.screenshots = (os.path.abspath(p) for p in (a.bin, a.source, a.screenshots))
    cli = os.path.join(a.bin, "cli/harmonia")
    tmp = tempfile.mkdtemp(prefix="harmonia-console-browser-")
    procs = []
    try:
        store = "sqlite:" + os.path.join(tmp, "harmonia.db")
        for i, cc in enumerate(["DE", "FR"]):
            data = os.path.join(tmp, "data", cc)
            run([cli, "gen", "--rules", os.path.join(a.source, "rules"), "--countries", cc,
                 "--customers", "400", "--seed", str(21 + i), "--as-of", "2026-10-01", "--out", data])
            if cc == "DE":
                with open(os.path.join(data, "customers.csv"), newline="", encoding="utf-8") as f:
                    ids = [r["customer_id"] for r in csv.DictReader(f)
                           if r["customer_type"] in ("specialist", "pcp")]
                with open(os.path.join(data, "territories.csv"), "w", newline="", encoding="utf-8") as f:
                    w = csv.writer(f)
                    w.writerow(["customer_id", "territory", "rep"])
                    for k, cid in enumerate(ids):
                        w.writerow([cid, "DE-North" if k % 2 == 0 else "DE-South",
                                    "anna.rep" if k % 2 == 0 else "ben.rep"])
            run([cli, "import", "--quiet", "--store", store, data])
        countries = os.path.join(tmp, "countries")
        os.makedirs(countries)
        for cc in ["DE", "FR"]:
            text = open(os.path.join(a.source, "countries", cc + ".yaml"), encoding="utf-8").read()
            text = re.sub(r"(?m)^schedule:.*\n", "", text)  # cycles on demand
            if cc == "DE":
                text = text.replace("requires_approval: false",
                                    "requires_approval: true\n  quota_scope: territory")
            open(os.path.join(countries, cc + ".yaml"), "w", encoding="utf-8").write(text)
        with open(os.path.join(tmp, "tokens.yaml"), "w") as f:
            for p, role in TOKENS.items():
                f.write("- principal: %s\n  token_sha256: %s\n  roles: [%s]\n" %
                        (p, hashlib.sha256((p + "-secret").encode()).hexdigest(), role))
        with open(os.path.join(tmp, "worker.token"), "w") as f:
            f.write("worker-secret")
        os.chmod(os.path.join(tmp, "worker.token"), 0o600)

        def start(name, argv):
            log = os.path.join(tmp, name + ".log")
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
            procs.append(p)
            return listening(log, p)

        rules = start("rules", [os.path.join(a.bin, "services/harmonia-rules"), "--listen",
                                "127.0.0.1:0", "--store", store, "--tokens",
                                os.path.join(tmp, "tokens.yaml")])
        run([cli, "rules", "publish", "--server", rules, "--token", "ops@hq-secret"] +
            [os.path.join(a.source, "rules", f) for f in ("oncology.yaml", "diabetes.yaml", "immunology.yaml")])
        workers = {}
        for cc in ["DE", "FR"]:
            workers[cc] = start("worker-" + cc, [
                os.path.join(a.bin, "services/harmonia-worker"), "--listen", "127.0.0.1:0",
                "--store", store, "--rules-server", rules, "--rules-token-file",
                os.path.join(tmp, "worker.token"), "--countries", cc, "--countries-dir", countries,
                "--tokens", os.path.join(tmp, "tokens.yaml"), "--scheduler=false"])
        for cc in ["DE", "FR"]:
            log = os.path.join(tmp, "worker-" + cc + ".log")
            for _ in range(600):
                if '"event":"serving"' in open(log).read():
                    break
                time.sleep(0.05)
            ops = "olaf.ops" if cc == "DE" else "fanny.ops"
            run([cli, "cycle", "run", "--server", workers[cc], "--country", cc, "--ta", "oncology",
                 "--as-of", "2026-10-01", "--token", ops + "-secret"])
        console = start("console", [os.path.join(a.bin, "console/harmonia-console"), "--listen",
                                    "127.0.0.1:0", "--rules-server", rules, "--workers",
                                    "DE=%s,FR=%s" % (workers["DE"], workers["FR"])])
        with open(os.path.join(tmp, "data", "FR", "customers.csv"), encoding="utf-8") as f:
            fr_customer = next(csv.DictReader(f))["customer_id"]
        os.makedirs(a.screenshots, exist_ok=True)
        env = dict(os.environ,
                   CONSOLE_URL="http://" + console,
                   WEB_MODULES=os.path.join(a.bin, "web/node_modules"),
                   SCREENSHOTS=a.screenshots,
                   FR_CUSTOMER=fr_customer,
                   TOKENS=json.dumps({p: p + "-secret" for p in TOKENS}))
        r = subprocess.run(["node", os.path.join(a.source, "tests/browser/console_test.mjs")], env=env)
        if r.returncode != 0:
            print("--- console log ---\n" + open(os.path.join(tmp, "console.log")).read()[-4000:])
            raise SystemExit("console_browser_test: the browser test failed")
        for p in procs:
            p.terminate()
        for p in procs:
            if p.wait(timeout=30) != 0:
                raise SystemExit("a daemon did not stop cleanly (exit %s)" % p.returncode)
        procs.clear()
        print("console_browser_test: ok; screenshots in %s" % a.screenshots)
    finally:
        for p in procs:
            p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
