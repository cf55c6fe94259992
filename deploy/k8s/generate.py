#!/usr/bin/env python3
"""Kubernetes manifests for Harmonia (deploy/README.md), generated from the
repository's countries/ and rules/ folders:

- ConfigMaps `harmonia-countries` (every countries/*.yaml) and
  `harmonia-rules` (every rules/*.yaml);
- the rules service: Deployment + Service `harmonia-rules` (port 7440);
- one worker per market: Deployment + Service `harmonia-worker-<cc>` (port
  7441), replicas 1 with the Recreate strategy (two workers must never serve
  one market: the refinement quota is counted in the worker);
- the web console: Deployment + Service `harmonia-console` (port 7480,
  HTTPS), forwarding to the rules service and every worker's Service over
  mutual TLS (docs/console.md);
- a Job `harmonia-publish` that publishes rules/*.yaml as global ops.

Readiness: `harmonia health` as an exec probe (Kubernetes' native gRPC probe
cannot speak TLS), asking for the daemon's own service, so a worker is ready
once it holds its markets' rule sets; liveness: the port accepts connections.
Mutual TLS everywhere; secrets are created by the operator, never generated:
harmonia-store (url, password), harmonia-tokens (tokens.yaml),
harmonia-worker-token (token), harmonia-ops-token (token), harmonia-tls
(tls.crt, tls.key, ca.crt; the certificate names every Service).

usage: deploy/k8s/generate.py [--image IMAGE] [--countries DIR] [--rules DIR]
                              [--only CC,CC] > harmonia.yaml
Python 3 standard library only.
"""
import argparse
import os
import re
import sys

RULES_PORT = 7440
WORKER_PORT = 7441
CONSOLE_PORT = 7480
TLS = "/etc/harmonia/tls"


def block(text, indent):
    pad = " " * indent
    return "\n".join(pad + line if line else "" for line in text.rstrip("\n").split("\n"))


def config_map(name, folder):
    out = ["apiVersion: v1", "kind: ConfigMap", "metadata:", "  name: %s" % name,
           "  labels: {app.kubernetes.io/part-of: harmonia}", "data:"]
    for f in sorted(os.listdir(folder)):
        if f.endswith(".yaml"):
            with open(os.path.join(folder, f), encoding="utf-8") as src:
                out.append("  %s: |" % f)
                out.append(block(src.read(), 4))
    return "\n".join(out)


def yaml_list(items, indent):
    return "\n".join(" " * indent + "- " + quote(i) for i in items)


def quote(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def health(port, service, server_name):
    return ["harmonia", "health", "--server", "127.0.0.1:%d" % port, "--service", service,
            "--tls-ca", TLS + "/ca.crt", "--tls-cert", TLS + "/tls.crt", "--tls-key",
            TLS + "/tls.key", "--tls-server-name", server_name, "--timeout", "3"]


def store_env():
    return """        env:
        - name: HARMONIA_STORE_URL
          valueFrom: {secretKeyRef: {name: harmonia-store, key: url}}
        - name: PGPASSWORD
          valueFrom: {secretKeyRef: {name: harmonia-store, key: password}}"""


def deployment(name, component, port, args, service, volumes, memory):
    probe = health(port, service, name)
    mounts = "\n".join("        - {name: %s, mountPath: %s, readOnly: true}" % (v, p)
                       for v, p, _ in volumes)
    vols = "\n".join("      - name: %s\n        %s" % (v, src) for v, _, src in volumes)
    return """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels: {{app.kubernetes.io/name: {name}, app.kubernetes.io/component: {component}, app.kubernetes.io/part-of: harmonia}}
spec:
  replicas: 1
  strategy: {{type: Recreate}}
  selector:
    matchLabels: {{app.kubernetes.io/name: {name}}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: {name}, app.kubernetes.io/component: {component}, app.kubernetes.io/part-of: harmonia}}
    spec:
      securityContext: {{runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001}}
      terminationGracePeriodSeconds: 300
      containers:
      - name: {component}
        image: IMAGE
        args:
{args}
{env}
        ports:
        - {{name: grpc, containerPort: {port}}}
        readinessProbe:
          exec:
            command:
{probe}
          periodSeconds: 5
          timeoutSeconds: 5
        livenessProbe:
          tcpSocket: {{port: {port}}}
          initialDelaySeconds: 10
          periodSeconds: 10
        resources:
          requests: {{cpu: 500m, memory: {req}}}
          limits: {{memory: {memory}}}
        securityContext: {{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {{drop: [ALL]}}}}
        volumeMounts:
{mounts}
      volumes:
{vols}
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  labels: {{app.kubernetes.io/part-of: harmonia}}
spec:
  selector: {{app.kubernetes.io/name: {name}}}
  ports:
  - {{name: grpc, port: {port}, targetPort: grpc}}""".format(
        name=name, component=component, port=port, args=yaml_list(args, 8), env=store_env(),
        probe=yaml_list(probe, 12), mounts=mounts, vols=vols, memory=memory,
        req="256Mi" if memory == "512Mi" else "512Mi")


def console_deployment(markets, tls):
    """The console: HTTPS for people, mutual TLS to the services. One
    replica (sessions live in its memory: docs/console.md)."""
    workers = ",".join("%s=harmonia-worker-%s:%d" % (cc, cc.lower(), WORKER_PORT) for cc in markets)
    args = ["--listen=0.0.0.0:%d" % CONSOLE_PORT, "--rules-server=harmonia-rules:%d" % RULES_PORT,
            "--workers=" + workers, "--web-root=/usr/local/share/harmonia/web",
            "--https-cert=%s/tls.crt" % TLS, "--https-key=%s/tls.key" % TLS,
            "--upstream-tls-ca=%s/ca.crt" % TLS, "--upstream-tls-cert=%s/tls.crt" % TLS,
            "--upstream-tls-key=%s/tls.key" % TLS]
    return """apiVersion: apps/v1
kind: Deployment
metadata:
  name: harmonia-console
  labels: {{app.kubernetes.io/name: harmonia-console, app.kubernetes.io/component: console, app.kubernetes.io/part-of: harmonia}}
spec:
  replicas: 1
  strategy: {{type: Recreate}}
  selector:
    matchLabels: {{app.kubernetes.io/name: harmonia-console}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: harmonia-console, app.kubernetes.io/component: console, app.kubernetes.io/part-of: harmonia}}
    spec:
      securityContext: {{runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001}}
      terminationGracePeriodSeconds: 60
      containers:
      - name: console
        image: IMAGE
        command: [harmonia-console]
        args:
{args}
        ports:
        - {{name: https, containerPort: {port}}}
        readinessProbe:
          httpGet: {{path: /healthz, port: https, scheme: HTTPS}}
          periodSeconds: 5
        livenessProbe:
          httpGet: {{path: /healthz, port: https, scheme: HTTPS}}
          initialDelaySeconds: 5
          periodSeconds: 10
        resources:
          requests: {{cpu: 250m, memory: 128Mi}}
          limits: {{memory: 512Mi}}
        securityContext: {{allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {{drop: [ALL]}}}}
        volumeMounts:
        - {{name: {tls_name}, mountPath: {tls_path}, readOnly: true}}
      volumes:
      - name: {tls_name}
        {tls_src}
---
apiVersion: v1
kind: Service
metadata:
  name: harmonia-console
  labels: {{app.kubernetes.io/part-of: harmonia}}
spec:
  selector: {{app.kubernetes.io/name: harmonia-console}}
  ports:
  - {{name: https, port: {port}, targetPort: https}}""".format(
        args=yaml_list(args, 8), port=CONSOLE_PORT, tls_name=tls[0], tls_path=tls[1],
        tls_src=tls[2])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--image", default="harmonia:0.1.0")
    ap.add_argument("--countries", default=os.path.join(root, "countries"))
    ap.add_argument("--rules", default=os.path.join(root, "rules"))
    ap.add_argument("--only", default="", help="markets to generate workers for (default: all)")
    a = ap.parse_args()
    markets = sorted(f[:-5] for f in os.listdir(a.countries)
                     if re.fullmatch(r"[A-Z]{2}\.yaml", f))
    if a.only:
        wanted = a.only.split(",")
        unknown = [c for c in wanted if c not in markets]
        if unknown:
            sys.exit("generate.py: no country file for %s in %s" % (", ".join(unknown), a.countries))
        markets = wanted
    tls = ("tls", TLS, "secret: {secretName: harmonia-tls, defaultMode: 0440}")
    tokens = ("tokens", "/etc/harmonia/tokens",
              "secret: {secretName: harmonia-tokens, defaultMode: 0440}")
    docs = ["# Generated by deploy/k8s/generate.py from countries/ and rules/: do not edit.",
            config_map("harmonia-countries", a.countries), config_map("harmonia-rules", a.rules)]
    docs.append(deployment(
        "harmonia-rules", "rules", RULES_PORT,
        ["--listen=0.0.0.0:%d" % RULES_PORT, "--store=$(HARMONIA_STORE_URL)",
         "--tokens=/etc/harmonia/tokens/tokens.yaml", "--tls-cert=%s/tls.crt" % TLS,
         "--tls-key=%s/tls.key" % TLS, "--tls-client-ca=%s/ca.crt" % TLS],
        "harmonia.v1.RulesService", [tls, tokens], "512Mi"))
    for cc in markets:
        name = "harmonia-worker-" + cc.lower()
        docs.append(deployment(
            name, "worker", WORKER_PORT,
            ["--listen=0.0.0.0:%d" % WORKER_PORT, "--store=$(HARMONIA_STORE_URL)",
             "--countries=" + cc, "--countries-dir=/etc/harmonia/countries",
             "--rules-server=harmonia-rules:%d" % RULES_PORT,
             "--rules-token-file=/etc/harmonia/worker-token/token",
             "--rules-tls-ca=%s/ca.crt" % TLS, "--rules-tls-cert=%s/tls.crt" % TLS,
             "--rules-tls-key=%s/tls.key" % TLS, "--tokens=/etc/harmonia/tokens/tokens.yaml",
             "--tls-cert=%s/tls.crt" % TLS, "--tls-key=%s/tls.key" % TLS,
             "--tls-client-ca=%s/ca.crt" % TLS],
            "harmonia.v1.CountryService",
            [tls, tokens,
             ("countries", "/etc/harmonia/countries", "configMap: {name: harmonia-countries}"),
             ("worker-token", "/etc/harmonia/worker-token",
              "secret: {secretName: harmonia-worker-token, defaultMode: 0440}")],
            "1Gi"))
    docs.append(console_deployment(markets, tls))
    docs.append("""apiVersion: batch/v1
kind: Job
metadata:
  name: harmonia-publish
  labels: {app.kubernetes.io/part-of: harmonia}
spec:
  backoffLimit: 3
  template:
    spec:
      restartPolicy: OnFailure
      securityContext: {runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001}
      containers:
      - name: publish
        image: IMAGE
        command: [sh, -c]
        args:
        - >-
          HARMONIA_TOKEN=$(cat /etc/harmonia/ops-token/token)
          exec harmonia rules publish --server harmonia-rules:%d
          --tls-ca %s/ca.crt --tls-cert %s/tls.crt --tls-key %s/tls.key
          /etc/harmonia/rules/*.yaml
        volumeMounts:
        - {name: rules, mountPath: /etc/harmonia/rules, readOnly: true}
        - {name: tls, mountPath: %s, readOnly: true}
        - {name: ops-token, mountPath: /etc/harmonia/ops-token, readOnly: true}
      volumes:
      - name: rules
        configMap: {name: harmonia-rules}
      - name: tls
        secret: {secretName: harmonia-tls, defaultMode: 0440}
      - name: ops-token
        secret: {secretName: harmonia-ops-token, defaultMode: 0440}""" % (RULES_PORT, TLS, TLS, TLS, TLS))
    sys.stdout.write("\n---\n".join(docs).replace("image: IMAGE", "image: " + a.image) + "\n")


if __name__ == "__main__":
    main()
