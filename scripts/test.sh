#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, fuzzes each libFuzzer
# target for a short fixed time (scripts/fuzz.sh; KSO_FUZZ_SECONDS per target,
# default 20, 0 skips it), then runs every test (gtest cases via ctest), whose
# summary is the last line. This is the command CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh
build=${KSO_BUILD:-build}
fuzz_seconds=${KSO_FUZZ_SECONDS:-20}
if [ "$fuzz_seconds" != 0 ]; then
  bash scripts/fuzz.sh --seconds "$fuzz_seconds" --jobs "$(nproc)"
fi
ctest --test-dir "$build" --output-on-failure --timeout 900 "$@"
