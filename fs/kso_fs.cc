#include "fs/kso_fs.h"

#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <malloc.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <cstdarg>
#include <cstring>
#include <optional>
#include <string>

#include "fs/fuse_ops.h"
#include "fs/reload.h"
#include "fetch/remote.h"
#include "fs/status.h"
#include "index/error.h"
#include "index/pack_open.h"
#include "cli/size_arg.h"
#include "cli/tool_io.h"

namespace kso {
namespace {

// Kernel readahead for the mount. FUSE mounts start at 128 KiB, so a
// sequential reader costs a round trip per 128 KiB; libfuse negotiates
// requests of up to 1 MiB, and 1 MiB of readahead fills them (measured:
// cold full reads ~25 % faster).
constexpr unsigned kReadAheadKb = 1024;

struct Cli {
  std::vector<std::string> args;       // PACK... MOUNTPOINT as given (the mount point last)
  std::vector<std::string> opt_packs;  // -o pack=, each once, after the PACK arguments
  char* prefer = nullptr;              // -o prefer=first|last: who wins a union's conflicts
  char* cache_size = nullptr;
  char* mem_cache_size = nullptr;
  std::vector<std::string> bases;    // -o base=, each once; local paths may be ':'-separated
  std::vector<std::string> headers;  // -o header=, each once
  char* cache_dir = nullptr;         // remote packs: the disk cache
  char* cacert = nullptr;
  unsigned remote_timeout = 30;
  unsigned remote_readahead = 4;     // remote packs: extents fetched ahead of sequential readers
  int allow_switch = 0;
  char* reload_file = nullptr;       // remote packs: URL and headers re-read on SIGHUP
  unsigned read_ahead_kb = kReadAheadKb;
  unsigned prefetch_workers = 2;
  int allow_escaping_symlinks = 0;
  unsigned readahead_blocks = 2;
  unsigned kernel_dir_cache = 1;
  bool help = false, version = false;
};

enum { kKeyHelp, kKeyVersion, kKeyDiscard, kKeyBase, kKeyHeader, kKeyPack };

// FUSE worker threads unless -o max_threads= says otherwise: enough for
// nginx and the registry reading many files at once on a small host.
constexpr unsigned kDefaultThreads = 16;
constexpr unsigned kMaxThreadsCap = 100000;  // libfuse's own upper bound

const fuse_opt kOpts[] = {
    {"cache_size=%s", offsetof(Cli, cache_size), 0},
    {"mem_cache_size=%s", offsetof(Cli, mem_cache_size), 0},
    {"cache_dir=%s", offsetof(Cli, cache_dir), 0},
    {"cacert=%s", offsetof(Cli, cacert), 0},
    {"remote_timeout=%u", offsetof(Cli, remote_timeout), 0},
    {"remote_readahead=%u", offsetof(Cli, remote_readahead), 0},
    {"switch", offsetof(Cli, allow_switch), 1},
    {"reload_file=%s", offsetof(Cli, reload_file), 0},
    FUSE_OPT_KEY("base=", kKeyBase),
    FUSE_OPT_KEY("header=", kKeyHeader),
    FUSE_OPT_KEY("pack=", kKeyPack),
    {"prefer=%s", offsetof(Cli, prefer), 0},
    {"prefetch_workers=%u", offsetof(Cli, prefetch_workers), 0},
    {"allow_escaping_symlinks", offsetof(Cli, allow_escaping_symlinks), 1},
    {"readahead_blocks=%u", offsetof(Cli, readahead_blocks), 0},
    {"kernel_dir_cache=%u", offsetof(Cli, kernel_dir_cache), 0},
    {"read_ahead_kb=%u", offsetof(Cli, read_ahead_kb), 0},
    FUSE_OPT_KEY("-h", kKeyHelp),
    FUSE_OPT_KEY("--help", kKeyHelp),
    FUSE_OPT_KEY("-V", kKeyVersion),
    FUSE_OPT_KEY("--version", kKeyVersion),
    // The mount is always read-only; mount(8) and fstab may still say these.
    FUSE_OPT_KEY("rw", kKeyDiscard),
    FUSE_OPT_KEY("ro", kKeyDiscard),
    FUSE_OPT_KEY("defaults", kKeyDiscard),
    FUSE_OPT_KEY("auto", kKeyDiscard),
    FUSE_OPT_KEY("noauto", kKeyDiscard),
    FUSE_OPT_KEY("nofail", kKeyDiscard),
    FUSE_OPT_KEY("_netdev", kKeyDiscard),
    FUSE_OPT_KEY("user", kKeyDiscard),
    FUSE_OPT_KEY("users", kKeyDiscard),
    FUSE_OPT_KEY("x-systemd.", kKeyDiscard),
    FUSE_OPT_END,
};

int opt_proc(void* data, const char* arg, int key, fuse_args*) {
  auto* cli = static_cast<Cli*>(data);
  switch (key) {
    case FUSE_OPT_KEY_NONOPT:  // the last is the mount point, handed to fuse_parse_cmdline later
      cli->args.emplace_back(arg);
      return 0;
    case kKeyHelp:
      cli->help = true;
      return 0;
    case kKeyVersion:
      cli->version = true;
      return 0;
    case kKeyDiscard:
      return 0;
    case kKeyBase: {
      std::string v = strchr(arg, '=') + 1;
      if (fetch::is_url(v)) {
        cli->bases.push_back(v);
        return 0;
      }
      for (size_t at = 0; at <= v.size();) {  // OLD.kso:OLDER.kso
        size_t colon = v.find(':', at);
        if (colon == std::string::npos) colon = v.size();
        if (colon > at) cli->bases.push_back(v.substr(at, colon - at));
        at = colon + 1;
      }
      return 0;
    }
    case kKeyHeader:
      cli->headers.emplace_back(strchr(arg, '=') + 1);
      return 0;
    case kKeyPack:
      cli->opt_packs.emplace_back(strchr(arg, '=') + 1);
      return 0;
    default:
      return 1;
  }
}

// What `print` writes to the process's stdout (libfuse's help), as a string.
std::string stdout_of(void (*print)()) {
  fflush(stdout);
  FILE* tmp = tmpfile();
  int saved = tmp ? dup(STDOUT_FILENO) : -1;
  if (saved < 0) {
    if (tmp) fclose(tmp);
    print();
    return {};
  }
  dup2(fileno(tmp), STDOUT_FILENO);
  print();
  fflush(stdout);
  dup2(saved, STDOUT_FILENO);
  close(saved);
  std::string text;
  rewind(tmp);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, tmp)) > 0) text.append(buf, n);
  fclose(tmp);
  return text;
}

void usage(ToolIo& io) {
  io.out <<
      "usage: kso-fs PACK [PACK...] MOUNTPOINT [-o OPTION[,OPTION...]] [-f] [-d] [-s]\n"
      "       kso-fs --status MOUNTPOINT [--json] [--max-eio N] [--timeout SECS]\n"
      "\n"
      "Mounts a kso pack read-only at MOUNTPOINT. Without -f it goes to the\n"
      "background once the mount is up. Unmount with 'umount MOUNTPOINT' or\n"
      "'fusermount3 -u MOUNTPOINT'; SIGTERM/SIGINT also unmount cleanly.\n"
      "\n"
      "Several packs mount as their union (rolling upgrades: the old and the new pack\n"
      "together; a site's own files and images on top). Directories merge; a path two packs\n"
      "hold must be the same in both (files by content SHA-256, symlinks by target; a\n"
      "registry tag by its digest), else the mount is refused naming the path and the packs.\n"
      "Nothing but the packs' indexes is read to build it. mount(8) and fstab pass one pack:\n"
      "give the others with -o pack=.\n"
      "    -o pack=PACK             one more pack of the union (repeatable; after the PACK\n"
      "                             arguments, in order)\n"
      "    -o prefer=first|last     a conflict does not refuse the mount: the first (or last)\n"
      "                             pack holding the path wins; each such path is logged once\n"
      "\n"
      "--status MOUNTPOINT asks the daemon serving MOUNTPOINT (no PACK needed) which pack\n"
      "is live and how it is doing: pack (a URL without its query), identity, format version,\n"
      "bases, every pack of a union, mount time and uptime, cache use and hit rate, bytes\n"
      "served, reads, EIO replies since mount, and for remote packs what was fetched (a\n"
      "union's user.kso.pack and identity are its first pack's). The same is in the mount root's\n"
      "extended attributes user.kso.status (JSON), user.kso.pack, user.kso.identity and\n"
      "user.kso.format_version (getfattr -d -m user.kso MOUNTPOINT).\n"
      "    --json                   the status as JSON, with \"health\" and \"problems\"\n"
      "    --max-eio N              EIO replies tolerated before it says degraded (default 0)\n"
      "    --timeout SECS           give up on a daemon that does not answer (default 10; 0 waits)\n"
      "  exit status: 0 healthy, 1 not a kso-fs mount or its daemon is gone or hung,\n"
      "  2 usage, 3 degraded (more than N EIO replies, or a remote pack's object changed)\n"
      "\n"
      "kso-fs options:\n"
      "    -o cache_size=SIZE       decoded-block cache (default 256M)\n"
      "    -o base=OLD.kso[:OLDER.kso]  a delta pack's bases (default: the packs next to\n"
      "                             PACK whose identity the delta names; names do not matter);\n"
      "                             repeat base= for URLs\n"
      "\n"
      "remote packs (PACK is an http:// or https:// URL: a web server, a presigned or public\n"
      "S3/MinIO/Ceph object):\n"
      "    -o cache_dir=DIR         where fetched ranges are kept (required); one daemon per DIR\n"
      "    -o cache_size=SIZE       bound of that disk cache (default 2G; LRU)\n"
      "    -o mem_cache_size=SIZE   decoded-block cache in memory (default 256M; for local packs\n"
      "                             cache_size is this)\n"
      "    -o cacert=FILE           CA bundle to trust instead of the system's\n"
      "    -o header='NAME: VALUE'  extra request header, e.g. a bearer token (repeatable);\n"
      "                             credentials in ~/.netrc (or $NETRC) are used too;\n"
      "                             proxies from http_proxy/https_proxy/no_proxy\n"
      "    -o remote_timeout=SECS   an uncached read fails with EIO after about this (default 30)\n"
      "    -o remote_readahead=N    1 MiB extents fetched in the background ahead of a sequential\n"
      "                             reader, in parallel (default 4; 0 = off)\n"
      "    -o switch                the URL holds another pack than the cache: take it\n"
      "    -o reload_file=FILE      'url=URL' and 'header=NAME: VALUE' lines, read at mount and\n"
      "                             again on SIGHUP: replace an expiring presigned URL or token\n"
      "                             without a remount (the new URL must serve the same pack)\n"
      "    -o prefetch_workers=N    threads decoding ahead (default 2)\n"
      "    -o readahead_blocks=N    blocks decoded ahead of sequential readers (default 2)\n"
      "    -o read_ahead_kb=N       kernel readahead of the mount (default 1024; 0 keeps the kernel's)\n"
      "    -o kernel_dir_cache=0    do not let the kernel keep directory listings (default 1)\n"
      "    -o allow_other           let other users (e.g. nginx, registry containers) read it\n"
      "    -o allow_escaping_symlinks  resolve symlinks that point outside the pack (default:\n"
      "                             EACCES, so no server can follow one into the host)\n"
      "    -o debug, -d             log every FUSE request (implies -f)\n"
      "\n";
  // libfuse prints its own options' help with printf.
  if (&io.out == &ToolIo::process().out) {
    io.out.flush();
    fuse_cmdline_help();
    fuse_lowlevel_help();
  } else {
    io.out << stdout_of(fuse_cmdline_help) << stdout_of(fuse_lowlevel_help);
  }
}

// libfuse's own messages (an unknown -o option, a bad argument) for the
// duration of one kso_fs_main run with other streams than the process's:
// to that run's io.err.
ToolIo* fuse_log_io = nullptr;

void fuse_log_to_io(enum fuse_log_level, const char* fmt, va_list ap) {
  char buf[4096];
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  if (n > 0 && fuse_log_io) fuse_log_io->err.write(buf, std::min<int>(n, int(sizeof buf) - 1));
}

struct FuseLogToIo {
  explicit FuseLogToIo(ToolIo& io) {
    if (&io.err == &ToolIo::process().err) return;
    fuse_log_io = &io;
    fuse_set_log_func(fuse_log_to_io);
  }
  ~FuseLogToIo() {
    if (!fuse_log_io) return;
    fuse_set_log_func(nullptr);  // libfuse's default: stderr
    fuse_log_io = nullptr;
  }
};

std::string escape_commas(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ',' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// A daemon killed with -9 leaves its mount point answering ENOTCONN; detach
// that stale mount so a fresh mount can take its place. stat() alone misses
// it: the kernel answers stat of the root from its attribute cache (we hand
// out year-long attr timeouts), so ask statfs, which always reaches the daemon.
bool is_stale_mount(const char* mnt) {
  struct statvfs sv;
  if (statvfs(mnt, &sv) != 0 && errno == ENOTCONN) return true;
  struct stat st;
  return stat(mnt, &st) != 0 && errno == ENOTCONN;
}

void clear_stale_mount(const char* mnt) {
  if (!is_stale_mount(mnt)) return;
  spdlog::warn("{}: stale mount of a dead daemon, detaching it", mnt);
  if (umount2(mnt, MNT_DETACH) == 0) return;
  // umount2 needs root; the setuid fusermount3 detaches a user's own mount.
  // Run from PATH with an argument vector (no shell), its stderr to /dev/null.
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  char prog[] = "fusermount3", u[] = "-u", z[] = "-z";
  std::string point(mnt);
  char* argv[] = {prog, u, z, point.data(), nullptr};
  pid_t pid;
  int status = -1;
  if (posix_spawnp(&pid, prog, &fa, nullptr, argv, environ) == 0)
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  posix_spawn_file_actions_destroy(&fa);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) spdlog::warn("{}: could not detach the stale mount", mnt);
}

// The sysfs file that sets the mount's readahead, found through its device
// number in /proc/self/mountinfo (stat() of the mount itself would wait on
// this daemon, which is not serving requests yet); "" if not found.
std::string read_ahead_path(const char* mnt) {
  std::string want;
  for (const char* p = mnt; *p; p++) {  // mountinfo escapes these as octal
    if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\\') {
      char esc[8];
      snprintf(esc, sizeof esc, "\\%03o", (unsigned char)*p);
      want += esc;
    } else {
      want += *p;
    }
  }
  FILE* f = fopen("/proc/self/mountinfo", "r");
  if (!f) return {};
  char line[8192];
  std::string dev;
  while (fgets(line, sizeof line, f)) {
    char id[16], parent[16], majmin[32], root[4096], point[4096];
    if (sscanf(line, "%15s %15s %31s %4095s %4095s", id, parent, majmin, root, point) == 5 && want == point)
      dev = majmin;  // the last match is the newest mount
  }
  fclose(f);
  return dev.empty() ? std::string() : "/sys/class/bdi/" + dev + "/read_ahead_kb";
}

// The daemon, once in the background: its log to syslog.
void log_to_syslog(bool debug) {
  spdlog::set_default_logger(spdlog::syslog_logger_mt("kso-fs-syslog", "kso-fs", LOG_PID, LOG_DAEMON));
  spdlog::set_level(debug ? spdlog::level::debug : spdlog::level::info);
}

}  // namespace

int kso_fs_main(const std::vector<std::string>& arg_list, ToolIo& io) {
  // Decoded blocks are large, short-lived allocations. A fixed mmap threshold
  // gives their memory back to the kernel on eviction; glibc's adaptive one
  // would keep it in per-thread arenas, and RSS would grow past cache_size.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  mallopt(M_ARENA_MAX, 4);
  bool help_asked = false, status_asked = false;
  for (auto& a : arg_list) {
    help_asked |= a == "-h" || a == "--help";
    status_asked |= a == "--status" || a.rfind("--status=", 0) == 0;
  }
  if (status_asked && !help_asked) return status_main(arg_list, io);
  // libfuse parses a C argv: the program name, then the arguments.
  std::vector<std::string> words{"kso-fs"};
  words.insert(words.end(), arg_list.begin(), arg_list.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  FuseLogToIo fuse_log(io);
  fuse_args args = FUSE_ARGS_INIT(int(words.size()), argv.data());
  Cli cli;
  if (fuse_opt_parse(&args, &cli, kOpts, opt_proc) != 0) return 2;
  if (cli.help) {
    usage(io);
    fuse_opt_free_args(&args);
    return 0;
  }
  if (cli.version) {
    say(io.out, "kso-fs %s%s (reads pack formats v%u to v%u), libfuse %s\n", KSO_VERSION,
        fetch::remote_supported() ? "" : " static, local packs only", kOldestReadableVersion, kFormatVersion,
        fuse_pkgversion());
    fuse_opt_free_args(&args);
    return 0;
  }
  // PACK... MOUNTPOINT: the last argument is the mount point, and
  // fuse_parse_cmdline wants it; the packs are the others, then -o pack=.
  std::vector<std::string> packs = cli.args;
  if (!packs.empty()) {
    fuse_opt_add_arg(&args, packs.back().c_str());
    packs.pop_back();
  }
  packs.insert(packs.end(), cli.opt_packs.begin(), cli.opt_packs.end());
  fuse_cmdline_opts fo{};
  if (fuse_parse_cmdline(&args, &fo) != 0) return 2;
  ToolLogger logger(io, "kso-fs", "kso-fs: %^%l%$: %v");  // to io.err until the daemon goes to the background
  spdlog::set_level(fo.debug ? spdlog::level::debug : spdlog::level::info);
  auto fail = [&](const std::string& msg, int code) {
    io.err << "kso-fs: error: " << msg << "\n";
    free(fo.mountpoint);
    fuse_opt_free_args(&args);
    return code;
  };
  if (packs.empty() || !fo.mountpoint)
    return fail("usage: kso-fs PACK [PACK...] MOUNTPOINT [-o OPTIONS] [-f]  (--help for more)", 2);
  Prefer prefer = Prefer::kNone;
  if (cli.prefer) {
    std::string v = cli.prefer;
    if (v == "first") prefer = Prefer::kFirst;
    else if (v == "last") prefer = Prefer::kLast;
    else if (v != "none") return fail("-o prefer= takes first, last or none, not '" + v + "'", 2);
  }

  FsContext c;
  const bool remote = std::any_of(packs.begin(), packs.end(), [](auto& p) { return fetch::is_url(p); });
  std::vector<std::pair<std::string, std::shared_ptr<ByteSource>>> remotes;
  fetch::RemoteOptions ro;
  try {
    if (cli.cache_size) (remote ? ro.cache_size : c.opts.cache_size) = parse_size(cli.cache_size);
    if (cli.mem_cache_size) c.opts.cache_size = parse_size(cli.mem_cache_size);
  } catch (const std::exception& e) {
    return fail(std::string("-o cache_size: ") + e.what(), 2);
  }
  if (remote && !cli.cache_dir) return fail("a remote pack needs -o cache_dir=DIR (where fetched ranges are kept)", 2);
  if (cli.cache_dir) ro.cache_dir = cli.cache_dir;
  if (cli.cacert) ro.cacert = cli.cacert;
  ro.netrc_file = io.getenv("NETRC").value_or("");  // libcurl's ~/.netrc when unset
  ro.headers = cli.headers;
  if (cli.reload_file) {
    if (packs.size() != 1 || !fetch::is_url(packs[0]))
      return fail("-o reload_file is for a mount of one remote (http:// or https://) pack", 2);
    try {
      ReloadSpec spec = read_reload_file(cli.reload_file);
      if (!spec.url.empty()) packs[0] = spec.url;
      ro.reload_headers = spec.headers;
    } catch (const std::exception& e) {
      return fail(e.what(), 1);
    }
  }
  ro.timeout_s = long(std::max(1u, cli.remote_timeout));
  ro.readahead = cli.remote_readahead;
  ro.allow_switch = cli.allow_switch != 0;
  try {
    c.opts.prefetch_workers = cli.prefetch_workers;
    c.opts.allow_escaping_symlinks = cli.allow_escaping_symlinks != 0;
    c.opts.readahead_blocks = cli.readahead_blocks;
    c.opts.kernel_dir_cache = cli.kernel_dir_cache != 0;
    for (auto& p : packs) {
      if (fetch::is_url(p)) continue;
      char* real = realpath(p.c_str(), nullptr);
      if (!real) throw Error("cannot open " + p + ": " + strerror(errno), errno);
      p = real;
      free(real);
    }
    BaseSearch bases;
    for (auto& b : cli.bases) bases.paths.emplace_back(b);
    bases.open = [&remotes, inner = fetch::source_opener(ro)](const std::string& where) {
      auto src = inner(where);
      if (fetch::is_url(where)) remotes.emplace_back(where, src);  // for SIGHUP's reload
      return src;
    };
    // A delta mounts only with every base of its chain found and checked,
    // and a union only without conflicts: errors show on the terminal,
    // before forking, never on a later read.
    std::vector<std::shared_ptr<Pack>> opened;
    for (auto& p : packs) opened.push_back(open_pack(p, bases));
    c.pack = opened[0];
    auto t0 = std::chrono::steady_clock::now();
    c.tree = std::make_shared<UnionTree>(std::move(opened), prefer);
    for (auto& line : c.tree->overrides()) spdlog::warn("{}", line);
    if (packs.size() > 1)
      spdlog::info("union of {} packs built from their indexes in {} ms", packs.size(),
                   std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
  } catch (const std::exception& e) {
    return fail(e.what(), 1);
  }
  clear_stale_mount(fo.mountpoint);

  Reloader reloader(cli.reload_file ? cli.reload_file : "", packs[0], std::move(remotes));
  std::string names;  // for the log; a presigned URL's query is a secret: never in mtab or logs
  for (auto& p : packs) {
    if (fetch::is_url(p)) p = fetch::redact_url(p);
    names += (names.empty() ? "" : ", ") + p;
  }
  // mtab names the first pack (a union's others are in --status).
  std::string mount_opts = "-oro,default_permissions,fsname=" + escape_commas(packs[0]) + ",subtype=kso-fs";
  fuse_opt_add_arg(&args, mount_opts.c_str());
  fuse_session* se = fuse_session_new(&args, &fuse_ops(), sizeof(fuse_lowlevel_ops), &c);
  if (!se) return fail("cannot create the FUSE session (bad -o option?)", 2);
  int rc = 1;
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_session_destroy(se);
    return fail("cannot install signal handlers", 1);
  }
  if (fuse_session_mount(se, fo.mountpoint) != 0) {
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return fail(std::string("cannot mount on ") + fo.mountpoint, 1);
  }
  if (cli.read_ahead_kb) c.read_ahead = {read_ahead_path(fo.mountpoint), cli.read_ahead_kb};
  c.mount.mountpoint = fo.mountpoint;
  c.mount.unix_time = int64_t(time(nullptr));
  c.mount.since = std::chrono::steady_clock::now();
  if (cli.cache_dir) c.mount.cache_dir = cli.cache_dir;
  spdlog::info("mounted {} on {}", names, fo.mountpoint);
  if (!fo.foreground) log_to_syslog(fo.debug);
  fuse_daemonize(fo.foreground);
  // Threads start only now: fuse_daemonize forks.
  c.start();
  reloader.start();  // SIGHUP: after fuse_set_signal_handlers, which made it unmount
  if (fo.singlethread) {
    rc = fuse_session_loop(se);
  } else {
    fuse_loop_config* lc = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(lc, fo.clone_fd);
    // libfuse leaves max_threads unset (UINT_MAX) unless -o max_threads= is given.
    fuse_loop_cfg_set_max_threads(lc, fo.max_threads && fo.max_threads <= kMaxThreadsCap ? fo.max_threads : kDefaultThreads);
    // UINT_MAX is fuse_parse_cmdline's "not given"; libfuse 3.14.0 logs an
    // "Ignoring invalid max threads value 4294967295" error if handed it.
    if (fo.max_idle_threads != UINT_MAX) fuse_loop_cfg_set_idle_threads(lc, fo.max_idle_threads);
    rc = fuse_session_loop_mt(se, lc);
    fuse_loop_cfg_destroy(lc);
  }
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  spdlog::info("unmounted {}", fo.mountpoint);
  c.files.reset();
  c.dirs.reset();
  c.cache.reset();
  free(fo.mountpoint);
  fuse_opt_free_args(&args);
  return rc == 0 ? 0 : 1;
}

}  // namespace kso
