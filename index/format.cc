#include "index/format.h"

#include <xxhash.h>

#include <cstring>

#include "index/error.h"

namespace kso {
namespace {

void put(std::string& b, const Field& f, uint64_t v) { put_le(&b[f.offset], v, f.size); }
uint64_t get(std::string_view b, const Field& f) { return get_le(&b[f.offset], f.size); }
void put_bytes(std::string& b, const Field& f, const void* p) { memcpy(&b[f.offset], p, f.size); }
bool all_zero(std::string_view b, const Field& f) {
  for (uint32_t i = 0; i < f.size; i++)
    if (b[f.offset + i]) return false;
  return true;
}
// The field that holds a structure's checksum is its last; it covers the rest.
void seal(std::string& b, const Field& sum) { put(b, sum, xxh3(b.data(), sum.offset)); }
bool sealed(std::string_view b, const Field& sum) { return get(b, sum) == xxh3(b.data(), sum.offset); }

// Refuses versions this kso does not read, naming what to do.
void check_version(uint32_t v, const char* what) {
  if (v >= kOldestReadableVersion && v <= kFormatVersion) return;
  if (v == 1) throw Error("pack format v1 is not read by this kso; rebuild the pack with this kso-pack", EINVAL);
  throw Error(std::string(what) + ": unsupported pack format version " + std::to_string(v) + " (this kso reads " +
                  std::to_string(kOldestReadableVersion) + ".." + std::to_string(kFormatVersion) +
                  "; a newer kso wrote it)",
              EINVAL);
}

std::string encode_ends(const PackEnds& e, const char* magic, bool trailer) {
  std::string b(trailer ? kTrailerSize : kHeaderSize, '\0');
  memcpy(b.data(), magic, 8);
  if (trailer) {
    put(b, trl::version, e.version);
    put(b, trl::meta_offset, e.meta_offset);
    put_bytes(b, trl::identity, e.identity.data());
    seal(b, trl::xxh3);
  } else {
    put(b, hdr::version, e.version);
    put_bytes(b, hdr::identity, e.identity.data());
    seal(b, hdr::xxh3);
  }
  return b;
}

}  // namespace

uint64_t xxh3(const void* data, size_t len) { return XXH3_64bits(data, len); }

void put_le(char* p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = char(v >> (8 * i));
}

uint64_t get_le(const char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v |= uint64_t(uint8_t(p[i])) << (8 * i);
  return v;
}

std::string encode_header(const PackEnds& h) { return encode_ends(h, kPackMagic, false); }
std::string encode_trailer(const PackEnds& t) { return encode_ends(t, kTrailerMagic, true); }

PackEnds decode_header(std::string_view b) {
  if (b.size() < kHeaderSize || memcmp(b.data(), kPackMagic, 8) != 0)
    throw Error("not a kso pack (bad magic)", EINVAL);
  PackEnds h;
  h.version = uint32_t(get(b, hdr::version));
  check_version(h.version, "header");
  if (!sealed(b, hdr::xxh3)) throw CorruptError("pack header checksum mismatch");
  if (get(b, hdr::flags) != 0) throw CorruptError("pack header has unknown flags");
  if (!all_zero(b, hdr::reserved)) throw CorruptError("pack header has non-zero reserved bytes");
  memcpy(h.identity.data(), &b[hdr::identity.offset], 32);
  return h;
}

PackEnds decode_trailer(std::string_view b) {
  if (b.size() < kTrailerSize || memcmp(b.data(), kTrailerMagic, 8) != 0)
    throw CorruptError("pack is truncated or damaged (no trailer at its end)");
  if (!sealed(b, trl::xxh3)) throw CorruptError("pack trailer checksum mismatch");
  PackEnds t;
  t.version = uint32_t(get(b, trl::version));
  check_version(t.version, "trailer");
  if (get(b, trl::flags) != 0) throw CorruptError("pack trailer has unknown flags");
  t.meta_offset = get(b, trl::meta_offset);
  memcpy(t.identity.data(), &b[trl::identity.offset], 32);
  return t;
}

std::string encode_superblock(const Superblock& s) {
  std::string b(kSuperblockSize, '\0');
  memcpy(b.data(), kSuperMagic, 8);
  put(b, sb::version, s.version);
  put(b, sb::block_count, s.block_count);
  put(b, sb::page_count, s.page_count);
  put(b, sb::index_offset, s.index_offset);
  put(b, sb::index_size, s.index_size);
  put(b, sb::block_table_xxh3, s.block_table_xxh3);
  put(b, sb::page_table_xxh3, s.page_table_xxh3);
  put(b, sb::index_pages_xxh3, s.index_pages_xxh3);
  put(b, sb::base_count, s.base_count);
  put(b, sb::base_table_xxh3, s.base_table_xxh3);
  seal(b, sb::xxh3);
  return b;
}

Superblock decode_superblock(std::string_view b) {
  if (b.size() < kSuperblockSize || memcmp(b.data(), kSuperMagic, 8) != 0)
    throw CorruptError("pack superblock is missing (bad magic)");
  if (!sealed(b, sb::xxh3)) throw CorruptError("pack superblock checksum mismatch");
  Superblock s;
  s.version = uint32_t(get(b, sb::version));
  check_version(s.version, "superblock");
  if (get(b, sb::flags) != 0) throw CorruptError("pack superblock has unknown flags");
  if (!all_zero(b, sb::reserved)) throw CorruptError("pack superblock has non-zero reserved bytes");
  s.base_count = get(b, sb::base_count);
  s.base_table_xxh3 = get(b, sb::base_table_xxh3);
  // v2 had no base table: those bytes were reserved, zero.
  if (s.version < 3 && (s.base_count || s.base_table_xxh3))
    throw CorruptError("pack superblock has non-zero reserved bytes");
  if (s.base_count > kMaxBases) throw CorruptError("pack superblock names too many base packs");
  s.block_count = get(b, sb::block_count);
  s.page_count = get(b, sb::page_count);
  s.index_offset = get(b, sb::index_offset);
  s.index_size = get(b, sb::index_size);
  s.block_table_xxh3 = get(b, sb::block_table_xxh3);
  s.page_table_xxh3 = get(b, sb::page_table_xxh3);
  s.index_pages_xxh3 = get(b, sb::index_pages_xxh3);
  return s;
}

void encode_block_entry(const BlockEntry& e, char* out) {
  memset(out, 0, kBlockEntrySize);
  put_le(out + blk::offset.offset, e.offset, blk::offset.size);
  put_le(out + blk::stored_size.offset, e.stored_size, blk::stored_size.size);
  put_le(out + blk::raw_size.offset, e.raw_size, blk::raw_size.size);
  put_le(out + blk::xxh3.offset, e.xxh3, blk::xxh3.size);
  put_le(out + blk::codec.offset, uint8_t(e.codec), blk::codec.size);
  put_le(out + blk::filter.offset, e.filter, blk::filter.size);
  put_le(out + blk::base.offset, e.base, blk::base.size);
  put_le(out + blk::first_page.offset, e.first_page, blk::first_page.size);
  memcpy(out + blk::sha256.offset, e.sha256.data(), blk::sha256.size);
}

BlockEntry decode_block_entry(const char* in) {
  BlockEntry e;
  e.offset = get_le(in + blk::offset.offset, blk::offset.size);
  e.stored_size = uint32_t(get_le(in + blk::stored_size.offset, blk::stored_size.size));
  e.raw_size = uint32_t(get_le(in + blk::raw_size.offset, blk::raw_size.size));
  e.xxh3 = get_le(in + blk::xxh3.offset, blk::xxh3.size);
  e.codec = Codec(get_le(in + blk::codec.offset, blk::codec.size));
  e.filter = uint8_t(get_le(in + blk::filter.offset, blk::filter.size));
  e.base = uint16_t(get_le(in + blk::base.offset, blk::base.size));
  e.first_page = uint32_t(get_le(in + blk::first_page.offset, blk::first_page.size));
  memcpy(e.sha256.data(), in + blk::sha256.offset, blk::sha256.size);
  return e;
}

void encode_base_entry(const BaseEntry& e, char* out) {
  memset(out, 0, kBaseEntrySize);
  if (e.name.size() > bse::name.size || e.name.find('\0') != std::string::npos)
    throw Error("base name '" + e.name + "' does not fit the base table", EINVAL);
  memcpy(out + bse::identity.offset, e.identity.data(), bse::identity.size);
  put_le(out + bse::pack_size.offset, e.pack_size, bse::pack_size.size);
  memcpy(out + bse::name.offset, e.name.data(), e.name.size());
}

BaseEntry decode_base_entry(const char* in) {
  BaseEntry e;
  memcpy(e.identity.data(), in + bse::identity.offset, bse::identity.size);
  e.pack_size = get_le(in + bse::pack_size.offset, bse::pack_size.size);
  for (uint32_t i = 0; i < bse::reserved.size; i++)
    if (in[bse::reserved.offset + i]) throw CorruptError("base table entry has non-zero reserved bytes");
  const char* nm = in + bse::name.offset;
  size_t n = strnlen(nm, bse::name.size);
  for (size_t i = n; i < bse::name.size; i++)
    if (nm[i]) throw CorruptError("base table entry has a malformed name");
  e.name.assign(nm, n);
  return e;
}

bool same_block_content(const BlockEntry& a, const BlockEntry& b) {
  return a.stored_size == b.stored_size && a.raw_size == b.raw_size && a.xxh3 == b.xxh3 && a.codec == b.codec &&
         a.filter == b.filter && a.sha256 == b.sha256;
}

std::string encode_metadata(uint64_t meta_offset, const std::vector<BlockEntry>& blocks,
                            const std::vector<uint64_t>& page_sums, const std::string& index,
                            const std::vector<BaseEntry>& bases, uint32_t version) {
  if (index.empty() || index.size() % kIndexPageSize) throw Error("index is not a whole number of pages");
  if (bases.size() > kMaxBases) throw Error("a delta pack takes at most " + std::to_string(kMaxBases) + " bases", EINVAL);
  std::string bt(bases.size() * kBaseEntrySize, '\0');
  for (size_t i = 0; i < bases.size(); i++) encode_base_entry(bases[i], &bt[i * kBaseEntrySize]);
  std::string tb(blocks.size() * kBlockEntrySize, '\0');
  for (size_t i = 0; i < blocks.size(); i++) encode_block_entry(blocks[i], &tb[i * kBlockEntrySize]);
  std::string pt(page_sums.size() * 8, '\0');
  for (size_t i = 0; i < page_sums.size(); i++) put_le(&pt[i * 8], page_sums[i], 8);
  const size_t index_pages = index.size() / kIndexPageSize;
  std::string it(index_pages * 8, '\0');
  for (size_t i = 0; i < index_pages; i++) put_le(&it[i * 8], xxh3(index.data() + i * kIndexPageSize, kIndexPageSize), 8);
  Superblock sbk;
  sbk.version = version;
  sbk.block_count = blocks.size();
  sbk.page_count = page_sums.size();
  sbk.block_table_xxh3 = xxh3(tb.data(), tb.size());
  sbk.page_table_xxh3 = xxh3(pt.data(), pt.size());
  sbk.index_pages_xxh3 = xxh3(it.data(), it.size());
  sbk.base_count = bases.size();
  sbk.base_table_xxh3 = xxh3(bt.data(), bt.size());
  const uint64_t tables_end = meta_offset + kSuperblockSize + bt.size() + tb.size() + pt.size() + it.size();
  sbk.index_offset = (tables_end + kIndexAlign - 1) / kIndexAlign * kIndexAlign;
  sbk.index_size = index.size();
  std::string m = encode_superblock(sbk);
  m.reserve(size_t(sbk.index_offset - meta_offset) + index.size());
  m += bt;
  m += tb;
  m += pt;
  m += it;
  m.resize(size_t(sbk.index_offset - meta_offset), '\0');
  m += index;
  return m;
}

}  // namespace kso
