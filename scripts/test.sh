#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run): installs dependencies,
# builds, fuzzes each libFuzzer target for a short fixed time (scripts/fuzz.sh;
# KSO_FUZZ_SECONDS per target, default 20, 0 skips it), runs every native test
# (gtest cases via ctest; extra arguments go to this ctest), then the arm64
# build and suite under qemu with the arm64/amd64 pack parity check
# (scripts/test-arm64.sh), then writes dist/ (scripts/package.sh: both .debs,
# both static kso-fs) and tests those where they will run
# (scripts/test-package.sh). KSO_ARM64=0 stops after the native suite (a
# quicker local loop; CI runs everything). Each step prints its time.
# Run it as root, or as a user with sudo: it re-runs itself through sudo.
set -euo pipefail
# Root installs the packages and mounts with allow_other: not root, re-run
# through sudo (root needs no sudo, and a fresh container has none).
if [ "$(id -u)" -ne 0 ] && command -v sudo > /dev/null; then
  exec sudo -- env "KSO_BUILD=${KSO_BUILD:-}" "KSO_FUZZ_SECONDS=${KSO_FUZZ_SECONDS:-}" "KSO_ARM64=${KSO_ARM64:-}" \
    bash "$0" "$@"
fi
cd "$(dirname "$0")/.."
t0=$(date +%s)
step() { echo "test: $1 took $(( $(date +%s) - $2 )) s"; }
bash scripts/deps.sh
bash scripts/build.sh
build=${KSO_BUILD:-build}
step "deps + native build" "$t0"
fuzz_seconds=${KSO_FUZZ_SECONDS:-20}
if [ "$fuzz_seconds" != 0 ]; then
  t=$(date +%s)
  bash scripts/fuzz.sh --seconds "$fuzz_seconds" --jobs "$(nproc)"
  step "fuzz" "$t"
fi
t=$(date +%s)
ctest --test-dir "$build" --output-on-failure --timeout 900 "$@"
step "native tests" "$t"
if [ "${KSO_ARM64:-1}" != 0 ]; then
  t=$(date +%s)
  bash scripts/test-arm64.sh
  step "arm64 build + tests" "$t"
  t=$(date +%s)
  bash scripts/package.sh
  bash scripts/test-package.sh
  step "packages + their tests" "$t"
fi
step "everything" "$t0"
