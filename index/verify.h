// Proving a pack with SHA-256: its identity and each block's digest, what
// `kso-pack verify`, `sign`, `delta` and `manifest` check before they trust a
// pack. In kso_hash (OpenSSL): a mount never computes these; it checks XXH3.
#pragma once
#include <cstdint>

#include "index/hash.h"
#include "index/pack_reader.h"

namespace kso {

// SHA-256 of `p`'s metadata region as the pack holds it now (compare with
// p.identity()). Throws Error on a read failure.
Digest compute_identity(const Pack& p);

// Pack::check_block with the SHA-256 of the stored bytes checked too, after
// their XXH3. Throws CorruptError naming the block and what is wrong.
void verify_block(const Pack& p, uint32_t id);

}  // namespace kso
