// SHA-256 (OpenSSL, uses the CPU's SHA extensions) for file and chunk identity.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace kso {

using Digest = std::array<uint8_t, 32>;

struct DigestHash {  // for unordered maps keyed by a digest: its first 8 bytes are uniform
  size_t operator()(const Digest& d) const {
    size_t v;
    __builtin_memcpy(&v, d.data(), sizeof v);
    return v;
  }
};

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t len);  // feeds bytes
  Digest finish();                            // the digest; resets for reuse

 private:
  EVP_MD_CTX* ctx_;
};

Digest sha256(const void* data, size_t len);      // one-shot
std::string to_hex(const uint8_t* data, size_t len);
inline std::string to_hex(const Digest& d) { return to_hex(d.data(), d.size()); }

}  // namespace kso
