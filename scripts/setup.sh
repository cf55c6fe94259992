#!/usr/bin/env bash
# Installs the Debian 12 packages Harmonia builds, tests and runs with.
# Idempotent: when every package is present it only checks, in well under a
# second.
#   scripts/setup.sh            everything: build, test and run (the default)
#   scripts/setup.sh build      what compiling needs (the container's build stage)
#   scripts/setup.sh runtime    what the binaries need to run (the container's
#                               runtime stage; tests/deploy_test.py checks it
#                               covers every library they load)
#   scripts/setup.sh --list GROUP   print the packages of a group
set -euo pipefail

RUNTIME=(
  libgrpc++1.51 libgrpc29 libc-ares2 libre2-9 libprotobuf32 libabsl20220623 libyaml-cpp0.7 libsqlite3-0 libpq5 libxxhash0
  libssl3 tzdata ca-certificates libcpp-httplib0.11
)
BUILD=(
  build-essential cmake pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libyaml-cpp-dev libgtest-dev libgmock-dev libbenchmark-dev
  libsqlite3-dev libpq-dev tzdata libxxhash-dev libssl-dev libdtl-dev libboost-math-dev
  libcpp-httplib-dev libeigen3-dev
)
# The test suite's real parts: a PostgreSQL server, clang for the sanitizer
# and fuzzing build, an independent Python client, SciPy for reference
# statistics, scikit-learn for reference discriminant analysis, Chromium for the HTML report, openssl for test certificates,
# iproute2 and iptables for the multi-host network test.
TEST=(
  postgresql clang libclang-rt-14-dev time openssl python3-grpcio python3-scipy python3-sklearn python3-yaml
  chromium iproute2 iptables
)

group=${1:-all}
list=false
if [[ $group == --list ]]; then list=true; group=${2:?usage: scripts/setup.sh --list all|build|runtime}; fi
case $group in
  all) PACKAGES=("${BUILD[@]}" "${TEST[@]}" "${RUNTIME[@]}") ;;
  build) PACKAGES=("${BUILD[@]}") ;;
  runtime) PACKAGES=("${RUNTIME[@]}") ;;
  *) echo "usage: scripts/setup.sh [all|build|runtime|--list GROUP]" >&2; exit 2 ;;
esac
# The console's web app is built with Node.js 18 or newer and npm (web/):
# Debian 12's own nodejs and npm, unless a Node.js is installed already.
if [[ $group == all || $group == build ]]; then
  command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
  command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)
fi
if $list; then printf '%s\n' "${PACKAGES[@]}"; exit 0; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
if ((${#missing[@]} > 0)); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# PostgreSQL refuses to run as root: the tests' and benchmarks' throwaway
# servers run as this unprivileged system user. Created here, once, before
# any test runs (tests running in parallel must not race to create it).
if [[ $group == all ]] && ! id harmonia-pg >/dev/null 2>&1; then
  echo "setup: creating the system user harmonia-pg (runs the tests' PostgreSQL servers)" >&2
  $SUDO useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
    --user-group --comment "Harmonia test PostgreSQL servers" harmonia-pg
fi

if [[ $group == all || $group == build ]] &&
   ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 18 ? 1 : 0)'; then
  echo "setup: Node.js $(node --version) is too old for the console's web app; it needs 18 or newer" >&2
  exit 1
fi
