#include "fetch/http_source.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "fetch/digest.h"
#include "fetch/http.h"
#include "index/block_buffer.h"
#include "index/error.h"
#include "index/hash.h"

namespace kso::fetch {
namespace fs = std::filesystem;

namespace {

// Extents being fetched (by readers or read-ahead), so one extent is fetched
// once at a time: tags are hashes of the extent's cache path, so sources of
// one process never collide (a hash collision only makes one wait).
struct Inflight {
  std::mutex mu;
  std::condition_variable cv;
  std::set<uint64_t> busy;
};
Inflight& inflight() {
  static Inflight f;
  return f;
}

// Releases inflight tags when it goes, waking who waits for them.
struct Release {
  std::vector<uint64_t> tags;
  ~Release() {
    if (tags.empty()) return;
    auto& f = inflight();
    std::lock_guard lk(f.mu);
    for (uint64_t t : tags) f.busy.erase(t);
    f.cv.notify_all();
  }
};

// "bytes A-B/TOTAL" -> (A, B, TOTAL); false if malformed.
bool parse_content_range(const std::string& v, uint64_t& a, uint64_t& b, uint64_t& total) {
  unsigned long long x, y, t;
  char tail;
  if (sscanf(v.c_str(), " bytes %llu-%llu/%llu%c", &x, &y, &t, &tail) != 3) return false;
  a = x, b = y, total = t;
  return a <= b && b < total;
}

bool write_file_atomic(const fs::path& p, const char* data, size_t n) {
  fs::path tmp = p.string() + ".tmp-" + std::to_string(getpid()) + "-" +
                 std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = true;
  for (size_t at = 0; ok && at < n;) {
    ssize_t w = ::write(fd, data + at, n - at);
    if (w < 0 && errno == EINTR) continue;
    ok = w > 0;
    if (ok) at += size_t(w);
  }
  ok = ::close(fd) == 0 && ok;
  if (ok) ok = rename(tmp.c_str(), p.c_str()) == 0;
  if (!ok) unlink(tmp.c_str());
  return ok;
}

// Cache dirs this process has locked, with how many sources use each: one
// process may open a pack twice (a tool reopening it); two processes may not.
struct DirLocks {
  std::mutex mu;
  std::map<std::string, std::pair<int, int>> held;  // dir -> (fd, users)
};
DirLocks& dir_locks() {
  static DirLocks l;
  return l;
}

// Locks `dir` for this process; false if another process holds it.
bool lock_dir(const fs::path& dir) {
  auto& l = dir_locks();
  std::lock_guard lk(l.mu);
  auto it = l.held.find(dir.string());
  if (it != l.held.end()) {
    it->second.second++;
    return true;
  }
  int fd = ::open((dir / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (fd >= 0) ::close(fd);
    return false;
  }
  l.held[dir.string()] = {fd, 1};
  return true;
}

void unlock_dir(const fs::path& dir) {
  auto& l = dir_locks();
  std::lock_guard lk(l.mu);
  auto it = l.held.find(dir.string());
  if (it == l.held.end() || --it->second.second > 0) return;
  ::close(it->second.first);
  l.held.erase(it);
}

std::string read_small(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace


std::unique_ptr<Client> HttpSource::client() const {
  {
    std::lock_guard lk(mu_);
    if (!clients_.empty()) {
      auto c = std::move(clients_.back());
      clients_.pop_back();
      return c;
    }
  }
  return std::make_unique<Client>(net_options(o_.retries));
}

NetOptions HttpSource::net_options(int retries) const {
  NetOptions net;
  net.cacert = o_.cacert;
  net.retries = retries;
  net.retry_delay_ms = 200;
  net.connect_timeout_s = std::max(1L, o_.timeout_s);
  net.stall_timeout_s = std::max(1L, o_.timeout_s);
  net.parallel = 1;
  net.netrc = o_.netrc;
  net.netrc_file = o_.netrc_file;
  net.user_agent = "kso-fs";
  return net;
}

void HttpSource::give_back(std::unique_ptr<Client> c) const {
  std::lock_guard lk(mu_);
  clients_.push_back(std::move(c));
}

void HttpSource::note_outage(const std::string& why) const {
  if (!down_.exchange(true)) spdlog::error("{}: origin unreachable ({}); serving what is cached, other reads fail", name_, why);
}

HttpSource::Endpoint HttpSource::endpoint() const {
  std::lock_guard lk(endpoint_mu_);
  return ep_;
}

std::string HttpSource::fetch_range(uint64_t from, uint64_t to, Client* own) const {
  if (changed_) throw Error(name_ + ": the object changed on the server; only cached data is served", EIO);
  const Endpoint ep = endpoint();
  std::vector<std::string> headers = ep.headers;
  headers.push_back("Range: bytes=" + std::to_string(from) + "-" + std::to_string(to - 1));
  if (!ep.etag.empty()) headers.push_back("If-Match: " + ep.etag);
  std::unique_ptr<Client> pooled = own ? nullptr : client();
  struct Back {
    const HttpSource* s;
    std::unique_ptr<Client>& c;
    ~Back() {
      if (c) s->give_back(std::move(c));
    }
  } back{this, pooled};
  Client* cl = own ? own : pooled.get();
  const int retries = own ? 0 : o_.retries;
  std::string why;
  std::string body = take_block_buffer(size_t(to - from));  // recycled: no fresh pages per range
  struct Recycle {
    std::string& b;
    ~Recycle() {
      if (b.capacity()) give_block_buffer(std::move(b));
    }
  } recycle{body};
  for (int attempt = 0; attempt <= retries; attempt++) {
    if (attempt) std::this_thread::sleep_for(std::chrono::milliseconds(200 << std::min(attempt, 5)));
    Request r;
    r.url = ep.url;
    r.headers = headers;
    r.max_body = size_t(to - from) + 1;  // a whole object where a range was asked is refused early
    r.hash_body = false;                 // the reader checks every byte against the pack's tables
    r.body_into = &body;
    Response resp = cl->fetch(r);
    requests_.fetch_add(1, std::memory_order_relaxed);
    fetched_.fetch_add(body.size(), std::memory_order_relaxed);
    auto changed = [&](const std::string& what) {
      if (!changed_.exchange(true))
        spdlog::error("{}: {}: the object changed on the server; only cached data is served from now on", name_, what);
      return Error(name_ + ": " + what + " (the object changed)", EIO);
    };
    if (resp.status == 412) throw changed("412 Precondition Failed for If-Match " + ep.etag);
    if (resp.status == 200) throw changed("200 where a range was asked");
    if (!resp.error.empty() || resp.status >= 500 || resp.status == 0) {
      why = resp.error.empty() ? "HTTP " + std::to_string(resp.status) : resp.error;
      if (!own) note_outage(why);
      throw Error(name_ + ": " + why, EIO);
    }
    if (resp.status != 206) throw Error(name_ + ": HTTP " + std::to_string(resp.status) + " for a range", EIO);
    uint64_t a = 0, b = 0, total = 0;
    auto cr = resp.header("Content-Range");
    if (!cr || !parse_content_range(*cr, a, b, total)) {
      why = "206 without a usable Content-Range";
    } else if (total != size_) {
      throw changed("its size is now " + std::to_string(total) + " bytes, not " + std::to_string(size_));
    } else if (a != from || b != to - 1) {
      why = "Content-Range " + *cr + " where bytes " + std::to_string(from) + "-" + std::to_string(to - 1) + " were asked";
    } else if (body.size() != to - from) {
      why = "truncated body (" + std::to_string(body.size()) + " of " + std::to_string(to - from) + " bytes)";
    } else {
      if (down_.exchange(false)) spdlog::info("{}: origin reachable again", name_);
      return std::exchange(body, std::string());
    }
    spdlog::debug("{}: {}; retrying", name_, why);
  }
  throw Error(name_ + ": " + why, EIO);
}

uint64_t HttpSource::extent_len(uint64_t e) const { return std::min(kExtentSize, size_ - e * kExtentSize); }

fs::path HttpSource::extent_path(uint64_t e) const { return dir_ / "x" / std::to_string(e); }

void HttpSource::read_extent(uint64_t e, uint64_t within, size_t n, char* out) const {
  auto& inflight = fetch::inflight();
  const uint64_t len = extent_len(e);
  // A cached extent gives just the asked bytes, straight into `out`.
  auto try_disk = [&]() -> bool {
    int fd = ::open(extent_path(e).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    struct stat st {};
    bool ok = fstat(fd, &st) == 0 && uint64_t(st.st_size) == len && pread(fd, out, n, off_t(within)) == ssize_t(n);
    ::close(fd);
    if (ok) {
      std::lock_guard lk(mu_);
      lru_.get(e);
    }
    return ok;
  };
  if (try_disk()) return;
  const uint64_t tag = std::hash<std::string>()(extent_path(e).string());
  {
    std::unique_lock lk(inflight.mu);
    inflight.cv.wait(lk, [&] { return !inflight.busy.count(tag); });
    inflight.busy.insert(tag);
  }
  Release done{{tag}};
  if (try_disk()) return;  // another reader or the read-ahead fetched it meanwhile
  std::string body = fetch_range(e * kExtentSize, e * kExtentSize + len);
  memcpy(out, body.data() + within, n);
  cache_extent(e, body.data());
  give_block_buffer(std::move(body));
}

bool HttpSource::cache_extent(uint64_t e, const char* data) const {
  const uint64_t n = extent_len(e);
  if (!write_file_atomic(extent_path(e), data, size_t(n))) {
    spdlog::warn("{}: cannot write to the cache {} ({}); serving uncached", name_, dir_.string(), strerror(errno));
    return false;
  }
  std::lock_guard lk(mu_);
  lru_.insert(e, 0, n, [&](const uint64_t& victim, char&) { unlink(extent_path(victim).c_str()); });
  return true;
}

void HttpSource::note_read(uint64_t first, uint64_t last) const {
  if (!ra_window_ || changed_ || down_) return;
  const uint64_t extents = (size_ + kExtentSize - 1) / kExtentSize;
  std::lock_guard lk(ra_mu_);
  // A read continues a stream when it starts at or just after the stream's
  // last extent (reads of one stream may arrive a little out of order from
  // the block cache's prefetch threads: up to the window ahead still counts).
  Stream* s = nullptr;
  for (auto& c : ra_streams_)
    if (c.used && first + 1 >= c.last && first <= c.last + ra_window_ && (!s || c.used > s->used)) s = &c;
  if (!s) {  // a new stream, in the slot used longest ago; no read-ahead on its first read
    Stream* old = &ra_streams_[0];
    for (auto& c : ra_streams_)
      if (c.used < old->used) old = &c;
    *old = {last, ++ra_clock_};
    return;
  }
  s->last = std::max(s->last, last);
  s->used = ++ra_clock_;
  // The window after the stream: runs of extents neither cached nor queued.
  uint64_t run = 0, count = 0;
  auto flush = [&] {
    if (count) ra_queue_.emplace_back(run, count);
    count = 0;
  };
  for (uint64_t e = s->last + 1; e < extents && e <= s->last + ra_window_; e++) {
    bool skip = std::find(ra_queued_.begin(), ra_queued_.end(), e) != ra_queued_.end();
    if (!skip) {
      std::lock_guard lk2(mu_);
      skip = lru_.contains(e);
    }
    if (skip) {
      flush();
      continue;
    }
    if (!count) run = e;
    count++;
    ra_queued_.push_back(e);
  }
  flush();
  ra_cv_.notify_all();
}

void HttpSource::readahead_worker() const {
  Client cl(net_options(0));
  for (;;) {
    std::pair<uint64_t, uint64_t> job;
    {
      std::unique_lock lk(ra_mu_);
      ra_cv_.wait(lk, [&] { return ra_stop_ || !ra_queue_.empty(); });
      if (ra_stop_) return;
      job = ra_queue_.front();
      ra_queue_.pop_front();
      // Still ahead of a stream? A reader that went elsewhere is not chased.
      bool wanted = !changed_ && !down_;
      if (wanted) {
        wanted = false;
        for (auto& c : ra_streams_) wanted |= c.used && c.last < job.first + job.second && job.first <= c.last + ra_window_;
      }
      if (!wanted) {
        std::erase_if(ra_queued_, [&](uint64_t e) { return e >= job.first && e < job.first + job.second; });
        continue;
      }
    }
    readahead_run(job.first, job.second, cl);
    std::lock_guard lk(ra_mu_);
    std::erase_if(ra_queued_, [&](uint64_t e) { return e >= job.first && e < job.first + job.second; });
  }
}

void HttpSource::readahead_run(uint64_t first, uint64_t count, Client& cl) const {
  // Take the extents no one is fetching and the cache does not hold; fetch
  // each run of adjacent ones as one range. A failure leaves them uncached:
  // the reader fetches them itself (with retries) when it gets there.
  auto& inflight = fetch::inflight();
  Release held;
  std::vector<uint64_t> mine;
  {
    std::lock_guard lk(inflight.mu);
    for (uint64_t e = first; e < first + count; e++) {
      const uint64_t tag = std::hash<std::string>()(extent_path(e).string());
      if (inflight.busy.count(tag)) continue;
      {
        std::lock_guard lk2(mu_);
        if (lru_.contains(e)) continue;
      }
      inflight.busy.insert(tag);
      held.tags.push_back(tag);
      mine.push_back(e);
    }
  }
  for (size_t i = 0; i < mine.size();) {
    size_t j = i + 1;
    while (j < mine.size() && mine[j] == mine[j - 1] + 1) j++;
    const uint64_t from = mine[i] * kExtentSize, to = std::min(size_, (mine[j - 1] + 1) * kExtentSize);
    ra_requests_.fetch_add(1, std::memory_order_relaxed);
    try {
      std::string body = fetch_range(from, to, &cl);
      ra_bytes_.fetch_add(body.size(), std::memory_order_relaxed);
      for (size_t k = i; k < j; k++)
        if (!cache_extent(mine[k], body.data() + (mine[k] - mine[i]) * kExtentSize)) break;
      give_block_buffer(std::move(body));
    } catch (const std::exception& ex) {
      spdlog::debug("{}: read-ahead of bytes {}..{} failed ({}); left to the reader", name_, from, to, ex.what());
    }
    i = j;
  }
}

void HttpSource::read(uint64_t offset, size_t len, char* out) const {
  if (offset > size_ || len > size_ - offset)
    throw CorruptError(name_ + ": pack is truncated (read of " + std::to_string(len) + " bytes at " +
                       std::to_string(offset) + " past its end)");
  if (len) note_read(offset / kExtentSize, (offset + len - 1) / kExtentSize);
  while (len) {
    uint64_t e = offset / kExtentSize, within = offset % kExtentSize;
    size_t n = size_t(std::min<uint64_t>(len, extent_len(e) - within));
    read_extent(e, within, n, out);
    out += n;
    offset += n;
    len -= n;
  }
}

bool HttpSource::drop(uint64_t offset, size_t len) const {
  if (len == 0) return false;
  for (uint64_t e = offset / kExtentSize; e <= (offset + len - 1) / kExtentSize; e++) {
    unlink(extent_path(e).c_str());
    std::lock_guard lk(mu_);
    lru_.erase(e);
  }
  spdlog::warn("{}: cached bytes {}..{} failed their checksum; fetching them again", name_, offset, offset + len);
  return !changed_;
}

RemoteStats HttpSource::stats() const {
  RemoteStats st;
  st.bytes_fetched = fetched_.load(std::memory_order_relaxed);
  st.range_requests = requests_.load(std::memory_order_relaxed);
  st.readahead_requests = ra_requests_.load(std::memory_order_relaxed);
  st.readahead_bytes = ra_bytes_.load(std::memory_order_relaxed);
  st.cache_capacity = o_.cache_size;
  st.offline_at_open = offline_;
  st.origin_down = down_;
  st.object_changed = changed_;
  std::lock_guard lk(mu_);
  st.cache_bytes = lru_.weight();
  return st;
}

HttpSource::HttpSource(const std::string& url, RemoteOptions o)
    : o_(std::move(o)), ep_{url, o_.headers, ""}, name_(redact_url(url)), lru_(o_.cache_size) {
  ep_.headers.insert(ep_.headers.end(), o_.reload_headers.begin(), o_.reload_headers.end());
  if (o_.cache_dir.empty()) throw Error(name_ + ": a remote pack needs a cache dir (-o cache_dir=DIR)", EINVAL);
  std::error_code ec;
  fs::create_directories(o_.cache_dir / "urls", ec);
  if (ec) throw Error("cache dir " + o_.cache_dir.string() + ": " + ec.message(), ec.value());
  const fs::path idfile = o_.cache_dir / "urls" / sha256_hex(name_).substr(0, 32);
  // What the cache knows of this URL: "IDENTITY SIZE [ETAG]".
  std::string cached_id;
  uint64_t cached_size = 0;
  std::string cached_etag;
  {
    std::istringstream in(read_small(idfile));
    in >> cached_id >> cached_size >> cached_etag;
  }
  // The origin: size, identity and ETag from the pack's last bytes.
  std::string tail;
  for (int attempt = 0;; attempt++) {
    auto cl = client();
    Request r;
    r.url = ep_.url;
    r.headers = ep_.headers;
    r.headers.push_back("Range: bytes=-" + std::to_string(kTrailerSize));
    r.max_body = 1u << 20;
    Response resp = cl->fetch(r);
    give_back(std::move(cl));
    requests_.fetch_add(1, std::memory_order_relaxed);
    fetched_.fetch_add(resp.body.size(), std::memory_order_relaxed);
    uint64_t a = 0, b = 0, total = 0;
    auto cr = resp.header("Content-Range");
    const bool good = resp.ok() && resp.status == 206 && cr && parse_content_range(*cr, a, b, total) &&
                      b + 1 == total && resp.body.size() == kTrailerSize && a + kTrailerSize == total;
    if (!good && resp.ok() && resp.status == 206 && attempt < o_.retries) {  // a bad Content-Range or a cut body
      std::this_thread::sleep_for(std::chrono::milliseconds(200 << std::min(attempt + 1, 5)));
      continue;
    }
    if (good) {
      size_ = total;
      tail = resp.body;
      auto et = resp.header("ETag");
      if (et && et->rfind("W/", 0) != 0) ep_.etag = *et;  // weak ETags say nothing about bytes
    } else if (resp.status == 200) {  // whole (or too large to take whole): no range support
      throw Error(name_ + ": the server does not answer range requests (200 instead of 206); kso-fs needs them", EINVAL);
    } else if (resp.ok() || (resp.status >= 400 && resp.status < 500)) {
      throw Error(name_ + ": " + (resp.status ? "HTTP " + std::to_string(resp.status) : resp.error) +
                      " for the pack's last bytes",
                  resp.status == 404 ? ENOENT : resp.status == 401 || resp.status == 403 ? EACCES : EIO);
    } else {
      std::string why = resp.error.empty() ? "HTTP " + std::to_string(resp.status) : resp.error;
      if (cached_id.size() != 64)
        throw Error(name_ + ": cannot reach the origin (" + why + ") and the cache holds nothing of it", EIO);
      offline_ = true;
      spdlog::warn("{}: origin unreachable ({}); mounting the cached pack {}", name_, why, cached_id);
    }
    break;
  }
  if (!offline_) {
    memcpy(identity_.data(), tail.data() + 24, 32);  // the trailer's identity field; Pack::open checks the rest
    std::string id = to_hex(identity_);
    if (cached_id.size() == 64 && cached_id != id && !o_.allow_switch)
      throw Error(name_ + " now holds another pack (identity " + id + "); the cache holds " + cached_id +
                      ": mount with -o switch to take the new one",
                  EINVAL);
    if (cached_id.size() == 64 && cached_id != id) {
      spdlog::info("{}: switching the cache from pack {} to {}", name_, cached_id, id);
      fs::remove_all(o_.cache_dir / cached_id, ec);
    }
  } else {
    size_ = cached_size;
    ep_.etag = cached_etag == "-" ? "" : cached_etag;
    for (size_t i = 0; i < 32; i++) identity_[i] = uint8_t(std::stoi(cached_id.substr(2 * i, 2), nullptr, 16));
  }
  dir_ = o_.cache_dir / to_hex(identity_);
  fs::create_directories(dir_ / "x", ec);
  if (ec) throw Error("cache dir " + dir_.string() + ": " + ec.message(), ec.value());
  if (!lock_dir(dir_))
    throw Error("cache dir " + dir_.string() + " is in use by another kso-fs for this pack; give each daemon a cache_dir of its own",
                EBUSY);
  locked_ = true;
  if (!offline_) {
    std::string line = to_hex(identity_) + " " + std::to_string(size_) + " " + (ep_.etag.empty() ? "-" : ep_.etag) + "\n";
    write_file_atomic(idfile, line.data(), line.size());
  }
  // Extents already on disk join the LRU, oldest first.
  std::vector<std::pair<fs::file_time_type, uint64_t>> have;
  for (auto it = fs::directory_iterator(dir_ / "x", ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string nm = it->path().filename().string();
    if (nm.empty() || !std::all_of(nm.begin(), nm.end(), ::isdigit)) {
      fs::remove(it->path(), ec);  // a temp file of an interrupted write
      continue;
    }
    have.emplace_back(fs::last_write_time(it->path(), ec), std::stoull(nm));
  }
  std::sort(have.begin(), have.end());
  for (auto& [t, e] : have)
    if (e * kExtentSize < size_)
      lru_.insert(e, 0, extent_len(e), [&](const uint64_t& victim, char&) { unlink(extent_path(victim).c_str()); });
  // The metadata region (tables and index) now, so a restart without the
  // network can mount and list: its start is in the trailer.
  if (!offline_) {
    uint64_t meta = get_le(tail.data() + 16, 8);
    if (meta < size_) {
      std::string b(size_t(kExtentSize), '\0');
      for (uint64_t e = meta / kExtentSize; e * kExtentSize < size_; e++) read_extent(e, 0, size_t(extent_len(e)), b.data());
    }
  }
  // Read-ahead never takes more than a quarter of the cache, so what it
  // brings is not evicted before the reader gets there.
  ra_window_ = unsigned(std::min<uint64_t>(o_.readahead, o_.cache_size / 4 / kExtentSize));
  for (unsigned i = 0; i < std::min(ra_window_, kReadaheadWorkers); i++) ra_threads_.emplace_back([this] { readahead_worker(); });
}

HttpSource::~HttpSource() {
  {
    std::lock_guard lk(ra_mu_);
    ra_stop_ = true;
  }
  ra_cv_.notify_all();
  for (auto& t : ra_threads_) t.join();
  if (locked_) unlock_dir(dir_);
}

void HttpSource::set_endpoint(const std::string& url, const std::vector<std::string>& extra) {
  const std::string name = redact_url(url);
  Endpoint ep{url, o_.headers, ""};
  ep.headers.insert(ep.headers.end(), extra.begin(), extra.end());
  auto cl = client();
  Request r;
  r.url = url;
  r.headers = ep.headers;
  r.headers.push_back("Range: bytes=-" + std::to_string(kTrailerSize));
  r.max_body = 1u << 20;
  Response resp = cl->fetch(r);
  give_back(std::move(cl));
  uint64_t a = 0, b = 0, total = 0;
  auto cr = resp.header("Content-Range");
  if (resp.ok() && resp.status == 206 && cr && parse_content_range(*cr, a, b, total) && b + 1 == total &&
      resp.body.size() == kTrailerSize && a + kTrailerSize == total) {
    if (total != size_ || memcmp(resp.body.data() + 24, identity_.data(), 32) != 0)
      throw Error(name + " holds another pack (identity " + to_hex(reinterpret_cast<const uint8_t*>(resp.body.data()) + 24, 32) + ", " +
                      std::to_string(total) + " bytes) than the one mounted from " + name_ + "; keeping the old endpoint",
                  EINVAL);
    auto et = resp.header("ETag");
    if (et && et->rfind("W/", 0) != 0) ep.etag = *et;
  } else if (resp.status > 0 && resp.status < 500) {
    throw Error(name + ": " + (resp.status == 206 ? "a bad answer" : "HTTP " + std::to_string(resp.status)) +
                    " for the pack's last bytes; keeping the old endpoint",
                resp.status == 401 || resp.status == 403 ? EACCES : EINVAL);
  } else {
    spdlog::warn("{}: cannot check the new endpoint ({}); taking it: every range is still checked against the pack's tables",
                 name, resp.error.empty() ? "HTTP " + std::to_string(resp.status) : resp.error);
  }
  std::lock_guard lk(endpoint_mu_);
  ep_ = std::move(ep);
}

bool remote_supported() { return true; }

std::optional<RemoteStats> remote_stats(const ByteSource& s) {
  auto* h = dynamic_cast<const HttpSource*>(&s);
  if (!h) return std::nullopt;
  return h->stats();
}

bool set_endpoint(ByteSource& s, const std::string& url, const std::vector<std::string>& headers) {
  auto* h = dynamic_cast<HttpSource*>(&s);
  if (!h) return false;
  h->set_endpoint(url, headers);
  return true;
}

SourceOpener source_opener(const RemoteOptions& o) {
  return [o](const std::string& where) -> std::shared_ptr<ByteSource> {
    if (is_url(where)) return std::make_shared<HttpSource>(where, o);
    return open_local_file(where);
  };
}

}  // namespace kso::fetch
