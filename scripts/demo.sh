#!/usr/bin/env bash
# The main job on the embedded sample (or on a pack you name): build the pack,
# mount it with kso-fs, serve the mount with stock nginx (files) and Debian's
# docker-registry (registry:2, read-only) on 127.0.0.1, and show how to use
# them. Ctrl-C unmounts and stops everything.
#
#   scripts/demo.sh                 pack sample/ and serve it
#   scripts/demo.sh PACK.kso        serve an existing pack (files/ and registry/ prefixes)
#   scripts/demo.sh --check         the same, run the example commands, then clean up
#
# Ports: KSO_HTTP_PORT (default 8080), KSO_REGISTRY_PORT (default 5000).
# Run it as root, or as a user with sudo: it re-runs itself through sudo.
# It builds only kso-pack and kso-fs (scripts/build.sh kso-pack kso-fs).
set -euo pipefail
# Root installs the packages and mounts with allow_other: not root, re-run
# through sudo (root needs no sudo, and a fresh container has none).
if [ "$(id -u)" -ne 0 ] && command -v sudo > /dev/null; then
  exec sudo -- env "KSO_HTTP_PORT=${KSO_HTTP_PORT:-}" "KSO_REGISTRY_PORT=${KSO_REGISTRY_PORT:-}" "KSO_BUILD=${KSO_BUILD:-}" bash "$0" "$@"
fi
cd "$(dirname "$0")/.."
root=$PWD
check=0
pack=""
for a in "$@"; do
  case "$a" in
    --check) check=1 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) pack=$a ;;
  esac
done
http_port=${KSO_HTTP_PORT:-8080}
reg_port=${KSO_REGISTRY_PORT:-5000}

bash scripts/deps.sh
bash scripts/build.sh kso-pack kso-fs
bin=$root/${KSO_BUILD:-build}
work=$(mktemp -d /tmp/kso-demo.XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt" "$work/nginx/logs" "$work/nginx/tmp"
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  if mountpoint -q "$mnt"; then fusermount3 -u "$mnt" || umount -l "$mnt"; fi
  rm -rf "$work"
  echo "demo: stopped, unmounted, cleaned up"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$pack" ]; then
  pack=$work/sample.kso
  "$bin/tools/kso-pack" build -o "$pack" files=sample/files registry=sample/registry
fi
"$bin/tools/kso-pack" info "$pack"
"$bin/fs/kso-fs" "$pack" "$mnt" -f -o allow_other &
pids+=($!)
for _ in $(seq 100); do mountpoint -q "$mnt" && break; sleep 0.05; done
mountpoint -q "$mnt" || { echo "demo: kso-fs did not mount" >&2; exit 1; }

cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
user root;
events { worker_connections 256; }
http {
  access_log $work/nginx/logs/access.log;
  client_body_temp_path $work/nginx/tmp/body;
  proxy_temp_path $work/nginx/tmp/proxy;
  fastcgi_temp_path $work/nginx/tmp/fastcgi;
  uwsgi_temp_path $work/nginx/tmp/uwsgi;
  scgi_temp_path $work/nginx/tmp/scgi;
  sendfile on;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$http_port;
    root $mnt;
    autoindex on;
  }
}
NGINX
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)

cat > "$work/registry.yml" <<REG
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $mnt/registry}
  maintenance:
    uploadpurging: {enabled: false}
    readonly: {enabled: true}
http: {addr: 127.0.0.1:$reg_port}
REG
docker-registry serve "$work/registry.yml" > "$work/registry.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$http_port/" > /dev/null && curl -fs "http://127.0.0.1:$reg_port/v2/" > /dev/null && break
  sleep 0.1
done

file_url="http://127.0.0.1:$http_port/files/dl.k8s.io/release/v1.29.10/bin/linux/arm64/kubectl"
image=$(curl -fs "http://127.0.0.1:$reg_port/v2/_catalog" | sed -n 's/.*"repositories":\["\([^"]*\)".*/\1/p')
tag=$(curl -fs "http://127.0.0.1:$reg_port/v2/$image/tags/list" | sed -n 's/.*"tags":\["\([^"]*\)".*/\1/p')
cat <<MSG

kso demo is up: $pack mounted at $mnt
  files (nginx):      http://127.0.0.1:$http_port/files/
  registry (registry:2, read-only): 127.0.0.1:$reg_port

Try:
  curl $file_url
  curl http://127.0.0.1:$reg_port/v2/_catalog
  skopeo inspect --tls-verify=false --raw docker://127.0.0.1:$reg_port/$image:$tag
  skopeo copy --src-tls-verify=false --override-arch arm64 docker://127.0.0.1:$reg_port/$image:$tag dir:/tmp/img-arm64

kubespray offline.yml: files_repo: "http://HOST:$http_port/files", registry_host: "HOST:$reg_port"
MSG

if [ "$check" = 1 ]; then
  set -x
  curl -fsS "$file_url"
  curl -fsS "http://127.0.0.1:$reg_port/v2/_catalog"
  skopeo inspect --tls-verify=false --raw "docker://127.0.0.1:$reg_port/$image:$tag" > /dev/null
  for arch in amd64 arm64; do
    skopeo copy -q --src-tls-verify=false --override-arch $arch "docker://127.0.0.1:$reg_port/$image:$tag" "dir:$work/img-$arch"
  done
  set +x
  echo "demo: check passed"
  exit 0
fi
echo "Press Ctrl-C to stop."
wait
