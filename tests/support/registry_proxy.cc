#include "tests/support/registry_proxy.h"

#include <curl/curl.h>
#include <strings.h>

namespace kso::test {

namespace {

size_t on_body(char* p, size_t sz, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, sz * n);
  return sz * n;
}

size_t on_header(char* p, size_t sz, size_t n, void* ud) {
  auto* r = static_cast<HttpReply*>(ud);
  std::string line(p, sz * n);
  if (line.rfind("HTTP/", 0) == 0) {
    r->headers.clear();  // a new response (after 100-continue etc.)
    return sz * n;
  }
  auto colon = line.find(':');
  if (colon == std::string::npos) return sz * n;
  std::string k = line.substr(0, colon), v = line.substr(colon + 1);
  while (!v.empty() && (v.front() == ' ')) v.erase(0, 1);
  while (!v.empty() && (v.back() == '\r' || v.back() == '\n')) v.pop_back();
  for (const char* hop : {"Content-Length", "Connection", "Transfer-Encoding", "Keep-Alive"})
    if (strcasecmp(k.c_str(), hop) == 0) {
      if (strcasecmp(hop, "Content-Length") == 0) r->content_length = std::stoull(v);
      return sz * n;
    }
  r->headers.emplace_back(k, v);
  return sz * n;
}

}  // namespace

RegistryProxy::RegistryProxy(std::string upstream, Options o) : upstream_(std::move(upstream)), o_(std::move(o)) {
  http_ = std::make_unique<MiniHttpServer>([this](const HttpRequest& req) { return handle(req); });
}

RegistryProxy::~RegistryProxy() { http_.reset(); }

HttpReply RegistryProxy::handle(const HttpRequest& req) {
  bool blob = req.path.find("/blobs/sha256:") != std::string::npos;
  if (!req.header("authorization").empty()) with_auth_++;
  if (blob && req.method == "GET" && o_.redirect_blobs) {
    // another host name: clients must not send it their Authorization
    std::string to = o_.redirect_to.empty() ? "http://localhost:" + upstream_.substr(upstream_.rfind(':') + 1) : o_.redirect_to;
    redirects_++;
    return HttpReply{307, {{"Location", to + req.target}}, "", std::nullopt};
  }
  HttpReply r;
  CURL* c = curl_easy_init();
  std::string url = "http://" + upstream_ + req.target;
  curl_slist* hdrs = nullptr;
  for (const char* h : {"accept", "authorization", "range"})
    if (!req.header(h).empty()) hdrs = curl_slist_append(hdrs, (std::string(h) + ": " + req.header(h)).c_str());
  if (req.header("authorization").empty() && !o_.upstream_basic.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERPWD, o_.upstream_basic.c_str());
  }
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  if (req.method == "HEAD") curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  CURLcode rc = curl_easy_perform(c);
  long status = 502;
  if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(hdrs);
  curl_easy_cleanup(c);
  r.status = int(status);
  if (req.method != "HEAD") r.content_length.reset();  // the body we send is what counts
  if (req.method == "GET" && !o_.corrupt_digest.empty() &&
      req.path.find(o_.corrupt_digest) != std::string::npos && !r.body.empty()) {
    r.body[r.body.size() / 2] ^= 0x5a;
    corrupted_++;
  }
  return r;
}

}  // namespace kso::test
