#!/usr/bin/env bash
# bench/corpus-small.sh DIR — a tiny (~25 MB) synthetic corpus, no network,
# for smoke-testing the bench scripts.  Same layout as corpus.sh:
#   DIR/files/<pkg>/<arch>/...   plain "binaries", a second version of one of
#   them differing in a few places (dedup), gzip tarballs, many small files.
# Deterministic: pseudo-random bytes come from AES-CTR over zeros with a fixed key.
set -euo pipefail

DIR=${1:?usage: corpus-small.sh DIR}
if [[ -f $DIR/MANIFEST && -d $DIR/files ]]; then
  echo "corpus-small: $DIR already built (rm -rf $DIR to rebuild)"
  cat "$DIR/MANIFEST"; exit 0
fi
command -v openssl >/dev/null || { echo "corpus-small: need openssl" >&2; exit 1; }

STAGE="$DIR.partial"
rm -rf "$STAGE"; mkdir -p "$STAGE/files"

# rnd SEED BYTES: deterministic incompressible bytes
rnd() {
  local key; key=$(printf '%032x' "$1")
  head -c "$2" /dev/zero | openssl enc -aes-128-ctr -nosalt -K "$key" -iv 00000000000000000000000000000000 2>/dev/null
}
# text SEED LINES: deterministic compressible text (symbol-table-like)
text() { seq "$1" $(( $1 + $2 - 1 )) | awk '{printf "runtime.func_%08x github.com/example/pkg%d.(*Type%d).Method%d\n", $1*2654435761%4294967296, $1%97, $1%13, $1%7}'; }
# fakebin SEED MB: a "binary" of interleaved random and text parts (~50% compressible)
fakebin() {
  local s=$1 mb=$2 i
  for ((i = 0; i < mb * 4; i++)); do rnd $((s * 1000 + i)) 131072; text $((s * 100000 + i * 1000)) 1800 | head -c 131072; done
}

mk() { mkdir -p "$(dirname "$1")"; cat > "$1"; }

for arch in amd64 arm64; do
  a=$([[ $arch == amd64 ]] && echo 1 || echo 2)
  fakebin $((10 + a)) 4 | mk "$STAGE/files/kubectl/$arch/usr/bin/kubectl"
  fakebin $((20 + a)) 2 | mk "$STAGE/files/runc/$arch/usr/sbin/runc"
  # version 2 of kubectl: same bytes with a few small patches (CDC dedup target)
  v2="$STAGE/files/kubectl-v2/$arch/usr/bin/kubectl"
  mkdir -p "$(dirname "$v2")"; cp "$STAGE/files/kubectl/$arch/usr/bin/kubectl" "$v2"
  for off in 100000 1500000 3000000; do printf 'PATCHED-%s' "$off" | dd of="$v2" bs=1 seek=$off conv=notrunc status=none; done
  # tarballs (like release .tar.gz): containerd-ish and cni-ish
  for t in containerd cni-plugins; do
    x=$(mktemp -d); s=$([[ $t == containerd ]] && echo 30 || echo 40)
    mkdir -p "$x/bin"
    fakebin $((s + a)) 3 > "$x/bin/$t"
    fakebin $((s + 5 + a)) 1 > "$x/bin/$t-shim"
    text $((s * 1000)) 2000 > "$x/README"
    mkdir -p "$STAGE/files/$t/$arch"
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$x" -cf - . | gzip -n -6 > "$STAGE/files/$t/$arch/$t-1.0.0-linux-$arch.tar.gz"
    rm -rf "$x"
  done
  # docs: many small files, one duplicated file per arch
  for i in $(seq 1 100); do text $((i * 50)) $((5 + i % 40)) | mk "$STAGE/files/docs/$arch/doc$i.txt"; done
  cp "$STAGE/files/docs/$arch/doc1.txt" "$STAGE/files/docs/$arch/copy-of-doc1.txt"
  ln -s ../../kubectl/$arch/usr/bin/kubectl "$STAGE/files/docs/$arch/kubectl-link"
done
: > "$STAGE/files/empty-file"

find "$STAGE/files" -exec touch -h -d @0 {} +
total=$(find "$STAGE/files" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
gz=$(find "$STAGE/files" -type f -name '*.gz' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
{
  echo "small synthetic corpus built $(date -u +%FT%TZ)"
  echo "files $(find "$STAGE/files" -type f | wc -l) symlinks $(find "$STAGE/files" -type l | wc -l) dirs $(find "$STAGE/files" -type d | wc -l)"
  echo "bytes_total $total"
  echo "bytes_gzip $gz"
  awk -v g="$gz" -v t="$total" 'BEGIN {printf "gzip_fraction %.3f\n", (t>0?g/t:0)}'
} > "$STAGE/MANIFEST"
rm -rf "$DIR"; mv "$STAGE" "$DIR"
cat "$DIR/MANIFEST"
