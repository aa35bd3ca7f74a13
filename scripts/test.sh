#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, runs every test (gtest
# cases via ctest). This is the command CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh
build=${KSO_BUILD:-build}
ctest --test-dir "$build" --output-on-failure --timeout 900 "$@"
