#include "index/sha256.h"

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

}  // namespace kso
