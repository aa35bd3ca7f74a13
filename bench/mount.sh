#!/usr/bin/env bash
# bench/mount.sh — read performance of a mounted pack (issue 3):
# kso-fs vs squashfuse (on the squashfs of the same corpus) vs the native dir.
#
# usage: bench/mount.sh [--corpus DIR] [-n N] [--only LIST]
#   LIST: comma-separated subset of cold,warm,pagecache,parallel,random,rss,mount,dirs,nginx
#         (default: all)
# env: KSO_FS (default build/fs/kso-fs), KSO_PACK (build/tools/kso-pack),
#      KSO_FS_OPTS (extra kso-fs -o options, e.g. cache_size=256M),
#      KSO_BENCH_CACHE_MB (cache_size assumed for the RSS target, 256),
#      KSO_BENCH_SQUASHFUSE (squashfuse binary, default squashfuse),
#      KSO_BENCH_FIO_SECONDS (10), KSO_BENCH_WRK_SECONDS (10),
#      KSO_BENCH_MANY_FILES (100000), KSO_BENCH_DIR, KSO_BENCH_REPEATS (3).
#
# What is measured (medians of N):
#   cold    drop page cache (and remount the FUSE fs so its own cache is cold),
#           then read every file once with one reader (find | xargs cat)
#   warm    read everything again right after (page cache and fs caches warm)
#   pagecache  the image file (native: the tree) in the page cache, a fresh mount,
#           then one full read: the daemon's own cost, not the disk's; and a
#           second, warm read (the kernel's page cache of the mount)
#           (also through bench/fuse_floor.cc, a bare FUSE mirror of the corpus
#           dir: what FUSE itself costs on this machine)
#   parallel   as pagecache, read by 4 readers at once: `xargs -P4 -n1 cat` (a
#           cat per file, as a user would type it) and 4 long-lived cats of a
#           quarter of the files each; aggregate throughput vs one reader
#   random  fio psync 4 KiB random reads, 4 jobs, time-bounded, over all files
#           >= 1 MiB, started cold (caches dropped, fs remounted); MiB/s
#   rss     kso-fs VmRSS after a cold + a warm full read (target: cache_size + 50 MiB)
#   mount   time from starting the daemon (-f) until stat of a file in a
#           synthetic 100k-file image succeeds (warm page cache, and cold)
#   dirs    warm `find` over the mounted 100k-file image (stat of every entry):
#           kso-fs keeping listings in the kernel (cache_readdir, the default)
#           and not (-o kernel_dir_cache=0), squashfuse, native
#   nginx   wrk -c 64 throughput (bytes/s) fetching random corpus files through
#           nginx (sendfile on) rooted at the mount vs at the native dir
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CORPUS=$WORK/corpus
ONLY=cold,warm,pagecache,parallel,random,rss,mount,dirs,nginx
while (($#)); do
  case $1 in
    --corpus) CORPUS=$2; shift 2 ;;
    -n) REPEATS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    -h|--help) sed -n '2,38p' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
want() { [[ ",$ONLY," == *",$1,"* ]]; }

[[ $(id -u) == 0 ]] || die "run as root (drop_caches, FUSE mounts, nginx)"
[[ -d $CORPUS/files ]] || die "no corpus at $CORPUS (run bench/corpus.sh $CORPUS)"
KSO_FS=$(resolve_bin KSO_FS build/fs/kso-fs)
KSO_PACK=$(resolve_bin KSO_PACK build/tools/kso-pack)
SQFUSE=${KSO_BENCH_SQUASHFUSE:-squashfuse}
read -r -a KSO_FS_EXTRA <<<"${KSO_FS_OPTS:+-o $KSO_FS_OPTS}"
CACHE_MB=${KSO_BENCH_CACHE_MB:-256}
FIO_S=${KSO_BENCH_FIO_SECONDS:-10}
WRK_S=${KSO_BENCH_WRK_SECONDS:-10}
MANY=${KSO_BENCH_MANY_FILES:-100000}
command -v "$SQFUSE" >/dev/null || die "$SQFUSE not installed"
command -v mksquashfs >/dev/null || die "mksquashfs not installed"

have_kso() { [[ -n $KSO_FS && -x $KSO_FS && -n $KSO_PACK && -x $KSO_PACK ]]; }
TARGETS="native sq"
if have_kso; then TARGETS="native sq kso"; else log "kso-fs or kso-pack not built: measuring native and squashfuse only"; fi

mkdir -p "$WORK/pack" "$WORK/results"
T=$(mktemp -d "$WORK/mount-tmp.XXXXXX")
RES=$WORK/results
STAMP=$(date +%Y%m%d-%H%M%S)
REPORT=$RES/mount-$(basename "$CORPUS")-$STAMP.txt
NGINX_PID=

cleanup() {
  set +e
  [[ -n $NGINX_PID ]] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  for n in "${!MNT[@]}"; do umount_one "$n"; done
  for m in "$T"/mnt-*; do [[ -d $m ]] && mountpoint -q "$m" && umount -l "$m"; done
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- images -------------------------------------------------------------------
CNAME=$(basename "$CORPUS")
SQ_IMG=$WORK/pack/$CNAME.squashfs
KSO_IMG=$WORK/pack/$CNAME.kso
if [[ ! -f $SQ_IMG || $CORPUS/MANIFEST -nt $SQ_IMG ]]; then
  log "building $SQ_IMG"
  mksquashfs "$CORPUS/files" "$SQ_IMG" -comp zstd -noappend -keep-as-directory -quiet -no-progress >/dev/null
fi
if have_kso && [[ ! -f $KSO_IMG || $CORPUS/MANIFEST -nt $KSO_IMG ]]; then
  log "building $KSO_IMG"
  "$KSO_PACK" build ${KSO_PACK_FLAGS:-} -o "$KSO_IMG" "files=$CORPUS/files" >"$T/kso-build.log" 2>&1 || { cat "$T/kso-build.log"; die "kso-pack build failed"; }
fi

# ---- mounting -------------------------------------------------------------------
# mount_fs NAME IMAGE MNT: start the daemon in the foreground (background job) and
# wait until the mount is up
mount_fs() {
  local name=$1 img=$2 m=$3
  mkdir -p "$m"
  case $name in
    sq|sqmany) "$SQFUSE" -f "$img" "$m" 2>>"$T/$name.err" & ;;
    kso|ksomany) "$KSO_FS" "$img" "$m" -f "${KSO_FS_EXTRA[@]}" 2>>"$T/$name.err" & ;;
    floor) "$FLOOR" "$img" "$m" 2>>"$T/$name.err" & ;;
  esac
  PID[$name]=$!; MNT[$name]=$m
  for _ in $(seq 300); do
    if mountpoint -q "$m"; then
      # the floor gets the readahead kso-fs sets for itself (-o read_ahead_kb, 1024)
      [[ $name == floor ]] && echo 1024 > "/sys/class/bdi/$(mountpoint -d "$m")/read_ahead_kb"
      return 0
    fi
    kill -0 "${PID[$name]}" 2>/dev/null || break; sleep 0.05
  done
  cat "$T/$name.err" >&2; die "mounting $img on $m failed"
}
root_of() { # root_of NAME -> directory that holds files/
  case $1 in native) echo "$CORPUS" ;; *) echo "$T/mnt-$1" ;; esac
}
remount() { # remount NAME: fresh daemon (cold fs cache); no-op for native
  case $1 in
    native) ;;
    sq) umount_one sq; mount_fs sq "$SQ_IMG" "$T/mnt-sq" ;;
    kso) umount_one kso; mount_fs kso "$KSO_IMG" "$T/mnt-kso" ;;
    floor) umount_one floor; mount_fs floor "$CORPUS" "$T/mnt-floor" ;;
  esac
}
vmrss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo -; }

for t in $TARGETS; do remount "$t"; done
# sanity: the same tree everywhere
n_native=$(find "$CORPUS/files" -type f | wc -l)
for t in $TARGETS; do
  n=$(find "$(root_of "$t")/files" -type f | wc -l)
  [[ $n == "$n_native" ]] || die "$t shows $n files, native $n_native"
done
corpus_bytes=$(find "$CORPUS/files" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')

{
  echo "# kso mount benchmark $(date -u +%FT%TZ) host $(hostname) cores $(nproc) mem $(awk '/MemTotal/ {printf "%.0fGiB", $2/1048576}' /proc/meminfo)"
  echo "# corpus $CORPUS: $n_native files, $(human "$corpus_bytes"); repeats $REPEATS"
  echo "# squashfuse: $($SQFUSE --version 2>&1 | head -1) on $SQ_IMG ($(human "$(stat -L -c %s "$SQ_IMG")"))"
  if have_kso; then echo "# kso-fs: $KSO_FS ${KSO_FS_OPTS:+-o $KSO_FS_OPTS} on $KSO_IMG ($(human "$(stat -L -c %s "$KSO_IMG")"))"
  else echo "# kso-fs: not built"; fi
} | tee "$REPORT"

declare -A R=()   # results: R[metric.target]=median

# ---- cold / warm full read --------------------------------------------------------
if want cold || want warm || want rss; then
  for ((i = 1; i <= REPEATS; i++)); do
    for t in $TARGETS; do
      remount "$t"; drop_caches
      r=$(root_of "$t")/files
      log "full read $i/$REPEATS: $t cold"
      t0=$(now); read_all "$r"; t1=$(now)
      echo "$t1 - $t0" | bc >> "$T/cold.$t"
      [[ $t == kso ]] && vmrss_kb "${PID[kso]}" >> "$T/rss.kso"
      [[ $t == sq ]] && vmrss_kb "${PID[sq]}" >> "$T/rss.sq"
      log "full read $i/$REPEATS: $t warm"
      t0=$(now); read_all "$r"; t1=$(now)
      echo "$t1 - $t0" | bc >> "$T/warm.$t"
      [[ $t == kso ]] && vmrss_kb "${PID[kso]}" >> "$T/rss2.kso"
    done
  done
  for t in $TARGETS; do
    R[cold.$t]=$(median < "$T/cold.$t"); R[warm.$t]=$(median < "$T/warm.$t")
  done
  R[rss.sq]=$(median < "$T/rss.sq")
  # median over runs of the RSS after the second (warm) read; the max is in the raw samples
  have_kso && R[rss.kso]=$(median < "$T/rss2.kso")
fi

# ---- cold fs, image in the page cache; parallel readers ---------------------------------
# warm_image NAME: the image file (native: the tree itself) into the page cache
warm_image() {
  case $1 in
    native) read_all "$CORPUS/files" ;;
    sq) cat "$SQ_IMG" > /dev/null ;;
    kso) cat "$KSO_IMG" > /dev/null ;;
    floor) read_all "$CORPUS/files" ;;
  esac
}
# The FUSE floor (bench/fuse_floor.cc): a bare mirror of the corpus dir, for
# the page-cache and parallel reads only.
PC_TARGETS=$TARGETS
if want pagecache || want parallel; then
  FLOOR=$T/fuse_floor
  if c++ -O2 -std=c++17 -o "$FLOOR" "$(dirname "$0")/fuse_floor.cc" $(pkg-config --cflags --libs fuse3) 2>"$T/floor-build.log"; then
    PC_TARGETS="$TARGETS floor"
  else
    log "bench/fuse_floor.cc does not build (libfuse3-dev?): no FUSE floor"; cat "$T/floor-build.log" >&2
  fi
fi
# read_par DIR PER: 4 readers at once, PER files each per cat (1: a cat per file)
read_par() { find "$1" -type f -print0 | xargs -0r -P4 -n "$2" cat > /dev/null; }
if want pagecache || want parallel; then
  quarter=$(( (n_native + 3) / 4 ))
  for ((i = 1; i <= REPEATS; i++)); do
    for t in $PC_TARGETS; do
      r=$(root_of "$t")/files
      for mode in pc par4n1 par4; do
        [[ $mode == pc ]] && ! want pagecache && ! want parallel && continue
        [[ $mode != pc ]] && ! want parallel && continue
        remount "$t"; warm_image "$t"
        log "read $i/$REPEATS: $t $mode (image in page cache, fresh mount)"
        t0=$(now)
        case $mode in
          pc) read_all "$r" ;;
          par4n1) read_par "$r" 1 ;;
          par4) read_par "$r" "$quarter" ;;
        esac
        t1=$(now)
        echo "$t1 - $t0" | bc >> "$T/$mode.$t"
        if [[ $mode == pc ]]; then  # and again: warm, from the kernel's page cache of the mount
          t0=$(now); read_all "$r"; t1=$(now)
          echo "$t1 - $t0" | bc >> "$T/pcwarm.$t"
        fi
      done
    done
  done
  for t in $PC_TARGETS; do
    for mode in pc pcwarm par4n1 par4; do [[ -f $T/$mode.$t ]] && R[$mode.$t]=$(median < "$T/$mode.$t"); done
  done
fi

# ---- random 4 KiB reads (fio) --------------------------------------------------------
if want random; then
  command -v fio >/dev/null || { log "fio not installed (apt-get install fio): skipping random"; ONLY=${ONLY//random/}; }
fi
if want random; then
  # files >= 1 MiB, relative to the root; fio wants ':' escaped in file names
  (cd "$CORPUS" && find files -type f -size +1M | sort) > "$T/big.list"
  log "random reads over $(wc -l < "$T/big.list") files >= 1 MiB"
  for ((i = 1; i <= REPEATS; i++)); do
    for t in $TARGETS; do
      remount "$t"; drop_caches
      r=$(root_of "$t")
      fl=$(sed "s|^|$r/|; s|:|\\\\:|g" "$T/big.list" | paste -sd:)
      log "random 4k $i/$REPEATS: $t"
      fio --name=rand --readonly --ioengine=psync --rw=randread --bs=4k --numjobs=4 \
          --time_based --runtime="$FIO_S" --group_reporting --file_service_type=random \
          --filename="$fl" --invalidate=0 --minimal > "$T/fio.out" 2>"$T/fio.err" || { cat "$T/fio.err" >&2; die "fio failed on $t"; }
      # terse v3: field 7 = read bandwidth KiB/s, 8 = read IOPS
      awk -F';' '{printf "%.1f\n", $7/1024}' "$T/fio.out" >> "$T/rand.$t"
      awk -F';' '{print $8}' "$T/fio.out" >> "$T/iops.$t"
    done
  done
  for t in $TARGETS; do R[rand.$t]=$(median < "$T/rand.$t"); R[iops.$t]=$(median < "$T/iops.$t"); done
fi

# ---- mount time of a 100k-file image ----------------------------------------------------
MANYDIR=$WORK/many-$MANY
# ensure_many: the synthetic 100k-file tree and its squashfs and kso images
ensure_many() {
  if [[ ! -f $MANYDIR.done ]]; then
    log "creating $MANY small files in $MANYDIR"
    rm -rf "$MANYDIR"; mkdir -p "$MANYDIR/files"
    perl -e '
      my ($root, $n) = @ARGV; my $per = 1000;
      for (my $i = 0; $i < $n; $i++) {
        my $d = sprintf("%s/files/d%04d", $root, int($i / $per));
        mkdir $d unless -d $d;
        open(my $f, ">", sprintf("%s/f%06d.txt", $d, $i)) or die;
        print $f "file $i\n", ("x" x ($i % 200)), "\n"; close $f;
      }' "$MANYDIR" "$MANY"
    find "$MANYDIR" -exec touch -h -d @0 {} +
    touch "$MANYDIR.done"
  fi
  last=$(( (MANY - 1) / 1000 )); probe=$(printf 'files/d%04d/f%06d.txt' "$last" $((MANY - 1)))
  [[ -f $WORK/pack/many-$MANY.squashfs && $WORK/pack/many-$MANY.squashfs -nt $MANYDIR.done ]] || \
    mksquashfs "$MANYDIR/files" "$WORK/pack/many-$MANY.squashfs" -comp zstd -noappend -keep-as-directory -quiet -no-progress >/dev/null
  if have_kso && ! [[ -f $WORK/pack/many-$MANY.kso && $WORK/pack/many-$MANY.kso -nt $MANYDIR.done ]]; then
    log "kso-pack build of $MANY files"
    "$KSO_PACK" build ${KSO_PACK_FLAGS:-} -o "$WORK/pack/many-$MANY.kso" "files=$MANYDIR/files" >"$T/many-build.log" 2>&1 || { cat "$T/many-build.log"; die "kso-pack build failed"; }
  fi
}
if want mount; then
  ensure_many
  # mount_time CMD...: ms from fork/exec of the daemon until stat($MNT/$probe) succeeds
  mount_time() {
    local m=$1; shift
    perl -MTime::HiRes=time,sleep -e '
      my ($mnt, $probe, @cmd) = @ARGV;
      my $t0 = time; my $pid = fork // die;
      if (!$pid) { open(STDOUT, ">", "/dev/null"); open(STDERR, ">>", "/dev/null"); exec @cmd or exit 127 }
      my $ok = 0;
      while (time - $t0 < 30) {
        if (stat("$mnt/$probe")) { $ok = 1; last }
        if (waitpid($pid, 1) > 0) { last }   # died
        sleep 0.0005;
      }
      printf "%.1f %d\n", (time - $t0) * 1000, $pid; exit($ok ? 0 : 1);' "$m" "$probe" "$@"
  }
  for kind in sq kso; do
    [[ $kind == kso ]] && ! have_kso && continue
    m=$T/mnt-many-$kind; mkdir -p "$m"
    for cache in warm cold; do
      for ((i = 1; i <= REPEATS; i++)); do
        if [[ $kind == sq ]]; then img=$WORK/pack/many-$MANY.squashfs; cmd=("$SQFUSE" -f "$img" "$m")
        else img=$WORK/pack/many-$MANY.kso; cmd=("$KSO_FS" "$img" "$m" -f "${KSO_FS_EXTRA[@]}"); fi
        if [[ $cache == cold ]]; then drop_caches; else cat "$img" > /dev/null; fi
        out=$(mount_time "$m" "${cmd[@]}") || die "mount of $img did not come up"
        read -r ms pid <<<"$out"
        echo "$ms" >> "$T/mount-$cache.$kind"
        PID[many$kind]=$pid; MNT[many$kind]=$m; umount_one "many$kind"
      done
      R[mount$cache.$kind]=$(median < "$T/mount-$cache.$kind")
    done
  done
fi

# ---- warm find over the 100k-file tree: kernel-kept listings or not -------------------------
if want dirs; then
  ensure_many
  for kind in native sq kso kso_nodircache; do
    [[ $kind == kso* ]] && ! have_kso && continue
    m=$T/mnt-dirs-$kind; mkdir -p "$m"
    case $kind in
      native) root=$MANYDIR ;;
      sq) "$SQFUSE" -f "$WORK/pack/many-$MANY.squashfs" "$m" 2>>"$T/dirsmount.err" & PID[dirs]=$!; root=$m ;;
      kso) "$KSO_FS" "$WORK/pack/many-$MANY.kso" "$m" -f "${KSO_FS_EXTRA[@]}" 2>>"$T/dirsmount.err" & PID[dirs]=$!; root=$m ;;
      kso_nodircache) "$KSO_FS" "$WORK/pack/many-$MANY.kso" "$m" -f -o kernel_dir_cache=0 "${KSO_FS_EXTRA[@]}" 2>>"$T/dirsmount.err" & PID[dirs]=$!; root=$m ;;
    esac
    if [[ $kind != native ]]; then
      MNT[dirs]=$m
      for _ in $(seq 300); do mountpoint -q "$m" && break; sleep 0.05; done
      mountpoint -q "$m" || { cat "$T/dirsmount.err" >&2; die "mounting the 100k-file image ($kind) failed"; }
    fi
    find "$root" -printf '%s\n' > /dev/null   # listings and attributes in, as a server's first pass would
    for ((i = 1; i <= REPEATS; i++)); do
      log "warm find over $MANY files $i/$REPEATS: $kind"
      t0=$(now); find "$root" -printf '%s\n' > /dev/null; t1=$(now)
      echo "($t1 - $t0) * 1000" | bc >> "$T/dirs.$kind"
    done
    R[dirs.$kind]=$(median < "$T/dirs.$kind")
    [[ $kind != native ]] && umount_one dirs
  done
fi

# ---- nginx + wrk ------------------------------------------------------------------------
if want nginx; then
  command -v nginx >/dev/null && command -v wrk >/dev/null || { log "nginx/wrk not installed: skipping nginx"; ONLY=${ONLY//nginx/}; }
fi
if want nginx; then
  port=18080
  while ss -ltn | awk '{print $4}' | grep -q ":$port\$"; do port=$((port + 1)); done
  N=$T/nginx; mkdir -p "$N/logs" "$N/tmp"
  declare -A PORT=()
  servers=""; p=$port
  for t in $TARGETS; do
    while ss -ltn | awk '{print $4}' | grep -q ":$p\$"; do p=$((p + 1)); done
    PORT[$t]=$p
    servers+="  server { listen 127.0.0.1:$p; root $(root_of "$t"); location / { } }"$'\n'
    p=$((p + 1))
  done
  cat > "$N/nginx.conf" <<EOF
user root;
worker_processes 2;
daemon off;
pid $N/nginx.pid;
error_log $N/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path $N/tmp; proxy_temp_path $N/tmp; fastcgi_temp_path $N/tmp;
  uwsgi_temp_path $N/tmp; scgi_temp_path $N/tmp;
  default_type application/octet-stream;
$servers}
EOF
  nginx -p "$N" -c "$N/nginx.conf" 2>"$N/logs/start.err" &
  NGINX_PID=$!
  sleep 0.5
  kill -0 "$NGINX_PID" 2>/dev/null || { cat "$N/logs/start.err" "$N/logs/error.log" >&2; die "nginx did not start"; }
  # wrk script: every request picks a random corpus file (uniform over files)
  (cd "$CORPUS" && find files -type f | sort) | sed 's|^|/|; s| |%20|g' > "$T/urls.list"
  cat > "$T/mix.lua" <<EOF
local paths = {}
for line in io.lines("$T/urls.list") do paths[#paths + 1] = line end
math.randomseed(42)
request = function() return wrk.format("GET", paths[math.random(#paths)]) end
done = function(summary, latency, requests)
  io.write(string.format("WRKRESULT %d %d %d %d\n", summary.bytes, summary.duration, summary.requests,
    summary.errors.status + summary.errors.read + summary.errors.connect + summary.errors.timeout))
end
EOF
  for ((i = 1; i <= REPEATS; i++)); do
    for t in $TARGETS; do
      read_all "$(root_of "$t")/files"   # steady state: contents cached as far as the fs allows
      log "wrk $i/$REPEATS: $t (port ${PORT[$t]})"
      wrk -t2 -c64 -d"${WRK_S}s" -s "$T/mix.lua" "http://127.0.0.1:${PORT[$t]}/" > "$T/wrk.out" 2>&1 || { cat "$T/wrk.out" >&2; die "wrk failed"; }
      read -r _ bytes dur reqs errs < <(grep WRKRESULT "$T/wrk.out")
      [[ $errs == 0 ]] || log "wrk $t: $errs errors"
      awk -v b="$bytes" -v d="$dur" 'BEGIN {printf "%.1f\n", b / (d / 1e6) / 1048576}' >> "$T/nginx.$t"
      awk -v r="$reqs" -v d="$dur" 'BEGIN {printf "%.1f\n", r / (d / 1e6)}' >> "$T/nginxrps.$t"
    done
  done
  for t in $TARGETS; do R[nginx.$t]=$(median < "$T/nginx.$t"); R[nginxrps.$t]=$(median < "$T/nginxrps.$t"); done
  kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=
fi

# ---- summary ---------------------------------------------------------------------------------
g() { echo "${R[$1]:--}"; }
{
  echo
  printf '%-34s %11s %11s %11s\n' "measure (median of $REPEATS)" native squashfuse kso-fs
  want cold   && printf '%-34s %11s %11s %11s\n' "cold full read (s)" "$(g cold.native)" "$(g cold.sq)" "$(g cold.kso)"
  want warm   && printf '%-34s %11s %11s %11s\n' "warm full read (s)" "$(g warm.native)" "$(g warm.sq)" "$(g warm.kso)"
  want pagecache || want parallel && printf '%-34s %11s %11s %11s\n' "cold fs, image in page cache (s)" "$(g pc.native)" "$(g pc.sq)" "$(g pc.kso)"
  want parallel && printf '%-34s %11s %11s %11s\n' "  4 readers, cat per file (s)" "$(g par4n1.native)" "$(g par4n1.sq)" "$(g par4n1.kso)"
  want parallel && printf '%-34s %11s %11s %11s\n' "  4 readers, 4 cats (s)" "$(g par4.native)" "$(g par4.sq)" "$(g par4.kso)"
  want dirs   && printf '%-34s %11s %11s %11s\n' "warm find ${MANY} files (ms)" "$(g dirs.native)" "$(g dirs.sq)" "$(g dirs.kso)"
  want dirs   && printf '%-34s %11s %11s %11s\n' "  kso-fs -o kernel_dir_cache=0 (ms)" - - "$(g dirs.kso_nodircache)"
  want random && printf '%-34s %11s %11s %11s\n' "random 4k x4 (MiB/s)" "$(g rand.native)" "$(g rand.sq)" "$(g rand.kso)"
  want random && printf '%-34s %11s %11s %11s\n' "random 4k x4 (IOPS)" "$(g iops.native)" "$(g iops.sq)" "$(g iops.kso)"
  want rss    && printf '%-34s %11s %11s %11s\n' "daemon VmRSS after full read (MiB)" - \
    "$(awk -v v="$(g rss.sq)" 'BEGIN{if(v=="-")print "-"; else printf "%.0f", v/1024}')" \
    "$(awk -v v="$(g rss.kso)" 'BEGIN{if(v=="-")print "-"; else printf "%.0f", v/1024}')"
  want mount  && printf '%-34s %11s %11s %11s\n' "mount ${MANY} files, warm (ms)" - "$(g mountwarm.sq)" "$(g mountwarm.kso)"
  want mount  && printf '%-34s %11s %11s %11s\n' "mount ${MANY} files, cold (ms)" - "$(g mountcold.sq)" "$(g mountcold.kso)"
  want nginx  && printf '%-34s %11s %11s %11s\n' "nginx wrk -c64 (MiB/s)" "$(g nginx.native)" "$(g nginx.sq)" "$(g nginx.kso)"
  want nginx  && printf '%-34s %11s %11s %11s\n' "nginx wrk -c64 (req/s)" "$(g nginxrps.native)" "$(g nginxrps.sq)" "$(g nginxrps.kso)"
  echo
  printf '%-40s %9s %10s %s\n' target value limit verdict
  row() { printf '%-40s %9s %10s %s\n' "$1" "$2" "$3$4" "$(verdict "$2" "$3" "$4")"; }
  want cold   && row "cold: kso / squashfuse time" "$(ratio "$(g cold.kso)" "$(g cold.sq)")" '<=' 0.33
  want pagecache || want parallel && row "cold, image cached: kso / squashfuse" "$(ratio "$(g pc.kso)" "$(g pc.sq)")" '<=' 0.33
  # aggregate throughput of 4 readers over one reader's = one reader's time / the 4 readers' time
  want parallel && row "4 readers (cat per file) / 1, kso" "$(ratio "$(g pc.kso)" "$(g par4n1.kso)")" '>=' 1.7
  want parallel && row "4 readers (4 cats) / 1, kso" "$(ratio "$(g pc.kso)" "$(g par4.kso)")" '>=' 1.7
  want warm   && row "warm: kso / native time" "$(ratio "$(g warm.kso)" "$(g warm.native)")" '<=' 1.1
  want random && row "random: kso / squashfuse MiB/s" "$(ratio "$(g rand.kso)" "$(g rand.sq)")" '>=' 10
  want rss    && row "RSS kso-fs MiB (cache ${CACHE_MB} + 50)" "$(awk -v v="$(g rss.kso)" 'BEGIN{if(v=="-")print "-"; else printf "%.0f", v/1024}')" '<=' $((CACHE_MB + 50))
  want mount  && row "mount 100k files, warm (ms)" "$(g mountwarm.kso)" '<=' 50
  want nginx  && row "nginx: kso / native MiB/s" "$(ratio "$(g nginx.kso)" "$(g nginx.native)")" '>=' 0.8
  echo "(squashfuse vs native for reference: cold $(ratio "$(g cold.sq)" "$(g cold.native)")x time, warm $(ratio "$(g warm.sq)" "$(g warm.native)")x, nginx $(ratio "$(g nginx.sq)" "$(g nginx.native)")x)"
  want pagecache || want parallel && echo "FUSE floor (bench/fuse_floor.cc, pread + reply, no checks): image in page cache $(g pc.floor) s, warm re-read $(g pcwarm.floor) s (kso $(g pcwarm.kso) s, squashfuse $(g pcwarm.sq) s, native $(g pcwarm.native) s), 4 readers cat per file $(g par4n1.floor) s, 4 cats $(g par4.floor) s; kso / floor $(ratio "$(g pc.kso)" "$(g pc.floor)")x, squashfuse / floor $(ratio "$(g pc.sq)" "$(g pc.floor)")x"
  want parallel && echo "(same for native: 4 readers cat per file $(ratio "$(g pc.native)" "$(g par4n1.native)")x, 4 cats $(ratio "$(g pc.native)" "$(g par4.native)")x: a cat per file costs a process each)"
  echo "raw samples:"; for f in "$T"/cold.* "$T"/warm.* "$T"/pc.* "$T"/pcwarm.* "$T"/par4*.* "$T"/dirs.* "$T"/rand.* "$T"/rss*.* "$T"/mount-*.* "$T"/nginx.*; do
    [[ -f $f ]] && printf '  %-18s %s\n' "$(basename "$f")" "$(paste -sd' ' "$f")"; done
} | tee -a "$REPORT"
for k in "${!R[@]}"; do echo "mount_${k//./_}=${R[$k]}"; done | sort > "$RES/mount-$CNAME.env"
log "report: $REPORT"
