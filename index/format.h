// On-disk layout of a pack, format v4. docs/FORMAT.md describes every byte;
// a test checks its tables against the field lists below.
//
//   [header 64 B][zero to 4 KiB][data region: blocks back to back]
//   [metadata region: superblock 128 B | base table | block table |
//    page table | index page table | zero to 4 KiB | index (SQLite)][trailer 64 B]
//
// v3 adds delta packs: a base table naming other packs by identity, and block
// entries that stand for a block of one of those bases. v2 is v3 without
// either (its base table is empty), and is read forever.
//
// v4 adds executable filters: a block entry's `filter` byte may name a BCJ
// transform (index/exec_filter.h) undone after zstd. A pack that uses none is
// written as v3 (what `--profile fast`, the default, writes: its bytes are
// those of the kso before v4), so only packs that need v4 refuse older readers.
//
// All integers little-endian. The trailer sits at the end so a reader finds
// everything from the last 64 bytes without scanning the data region. The
// pack's identity is the SHA-256 of the metadata region; every block's
// SHA-256 is in the block table, so the identity covers every byte.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "index/hash.h"

namespace kso {

constexpr uint32_t kFormatVersion = 4;         // the newest this kso writes (and reads)
constexpr uint32_t kOldestReadableVersion = 2;  // every version from here on is read
// What the writer writes when the pack uses nothing of v4: no filtered block
// and no `--profile max` (whose `profile` meta key v3 readers do not know).
constexpr uint32_t kPlainFormatVersion = 3;
constexpr uint32_t kFirstFilterVersion = 4;  // block filters, meta `profile` and `source_urls` exist from here on
constexpr size_t kHeaderSize = 64;
constexpr size_t kTrailerSize = 64;
constexpr size_t kSuperblockSize = 128;
constexpr size_t kBlockEntrySize = 64;
constexpr size_t kBaseEntrySize = 128;
// A delta names at most this many bases directly (a chain goes deeper through
// them); the block entry's `base` field could count more, a site never needs to.
constexpr uint32_t kMaxBases = 255;
constexpr uint64_t kDataStart = 4096;    // the data region starts page-aligned
constexpr uint64_t kIndexAlign = 4096;   // so does the SQLite index
// The index is checked in pages of this many bytes (SQLite's page size too),
// one XXH3-64 each, as SQLite reads them: index bytes are verified on every
// read, not once at open.
constexpr uint32_t kIndexPageSize = 4096;
// Raw blocks carry one XXH3-64 per page of this many bytes, so a small read
// verifies (and reads) only the pages it touches, not the whole block.
constexpr uint32_t kRawPageSize = 64 * 1024;
// No block decodes to more than this (the writer's largest block size): a
// hostile block table cannot make a reader allocate more.
constexpr uint32_t kMaxBlockSize = 64u << 20;

// A field of a fixed-size on-disk structure.
struct Field {
  const char* name;
  uint32_t offset, size;
};

// Header: locates nothing, names the format and repeats the identity.
namespace hdr {
constexpr Field magic{"magic", 0, 8}, version{"version", 8, 4}, flags{"flags", 12, 4},
    identity{"identity", 16, 32}, reserved{"reserved", 48, 8}, xxh3{"xxh3", 56, 8};
constexpr Field all[] = {magic, version, flags, identity, reserved, xxh3};
}  // namespace hdr

// Trailer: the last 64 bytes; points at the metadata region.
namespace trl {
constexpr Field magic{"magic", 0, 8}, version{"version", 8, 4}, flags{"flags", 12, 4},
    meta_offset{"meta_offset", 16, 8}, identity{"identity", 24, 32}, xxh3{"xxh3", 56, 8};
constexpr Field all[] = {magic, version, flags, meta_offset, identity, xxh3};
}  // namespace trl

// Superblock: the first 128 bytes of the metadata region.
namespace sb {
constexpr Field magic{"magic", 0, 8}, version{"version", 8, 4}, flags{"flags", 12, 4},
    block_count{"block_count", 16, 8}, page_count{"page_count", 24, 8}, index_offset{"index_offset", 32, 8},
    index_size{"index_size", 40, 8}, block_table_xxh3{"block_table_xxh3", 48, 8},
    page_table_xxh3{"page_table_xxh3", 56, 8}, index_pages_xxh3{"index_pages_xxh3", 64, 8},
    base_count{"base_count", 72, 8}, base_table_xxh3{"base_table_xxh3", 80, 8}, reserved{"reserved", 88, 32},
    xxh3{"xxh3", 120, 8};
constexpr Field all[] = {magic,           version,         flags,      block_count,     page_count,
                         index_offset,    index_size,      block_table_xxh3, page_table_xxh3, index_pages_xxh3,
                         base_count,      base_table_xxh3, reserved,   xxh3};
}  // namespace sb

// Base table entry (v3): a pack this delta takes blocks from, by identity.
namespace bse {
constexpr Field identity{"identity", 0, 32}, pack_size{"pack_size", 32, 8}, reserved{"reserved", 40, 24},
    name{"name", 64, 64};
constexpr Field all[] = {identity, pack_size, reserved, name};
}  // namespace bse

// Block table entry: where a block is, how it is coded, how to check it.
namespace blk {
constexpr Field offset{"offset", 0, 8}, stored_size{"stored_size", 8, 4}, raw_size{"raw_size", 12, 4},
    xxh3{"xxh3", 16, 8}, codec{"codec", 24, 1}, filter{"filter", 25, 1}, base{"base", 26, 2},
    first_page{"first_page", 28, 4}, sha256{"sha256", 32, 32};
constexpr Field all[] = {offset, stored_size, raw_size, xxh3, codec, filter, base, first_page, sha256};
}  // namespace blk

constexpr char kPackMagic[8] = {'K', 'S', 'O', 'P', 'A', 'C', 'K', '\0'};
constexpr char kTrailerMagic[8] = {'K', 'S', 'O', 'T', 'R', 'A', 'I', 'L'};
constexpr char kSuperMagic[8] = {'K', 'S', 'O', 'S', 'U', 'P', 'E', 'R'};

// How a block's stored bytes become its raw bytes. Unknown values are
// refused at open. A later format adds codecs and filters as new values.
enum class Codec : uint8_t { Raw = 0, Zstd = 1 };
constexpr uint8_t kMaxCodec = 1;

// Header and trailer carry the same few facts; decode checks magic, version,
// checksum, and that flags and reserved bytes are zero.
struct PackEnds {
  uint32_t version = kFormatVersion;
  uint64_t meta_offset = 0;  // trailer only
  Digest identity{};
};

struct Superblock {
  uint32_t version = kFormatVersion;
  uint64_t block_count = 0;
  uint64_t page_count = 0;       // raw blocks' page checksums
  uint64_t index_offset = 0;     // absolute, a multiple of kIndexAlign
  uint64_t index_size = 0;       // a multiple of kIndexPageSize
  uint64_t block_table_xxh3 = 0;
  uint64_t page_table_xxh3 = 0;
  uint64_t index_pages_xxh3 = 0;
  uint64_t base_count = 0;       // v3: entries in the base table (0: a standalone pack)
  uint64_t base_table_xxh3 = 0;  // v3: XXH3 of the base table; v2: 0
};

// One entry of the base table: a pack a delta needs, found by its identity.
struct BaseEntry {
  Digest identity{};
  uint64_t pack_size = 0;  // the base's size in bytes
  std::string name;        // its file name when the delta was built: a hint only (<= 64 bytes)
};

// One entry of the block table.
struct BlockEntry {
  uint64_t offset = 0;       // absolute offset in the pack file
  uint32_t stored_size = 0;  // bytes on disk
  uint32_t raw_size = 0;     // bytes after decoding
  uint64_t xxh3 = 0;         // XXH3-64 of the stored bytes: checked on every read
  Codec codec = Codec::Raw;
  uint8_t filter = 0;        // ExecFilter (v4): 0 none, 1 x86, 2 arm64; zstd blocks only
  // 0: the block is in this pack's data region. k >= 1 (v3): it is block
  // `offset` of base k (1-based into the base table), whose entry must carry
  // the same sizes, codec, filter and checksums as this one.
  uint16_t base = 0;
  uint32_t first_page = 0;   // raw blocks of this pack: index of their first page checksum
  Digest sha256{};           // of the stored bytes: the cryptographic chain
};

// Pages of a raw block of `stored_size` bytes (the last may be short).
inline uint32_t raw_pages(uint32_t stored_size) { return (stored_size + kRawPageSize - 1) / kRawPageSize; }

std::string encode_header(const PackEnds& h);            // kHeaderSize bytes
PackEnds decode_header(std::string_view bytes);          // throws Error / CorruptError
std::string encode_trailer(const PackEnds& t);           // kTrailerSize bytes
PackEnds decode_trailer(std::string_view bytes);
std::string encode_superblock(const Superblock& s);      // kSuperblockSize bytes
Superblock decode_superblock(std::string_view bytes);
void encode_base_entry(const BaseEntry& e, char* out);    // kBaseEntrySize bytes; throws if the name is too long
BaseEntry decode_base_entry(const char* in);             // throws CorruptError on reserved bytes or a bad name
void encode_block_entry(const BlockEntry& e, char* out);  // kBlockEntrySize bytes
BlockEntry decode_block_entry(const char* in);           // no checks: the reader validates the table

// The metadata region of a pack whose data region ends at `meta_offset`:
// superblock, base table, block table, page table, index page table, zeros to
// the next kIndexAlign, then `index` (a whole number of kIndexPageSize pages).
// Its SHA-256 is the pack's identity. Throws Error if `index` is not whole pages.
std::string encode_metadata(uint64_t meta_offset, const std::vector<BlockEntry>& blocks,
                            const std::vector<uint64_t>& page_sums, const std::string& index,
                            const std::vector<BaseEntry>& bases = {}, uint32_t version = kFormatVersion);

// The same content, wherever stored: what a delta's entry for a base block
// must share with the base's own entry.
bool same_block_content(const BlockEntry& a, const BlockEntry& b);

uint64_t xxh3(const void* data, size_t len);             // XXH3-64, seed 0
void put_le(char* p, uint64_t v, size_t n);              // n little-endian bytes of v
uint64_t get_le(const char* p, size_t n);

}  // namespace kso
