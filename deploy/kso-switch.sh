#!/usr/bin/env bash
# kso-switch.sh: switch a kso-fs mount to a new pack (docs/DEPLOY.md, section 6).
set -euo pipefail

prog=kso-switch

usage() {
  cat <<'EOF'
usage: kso-switch.sh [OPTIONS] NEW.kso PACK MOUNTPOINT

Switches the pack served at MOUNTPOINT from PACK to a copy of NEW.kso:

  1. copy NEW.kso to PACK.new (install -m 0644, same directory as PACK)
  2. kso-pack verify PACK.new; if it fails: remove PACK.new, change nothing, exit 1
     (a delta pack is verified with its bases, found next to PACK by identity;
     with --pubkey, NEW.kso.sig must be a signature of it by that key first)
  2b. a delta: keep every base of its chain as PACK.base-ID (a hard link, ID = the
     first 16 hex digits of its identity), so no switch removes or overwrites a base
  3. keep the current pack as PACK.old (a hard link; replaces an older PACK.old)
  4. rename PACK.new over PACK (atomic: the running daemon keeps its old file)
  5. run the --stop command (the servers reading the mount)
  6. remount: umount MOUNTPOINT, then kso-fs PACK MOUNTPOINT -o OPTS
     (or the --remount command instead)
  7. check that MOUNTPOINT is mounted again, then run the --start command
  8. with --drop-old only: remove PACK.old; with --prune-bases only: remove the
     PACK.base-* files that neither PACK nor PACK.old needs

Options:
  --stop CMD          shell command stopping the servers (run with sh -c)
  --start CMD         shell command starting them again
  --remount CMD       shell command doing the remount instead of umount + kso-fs,
                      e.g. 'systemctl restart srv-kso.mount'
  --mount-opts OPTS   kso-fs -o options for the default remount (default: allow_other)
  --drop-old          remove PACK.old once the new pack is mounted
  --prune-bases       remove PACK.base-* files no longer needed by PACK or PACK.old
  --pubkey PUB        switch only to a pack signed by this Ed25519 key (kso-pack sign;
                      repeatable: any one of them); the signature is NEW.kso.sig
  --sig FILE          the signature file instead of NEW.kso.sig (needs --pubkey)
  -h, --help          this help

Environment: KSO_PACK, KSO_FS: the kso-pack and kso-fs binaries (default: from PATH).
Exit status: 0 switched, 1 failed (the message says what state things are in), 2 usage.
Roll back with: kso-switch.sh [same options] PACK.old PACK MOUNTPOINT
EOF
}

say() { echo "$prog: $*"; }
die() {
  echo "$prog: error: $*" >&2
  exit 1
}
usage_error() {
  echo "$prog: $* (see --help)" >&2
  exit 2
}

stop_cmd='' start_cmd='' remount_cmd='' mount_opts=allow_other drop_old=0 prune_bases=0 sig=''
pubkeys=()
while [ $# -gt 0 ]; do
  case "$1" in
    --stop | --start | --remount | --mount-opts | --pubkey | --sig)
      [ $# -ge 2 ] || usage_error "$1 needs a value"
      case "$1" in
        --stop) stop_cmd=$2 ;;
        --start) start_cmd=$2 ;;
        --remount) remount_cmd=$2 ;;
        --mount-opts) mount_opts=$2 ;;
        --pubkey) pubkeys+=(--pubkey "$2") ;;
        --sig) sig=$2 ;;
      esac
      shift 2
      ;;
    --stop=*) stop_cmd=${1#*=}; shift ;;
    --start=*) start_cmd=${1#*=}; shift ;;
    --remount=*) remount_cmd=${1#*=}; shift ;;
    --mount-opts=*) mount_opts=${1#*=}; shift ;;
    --pubkey=*) pubkeys+=(--pubkey "${1#*=}"); shift ;;
    --sig=*) sig=${1#*=}; shift ;;
    --drop-old) drop_old=1; shift ;;
    --prune-bases) prune_bases=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    -*) usage_error "unknown option $1" ;;
    *) break ;;
  esac
done
[ $# -eq 3 ] || usage_error "expected NEW.kso PACK MOUNTPOINT, got $# argument(s)"
new=$1 pack=$2 mnt=$3
tmp=$pack.new old=$pack.old
if [ ${#pubkeys[@]} -gt 0 ]; then
  sig=${sig:-$new.sig}
  [ -f "$sig" ] || die "$sig: no such file (the signature of $new; see --sig)"
  pubkeys+=(--sig "$sig")
elif [ -n "$sig" ]; then
  usage_error "--sig needs --pubkey"
fi

KSO_PACK=${KSO_PACK:-kso-pack}
KSO_FS=${KSO_FS:-kso-fs}
command -v "$KSO_PACK" >/dev/null || die "$KSO_PACK: kso-pack not found (install it or set KSO_PACK)"
if [ -z "$remount_cmd" ]; then
  command -v "$KSO_FS" >/dev/null || die "$KSO_FS: kso-fs not found (install it or set KSO_FS)"
fi
[ -f "$new" ] || die "$new: no such file"
[ -d "$(dirname -- "$pack")" ] || die "$(dirname -- "$pack"): no such directory (for $pack)"
[ ! -d "$pack" ] || die "$pack: is a directory, not a pack"
[ -d "$mnt" ] || die "$mnt: no such directory"
if [ -e "$pack" ] && [ "$new" -ef "$pack" ]; then die "$new: is already the served pack $pack"; fi
if [ -e "$tmp" ] && [ "$new" -ef "$tmp" ]; then die "$new: must not be $tmp itself (it is overwritten)"; fi

switched=0
cleanup() {
  if [ "$switched" = 0 ]; then rm -f -- "$tmp"; fi
  rm -f -- "$old.tmp" "$tmp.bases"
}
trap cleanup EXIT

# 1-2. Copy next to PACK (same filesystem: the rename is atomic) and verify the copy.
say "copying $new to $tmp"
install -m 0644 -- "$new" "$tmp" || die "$tmp: copy failed; nothing changed"
say "verifying $tmp"
"$KSO_PACK" verify "$tmp" ${pubkeys[@]+"${pubkeys[@]}"} >&2 || die "$new: kso-pack verify failed; $tmp removed, $pack and $mnt unchanged"

# 2b. A delta: its bases (found next to PACK by identity when it was verified)
# get names of their own that no switch rotates: PACK.base-ID.
"$KSO_PACK" bases "$tmp" >"$tmp.bases" || die "$new: its base packs are not all here; $tmp removed, nothing changed"
while read -r id path; do
  keep=$pack.base-${id:0:16}
  if [ -e "$keep" ] && [ "$keep" -ef "$path" ]; then continue; fi
  ln -f -- "$path" "$keep.tmp" 2>/dev/null || install -m 0644 -- "$path" "$keep.tmp" ||
    die "$keep: cannot keep base $path; nothing changed"
  mv -f -- "$keep.tmp" "$keep" || die "$keep: cannot keep base $path; nothing changed"
  say "kept base $path as $keep"
done <"$tmp.bases"
rm -f -- "$tmp.bases"

# 3-4. Keep the current pack as PACK.old, then put the new one in place.
if [ -e "$pack" ]; then
  rm -f -- "$old.tmp"
  ln -- "$pack" "$old.tmp" || die "$old: cannot keep the current pack (hard link failed); nothing changed"
  mv -f -- "$old.tmp" "$old" || die "$old: cannot keep the current pack; nothing changed"
fi
mv -f -T -- "$tmp" "$pack" || die "$pack: rename of $tmp failed; nothing changed"
switched=1
say "$pack is the new pack (previous one kept as $old); $mnt still serves the previous one"

# 5-7. Stop the servers, remount, start them again (also after a failed remount).
stopped=0
start_servers() {
  if [ -n "$start_cmd" ]; then
    say "starting servers: $start_cmd"
    sh -c "$start_cmd"
  fi
}
fail_remount() {
  echo "$prog: error: $* (roll back: $0 $old $pack $mnt)" >&2
  if [ "$stopped" = 1 ] && ! start_servers; then echo "$prog: error: start command failed too" >&2; fi
  exit 1
}
if [ -n "$stop_cmd" ]; then
  say "stopping servers: $stop_cmd"
  sh -c "$stop_cmd" || die "stop command failed; $pack is the new pack, $mnt still serves the previous one"
  stopped=1
fi
if [ -n "$remount_cmd" ]; then
  say "remounting: $remount_cmd"
  sh -c "$remount_cmd" || fail_remount "$mnt: remount command failed"
else
  if mountpoint -q -- "$mnt"; then
    say "unmounting $mnt"
    if ! umount -- "$mnt" 2>/dev/null && ! fusermount3 -u "$mnt"; then
      fail_remount "$mnt: umount failed (busy? see fuser -vm $mnt; umount -l detaches it); it still serves the previous pack"
    fi
  fi
  say "mounting $pack on $mnt"
  # shellcheck disable=SC2086  # no -o when OPTS is empty
  "$KSO_FS" "$pack" "$mnt" ${mount_opts:+-o "$mount_opts"} || fail_remount "$mnt: kso-fs $pack failed; nothing is mounted there"
fi
up=0
for _ in $(seq 100); do
  if mountpoint -q -- "$mnt" && ls -- "$mnt" >/dev/null 2>&1; then up=1; break; fi
  sleep 0.1
done
[ "$up" = 1 ] || fail_remount "$mnt: not mounted after the remount"
say "$mnt serves $pack"
start_servers || die "start command failed; $mnt serves the new pack"

# 8.
if [ "$drop_old" = 1 ] && [ -e "$old" ]; then
  rm -f -- "$old"
  say "removed $old"
fi
if [ "$prune_bases" = 1 ]; then
  needed=$("$KSO_PACK" bases "$pack" | cut -d' ' -f1) || die "$pack: cannot list its bases; nothing pruned"
  if [ -e "$old" ]; then
    needed="$needed $("$KSO_PACK" bases "$old" 2>/dev/null | cut -d' ' -f1)"
    needed="$needed $("$KSO_PACK" info --json "$old" | sed -n 's/^  "identity": "\([0-9a-f]*\)",$/\1/p')"
  fi
  for f in "$pack".base-*; do
    [ -e "$f" ] || continue
    id=${f##*.base-}
    case " $(echo $needed) " in *" $id"*) continue ;; esac
    rm -f -- "$f"
    say "removed $f (no longer a base of $pack or $old)"
  done
fi
say "done"
