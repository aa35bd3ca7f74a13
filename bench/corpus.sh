#!/usr/bin/env bash
# bench/corpus.sh DIR — build a benchmark corpus that resembles a kubespray
# offline "files" tree: real amd64 + arm64 Go/C binaries from Debian packages,
# some kept as plain extracted trees (like kubeadm/kubectl/kubelet/runc that
# kubespray downloads as bare binaries) and most packed as gzip tarballs (like
# the GitHub release tarballs of containerd, cni-plugins, crictl, helm, ...).
#
# Layout:
#   DIR/files/<pkg>/<arch>/...                                   (plain, from dpkg-deb -x)
#   DIR/files/<pkg>/<arch>/<pkg>-<ver>-linux-<arch>.tar.gz       (tarball packages)
#   DIR/MANIFEST                                                  (composition summary)
#
# Downloaded .debs are cached in ${KSO_BENCH_CACHE:-/var/cache/kso-bench}.
# The output is deterministic (sorted tar, mtime 0, gzip -n), so a rebuilt
# corpus is byte-identical and results are comparable across runs.
# Re-running with an existing complete DIR is a no-op (delete DIR to rebuild).
set -euo pipefail

DIR=${1:?usage: corpus.sh DIR}
CACHE=${KSO_BENCH_CACHE:-/var/cache/kso-bench}
ARCHES=${KSO_BENCH_ARCHES:-"amd64 arm64"}

# name[=version]  mode
# mode: raw = extracted tree kept as is; tgz = packed into one .tar.gz
# Chosen so that ~75-80% of the corpus bytes are gzip-compressed, as in a
# real kubespray offline tree.  Two containerd versions mimic a tree that
# keeps more than one version of a component.
PKGS=(
  "kubernetes-client raw"
  "runc raw"
  "crun raw"
  "tini raw"
  "containerd tgz"
  "containerd=1.6.20~ds1-1+deb12u2 tgz"
  "docker.io tgz"
  "podman tgz"
  "buildah tgz"
  "skopeo tgz"
  "containernetworking-plugins tgz"
  "etcd-server tgz"
  "etcd-client tgz"
  "prometheus tgz"
  "rootlesskit tgz"
)

if [[ -f $DIR/MANIFEST && -d $DIR/files ]]; then
  echo "corpus: $DIR already built (rm -rf $DIR to rebuild)"
  cat "$DIR/MANIFEST"
  exit 0
fi

need() { command -v "$1" >/dev/null || { echo "corpus: need $1" >&2; exit 1; }; }
need apt-get; need dpkg-deb; need tar; need gzip

mkdir -p "$CACHE"
chmod 755 "$CACHE" 2>/dev/null || true

# arm64 package lists must be known to apt
for a in $ARCHES; do
  if [[ $a != "$(dpkg --print-architecture)" ]] && ! dpkg --print-foreign-architectures | grep -qx "$a"; then
    echo "corpus: adding foreign architecture $a"
    dpkg --add-architecture "$a"
    apt-get update -qq
  fi
done

# deb_for NAME VERSION ARCH -> path of cached .deb (downloading if needed)
deb_for() {
  local name=$1 ver=$2 arch=$3 fver f
  fver=${ver//:/%3a}
  f="$CACHE/${name}_${fver}_${arch}.deb"
  if [[ ! -s $f ]]; then
    (cd "$CACHE" && apt-get download -q -oAPT::Sandbox::User=root "${name}:${arch}=${ver}" >&2) || {
      echo "corpus: apt-get download ${name}:${arch}=${ver} failed" >&2; return 1; }
  fi
  [[ -s $f ]] || { echo "corpus: expected $f" >&2; return 1; }
  echo "$f"
}

candidate() { apt-cache policy "$1" | awk '/Candidate:/ {print $2}'; }

TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/kso-corpus.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
STAGE="$DIR.partial"
rm -rf "$STAGE"
mkdir -p "$STAGE/files"

for spec in "${PKGS[@]}"; do
  read -r pv mode <<<"$spec"
  name=${pv%%=*}
  if [[ $pv == *=* ]]; then ver=${pv#*=}; else ver=$(candidate "$name"); fi
  [[ -n $ver && $ver != "(none)" ]] || { echo "corpus: $name not available, skipped" >&2; continue; }
  for arch in $ARCHES; do
    deb=$(deb_for "$name" "$ver" "$arch") || continue
    dest="$STAGE/files/$name/$arch"
    if [[ $mode == raw ]]; then
      mkdir -p "$dest"
      dpkg-deb -x "$deb" "$dest"
      echo "corpus: $name $ver $arch -> raw"
    else
      # several versions of one package go side by side in one dir
      x="$TMP/x"; rm -rf "$x"; mkdir -p "$x" "$dest"
      dpkg-deb -x "$deb" "$x"
      out="$dest/${name}-${ver//[:~+]/_}-linux-${arch}.tar.gz"
      tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$x" -cf - . | gzip -n -6 > "$out"
      echo "corpus: $name $ver $arch -> $(basename "$out")"
    fi
  done
done

# normalise mtimes so squashfs/kso images of the corpus are reproducible
find "$STAGE/files" -exec touch -h -d @0 {} + 2>/dev/null || true

# composition
total=$(find "$STAGE/files" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
gz=$(find "$STAGE/files" -type f -name '*.gz' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
nfiles=$(find "$STAGE/files" -type f | wc -l)
nlinks=$(find "$STAGE/files" -type l | wc -l)
ndirs=$(find "$STAGE/files" -type d | wc -l)
{
  echo "corpus built $(date -u +%FT%TZ) arches: $ARCHES"
  echo "files $nfiles symlinks $nlinks dirs $ndirs"
  echo "bytes_total $total"
  echo "bytes_gzip $gz"
  awk -v g="$gz" -v t="$total" 'BEGIN {printf "gzip_fraction %.3f\n", (t>0?g/t:0)}'
  echo "per package (bytes, arches summed):"
  for d in "$STAGE"/files/*/; do
    printf '  %-32s %12d\n' "$(basename "$d")" "$(find "$d" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')"
  done
} > "$STAGE/MANIFEST"

rm -rf "$DIR"
mv "$STAGE" "$DIR"
cat "$DIR/MANIFEST"
