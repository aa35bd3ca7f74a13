#!/usr/bin/env bash
# bench/run.sh — the whole benchmark in one go: corpus, pack (issue 2), mount (issue 3),
# then one summary table of medians, ratios and targets.
#
# usage: bench/run.sh [--small] [--sweep] [--order] [-n N]
#   --small   use the synthetic no-network corpus (bench/corpus-small.sh): a smoke run
#   --sweep   also run pack.sh --sweep (18 builds; slow at level 19)
#   --order   also run pack.sh --order (--order path vs similar)
#   -n N      repeats for every measurement (default $KSO_BENCH_REPEATS or 3)
# env: see pack.sh and mount.sh (KSO_PACK, KSO_FS, KSO_PACK_FLAGS, KSO_FS_OPTS, KSO_BENCH_DIR, ...)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SMALL=; SWEEP=; ORDER=
while (($#)); do
  case $1 in
    --small) SMALL=1; shift ;;
    --sweep) SWEEP=1; shift ;;
    --order) ORDER=1; shift ;;
    -n) REPEATS=$2; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
export KSO_BENCH_REPEATS=$REPEATS
KSO_PACK=$(resolve_bin KSO_PACK build/tools/kso-pack); export KSO_PACK
KSO_FS=$(resolve_bin KSO_FS build/fs/kso-fs); export KSO_FS
mkdir -p "$WORK/results"

if [[ -n $SMALL ]]; then
  CORPUS=$WORK/corpus-small
  "$BENCH_SRC/corpus-small.sh" "$CORPUS"
  : "${KSO_BENCH_MANY_FILES:=20000}" "${KSO_BENCH_FIO_SECONDS:=3}" "${KSO_BENCH_WRK_SECONDS:=3}"
  export KSO_BENCH_MANY_FILES KSO_BENCH_FIO_SECONDS KSO_BENCH_WRK_SECONDS
else
  CORPUS=$WORK/corpus
  "$BENCH_SRC/corpus.sh" "$CORPUS"
fi
CNAME=$(basename "$CORPUS")

"$BENCH_SRC/pack.sh" --corpus "$CORPUS" --default
[[ -n $SWEEP ]] && "$BENCH_SRC/pack.sh" --corpus "$CORPUS" --sweep
[[ -n $ORDER ]] && "$BENCH_SRC/pack.sh" --corpus "$CORPUS" --order
# the mount bench re-uses the images pack.sh left in $WORK/pack
"$BENCH_SRC/mount.sh" --corpus "$CORPUS"

# ---- one summary --------------------------------------------------------------------
# shellcheck disable=SC1090
source "$WORK/results/pack-default-$CNAME.env"
# shellcheck disable=SC1090
source "$WORK/results/mount-$CNAME.env"
v() { local n=$1; echo "${!n:--}"; }
mib() { awk -v v="$1" 'BEGIN{if(v=="-"||v=="")print "-"; else printf "%.0f", v/1024}'; }
CACHE_MB=${KSO_BENCH_CACHE_MB:-256}
SUMMARY=$WORK/results/summary-$CNAME-$(date +%Y%m%d-%H%M%S).txt
{
  echo
  echo "== kso benchmark summary: corpus $CNAME, $(date -u +%F), $(nproc) cores, medians of $REPEATS =="
  grep -E '^(files|bytes_total|gzip_fraction)' "$CORPUS/MANIFEST" | paste -sd' ' | sed 's/^/corpus: /'
  printf '%-36s %12s %12s %12s %8s %9s %s\n' measure kso reference ref_name ratio target verdict
  row() { # row NAME KSO REF REFNAME OP LIMIT [ratio|abs]
    local r
    if [[ ${7:-ratio} == abs ]]; then r=$2; else r=$(ratio "$2" "$3"); fi
    printf '%-36s %12s %12s %12s %8s %9s %s\n' "$1" "$2" "$3" "$4" "$([[ ${7:-ratio} == abs ]] && echo - || echo "$r")" "$5$6" "$(verdict "$r" "$5" "$6")"
  }
  row "pack size (bytes)" "$(v pack_size_kso)" "$(v pack_size_sq)" mksquashfs '<=' 0.94
  row "pack build time (s)" "$(v pack_time_kso)" "$(v pack_time_sq)" mksquashfs '<=' 0.5
  row "cold full read (s)" "$(v mount_cold_kso)" "$(v mount_cold_sq)" squashfuse '<=' 0.33
  row "warm full read (s)" "$(v mount_warm_kso)" "$(v mount_warm_native)" native '<=' 1.1
  row "random 4k x4 (MiB/s)" "$(v mount_rand_kso)" "$(v mount_rand_sq)" squashfuse '>=' 10
  row "kso-fs RSS after full read (MiB)" "$(mib "$(v mount_rss_kso)")" "$CACHE_MB" cache_size '<=' $((CACHE_MB + 50)) abs
  row "mount ${KSO_BENCH_MANY_FILES:-100000} files warm (ms)" "$(v mount_mountwarm_kso)" "$(v mount_mountwarm_sq)" squashfuse '<=' 50 abs
  row "nginx wrk -c64 (MiB/s)" "$(v mount_nginx_kso)" "$(v mount_nginx_native)" native '>=' 0.8
} | tee "$SUMMARY"
log "summary: $SUMMARY (details in $WORK/results/)"
