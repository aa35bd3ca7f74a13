// HTTP(S) client over libcurl shared by the downloading sources: single
// requests (tokens, manifests) and batches of parallel transfers on the multi
// interface, with retries, resume, redirects and streaming SHA-256 checks.
//
// Failure model: a transport failure (DNS, connect, TLS, reset, timeout,
// truncated body) or a 5xx/408/429 is retried with backoff; when the retries
// run out it ends up in Response::error. Any other HTTP status (404, 401, ...)
// is a normal Response with that status and no error: the caller decides.
// A digest mismatch is an error naming the URL and both digests.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fetch/digest.h"
#include "fetch/net_options.h"

namespace kso::fetch {

// What a batch transfer reports while it runs (Client::on_progress), on the
// run() thread. The client draws nothing: the tool decides what to show.
struct TransferEvent {
  enum class Kind {
    Started,  // a transfer (or a retry of it) began; bytes: the body size if known, else -1
    Size,     // a started transfer's body size became known: bytes
    Bytes,    // body bytes arrived: bytes (this many more)
    Retry,    // an attempt failed (why); attempt `attempt` is retried in delay_ms
    Ended,    // the request is over: ok, bytes (the whole body)
  };
  Kind kind = Kind::Started;
  std::string_view url;  // the request's original URL
  int64_t bytes = 0;
  bool ok = false;
  std::string_view why;
  int attempt = 0, delay_ms = 0;
};
using ProgressFn = std::function<void(const TransferEvent&)>;

struct Request {
  std::string url;                    // the original URL (mirrors are applied by the client)
  std::vector<std::string> headers;   // extra "Name: value" lines (Authorization, Accept, ...)
  bool head = false;                  // HEAD instead of GET
  // Body to a file when set: bytes go to dest + ".part" (resumed with Range on
  // a retry or a later run), renamed to dest once complete and verified.
  // Unset: the body is kept in memory, up to max_body bytes.
  std::filesystem::path dest;
  size_t max_body = 64u << 20;        // memory bodies only; more is an error
  std::optional<OciDigest> expect_digest;  // the body must have this digest; unset = don't check
  std::optional<uint64_t> expect_size;  // when known (image blobs): checked too
  bool keep_partial = true;           // file bodies: keep a .part after a failure for resume
  // Memory bodies: fill Response::sha256. Off where the caller checks the
  // bytes itself (a remote pack's ranges, against its block checksums): a
  // SHA-256 of every range cost more CPU than the TLS under it.
  bool hash_body = true;
  // Memory bodies: written into *body_into (cleared first, its capacity
  // kept) instead of Response::body, which stays empty. A caller that
  // recycles its buffers (a remote pack's ranges) gets no fresh, zeroed
  // pages per response. Unset: Response::body.
  std::string* body_into = nullptr;
};

struct Response {
  std::string url;                    // the original request URL
  std::string effective_url;          // where the body came from (after mirrors, redirects)
  long status = 0;                    // HTTP status of the final response; 0 if none
  std::vector<std::pair<std::string, std::string>> headers;  // final response's headers
  std::string body;                   // memory bodies (also error bodies of file requests)
  uint64_t size = 0;                  // body bytes (file bodies: the whole file, resumed part included)
  std::string sha256;                 // hex digest of the whole body (2xx only; empty if !Request::hash_body)
  int64_t mtime_ns = 0;               // Last-Modified, 0 if absent
  bool resumed = false;               // a file body continued an earlier partial
  int attempts = 0;                   // transfers made, retries included
  std::string error;                  // set when the request failed for good (see above)

  bool ok() const { return error.empty() && status >= 200 && status < 300; }
  // Value of the last header with this name (case-insensitive), if any.
  std::optional<std::string> header(std::string_view name) const;
};

class Client {
 public:
  explicit Client(const NetOptions& net);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Runs one request to the end, retries included, on the calling thread.
  // Never throws for HTTP or transport failures: see Response::error.
  // May be called from inside a batch callback.
  Response fetch(const Request& req);

  using Done = std::function<void(Response&)>;
  // Queues a request for the next/current run(); `done` is called on the
  // run() thread when it finished (ok or not) and may add() more requests.
  void add(Request req, Done done);
  // Runs queued transfers, NetOptions::parallel at a time, until none is left.
  // Exceptions thrown by a callback stop the run and propagate.
  void run();

  // Applies the first matching --mirror rule to url.
  std::string rewrite(const std::string& url) const;
  // Reports the transfers of add()/run() to fn (fetch() reports nothing); empty: none.
  void on_progress(ProgressFn fn);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kso::fetch
