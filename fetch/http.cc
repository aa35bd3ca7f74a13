#include "fetch/http.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <thread>

#include "index/error.h"
#include "index/sha256.h"

namespace kso::fetch {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kMaxBackoffMs = 30000;        // cap of the doubling retry delay
constexpr int kMaxRetryAfterMs = 60000;     // a server's Retry-After is honoured up to this
constexpr size_t kMaxErrorBody = 64 << 10;  // error bodies of file requests kept for messages

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return tolower(x) == tolower(y); });
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Starts a streaming hash over (finish() leaves the context fresh).
void reset_hash(Sha256& sha) { (void)sha.finish(); }

// curl errors worth another attempt: the network or the server hiccuped.
bool transient(CURLcode c) {
  switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_WRITE_ERROR:  // we abort a body whose Content-Range does not fit; retried from scratch
      return true;
    default:
      return false;
  }
}

bool transient_status(long s) { return s == 408 || s == 429 || (s >= 500 && s <= 599); }

// Next to a .part: the response validator (strong ETag, else Last-Modified)
// of the download it holds, sent as If-Range on resume so a file that changed
// upstream comes back whole (200) instead of as a spliced mix.
std::filesystem::path validator_path(const std::filesystem::path& part) {
  auto p = part;
  p += "-validator";
  return p;
}

void drop_partial(const std::filesystem::path& part) {
  std::error_code ec;
  std::filesystem::remove(part, ec);
  std::filesystem::remove(validator_path(part), ec);
}

// One request and its state across attempts.
struct Transfer {
  Request req;
  Client::Done done;
  Response resp;
  CURL* easy = nullptr;
  curl_slist* hdrs = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {};
  Clock::time_point not_before{};

  // File bodies.
  int fd = -1;
  std::filesystem::path part;
  uint64_t offset = 0;        // bytes of .part present when the attempt started
  bool body_started = false;  // the write callback decided where this response's bytes go
  bool to_file = false;       // ... into the .part file (2xx) rather than resp.body
  bool abort_restart = false; // the server ignored our Range badly: start over
  bool restarted = false;     // a from-scratch retry after a digest mismatch was used
  Sha256 sha;
  uint64_t size = 0;          // body bytes (whole file, including offset)
  const ProgressFn* progress = nullptr;  // the engine's, while it runs
};

// Where a memory body (or a file request's error body) goes.
std::string& memory_body(Transfer& t) { return t.req.body_into && t.fd < 0 ? *t.req.body_into : t.resp.body; }

// Tells the progress callback, if any, about t: `fill` sets what `kind` carries.
template <typename Fill>
void report(const Transfer& t, TransferEvent::Kind kind, Fill fill) {
  if (!t.progress || !*t.progress) return;
  TransferEvent e;
  e.kind = kind;
  e.url = t.req.url;
  fill(e);
  (*t.progress)(e);
}

}  // namespace

std::optional<std::string> Response::header(std::string_view name) const {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it)
    if (iequals(it->first, name)) return it->second;
  return std::nullopt;
}

// One multi handle with its queue; Client has one for batches and one for fetch().
class Engine {
 public:
  Engine(const NetOptions& net, Client& client, CURLSH* share) : net_(net), client_(client), share_(share) {
    multi_ = curl_multi_init();
    curl_multi_setopt(multi_, CURLMOPT_PIPELINING, long(CURLPIPE_MULTIPLEX));
    curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, long(std::max(16, net.parallel * 2)));
    for (const auto& r : net.resolve) resolve_ = curl_slist_append(resolve_, r.c_str());
    for (const auto& r : net.connect_to) connect_to_ = curl_slist_append(connect_to_, r.c_str());
  }
  ~Engine() {
    for (auto* t : active_) cleanup(*t, true);
    for (auto* t : active_) delete t;
    for (auto* t : waiting_) delete t;
    curl_multi_cleanup(multi_);
    curl_slist_free_all(resolve_);
    curl_slist_free_all(connect_to_);
  }

  void add(Request req, Client::Done done) {
    auto* t = new Transfer;
    t->req = std::move(req);
    t->done = std::move(done);
    t->resp.url = t->req.url;
    t->progress = &progress;
    waiting_.push_back(t);
  }

  void run();

  ProgressFn progress;

 private:
  bool start(Transfer& t);
  void finished(Transfer* t, CURLcode code);
  void retry_or_fail(Transfer* t, const std::string& why, long retry_after_ms = 0);
  void complete(Transfer* t);
  void cleanup(Transfer& t, bool failed);

  static size_t on_header(char* p, size_t sz, size_t n, void* ud);
  static size_t on_body(char* p, size_t sz, size_t n, void* ud);

  const NetOptions& net_;
  Client& client_;
  CURLSH* share_;
  CURLM* multi_ = nullptr;
  curl_slist* resolve_ = nullptr;
  curl_slist* connect_to_ = nullptr;
  std::deque<Transfer*> waiting_;
  std::vector<Transfer*> active_;
};

size_t Engine::on_header(char* p, size_t sz, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  std::string_view line(p, sz * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.substr(0, 5) == "HTTP/") {
    t->resp.headers.clear();  // a new response (after a redirect or a 100): keep the last one's
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    auto v = line.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    t->resp.headers.emplace_back(std::string(line.substr(0, colon)), std::string(v));
  }
  return sz * n;
}

// "bytes START-END/TOTAL" -> START, or -1.
static int64_t content_range_start(const std::optional<std::string>& v) {
  if (!v || v->compare(0, 6, "bytes ") != 0) return -1;
  try {
    return std::stoll(v->substr(6));
  } catch (...) {
    return -1;
  }
}

size_t Engine::on_body(char* p, size_t sz, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  size_t len = sz * n;
  if (!t->body_started) {
    t->body_started = true;
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    t->to_file = t->fd >= 0 && status >= 200 && status < 300;
    curl_off_t cl = -1;
    curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    if (status >= 200 && status < 300 && !t->req.expect_size && cl > 0)
      report(*t, TransferEvent::Kind::Size, [&](TransferEvent& e) { e.bytes = cl; });
    if (t->to_file) {
      if (status == 206 && t->offset > 0) {
        if (content_range_start(t->resp.header("Content-Range")) != int64_t(t->offset)) {
          t->abort_restart = true;
          return 0;
        }
      } else if (t->offset > 0 || status != 206) {
        // A full body (200) although we asked for a range, or a fresh file: start at 0.
        if (ftruncate(t->fd, 0) != 0 || lseek(t->fd, 0, SEEK_SET) != 0) return 0;
        t->offset = 0;
        t->size = 0;
        reset_hash(t->sha);
        t->resp.resumed = false;
        std::string v;
        if (auto etag = t->resp.header("ETag"); etag && etag->compare(0, 2, "W/") != 0) v = *etag;
        else if (auto lm = t->resp.header("Last-Modified")) v = *lm;
        std::error_code ec;
        std::filesystem::remove(validator_path(t->part), ec);
        if (!v.empty()) std::ofstream(validator_path(t->part), std::ios::trunc) << v;
      }
    }
  }
  if (t->to_file) {
    for (size_t done = 0; done < len;) {
      ssize_t w = write(t->fd, p + done, len - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        t->resp.error = "write " + t->part.string() + ": " + strerror(errno);
        return 0;
      }
      done += size_t(w);
    }
    t->sha.update(p, len);
    t->size += len;
  } else {
    size_t limit = t->fd >= 0 ? kMaxErrorBody : t->req.max_body;
    std::string& body = memory_body(*t);
    if (body.size() + len > limit) {
      if (t->fd >= 0) return len;  // error page of a file request: the start is enough
      t->resp.error = t->req.url + ": body larger than " + std::to_string(limit) + " bytes";
      return 0;
    }
    // The whole body at once when its length is known: appends that grow
    // the string copy it again and again into fresh pages (a third of a
    // remote pack's cold read went there).
    if (body.empty()) {
      curl_off_t cl = -1;
      curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
      if (cl > 0 && uint64_t(cl) <= limit) body.reserve(size_t(cl));
    }
    body.append(p, len);
  }
  report(*t, TransferEvent::Kind::Bytes, [&](TransferEvent& e) { e.bytes = int64_t(len); });
  return len;
}

bool Engine::start(Transfer& t) {
  t.resp.attempts++;
  t.resp.headers.clear();
  t.resp.body.clear();
  if (t.req.body_into) t.req.body_into->clear();
  t.resp.status = 0;
  t.body_started = t.to_file = t.abort_restart = false;
  t.errbuf[0] = 0;
  reset_hash(t.sha);
  t.size = 0;
  t.offset = 0;
  t.resp.resumed = false;

  std::string url = client_.rewrite(t.req.url);
  if (!t.req.dest.empty() && !t.req.head) {
    t.part = t.req.dest;
    t.part += ".part";
    std::error_code ec;
    std::filesystem::create_directories(t.part.parent_path(), ec);
    t.fd = open(t.part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (t.fd < 0) {
      t.resp.error = "cannot open " + t.part.string() + ": " + strerror(errno);
      return false;
    }
    struct stat st {};
    fstat(t.fd, &st);
    t.offset = uint64_t(st.st_size);
    if (t.offset > 0) {
      // Resume: hash what is there, append the rest.
      std::string buf(1 << 20, '\0');
      uint64_t left = t.offset;
      while (left > 0) {
        ssize_t r = pread(t.fd, buf.data(), std::min<uint64_t>(buf.size(), left), off_t(t.offset - left));
        if (r <= 0) break;
        t.sha.update(buf.data(), size_t(r));
        left -= uint64_t(r);
      }
      lseek(t.fd, 0, SEEK_END);
      t.size = t.offset;
      t.resp.resumed = true;
    }
  }

  CURL* e = t.easy = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
  curl_easy_setopt(e, CURLOPT_SHARE, share_);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.errbuf);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);  // no Authorization to another host
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, long(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, net_.connect_timeout_s);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, net_.stall_timeout_s);
  curl_easy_setopt(e, CURLOPT_FILETIME, 1L);
  curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, nullptr);  // bytes as served: digests are of them
  curl_easy_setopt(e, CURLOPT_USERAGENT, net_.user_agent.c_str());
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  if (!net_.cacert.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, net_.cacert.c_str());
  if (net_.netrc) {
    curl_easy_setopt(e, CURLOPT_NETRC, long(CURL_NETRC_OPTIONAL));
    if (!net_.netrc_file.empty()) curl_easy_setopt(e, CURLOPT_NETRC_FILE, net_.netrc_file.c_str());
  }
  if (resolve_) curl_easy_setopt(e, CURLOPT_RESOLVE, resolve_);
  if (connect_to_) curl_easy_setopt(e, CURLOPT_CONNECT_TO, connect_to_);
  if (t.req.head) curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  // CURLOPT_RANGE rather than RESUME_FROM: a 200 (no range support, or If-Range
  // saw a changed file) must reach on_body, which starts over; RESUME_FROM fails it.
  std::string range = std::to_string(t.offset) + "-";
  if (t.offset > 0) curl_easy_setopt(e, CURLOPT_RANGE, range.c_str());
  curl_slist_free_all(t.hdrs);
  t.hdrs = nullptr;
  for (const auto& h : t.req.headers) t.hdrs = curl_slist_append(t.hdrs, h.c_str());
  if (t.offset > 0) {
    std::ifstream vf(validator_path(t.part));
    std::string v;
    if (std::getline(vf, v) && !v.empty()) t.hdrs = curl_slist_append(t.hdrs, ("If-Range: " + v).c_str());
  }
  if (t.hdrs) curl_easy_setopt(e, CURLOPT_HTTPHEADER, t.hdrs);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Engine::on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Engine::on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
  curl_multi_add_handle(multi_, e);
  active_.push_back(&t);
  spdlog::debug("GET {}{}", url, t.offset ? " from byte " + std::to_string(t.offset) : "");
  report(t, TransferEvent::Kind::Started,
         [&](TransferEvent& e) { e.bytes = t.req.expect_size ? int64_t(*t.req.expect_size) : -1; });
  return true;
}

// Detaches the easy handle and closes the .part (deleting it if it must not stay).
void Engine::cleanup(Transfer& t, bool failed) {
  if (t.easy) {
    curl_multi_remove_handle(multi_, t.easy);
    curl_easy_cleanup(t.easy);
    t.easy = nullptr;
  }
  curl_slist_free_all(t.hdrs);
  t.hdrs = nullptr;
  if (t.fd >= 0) {
    close(t.fd);
    t.fd = -1;
    std::error_code ec;
    if (failed && (!t.req.keep_partial || std::filesystem::file_size(t.part, ec) == 0)) drop_partial(t.part);
  }
}

void Engine::retry_or_fail(Transfer* t, const std::string& why, long retry_after_ms) {
  if (t->resp.attempts <= net_.retries) {
    long delay = std::min<long>(kMaxBackoffMs, long(net_.retry_delay_ms) << std::min(t->resp.attempts - 1, 20));
    delay = std::max(delay, std::min<long>(retry_after_ms, kMaxRetryAfterMs));
    spdlog::debug("{}: {}; retry {} in {} ms", t->req.url, why, t->resp.attempts, delay);
    report(*t, TransferEvent::Kind::Retry, [&](TransferEvent& e) {
      e.why = why;
      e.attempt = t->resp.attempts;
      e.delay_ms = int(delay);
    });
    t->not_before = Clock::now() + std::chrono::milliseconds(delay);
    t->resp.error.clear();
    waiting_.push_front(t);
    return;
  }
  t->resp.error = t->req.url + ": " + why +
                  (t->resp.attempts > 1 ? " (after " + std::to_string(t->resp.attempts) + " attempts)" : "");
  complete(t);
}

void Engine::complete(Transfer* t) {
  report(*t, TransferEvent::Kind::Ended, [&](TransferEvent& e) {
    e.bytes = int64_t(t->resp.size);
    e.ok = t->resp.ok();
  });
  std::unique_ptr<Transfer> own(t);
  if (t->done) t->done(t->resp);
}

void Engine::finished(Transfer* t, CURLcode code) {
  active_.erase(std::find(active_.begin(), active_.end(), t));
  long status = 0;
  curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
  char* eff = nullptr;
  curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &eff);
  t->resp.effective_url = eff ? eff : "";
  curl_off_t ft = -1;
  curl_easy_getinfo(t->easy, CURLINFO_FILETIME_T, &ft);
  t->resp.mtime_ns = ft > 0 ? int64_t(ft) * 1000000000 : 0;
  t->resp.status = status;
  bool range_sent = t->offset > 0;

  if (code != CURLE_OK) {
    std::string why = t->errbuf[0] ? t->errbuf : curl_easy_strerror(code);
    if (!t->resp.error.empty()) {  // our own failure inside a callback (disk full, body too big)
      cleanup(*t, true);
      complete(t);
      return;
    }
    if (t->abort_restart) {
      why = "server sent a range other than the one asked for";
      cleanup(*t, false);
      drop_partial(t->part);
    } else {
      cleanup(*t, true);
    }
    if (transient(code)) {
      retry_or_fail(t, why);
    } else {
      t->resp.error = t->req.url + ": " + why;
      complete(t);
    }
    return;
  }

  if (status == 416 && range_sent) {
    // Range not satisfiable: our partial is complete already, or stale.
    auto cr = t->resp.header("Content-Range");
    bool complete_part = cr && cr->compare(0, 8, "bytes */") == 0 &&
                         std::to_string(t->offset) == cr->substr(8);
    if (complete_part) {
      t->resp.status = status = 200;
      t->to_file = true;
      t->body_started = true;
    } else {
      cleanup(*t, false);
      drop_partial(t->part);
      retry_or_fail(t, "HTTP 416 for a stale partial download");
      return;
    }
  }

  if (transient_status(status)) {
    long retry_after = 0;
    if (auto ra = t->resp.header("Retry-After")) {
      try {
        retry_after = std::stol(*ra) * 1000;
      } catch (...) {
      }
    }
    cleanup(*t, true);
    retry_or_fail(t, "HTTP " + std::to_string(status), retry_after);
    return;
  }

  if (status < 200 || status >= 300 || t->req.head) {
    cleanup(*t, true);
    complete(t);  // a plain HTTP answer (404, 401, ...): the caller decides
    return;
  }

  if (t->fd >= 0 && !t->body_started) {
    // 2xx with an empty body: the write callback never ran.
    if (t->offset > 0 && status != 206) {
      (void)!ftruncate(t->fd, 0);
      reset_hash(t->sha);
      t->size = 0;
      t->resp.resumed = false;
    }
    t->to_file = true;
  }
  t->resp.size = t->fd >= 0 ? t->size : memory_body(*t).size();
  if (t->fd >= 0) t->resp.sha256 = to_hex(t->sha.finish());
  else if (t->req.hash_body || t->req.expect_digest) t->resp.sha256 = to_hex(sha256(memory_body(*t).data(), memory_body(*t).size()));

  std::string bad;
  if (t->req.expect_size && *t->req.expect_size != t->resp.size)
    bad = t->req.url + ": size mismatch: expected " + std::to_string(*t->req.expect_size) + " bytes, got " +
          std::to_string(t->resp.size);
  if (bad.empty() && t->req.expect_digest && t->req.expect_digest->hex() != t->resp.sha256)
    bad = t->req.url + ": sha256 mismatch: expected " + t->req.expect_digest->hex() + ", got " + t->resp.sha256;
  if (!bad.empty()) {
    bool resumed = t->resp.resumed;
    cleanup(*t, false);
    if (!t->part.empty()) drop_partial(t->part);  // never keep bad bytes
    if (resumed && !t->restarted) {
      // The old partial may be what is wrong (the file changed upstream): once more from scratch.
      t->restarted = true;
      t->resp.resumed = false;
      spdlog::warn("{}; downloading again from scratch", bad);
      waiting_.push_front(t);
      return;
    }
    t->resp.error = bad;
    complete(t);
    return;
  }

  if (t->fd >= 0) {
    if (fsync(t->fd) != 0) spdlog::warn("fsync {}: {}", t->part.string(), strerror(errno));
    cleanup(*t, false);
    std::error_code ec;
    std::filesystem::rename(t->part, t->req.dest, ec);
    if (ec) t->resp.error = "rename " + t->part.string() + ": " + ec.message();
    std::filesystem::remove(validator_path(t->part), ec);
  } else {
    cleanup(*t, false);
  }
  complete(t);
}

void Engine::run() {
  while (!waiting_.empty() || !active_.empty()) {
    // Start what may start: capacity left and backoff over.
    auto now = Clock::now();
    Clock::time_point next_wake = now + std::chrono::seconds(1);
    for (auto it = waiting_.begin(); it != waiting_.end() && int(active_.size()) < net_.parallel;) {
      Transfer* t = *it;
      if (t->not_before > now) {
        next_wake = std::min(next_wake, t->not_before);
        ++it;
        continue;
      }
      it = waiting_.erase(it);
      if (!start(*t)) {
        cleanup(*t, true);
        complete(t);
        it = waiting_.begin();  // callbacks may have queued more
      }
    }
    if (active_.empty()) {
      if (!waiting_.empty()) std::this_thread::sleep_until(next_wake);
      continue;
    }
    int running = 0;
    curl_multi_perform(multi_, &running);
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
      if (m->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &t);
      finished(t, m->data.result);
    }
    if (!active_.empty()) {
      int wait_ms = int(std::clamp<long>(
          std::chrono::duration_cast<std::chrono::milliseconds>(next_wake - Clock::now()).count(), 0, 200));
      if (waiting_.empty()) wait_ms = 200;
      curl_multi_poll(multi_, nullptr, 0, wait_ms, nullptr);
    }
  }
}

struct Client::Impl {
  NetOptions net;
  CURLSH* share = nullptr;
  std::unique_ptr<Engine> batch, single;  // single (fetch()) has no progress callback
};

Client::Client(const NetOptions& net) : impl_(std::make_unique<Impl>()) {
  global_init();
  net.validate();
  impl_->net = net;
  impl_->share = curl_share_init();
  curl_share_setopt(impl_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(impl_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  impl_->batch = std::make_unique<Engine>(impl_->net, *this, impl_->share);
  impl_->single = std::make_unique<Engine>(impl_->net, *this, impl_->share);
}

Client::~Client() {
  impl_->batch.reset();
  impl_->single.reset();
  curl_share_cleanup(impl_->share);
}

Response Client::fetch(const Request& req) {
  Response out;
  impl_->single->add(req, [&out](Response& r) { out = std::move(r); });
  impl_->single->run();
  return out;
}

void Client::add(Request req, Done done) {
  impl_->batch->add(std::move(req), std::move(done));
}

void Client::run() { impl_->batch->run(); }

std::string Client::rewrite(const std::string& url) const {
  for (const auto& m : impl_->net.mirrors)
    if (url.compare(0, m.from.size(), m.from) == 0) return m.to + url.substr(m.from.size());
  return url;
}

void Client::on_progress(ProgressFn fn) { impl_->batch->progress = std::move(fn); }

}  // namespace kso::fetch
