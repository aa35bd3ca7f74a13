#include "index/hash.h"

#include <openssl/evp.h>

#include "index/error.h"

namespace kso {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) throw Error("OpenSSL SHA-256 init failed");
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::update(const void* data, size_t len) { EVP_DigestUpdate(ctx_, data, len); }

Digest Sha256::finish() {
  Digest d;
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx_, d.data(), &n);
  EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
  return d;
}

Digest sha256(const void* data, size_t len) {
  Digest d;
  unsigned int n = 0;
  EVP_Digest(data, len, d.data(), &n, EVP_sha256(), nullptr);
  return d;
}

std::string to_hex(const uint8_t* data, size_t len) {
  static const char* x = "0123456789abcdef";
  std::string s(len * 2, '0');
  for (size_t i = 0; i < len; i++) {
    s[2 * i] = x[data[i] >> 4];
    s[2 * i + 1] = x[data[i] & 15];
  }
  return s;
}

}  // namespace kso
