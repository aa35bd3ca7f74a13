#include "tests/support/http_fixtures.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace kso::test {

void make_tls_certs(const fs::path& dir, const std::vector<std::string>& hosts) {
  fs::create_directories(dir);
  std::string san;
  for (const auto& h : hosts) san += (san.empty() ? "DNS:" : ",DNS:") + h;
  write_file(dir / "ext.cnf", "subjectAltName=" + san + "\nbasicConstraints=CA:FALSE\n");
  std::string d = dir.string();
  auto r = run("cd " + d +
               " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2"
               " -subj /CN=kso-test-ca 2>&1"
               " && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=" +
               hosts.at(0) +
               " 2>&1 && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial"
               " -out server.pem -days 2 -extfile ext.cnf 2>&1");
  if (r.status != 0) throw std::runtime_error("openssl failed: " + r.output);
}

std::string loopback_addr_for_443() {
  std::random_device rd;
  for (int i = 0; i < 5; i++) {
    std::string a = "127." + std::to_string(rd() % 200 + 20) + "." + std::to_string(rd() % 250 + 1) + "." +
                    std::to_string(rd() % 250 + 2);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(443);
    inet_pton(AF_INET, a.c_str(), &sa.sin_addr);
    int r = bind(s, (sockaddr*)&sa, sizeof sa);
    close(s);
    if (r == 0) return a;
  }
  return "";
}

static bool wait_for_addr(const std::string& addr, int port) {
  for (int i = 0; i < 300; i++) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
    int r = connect(s, (sockaddr*)&sa, sizeof sa);
    close(s);
    if (r == 0) return true;
    usleep(50000);
  }
  return false;
}

Nginx::Nginx(const fs::path& dir, const std::string& http_block, const std::string& addr, int port) : dir_(dir) {
  fs::create_directories(dir / "logs");
  fs::create_directories(dir / "tmp");
  std::string d = dir.string();
  write_file(dir / "nginx.conf", "worker_processes 1;\npid " + d + "/nginx.pid;\nerror_log " + d +
                                     "/logs/error.log info;\nevents { worker_connections 256; }\nhttp {\n"
                                     "  access_log " + d + "/logs/access.log;\n"
                                     "  client_body_temp_path " + d + "/tmp/body;\n  proxy_temp_path " + d +
                                     "/tmp/proxy;\n  fastcgi_temp_path " + d + "/tmp/fcgi;\n  uwsgi_temp_path " +
                                     d + "/tmp/uwsgi;\n  scgi_temp_path " + d + "/tmp/scgi;\n" +
                                     "  default_type application/octet-stream;\n" + http_block + "\n}\n");
  d_ = std::make_unique<Daemon>("env PATH=$PATH:/usr/sbin:/sbin nginx -p " + d + " -c " + d +
                                    "/nginx.conf -g 'daemon off;'",
                                dir / "nginx.out");
  if (!wait_for_addr(addr, port))
    throw std::runtime_error("nginx did not start: " + d_->log() + read_file(dir / "logs/error.log"));
}

Nginx::~Nginx() { d_->stop(); }

std::string Nginx::access_log() const { return read_file(dir_ / "logs/access.log"); }

int Nginx::requests_logged() const {
  std::string l = access_log();
  return int(std::count(l.begin(), l.end(), '\n'));
}

// Listens on 127.0.0.1 at an ephemeral port; returns the fd and sets port.
static int listen_loopback(int& port) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, (sockaddr*)&a, sizeof a) != 0 || listen(s, 64) != 0) throw std::runtime_error("listen failed");
  socklen_t len = sizeof a;
  getsockname(s, (sockaddr*)&a, &len);
  port = ntohs(a.sin_port);
  return s;
}

// Accepts until stop is set (polling so the destructor can end the loop).
static void accept_loop(int lfd, std::atomic<bool>& stop, const std::function<void(int)>& on_conn) {
  while (!stop) {
    pollfd p{lfd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    int c = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c >= 0) on_conn(c);
  }
}

static bool send_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= size_t(w);
  }
  return true;
}

// Reads a request head (up to the blank line); "" on EOF.
static std::string read_head(int fd, std::string& extra) {
  std::string buf;
  char tmp[4096];
  while (buf.find("\r\n\r\n") == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0) return "";
    ssize_t r = recv(fd, tmp, sizeof tmp, 0);
    if (r <= 0) return "";
    buf.append(tmp, size_t(r));
    if (buf.size() > 65536) return "";
  }
  auto end = buf.find("\r\n\r\n") + 4;
  extra = buf.substr(end);
  return buf.substr(0, end);
}

static int connect_to(const std::string& addr, int port) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, addr.c_str(), &sa.sin_addr);
  if (connect(s, (sockaddr*)&sa, sizeof sa) != 0) {
    close(s);
    return -1;
  }
  return s;
}

ConnectProxy::ConnectProxy(std::string target_addr, int target_port)
    : addr_(std::move(target_addr)), target_port_(target_port) {
  listen_fd_ = listen_loopback(port_);
  accept_ = std::thread([this] {
    accept_loop(listen_fd_, stop_, [this](int c) {
      std::lock_guard<std::mutex> g(mu_);
      conns_.emplace_back([this, c] { serve(c); });
    });
  });
}

ConnectProxy::~ConnectProxy() {
  stop_ = true;
  accept_.join();
  close(listen_fd_);
  std::lock_guard<std::mutex> g(mu_);
  for (auto& t : conns_) t.join();
}

void ConnectProxy::serve(int c) {
  std::string extra;
  std::string head = read_head(c, extra);
  int up = head.empty() ? -1 : connect_to(addr_, target_port_);
  if (up < 0) {
    close(c);
    return;
  }
  if (head.compare(0, 8, "CONNECT ") == 0) {
    tunnels_++;
    const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    send_all(c, ok, sizeof ok - 1);
  } else {
    extra = head + extra;  // absolute-URI request: nginx understands it as is
  }
  if (!extra.empty()) send_all(up, extra.data(), extra.size());
  char buf[65536];
  while (!stop_) {
    pollfd p[2] = {{c, POLLIN, 0}, {up, POLLIN, 0}};
    if (poll(p, 2, 200) < 0) break;
    bool done = false;
    for (int i = 0; i < 2 && !done; i++) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t r = recv(p[i].fd, buf, sizeof buf, 0);
      if (r <= 0 || !send_all(p[1 - i].fd, buf, size_t(r))) done = true;
    }
    if (done) break;
  }
  close(up);
  close(c);
}

FaultServer::FaultServer() {
  listen_fd_ = listen_loopback(port_);
  accept_ = std::thread([this] {
    accept_loop(listen_fd_, stop_, [this](int c) {
      std::lock_guard<std::mutex> g(mu_);
      conns_.emplace_back([this, c] { serve(c); });
    });
  });
}

FaultServer::~FaultServer() {
  stop_ = true;
  accept_.join();
  close(listen_fd_);
  std::lock_guard<std::mutex> g(mu_);
  for (auto& t : conns_) t.join();
}

void FaultServer::route(const std::string& path, FaultRoute r) {
  std::lock_guard<std::mutex> g(mu_);
  routes_[path] = std::move(r);
}

std::vector<SeenRequest> FaultServer::seen() {
  std::lock_guard<std::mutex> g(mu_);
  return seen_;
}

int FaultServer::hits(const std::string& path) {
  std::lock_guard<std::mutex> g(mu_);
  return count_[path];
}

void FaultServer::serve(int c) {
  std::string extra;
  std::string head = read_head(c, extra);
  if (head.empty()) {
    close(c);
    return;
  }
  SeenRequest req;
  std::istringstream in(head);
  std::string line, version;
  std::getline(in, line);
  std::istringstream(line) >> req.method >> req.path >> version;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string k = line.substr(0, colon), v = line.substr(colon + 1);
    for (auto& ch : k) ch = char(tolower(ch));
    while (!v.empty() && v[0] == ' ') v.erase(0, 1);
    req.headers[k] = v;
  }
  req.host = req.headers["host"];

  FaultRoute route;
  bool found, fail = false, cut = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    seen_.push_back(req);
    int n = ++count_[req.path];
    auto it = routes_.find(req.path);
    found = it != routes_.end();
    if (found) {
      route = it->second;
      fail = n <= route.fail_first;
      if (!fail && route.status == 200 && route.redirect.empty() && cuts_[req.path] < route.cut_first) {
        cut = true;
        cuts_[req.path]++;
      }
    }
  }
  std::string resp;
  std::string body;
  if (!found || route.status == 404) {
    body = "not found\n";
    resp = "HTTP/1.1 404 Not Found\r\n";
  } else if (fail) {
    body = "try again\n";
    resp = "HTTP/1.1 " + std::to_string(route.fail_status) + " Failing On Purpose\r\n";
  } else if (!route.redirect.empty()) {
    resp = "HTTP/1.1 302 Found\r\nLocation: " + route.redirect + "\r\n";
  } else {
    size_t from = 0;
    std::string etag = "\"" + sha256_hex(route.body).substr(0, 16) + "\"";
    auto range = req.headers.find("range");
    auto if_range = req.headers.find("if-range");
    bool range_ok = if_range == req.headers.end() || if_range->second == etag;  // else: changed, send it whole
    if (range_ok && range != req.headers.end() && range->second.compare(0, 6, "bytes=") == 0) {
      from = std::stoull(range->second.substr(6));
    }
    if (from > route.body.size()) {
      resp = "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */" + std::to_string(route.body.size()) +
             "\r\n";
    } else if (from > 0) {
      body = route.body.substr(from);
      resp = "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes " + std::to_string(from) + "-" +
             std::to_string(route.body.size() - 1) + "/" + std::to_string(route.body.size()) + "\r\n";
    } else {
      body = route.body;
      resp = "HTTP/1.1 200 OK\r\n";
    }
    resp += "Accept-Ranges: bytes\r\nLast-Modified: Tue, 01 Oct 2024 10:00:00 GMT\r\nETag: " + etag + "\r\n";
  }
  resp += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  send_all(c, resp.data(), resp.size());
  if (req.method != "HEAD") {
    size_t n = cut ? body.size() / 2 : body.size();
    send_all(c, body.data(), n);
  }
  shutdown(c, SHUT_RDWR);
  close(c);
}

std::map<std::string, std::string> tree_digests(const fs::path& root) {
  std::map<std::string, std::string> out;
  if (!fs::exists(root)) return out;
  for (auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) out[fs::relative(e.path(), root).string()] = sha256_file_hex(e.path());
  }
  return out;
}

}  // namespace kso::test
