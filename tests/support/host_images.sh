#!/usr/bin/env bash
# Makes the two container images deploy/compose.yaml runs, without a registry
# or a network: a minimal root file system assembled from this host's own
# installed binaries (nginx, curl for the compose healthcheck, docker-registry)
# and the libraries ldd lists for them, then `podman import`ed. About a second
# per image, no Debian mirror needed (mmdebstrap would need one and ~14 s per
# image); the binaries are Debian's, the same nginx and registry the rest of
# the suite runs on the host.
#
#   host_images.sh WORKDIR NGINX_IMAGE REGISTRY_IMAGE
#
# podman is called as is: CONTAINERS_CONF / CONTAINERS_STORAGE_CONF in the
# environment choose its configuration and storage.
set -euo pipefail

work=$1 nginx_image=$2 registry_image=$3

# Copies binary $2 into root $1 at the same path, with every library it loads.
add_binary() {
  local root=$1 bin=$2 lib
  install -D -m 0755 "$bin" "$root$bin"
  # "libfoo.so => /lib/.../libfoo.so (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
  for lib in $(ldd "$bin" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (.*/\1/p'); do
    [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
}

# The users of the stock images: nginx's workers run as uid 101.
base_etc() {
  local root=$1
  mkdir -p "$root/etc" "$root/tmp" "$root/run" "$root/var/tmp"
  chmod 1777 "$root/tmp" "$root/var/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\nnginx:x:101:101:nginx:/nonexistent:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnginx:x:101:\nnogroup:x:65534:\n' >"$root/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
  printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
}

import() {
  local root=$1 image=$2
  shift 2
  tar -C "$root" --numeric-owner -c . | podman import --quiet "$@" - "$image" >/dev/null
}

rm -rf "$work/nginx-root" "$work/registry-root"

# nginx, laid out as the nginx:1.25 image: /etc/nginx/nginx.conf includes
# conf.d/*.conf (compose.yaml binds deploy/nginx.conf there), logs to the
# container's stdout/stderr, CMD nginx -g 'daemon off;'.
r=$work/nginx-root
base_etc "$r"
add_binary "$r" "$(command -v nginx)"
add_binary "$r" "$(command -v curl)"
mkdir -p "$r/etc/nginx/conf.d" "$r/var/lib/nginx" "$r/var/log/nginx" "$r/var/cache/nginx"
cp /etc/nginx/mime.types "$r/etc/nginx/mime.types"
cat >"$r/etc/nginx/nginx.conf" <<'EOF'
user nginx;
worker_processes 2;
error_log /dev/stderr notice;
pid /run/nginx.pid;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /dev/stdout;
    sendfile on;
    keepalive_timeout 65;
    include /etc/nginx/conf.d/*.conf;
}
EOF
import "$r" "$nginx_image" --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' --change 'STOPSIGNAL SIGQUIT' \
  --change 'CMD ["nginx", "-g", "daemon off;"]'

# registry:2: the distribution binary as /bin/registry, serving the config
# compose.yaml binds at /etc/docker/registry/config.yml.
r=$work/registry-root
base_etc "$r"
add_binary "$r" "$(command -v docker-registry)"
mkdir -p "$r/bin" "$r/etc/docker/registry" "$r/var/lib/registry"
ln -sf "$(command -v docker-registry)" "$r/bin/registry"
import "$r" "$registry_image" --change 'ENTRYPOINT ["/bin/registry"]' \
  --change 'CMD ["serve", "/etc/docker/registry/config.yml"]'
