// A tiny HTTP/1.1 server on 127.0.0.1 for tests: one thread per connection,
// one request per connection (Connection: close), replies from a handler.
// Used by the token server and the registry proxy (redirects, corruption).
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
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::optional<uint64_t> content_length;  // HEAD replies: the length a GET would have
};

class MiniHttpServer {
 public:
  using Handler = std::function<HttpReply(const HttpRequest&)>;
  // Binds a free loopback port and starts serving at once.
  explicit MiniHttpServer(Handler h);
  ~MiniHttpServer();  // stops accepting and joins every connection thread
  MiniHttpServer(const MiniHttpServer&) = delete;
  MiniHttpServer& operator=(const MiniHttpServer&) = delete;

  int port() const { return port_; }
  std::string host() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string url() const { return "http://" + host(); }
  uint64_t requests() const { return requests_; }  // served so far

 private:
  void accept_loop();
  void serve(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> requests_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> conns_;
};

std::string url_decode(const std::string& s);

}  // namespace kso::test
