#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run):
#   1. installs the Debian packages it needs (scripts/setup.sh),
#   2. builds and tests the release build (gcc),
#   3. builds and tests the ASan/UBSan build (clang), which also runs each
#      libFuzzer target for 60 s.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${HARMONIA_TEST_JOBS:-2}
scripts/build.sh default
ctest --preset default -j "$jobs"
scripts/build.sh asan
ctest --preset asan -j "$jobs"
echo "test.sh: all tests passed (release and asan/ubsan builds)"
