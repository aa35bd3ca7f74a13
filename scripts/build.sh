#!/usr/bin/env bash
# Configures and builds kso into ${KSO_BUILD:-build} (Release with debug info).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${KSO_BUILD:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=${KSO_BUILD_TYPE:-RelWithDebInfo} > /dev/null
cmake --build "$build" -j"$(nproc)"
