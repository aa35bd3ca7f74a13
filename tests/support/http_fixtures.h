// Loopback HTTP fixtures for the download tests: a TLS site (a CA made with
// openssl, nginx with virtual hosts named like the real ones), a CONNECT
// proxy that sends every host to it (so wget needs no /etc/hosts), and a
// fault-injecting handler on the tests' HTTP server (fail N times, cut
// bodies, redirects).
#pragma once
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/mini_http.h"
#include "tests/support/testutil.h"

namespace kso::test {

// A certificate authority and one server certificate for `hosts`, made with
// the openssl CLI into dir: ca.pem, server.pem, server.key.
void make_tls_certs(const fs::path& dir, const std::vector<std::string>& hosts);

// An address nginx can listen on port 443 with: a random 127.x.y.z (so
// parallel tests do not collide), or "" when port 443 cannot be bound.
std::string loopback_addr_for_443();

// nginx serving `conf_body` (server blocks) from its own prefix dir, in the
// foreground, killed when this dies.
class Nginx {
 public:
  Nginx(const fs::path& dir, const std::string& http_block, const std::string& addr, int port);
  ~Nginx();
  std::string access_log() const;
  int requests_logged() const;  // lines in the access log so far

 private:
  fs::path dir_;
  std::unique_ptr<Daemon> d_;
};

// HTTP CONNECT proxy on 127.0.0.1:port() tunnelling every CONNECT (whatever
// the host) to addr:port, and plain absolute-URI requests too.
class ConnectProxy {
 public:
  ConnectProxy(std::string target_addr, int target_port);
  int port() const { return listener_.port(); }
  int tunnels() const { return tunnels_; }

 private:
  void serve(int fd);
  std::string addr_;
  int target_port_;
  std::atomic<int> tunnels_{0};
  LoopbackListener listener_;  // last: its threads use the members above
};

// One path's behaviour on the FaultServer.
struct FaultRoute {
  std::string body;                 // served with Content-Length, Range (bytes=N-) honoured
  int fail_first = 0;               // answer the first N requests with fail_status
  int fail_status = 503;
  int cut_first = 0;                // for the first N full-body answers, close after half the body
  std::string redirect;             // answer 302 to this URL instead
  int status = 200;                 // e.g. 404
  // Range faults (remote packs): for the first N range answers, a
  // Content-Range one byte off, a body cut short (announced whole, then the
  // connection closes), or the whole body with 200 instead of the range.
  int bad_range_first = 0, cut_range_first = 0;
  bool ignore_ranges = false;
  // Every Nth range answer (after the ones above) is a fault, in turn a 503,
  // a Content-Range one byte off, a cut body: faults spread over a whole read.
  int fault_every = 0;
  std::string authorization;        // when set, a request without exactly this Authorization gets 401
};

// A request as the FaultServer saw it.
struct SeenRequest {
  std::string method, path, host;              // path: the whole request target, query included
  std::map<std::string, std::string> headers;  // lower-case names
};

// A MiniHttpServer whose handler plays routes: failures, cut bodies,
// ranges with If-Range, redirects; it records every request.
class FaultServer {
 public:
  FaultServer();
  int port() const { return http_.port(); }
  void route(const std::string& path, FaultRoute r);
  std::vector<SeenRequest> seen();   // every request so far
  int hits(const std::string& path);  // requests for path
  int faults();                       // fault_every faults served so far

 private:
  HttpReply handle(const HttpRequest& req);
  std::mutex mu_;
  std::map<std::string, FaultRoute> routes_;
  std::map<std::string, int> count_, cuts_, range_answers_;
  int faults_ = 0;
  std::vector<SeenRequest> seen_;
  MiniHttpServer http_;  // last: its threads use the members above
};

// A directory tree as relative path -> sha256 of the content (files only).
std::map<std::string, std::string> tree_digests(const fs::path& root);

}  // namespace kso::test
