#include "tests/support/token_server.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "tests/support/testutil.h"
#include "tools/text.h"

namespace kso::test {

TokenServer::TokenServer(const std::filesystem::path& dir, std::string user, std::string password)
    : user_(std::move(user)), password_(std::move(password)), key_(dir / "token-key.pem"), cert_(dir / "token-cert.pem") {
  std::filesystem::create_directories(dir);
  auto r = run("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + q(key_) + " -out " + q(cert_) +
               " -subj /CN=kso-test-token -days 2 2>&1");
  if (r.status != 0) throw std::runtime_error("openssl req failed: " + r.output);
  FILE* f = fopen(key_.c_str(), "r");
  if (!f) throw std::runtime_error("cannot open token key");
  pkey_ = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  fclose(f);
  f = fopen(cert_.c_str(), "r");
  if (!f) throw std::runtime_error("cannot open token cert");
  X509* x = PEM_read_X509(f, nullptr, nullptr, nullptr);
  fclose(f);
  if (!pkey_ || !x) throw std::runtime_error("cannot load token key/cert");
  unsigned char* der = nullptr;
  int len = i2d_X509(x, &der);
  x5c_ = base64_encode(std::string((char*)der, size_t(len)));
  OPENSSL_free(der);
  X509_free(x);
  http_ = std::make_unique<MiniHttpServer>([this](const HttpRequest& req) { return handle(req); });
}

TokenServer::~TokenServer() {
  http_.reset();
  EVP_PKEY_free((EVP_PKEY*)pkey_);
}

std::string TokenServer::sign(const std::string& data) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  std::string sig;
  if (EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, (EVP_PKEY*)pkey_) == 1 &&
      EVP_DigestSign(ctx, nullptr, &len, (const unsigned char*)data.data(), data.size()) == 1) {
    sig.resize(len);
    EVP_DigestSign(ctx, (unsigned char*)sig.data(), &len, (const unsigned char*)data.data(), data.size());
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  if (sig.empty()) throw std::runtime_error("token signing failed");
  return sig;
}

HttpReply TokenServer::handle(const HttpRequest& req) {
  using nlohmann::json;
  if (req.path != "/token") return HttpReply{404, {}, "{}", std::nullopt};
  if (!user_.empty()) {
    std::string want = "Basic " + base64_encode(user_ + ":" + password_);
    if (req.header("authorization") != want) {
      refused_++;
      return HttpReply{401, {{"WWW-Authenticate", "Basic realm=\"kso-test-token\""}}, R"({"details":"bad credentials"})",
                       std::nullopt};
    }
  }
  // every scope parameter: "repository:NAME:ACTION[,ACTION]"
  json access = json::array();
  size_t start = 0;
  while (start <= req.query.size()) {
    size_t amp = req.query.find('&', start);
    std::string kv = req.query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    if (kv.rfind("scope=", 0) == 0) {
      std::string scope = form_decode(kv.substr(6));
      auto c1 = scope.find(':'), c2 = scope.rfind(':');
      if (c1 != std::string::npos && c2 > c1) {
        json actions = json::array();
        std::string acts = scope.substr(c2 + 1);
        size_t s = 0;
        while (s <= acts.size()) {
          size_t comma = acts.find(',', s);
          std::string a = acts.substr(s, comma == std::string::npos ? std::string::npos : comma - s);
          if (!a.empty()) actions.push_back(a);
          if (comma == std::string::npos) break;
          s = comma + 1;
        }
        access.push_back({{"type", scope.substr(0, c1)}, {"name", scope.substr(c1 + 1, c2 - c1 - 1)}, {"actions", actions}});
      }
    }
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
  int64_t now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  json header = {{"typ", "JWT"}, {"alg", "RS256"}, {"x5c", json::array({x5c_})}};
  json claims = {{"iss", kIssuer},     {"sub", user_.empty() ? "anonymous" : user_},
                 {"aud", kService},    {"exp", now + 600},
                 {"nbf", now - 10},    {"iat", now},
                 {"jti", std::to_string(now) + "-" + std::to_string(issued_.load())},
                 {"access", access}};
  std::string signing_input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
  std::string token = signing_input + "." + base64url_encode(sign(signing_input));
  issued_++;
  json body = {{"token", token}, {"access_token", token}, {"expires_in", 600}};
  return HttpReply{200, {}, body.dump(), std::nullopt};
}

}  // namespace kso::test
