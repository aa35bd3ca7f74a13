#!/usr/bin/env bash
# Configures and builds kso. One place for every build kind:
#   scripts/build.sh [TARGET...]            native, RelWithDebInfo, in ${KSO_BUILD:-build}
#   scripts/build.sh --arm64 [TARGET...]    arm64 cross build, Release, in ${KSO_BUILD_ARM64:-build-arm64}
#   scripts/build.sh --static [--arm64]     the static kso-fs (local packs only), Release,
#                                           in build-static[-arm64]
# TARGETs (e.g. kso-pack kso-fs) build only those; default: everything.
# The arm64 builds need scripts/deps.sh --arm64 first.
set -euo pipefail
cd "$(dirname "$0")/.."
arm64=0 static=0 targets=()
for a in "$@"; do
  case "$a" in
    --arm64) arm64=1 ;;
    --static) static=1 ;;
    *) targets+=(--target "$a") ;;
  esac
done
args=()
if [ $arm64 = 1 ]; then
  args+=(-DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-linux-gnu.cmake")
fi
if [ $static = 1 ]; then
  build=build-static
  [ $arm64 = 1 ] && build=build-static-arm64
  args+=(-DKSO_STATIC=ON -DCMAKE_BUILD_TYPE=Release)
elif [ $arm64 = 1 ]; then
  build=${KSO_BUILD_ARM64:-build-arm64}
  args+=(-DCMAKE_BUILD_TYPE=Release)
else
  build=${KSO_BUILD:-build}
  args+=(-DCMAKE_BUILD_TYPE=${KSO_BUILD_TYPE:-RelWithDebInfo})
fi
cmake -S . -B "$build" "${args[@]}" > /dev/null
cmake --build "$build" -j"$(nproc)" "${targets[@]}"
