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
#include "fetch/remote.h"
#include "index/pack_open.h"

namespace kso::fetch {

class Client;

// Bytes per cache extent and per range request (the last extent is short).
constexpr uint64_t kExtentSize = 1u << 20;

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

  // Fetches from `url` with `headers` (instead of RemoteOptions::reload_headers) from now on (an expiring presigned URL
  // or token replaced, no remount). The new endpoint's last bytes must show
  // this pack (size and identity), else Error and nothing changes; when it
  // cannot be reached it is taken anyway, since every range is still checked
  // against the pack's tables.
  void set_endpoint(const std::string& url, const std::vector<std::string>& headers);

  RemoteStats stats() const;  // counters are relaxed atomics: cheap on the read path

 private:
  std::string fetch_range(uint64_t from, uint64_t to) const;  // [from, to), checked
  void load_extent(uint64_t e, std::string& out) const;
  std::filesystem::path extent_path(uint64_t e) const;
  uint64_t extent_len(uint64_t e) const;
  void note_outage(const std::string& why) const;
  std::unique_ptr<Client> client() const;
  void give_back(std::unique_ptr<Client> c) const;

  // What requests go to: replaced as a whole by set_endpoint().
  struct Endpoint {
    std::string url;
    std::vector<std::string> headers;     // RemoteOptions::headers, then reload_headers or set_endpoint()'s
    std::string etag;                     // strong ETag of the object there, for If-Match; may be empty
  };
  Endpoint endpoint() const;

  RemoteOptions o_;
  mutable std::mutex endpoint_mu_;        // guards ep_
  Endpoint ep_;
  std::string name_;                      // the URL at mount, redacted: what messages say
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

}  // namespace kso::fetch
