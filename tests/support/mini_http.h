// The tests' one HTTP server, on 127.0.0.1: one thread per connection, one
// request per connection (Connection: close), replies from a handler. The
// token server, the registry proxy and the FaultServer (tests/support/
// http_fixtures.h: failures, cut bodies, ranges, redirects) are handlers on
// it; LoopbackListener underneath also carries the CONNECT proxy.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace kso::test {

// Accepts TCP connections on 127.0.0.1 (a free port) and runs `on_conn(fd)`
// for each on its own thread; the fd is closed when it returns.
class LoopbackListener {
 public:
  using OnConnection = std::function<void(int fd)>;
  explicit LoopbackListener(OnConnection on_conn);
  ~LoopbackListener();  // stops accepting and joins every connection thread
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;

  int port() const { return port_; }
  bool stopping() const { return stop_; }  // for connection loops that wait on the peer

 private:
  void accept_loop();

  OnConnection on_conn_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> conns_;
};

bool send_all(int fd, const char* p, size_t n);
// Reads a request head up to and including its blank line (10 s without
// data, or 1 MiB, give up: ""); what was read past it goes to `extra`.
std::string read_head(int fd, std::string& extra);

struct HttpRequest {
  std::string method;                          // "GET", "HEAD", ...
  std::string target;                          // "/v2/x/blobs/sha256:..?a=b"
  std::string path;                            // target without the query
  std::string query;                           // after '?', not decoded
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
  // Decoded value of query parameter `name`, or "".
  std::string query_param(const std::string& name) const;
};

struct HttpReply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Type defaults to application/json
  std::string body;
  // Content-Length to announce when it is not body.size(): what a GET would
  // have for a HEAD reply, or the whole length of a body cut short on purpose
  // (the connection closes after `body`).
  std::optional<uint64_t> content_length;
};

class MiniHttpServer {
 public:
  using Handler = std::function<HttpReply(const HttpRequest&)>;
  // Binds a free loopback port and starts serving at once.
  explicit MiniHttpServer(Handler h);
  ~MiniHttpServer() = default;  // stops accepting and joins every connection thread

  int port() const { return listener_.port(); }
  std::string host() const { return "127.0.0.1:" + std::to_string(port()); }
  std::string url() const { return "http://" + host(); }
  uint64_t requests() const { return requests_; }  // served so far

 private:
  void serve(int fd);

  Handler handler_;
  std::atomic<uint64_t> requests_{0};
  LoopbackListener listener_;  // last: its threads use the members above
};

std::string form_decode(std::string s);  // a query string's '+' and %XX (kso::url_unescape)

}  // namespace kso::test
