#!/usr/bin/python3
"""deploy/ checked as far as this machine can: no Docker and no
Kubernetes here, so the files are checked against the programs they drive.

- deploy/k8s/generate.py: the manifests parse (python3-yaml); one worker
  Deployment per country file, one replica, Recreate strategy; every flag a
  container or probe passes exists in that program; every file a flag names
  lies under a volume mount; every Secret and ConfigMap used is named in
  deploy/README.md.
- deploy/systemd: every flag of every ExecStart/ExecStartPost exists.
- deploy/container/Dockerfile: what it COPYs exists; it installs with the
  tested scripts/setup.sh groups; the runtime group provides every shared
  library the built binaries need (readelf NEEDED → dpkg -S).
- deploy/README.md: every repository path it names exists, and every
  `harmonia …` command line in it uses existing commands and flags.

usage: deploy_test.py --bin BUILD_DIR --source DIR
"""
import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import yaml

FAILURES = []


def fail(msg):
    FAILURES.append(msg)


def run(args):
    return subprocess.run(args, capture_output=True, text=True)


class Flags:
    """The flags each program accepts, from its own help."""

    def __init__(self, build):
        self.bin = {
            "harmonia-rules": os.path.join(build, "services", "harmonia-rules"),
            "harmonia-worker": os.path.join(build, "services", "harmonia-worker"),
            "harmonia-console": os.path.join(build, "console", "harmonia-console"),
            "harmonia": os.path.join(build, "cli", "harmonia"),
        }
        self.cache = {}

    def of(self, program, command=()):
        key = (program,) + tuple(command)
        if key not in self.cache:
            if program == "harmonia":
                # Commands that also run against a server show those flags with --server.
                out = run([self.bin[program]] + list(command) + ["--server", "x", "--help"])
                if out.returncode != 0:
                    out = run([self.bin[program]] + list(command) + ["--help"])
                text = out.stdout + out.stderr
                if out.returncode != 0:
                    fail("harmonia %s: not a command (%s)" % (" ".join(command), text.strip()[:200]))
                self.cache[key] = set(re.findall(r"^\s+--([a-z][a-z0-9-]*)", text, re.M))
            else:  # absl flags: --name, accepted with dashes too
                text = run([self.bin[program], "--helpfull"]).stdout
                self.cache[key] = {f.replace("_", "-") for f in re.findall(r"--([a-z][a-z0-9_]*)", text)}
        return self.cache[key]

    def check(self, where, argv):
        """argv: a command line starting with a program name (or its path)."""
        program = os.path.basename(argv[0])
        if program not in self.bin:
            return
        rest = argv[1:]
        command = []
        if program == "harmonia":
            while rest and not rest[0].startswith("-"):
                command.append(rest.pop(0))
                if len(command) == 2 or command[0] in ("report", "health", "import", "export",
                                                       "gen", "evaluate", "assignments",
                                                       "explain", "version"):
                    break
        known = self.of(program, command)
        for a in rest:
            if a.startswith("--"):
                name = a[2:].split("=", 1)[0]
                if name.replace("_", "-") not in known:
                    fail("%s: %s %s has no flag --%s" % (where, program, " ".join(command), name))


def check_k8s(source, flags, readme):
    out = run([sys.executable, os.path.join(source, "deploy", "k8s", "generate.py"),
               "--image", "harmonia:test"])
    if out.returncode != 0:
        fail("generate.py failed: " + out.stderr)
        return
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    countries = sorted(f[:-5] for f in os.listdir(os.path.join(source, "countries"))
                       if re.fullmatch(r"[A-Z]{2}\.yaml", f))
    workers = {}
    configmaps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    if sorted(configmaps["harmonia-countries"]["data"]) != [c + ".yaml" for c in countries]:
        fail("ConfigMap harmonia-countries does not hold every country file")
    for d in docs:
        if d["kind"] not in ("Deployment", "Job"):
            continue
        name = d["metadata"]["name"]
        pod = d["spec"]["template"]["spec"]
        if d["kind"] == "Deployment":
            if d["spec"]["replicas"] != 1 or d["spec"]["strategy"]["type"] != "Recreate":
                fail("%s: not one replica with the Recreate strategy" % name)
            if pod["securityContext"].get("runAsNonRoot") is not True:
                fail("%s: may run as root" % name)
        mounts = {}
        for c in pod["containers"]:
            for m in c.get("volumeMounts", []):
                mounts[m["mountPath"]] = m["name"]
            lines = []
            if d["kind"] == "Deployment":
                program = ("harmonia-worker" if "worker" in name else
                           "harmonia-console" if "console" in name else "harmonia-rules")
                lines.append([program] + c["args"])
                if "exec" in c["readinessProbe"]:
                    lines.append(c["readinessProbe"]["exec"]["command"])
                if "--countries" in " ".join(c["args"]):
                    cc = [a.split("=", 1)[1] for a in c["args"] if a.startswith("--countries=")][0]
                    workers[cc] = name
            else:
                lines.append(shlex.split(" ".join(c["args"]).split("exec ", 1)[1]))
            for argv in lines:
                flags.check("k8s " + name, argv)
                for a in argv:
                    path = a.split("=", 1)[1] if a.startswith("--") and "=" in a else a
                    if path.startswith("/etc/harmonia/") and not any(
                            path == mp or path.startswith(mp + "/") for mp in mounts):
                        fail("%s: %s is not under any volume mount" % (name, path))
        for v in pod.get("volumes", []):
            ref = (v.get("secret") or {}).get("secretName") or (v.get("configMap") or {}).get("name")
            if ref and ref not in readme and ref not in configmaps:
                fail("%s: volume %s uses %s, which deploy/README.md does not explain" %
                     (name, v["name"], ref))
        for c in pod["containers"]:
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef", {}).get("name")
                if ref and ref not in readme:
                    fail("%s: env %s uses Secret %s, not in deploy/README.md" % (name, e["name"], ref))
    if sorted(workers) != countries:
        fail("workers %s, country files %s" % (sorted(workers), countries))
    print("k8s: %d objects, %d workers, every flag known" % (len(docs), len(workers)))


def check_systemd(source, flags):
    folder = os.path.join(source, "deploy", "systemd")
    units = 0
    for f in sorted(os.listdir(folder)):
        if not f.endswith(".service"):
            continue
        units += 1
        text = open(os.path.join(folder, f)).read().replace("\\\n", " ")
        for line in text.splitlines():
            m = re.match(r"(ExecStart|ExecStartPost)=(.*)", line)
            if m:
                flags.check("systemd " + f, shlex.split(m.group(2)))
        for env in re.findall(r"EnvironmentFile=(\S+)", text):
            example = os.path.basename(env).replace("%i", "DE")
            if not example.startswith("worker-") and not os.path.exists(
                    os.path.join(folder, example + ".example")):
                fail("%s: no deploy/systemd/%s.example for %s" % (f, example, env))
    # systemd's own parser on each unit (a template as one instance). The
    # binaries are not installed here, so only that complaint is expected.
    analyzed = 0
    if shutil.which("systemd-analyze"):
        tmp = tempfile.mkdtemp(prefix="harmonia-units-")
        try:
            for f in sorted(os.listdir(folder)):
                if not f.endswith(".service"):
                    continue
                unit = os.path.join(tmp, f.replace("@.", "@DE."))
                shutil.copy(os.path.join(folder, f), unit)
                out = run(["systemd-analyze", "verify", unit])
                for line in (out.stdout + out.stderr).splitlines():
                    if re.search(r"Command /usr/local/bin/harmonia(-rules|-worker|-console)? is not "
                                 r"executable",
                                 line):
                        continue
                    fail("systemd-analyze verify %s: %s" % (f, line))
                analyzed += 1
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print("systemd: %d units, every flag known, %d checked by systemd-analyze verify" %
          (units, analyzed))


def check_dockerfile(source, build):
    text = open(os.path.join(source, "deploy", "container", "Dockerfile")).read()
    for src in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
        if src != "." and not os.path.exists(os.path.join(source, src)):
            fail("Dockerfile copies %s, which does not exist" % src)
    for built in re.findall(r"/src/(build/\S+)", text):
        if not os.path.exists(os.path.join(build, built[len("build/"):])):
            fail("Dockerfile takes %s, which the build does not make" % built)
    for group in ("build", "runtime"):
        if "setup.sh %s" % group not in text:
            fail("Dockerfile does not install with scripts/setup.sh %s" % group)
    runtime = set(run([os.path.join(source, "scripts", "setup.sh"), "--list", "runtime"]).stdout.split())
    base = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}  # in debian:12-slim already
    needed = set()
    for b in ("cli/harmonia", "services/harmonia-rules", "services/harmonia-worker",
              "console/harmonia-console"):
        dyn = run(["readelf", "-d", os.path.join(build, b)]).stdout
        needed |= set(re.findall(r"Shared library: \[(.+?)\]", dyn))
    ldconfig = run(["ldconfig", "-p"]).stdout
    for soname in sorted(needed):
        m = re.search(r"^\s+%s \(.*x86-64.*\) => (\S+)" % re.escape(soname), ldconfig, re.M)
        if not m:
            fail("%s: not found by ldconfig" % soname)
            continue
        path = os.path.realpath(m.group(1))
        owner = run(["dpkg", "-S", path]).stdout.split(":")[0]
        if not owner:
            owner = run(["dpkg", "-S", m.group(1)]).stdout.split(":")[0]
        if owner not in runtime and owner not in base:
            fail("the binaries need %s (package %s), which scripts/setup.sh runtime does not install"
                 % (soname, owner or "?"))
    print("Dockerfile: %d shared libraries, all from the runtime packages or the base image" %
          len(needed))


def check_readme(source, flags, readme):
    paths = set(re.findall(r"`((?:deploy|scripts|docs|tests|rules|countries|build)/[^` ]*)`", readme))
    for p in sorted(paths):
        p = p.rstrip(",.")
        if p.startswith("build/") or "CC" in p:
            continue  # made by scripts/build.sh, or a placeholder for a country
        if not os.path.exists(os.path.join(source, p)):
            fail("deploy/README.md names %s, which does not exist" % p)
    commands = 0
    for blockm in re.finditer(r"```sh\n(.*?)```", readme, re.S):
        for line in blockm.group(1).replace("\\\n", " ").splitlines():
            for part in re.split(r"&&|\|", line):
                words = shlex.split(part, comments=True)
                while words and re.match(r"^[A-Z_]+=", words[0]):
                    words.pop(0)
                if words and words[0] in ("harmonia", "harmonia-rules", "harmonia-worker",
                                          "harmonia-console"):
                    flags.check("deploy/README.md", words)
                    commands += 1
                for w in words:
                    if re.match(r"^(deploy|scripts)/", w) and not os.path.exists(os.path.join(source, w)):
                        fail("deploy/README.md runs %s, which does not exist" % w)
    for m in re.finditer(r"`(harmonia [a-z][^`]*)`", readme):
        words = shlex.split(m.group(1))
        flags.check("deploy/README.md", words)
        commands += 1
    print("README: %d paths exist, %d harmonia command lines checked" % (len(paths), commands))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--source", required=True)
    a = ap.parse_args()
    flags = Flags(a.bin)
    readme = open(os.path.join(a.source, "deploy", "README.md")).read()
    check_k8s(a.source, flags, readme)
    check_systemd(a.source, flags)
    check_dockerfile(a.source, a.bin)
    check_readme(a.source, flags, readme)
    if FAILURES:
        print("\n".join("FAILED: " + f for f in FAILURES))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
