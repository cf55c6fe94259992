#!/usr/bin/python3
"""Harmonia across hosts, with Linux network namespaces as hosts.

  hq  ── 10.88.1.0/24 ── de     hq runs PostgreSQL 15 and harmonia-rules;
   │ └── 10.88.2.0/24 ── fr     each market's harmonia-worker runs on its own
   └──── 10.88.3.0/24 ── es     "host", joined to hq by a veth link.

Everything between hosts is mutual TLS (a CA and certificates made here with
openssl) or PostgreSQL with a password (scram-sha-256, from PGPASSWORD). The
test publishes the rule sets, submits refinements and runs a cycle in every
market; then, while DE's worker runs a cycle, it cuts DE's link with
iptables (both directions) and restores it seconds later; the market runs
again. The web console runs on hq too (HTTPS for people, mutual TLS to the
rules service and to every market's worker): a global ops person reads
every market's assignments through it, a DE field rep is refused France's,
and it still serves DE after the cut. Checked in the store afterwards: every committed cycle holds exactly
its customers' assignments (no partial cycle), every acknowledged refinement
is there, DE's latest cycle applied them, and all three markets converged.

Exit 77 (CTest: skipped) with the kernel's reason when namespaces, veth
links or iptables are refused (e.g. not root, or a container without
CAP_NET_ADMIN); anything else that goes wrong fails.

usage: multihost_test.py --bin BUILD_DIR --source DIR
"""
import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
PG_BIN = "/usr/lib/postgresql/15/bin"
PG_USER = "harmonia-pg"
PASSWORD = "multihost-secret"
MARKETS = {"DE": 1, "FR": 2, "ES": 3}  # country → link number
CUSTOMERS = {"DE": 60000, "FR": 4000, "ES": 4000}


def sh(args, check=True, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


class Hosts:
    def __init__(self):
        tag = "%d" % (os.getpid() % 100000)
        self.ns = {"hq": "hm%s-hq" % tag}
        for cc in MARKETS:
            self.ns[cc] = "hm%s-%s" % (tag, cc.lower())
        self.made = []

    def up(self):
        for name in self.ns.values():
            r = sh(["ip", "netns", "add", name], check=False)
            if r.returncode != 0:
                return "ip netns add: " + r.stderr.strip()
            self.made.append(name)
            sh(["ip", "-n", name, "link", "set", "lo", "up"])
        for cc, n in MARKETS.items():
            a, b = "hq%d" % n, "h%s" % cc.lower()
            r = sh(["ip", "link", "add", a, "netns", self.ns["hq"], "type", "veth", "peer", "name",
                    b, "netns", self.ns[cc]], check=False)
            if r.returncode != 0:
                return "ip link add veth: " + r.stderr.strip()
            sh(["ip", "-n", self.ns["hq"], "addr", "add", "10.88.%d.1/24" % n, "dev", a])
            sh(["ip", "-n", self.ns[cc], "addr", "add", "10.88.%d.2/24" % n, "dev", b])
            sh(["ip", "-n", self.ns["hq"], "link", "set", a, "up"])
            sh(["ip", "-n", self.ns[cc], "link", "set", b, "up"])
        r = sh(["ip", "netns", "exec", self.ns["DE"], "iptables", "-L", "-n"], check=False)
        if r.returncode != 0:
            return "iptables: " + (r.stderr.strip() or r.stdout.strip())
        return None

    def exec(self, host, args):
        return ["ip", "netns", "exec", self.ns[host]] + args

    def cut(self, cc, on):
        n = MARKETS[cc]
        if on:
            for rule in (["-A", "INPUT", "-s", "10.88.%d.1" % n], ["-A", "OUTPUT", "-d", "10.88.%d.1" % n]):
                sh(self.exec(cc, ["iptables"] + rule + ["-j", "DROP"]))
        else:
            sh(self.exec(cc, ["iptables", "-F"]))

    def down(self):
        for name in self.made:
            sh(["ip", "netns", "del", name], check=False)


class Proc:
    def __init__(self, argv, log, env=None):
        self.log_path = log
        self.p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(log, "w"),
                                  env=env, start_new_session=True)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(90)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode

    def log(self):
        return open(self.log_path).read()


def certificates(d):
    def run(*a):
        sh(["openssl"] + list(a))
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=multihost-ca",
        "-keyout", d + "/ca.key", "-out", d + "/ca.crt")
    names = {"rules": ["DNS:harmonia-rules"] + ["IP:10.88.%d.1" % n for n in MARKETS.values()],
             "ops": ["DNS:ops"], "console": ["DNS:harmonia-console", "IP:10.88.1.1"]}
    for cc, n in MARKETS.items():
        names["worker-" + cc] = ["DNS:harmonia-worker-" + cc.lower(), "IP:10.88.%d.2" % n]
    for name, sans in names.items():
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name, "-addext",
            "subjectAltName=" + ",".join(sans), "-keyout", "%s/%s.key" % (d, name),
            "-out", "%s/%s.csr" % (d, name))
        run("x509", "-req", "-in", "%s/%s.csr" % (d, name), "-CA", d + "/ca.crt", "-CAkey",
            d + "/ca.key", "-CAcreateserial", "-days", "2", "-copy_extensions", "copy",
            "-out", "%s/%s.crt" % (d, name))


def tokens(d):
    import hashlib
    people = [("ops", "[global_ops]"), ("worker", "[service]"), ("anna", "[field:DE]")]
    people += [("ops-" + cc.lower(), "[country_ops:%s]" % cc) for cc in MARKETS]
    with open(d + "/tokens.yaml", "w") as f:
        for p, roles in people:
            f.write("- principal: %s\n  token_sha256: %s\n  roles: %s\n" %
                    (p, hashlib.sha256((p + "-token").encode()).hexdigest(), roles))
    with open(d + "/worker.token", "w") as f:
        f.write("worker-token")
    os.chmod(d + "/worker.token", 0o600)


def pg_user():
    # scripts/setup.sh creates the user once; tests never race to create it.
    if sh(["id", "-u", PG_USER], check=False).returncode != 0:
        raise RuntimeError("OS user %s does not exist: run scripts/setup.sh" % PG_USER)
    return PG_USER


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--source", required=True)
    a = ap.parse_args()
    cli = os.path.join(a.bin, "cli", "harmonia")
    if os.geteuid() != 0:
        print("SKIPPED: network namespaces need root (CAP_NET_ADMIN); running as uid %d" % os.geteuid())
        return SKIP
    hosts = Hosts()
    tmp = tempfile.mkdtemp(prefix="harmonia-multihost-")
    procs, pg = [], None
    try:
        why = hosts.up()
        if why:
            print("SKIPPED: the kernel refuses a multi-host network here: " + why)
            return SKIP
        print("hosts: " + ", ".join("%s=%s" % kv for kv in hosts.ns.items()))
        os.chmod(tmp, 0o755)
        certificates(tmp)
        tokens(tmp)
        tls = lambda name: ["--tls-ca", tmp + "/ca.crt", "--tls-cert", "%s/%s.crt" % (tmp, name),
                            "--tls-key", "%s/%s.key" % (tmp, name)]

        # PostgreSQL on hq, reachable from the markets' links, password required.
        user = pg_user()
        data = tmp + "/pg"
        os.mkdir(data)
        shutil.chown(data, user, user)
        with open(tmp + "/pwfile", "w") as f:
            f.write(PASSWORD)
        shutil.chown(tmp + "/pwfile", user, user)
        as_pg = ["/usr/sbin/runuser", "-u", user, "--"]
        sh(as_pg + [PG_BIN + "/initdb", "-D", data, "--username=harmonia", "--pwfile=" + tmp + "/pwfile",
                    "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8"])
        with open(data + "/postgresql.conf", "a") as f:
            f.write("listen_addresses = '127.0.0.1,10.88.1.1,10.88.2.1,10.88.3.1'\nport = 5432\n"
                    "unix_socket_directories = '%s'\nmax_connections = 100\n" % data)
        with open(data + "/pg_hba.conf", "a") as f:
            f.write("host all all 10.88.0.0/16 scram-sha-256\n")
        sh(hosts.exec("hq", as_pg + [PG_BIN + "/pg_ctl", "start", "-w", "-t", "60", "-D", data,
                                     "-l", data + "/server.log"]))
        pg = data
        sh(hosts.exec("hq", as_pg + [PG_BIN + "/createdb", "-h", data, "-U", "harmonia", "harmonia"]))
        env = dict(os.environ, PGPASSWORD=PASSWORD)
        store_hq = "postgresql://harmonia@127.0.0.1:5432/harmonia"
        store_of = lambda cc: "postgresql://harmonia@10.88.%d.1:5432/harmonia" % MARKETS[cc]

        # Data: generated here, imported on hq.
        countries = tmp + "/countries"
        os.mkdir(countries)
        for cc in MARKETS:
            gen = tmp + "/data-" + cc
            sh([cli, "gen", "--rules", os.path.join(a.source, "rules"), "--countries", cc,
                "--customers", str(CUSTOMERS[cc]), "--seed", str(MARKETS[cc]), "--as-of",
                "2026-11-01", "--refinements", "0", "--out", gen])
            sh(hosts.exec("hq", [cli, "import", "--quiet", "--store", store_hq, gen]), env=env)
            with open(os.path.join(a.source, "countries", cc + ".yaml")) as src, \
                    open(countries + "/%s.yaml" % cc, "w") as dst:
                dst.write("".join(l for l in src if not l.startswith("schedule:")))

        rules = Proc(hosts.exec("hq", [os.path.join(a.bin, "services", "harmonia-rules"),
                                       "--listen", "0.0.0.0:7440", "--store", store_hq,
                                       "--tokens", tmp + "/tokens.yaml",
                                       "--tls-cert", tmp + "/rules.crt", "--tls-key", tmp + "/rules.key",
                                       "--tls-client-ca", tmp + "/ca.crt"]),
                     tmp + "/rules.log", env)
        procs.append(rules)
        workers = {}
        for cc, n in MARKETS.items():
            w = Proc(hosts.exec(cc, [os.path.join(a.bin, "services", "harmonia-worker"),
                                     "--listen", "10.88.%d.2:7441" % n, "--store", store_of(cc),
                                     "--rules-server", "10.88.%d.1:7440" % n,
                                     "--rules-token-file", tmp + "/worker.token",
                                     "--rules-tls-ca", tmp + "/ca.crt",
                                     "--rules-tls-cert", "%s/worker-%s.crt" % (tmp, cc),
                                     "--rules-tls-key", "%s/worker-%s.key" % (tmp, cc),
                                     "--countries", cc, "--countries-dir", countries,
                                     "--tokens", tmp + "/tokens.yaml",
                                     "--tls-cert", "%s/worker-%s.crt" % (tmp, cc),
                                     "--tls-key", "%s/worker-%s.key" % (tmp, cc),
                                     "--tls-client-ca", tmp + "/ca.crt", "--scheduler=false"]),
                     "%s/worker-%s.log" % (tmp, cc), env)
            procs.append(w)
            workers[cc] = "10.88.%d.2:7441" % n

        def workers_log(cc):
            out = []
            for l in open("%s/worker-%s.log" % (tmp, cc)):
                try:
                    out.append(json.loads(l))
                except ValueError:
                    pass
            return out

        def harmonia(args, who, timeout=180):
            """The CLI on hq, as `who`, over mutual TLS."""
            return subprocess.run(hosts.exec("hq", [cli] + args + tls("ops")),
                                  capture_output=True, text=True, timeout=timeout,
                                  env=dict(os.environ, HARMONIA_TOKEN=who + "-token"))

        def ok(r, what):
            if r.returncode != 0:
                raise RuntimeError("%s: exit %d\n%s%s" % (what, r.returncode, r.stdout, r.stderr))
            return r.stdout

        ok(harmonia(["health", "--server", "10.88.1.1:7440", "--service", "harmonia.v1.RulesService",
                     "--wait", "60"], "ops"), "rules health")
        ok(harmonia(["rules", "publish", "--server", "10.88.1.1:7440"] +
                    [os.path.join(a.source, "rules", f) for f in ("oncology.yaml", "diabetes.yaml",
                                                                  "immunology.yaml")], "ops"), "publish")
        for cc, addr in workers.items():
            ok(harmonia(["health", "--server", addr, "--service", "harmonia.v1.CountryService",
                         "--tls-server-name", "harmonia-worker-" + cc.lower(), "--wait", "90"], "ops"),
               "worker %s health" % cc)
        print("rules service and 3 workers SERVING over mutual TLS")

        # Refinements in DE, acknowledged before the cut.
        ids = []
        with open(tmp + "/data-DE/customers.csv") as f:
            specialists = [r["customer_id"] for r in csv.DictReader(f) if r["customer_type"] == "specialist"]
        with open(tmp + "/refinements.csv", "w") as f:
            f.write("request_id,customer_id,therapy_area,segment,calls_delta,reason,comment,submitted_by\n")
            for k, cid in enumerate(specialists[:40]):
                rid = "mh-%d" % k
                ids.append(rid)
                f.write("%s,%s,oncology,conservative,1,new_information,multihost,anna\n" % (rid, cid))
        out = ok(harmonia(["refine", "submit", "--server", workers["DE"], "--country", "DE",
                           "--tls-server-name", "harmonia-worker-de", tmp + "/refinements.csv"], "anna"),
                 "refine submit")
        print("refinements: " + out.strip().splitlines()[-1])

        for cc, addr in workers.items():
            ok(harmonia(["cycle", "run", "--server", addr, "--country", cc, "--ta", "oncology",
                         "--as-of", "2026-11-01", "--tls-server-name", "harmonia-worker-" + cc.lower()],
                        "ops-" + cc.lower()), "cycle " + cc)
        print("a cycle committed in every market")

        # The console on hq: HTTPS for people, mutual TLS to every host.
        console = Proc(hosts.exec("hq", [os.path.join(a.bin, "console", "harmonia-console"),
                                         "--listen", "10.88.1.1:7480",
                                         "--rules-server", "10.88.1.1:7440",
                                         "--workers", ",".join("%s=%s" % kv for kv in workers.items()),
                                         "--https-cert", tmp + "/console.crt",
                                         "--https-key", tmp + "/console.key",
                                         "--upstream-tls-ca", tmp + "/ca.crt",
                                         "--upstream-tls-cert", tmp + "/console.crt",
                                         "--upstream-tls-key", tmp + "/console.key"]),
                       tmp + "/console.log", env)
        procs.append(console)

        def via_console(method, body, who):
            """A Connect call to the console from hq, as `who` (bearer token)."""
            script = (
                "import json, ssl, sys, urllib.request, urllib.error\n"
                "ctx = ssl.create_default_context(cafile=sys.argv[1])\n"
                "req = urllib.request.Request('https://10.88.1.1:7480/api/harmonia.v1.' + sys.argv[2],"
                " data=sys.argv[3].encode(), headers={'Content-Type': 'application/json',"
                " 'Connect-Protocol-Version': '1', 'Authorization': 'Bearer ' + sys.argv[4]})\n"
                "try:\n"
                "    r = urllib.request.urlopen(req, context=ctx, timeout=30); print(r.status); print(r.read().decode())\n"
                "except urllib.error.HTTPError as e:\n"
                "    print(e.code); print(e.read().decode())\n")
            for _ in range(100):  # the console may still be starting
                r = sh(hosts.exec("hq", [sys.executable, "-c", script, tmp + "/ca.crt", method,
                                         json.dumps(body), who + "-token"]), check=False)
                if r.returncode == 0:
                    status, text = r.stdout.split("\n", 1)
                    return int(status), text
                time.sleep(0.1)
            raise RuntimeError("the console does not answer: %s\n%s" % (r.stderr, console.log()))

        for cc in MARKETS:
            status, text = via_console("CountryService/QueryAssignments",
                                       {"country": cc, "therapy_area": "oncology", "page_size": 5}, "ops")
            assert status == 200 and len(json.loads(text)["assignments"]) == 5, (cc, status, text)
        status, text = via_console("CountryService/QueryAssignments",
                                   {"country": "FR", "therapy_area": "oncology"}, "anna")
        assert status == 403 and json.loads(text)["code"] == "permission_denied", (status, text)
        print("the console reads every market over mutual TLS; anna (field:DE) is refused FR")

        # Cut DE's link while its worker runs a cycle; restore it.
        run = subprocess.Popen(hosts.exec("hq", [cli, "cycle", "run", "--server", workers["DE"],
                                                 "--country", "DE", "--ta", "oncology", "--as-of",
                                                 "2026-11-02", "--tls-server-name",
                                                 "harmonia-worker-de"] + tls("ops")),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=dict(os.environ, HARMONIA_TOKEN="ops-de-token"))
        time.sleep(0.4)
        hosts.cut("DE", True)
        print("DE cut off mid-cycle")
        time.sleep(6)
        hosts.cut("DE", False)
        print("DE link restored")
        try:
            out, err = run.communicate(timeout=240)
            print("the interrupted cycle run: exit %d %s" % (run.returncode, (out + err).strip()[-200:]))
        except subprocess.TimeoutExpired:
            run.kill()
            print("the interrupted cycle run did not return (killed)")
        ok(harmonia(["health", "--server", workers["DE"], "--service", "harmonia.v1.CountryService",
                     "--tls-server-name", "harmonia-worker-de", "--wait", "120"], "ops"), "DE health")
        # The cut hit the cycle: it either failed, or committed only after the link came back.
        for line in workers_log("DE"):
            if line.get("event") == "cycle_committed" and line.get("as_of") == "2026-11-02":
                assert line["seconds"] > 5, "the cut did not hit the cycle: %s" % line
                print("the interrupted cycle committed after the link came back (%.1f s)" % line["seconds"])
        for attempt in range(20):
            r = harmonia(["cycle", "run", "--server", workers["DE"], "--country", "DE", "--ta",
                          "oncology", "--as-of", "2026-11-03", "--tls-server-name",
                          "harmonia-worker-de"], "ops-de")
            if r.returncode == 0:
                break
            time.sleep(2)  # e.g. ABORTED: the interrupted cycle still finishing
        ok(r, "DE cycle after the cut")
        print("DE ran again after the cut")
        status, text = via_console("CountryService/ListCycles",
                                   {"country": "DE", "therapy_area": "oncology"}, "ops-de")
        assert status == 200 and "2026-11-03" in text, (status, text)
        print("the console serves DE after the cut")

        # The store converged: whole cycles only, every acknowledged refinement.
        def sql(q):
            return sh(hosts.exec("hq", as_pg + [PG_BIN + "/psql", "-h", data, "-U", "harmonia", "-d",
                                                "harmonia", "-At", "-F", ",", "-c", q])).stdout.strip()
        partial = sql("SELECT c.cycle_id, c.customers, count(a.customer_id) FROM cycles c "
                      "LEFT JOIN assignments a ON a.cycle_id = c.cycle_id GROUP BY c.cycle_id, "
                      "c.customers HAVING count(a.customer_id) <> c.customers")
        assert partial == "", "cycles whose assignments are not whole: " + partial
        stored = set(sql("SELECT request_id FROM refinements WHERE country = 'DE'").split())
        missing = [i for i in ids if i not in stored]
        assert not missing, "acknowledged refinements lost: %s" % missing
        statuses = sql("SELECT status, count(*) FROM refinements WHERE country = 'DE' "
                       "AND cycles_applied > 0 GROUP BY status ORDER BY status")
        applied = sum(int(l.split(",")[1]) for l in statuses.splitlines())
        assert applied == len(ids), "refinements applied in a cycle: %s of %d" % (statuses, len(ids))
        refined = int(sql("SELECT count(*) FROM assignments a JOIN cycles c ON c.cycle_id = "
                          "a.cycle_id WHERE c.country = 'DE' AND a.decided_by = 'refinement'"))
        latest = sql("SELECT max(cycle_id) FROM cycles WHERE country = 'DE' AND therapy_area = 'oncology'")
        per_market = sql("SELECT country, count(*) FROM cycles WHERE therapy_area = 'oncology' "
                         "GROUP BY country ORDER BY country")
        markets = dict(l.split(",") for l in per_market.splitlines())
        assert set(markets) == set(MARKETS), per_market
        print("store converged: no partial cycle; %d/%d acknowledged refinements stored and applied "
              "(%s), %d refined assignments in DE's cycles up to %s; cycles per market %s" %
              (len(ids) - len(missing), len(ids), statuses.replace("\n", " "), refined, latest, markets))
        for p in procs:
            code = p.stop()
            if code != 0:
                raise RuntimeError("%s exited %s:\n%s" % (p.log_path, code, p.log()[-2000:]))
        procs = []
        print("multihost: ok")
        return 0
    except Exception as e:  # print the daemons' logs with the failure
        for p in procs:
            print("---- %s\n%s" % (p.log_path, p.log()[-3000:]))
        print("FAILED: %s" % e)
        return 1
    finally:
        for p in procs:
            p.stop()
        if pg:
            sh(hosts.exec("hq", ["/usr/sbin/runuser", "-u", PG_USER, "--", PG_BIN + "/pg_ctl", "stop",
                                 "-D", pg, "-m", "fast"]), check=False)
        hosts.down()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
