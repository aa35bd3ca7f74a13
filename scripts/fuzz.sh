#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang, ASan and UBSan in
# build-fuzz/ and runs each for a fixed time. See --help and tests/fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS=(fuzz_pack fuzz_exec_filter fuzz_files_list fuzz_image_ref fuzz_manifest fuzz_www_auth)

usage() {
  cat <<'EOF'
Usage: scripts/fuzz.sh [--seconds N] [--jobs J] [TARGET...]

Builds the libFuzzer targets with clang, ASan and UBSan in build-fuzz/
(KSO_FUZZ_BUILD overrides), replays the crash inputs committed under
tests/fuzz/crashes/, then fuzzes each TARGET (default: all of them) for N
seconds, J targets at a time. Installs clang, libFuzzer (libclang-rt-dev) and
llvm-symbolizer first when they are missing (as root, idempotent).

  --seconds N   fuzzing time per target (default 720: the long run, below)
  --jobs J      targets fuzzed at once (default 1)
  -h, --help    this text

Targets: fuzz_pack fuzz_exec_filter fuzz_files_list fuzz_image_ref fuzz_manifest fuzz_www_auth

Each target reads its committed seeds (tests/fuzz/corpus/TARGET/, never
written to) and a work corpus build-fuzz/fuzz/TARGET/corpus/, where new inputs
go and which is kept across runs. Exit 1 on any crash, sanitizer report, leak,
timeout or out-of-memory, naming the input that caused it
(build-fuzz/fuzz/TARGET/artifacts/...) and the log; exit 0 and a last line
"fuzz: T targets, N s each, 0 crashes" otherwise.

  scripts/fuzz.sh --seconds 20      # CI's short run (scripts/test.sh): ~20 s a target
  scripts/fuzz.sh                   # the long run: an hour, 12 minutes a target
  scripts/fuzz.sh --jobs 2          # the same hour of fuzzing in half the time on 2 cores
  scripts/fuzz.sh --seconds 3600 fuzz_pack   # an hour on the pack reader alone
EOF
}

seconds=720
jobs=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
    --seconds=*) seconds=${1#*=}; shift ;;
    --jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
    --jobs=*) jobs=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "fuzz: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -gt 0 ]] || { echo "fuzz: --seconds wants a positive integer" >&2; exit 2; }
[[ "$jobs" =~ ^[0-9]+$ && "$jobs" -gt 0 ]] || { echo "fuzz: --jobs wants a positive integer" >&2; exit 2; }
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "fuzz: unknown target '$t' (have: ${ALL_TARGETS[*]})" >&2; exit 2; }
done

# --- tools: clang, its libFuzzer and sanitizer runtimes, llvm-symbolizer ----
PACKAGES=(clang libclang-rt-dev llvm)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "fuzz: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "fuzz: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" > /tmp/kso-fuzz-apt.log 2>&1 || {
    tail -30 /tmp/kso-fuzz-apt.log >&2
    exit 1
  }
fi

# --- build ------------------------------------------------------------------
build=${KSO_FUZZ_BUILD:-build-fuzz}
started=$(date +%s)
mkdir -p "$build"
CC=clang CXX=clang++ cmake -S . -B "$build" -DKSO_FUZZ=ON -DKSO_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$build/fuzz-configure.log" 2>&1 || { cat "$build/fuzz-configure.log" >&2; exit 1; }
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" > "$build/fuzz-build.log" 2>&1 || {
  tail -40 "$build/fuzz-build.log" >&2
  echo "fuzz: build failed (log: $build/fuzz-build.log)" >&2
  exit 1
}
echo "fuzz: built ${#targets[@]} target(s) in $(( $(date +%s) - started )) s"

# --- run --------------------------------------------------------------------
symbolizer=$(command -v llvm-symbolizer || true)
[ -n "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH="$symbolizer"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

max_len() {
  case "$1" in
    fuzz_pack) echo 65536 ;;        # seed packs are 32-45 KB (the index alone is 6 pages)
    fuzz_manifest) echo 16384 ;;
    fuzz_files_list) echo 8192 ;;
    *) echo 2048 ;;                 # one header, a few image references
  esac
}

# Replays tests/fuzz/crashes/TARGET-* (inputs that crashed once) through TARGET.
replay() {
  local t=$1 bin=$2 dir=$3 f rc=0
  shopt -s nullglob
  local inputs=(tests/fuzz/crashes/"$t"-*)
  shopt -u nullglob
  [ ${#inputs[@]} -gt 0 ] || return 0
  for f in "${inputs[@]}"; do
    if ! "$bin" -runs=1 "$f" > "$dir/replay.log" 2>&1; then
      echo "fuzz: $t: committed crash input still crashes: $f (log: $dir/replay.log)" >&2
      grep -E "BUG:|^SUMMARY:|ERROR: |runtime error" "$dir/replay.log" | head -3 | cut -c1-300 | sed 's/^/fuzz:   /' >&2 || true
      rc=1
    fi
  done
  return $rc
}

# Fuzzes one target; writes its verdict to $dir/result.
run_one() {
  local t=$1 bin="$build/tests/fuzz/$1" dir="$build/fuzz/$1"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  rm -f "$dir/result"
  local replayed=ok
  replay "$t" "$bin" "$dir" || replayed=failed  # reported; fuzzing goes on regardless
  local dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  local rc=0
  "$bin" -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=30 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$dir/artifacts/" "${dict[@]}" \
    "$dir/corpus" "tests/fuzz/corpus/$t" > "$dir/log" 2>&1 || rc=$?
  local execs
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    local verdict="ok"
    [ "$replayed" = ok ] || verdict="FAILED (committed crash inputs still crash), fuzzing found nothing new"
    [ "$replayed" = ok ] && echo "ok" > "$dir/result" || echo "replay" > "$dir/result"
    echo "fuzz: $t: $verdict, ${execs:-?} runs in ${seconds} s, work corpus $(ls "$dir/corpus" | wc -l) input(s)"
  else
    echo "crash" > "$dir/result"
    local unit
    unit=$(sed -n 's/.*Test unit written to //p' "$dir/log" | tail -1)
    echo "fuzz: $t: FAILED (exit $rc) after ${execs:-?} runs; input: ${unit:-none written}; log: $dir/log" >&2
    grep -E "BUG:|^SUMMARY:|==ERROR: |runtime error|ALARM|out-of-memory" "$dir/log" | head -4 | cut -c1-300 | sed 's/^/fuzz:   /' >&2 || true
  fi
}

echo "fuzz: ${#targets[@]} target(s), ${seconds} s each, ${jobs} at a time"
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  run_one "$t" &
  running=$((running + 1))
done
wait

crashes=0
for t in "${targets[@]}"; do
  r=$(cat "$build/fuzz/$t/result" 2>/dev/null || echo "no result")
  [ "$r" = ok ] || crashes=$((crashes + 1))
done
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, ${crashes} crashes"
[ "$crashes" -eq 0 ]
