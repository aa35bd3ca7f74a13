// A pack on an HTTP(S) server or an S3-compatible object store (a presigned
// or public object URL), read with Range requests through a persistent disk
// cache: the second implementation of index/byte_source.h. Only what is read
// is fetched; the metadata region (tables and index) is fetched once at open,
// so a restart mounts without the network when the cache holds it.
//
// Trust: the reader checks every byte it reads against the pack's tables (a
// damaged cache extent is dropped and fetched again, never served). The
// object must not change under a mount: a 200 where a 206 was asked, a 412
// from If-Match (strong ETags only) or a wrong Content-Range marks the source
// changed, and every uncached read fails from then on (EIO at the mount, one
// log line): never a mix of two packs.
#pragma once
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cache/lru.h"
#include "index/byte_source.h"
#include "index/format.h"
#include "index/pack_open.h"

namespace kso::fetch {

class Client;

// Bytes per cache extent and per range request (the last extent is short).
constexpr uint64_t kExtentSize = 1u << 20;

struct RemoteOptions {
  std::filesystem::path cache_dir;        // where fetched extents live (required)
  uint64_t cache_size = 2ull << 30;       // bound of the extent cache, bytes (LRU)
  std::filesystem::path cacert;           // CA bundle instead of the system store
  std::vector<std::string> headers;       // extra "Name: value" (a bearer token)
  bool netrc = true;                      // credentials from ~/.netrc when present
  long timeout_s = 30;                    // an uncached read fails after about this long
  int retries = 3;                        // after a 5xx, a reset or a truncated body
  bool allow_switch = false;              // the origin holds another pack than cached: take it
};

// What a remote source did since it was opened (kso-fs --status).
struct RemoteStats {
  uint64_t bytes_fetched = 0;   // body bytes received from the origin
  uint64_t range_requests = 0;  // range requests sent (retries included)
  uint64_t cache_bytes = 0;     // bytes held in the disk cache now
  uint64_t cache_capacity = 0;  // its bound (-o cache_size)
  bool offline_at_open = false; // mounted from the cache alone, the origin unreachable
  bool origin_down = false;     // the last request to the origin failed
  bool object_changed = false;  // the object changed: only cached data is served
};

// True for "http://..." and "https://...".
bool is_url(const std::string& s);
// The URL without its query string (presigned URLs carry secrets there):
// what messages and cache keys use.
std::string redact_url(const std::string& url);

class HttpSource : public ByteSource {
 public:
  // Learns the object's size and the pack identity from its last bytes
  // (origin), or from the cache when the origin cannot be reached; locks the
  // cache dir for this pack; fetches the metadata region unless cached.
  // Throws Error naming the URL.
  HttpSource(const std::string& url, RemoteOptions o);
  ~HttpSource() override;

  uint64_t size() const override { return size_; }
  void read(uint64_t offset, size_t len, char* out) const override;
  const std::string& name() const override { return name_; }
  bool drop(uint64_t offset, size_t len) const override;
  RemoteStats stats() const;  // counters are relaxed atomics: cheap on the read path
  const std::filesystem::path& cache_dir() const { return o_.cache_dir; }

 private:
  std::string fetch_range(uint64_t from, uint64_t to) const;  // [from, to), checked
  void load_extent(uint64_t e, std::string& out) const;
  std::filesystem::path extent_path(uint64_t e) const;
  uint64_t extent_len(uint64_t e) const;
  void note_outage(const std::string& why) const;
  std::unique_ptr<Client> client() const;
  void give_back(std::unique_ptr<Client> c) const;

  RemoteOptions o_;
  std::string url_;
  std::string name_;
  std::string etag_;                      // strong ETag at open, for If-Match; may be empty
  uint64_t size_ = 0;
  Digest identity_{};
  bool offline_ = false;
  std::filesystem::path dir_;             // cache_dir/<identity>
  bool locked_ = false;                   // this source holds the cache dir's lock
  mutable std::mutex mu_;                 // guards lru_, clients_
  mutable Lru<uint64_t, char> lru_;       // extent -> (nothing), weight = bytes
  mutable std::vector<std::unique_ptr<Client>> clients_;
  mutable std::atomic<uint64_t> fetched_{0}, requests_{0};
  mutable std::atomic<bool> changed_{false};
  mutable std::atomic<bool> down_{false};
};

// Opens URLs as HttpSources with `o`, anything else as a local file: the
// opener kso-fs and the tools give open_pack().
SourceOpener source_opener(const RemoteOptions& o);

}  // namespace kso::fetch
