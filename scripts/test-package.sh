#!/usr/bin/env bash
# Tests the release artifacts in ${KSO_DIST:-dist}/ (scripts/package.sh) where
# they will run, not on the build host:
#  1. the amd64 .deb, installed by apt into a fresh Debian 12 (bookworm)
#     minbase chroot: apt must resolve its Depends; then from /usr/bin:
#     --version, build a pack, `mount -t fuse.kso-fs`, an fstab line and
#     `mount MNT`, the man pages and the deploy files;
#  2. the arm64 .deb's control data (Architecture, the :arm64 Depends);
#  3. the offline kit (kso-pack kit) from this dist/, carried into a Debian 11
#     (bullseye) minbase chroot holding only fuse3, its SHA256SUMS checked
#     there; then both static kso-fs of the kit in that chroot
#     (fusermount3 only): each mounts the kit's delta chain, reports it with
#     --status, stock nginx on the host serves the mount on 127.0.0.1, and curl's bytes match;
#     the arm64 one runs through qemu-user from binfmt_misc, with nothing
#     arm64 in the chroot. A URL is refused with one line;
#  4. the suite's PackKit.KitFromRealDist on this dist/;
#  5. docs/DEPLOY.md's from-source install, as written, in this checkout (the
#     deps are in and the build is done, so it installs what was built into
#     /usr/local); the installed binaries are checked against the build and
#     removed again (build/install_manifest.txt). Skipped, with a line, if a
#     kso is installed in /usr/local already: it is not overwritten.
# Chroots are cached as tarballs in ${KSO_CHROOT_CACHE:-/var/cache/kso-chroots}
# (mmdebstrap needs Debian's mirror once). As root.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dist=$root/${KSO_DIST:-dist}
native=$root/${KSO_BUILD:-build}
cache=${KSO_CHROOT_CACHE:-/var/cache/kso-chroots}
mirror=${KSO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
t0=$(date +%s)
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$native/CMakeCache.txt")
deb_amd64=$dist/kso_${version}_amd64.deb
deb_arm64=$dist/kso_${version}_arm64.deb
for f in "$deb_amd64" "$deb_arm64" "$dist/kso-fs-linux-amd64" "$dist/kso-fs-linux-arm64"; do
  [ -f "$f" ] || { echo "test-package: missing $f (run scripts/package.sh)" >&2; exit 1; }
done
(cd "$dist" && sha256sum --quiet -c SHA256SUMS)

work=$(mktemp -d /tmp/kso-pkgtest.XXXXXX)
mounts=()
nginx_pid=""
cleanup() {
  set +e
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    umount "${mounts[$i]}" 2>/dev/null || umount -l "${mounts[$i]}" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "test-package: FAIL: $*" >&2; exit 1; }
# The ```sh block after "<!-- procedure: NAME -->" in docs/DEPLOY.md, as written.
doc_block() {
  local b
  b=$(awk -v want="<!-- procedure: $1 -->" '$0 == want {p = 1; next} p && /^```sh$/ {q = 1; next}
        q && /^```$/ {exit} q {print}' docs/DEPLOY.md)
  [ -n "$b" ] || fail "docs/DEPLOY.md lost its procedure $1"
  printf '%s\n' "$b"
}

# A chroot of RELEASE (minbase + PACKAGES) unpacked in DIR, from the cache.
make_chroot() {
  local release=$1 dir=$2 packages=${3:-}
  local tar=$cache/$release-minbase${packages:+-${packages//,/-}}.tar
  mkdir -p "$cache" "$dir"
  if [ ! -s "$tar" ]; then
    mmdebstrap --quiet --format=tar --variant=minbase ${packages:+--include="$packages"} "$release" "$tar.tmp" "$mirror"
    mv "$tar.tmp" "$tar"
  fi
  tar -C "$dir" -xf "$tar"
  # What a FUSE mount needs from the host: /dev/fuse and /proc (mtab).
  mount --bind /dev "$dir/dev"; mounts+=("$dir/dev")
  mount -t proc proc "$dir/proc"; mounts+=("$dir/proc")
}

# ---- 1. the amd64 .deb on a fresh bookworm -------------------------------
deb_root=$work/bookworm
make_chroot bookworm "$deb_root"
cp "$deb_amd64" "$deb_root/tmp/"
cp /etc/resolv.conf "$deb_root/etc/resolv.conf"
# mmdebstrap leaves no package lists: fetch them, as a fresh host would.
chroot "$deb_root" apt-get update -qq > "$work/apt.log" 2>&1 || { tail -20 "$work/apt.log"; fail "apt-get update in the chroot"; }
# DEPLOY.md section 1's install, as written, where the .deb is.
chroot "$deb_root" env DEBIAN_FRONTEND=noninteractive /bin/sh -ec "cd /tmp && $(doc_block install-deb)" \
  >> "$work/apt.log" 2>&1 || { tail -20 "$work/apt.log"; fail "DEPLOY.md's install-deb procedure"; }
in_deb() { chroot "$deb_root" /bin/sh -c "$1"; }
grep -q "kso-pack $version" <<< "$(in_deb 'kso-pack --version')" || fail "kso-pack --version"
grep -q "kso-fs $version" <<< "$(in_deb 'kso-fs --version')" || fail "kso-fs --version"
[ "$(in_deb 'command -v kso-fs')" = /usr/bin/kso-fs ] || fail "kso-fs is not /usr/bin/kso-fs"
for f in kso-fs@.service srv-kso.mount compose.yaml nginx.conf registry-config.yml kso-switch.sh; do
  [ -f "$deb_root/usr/share/kso/deploy/$f" ] || fail "/usr/share/kso/deploy/$f missing from the .deb"
done
[ -x "$deb_root/usr/share/kso/deploy/kso-switch.sh" ] || fail "kso-switch.sh lost its mode"
[ -f "$deb_root/usr/share/doc/kso/DEPLOY.md" ] || fail "docs missing"
[ -f "$deb_root/usr/share/man/man1/kso-fs.1.gz" ] && [ -f "$deb_root/usr/share/man/man1/kso-pack.1.gz" ] || fail "man pages missing"
in_deb 'mkdir -p /srv/tree/files /srv/kso && cp -a /usr/share/doc/kso/. /srv/tree/files/ &&
        kso-pack -q build -o /srv/k8s.kso files=/srv/tree/files'
# mount(8) -> /sbin/mount.fuse3 -> kso-fs, all from the package and its Depends.
in_deb 'mount -t fuse.kso-fs /srv/k8s.kso /srv/kso -o allow_other,cache_size=64M'
mounts+=("$deb_root/srv/kso")
cmp "$deb_root/srv/tree/files/DEPLOY.md" "$deb_root/srv/kso/files/DEPLOY.md" || fail "mount -t: wrong bytes"
in_deb 'umount /srv/kso'
echo '/srv/k8s.kso /srv/kso fuse.kso-fs allow_other,cache_size=64M,nofail 0 0' >> "$deb_root/etc/fstab"
in_deb 'mount /srv/kso'
cmp "$deb_root/srv/tree/files/README.md" "$deb_root/srv/kso/files/README.md" || fail "fstab mount: wrong bytes"
grep -q " $deb_root/srv/kso fuse.kso-fs " /proc/mounts || fail "fstab mount is not fuse.kso-fs"
in_deb 'umount /srv/kso'
echo "test-package: amd64 .deb: installed by apt on bookworm; mount -t fuse.kso-fs and fstab mounts read back"

# ---- 2. the arm64 .deb's control data ------------------------------------
[ "$(dpkg-deb -f "$deb_arm64" Architecture)" = arm64 ] || fail "arm64 .deb Architecture"
deps=$(dpkg-deb -f "$deb_arm64" Depends)
for lib in libfuse3-3 libsqlite3-0 libzstd1 libcurl4 fuse3; do
  grep -q "$lib" <<< "$deps" || fail "arm64 .deb Depends lacks $lib: $deps"
done
grep -q "./usr/bin/kso-fs$" <<< "$(dpkg-deb -c "$deb_arm64")" || fail "arm64 .deb has no /usr/bin/kso-fs"
dpkg-deb --fsys-tarfile "$deb_arm64" | tar -xO ./usr/bin/kso-fs > "$work/kso-fs.arm64"
grep -q "ARM aarch64" <<< "$(file "$work/kso-fs.arm64")" || fail "arm64 .deb's kso-fs is not arm64"
echo "test-package: arm64 .deb: Architecture arm64, Depends $deps"

# ---- 3. the static kso-fs on a bullseye that has only fusermount3 --------
old_root=$work/bullseye
make_chroot bullseye "$old_root" fuse3
export SOURCE_DATE_EPOCH=1700000000
mkdir -p "$work/tree/files/dl.k8s.io/v1" "$work/tree2"
cp -a sample/files/. "$work/tree/files/"
head -c 5000000 "$dist/kso-fs-linux-amd64" > "$work/tree/files/dl.k8s.io/v1/kubelet"
cp -a "$work/tree/." "$work/tree2/"
printf 'v2\n' >> "$work/tree2/files/dl.k8s.io/v1/kubelet"
mkdir -p "$work/site" "$old_root/srv"
"$native/tools/kso-pack" -q build -o "$work/site/base.kso" files="$work/tree/files"
"$native/tools/kso-pack" -q build -o "$work/site/k8s.kso" --base "$work/site/base.kso" files="$work/tree2/files"
unset SOURCE_DATE_EPOCH
# The kit round trip: made from the real dist/ on the build side, checked
# and used from inside the old release with its own tools only.
"$native/tools/kso-pack" -q kit -o "$old_root/kit" "$work/site/k8s.kso" --dist "$dist" --host 127.0.0.1
chroot "$old_root" /bin/sh -c 'cd /kit && sha256sum --quiet -c SHA256SUMS' || fail "the kit's SHA256SUMS do not check in the chroot"
for f in packs/k8s.kso packs/base.kso bin/kso-fs-linux-amd64 bin/kso-fs-linux-arm64 deb/kso_${version}_amd64.deb \
         deb/kso_${version}_arm64.deb offline.yml README.txt deploy/kso-fs@.service; do
  [ -f "$old_root/kit/$f" ] || fail "the kit lacks $f"
done
port=$(( 20000 + RANDOM % 20000 ))
mkdir -p "$work/nginx/logs"
cat > "$work/nginx/nginx.conf" <<NGINX
daemon off; worker_processes 1; user root; pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events {}
http {
  access_log off; sendfile on;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server { listen 127.0.0.1:$port; root $old_root/srv/kso/files; }
}
NGINX
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
nginx_pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
for arch in amd64 arm64; do
  if [ "$arch" = "$(uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')" ]; then
    # DEPLOY.md section 1's static install, as written, in the kit's bin/.
    chroot "$old_root" /bin/sh -ec "cd /kit/bin && $(doc_block install-static)" || fail "DEPLOY.md's install-static procedure"
  else
    # The other arch (through qemu): renamed into place, since the previous
    # daemon may still be exiting.
    cp "$old_root/kit/bin/kso-fs-linux-$arch" "$old_root/usr/local/bin/kso-fs.new"
    mv -f "$old_root/usr/local/bin/kso-fs.new" "$old_root/usr/local/bin/kso-fs"
  fi
  mkdir -p "$old_root/srv/kso"
  out=$(chroot "$old_root" /usr/local/bin/kso-fs https://origin.invalid/k8s.kso /srv/kso -o cache_dir=/tmp 2>&1) && fail "static $arch kso-fs took a URL"
  grep -q "static build" <<< "$out" || fail "static $arch kso-fs: unclear URL refusal: $out"
  # The delta finds its base next to it, by identity.
  chroot "$old_root" /usr/local/bin/kso-fs /kit/packs/k8s.kso /srv/kso -o allow_other
  mounts+=("$old_root/srv/kso")
  curl -sf "http://127.0.0.1:$port/dl.k8s.io/v1/kubelet" -o "$work/got" || fail "nginx did not serve the static $arch mount"
  cmp "$work/got" "$work/tree2/files/dl.k8s.io/v1/kubelet" || fail "static $arch kso-fs: wrong bytes through nginx"
  for f in $(cd "$work/tree2/files" && find . -type f); do
    cmp "$work/tree2/files/$f" "$old_root/srv/kso/files/$f" || fail "static $arch kso-fs: $f differs"
  done
  grep -q "static" <<< "$(chroot "$old_root" /usr/local/bin/kso-fs --version)" || fail "static $arch --version"
  # RHEL-like hosts get no kso-pack: the static binary answers "what is live".
  st=$(chroot "$old_root" /usr/local/bin/kso-fs --status /srv/kso) || fail "static $arch kso-fs --status: $st"
  grep -q "healthy" <<< "$st" || fail "static $arch kso-fs --status: $st"
  grep -q "base.kso" <<< "$st" || fail "static $arch kso-fs --status lists no base: $st"
  umount "$old_root/srv/kso"
  unset 'mounts[-1]'
  echo "test-package: static kso-fs-linux-$arch from the kit: mounted its delta chain in bullseye (fuse3 only), --status healthy, nginx served it byte-exact"
done
# The kit test of the suite against this real dist/ (it skips without one).
if [ "$dist" = "$root/dist" ]; then
  out=$("$native/tests/kso_tests" --gtest_filter='PackKit.KitFromRealDist' 2>&1) || { echo "$out"; fail "PackKit.KitFromRealDist"; }
  grep -q "\[  PASSED  \] 1 test" <<< "$out" && ! grep -q "SKIPPED" <<< "$out" || { echo "$out"; fail "PackKit.KitFromRealDist did not run"; }
  echo "test-package: PackKit.KitFromRealDist passed on this dist/"
fi
# DEPLOY.md section 1's from-source install, as written.
if [ -e /usr/local/bin/kso-fs ] || [ -e /usr/local/bin/kso-pack ]; then
  echo "test-package: a kso is installed in /usr/local: not running the install-source procedure over it"
else
  /bin/sh -ec "$(doc_block install-source)" > "$work/install-source.log" 2>&1 \
    || { cat "$work/install-source.log"; fail "DEPLOY.md's install-source procedure"; }
  for b in kso-fs kso-pack; do
    want=$("$native/$( [ $b = kso-fs ] && echo fs || echo tools)/$b" --version)
    [ "$(/usr/local/bin/$b --version)" = "$want" ] || fail "install-source: /usr/local/bin/$b is not the build's"
  done
  [ -f /usr/local/share/kso/deploy/kso-fs@.service ] || fail "install-source: no deploy files under /usr/local/share/kso"
  xargs -d '\n' rm -f < "$native/install_manifest.txt"
  echo "test-package: DEPLOY.md's from-source install ran as written ($(wc -l < "$native/install_manifest.txt") files into /usr/local, removed again)"
fi
echo "test-package: passed in $(( $(date +%s) - t0 )) s"
