// Network settings shared by every source that downloads (files lists, image
// lists): cache dir, parallelism, retries, mirrors, TLS trust, name overrides.
// Proxies come from the environment (http_proxy, https_proxy, no_proxy), which
// libcurl reads itself.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace kso::fetch {

// One `--mirror FROM=TO` rule: a URL starting with FROM is downloaded from
// TO + rest, but keeps its original URL for layout, logs and checksums.
struct Mirror {
  std::string from, to;
};

struct NetOptions {
  std::filesystem::path cache_dir;     // the tool fills in default_cache_dir() when not given
  int parallel = 8;                    // transfers in flight at once
  int retries = 5;                     // extra attempts after a transient failure
  int retry_delay_ms = 1000;           // first backoff; doubles per attempt, capped at 30 s
  std::vector<Mirror> mirrors;         // first matching FROM wins
  std::filesystem::path cacert;        // CA bundle instead of the system store
  std::vector<std::string> resolve;    // curl-style "HOST:PORT:ADDR[,ADDR]"
  std::vector<std::string> connect_to; // curl-style "HOST:PORT:CONNECT-HOST:CONNECT-PORT"
  long connect_timeout_s = 30;         // TCP + TLS handshake
  long stall_timeout_s = 60;           // abort (and retry) a transfer slower than 1 B/s this long
  std::string user_agent = "kso-pack";
  bool netrc = false;                  // credentials from ~/.netrc (or netrc_file) when it has the host
  std::string netrc_file;              // the tool's $NETRC: the netrc file instead of ~/.netrc
  int progress = -1;                   // -1 = bar on a TTY, plain lines otherwise; 0 = plain; 1 = bar

  // cache_dir; throws Error if it is empty (no --cache, XDG_CACHE_HOME or HOME).
  std::filesystem::path effective_cache_dir() const;
  // Checks resolve/connect-to/mirror syntax; throws Error naming the bad value.
  void validate() const;
};

// The default cache dir from the tool's environment: $XDG_CACHE_HOME/kso (an
// absolute XDG_CACHE_HOME), else $HOME/.cache/kso; empty if neither is set.
std::filesystem::path default_cache_dir(const std::optional<std::string>& xdg_cache_home,
                                        const std::optional<std::string>& home);

// Registers --cache --parallel --retries --retry-delay --mirror --cacert
// --resolve --connect-to --progress on a (sub)command.
void add_net_options(CLI::App& cmd, NetOptions& opts);

// Parses "FROM=TO"; throws Error on a missing '=' or an empty side.
Mirror parse_mirror(const std::string& spec);

}  // namespace kso::fetch
