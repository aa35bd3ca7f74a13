#!/usr/bin/env bash
# Installs what kso needs to build and test on Debian 12 (as root). Idempotent:
# packages already installed are not fetched again.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config git
  libfuse3-dev libcurl4-openssl-dev libsqlite3-dev libzstd-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libssl-dev libcli11-dev nlohmann-json3-dev libxxhash-dev
  # run
  fuse3
  # real peers in tests and the demo
  nginx docker-registry skopeo curl wget openssl apache2-utils ca-certificates util-linux procps
  attr  # getfattr: docs/DEPLOY.md's status procedure reads the mount's xattrs
  # deploy/compose.yaml run for real (tests/deploy_compose_test.sh): no Docker engine needed
  podman podman-compose runc
  # benchmarks
  squashfs-tools squashfuse
)

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
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" > /tmp/kso-apt.log 2>&1 || {
  tail -30 /tmp/kso-apt.log >&2
  exit 1
}
echo "deps: done"
