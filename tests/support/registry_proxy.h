// A misbehaving front for a test registry: forwards the Registry API to it,
// and optionally redirects blob GETs to another host name (a CDN, as Docker
// Hub and quay.io do) or flips a byte in one blob's body (a corrupt upstream).
#pragma once
#include <atomic>
#include <memory>
#include <string>

#include "tests/support/mini_http.h"

namespace kso::test {

class RegistryProxy {
 public:
  struct Options {
    bool redirect_blobs = false;     // 307 blob GETs to redirect_to + the same path
    std::string redirect_to;         // default "http://localhost:<upstream port>" (another host name)
    std::string corrupt_digest;      // "sha256:..." whose GET body (blob or manifest) gets one byte changed
    std::string upstream_basic;      // "USER:PASS" sent upstream when the client sent no Authorization (a CDN's own access)
  };
  // upstream: "127.0.0.1:PORT" of the real registry.
  RegistryProxy(std::string upstream, Options o);
  ~RegistryProxy();

  std::string host() const { return http_->host(); }
  uint64_t redirects() const { return redirects_; }
  uint64_t corrupted() const { return corrupted_; }
  uint64_t requests() const { return http_->requests(); }
  uint64_t with_authorization() const { return with_auth_; }  // requests that carried an Authorization header

 private:
  HttpReply handle(const HttpRequest& req);

  std::string upstream_;
  Options o_;
  std::atomic<uint64_t> redirects_{0}, corrupted_{0}, with_auth_{0};
  std::unique_ptr<MiniHttpServer> http_;
};

}  // namespace kso::test
