// What a front end needs to open packs that may be remote: the options of a
// remote pack, URL helpers, and the opener that open_pack() is given. In the
// normal build the opener reads URLs through HttpSource (fetch/http_source.h);
// in the static build (KSO_STATIC, no libcurl) it refuses them with one line.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "index/pack_open.h"

namespace kso::fetch {

struct RemoteOptions {
  std::filesystem::path cache_dir;        // where fetched extents live (required)
  uint64_t cache_size = 2ull << 30;       // bound of the extent cache, bytes (LRU)
  std::filesystem::path cacert;           // CA bundle instead of the system store
  std::vector<std::string> headers;       // extra "Name: value" (a bearer token)
  std::vector<std::string> reload_headers;  // more, the part set_endpoint() replaces
  bool netrc = true;                      // credentials from ~/.netrc (or netrc_file) when present
  std::string netrc_file;                 // the tool's $NETRC: the netrc file instead of ~/.netrc
  long timeout_s = 30;                    // an uncached read fails after about this long
  int retries = 3;                        // after a 5xx, a reset or a truncated body
  bool allow_switch = false;              // the origin holds another pack than cached: take it
  unsigned readahead = 4;                 // extents fetched in the background ahead of a sequential reader (0: off)
};

// What a remote source did since it was opened (kso-fs --status).
struct RemoteStats {
  uint64_t bytes_fetched = 0;   // body bytes received from the origin
  uint64_t range_requests = 0;  // range requests sent (retries included)
  uint64_t readahead_requests = 0;  // of those, read-ahead ones (each one try, no retries)
  uint64_t readahead_bytes = 0;     // body bytes they brought (in bytes_fetched too)
  uint64_t cache_bytes = 0;     // bytes held in the disk cache now
  uint64_t cache_capacity = 0;  // its bound (-o cache_size)
  bool offline_at_open = false; // mounted from the cache alone, the origin unreachable
  bool origin_down = false;     // the last request to the origin failed
  bool object_changed = false;  // the object changed: only cached data is served
};

// `s`'s counters if it is a remote source, else nothing.
std::optional<RemoteStats> remote_stats(const ByteSource& s);

// True for "http://..." and "https://...".
bool is_url(const std::string& s);
// The URL without its query string (presigned URLs carry secrets there):
// what messages and cache keys use.
std::string redact_url(const std::string& url);

// True when this build reads remote packs (false in the static build).
bool remote_supported();

// Points a remote source at `url` with `headers` added to its options' own
// (HttpSource::set_endpoint: the same pack must be there). False, and nothing
// done, when `s` is not remote. Throws Error when the endpoint is refused.
bool set_endpoint(ByteSource& s, const std::string& url, const std::vector<std::string>& headers);

// Opens URLs as HttpSources with `o`, anything else as a local file: the
// opener kso-fs and the tools give open_pack().
SourceOpener source_opener(const RemoteOptions& o);

}  // namespace kso::fetch
