// The on-disk format: header, trailer and block table encoding, the layout of
// a written pack, and what open() refuses: wrong versions, files that are not
// packs, truncated packs and damaged metadata.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "index/error.h"
#include "index/format.h"
#include "index/pack_reader.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"

namespace kso {
namespace {

using namespace kso::test;

// A pack of a few files: text (zstd blocks), random (raw blocks), small block
// size so there are several blocks, and a few hundred index rows.
struct Packed {
  TempDir tmp{"kso-fmt"};
  fs::path src = tmp / "src", pack = tmp / "p.kso";
  BuildStats stats;
  Packed() {
    for (int i = 0; i < 200; i++) write_file(src / "many" / ("f" + std::to_string(i)), "file " + std::to_string(i) + "\n");
    write_file(src / "random.bin", random_bytes(300000, 1));
    write_file(src / "text.txt", std::string(200000, 'a') + random_bytes(1000, 2));
    WriterOptions o = small_writer_options();
    o.block_size = 64 * 1024;
    o.chunk = small_chunks();
    stats = build_pack(pack, {{".", src}}, o);
  }
};

std::string error_of(const fs::path& p) {
  try {
    Pack::open(p);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(PackFormat, HeaderRoundTripAndChecks) {
  PackHeader h;
  h.flags = 7;
  h.created_unix = 1700000000;
  std::string b = encode_header(h);
  ASSERT_EQ(b.size(), kHeaderSize);
  EXPECT_EQ(b.substr(0, 8), std::string(kPackMagic, 8));
  PackHeader d = decode_header(b);
  EXPECT_EQ(d.version, kFormatVersion);
  EXPECT_EQ(d.flags, 7u);
  EXPECT_EQ(d.created_unix, 1700000000);

  std::string bad = b;
  bad[0] = 'X';
  EXPECT_THROW(decode_header(bad), Error);
  EXPECT_THROW(decode_header(b.substr(0, kHeaderSize - 1)), Error);
  bad = b;
  bad[20] ^= 1;  // inside created_unix: checksum catches it
  EXPECT_THROW(decode_header(bad), CorruptError);
  bad = b;
  bad[40] ^= 1;  // reserved bytes are covered too
  EXPECT_THROW(decode_header(bad), CorruptError);

  PackHeader v2;
  v2.version = 2;
  try {
    decode_header(encode_header(v2));
    FAIL() << "version 2 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported pack format version 2"), std::string::npos) << e.what();
  }
}

TEST(PackFormat, TrailerAndBlockEntryRoundTrip) {
  PackTrailer t;
  t.data_end = 0x1'0000'1234ull;  // beyond 4 GiB: 64-bit fields
  t.block_table_offset = t.data_end;
  t.block_count = 77;
  t.block_table_xxh3 = 0xdeadbeefcafef00dull;
  t.index_offset = 0x1'0000'4000ull;
  t.index_size = 8192;
  t.index_xxh3 = 0x0123456789abcdefull;
  std::string b = encode_trailer(t);
  ASSERT_EQ(b.size(), kTrailerSize);
  PackTrailer d = decode_trailer(b);
  EXPECT_EQ(d.data_end, t.data_end);
  EXPECT_EQ(d.block_table_offset, t.block_table_offset);
  EXPECT_EQ(d.block_count, t.block_count);
  EXPECT_EQ(d.block_table_xxh3, t.block_table_xxh3);
  EXPECT_EQ(d.index_offset, t.index_offset);
  EXPECT_EQ(d.index_size, t.index_size);
  EXPECT_EQ(d.index_xxh3, t.index_xxh3);
  for (size_t i = 0; i < kTrailerSize; i += 7) {
    std::string bad = b;
    bad[i] ^= 0x10;
    EXPECT_THROW(decode_trailer(bad), CorruptError) << "byte " << i;
  }

  BlockEntry e{0x2'0000'0000ull, 123456, 4u << 20, 0x1122334455667788ull, Codec::Zstd};
  char buf[kBlockEntrySize];
  encode_block_entry(e, buf);
  BlockEntry f = decode_block_entry(buf);
  EXPECT_EQ(f.offset, e.offset);
  EXPECT_EQ(f.stored_size, e.stored_size);
  EXPECT_EQ(f.raw_size, e.raw_size);
  EXPECT_EQ(f.xxh3, e.xxh3);
  EXPECT_EQ(f.codec, Codec::Zstd);
}

TEST(PackFormat, WrittenLayout) {
  Packed p;
  std::string all = read_file(p.pack);
  ASSERT_EQ(all.size(), p.stats.pack_size);
  EXPECT_EQ(all.substr(0, 8), std::string(kPackMagic, 8));
  EXPECT_EQ(decode_header(all.substr(0, kHeaderSize)).version, kFormatVersion);
  EXPECT_EQ(all.substr(kHeaderSize, kDataStart - kHeaderSize), std::string(kDataStart - kHeaderSize, '\0'));
  PackTrailer t = decode_trailer(std::string_view(all).substr(all.size() - kTrailerSize));
  EXPECT_EQ(t.version, kFormatVersion);
  EXPECT_EQ(t.block_table_offset, t.data_end);
  EXPECT_EQ(t.block_count, p.stats.blocks);
  EXPECT_EQ(t.index_offset % kIndexAlign, 0u);
  EXPECT_GE(t.index_offset, t.block_table_offset + t.block_count * kBlockEntrySize);
  EXPECT_EQ(t.index_offset + t.index_size + kTrailerSize, all.size());
  EXPECT_EQ(all.substr(t.index_offset, 16), std::string("SQLite format 3\0", 16));
  EXPECT_EQ(xxh3(all.data() + t.index_offset, t.index_size), t.index_xxh3);
  EXPECT_EQ(xxh3(all.data() + t.block_table_offset, t.block_count * kBlockEntrySize), t.block_table_xxh3);

  // Blocks tile the data region exactly, each checksummed.
  auto pk = Pack::open(p.pack);
  ASSERT_EQ(pk->block_count(), t.block_count);
  uint64_t stored = 0;
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (uint32_t i = 0; i < pk->block_count(); i++) {
    const BlockEntry& e = pk->block_entry(i);
    spans.emplace_back(e.offset, e.offset + e.stored_size);
    stored += e.stored_size;
    EXPECT_EQ(xxh3(all.data() + e.offset, e.stored_size), e.xxh3) << "block " << i;
    EXPECT_EQ(pk->stored_block(i), all.substr(e.offset, e.stored_size));
    EXPECT_EQ(pk->block(i)->size(), e.raw_size);
  }
  std::sort(spans.begin(), spans.end());
  uint64_t at = kDataStart;
  for (auto& [a, b] : spans) {
    EXPECT_EQ(a, at);
    at = b;
  }
  EXPECT_EQ(at, t.data_end);
  EXPECT_EQ(stored, p.stats.bytes_stored);
  EXPECT_EQ(pk->file_size(), all.size());
  auto tot = pk->totals();
  EXPECT_EQ(tot.blocks, p.stats.blocks);
  EXPECT_EQ(tot.bytes_stored, p.stats.bytes_stored);
  EXPECT_EQ(tot.files, 202u);
  EXPECT_THROW(pk->block_entry(pk->block_count()), CorruptError);
  EXPECT_THROW(pk->block(pk->block_count()), CorruptError);
}

TEST(PackFormat, WrongFormatVersionIsAClearError) {
  Packed p;
  for (uint32_t v : {0u, 2u, 99u}) {
    fs::path bad = p.tmp / ("v" + std::to_string(v) + ".kso");
    std::string all = read_file(p.pack);
    PackHeader h;
    h.version = v;
    h.created_unix = decode_header(all.substr(0, kHeaderSize)).created_unix;
    all.replace(0, kHeaderSize, encode_header(h));  // a well-formed header of another version
    write_file(bad, all);
    std::string err = error_of(bad);
    EXPECT_NE(err.find("unsupported pack format version " + std::to_string(v)), std::string::npos) << err;
    auto r = run(kso_pack_bin().string() + " info " + bad.string());
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("unsupported pack format version " + std::to_string(v)), std::string::npos) << r.output;
  }
}

TEST(PackFormat, NotAPackIsRefused) {
  TempDir tmp("kso-notpack");
  write_file(tmp / "empty", "");
  write_file(tmp / "text", "hello, this is not a pack\n");
  write_file(tmp / "random", random_bytes(100000, 4));
  write_file(tmp / "almost", std::string("KSOPACK", 7) + random_bytes(10000, 5));
  fs::create_directories(tmp / "dir");
  for (auto name : {"empty", "text", "random", "almost", "dir", "missing"}) {
    std::string err = error_of(tmp / name);
    EXPECT_FALSE(err.empty()) << name << " opened as a pack";
    auto r = run(kso_pack_bin().string() + " ls " + (tmp / name).string());
    EXPECT_NE(r.status, 0) << name;
    EXPECT_NE(r.output.find("kso-pack"), std::string::npos) << r.output;
  }
  EXPECT_NE(error_of(tmp / "text").find("not a kso pack"), std::string::npos) << error_of(tmp / "text");
  EXPECT_NE(error_of(tmp / "random").find("not a kso pack"), std::string::npos);
  EXPECT_NE(error_of(tmp / "empty").find("not a kso pack"), std::string::npos) << error_of(tmp / "empty");
  auto r = run(kso_pack_bin().string() + " info " + (tmp / "text").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("not a kso pack"), std::string::npos) << r.output;
}

TEST(PackFormat, TruncatedPacksAreRefused) {
  Packed p;
  std::string all = read_file(p.pack);
  PackTrailer t = read_trailer(p.pack);
  const uint64_t n = all.size();
  std::vector<uint64_t> lengths = {0, 1, 8, kHeaderSize - 1, kHeaderSize, kHeaderSize + 1, 1000, kDataStart - 1,
                                   kDataStart, kDataStart + 1, kDataStart + kTrailerSize,
                                   (kDataStart + t.data_end) / 2, t.data_end - 1, t.data_end,
                                   t.data_end + kBlockEntrySize / 2, t.data_end + t.block_count * kBlockEntrySize,
                                   t.index_offset - 1, t.index_offset, t.index_offset + 1,
                                   t.index_offset + t.index_size / 2, t.index_offset + t.index_size - 1,
                                   t.index_offset + t.index_size, n - kTrailerSize, n - kTrailerSize + 1, n - 2, n - 1};
  for (uint64_t cut = 1; cut < n; cut += n / 37) lengths.push_back(cut);  // and a spread of others
  fs::path tr = p.tmp / "trunc.kso";
  for (uint64_t len : lengths) {
    ASSERT_LT(len, n);
    write_file(tr, all.substr(0, len));
    std::string err = error_of(tr);
    EXPECT_FALSE(err.empty()) << "pack truncated to " << len << " of " << n << " bytes opened";
  }
  auto r = run(kso_pack_bin().string() + " verify " + tr.string());  // n-1 bytes
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("truncated"), std::string::npos) << r.output;
  // The same pack with a byte appended is no better: the trailer must be last.
  write_file(tr, all + "x");
  EXPECT_FALSE(error_of(tr).empty());
  // And the intact copy opens.
  write_file(tr, all);
  EXPECT_EQ(error_of(tr), "");
}

TEST(PackFormat, DamagedMetadataIsRefusedAtOpen) {
  Packed p;
  PackTrailer t = read_trailer(p.pack);
  const uint64_t n = fs::file_size(p.pack);
  struct Case {
    const char* what;
    uint64_t off;
    const char* expect;
  } cases[] = {
      {"header created time", 16, "header checksum"},
      {"header reserved", 30, "header checksum"},
      {"block table first byte", t.block_table_offset, "block table checksum"},
      {"block table last byte", t.block_table_offset + t.block_count * kBlockEntrySize - 1, "block table checksum"},
      {"index first byte", t.index_offset, "index checksum"},
      {"index middle", t.index_offset + t.index_size / 2, "index checksum"},
      {"index last byte", t.index_offset + t.index_size - 1, "index checksum"},
      {"trailer field", n - kTrailerSize + 20, "trailer checksum"},
      {"trailer checksum", n - 1, "trailer checksum"},
      {"trailer magic", n - kTrailerSize, "truncated or damaged"},
  };
  for (auto& c : cases) {
    xor_byte(p.pack, c.off, 0x40);
    std::string err = error_of(p.pack);
    EXPECT_NE(err.find(c.expect), std::string::npos) << c.what << ": " << err;
    xor_byte(p.pack, c.off, 0x40);
    EXPECT_EQ(error_of(p.pack), "") << c.what;
  }
}

}  // namespace
}  // namespace kso
