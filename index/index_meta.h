// What a tool may rely on in a pack's index besides the Pack API: the build
// parameters recorded in `meta` and the layout of a content's chunk records
// (docs/FORMAT.md). The schema itself is internal to index/.
#pragma once
#include <cstddef>
#include <cstdint>

namespace kso {

// chunks BLOB of `contents`: one 12-byte record per chunk, little-endian
// {u32 block, u32 offset in block, u32 length}; file offsets are cumulative.
constexpr size_t kChunkRecordSize = 12;

// Build parameters recorded in `meta`, each a decimal integer except `order`.
constexpr const char* kMetaCreated = "created_unix";      // build time, Unix seconds
constexpr const char* kMetaChunkMin = "chunk_min";        // FastCDC sizes, bytes
constexpr const char* kMetaChunkAvg = "chunk_avg";
constexpr const char* kMetaChunkMax = "chunk_max";
constexpr const char* kMetaBlockSize = "block_size";      // compressible stream's block size
constexpr const char* kMetaRawBlockSize = "raw_block_size";  // already-compressed stream's
constexpr const char* kMetaZstdLevel = "zstd_level";
constexpr const char* kMetaOrder = "order";               // "tree" or "similar"
constexpr const char* kMetaProfile = "profile";           // v4 on: "fast" or "max" (absent in v2/v3: fast)
// v4 on, optional: a JSON object {pack path: URL} of files downloaded from
// somewhere other than the URL their path names (redirects, mirrors).
constexpr const char* kMetaSourceUrls = "source_urls";
constexpr const char* kMetaIntegerKeys[] = {kMetaCreated,   kMetaChunkMin,     kMetaChunkAvg,  kMetaChunkMax,
                                            kMetaBlockSize, kMetaRawBlockSize, kMetaZstdLevel};

}  // namespace kso
