#include "tests/support/mini_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "tools/text.h"

namespace kso::test {

namespace {

constexpr size_t kMaxHead = 1 << 20;
constexpr int kIdleMs = 10000;  // a client silent this long is dropped

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 416: return "Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

// Waits up to kIdleMs for data, then reads what there is: <= 0 on EOF, error or silence.
ssize_t recv_some(int fd, char* buf, size_t n) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, kIdleMs) <= 0) return -1;
  return recv(fd, buf, n, 0);
}

}  // namespace

LoopbackListener::LoopbackListener(OnConnection on_conn) : on_conn_(std::move(on_conn)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listen_fd_, (sockaddr*)&a, sizeof a) != 0 || listen(listen_fd_, 64) != 0) {
    close(listen_fd_);
    throw std::runtime_error("loopback listener: cannot listen");
  }
  socklen_t len = sizeof a;
  getsockname(listen_fd_, (sockaddr*)&a, &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

LoopbackListener::~LoopbackListener() {
  stop_ = true;
  acceptor_.join();
  close(listen_fd_);
  std::vector<std::thread> conns;
  {
    std::lock_guard<std::mutex> lk(mu_);
    conns.swap(conns_);
  }
  for (auto& t : conns) t.join();
}

void LoopbackListener::accept_loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;  // polling, so the destructor can end the loop
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lk(mu_);
    conns_.emplace_back([this, fd] {
      on_conn_(fd);
      close(fd);
    });
  }
}

bool send_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= size_t(w);
  }
  return true;
}

std::string read_head(int fd, std::string& extra) {
  std::string buf;
  char tmp[8192];
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    ssize_t r = recv_some(fd, tmp, sizeof tmp);
    if (r <= 0 || buf.size() > kMaxHead) return "";
    buf.append(tmp, size_t(r));
  }
  extra = buf.substr(end + 4);
  buf.resize(end + 4);
  return buf;
}

std::string form_decode(std::string s) {
  for (auto& c : s)
    if (c == '+') c = ' ';
  return url_unescape(s);
}

std::string HttpRequest::query_param(const std::string& name) const {
  size_t start = 0;
  while (start <= query.size()) {
    size_t amp = query.find('&', start);
    std::string kv = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    auto eq = kv.find('=');
    if (form_decode(kv.substr(0, eq)) == name) return eq == std::string::npos ? "" : form_decode(kv.substr(eq + 1));
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  return "";
}

MiniHttpServer::MiniHttpServer(Handler h) : handler_(std::move(h)), listener_([this](int fd) { serve(fd); }) {}

void MiniHttpServer::serve(int fd) {
  std::string body;
  std::string head = read_head(fd, body);
  if (head.empty()) return;
  HttpRequest req;
  size_t eol = head.find("\r\n");
  std::string line = head.substr(0, eol);
  size_t s1 = line.find(' '), s2 = line.find(' ', s1 + 1);
  if (s1 == std::string::npos || s2 == std::string::npos) return;
  req.method = line.substr(0, s1);
  req.target = line.substr(s1 + 1, s2 - s1 - 1);
  auto q = req.target.find('?');
  req.path = req.target.substr(0, q);
  if (q != std::string::npos) req.query = req.target.substr(q + 1);
  for (size_t pos = eol + 2; pos < head.size();) {
    size_t e = head.find("\r\n", pos);
    std::string h = head.substr(pos, e - pos);
    pos = e + 2;
    auto colon = h.find(':');
    if (colon == std::string::npos) continue;
    std::string name = lower(h.substr(0, colon));
    size_t v = h.find_first_not_of(' ', colon + 1);
    req.headers[name] = v == std::string::npos ? "" : h.substr(v);
  }
  size_t want = req.headers.count("content-length") ? std::stoul(req.headers["content-length"]) : 0;
  char buf[8192];
  while (body.size() < want) {
    ssize_t n = recv_some(fd, buf, sizeof buf);
    if (n <= 0) return;
    body.append(buf, size_t(n));
  }
  req.body = std::move(body);
  requests_++;
  HttpReply r;
  try {
    r = handler_(req);
  } catch (const std::exception& e) {
    r = HttpReply{500, {}, std::string("handler failed: ") + e.what(), std::nullopt};
  }
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) + "\r\n";
  bool has_ct = false;
  for (auto& [k, v] : r.headers) {
    out += k + ": " + v + "\r\n";
    if (strcasecmp(k.c_str(), "Content-Type") == 0) has_ct = true;
  }
  if (!has_ct) out += "Content-Type: application/json\r\n";
  out += "Content-Length: " + std::to_string(r.content_length ? *r.content_length : r.body.size()) + "\r\n";
  out += "Connection: close\r\n\r\n";
  if (req.method != "HEAD") out += r.body;
  send_all(fd, out.data(), out.size());
  shutdown(fd, SHUT_WR);
}

}  // namespace kso::test
