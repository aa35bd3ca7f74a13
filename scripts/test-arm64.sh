#!/usr/bin/env bash
# arm64: cross-builds kso (Release) with cmake/aarch64-linux-gnu.cmake into
# ${KSO_BUILD_ARM64:-build-arm64}, runs the arm64 test suite under qemu-user
# (binfmt_misc, so the tests' own kso-fs and kso-pack children are arm64
# too: the real FUSE mount by the arm64 kso-fs, nginx, registry, skopeo), and
# checks that the arm64 and the native kso-pack write byte-identical packs.
# Needs the native build (scripts/build.sh) for the parity check. As root
# (installs packages, enables binfmt). Called by scripts/test.sh.
#
#   scripts/test-arm64.sh [CTEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${KSO_BUILD_ARM64:-build-arm64}
native=${KSO_BUILD:-build}
t0=$(date +%s)

bash scripts/deps.sh --arm64

# qemu-user through binfmt_misc: an arm64 ELF started by anything (ctest, a
# test's posix_spawn, mount.fuse3) runs under qemu-aarch64-static.
if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
update-binfmts --enable qemu-aarch64 2>/dev/null || true
if ! grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null; then
  echo "test-arm64: qemu-aarch64 is not enabled in binfmt_misc" >&2
  exit 1
fi

bash scripts/build.sh --arm64
grep -q "ARM aarch64" <<< "$(file "$build/fs/kso-fs")" || { echo "test-arm64: $build/fs/kso-fs is not arm64" >&2; exit 1; }
t_build=$(date +%s)

# Parity first (quick, and meaningful even if a test fails): the same tree
# and SOURCE_DATE_EPOCH give the same bytes on both arches, a full pack and a
# delta on it. The tree has files large enough for several blocks, chunk
# boundaries and whole-file dedup, and the sample's registry storage.
work=$(mktemp -d /tmp/kso-parity.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/tree/bin" "$work/tree2"
cp -a sample/. "$work/tree/"
head -c 12000000 /dev/zero > "$work/zero"   # deterministic noise: AES-CTR of zeros, same size
openssl enc -aes-128-ctr -nosalt -pass pass:kso-parity -pbkdf2 -in "$work/zero" -out "$work/tree/bin/random"
head -c 3000000 "$work/tree/bin/random" > "$work/tree/bin/prefix"
cat "$build/fs/kso-fs" "$native/fs/kso-fs" > "$work/tree/bin/elf"
cp "$work/tree/bin/elf" "$work/tree/bin/elf-copy"
cp -a "$work/tree/." "$work/tree2/"
printf 'changed\n' >> "$work/tree2/bin/prefix"
export SOURCE_DATE_EPOCH=1700000000
for arch in native arm64; do
  bin=$native
  [ $arch = arm64 ] && bin=$build
  # Same file names on both sides: a delta records its base's name.
  mkdir -p "$work/$arch"
  "$bin/tools/kso-pack" -q build -o "$work/$arch/k8s.kso" --threads 2 tree="$work/tree"
  "$bin/tools/kso-pack" -q build -o "$work/$arch/delta.kso" --base "$work/$arch/k8s.kso" --threads 2 tree="$work/tree2"
done
cmp "$work/native/k8s.kso" "$work/arm64/k8s.kso"
cmp "$work/native/delta.kso" "$work/arm64/delta.kso"
echo "test-arm64: parity: arm64 and native kso-pack wrote identical packs ($(stat -c %s "$work/native/k8s.kso") and $(stat -c %s "$work/native/delta.kso") bytes)"
unset SOURCE_DATE_EPOCH
t_parity=$(date +%s)

# The suite under qemu, three at a time: on 2 cores it used half the CPU at
# -j2 (tests wait on servers and mounts), 18 min in all. The 4 GiB sparse round trip takes minutes under
# emulation and tests nothing arch-specific that the other round trips miss:
# it runs natively only.
ctest --test-dir "$build" --output-on-failure --timeout 900 -j3 \
  -E 'PackRoundTrip.SparseMultiGiBFile' "$@"
t_end=$(date +%s)
echo "test-arm64: build $((t_build - t0)) s, parity $((t_parity - t_build)) s, tests $((t_end - t_parity)) s, total $((t_end - t0)) s"
