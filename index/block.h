// One compression block: how it is encoded for the data region and decoded
// (checksum first, then zstd) on the way out.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "index/format.h"

namespace kso {

// A block keeps zstd only if it saves at least this share of its size;
// otherwise it is stored raw and served without decompression.
constexpr double kMinSavings = 0.03;

struct EncodedBlock {
  std::string stored;  // bytes for the data region
  Codec codec = Codec::Raw;
  uint8_t filter = 0;  // ExecFilter applied before zstd (format v4), 0: none
  uint64_t xxh3 = 0;   // checksum of `stored`
  std::vector<uint64_t> page_sums;  // raw blocks: XXH3 of each kRawPageSize page
};

// Compresses `raw` at `level` (level 0: never try) and keeps the smaller form.
// With an executable filter (index/exec_filter.h), zstd of the filtered bytes
// is tried too and kept only if it is the smallest; a filtered frame is
// decoded again and compared with `raw` before it is kept.
EncodedBlock encode_block(std::string_view raw, int level, uint8_t filter = 0);
// Checks `stored` against `e` (size, XXH3) and returns the raw bytes. Throws
// CorruptError naming block `id` on a checksum, size or frame mismatch.
std::string decode_block(uint32_t id, const BlockEntry& e, std::string&& stored);
// The same for stored bytes already checked against `e.xxh3`.
std::string decode_stored(uint32_t id, const BlockEntry& e, std::string&& stored);

}  // namespace kso
