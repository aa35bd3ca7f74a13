// On-disk layout of a pack (format v1). docs/FORMAT.md describes it in prose.
//
//   [header 64 B][pad to 4 KiB][data region: blocks][block table][page table][pad]
//   [index: SQLite db][trailer 96 B]
//
// All integers little-endian. The trailer sits at the end so a reader finds
// everything from the last 96 bytes without scanning the data region.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kso {

constexpr char kPackMagic[8] = {'K', 'S', 'O', 'P', 'A', 'C', 'K', '\0'};
constexpr char kTrailerMagic[8] = {'K', 'S', 'O', 'T', 'R', 'A', 'I', 'L'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderSize = 64;
constexpr size_t kTrailerSize = 96;
constexpr uint64_t kDataStart = 4096;      // data region starts page-aligned
constexpr uint64_t kIndexAlign = 4096;     // the SQLite index starts page-aligned
constexpr size_t kBlockEntrySize = 32;
// Raw blocks also carry one checksum per page of this many bytes, so a small
// read verifies (and reads) only the pages it touches, not the whole block.
constexpr uint32_t kRawPageSize = 64 * 1024;

enum class Codec : uint32_t { Raw = 0, Zstd = 1 };

struct PackHeader {
  uint32_t version = kFormatVersion;
  uint32_t flags = 0;
  int64_t created_unix = 0;
};

// One entry of the block table: where a block is and how to check it.
struct BlockEntry {
  uint64_t offset = 0;       // absolute offset in the pack file
  uint32_t stored_size = 0;  // bytes on disk
  uint32_t raw_size = 0;     // bytes after decompression
  uint64_t xxh3 = 0;         // XXH3-64 of the stored bytes
  Codec codec = Codec::Raw;
  uint32_t first_page = 0;   // raw blocks: index of their first page checksum
};

// Pages of a raw block of `stored_size` bytes (the last may be short).
inline uint32_t raw_pages(uint32_t stored_size) { return (stored_size + kRawPageSize - 1) / kRawPageSize; }

struct PackTrailer {
  uint32_t version = kFormatVersion;
  uint64_t data_end = 0;            // end of the data region
  uint64_t block_table_offset = 0;
  uint64_t block_count = 0;
  uint64_t block_table_xxh3 = 0;
  uint64_t index_offset = 0;
  uint64_t index_size = 0;
  uint64_t index_xxh3 = 0;
  uint64_t page_count = 0;          // page checksums, right after the block table
  uint64_t page_table_xxh3 = 0;
};

std::string encode_header(const PackHeader& h);                 // kHeaderSize bytes
PackHeader decode_header(std::string_view bytes);               // throws Error
std::string encode_trailer(const PackTrailer& t);               // kTrailerSize bytes
PackTrailer decode_trailer(std::string_view bytes);             // throws Error
void encode_block_entry(const BlockEntry& e, char* out);        // kBlockEntrySize bytes
BlockEntry decode_block_entry(const char* in);

uint64_t xxh3(const void* data, size_t len);                    // XXH3-64, seed 0

}  // namespace kso
