// A SHA-256 digest as the pack stores it (file, chunk and block identity) and
// its hex form. Computing one is index/sha256.h (OpenSSL), which the reader
// does not need: it compares digests, the writer and the verifier make them.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace kso {

using Digest = std::array<uint8_t, 32>;

struct DigestHash {  // for unordered maps keyed by a digest: its first 8 bytes are uniform
  size_t operator()(const Digest& d) const {
    size_t v;
    __builtin_memcpy(&v, d.data(), sizeof v);
    return v;
  }
};

std::string to_hex(const uint8_t* data, size_t len);  // lower-case hex of `len` bytes
inline std::string to_hex(const Digest& d) { return to_hex(d.data(), d.size()); }

}  // namespace kso
