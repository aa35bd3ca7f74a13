#!/usr/bin/env bash
# Installs what kso needs to build and test on Debian 12 (as root). Idempotent:
# packages already installed are not fetched again.
#   scripts/deps.sh           the native build, tests, benchmarks
#   scripts/deps.sh --arm64   also the arm64 cross build and qemu-user to run it
set -euo pipefail
arm64=0
[ "${1:-}" = --arm64 ] && arm64=1

# Libraries kso links: the arm64 build (--arm64) installs their :arm64
# variants next to these (all Multi-Arch: same).
ARCH_DEV=(
  libfuse3-dev libcurl4-openssl-dev libsqlite3-dev libzstd-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libssl-dev libxxhash-dev
)
PACKAGES=(
  # build
  build-essential cmake pkg-config git
  "${ARCH_DEV[@]}" libcli11-dev nlohmann-json3-dev
  # run
  fuse3
  # real peers in tests and the demo
  nginx docker-registry skopeo curl wget openssl apache2-utils ca-certificates util-linux procps
  attr  # getfattr: docs/DEPLOY.md's status procedure reads the mount's xattrs
  # deploy/compose.yaml run for real (tests/fs_compose_test.cc): no Docker engine needed;
  # podman load of export-image archives (tests/pack_kit_test.cc)
  podman podman-compose runc
  # packages (scripts/package.sh) and their tests in other releases' chroots
  dpkg-dev help2man mmdebstrap
  # real AArch64 code (arch: all, no foreign architecture) for the executable-filter
  # tests (tests/exec_filter_test.cc), which the native suite runs before any --arm64 step
  libc6-arm64-cross libstdc++6-arm64-cross
  # benchmarks
  squashfs-tools squashfuse
)

if [ "$arm64" = 1 ]; then
  PACKAGES+=(crossbuild-essential-arm64 qemu-user-static binfmt-support)
  for p in "${ARCH_DEV[@]}"; do PACKAGES+=("$p:arm64"); done
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
# Packages like nginx and docker-registry would start system services on
# install; kso starts its own instances, so keep the system ones down.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  made_policy=1
fi
trap '[ "$made_policy" = 1 ] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
if [ "$arm64" = 1 ] && ! grep -qx arm64 <<< "$(dpkg --print-foreign-architectures)"; then
  dpkg --add-architecture arm64
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" > /tmp/kso-apt.log 2>&1 || {
  tail -30 /tmp/kso-apt.log >&2
  exit 1
}
echo "deps: done"
