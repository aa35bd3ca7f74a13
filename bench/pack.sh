#!/usr/bin/env bash
# bench/pack.sh — pack size and build time: kso-pack vs mksquashfs (issue 2).
#
# usage: bench/pack.sh [--corpus DIR] [-n N] [MODE]
#   MODE (default: --default)
#     --default          kso-pack (default settings + $KSO_PACK_FLAGS) vs
#                        mksquashfs -comp zstd (default level 15), N repeats alternating
#     --sweep            kso-pack --level {3,6,9,12,15,19} x --block-size {1M,2M,4M}
#                        ($KSO_BENCH_SWEEP_LEVELS / $KSO_BENCH_SWEEP_BLOCKS; repeats:
#                        $KSO_BENCH_SWEEP_REPEATS, default 1), squashfs as the reference
#     --compare F1 F2 .. kso-pack with each flag set Fi (e.g. "--order path"), N repeats
#     --order            = --compare with $KSO_BENCH_ORDER_VARIANTS
#                        (default: "--order path" "--order similar")
# env: KSO_PACK (default build/tools/kso-pack), KSO_PACK_FLAGS (extra flags for every
#      kso-pack build), KSO_BENCH_DIR (work dir, /var/tmp/kso-bench),
#      KSO_BENCH_REPEATS (3), KSO_PACK_PREFIX (pack path prefix, "files").
# Builds run with a warm page cache (the corpus is read once first): both tools
# are measured on compression + I/O of the output, not on the source disk.
# Prints a table of medians; results are also kept in $KSO_BENCH_DIR/results/pack-*.txt.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CORPUS=$WORK/corpus
MODE=default
COMPARE=()
while (($#)); do
  case $1 in
    --corpus) CORPUS=$2; shift 2 ;;
    -n) REPEATS=$2; shift 2 ;;
    --default) MODE=default; shift ;;
    --sweep) MODE=sweep; shift ;;
    --order) MODE=compare; shift ;;
    --compare) MODE=compare; shift; while (($#)) && [[ $1 != --corpus && $1 != -n ]]; do COMPARE+=("$1"); shift; done ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
if [[ $MODE == compare && ${#COMPARE[@]} == 0 ]]; then
  if [[ -n ${KSO_BENCH_ORDER_VARIANTS:-} ]]; then
    eval "COMPARE=($KSO_BENCH_ORDER_VARIANTS)"
  else
    COMPARE=("--order path" "--order similar")
  fi
fi

KSO_PACK=$(resolve_bin KSO_PACK build/tools/kso-pack)
read -r -a EXTRA <<<"${KSO_PACK_FLAGS:-}"
PREFIX=${KSO_PACK_PREFIX:-files}
[[ -d $CORPUS/files ]] || die "no corpus at $CORPUS (run bench/corpus.sh $CORPUS)"
command -v mksquashfs >/dev/null || die "mksquashfs not installed"

OUT=$WORK/pack; RES=$WORK/results
CNAME=$(basename "$CORPUS")
mkdir -p "$OUT" "$RES"
STAMP=$(date +%Y%m%d-%H%M%S)
REPORT=$RES/pack-$CNAME-$MODE-$STAMP.txt
T=$(mktemp -d "$WORK/pack-tmp.XXXXXX")
cleanup() { rm -rf "$T" "$OUT"/*.tmp* 2>/dev/null || true; }
trap cleanup EXIT

corpus_bytes=$(find "$CORPUS/files" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
log "corpus $CORPUS: $(human "$corpus_bytes"), warming page cache"
read_all "$CORPUS/files"

# --- builders: each appends "wall user sys maxrss" to $1 and leaves the image at $2
build_squash() {
  rm -f "$2"
  timed "$1" mksquashfs "$CORPUS/files" "$2" -comp zstd -noappend -keep-as-directory -quiet -no-progress >/dev/null
}
build_kso() { # build_kso TIMES OUT [flags...]
  local times=$1 out=$2; shift 2
  rm -f "$out"
  timed "$times" "$KSO_PACK" build "${EXTRA[@]}" "$@" -o "$out" "$PREFIX=$CORPUS/files" >"$T/kso-build.log" 2>&1 \
    || { cat "$T/kso-build.log" >&2; return 1; }
}
size_of() { stat -c %s "$1"; }

have_kso() { [[ -n $KSO_PACK && -x $KSO_PACK ]]; }

# squashfs reference: run N times (alternating with kso in default mode)
SQ_IMG=$OUT/$CNAME.squashfs
sq_once() { build_squash "$T/sq.times" "$SQ_IMG"; }

print_hdr() {
  {
    echo "# kso pack benchmark ($MODE) $(date -u +%FT%TZ) host $(hostname) cores $(nproc)"
    echo "# corpus $CORPUS $(human "$corpus_bytes") ($corpus_bytes bytes); repeats $REPEATS"
    [[ -f $CORPUS/MANIFEST ]] && grep -E '^(files|gzip_fraction)' "$CORPUS/MANIFEST" | sed 's/^/# /'
    echo "# kso-pack: ${KSO_PACK:-<not built>} ${KSO_PACK_FLAGS:+flags: $KSO_PACK_FLAGS}"
    echo "# mksquashfs $(mksquashfs -version 2>&1 | head -1 | awk '{print $3}'): -comp zstd (default -Xcompression-level 15, -b 128K)"
  } | tee -a "$REPORT"
}

case $MODE in
default)
  print_hdr
  for ((i = 1; i <= REPEATS; i++)); do
    if ((i % 2)); then order="sq kso"; else order="kso sq"; fi
    for w in $order; do
      if [[ $w == sq ]]; then log "run $i/$REPEATS: mksquashfs"; sq_once
      elif have_kso; then log "run $i/$REPEATS: kso-pack build"; build_kso "$T/kso.times" "$OUT/$CNAME.kso"; fi
    done
  done
  sq_size=$(size_of "$SQ_IMG"); sq_t=$(col_median "$T/sq.times" 1); sq_cpu=$(awk '{print $2+$3}' "$T/sq.times" | median)
  sq_rss=$(col_median "$T/sq.times" 4)
  if have_kso; then
    k_size=$(size_of "$OUT/$CNAME.kso"); k_t=$(col_median "$T/kso.times" 1); k_cpu=$(awk '{print $2+$3}' "$T/kso.times" | median)
    k_rss=$(col_median "$T/kso.times" 4)
  else k_size=-; k_t=-; k_cpu=-; k_rss=-; fi
  {
    printf '\n%-22s %14s %10s %10s %10s %12s\n' tool size_bytes size_MiB wall_s cpu_s maxrss_MiB
    printf '%-22s %14s %10.1f %10s %10s %12.0f\n' "mksquashfs zstd" "$sq_size" "$(awk -v s="$sq_size" 'BEGIN{print s/1048576}')" "$sq_t" "$sq_cpu" "$(awk -v r="$sq_rss" 'BEGIN{print r/1024}')"
    if have_kso; then
      printf '%-22s %14s %10.1f %10s %10s %12.0f\n' "kso-pack" "$k_size" "$(awk -v s="$k_size" 'BEGIN{print s/1048576}')" "$k_t" "$k_cpu" "$(awk -v r="$k_rss" 'BEGIN{print r/1024}')"
    else
      echo "kso-pack               (not built: set KSO_PACK or build build/tools/kso-pack)"
    fi
    rs=$(ratio "$k_size" "$sq_size"); rt=$(ratio "$k_t" "$sq_t")
    printf '\n%-40s %8s %8s %s\n' metric value target verdict
    printf '%-40s %8s %8s %s\n' "pack size kso/squashfs" "$rs" "<=0.94" "$(verdict "$rs" '<=' 0.94)"
    printf '%-40s %8s %8s %s\n' "build wall time kso/squashfs (median)" "$rt" "<=0.50" "$(verdict "$rt" '<=' 0.50)"
    printf '%-40s %8s\n' "corpus/squashfs size" "$(ratio "$corpus_bytes" "$sq_size")"
    printf '%-40s %8s\n' "corpus/kso size" "$(ratio "$corpus_bytes" "$k_size")"
    echo "raw times (wall user sys maxrss_kb):"; sed 's/^/  squashfs /' "$T/sq.times"
    [[ -f $T/kso.times ]] && sed 's/^/  kso      /' "$T/kso.times"
    if have_kso; then
      echo; echo "kso-pack build log (last run):"; sed 's/^/  /' "$T/kso-build.log" | tail -25
      echo; echo "kso-pack info $OUT/$CNAME.kso:"
      "$KSO_PACK" info "$OUT/$CNAME.kso" 2>&1 | sed 's/^/  /' | head -60 || true
    fi
  } | tee -a "$REPORT"
  # machine-readable summary for run.sh
  printf 'pack_size_kso=%s\npack_size_sq=%s\npack_time_kso=%s\npack_time_sq=%s\n' "$k_size" "$sq_size" "$k_t" "$sq_t" > "$RES/pack-default-$CNAME.env"
  ;;

sweep)
  have_kso || die "kso-pack not built (KSO_PACK=${KSO_PACK:-})"
  SWR=${KSO_BENCH_SWEEP_REPEATS:-1}
  LEVELS=${KSO_BENCH_SWEEP_LEVELS:-"3 6 9 12 15 19"}
  BLOCKS=${KSO_BENCH_SWEEP_BLOCKS:-"1M 2M 4M"}
  REPEATS=$SWR print_hdr
  log "squashfs reference"
  if [[ -f $RES/pack-default-$CNAME.env && $SQ_IMG -nt $CORPUS/MANIFEST && -z ${KSO_BENCH_SWEEP_RESQUASH:-} ]]; then
    # shellcheck disable=SC1091
    source "$RES/pack-default-$CNAME.env"; sq_size=$pack_size_sq; sq_t=$pack_time_sq
    echo "# squashfs reference from the last --default run" | tee -a "$REPORT"
  else
    sq_once; sq_size=$(size_of "$SQ_IMG"); sq_t=$(col_median "$T/sq.times" 1)
  fi
  {
    printf '\n%-6s %-6s %14s %9s %9s %9s %9s %10s\n' level block size_bytes size/sq wall_s wall/sq cpu_s rss_MiB
    printf '%-6s %-6s %14s %9s %9s %9s %9s %10s\n' sq15 128K "$sq_size" 1.000 "$sq_t" 1.000 - -
  } | tee -a "$REPORT"
  for bs in $BLOCKS; do
    for lv in $LEVELS; do
      tf=$T/sw-$lv-$bs.times; : > "$tf"
      for ((i = 1; i <= SWR; i++)); do
        log "sweep level $lv block $bs run $i/$SWR"
        build_kso "$tf" "$OUT/sweep.kso" --level "$lv" --block-size "$bs"
      done
      s=$(size_of "$OUT/sweep.kso"); t=$(col_median "$tf" 1); c=$(awk '{print $2+$3}' "$tf" | median)
      r=$(col_median "$tf" 4)
      printf '%-6s %-6s %14s %9s %9s %9s %9s %10.0f\n' "$lv" "$bs" "$s" "$(ratio "$s" "$sq_size")" "$t" "$(ratio "$t" "$sq_t")" "$c" "$(awk -v r="$r" 'BEGIN{print r/1024}')" | tee -a "$REPORT"
    done
  done
  rm -f "$OUT/sweep.kso"
  ;;

compare)
  have_kso || die "kso-pack not built (KSO_PACK=${KSO_PACK:-})"
  print_hdr
  echo "# variants: $(printf '[%s] ' "${COMPARE[@]}")" | tee -a "$REPORT"
  for ((i = 1; i <= REPEATS; i++)); do
    # rotate the start so no variant always runs first
    n=${#COMPARE[@]}
    for ((j = 0; j < n; j++)); do
      k=$(( (i - 1 + j) % n ))
      read -r -a fl <<<"${COMPARE[$k]}"
      log "run $i/$REPEATS variant [${COMPARE[$k]}]"
      build_kso "$T/cmp-$k.times" "$OUT/cmp-$k.kso" "${fl[@]}"
    done
  done
  base_s=$(size_of "$OUT/cmp-0.kso"); base_t=$(col_median "$T/cmp-0.times" 1)
  {
    printf '\n%-28s %14s %10s %9s %10s\n' variant size_bytes size/first wall_s wall/first
    for ((k = 0; k < ${#COMPARE[@]}; k++)); do
      s=$(size_of "$OUT/cmp-$k.kso"); t=$(col_median "$T/cmp-$k.times" 1)
      printf '%-28s %14s %10s %9s %10s\n' "[${COMPARE[$k]}]" "$s" "$(ratio "$s" "$base_s")" "$t" "$(ratio "$t" "$base_t")"
    done
  } | tee -a "$REPORT"
  rm -f "$OUT"/cmp-*.kso
  ;;
esac
log "report: $REPORT"
