# bench/lib.sh — helpers sourced by the bench scripts.
# shellcheck shell=bash disable=SC2034

BENCH_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_SRC/.." && pwd)
WORK=${KSO_BENCH_DIR:-/var/tmp/kso-bench}
REPEATS=${KSO_BENCH_REPEATS:-3}

resolve_bin() { # resolve_bin VAR DEFAULT_REL_PATH
  local v=$1 def=$2 p
  p=${!v:-}
  if [[ -z $p ]]; then
    for p in "$REPO/$def" "$REPO/build-bench/${def#build/}" ""; do
      [[ -n $p && -x $p ]] && break
    done
  fi
  printf '%s' "$p"
}

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

now() { date +%s.%N; }

# median of numbers on stdin (one per line); prints "-" for none
median() {
  sort -g | awk '{a[NR]=$1} END {
    if (NR==0) {print "-"; exit}
    if (NR%2) printf "%.4g\n", a[(NR+1)/2]; else printf "%.4g\n", (a[NR/2]+a[NR/2+1])/2 }'
}
# ratio A B -> A/B with 3 decimals, "-" if either missing
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (a=="-"||b=="-"||a==""||b==""||b+0==0) print "-"; else printf "%.3f\n", a/b }'
}
# verdict VALUE OP LIMIT -> PASS/FAIL/- (OP is <= or >=)
verdict() {
  awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
    if (v=="-"||v=="") {print "n/a"; exit}
    ok = (op=="<=") ? (v+0 <= l+0) : (v+0 >= l+0); print ok ? "PASS" : "FAIL" }'
}
human() { numfmt --to=iec-i --suffix=B --format='%.1f' "$1" 2>/dev/null || echo "$1"; }

drop_caches() {
  sync
  if [[ -w /proc/sys/vm/drop_caches ]]; then echo 3 > /proc/sys/vm/drop_caches; else log "cannot drop caches (not root?)"; fi
}

# timed OUTFILE cmd... : runs cmd, appends "wall user sys maxrss_kb" to OUTFILE
timed() {
  local out=$1; shift
  local tf; tf=$(mktemp)
  local t0 t1 rc=0
  t0=$(now)
  /usr/bin/time -f '%U %S %M' -o "$tf" "$@" || rc=$?
  t1=$(now)
  [[ $rc == 0 ]] || { cat "$tf" >&2; rm -f "$tf"; return "$rc"; }
  printf '%s %s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')" "$(tail -1 "$tf")" >> "$out"
  rm -f "$tf"
}
col_median() { awk -v c="$2" '{print $c}' "$1" | median; }  # col_median FILE COLUMN

# read every regular file under DIR (a real reader: no /dev/null shortcut)
read_all() { find "$1" -type f -print0 | xargs -0r cat > /dev/null; }

# Mounts the scripts start, by name: MNT[NAME] the mount point, PID[NAME] the
# kso-fs (or squashfuse) process. umount_one NAME unmounts and reaps one.
declare -A PID=() MNT=()
umount_one() { # umount_one NAME
  local m=${MNT[$1]:-} p=${PID[$1]:-}
  if [[ -n $m ]] && mountpoint -q "$m"; then fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; fi
  if [[ -n $p ]]; then
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true
  fi
  PID[$1]=
}
