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
    : addr_(std::move(target_addr)), target_port_(target_port), listener_([this](int c) { serve(c); }) {}

void ConnectProxy::serve(int c) {
  std::string extra;
  std::string head = read_head(c, extra);
  int up = head.empty() ? -1 : connect_to(addr_, target_port_);
  if (up < 0) return;
  if (head.compare(0, 8, "CONNECT ") == 0) {
    tunnels_++;
    const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    send_all(c, ok, sizeof ok - 1);
  } else {
    extra = head + extra;  // absolute-URI request: nginx understands it as is
  }
  if (!extra.empty()) send_all(up, extra.data(), extra.size());
  char buf[65536];
  while (!listener_.stopping()) {
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
}

FaultServer::FaultServer() : http_([this](const HttpRequest& req) { return handle(req); }) {}

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

int FaultServer::faults() {
  std::lock_guard<std::mutex> g(mu_);
  return faults_;
}

HttpReply FaultServer::handle(const HttpRequest& req) {
  FaultRoute route;
  bool found, fail = false, cut = false;
  {
    std::lock_guard<std::mutex> g(mu_);
    seen_.push_back(SeenRequest{req.method, req.target, req.header("host"), req.headers});
    int n = ++count_[req.target];
    auto it = routes_.find(req.target);
    found = it != routes_.end();
    if (found) {
      route = it->second;
      fail = n <= route.fail_first;
      if (!fail && route.status == 200 && route.redirect.empty() && cuts_[req.target] < route.cut_first) {
        cut = true;
        cuts_[req.target]++;
      }
    }
  }
  if (!found || route.status == 404) return HttpReply{404, {}, "not found\n", std::nullopt};
  if (fail) return HttpReply{route.fail_status, {}, "try again\n", std::nullopt};
  if (!route.authorization.empty() && req.header("authorization") != route.authorization)
    return HttpReply{401, {}, "unauthorized\n", std::nullopt};
  if (!route.redirect.empty()) return HttpReply{302, {{"Location", route.redirect}}, "", std::nullopt};

  HttpReply r;
  std::string etag = "\"" + sha256_hex(route.body).substr(0, 16) + "\"";
  std::string range = req.header("range");
  bool range_ok = !req.headers.count("if-range") || req.header("if-range") == etag;  // else: changed, send it whole
  if (req.headers.count("if-match") && req.header("if-match") != etag) return HttpReply{412, {}, "changed\n", std::nullopt};
  // bytes=N-, bytes=A-B, bytes=-N (the last N bytes)
  const uint64_t size = route.body.size();
  uint64_t from = 0, to = size;  // [from, to)
  bool ranged = range_ok && !route.ignore_ranges && range.compare(0, 6, "bytes=") == 0;
  if (ranged) {
    std::string spec = range.substr(6);
    size_t dash = spec.find('-');
    if (dash == 0) {
      uint64_t n = std::stoull(spec.substr(1));
      from = n >= size ? 0 : size - n;
    } else {
      from = std::stoull(spec.substr(0, dash));
      if (dash + 1 < spec.size()) to = std::min<uint64_t>(size, std::stoull(spec.substr(dash + 1)) + 1);
    }
  }
  if (ranged && (from >= size || from >= to) && !(from == 0 && size == 0)) {
    r.status = 416;
    r.headers.emplace_back("Content-Range", "bytes */" + std::to_string(size));
    return r;
  }
  bool bad = false, cut_range = false;
  if (ranged) {
    std::lock_guard<std::mutex> g(mu_);
    int n = ++range_answers_[req.target];
    bad = n <= route.bad_range_first;
    cut_range = !bad && n - route.bad_range_first <= route.cut_range_first;
    const int later = n - route.bad_range_first - route.cut_range_first;
    if (route.fault_every > 0 && later > 0 && later % route.fault_every == 0) {
      faults_++;
      switch ((later / route.fault_every) % 3) {
        case 0: return HttpReply{503, {}, "try again\n", std::nullopt};
        case 1: bad = true; break;
        default: cut_range = true;
      }
    }
  }
  if (ranged) {
    r.status = 206;
    r.headers.emplace_back("Content-Range", "bytes " + std::to_string(from + (bad ? 1 : 0)) + "-" +
                                                std::to_string(to - 1 + (bad ? 1 : 0)) + "/" + std::to_string(size));
  }
  r.body = route.body.substr(size_t(from), size_t(to - from));
  if (cut_range) {
    r.content_length = r.body.size();
    r.body.resize(r.body.size() / 2);
  }
  r.headers.emplace_back("Accept-Ranges", "bytes");
  r.headers.emplace_back("Last-Modified", "Tue, 01 Oct 2024 10:00:00 GMT");
  r.headers.emplace_back("ETag", etag);
  r.headers.emplace_back("Content-Type", "application/octet-stream");
  if (cut) {  // the whole length announced, half of it sent, then the connection closes
    r.content_length = r.body.size();
    r.body.resize(r.body.size() / 2);
  }
  return r;
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
