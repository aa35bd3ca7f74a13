#include "fs/status.h"

#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "cli/human.h"
#include "cli/tool_io.h"
#include "fetch/remote.h"
#include "fs/fuse_ops.h"
#include "index/hash.h"
#include "index/pack_open.h"

namespace kso {
namespace {

using nlohmann::json;

// Bumped when a field changes meaning or goes away (new fields do not bump it).
constexpr int kStatusSchema = 1;

// Exit codes of --status (kso-fs's own: 0 ok, 1 failure, 2 usage).
constexpr int kExitHealthy = 0, kExitNoMount = 1, kExitUsage = 2, kExitDegraded = 3;

// A daemon that takes longer than this to answer one getxattr is reported
// as not answering (a health check must not hang with it).
constexpr unsigned kDefaultTimeoutS = 10;

// The status document is a few hundred bytes; a delta chain adds ~150 per
// base. Start there, grow on ERANGE up to a bound no honest daemon reaches.
constexpr size_t kFirstBuffer = 64 * 1024, kMaxBuffer = 16u << 20;

std::string utc(int64_t t) {
  time_t tt = time_t(t);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::string status_json(const FsContext& c) {
  const Pack& p = *c.pack;
  json j;
  j["schema"] = kStatusSchema;
  j["mountpoint"] = c.mount.mountpoint;
  j["pid"] = c.mount.pid;
  j["pack"] = p.name();
  j["identity"] = to_hex(p.identity());
  j["format_version"] = p.version();
  j["pack_bytes"] = p.file_size();
  auto bases_of = [](const Pack& pk) {
    json arr = json::array();
    for (const Pack* b : base_chain(pk)) arr.push_back({{"pack", b->name()}, {"identity", to_hex(b->identity())}});
    return arr;
  };
  j["bases"] = bases_of(p);
  // Every pack of the mount in union order (one for a single-pack mount; the
  // fields above are the first's, as before unions).
  j["packs"] = json::array();
  size_t n = c.tree ? c.tree->pack_count() : 1;
  for (size_t k = 0; k < n; k++) {
    const Pack& pk = c.tree ? *c.tree->pack(k) : p;
    j["packs"].push_back({{"pack", pk.name()},
                          {"identity", to_hex(pk.identity())},
                          {"format_version", pk.version()},
                          {"pack_bytes", pk.file_size()},
                          {"bases", bases_of(pk)}});
  }
  j["mounted_at"] = utc(c.mount.unix_time);
  j["mounted_at_unix"] = c.mount.unix_time;
  j["uptime_s"] = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - c.mount.since).count();
  CacheStats cs = c.cache ? c.cache->stats() : CacheStats{};
  json cache = {{"bytes", cs.bytes},   {"capacity", c.opts.cache_size}, {"hits", cs.hits},
                {"misses", cs.misses}, {"prefetched", cs.prefetched},   {"evicted", cs.evicted}};
  cache["hit_rate"] = cs.hits + cs.misses ? json(double(cs.hits) / double(cs.hits + cs.misses)) : json(nullptr);
  j["cache"] = cache;
  j["reads"] = c.counters.reads.load(std::memory_order_relaxed);
  j["bytes_served"] = c.counters.bytes_served.load(std::memory_order_relaxed);
  j["eio"] = c.counters.eio.load(std::memory_order_relaxed);
  if (auto stats = fetch::remote_stats(p.source())) {
    const fetch::RemoteStats& rs = *stats;
    j["remote"] = {{"cache_dir", c.mount.cache_dir},
                   {"cache_bytes", rs.cache_bytes},
                   {"cache_capacity", rs.cache_capacity},
                   {"bytes_fetched", rs.bytes_fetched},
                   {"range_requests", rs.range_requests},
                   {"readahead_requests", rs.readahead_requests},
                   {"readahead_bytes", rs.readahead_bytes},
                   {"offline_at_mount", rs.offline_at_open},
                   {"origin_down", rs.origin_down},
                   {"object_changed", rs.object_changed}};
  } else {
    j["remote"] = nullptr;
  }
  // Invalid UTF-8 in a path is replaced rather than failing the request.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<std::string> status_xattr(const FsContext& c, std::string_view name) {
  if (name == kStatusXattr) return status_json(c);
  if (name == kPackXattr) return c.pack->name();
  if (name == kIdentityXattr) return to_hex(c.pack->identity());
  if (name == kVersionXattr) return std::to_string(c.pack->version());
  return std::nullopt;
}

const std::string& status_xattr_names() {
  static const std::string names = [] {
    std::string s;
    for (const char* n : {kStatusXattr, kPackXattr, kIdentityXattr, kVersionXattr}) s.append(n).push_back('\0');
    return s;
  }();
  return names;
}

namespace {

std::string human_duration(int64_t s) {
  char buf[64];
  if (s >= 86400) snprintf(buf, sizeof buf, "%lldd %lldh %lldm", (long long)(s / 86400), (long long)(s % 86400 / 3600), (long long)(s % 3600 / 60));
  else if (s >= 3600) snprintf(buf, sizeof buf, "%lldh %lldm %llds", (long long)(s / 3600), (long long)(s % 3600 / 60), (long long)(s % 60));
  else if (s >= 60) snprintf(buf, sizeof buf, "%lldm %llds", (long long)(s / 60), (long long)(s % 60));
  else snprintf(buf, sizeof buf, "%llds", (long long)s);
  return buf;
}

// The raw user.kso.status of `mnt`, or the one line saying why not.
struct Fetched {
  std::string value;
  std::string error;  // empty on success
};

Fetched fetch_status(const std::string& mnt) {
  Fetched f;
  std::string buf(kFirstBuffer, '\0');
  for (;;) {
    ssize_t n = getxattr(mnt.c_str(), kStatusXattr, buf.data(), buf.size());
    if (n >= 0) {
      buf.resize(size_t(n));
      f.value = std::move(buf);
      return f;
    }
    int e = errno;
    if (e == ERANGE && buf.size() < kMaxBuffer) {
      buf.resize(buf.size() * 4);
      continue;
    }
    if (e == ENODATA || e == ENOTSUP)
      f.error = mnt + ": not a kso-fs mount (no " + kStatusXattr + " attribute on it)";
    else if (e == ENOTCONN)
      f.error = mnt + ": the kso-fs daemon of this mount is gone (Transport endpoint is not connected)";
    else if (e == EACCES)
      f.error = mnt + ": permission denied (a mount of another user without allow_other?)";
    else
      f.error = mnt + ": " + strerror(e);
    return f;
  }
}

void status_usage(ToolIo& io) {
  say(io.err, "usage: kso-fs --status MOUNTPOINT [--json] [--max-eio N] [--timeout SECS]  (kso-fs --help for more)\n");
}

// Field `k` of `o`: a number (0 if missing), an object or array (null if missing).
uint64_t num(const json& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}
const json& sub(const json& o, const char* k) {
  static const json none;
  auto it = o.find(k);
  return it != o.end() ? *it : none;
}

// Prints `j` for people: one "key: value" line per item.
void print_human(const json& j, const std::vector<std::string>& problems, ToolIo& io) {
  auto bytes = [](uint64_t n) { return human_bytes(n) + " (" + std::to_string(n) + " bytes)"; };
  say(io.out, "mount:          %s (kso-fs pid %llu)\n", j.value("mountpoint", "?").c_str(), (unsigned long long)num(j, "pid"));
  say(io.out, "pack:           %s\n", j.value("pack", "?").c_str());
  say(io.out, "identity:       %s\n", j.value("identity", "?").c_str());
  say(io.out, "format:         v%llu, %s\n", (unsigned long long)num(j, "format_version"), bytes(num(j, "pack_bytes")).c_str());
  const json& bases = sub(j, "bases");
  if (bases.is_array() && !bases.empty()) {
    say(io.out, "bases:          %zu (the delta chain, nearest first)\n", bases.size());
    for (auto& b : bases) say(io.out, "  base:         %s %s\n", b.value("identity", "?").c_str(), b.value("pack", "?").c_str());
  }
  const json& packs = sub(j, "packs");
  if (packs.is_array() && packs.size() > 1) {
    say(io.out, "union of:       %zu packs (a path two hold is served from the first, unless -o prefer=last)\n", packs.size());
    for (auto& pk : packs) {
      say(io.out, "  pack:         %s %s\n", pk.value("identity", "?").c_str(), pk.value("pack", "?").c_str());
      const json& pb = sub(pk, "bases");
      if (pb.is_array())
        for (auto& b : pb) say(io.out, "    base:       %s %s\n", b.value("identity", "?").c_str(), b.value("pack", "?").c_str());
    }
  }
  say(io.out, "mounted:        %s (up %s)\n", j.value("mounted_at", "?").c_str(), human_duration(int64_t(num(j, "uptime_s"))).c_str());
  const json& c = sub(j, "cache");
  char rate[32] = "n/a";
  if (sub(c, "hit_rate").is_number()) snprintf(rate, sizeof rate, "%.1f%%", 100.0 * sub(c, "hit_rate").get<double>());
  say(io.out, "cache:          %s of %s, hit rate %s (%llu hits, %llu misses)\n", human_bytes(num(c, "bytes")).c_str(),
         human_bytes(num(c, "capacity")).c_str(), rate, (unsigned long long)num(c, "hits"),
         (unsigned long long)num(c, "misses"));
  say(io.out, "served:         %s in %llu reads\n", bytes(num(j, "bytes_served")).c_str(), (unsigned long long)num(j, "reads"));
  say(io.out, "EIO replies:    %llu since mount\n", (unsigned long long)num(j, "eio"));
  const json& r = sub(j, "remote");
  if (r.is_object()) {
    say(io.out, "remote cache:   %s of %s in %s\n", human_bytes(num(r, "cache_bytes")).c_str(),
           human_bytes(num(r, "cache_capacity")).c_str(), r.value("cache_dir", "?").c_str());
    say(io.out, "remote fetched: %s in %llu range requests (%llu of them read-ahead)\n", bytes(num(r, "bytes_fetched")).c_str(),
           (unsigned long long)num(r, "range_requests"), (unsigned long long)num(r, "readahead_requests"));
    say(io.out, "origin:         %s%s%s\n", r.value("origin_down", false) ? "unreachable at the last request" : "reachable",
           r.value("offline_at_mount", false) ? ", mounted offline from the cache" : "",
           r.value("object_changed", false) ? ", the object changed (only cached data is served)" : "");
  }
  if (problems.empty()) {
    say(io.out, "health:         healthy\n");
    return;
  }
  say(io.out, "health:         degraded:");
  for (size_t i = 0; i < problems.size(); i++) say(io.out, "%s %s", i ? ";" : "", problems[i].c_str());
  say(io.out, "\n");
}

bool parse_count(const char* s, unsigned long long& out) {
  if (!s || !*s || *s == '-') return false;
  char* end = nullptr;
  errno = 0;
  out = strtoull(s, &end, 10);
  return errno == 0 && *end == '\0';
}

}  // namespace

int status_main(const std::vector<std::string>& args, ToolIo& io) {
  std::string mnt;
  bool as_json = false;
  unsigned long long max_eio = 0, timeout_s = kDefaultTimeoutS;
  for (size_t i = 0; i < args.size(); i++) {
    std::string a = args[i];
    auto value = [&](const char* opt, unsigned long long& out) {
      const char* v = nullptr;
      if (a == opt) v = i + 1 < args.size() ? args[++i].c_str() : nullptr;
      else v = args[i].c_str() + strlen(opt) + 1;  // --opt=N
      if (parse_count(v, out)) return true;
      say(io.err, "kso-fs: error: %s needs a number, got '%s'\n", opt, v ? v : "");
      return false;
    };
    if (a == "--status") continue;
    if (a == "--json") as_json = true;
    else if (a == "--max-eio" || a.rfind("--max-eio=", 0) == 0) {
      if (!value("--max-eio", max_eio)) return kExitUsage;
    } else if (a == "--timeout" || a.rfind("--timeout=", 0) == 0) {
      if (!value("--timeout", timeout_s)) return kExitUsage;
    } else if (a.rfind("--status=", 0) == 0 && mnt.empty()) {
      mnt = a.substr(9);
    } else if (!a.empty() && a[0] != '-' && mnt.empty()) {
      mnt = a;
    } else {
      say(io.err, "kso-fs: error: --status: unexpected argument '%s'\n", a.c_str());
      status_usage(io);
      return kExitUsage;
    }
  }
  if (mnt.empty()) {
    say(io.err, "kso-fs: error: --status needs the MOUNTPOINT\n");
    status_usage(io);
    return kExitUsage;
  }
  // getxattr on a hung daemon blocks in the kernel until the daemon answers;
  // a health check gives up instead. _exit() ends the blocked thread too.
  std::promise<Fetched> done;
  std::future<Fetched> result = done.get_future();
  std::thread worker([&] { done.set_value(fetch_status(mnt)); });
  if (timeout_s && result.wait_for(std::chrono::seconds(timeout_s)) != std::future_status::ready) {
    say(io.err, "kso-fs: error: %s: the kso-fs daemon does not answer (no status after %llu s)\n", mnt.c_str(), timeout_s);
    io.err.flush();
    _exit(kExitNoMount);  // in-process too: nothing else ends the blocked thread
  }
  worker.join();
  Fetched f = result.get();
  if (!f.error.empty()) {
    say(io.err, "kso-fs: error: %s\n", f.error.c_str());
    return kExitNoMount;
  }
  json j = json::parse(f.value, nullptr, false);
  if (!j.is_object() || !j.contains("identity")) {
    say(io.err, "kso-fs: error: %s: unreadable %s from the daemon\n", mnt.c_str(), kStatusXattr);
    return kExitNoMount;
  }
  std::vector<std::string> problems;
  uint64_t eio = num(j, "eio");
  if (eio > max_eio)
    problems.push_back(std::to_string(eio) + " EIO replies since mount (more than " + std::to_string(max_eio) +
                       "; damaged pack data or failed remote reads: journalctl -t kso-fs)");
  if (sub(j, "remote").is_object() && j["remote"].value("object_changed", false))
    problems.push_back("the remote object changed: only cached data is served");
  if (as_json) {
    j["health"] = problems.empty() ? "healthy" : "degraded";
    j["problems"] = problems;
    say(io.out, "%s\n", j.dump(2, ' ', false, json::error_handler_t::replace).c_str());
  } else {
    print_human(j, problems, io);
  }
  return problems.empty() ? kExitHealthy : kExitDegraded;
}

}  // namespace kso
