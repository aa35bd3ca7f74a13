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
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cache/lru.h"
#include "index/byte_source.h"
#include "index/format.h"
#include "fetch/net_options.h"
#include "fetch/remote.h"
#include "index/pack_open.h"

namespace kso::fetch {

class Client;

// Bytes per cache extent and per range request (the last extent is short).
constexpr uint64_t kExtentSize = 1u << 20;
// Read-ahead: sequential streams told apart (a reader per file, the block
// cache's own prefetch), and its workers: at most this many read-ahead
// requests in flight at once, each on a connection of its own.
constexpr size_t kReadaheadStreams = 8;
constexpr unsigned kReadaheadWorkers = 4;

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
  // Bytes [from, to) from the origin, every check applied. With `cl` (a
  // read-ahead worker's): that client, one try, and a failure is not logged
  // as an outage; without: a pooled client and o_.retries.
  std::string fetch_range(uint64_t from, uint64_t to, Client* cl = nullptr) const;
  NetOptions net_options(int retries) const;
  // Bytes [within, within+n) of extent e into out: from the disk cache, else
  // fetched (once, whoever else wants it waits) and cached whole.
  void read_extent(uint64_t e, uint64_t within, size_t n, char* out) const;
  bool cache_extent(uint64_t e, const char* data) const;  // to disk and the LRU; false if it cannot be written
  void note_read(uint64_t first, uint64_t last) const;     // extents a read touched: queues read-ahead when sequential
  void readahead_worker() const;
  void readahead_run(uint64_t first, uint64_t count, Client& cl) const;
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

  // Read-ahead (RemoteOptions::readahead): read() notes which extents it
  // touched; a read that continues a stream queues the next extents not yet
  // cached as one job per run of adjacent extents (one range request each),
  // run by workers with their own Clients.
  unsigned ra_window_ = 0;                // extents ahead, 0 = off (bounded by cache_size / 4)
  mutable std::mutex ra_mu_;              // guards ra_queue_, ra_queued_, ra_streams_, ra_clock_, ra_stop_
  mutable std::condition_variable ra_cv_;
  mutable std::deque<std::pair<uint64_t, uint64_t>> ra_queue_;  // (first extent, count)
  mutable std::vector<uint64_t> ra_queued_;                      // extents in ra_queue_ or being fetched by it
  struct Stream {
    uint64_t last = 0;                    // the last extent it read
    uint64_t used = 0;                    // ra_clock_ when it last read; 0 = free slot
  };
  mutable std::array<Stream, kReadaheadStreams> ra_streams_{};
  mutable uint64_t ra_clock_ = 0;
  bool ra_stop_ = false;
  std::vector<std::thread> ra_threads_;
  mutable std::atomic<uint64_t> ra_requests_{0}, ra_bytes_{0};
};

}  // namespace kso::fetch
