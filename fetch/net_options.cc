#include "fetch/net_options.h"

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "index/error.h"

namespace kso::fetch {

std::filesystem::path NetOptions::effective_cache_dir() const {
  if (!cache_dir.empty()) return cache_dir;
  throw Error("no cache dir: set --cache, XDG_CACHE_HOME or HOME");
}

std::filesystem::path default_cache_dir(const std::optional<std::string>& xdg_cache_home,
                                        const std::optional<std::string>& home) {
  if (xdg_cache_home && !xdg_cache_home->empty() && (*xdg_cache_home)[0] == '/')
    return std::filesystem::path(*xdg_cache_home) / "kso";
  if (home && !home->empty()) return std::filesystem::path(*home) / ".cache" / "kso";
  return {};
}

// Splits on ':' the way curl does for --resolve/--connect-to, ignoring
// colons inside [IPv6] brackets.
static std::vector<std::string> split_colons(const std::string& s) {
  std::vector<std::string> out(1);
  int depth = 0;
  for (char c : s) {
    if (c == '[') depth++;
    if (c == ']') depth--;
    if (c == ':' && depth == 0) {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

static bool is_port(const std::string& s) {
  if (s.empty() || s.size() > 5) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return std::stoi(s) > 0 && std::stoi(s) < 65536;
}

void NetOptions::validate() const {
  if (parallel < 1 || parallel > 256) throw Error("--parallel must be 1..256");
  if (retries < 0 || retries > 100) throw Error("--retries must be 0..100");
  for (const auto& r : resolve) {
    auto p = split_colons(r);
    if (p.size() != 3 || p[0].empty() || !is_port(p[1]) || p[2].empty())
      throw Error("bad --resolve '" + r + "': expected HOST:PORT:ADDR");
  }
  for (const auto& r : connect_to) {
    auto p = split_colons(r);
    if (p.size() != 4 || !(p[1].empty() || is_port(p[1])) || !(p[3].empty() || is_port(p[3])))
      throw Error("bad --connect-to '" + r + "': expected HOST:PORT:CONNECT-HOST:CONNECT-PORT");
  }
  if (!cacert.empty() && !std::filesystem::is_regular_file(cacert))
    throw Error("--cacert " + cacert.string() + ": no such file");
}

Mirror parse_mirror(const std::string& spec) {
  auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
    throw Error("bad --mirror '" + spec + "': expected FROM=TO (URL prefixes)");
  return {spec.substr(0, eq), spec.substr(eq + 1)};
}

void add_net_options(CLI::App& cmd, NetOptions& o) {
  const char* g = "Network";
  cmd.add_option("--cache", o.cache_dir,
                 "download cache dir, kept across runs (default $XDG_CACHE_HOME/kso or ~/.cache/kso)")
      ->group(g);
  cmd.add_option("--parallel", o.parallel, "transfers in flight at once")->capture_default_str()->group(g);
  cmd.add_option("--retries", o.retries, "extra attempts after a transient failure")->capture_default_str()->group(g);
  cmd.add_option("--retry-delay", o.retry_delay_ms, "first retry backoff in ms (doubles each time)")
      ->capture_default_str()
      ->group(g);
  cmd.add_option_function<std::vector<std::string>>(
         "--mirror",
         [&o](const std::vector<std::string>& v) {
           for (const auto& s : v) o.mirrors.push_back(parse_mirror(s));
         },
         "FROM=TO: download URLs starting with FROM from TO instead (stored under the original path)")
      ->allow_extra_args(false)
      ->take_all()
      ->group(g);
  cmd.add_option("--cacert", o.cacert, "CA bundle (PEM) to trust instead of the system store")->group(g);
  cmd.add_option("--resolve", o.resolve, "HOST:PORT:ADDR, like curl --resolve")
      ->allow_extra_args(false)
      ->take_all()
      ->group(g);
  cmd.add_option("--connect-to", o.connect_to, "HOST:PORT:CONNECT-HOST:CONNECT-PORT, like curl --connect-to")
      ->allow_extra_args(false)
      ->take_all()
      ->group(g);
  cmd.add_option_function<std::string>(
         "--progress",
         [&o](const std::string& v) {
           if (v == "auto") o.progress = -1;
           else if (v == "plain") o.progress = 0;
           else if (v == "bar") o.progress = 1;
           else throw CLI::ValidationError("--progress", "expected auto, plain or bar");
         },
         "auto|plain|bar: progress display (default auto: bar on a TTY)")
      ->group(g);
}

}  // namespace kso::fetch
