#include "index/format.h"

#include <xxhash.h>

#include <cstring>

#include "index/error.h"

namespace kso {
namespace {

void put32(char* p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = char(v >> (8 * i)); }
void put64(char* p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = char(v >> (8 * i)); }
uint32_t get32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= uint32_t(uint8_t(p[i])) << (8 * i);
  return v;
}
uint64_t get64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= uint64_t(uint8_t(p[i])) << (8 * i);
  return v;
}

// Header: magic 8 | version 4 | flags 4 | created 8 | reserved 32 | xxh3 of bytes 0..56 8
constexpr size_t kHeaderSumAt = kHeaderSize - 8;
// Trailer: magic 8 | version 4 | reserved 4 | 9 x u64 fields 72 | xxh3 of bytes 0..88 8
constexpr size_t kTrailerSumAt = kTrailerSize - 8;

}  // namespace

uint64_t xxh3(const void* data, size_t len) { return XXH3_64bits(data, len); }

std::string encode_header(const PackHeader& h) {
  std::string b(kHeaderSize, '\0');
  memcpy(b.data(), kPackMagic, 8);
  put32(&b[8], h.version);
  put32(&b[12], h.flags);
  put64(&b[16], uint64_t(h.created_unix));
  put64(&b[kHeaderSumAt], xxh3(b.data(), kHeaderSumAt));
  return b;
}

PackHeader decode_header(std::string_view b) {
  if (b.size() < kHeaderSize || memcmp(b.data(), kPackMagic, 8) != 0)
    throw Error("not a kso pack (bad magic)", EINVAL);
  PackHeader h;
  h.version = get32(&b[8]);
  if (h.version != kFormatVersion)
    throw Error("unsupported pack format version " + std::to_string(h.version) + " (this kso reads " +
                    std::to_string(kFormatVersion) + ")",
                EINVAL);
  if (get64(&b[kHeaderSumAt]) != xxh3(b.data(), kHeaderSumAt)) throw CorruptError("pack header checksum mismatch");
  h.flags = get32(&b[12]);
  h.created_unix = int64_t(get64(&b[16]));
  return h;
}

std::string encode_trailer(const PackTrailer& t) {
  std::string b(kTrailerSize, '\0');
  memcpy(b.data(), kTrailerMagic, 8);
  put32(&b[8], t.version);
  const uint64_t f[] = {t.data_end,   t.block_table_offset, t.block_count, t.block_table_xxh3, t.index_offset,
                        t.index_size, t.index_xxh3,         t.page_count,  t.page_table_xxh3};
  for (size_t i = 0; i < std::size(f); i++) put64(&b[16 + 8 * i], f[i]);
  put64(&b[kTrailerSumAt], xxh3(b.data(), kTrailerSumAt));
  return b;
}

PackTrailer decode_trailer(std::string_view b) {
  if (b.size() < kTrailerSize || memcmp(b.data(), kTrailerMagic, 8) != 0)
    throw CorruptError("pack is truncated or damaged (no trailer at its end)");
  if (get64(&b[kTrailerSumAt]) != xxh3(b.data(), kTrailerSumAt)) throw CorruptError("pack trailer checksum mismatch");
  PackTrailer t;
  t.version = get32(&b[8]);
  uint64_t* f[] = {&t.data_end,   &t.block_table_offset, &t.block_count, &t.block_table_xxh3, &t.index_offset,
                   &t.index_size, &t.index_xxh3,         &t.page_count,  &t.page_table_xxh3};
  for (size_t i = 0; i < std::size(f); i++) *f[i] = get64(&b[16 + 8 * i]);
  return t;
}

void encode_block_entry(const BlockEntry& e, char* out) {
  memset(out, 0, kBlockEntrySize);
  put64(out, e.offset);
  put32(out + 8, e.stored_size);
  put32(out + 12, e.raw_size);
  put64(out + 16, e.xxh3);
  put32(out + 24, uint32_t(e.codec));
  put32(out + 28, e.first_page);
}

BlockEntry decode_block_entry(const char* in) {
  BlockEntry e;
  e.offset = get64(in);
  e.stored_size = get32(in + 8);
  e.raw_size = get32(in + 12);
  e.xxh3 = get64(in + 16);
  e.codec = Codec(get32(in + 24));
  e.first_page = get32(in + 28);
  return e;
}

}  // namespace kso
