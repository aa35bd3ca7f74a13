// A registry token server for the Bearer flow (docker's token auth spec):
// GET /token?service=S&scope=repository:NAME:pull[,push] returns a JWT signed
// RS256 with a throw-away key whose self-signed certificate the registry
// trusts (auth.token.rootcertbundle). Grants whatever the scope asks for,
// to anyone, or only to one Basic-auth user when configured.
#pragma once
#include <atomic>
#include <filesystem>
#include <memory>
#include <string>

#include "tests/support/mini_http.h"

namespace kso::test {

class TokenServer {
 public:
  // Writes key.pem and cert.pem into dir. Empty user = anonymous tokens.
  TokenServer(const std::filesystem::path& dir, std::string user = "", std::string password = "");
  ~TokenServer();

  std::string realm() const { return http_->url() + "/token"; }
  const std::filesystem::path& cert() const { return cert_; }
  static constexpr const char* kService = "kso-test-registry";
  static constexpr const char* kIssuer = "kso-test-token-issuer";
  uint64_t tokens_issued() const { return issued_; }
  uint64_t refused() const { return refused_; }

 private:
  HttpReply handle(const HttpRequest& req);
  std::string sign(const std::string& data) const;  // RS256 signature bytes

  std::string user_, password_;
  std::filesystem::path key_, cert_;
  std::string x5c_;    // base64 DER of the certificate
  void* pkey_ = nullptr;  // EVP_PKEY*
  std::atomic<uint64_t> issued_{0}, refused_{0};
  std::unique_ptr<MiniHttpServer> http_;
};

}  // namespace kso::test
