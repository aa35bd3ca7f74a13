#!/usr/bin/env bash
# Writes the release artifacts into ${KSO_DIST:-dist}/:
#   kso_<version>_amd64.deb  kso_<version>_arm64.deb   kso-pack, kso-fs, man pages,
#                                                     deploy files, docs (Debian 12+,
#                                                     Ubuntu 24.04+: their library versions)
#   kso-fs-linux-amd64       kso-fs-linux-arm64        static kso-fs, local packs and
#                                                     delta chains (any Linux with fusermount3)
#   SHA256SUMS
# Builds what is missing: the native build (scripts/build.sh), the arm64 build
# (scripts/build.sh --arm64; scripts/test-arm64.sh makes it in CI) and both
# static builds. As root (installs the cross toolchain on first use).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
native=${KSO_BUILD:-build}
arm64=${KSO_BUILD_ARM64:-build-arm64}
dist=${KSO_DIST:-dist}
t0=$(date +%s)

bash scripts/deps.sh --arm64
[ -x "$native/fs/kso-fs" ] && [ -x "$native/tools/kso-pack" ] || bash scripts/build.sh kso-pack kso-fs
[ -x "$arm64/fs/kso-fs" ] && [ -x "$arm64/tools/kso-pack" ] || bash scripts/build.sh --arm64 kso-pack kso-fs
bash scripts/build.sh --static kso-fs
bash scripts/build.sh --static --arm64 kso-fs
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$native/CMakeCache.txt")

# Man pages from --help (help2man), the same text on both arches.
man=$native/man
mkdir -p "$man" "$arm64/man"
help2man --no-info --section 1 --name "build and inspect kso packs" \
  --version-string "$version" "$native/tools/kso-pack" | gzip -9n > "$man/kso-pack.1.gz"
help2man --no-info --section 1 --name "mount a kso pack read-only (FUSE)" \
  --version-string "$version" "$native/fs/kso-fs" | gzip -9n > "$man/kso-fs.1.gz"
cp "$man"/*.1.gz "$arm64/man/"

rm -rf "$dist"
mkdir -p "$dist"
for b in "$native" "$arm64"; do
  cmake -S . -B "$b" > /dev/null   # picks up the man pages
  (cd "$b" && cpack -G DEB -B "$root/$dist/cpack" > "$root/$dist/cpack.log" 2>&1) || {
    tail -20 "$dist/cpack.log" >&2
    exit 1
  }
done
mv "$dist"/cpack/*.deb "$dist/"
rm -rf "$dist/cpack" "$dist/cpack.log"
for a in amd64 arm64; do
  [ -f "$dist/kso_${version}_$a.deb" ] || { echo "package: no $dist/kso_${version}_$a.deb" >&2; exit 1; }
done

strip -o "$dist/kso-fs-linux-amd64" build-static/fs/kso-fs
aarch64-linux-gnu-strip -o "$dist/kso-fs-linux-arm64" build-static-arm64/fs/kso-fs
for f in "$dist"/kso-fs-linux-*; do
  grep -q "statically linked" <<< "$(file "$f")" || { echo "package: $f is not static" >&2; exit 1; }
done
(cd "$dist" && sha256sum kso_* kso-fs-linux-* > SHA256SUMS)
ls -l "$dist"
echo "package: wrote $dist/ in $(( $(date +%s) - t0 )) s"
