#include "index/verify.h"

#include <algorithm>
#include <string>

#include "index/error.h"
#include "index/format.h"
#include "index/sha256.h"

namespace kso {

Digest compute_identity(const Pack& p) {
  constexpr size_t kChunk = 1u << 20;
  Sha256 h;
  std::string buf;
  const uint64_t from = p.meta_offset(), to = p.file_size() - kTrailerSize;
  for (uint64_t off = from; off < to; off += kChunk) {
    size_t n = size_t(std::min<uint64_t>(kChunk, to - off));
    buf.resize(n);
    p.source().read(off, n, buf.data());
    h.update(buf.data(), n);
  }
  return h.finish();
}

void verify_block(const Pack& p, uint32_t id) {
  p.check_block(id, [](const BlockEntry& e, std::string_view stored) {
    if (sha256(stored.data(), stored.size()) != e.sha256)
      throw CorruptError("SHA-256 mismatch (the XXH3 matched: tampered?)");
  });
}

}  // namespace kso
