#!/usr/bin/env bash
# bench/remote.sh — remote packs (issue 11): a pack mounted from loopback
# HTTPS (nginx, a CA made here with openssl, HTTP/2 offered) vs the local
# mount of the same pack file, in the same run.
#
# usage: bench/remote.sh [--corpus DIR] [-n N] [--only LIST]
#   LIST: comma-separated subset of cold,mount (default: both)
# env: KSO_FS, KSO_PACK, KSO_PACK_FLAGS (as bench/mount.sh), KSO_BENCH_READAHEAD
#      (read-ahead settings compared, default "0 4 16": -o remote_readahead=N),
#      KSO_BENCH_MANY_FILES (100000), KSO_BENCH_DIR, KSO_BENCH_REPEATS (3).
#
# What is measured (medians of N, min-max spread; the order of the sides
# rotates every repeat so drift on a shared machine hits all of them):
#   cold    page cache dropped (echo 3 > drop_caches) before every side, a fresh
#           daemon, and for the remote sides an empty cache_dir; then every file
#           read once with one reader (find | xargs cat). Both sides read the
#           pack from disk: the local kso-fs directly, the remote one through
#           nginx. Also: origin bytes per read (remote.bytes_fetched of
#           `kso-fs --status --json`, and nginx's access log), range requests
#           (all, and read-ahead ones) and the daemon's CPU time (user+sys) for the read.
#   mount   time from starting kso-fs -f until stat of the last file of a
#           synthetic 100k-file pack succeeds: local, over HTTP with an empty
#           cache_dir (the metadata region is fetched), and over HTTP again with
#           that cache (only the pack's last 64 bytes are fetched). Page cache warm.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

CORPUS=$WORK/corpus
ONLY=cold,mount
while (($#)); do
  case $1 in
    --corpus) CORPUS=$2; shift 2 ;;
    -n) REPEATS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
want() { [[ ",$ONLY," == *",$1,"* ]]; }

[[ $(id -u) == 0 ]] || die "run as root (drop_caches, FUSE mounts, nginx)"
[[ -d $CORPUS/files ]] || die "no corpus at $CORPUS (run bench/corpus.sh $CORPUS or bench/corpus-small.sh $CORPUS)"
KSO_FS=$(resolve_bin KSO_FS build/fs/kso-fs)
KSO_PACK=$(resolve_bin KSO_PACK build/tools/kso-pack)
[[ -n $KSO_FS && -n $KSO_PACK ]] || die "build kso-fs and kso-pack first"
command -v nginx >/dev/null || die "nginx not installed"
command -v openssl >/dev/null || die "openssl not installed"
READAHEADS=${KSO_BENCH_READAHEAD:-0 4 16}
MANY=${KSO_BENCH_MANY_FILES:-100000}

mkdir -p "$WORK/pack" "$WORK/results"
T=$(mktemp -d "$WORK/remote-tmp.XXXXXX")
RES=$WORK/results
STAMP=$(date +%Y%m%d-%H%M%S)
CNAME=$(basename "$CORPUS")
REPORT=$RES/remote-$CNAME-$STAMP.txt
NGINX_PID=

cleanup() {
  set +e
  for n in "${!MNT[@]}"; do umount_one "$n"; done
  for m in "$T"/mnt-*; do [[ -d $m ]] && mountpoint -q "$m" && umount -l "$m"; done
  [[ -n $NGINX_PID ]] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the pack, a CA, nginx ------------------------------------------------------------
KSO_IMG=$WORK/pack/$CNAME.kso
if [[ ! -f $KSO_IMG || $CORPUS/MANIFEST -nt $KSO_IMG ]]; then
  log "building $KSO_IMG"
  "$KSO_PACK" build ${KSO_PACK_FLAGS:-} -o "$KSO_IMG" "files=$CORPUS/files" >"$T/kso-build.log" 2>&1 || { cat "$T/kso-build.log"; die "kso-pack build failed"; }
fi
PACK_BYTES=$(stat -c %s "$KSO_IMG")

# A CA of our own and a certificate for localhost signed by it.
mkdir -p "$T/tls" "$T/www" "$T/nginx/logs"
(
  cd "$T/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=kso bench CA" -keyout ca.key -out ca.pem
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > ext.cnf
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out server.pem
) >"$T/tls/openssl.log" 2>&1 || { cat "$T/tls/openssl.log"; die "openssl failed"; }
ln -s "$KSO_IMG" "$T/www/$CNAME.kso"
MANY_IMG=$WORK/pack/many-$MANY.kso
ln -s "$MANY_IMG" "$T/www/many.kso"
HTTPS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HTTP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$T/nginx/nginx.conf" <<EOF
user root;
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/logs/error.log;
events {}
http {
  log_format bytes '\$status \$body_bytes_sent \$http_range';
  access_log $T/nginx/logs/access.log bytes;
  client_body_temp_path $T/nginx/t1; proxy_temp_path $T/nginx/t2; fastcgi_temp_path $T/nginx/t3;
  uwsgi_temp_path $T/nginx/t4; scgi_temp_path $T/nginx/t5;
  sendfile on;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:$HTTPS_PORT ssl http2;
    server_name localhost;
    ssl_certificate $T/tls/server.pem; ssl_certificate_key $T/tls/server.key;
    root $T/www;
  }
  server { listen 127.0.0.1:$HTTP_PORT; root $T/www; }
}
EOF
nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" -g 'daemon off;' 2>"$T/nginx/stderr.log" &
NGINX_PID=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/" && break; sleep 0.05; done
URL=https://localhost:$HTTPS_PORT/$CNAME.kso
curl -sS --fail --cacert "$T/tls/ca.pem" -r 0-0 -o /dev/null "$URL" || die "nginx does not serve $URL"

# mount_kso NAME SOURCE MNT [OPTS]: kso-fs -f in the background, wait for the mount
mount_kso() {
  local name=$1 src=$2 m=$3 opts=${4:-}
  mkdir -p "$m"
  "$KSO_FS" "$src" "$m" -f ${opts:+-o "$opts"} 2>>"$T/$name.err" &
  PID[$name]=$!; MNT[$name]=$m
  for _ in $(seq 600); do mountpoint -q "$m" && return 0; kill -0 "${PID[$name]}" 2>/dev/null || break; sleep 0.05; done
  cat "$T/$name.err" >&2; die "mounting $src on $m failed"
}
status_num() { # status_num MNT KEY: a number from kso-fs --status --json's remote object
  "$KSO_FS" --status "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["remote"][sys.argv[1]])' "$2"
}
cpu_s() { awk '{printf "%.2f\n", ($14 + $15) / 100}' "/proc/$1/stat"; }  # user+sys of a live process (USER_HZ 100)
median_int() { sort -n | awk '{a[NR]=$1} END {if (!NR) print "-"; else if (NR%2) print a[(NR+1)/2]; else printf "%d\n", (a[NR/2]+a[NR/2+1])/2}'; }
nginx_bytes() { awk '{s += $2} END {printf "%d\n", s}' "$T/nginx/logs/access.log"; }
spread() { sort -g "$1" | awk 'NR==1{a=$1} {b=$1} END {if (NR) printf "%s-%s", a, b; else print "-"}'; }

declare -A R=()
SIDES="local"
for ra in $READAHEADS; do SIDES="$SIDES ra$ra"; done

# ---- cold full read ----------------------------------------------------------------------
if want cold; then
  n_native=$(find "$CORPUS/files" -type f | wc -l)
  for ((i = 1; i <= REPEATS; i++)); do
    read -r -a order <<<"$SIDES"
    rot=$(( (i - 1) % ${#order[@]} )); order=("${order[@]:rot}" "${order[@]:0:rot}")
    for s in "${order[@]}"; do
      rm -rf "$T/cache"
      if [[ $s == local ]]; then
        drop_caches
        mount_kso "$s" "$KSO_IMG" "$T/mnt-$s"
      else
        : > "$T/nginx/logs/access.log"; kill -USR1 "$NGINX_PID"   # reopen the log
        drop_caches
        mount_kso "$s" "$URL" "$T/mnt-$s" "cache_dir=$T/cache,cache_size=$(( PACK_BYTES * 2 )),cacert=$T/tls/ca.pem,remote_readahead=${s#ra}"
      fi
      n=$(find "$T/mnt-$s/files" -type f | wc -l)
      [[ $n == "$n_native" ]] || die "$s shows $n files, native $n_native"
      log "cold $i/$REPEATS: $s"
      c0=$(cpu_s "${PID[$s]}")
      t0=$(now); read_all "$T/mnt-$s/files"; t1=$(now)
      awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b - a}' >> "$T/cold.$s"
      awk -v a="$c0" -v b="$(cpu_s "${PID[$s]}")" 'BEGIN {printf "%.2f\n", b - a}' >> "$T/cpu.$s"
      if [[ $s != local ]]; then
        status_num "$T/mnt-$s" bytes_fetched >> "$T/fetched.$s"
        status_num "$T/mnt-$s" range_requests >> "$T/requests.$s"
        status_num "$T/mnt-$s" readahead_requests >> "$T/rarequests.$s"
      fi
      umount_one "$s"
      [[ $s != local ]] && nginx_bytes >> "$T/nginxbytes.$s"
    done
  done
  for s in $SIDES; do
    R[cold.$s]=$(median < "$T/cold.$s"); R[coldspread.$s]=$(spread "$T/cold.$s"); R[cpu.$s]=$(median < "$T/cpu.$s")
    if [[ $s != local ]]; then
      R[fetched.$s]=$(median_int < "$T/fetched.$s"); R[requests.$s]=$(median_int < "$T/requests.$s")
      R[rarequests.$s]=$(median_int < "$T/rarequests.$s"); R[nginxbytes.$s]=$(median_int < "$T/nginxbytes.$s")
    fi
  done
fi

# ---- mount time of a 100k-file pack over HTTP -------------------------------------------
if want mount; then
  MANYDIR=$WORK/many-$MANY
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
  if ! [[ -f $MANY_IMG && $MANY_IMG -nt $MANYDIR.done ]]; then
    log "kso-pack build of $MANY files"
    "$KSO_PACK" build ${KSO_PACK_FLAGS:-} -o "$MANY_IMG" "files=$MANYDIR/files" >"$T/many-build.log" 2>&1 || { cat "$T/many-build.log"; die "kso-pack build failed"; }
  fi
  last=$(( (MANY - 1) / 1000 )); probe=$(printf 'files/d%04d/f%06d.txt' "$last" $((MANY - 1)))
  # mount_time MNT CMD...: ms from fork/exec of the daemon until stat($MNT/$probe) succeeds
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
  m=$T/mnt-many; mkdir -p "$m"
  cat "$MANY_IMG" > /dev/null   # page cache warm for every side
  for ((i = 1; i <= REPEATS; i++)); do
    for kind in local httpcold httpwarm; do
      case $kind in
        local) cmd=("$KSO_FS" "$MANY_IMG" "$m" -f) ;;
        httpcold) rm -rf "$T/mcache"; cmd=("$KSO_FS" "http://127.0.0.1:$HTTP_PORT/many.kso" "$m" -f -o "cache_dir=$T/mcache") ;;
        httpwarm) cmd=("$KSO_FS" "http://127.0.0.1:$HTTP_PORT/many.kso" "$m" -f -o "cache_dir=$T/mcache") ;;
      esac
      out=$(mount_time "$m" "${cmd[@]}") || die "mount of $kind did not come up"
      read -r ms pid <<<"$out"
      echo "$ms" >> "$T/mount.$kind"
      [[ $kind == httpcold ]] && status_num "$m" bytes_fetched >> "$T/mountfetched"
      PID[many]=$pid; MNT[many]=$m; umount_one many
    done
  done
  for kind in local httpcold httpwarm; do R[mount.$kind]=$(median < "$T/mount.$kind"); R[mountspread.$kind]=$(spread "$T/mount.$kind"); done
  R[mountfetched]=$(median_int < "$T/mountfetched")
  MANY_BYTES=$(stat -c %s "$MANY_IMG")
fi

# ---- summary ---------------------------------------------------------------------------------
g() { echo "${R[$1]:--}"; }
{
  echo
  echo "pack $KSO_IMG: $PACK_BYTES bytes ($(human "$PACK_BYTES")); $REPEATS repeats; load $(cut -d' ' -f1-3 /proc/loadavg)"
  if want cold; then
    printf '%-24s %9s %15s %9s %12s %7s %9s %9s\n' "cold full read" "median s" "min-max s" "kso-fs s" "origin bytes" "x pack" requests "ahead"
    for s in $SIDES; do
      name=$s; [[ $s == local ]] && name="local mount" || name="https readahead=${s#ra}"
      if [[ $s == local ]]; then
        printf '%-24s %9s %15s %9s %12s %7s %9s %9s\n' "$name" "$(g cold.$s)" "$(g coldspread.$s)" "$(g cpu.$s)" - - - -
      else
        printf '%-24s %9s %15s %9s %12s %7s %9s %9s\n' "$name" "$(g cold.$s)" "$(g coldspread.$s)" "$(g cpu.$s)" "$(g fetched.$s)" \
          "$(ratio "$(g fetched.$s)" "$PACK_BYTES")" "$(g requests.$s)" "$(g rarequests.$s)"
      fi
    done
    for s in $SIDES; do
      [[ $s == local ]] && continue
      echo "  nginx access log, body bytes ($s): $(g nginxbytes.$s)"
    done
  fi
  if want mount; then
    printf '%-34s %10s %15s\n' "mount $MANY files (ms)" median min-max
    printf '%-34s %10s %15s\n' "local" "$(g mount.local)" "$(g mountspread.local)"
    printf '%-34s %10s %15s\n' "http, empty cache_dir" "$(g mount.httpcold)" "$(g mountspread.httpcold)"
    printf '%-34s %10s %15s\n' "http, cache_dir holds metadata" "$(g mount.httpwarm)" "$(g mountspread.httpwarm)"
    echo "  fetched at a mount with an empty cache: $(g mountfetched) bytes of a $MANY_BYTES-byte pack"
  fi
  echo
  printf '%-44s %9s %10s %s\n' target value limit verdict
  row() { printf '%-44s %9s %10s %s\n' "$1" "$2" "$3$4" "$(verdict "$2" "$3" "$4")"; }
  if want cold; then
    for s in $SIDES; do
      [[ $s == local ]] && continue
      row "cold: https readahead=${s#ra} / local time" "$(ratio "$(g cold.$s)" "$(g cold.local)")" '<=' 1.5
      row "origin bytes / pack, readahead=${s#ra}" "$(ratio "$(g fetched.$s)" "$PACK_BYTES")" '<=' 1.05
    done
  fi
  echo "raw samples (wall s / ms):"; for f in "$T"/cold.* "$T"/fetched.* "$T"/mount.*; do
    [[ -f $f ]] && printf '  %-18s %s\n' "$(basename "$f")" "$(paste -sd' ' "$f")"; done
} | tee -a "$REPORT"
for k in "${!R[@]}"; do echo "remote_${k//./_}=${R[$k]}"; done | sort > "$RES/remote-$CNAME.env"
log "report: $REPORT"
