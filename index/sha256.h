// Computing SHA-256 (OpenSSL, which uses the CPU's SHA extensions): what the
// writer, the verifier and the downloaders need, and a mount does not (the
// kso_hash library; the reader only compares the digests the pack holds).
#pragma once
#include <cstddef>

#include "index/hash.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace kso {

class Sha256 {
 public:
  Sha256();  // throws Error if OpenSSL cannot set up SHA-256
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t len);  // feeds bytes
  Digest finish();                            // the digest; resets for reuse

 private:
  EVP_MD_CTX* ctx_;
};

Digest sha256(const void* data, size_t len);  // one-shot

}  // namespace kso
