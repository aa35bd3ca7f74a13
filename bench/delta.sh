#!/usr/bin/env bash
# bench/delta.sh — delta packs (issue 10): size of a delta against a standalone pack of
# only what changed, and read speed of a delta mount against a flat pack of the same tree.
#
# usage: bench/delta.sh [--corpus DIR] [--pairs LIST] [-n N] [--builds N] [--disk-cold] [--keep]
#   --corpus DIR  the bench corpus (bench/corpus.sh; default $KSO_BENCH_DIR/corpus)
#   --pairs LIST  comma-separated subset of real,raw (default: both)
#   -n N          read runs per mount (default $KSO_BENCH_REPEATS, here 5)
#   --builds N    repeats of every build (default 3)
#   --disk-cold   also measure a full read with the page cache dropped (pack files on disk)
#   --keep        keep the trees and packs in $KSO_BENCH_DIR/delta (default: removed at exit)
# env: KSO_PACK (default build/tools/kso-pack), KSO_FS (build/fs/kso-fs), KSO_PACK_FLAGS
#      (added to every build, delta included), KSO_DELTA_FLAGS (added to the delta builds
#      only, e.g. "--base-min-use 25"), KSO_FS_OPTS (kso-fs -o options),
#      KSO_BENCH_DIR (/var/tmp/kso-bench), KSO_BENCH_CACHE (the corpus's .deb cache,
#      /var/cache/kso-bench: the raw pair extracts containerd and etcd-server from it).
#
# Two version pairs, OLD -> NEW, made from the corpus with hard links (no data copied):
#   real  kubespray-like tree (80 % gzip): OLD = the corpus without the containerd
#         deb12u3 tarballs and without rootlesskit; NEW = the corpus without the
#         containerd deb12u2 tarballs (a patch-release swap: new paths) with rootlesskit
#         (a component added)
#   raw   bare binaries: kubernetes-client, runc, crun, tini from the corpus plus containerd
#         extracted as files/containerd/<arch>/usr/...: OLD has deb12u2, NEW deb12u3 at the
#         same paths (5 rebuilt binaries per arch change, 25 files stay) and adds etcd-server
#         (extracted, bare binaries)
# For each pair (every pack built with the same parameters; SOURCE_DATE_EPOCH=0 so rebuilds
# are byte-identical):
#   old.kso     full pack of OLD                 flat.kso    full pack of NEW
#   delta.kso   kso-pack build --base old.kso    changed.kso pack of only the files NEW adds
#               (NEW's tree)                                 or changes vs OLD (by content)
# and measures:
#   size   delta.kso / changed.kso (target <= 1.05); also vs flat.kso, and kso-pack diff's
#          estimate of the delta
#   build  wall and CPU time of each build (median of --builds), plus kso-pack index,
#          build --base old.kidx (checked byte-identical to delta.kso) and merge (checked
#          byte-identical to flat.kso), once each
#   cold   every pack file the mount reads is in the page cache (cat > /dev/null), fresh
#          kso-fs mount, one reader reads every file (find | xargs cat): delta vs flat;
#          also the kso-fs daemon's CPU time and bytes read during the read (/proc/PID)
#   warm   the same read again right away                       (both targets <= 1.1)
#   disk   (--disk-cold) page cache dropped, fresh mount, the same read
# The delta is mounted as a site would: old.kso beside it, found by identity (no -o base).
# Runs alternate which mount goes first. Medians with min-max over N runs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CORPUS=$WORK/corpus
PAIRS=real,raw
REPEATS=${KSO_BENCH_REPEATS:-5}
BUILDS=3
DISK=
KEEP=
while (($#)); do
  case $1 in
    --corpus) CORPUS=$2; shift 2 ;;
    --pairs) PAIRS=$2; shift 2 ;;
    -n) REPEATS=$2; shift 2 ;;
    --builds) BUILDS=$2; shift 2 ;;
    --disk-cold) DISK=1; shift ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,43p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

[[ $(id -u) == 0 ]] || die "run as root (FUSE mounts, page-cache drops)"
[[ -d $CORPUS/files ]] || die "no corpus at $CORPUS (run bench/corpus.sh $CORPUS)"
KSO_PACK=$(resolve_bin KSO_PACK build/tools/kso-pack)
KSO_FS=$(resolve_bin KSO_FS build/fs/kso-fs)
[[ -n $KSO_PACK && -x $KSO_PACK ]] || die "no kso-pack (set KSO_PACK or build build/tools/kso-pack)"
[[ -n $KSO_FS && -x $KSO_FS ]] || die "no kso-fs (set KSO_FS or build build/fs/kso-fs)"
command -v jq >/dev/null || die "need jq"
DEBS=${KSO_BENCH_CACHE:-/var/cache/kso-bench}
read -r -a EXTRA <<<"${KSO_PACK_FLAGS:-}"
read -r -a DELTA_EXTRA <<<"${KSO_DELTA_FLAGS:-}"
read -r -a FS_EXTRA <<<"${KSO_FS_OPTS:+-o $KSO_FS_OPTS}"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}

D=$WORK/delta
RES=$WORK/results
mkdir -p "$D" "$RES"
STAMP=$(date +%Y%m%d-%H%M%S)
T=$(mktemp -d "$WORK/delta-tmp.XXXXXX")
# run private copies: a shared build dir may be relinked mid-run (mixing versions, or a
# half-written binary)
mkdir -p "$T/bin"
cp "$KSO_PACK" "$T/bin/kso-pack"; cp "$KSO_FS" "$T/bin/kso-fs"
BIN_ID="kso-pack $KSO_PACK sha256 $(sha256sum "$T/bin/kso-pack" | cut -c1-12), kso-fs $KSO_FS sha256 $(sha256sum "$T/bin/kso-fs" | cut -c1-12)"
KSO_PACK=$T/bin/kso-pack KSO_FS=$T/bin/kso-fs

cleanup() {
  set +e
  for n in "${!MNT[@]}"; do umount_one "$n"; done
  rm -rf "$T"
  if [[ -z $KEEP ]]; then rm -rf "$D"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# "median (min-max)" of the numbers in FILE (column C, default 1)
spread() {
  awk -v c="${2:-1}" '{print $c}' "$1" | sort -g | awk '{a[NR]=$1} END {
    if (NR==0) {print "-"; exit}
    m = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2
    if (NR==1) printf "%.3g\n", m; else printf "%.3g (%.3g-%.3g)\n", m, a[1], a[NR] }'
}
cpu_spread() { awk '{print $2+$3}' "$1" > "$1.cpu"; spread "$1.cpu"; }
bytes_of_tree() { find "$1" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}'; }
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b/1048576}'; }

# ---- the version pairs ----------------------------------------------------------------
deb() { # deb NAME VERSION-GLOB ARCH -> the cached .deb
  local f
  f=$(compgen -G "$DEBS/${1}_${2}_${3}.deb" | head -1) || true
  [[ -n $f && -s $f ]] || die "no $DEBS/${1}_${2}_${3}.deb (run bench/corpus.sh, or set KSO_BENCH_CACHE)"
  echo "$f"
}
extract() { # extract DEB DEST: a package as bare files, mtimes normalised like the corpus
  mkdir -p "$2"; dpkg-deb -x "$1" "$2"; find "$2" -exec touch -h -d @0 {} +
}
make_pair() { # make_pair NAME -> $D/NAME/{old,new}/files
  local p=$D/$1 a
  rm -rf "$p"; mkdir -p "$p/old" "$p/new"
  case $1 in
    real)
      cp -al "$CORPUS/files" "$p/old/files"
      cp -al "$CORPUS/files" "$p/new/files"
      rm -f "$p"/old/files/containerd/*/*deb12u3*
      rm -rf "$p/old/files/rootlesskit"
      rm -f "$p"/new/files/containerd/*/*deb12u2*
      ;;
    raw)
      for side in old new; do
        mkdir -p "$p/$side/files"
        for pkg in kubernetes-client runc crun tini; do cp -al "$CORPUS/files/$pkg" "$p/$side/files/$pkg"; done
      done
      for a in amd64 arm64; do
        extract "$(deb containerd '1.6.20~ds1-1+deb12u2' $a)" "$p/old/files/containerd/$a"
        extract "$(deb containerd '1.6.20~ds1-1+deb12u3' $a)" "$p/new/files/containerd/$a"
        extract "$(deb etcd-server '*' $a)" "$p/new/files/etcd-server/$a"
      done
      ;;
    *) die "unknown pair $1" ;;
  esac
  # directories made or emptied here get the corpus's mtime (0), like every file
  find "$p/old/files" "$p/new/files" -type d -exec touch -h -d @0 {} +
  # changed/files: hard links to NEW's regular files that OLD lacks or holds with other bytes
  (cd "$p/new/files" && find . -type f -printf '%P\n' | sort) > "$p/new.list"
  : > "$p/changed.list"; local added=0 changed=0 f
  while IFS= read -r f; do
    if [[ ! -f $p/old/files/$f || -L $p/old/files/$f ]]; then added=$((added + 1)); echo "$f" >> "$p/changed.list"
    elif ! cmp -s "$p/old/files/$f" "$p/new/files/$f"; then changed=$((changed + 1)); echo "$f" >> "$p/changed.list"; fi
  done < "$p/new.list"
  mkdir -p "$p/changed/files"
  while IFS= read -r f; do
    mkdir -p "$p/changed/files/$(dirname "$f")"; ln "$p/new/files/$f" "$p/changed/files/$f"
  done < "$p/changed.list"
  find "$p/changed/files" -type d -exec touch -h -d @0 {} +
  PAIR_ADDED=$added PAIR_CHANGED=$changed
}

# ---- builds -------------------------------------------------------------------------------
build() { # build TIMES OUT ARGS...: kso-pack build, timed
  local times=$1 out=$2; shift 2
  rm -f "$out"
  timed "$times" "$KSO_PACK" build "${EXTRA[@]}" "$@" -o "$out" >"$T/build.log" 2>&1 \
    || { cat "$T/build.log" >&2; die "kso-pack build -o $out failed"; }
}

# ---- mounts -------------------------------------------------------------------------------
mount_kso() { # mount_kso NAME PACK MNT
  local name=$1 img=$2 m=$3
  mkdir -p "$m"
  "$KSO_FS" "$img" "$m" -f "${FS_EXTRA[@]}" 2>>"$T/$name.err" &
  PID[$name]=$!; MNT[$name]=$m
  for _ in $(seq 600); do mountpoint -q "$m" && return 0; kill -0 "${PID[$name]}" 2>/dev/null || break; sleep 0.05; done
  cat "$T/$name.err" >&2; die "mounting $img on $m failed"
}

daemon_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime of kso-fs
daemon_rchar() { awk '/^rchar:/ {print $2}' "/proc/$1/io"; }       # bytes it read (packs, /dev/fuse)
# timed_read NAME OUT: read the whole mount once; appends wall s to OUT, the kso-fs daemon's
# CPU s (user+sys) during the read to OUT.cpu (steadier than wall on a busy machine) and
# the MiB it read (pack files; FUSE requests are small) to OUT.rmib
timed_read() {
  local c0 c1 r0 r1 t0 t1 hz
  hz=$(getconf CLK_TCK)
  c0=$(daemon_cpu_ticks "${PID[$1]}"); r0=$(daemon_rchar "${PID[$1]}"); t0=$(now)
  read_all "${MNT[$1]}/files"
  t1=$(now); c1=$(daemon_cpu_ticks "${PID[$1]}"); r1=$(daemon_rchar "${PID[$1]}")
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b - a}' >> "$2"
  awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN {printf "%.2f\n", (b - a) / hz}' >> "$2.cpu"
  awk -v a="$r0" -v b="$r1" 'BEGIN {printf "%.1f\n", (b - a) / 1048576}' >> "$2.rmib"
}

run_pair() {
  local pair=$1 p=$D/$1
  local REPORT=$RES/delta-$pair-$STAMP.txt
  log "pair $pair: making OLD and NEW trees in $p"
  make_pair "$pair"
  local old_b new_b chg_b nfiles
  old_b=$(bytes_of_tree "$p/old/files"); new_b=$(bytes_of_tree "$p/new/files"); chg_b=$(bytes_of_tree "$p/changed/files")
  nfiles=$(wc -l < "$p/new.list")
  log "pair $pair: warming the page cache with both trees"
  read_all "$p/old/files"; read_all "$p/new/files"

  # packs of a delta live next to their base (found by identity); the flat pack alone
  local K=$p/packs F=$p/flat
  mkdir -p "$K" "$F"
  local b
  for ((b = 1; b <= BUILDS; b++)); do
    log "pair $pair: builds $b/$BUILDS"
    build "$T/$pair.t.old" "$K/old.kso" "files=$p/old/files"
    build "$T/$pair.t.flat" "$F/flat.kso" "files=$p/new/files"
    build "$T/$pair.t.delta" "$K/delta.kso" --base "$K/old.kso" "${DELTA_EXTRA[@]}" "files=$p/new/files"
    build "$T/$pair.t.changed" "$p/changed.kso" "files=$p/changed/files"
  done
  log "pair $pair: index, delta from .kidx, merge"
  rm -f "$p/old.kidx"
  timed "$T/$pair.t.index" "$KSO_PACK" index "$K/old.kso" -o "$p/old.kidx" >"$T/index.log" 2>&1 || { cat "$T/index.log"; die "kso-pack index failed"; }
  build "$T/$pair.t.kidx" "$p/delta-kidx.kso" --base "$p/old.kidx" "${DELTA_EXTRA[@]}" "files=$p/new/files"
  rm -f "$p/merged.kso"
  timed "$T/$pair.t.merge" "$KSO_PACK" merge "$K/delta.kso" -o "$p/merged.kso" >"$T/merge.log" 2>&1 || { cat "$T/merge.log"; die "kso-pack merge failed"; }
  local kidx_same merge_same
  cmp -s "$p/delta-kidx.kso" "$K/delta.kso" && kidx_same=identical || kidx_same=DIFFERENT
  cmp -s "$p/merged.kso" "$F/flat.kso" && merge_same=identical || merge_same=DIFFERENT
  "$KSO_PACK" diff --json "$K/old.kso" "$F/flat.kso" > "$T/diff.json"
  "$KSO_PACK" info --json "$K/delta.kso" > "$T/info.json"
  local s_old s_flat s_delta s_chg s_kidx est supplied_base supplied_here
  s_old=$(stat -c %s "$K/old.kso"); s_flat=$(stat -c %s "$F/flat.kso"); s_delta=$(stat -c %s "$K/delta.kso")
  s_chg=$(stat -c %s "$p/changed.kso"); s_kidx=$(stat -c %s "$p/old.kidx")
  est=$(jq -r .delta.estimated_pack_bytes "$T/diff.json")
  supplied_base=$(jq -r '[.bases[].supplies_bytes] | add' "$T/info.json")
  supplied_here=$(jq -r .supplied_here_bytes "$T/info.json")

  # ---- reads ----
  log "pair $pair: mounting; checking both mounts against NEW (diff -r)"
  mount_kso delta "$K/delta.kso" "$T/mnt-delta"
  mount_kso flat "$F/flat.kso" "$T/mnt-flat"
  for t in delta flat; do
    diff -r --no-dereference "$p/new/files" "$T/mnt-$t/files" > "$T/diffr.out" 2>&1 || { head "$T/diffr.out" >&2; die "$t mount differs from NEW"; }
  done
  local i t order
  for ((i = 1; i <= REPEATS; i++)); do
    if ((i % 2)); then order="delta flat"; else order="flat delta"; fi
    for t in $order; do
      umount_one "$t"
      if [[ $t == delta ]]; then cat "$K/delta.kso" "$K/old.kso" > /dev/null; else cat "$F/flat.kso" > /dev/null; fi
      if [[ $t == delta ]]; then mount_kso delta "$K/delta.kso" "$T/mnt-delta"; else mount_kso flat "$F/flat.kso" "$T/mnt-flat"; fi
      log "pair $pair: read $i/$REPEATS $t cold, warm"
      timed_read "$t" "$T/$pair.cold.$t"
      timed_read "$t" "$T/$pair.warm.$t"
      if [[ -n $DISK ]]; then
        umount_one "$t"; drop_caches
        if [[ $t == delta ]]; then mount_kso delta "$K/delta.kso" "$T/mnt-delta"; else mount_kso flat "$F/flat.kso" "$T/mnt-flat"; fi
        log "pair $pair: read $i/$REPEATS $t disk-cold"
        timed_read "$t" "$T/$pair.disk.$t"
      fi
    done
  done
  umount_one delta; umount_one flat

  local m
  declare -A MED=()
  for m in cold warm ${DISK:+disk}; do
    for t in delta flat; do MED[$m.$t]=$(median < "$T/$pair.$m.$t"); done
  done
  local r_size r_cold r_warm
  r_size=$(ratio "$s_delta" "$s_chg"); r_cold=$(ratio "${MED[cold.delta]}" "${MED[cold.flat]}"); r_warm=$(ratio "${MED[warm.delta]}" "${MED[warm.flat]}")
  {
    echo
    echo "== delta bench, pair $pair: $(date -u +%FT%TZ), host $(hostname), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) =="
    echo "$BIN_ID"
    echo "${KSO_PACK_FLAGS:+kso-pack flags $KSO_PACK_FLAGS; }${KSO_DELTA_FLAGS:+delta flags $KSO_DELTA_FLAGS; }${KSO_FS_OPTS:+kso-fs -o $KSO_FS_OPTS; }reads: $REPEATS runs each, builds: $BUILDS each"
    echo "OLD $(mib "$old_b"); NEW $nfiles files, $(mib "$new_b"); NEW adds $PAIR_ADDED and changes $PAIR_CHANGED files: $(mib "$chg_b") ($chg_b B)"
    echo
    printf '%-34s %14s\n' pack bytes
    printf '%-34s %14s\n' "old.kso (full OLD)" "$s_old" "flat.kso (full NEW)" "$s_flat" "delta.kso (NEW on old.kso)" "$s_delta" \
      "changed.kso (added+changed only)" "$s_chg" "old.kidx" "$s_kidx" "kso-pack diff estimate of delta" "$est"
    echo "delta: $(mib "$supplied_here") of NEW's distinct bytes stored here, $(mib "$supplied_base") from old.kso"
    echo "delta built from old.kidx: $kidx_same to the one built from old.kso; merge of delta: $merge_same to flat.kso"
    echo
    printf '%-34s %s\n' "build (wall s, median (min-max))" "CPU s (user+sys)"
    for x in old:"old.kso (full OLD)" flat:"flat.kso (full NEW)" delta:"delta.kso (--base old.kso)" kidx:"delta (--base old.kidx)" \
             changed:"changed.kso" index:"kso-pack index old.kso" merge:"kso-pack merge delta.kso"; do
      printf '%-34s %-22s %s\n' "${x#*:}" "$(spread "$T/$pair.t.${x%%:*}")" "$(cpu_spread "$T/$pair.t.${x%%:*}")"
    done
    echo
    printf '%-28s %-24s %-24s %7s %8s %s\n' "read (s), median (min-max)" delta flat ratio target verdict
    printf '%-28s %-24s %-24s %7s %8s %s\n' "cold (pack in page cache)" "$(spread "$T/$pair.cold.delta")" "$(spread "$T/$pair.cold.flat")" "$r_cold" "<=1.1" "$(verdict "$r_cold" '<=' 1.1)"
    printf '%-28s %-24s %-24s %7s %8s %s\n' "warm re-read" "$(spread "$T/$pair.warm.delta")" "$(spread "$T/$pair.warm.flat")" "$r_warm" "<=1.1" "$(verdict "$r_warm" '<=' 1.1)"
    local r_ccpu; r_ccpu=$(ratio "$(median < "$T/$pair.cold.delta.cpu")" "$(median < "$T/$pair.cold.flat.cpu")")
    printf '%-28s %-24s %-24s %7s %8s %s\n' "  kso-fs CPU s during cold" "$(spread "$T/$pair.cold.delta.cpu")" "$(spread "$T/$pair.cold.flat.cpu")" "$r_ccpu" - -
    printf '%-28s %-24s %-24s %7s %8s %s\n' "  kso-fs MiB read, cold" "$(spread "$T/$pair.cold.delta.rmib")" "$(spread "$T/$pair.cold.flat.rmib")" \
      "$(ratio "$(median < "$T/$pair.cold.delta.rmib")" "$(median < "$T/$pair.cold.flat.rmib")")" - -
    if [[ -n $DISK ]]; then
      local r_disk; r_disk=$(ratio "${MED[disk.delta]}" "${MED[disk.flat]}")
      printf '%-28s %-24s %-24s %7s %8s %s\n' "disk-cold (caches dropped)" "$(spread "$T/$pair.disk.delta")" "$(spread "$T/$pair.disk.flat")" "$r_disk" "-" "-"
    fi
    echo
    printf '%-44s %9s %8s %s\n' target value limit verdict
    printf '%-44s %9s %8s %s\n' "size: delta / changed-only pack" "$r_size" "<=1.05" "$(verdict "$r_size" '<=' 1.05)"
    printf '%-44s %9s %8s %s\n' "size: delta / flat pack (reference)" "$(ratio "$s_delta" "$s_flat")" - -
    printf '%-44s %9s %8s %s\n' "cold read: delta / flat" "$r_cold" "<=1.1" "$(verdict "$r_cold" '<=' 1.1)"
    printf '%-44s %9s %8s %s\n' "warm read: delta / flat" "$r_warm" "<=1.1" "$(verdict "$r_warm" '<=' 1.1)"
    echo "raw samples:"
    for f in "$T/$pair".cold.* "$T/$pair".warm.* "$T/$pair".disk.*; do
      if [[ -f $f && $f != *.rmib ]]; then printf '  %-14s %s\n' "${f##*/"$pair".}" "$(paste -sd' ' "$f")"; fi
    done
    for f in "$T/$pair".t.*; do
      if [[ $f != *.cpu ]]; then printf '  build %-8s %s\n' "${f##*/"$pair".t.}" "$(awk '{print $1}' "$f" | paste -sd' ')"; fi
    done
  } | tee "$REPORT"
  {
    echo "delta_${pair}_size_delta=$s_delta"; echo "delta_${pair}_size_changed=$s_chg"; echo "delta_${pair}_size_flat=$s_flat"
    echo "delta_${pair}_size_ratio=$r_size"; echo "delta_${pair}_cold_ratio=$r_cold"; echo "delta_${pair}_warm_ratio=$r_warm"
    for k in "${!MED[@]}"; do echo "delta_${pair}_${k//./_}=${MED[$k]}"; done | sort
  } > "$RES/delta-$pair.env"
  log "pair $pair: report $REPORT"
  [[ -n $KEEP ]] || rm -rf "$p"
}

IFS=, read -r -a PAIR_LIST <<<"$PAIRS"
for pair in "${PAIR_LIST[@]}"; do run_pair "$pair"; done
