#!/usr/bin/env bash
# Configures and builds one CMake preset (default: the release build in build/).
#   scripts/build.sh [default|asan]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-default}
scripts/setup.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
