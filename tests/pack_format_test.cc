// The on-disk format v2: header, trailer, superblock and block table
// encoding, the layout of a written pack, the identity chain, and what open()
// refuses: other versions, files that are not packs, truncated packs, damaged
// or crafted metadata, an index that is not the format's.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <set>
#include <string>

#include "index/error.h"
#include "index/format.h"
#include "index/sha256.h"
#include "index/pack_reader.h"
#include "index/internal/schema.h"
#include "index/verify.h"
#include "tests/support/pack_surgery.h"
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
    if (symlink("text.txt", (src / "link").c_str()) != 0) throw std::runtime_error("symlink");
    WriterOptions o = small_writer_options();
    o.block_size = 64 * 1024;
    o.raw_block_size = 64 * 1024;
    o.chunk = small_chunks();
    stats = build_pack(pack, {{".", src}}, o);
  }
};

// Reseals bytes [0, sum.offset) of a fixed-size structure with its XXH3.
void reseal(std::string& b, const Field& sum) { put_le(&b[sum.offset], xxh3(b.data(), sum.offset), 8); }

TEST(PackFormat, EndsAndSuperblockRoundTripAndChecks) {
  PackEnds e;
  e.meta_offset = 0x1'0000'1234ull;  // beyond 4 GiB: 64-bit fields
  for (size_t i = 0; i < 32; i++) e.identity[i] = uint8_t(i * 7 + 1);
  std::string h = encode_header(e), t = encode_trailer(e);
  ASSERT_EQ(h.size(), kHeaderSize);
  ASSERT_EQ(t.size(), kTrailerSize);
  EXPECT_EQ(h.substr(0, 8), std::string(kPackMagic, 8));
  EXPECT_EQ(t.substr(0, 8), std::string(kTrailerMagic, 8));
  EXPECT_EQ(decode_header(h).identity, e.identity);
  EXPECT_EQ(decode_trailer(t).identity, e.identity);
  EXPECT_EQ(decode_trailer(t).meta_offset, e.meta_offset);
  EXPECT_EQ(decode_trailer(t).version, kFormatVersion);
  for (size_t i = 8; i < kHeaderSize; i++) {  // every byte is covered (the version is checked first)
    std::string bad = h;
    bad[i] ^= 0x10;
    EXPECT_THROW(decode_header(bad), Error) << "header byte " << i;
  }
  for (size_t i = 0; i < kTrailerSize; i++) {
    std::string bad = t;
    bad[i] ^= 0x10;
    EXPECT_THROW(decode_trailer(bad), Error) << "trailer byte " << i;
  }
  // Well-sealed but with flags or reserved bytes set: refused, not ignored.
  auto refused = [](auto decode, std::string b, const Field& f, const Field& sum, const char* expect) {
    b[f.offset] = 1;
    reseal(b, sum);
    try {
      decode(b);
      ADD_FAILURE() << f.name << " set but accepted";
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find(expect), std::string::npos) << err.what();
    }
  };
  refused(decode_header, h, hdr::flags, hdr::xxh3, "unknown flags");
  refused(decode_header, h, hdr::reserved, hdr::xxh3, "reserved");
  refused(decode_trailer, t, trl::flags, trl::xxh3, "unknown flags");

  Superblock s;
  s.block_count = 77;
  s.page_count = 5;
  s.index_offset = 0x2'0000'0000ull;
  s.index_size = 8192;
  s.block_table_xxh3 = 0xdeadbeefcafef00dull;
  s.page_table_xxh3 = 0x0123456789abcdefull;
  s.index_pages_xxh3 = 0x1111222233334444ull;
  std::string sb = encode_superblock(s);
  ASSERT_EQ(sb.size(), kSuperblockSize);
  Superblock d = decode_superblock(sb);
  EXPECT_EQ(d.block_count, s.block_count);
  EXPECT_EQ(d.page_count, s.page_count);
  EXPECT_EQ(d.index_offset, s.index_offset);
  EXPECT_EQ(d.index_size, s.index_size);
  EXPECT_EQ(d.block_table_xxh3, s.block_table_xxh3);
  EXPECT_EQ(d.page_table_xxh3, s.page_table_xxh3);
  EXPECT_EQ(d.index_pages_xxh3, s.index_pages_xxh3);
  for (size_t i = 0; i < kSuperblockSize; i++) {
    std::string bad = sb;
    bad[i] ^= 0x10;
    EXPECT_THROW(decode_superblock(bad), Error) << "superblock byte " << i;
  }
  refused(decode_superblock, sb, sb::flags, sb::xxh3, "unknown flags");
  refused(decode_superblock, sb, sb::reserved, sb::xxh3, "reserved");
}

TEST(PackFormat, BlockEntryRoundTrip) {
  BlockEntry e;
  e.offset = 0x2'0000'0000ull;
  e.stored_size = 123456;
  e.raw_size = 4u << 20;
  e.xxh3 = 0x1122334455667788ull;
  e.codec = Codec::Zstd;
  e.first_page = 0;
  for (size_t i = 0; i < 32; i++) e.sha256[i] = uint8_t(255 - i);
  char buf[kBlockEntrySize];
  encode_block_entry(e, buf);
  BlockEntry f = decode_block_entry(buf);
  EXPECT_EQ(f.offset, e.offset);
  EXPECT_EQ(f.stored_size, e.stored_size);
  EXPECT_EQ(f.raw_size, e.raw_size);
  EXPECT_EQ(f.xxh3, e.xxh3);
  EXPECT_EQ(f.codec, Codec::Zstd);
  EXPECT_EQ(f.filter, 0);
  EXPECT_EQ(f.base, 0);
  EXPECT_EQ(f.sha256, e.sha256);
  e.codec = Codec::Raw;
  e.first_page = 0xabcdef;
  encode_block_entry(e, buf);
  EXPECT_EQ(decode_block_entry(buf).first_page, 0xabcdefu);
}

TEST(PackFormat, WrittenLayout) {
  Packed p;
  std::string all = read_file(p.pack);
  ASSERT_EQ(all.size(), p.stats.pack_size);
  PackEnds h = decode_header(all.substr(0, kHeaderSize));
  EXPECT_EQ(all.substr(kHeaderSize, kDataStart - kHeaderSize), std::string(kDataStart - kHeaderSize, '\0'));
  PackEnds t = decode_trailer(std::string_view(all).substr(all.size() - kTrailerSize));
  EXPECT_EQ(h.identity, t.identity);
  EXPECT_EQ(t.identity, p.stats.identity);
  const uint64_t meta = t.meta_offset;
  Superblock s = decode_superblock(std::string_view(all).substr(meta, kSuperblockSize));
  EXPECT_EQ(s.block_count, p.stats.blocks);
  EXPECT_GT(s.page_count, 0u);  // random.bin is stored raw
  EXPECT_EQ(s.index_offset % kIndexAlign, 0u);
  EXPECT_EQ(s.index_size % kIndexPageSize, 0u);
  const uint64_t bt = meta + kSuperblockSize, pt = bt + s.block_count * kBlockEntrySize, it = pt + s.page_count * 8;
  const uint64_t it_end = it + s.index_size / kIndexPageSize * 8;
  EXPECT_EQ(s.index_offset, (it_end + kIndexAlign - 1) / kIndexAlign * kIndexAlign);
  EXPECT_EQ(all.substr(it_end, s.index_offset - it_end), std::string(s.index_offset - it_end, '\0'));
  EXPECT_EQ(s.index_offset + s.index_size + kTrailerSize, all.size());
  EXPECT_EQ(all.substr(s.index_offset, 16), std::string("SQLite format 3\0", 16));
  EXPECT_EQ(xxh3(all.data() + bt, s.block_count * kBlockEntrySize), s.block_table_xxh3);
  EXPECT_EQ(xxh3(all.data() + pt, s.page_count * 8), s.page_table_xxh3);
  EXPECT_EQ(xxh3(all.data() + it, it_end - it), s.index_pages_xxh3);
  for (uint64_t pg = 0; pg < s.index_size / kIndexPageSize; pg++)
    EXPECT_EQ(get_le(all.data() + it + 8 * pg, 8), xxh3(all.data() + s.index_offset + pg * kIndexPageSize, kIndexPageSize));
  // The identity is the SHA-256 of the metadata region.
  EXPECT_EQ(sha256(all.data() + meta, all.size() - kTrailerSize - meta), t.identity);

  // Blocks tile the data region exactly; each checksummed both ways; raw
  // blocks own consecutive page checksums in id order.
  auto pk = Pack::open(p.pack);
  EXPECT_EQ(pk->identity(), t.identity);
  EXPECT_EQ(compute_identity(*pk), t.identity);
  EXPECT_EQ(pk->meta_offset(), meta);
  ASSERT_EQ(pk->block_count(), s.block_count);
  uint64_t stored = 0, page = 0;
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (uint32_t i = 0; i < pk->block_count(); i++) {
    const BlockEntry& e = pk->block_entry(i);
    spans.emplace_back(e.offset, e.offset + e.stored_size);
    stored += e.stored_size;
    EXPECT_EQ(xxh3(all.data() + e.offset, e.stored_size), e.xxh3) << "block " << i;
    EXPECT_EQ(sha256(all.data() + e.offset, e.stored_size), e.sha256) << "block " << i;
    EXPECT_EQ(pk->block(i)->size(), e.raw_size);
    if (e.codec == Codec::Raw) {
      EXPECT_EQ(e.first_page, page);
      for (uint32_t k = 0; k < raw_pages(e.stored_size); k++, page++) {
        size_t at = size_t(k) * kRawPageSize;
        EXPECT_EQ(get_le(all.data() + pt + 8 * page, 8),
                  xxh3(all.data() + e.offset + at, std::min<size_t>(kRawPageSize, e.stored_size - at)));
      }
    } else {
      EXPECT_EQ(e.first_page, 0u);
    }
    EXPECT_NO_THROW(verify_block(*pk, i));
  }
  EXPECT_EQ(page, s.page_count);
  std::sort(spans.begin(), spans.end());
  uint64_t at = kDataStart;
  for (auto& [a, b] : spans) {
    EXPECT_EQ(a, at);
    at = b;
  }
  EXPECT_EQ(at, meta);
  EXPECT_EQ(stored, p.stats.bytes_stored);
  EXPECT_EQ(pk->file_size(), all.size());
  EXPECT_EQ(pk->inode_count(), 1 + 1 + 200 + 3u);  // root, many/, its files, random, text, link
  EXPECT_THROW(pk->block_entry(pk->block_count()), CorruptError);
  EXPECT_THROW(pk->block(pk->block_count()), CorruptError);
  // The index carries its identity marks and one digest per distinct chunk.
  EXPECT_EQ(pk->query_rows("PRAGMA application_id", 1)[0][0], std::to_string(kIndexApplicationId));
  EXPECT_EQ(pk->query_rows("PRAGMA user_version", 1)[0][0], std::to_string(kPlainFormatVersion));
  auto chunks = pk->query_rows("SELECT sha256, block, offset, length FROM chunks", 4);
  EXPECT_EQ(chunks.size(), p.stats.chunks - p.stats.chunks_deduped);
  std::set<std::string> digests;
  for (auto& c : chunks) {
    EXPECT_EQ(c[0].size(), 32u);
    digests.insert(c[0]);
    BlockData b = pk->block(uint32_t(std::stoul(c[1])));
    Digest d = sha256(b->data() + std::stoull(c[2]), std::stoull(c[3]));
    EXPECT_EQ(c[0], std::string(reinterpret_cast<const char*>(d.data()), 32));
  }
  EXPECT_EQ(digests.size(), chunks.size());
}

TEST(PackFormat, OtherVersionsAreClearErrors) {
  Packed p;
  std::string all = read_file(p.pack);
  // A v1 pack: v1's header had the same magic and version field.
  {
    std::string v1 = all;
    put_le(&v1[8], 1, 4);
    std::string h = v1.substr(0, kHeaderSize);
    reseal(h, hdr::xxh3);
    v1.replace(0, kHeaderSize, h);
    write_file(p.tmp / "v1.kso", v1);
    std::string err = open_error(p.tmp / "v1.kso");
    EXPECT_NE(err.find("pack format v1 is not read by this kso; rebuild the pack with this kso-pack"),
              std::string::npos)
        << err;
    EXPECT_NE(err.find((p.tmp / "v1.kso").string()), std::string::npos) << err;
    auto r = kso_pack_words("info " + (p.tmp / "v1.kso").string());
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("format v1"), std::string::npos) << r.output;
  }
  // A newer version (or nonsense) with a valid checksum.
  for (uint32_t v : {0u, kFormatVersion + 1, 99u}) {
    std::string nv = all;
    std::string h = nv.substr(0, kHeaderSize);
    put_le(&h[hdr::version.offset], v, 4);
    reseal(h, hdr::xxh3);
    nv.replace(0, kHeaderSize, h);
    fs::path bad = p.tmp / ("v" + std::to_string(v) + ".kso");
    write_file(bad, nv);
    std::string err = open_error(bad);
    EXPECT_NE(err.find("unsupported pack format version " + std::to_string(v)), std::string::npos) << err;
    auto r = kso_pack_words("ls " + bad.string());
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
  ASSERT_EQ(mkfifo((tmp / "fifo").c_str(), 0644), 0);
  for (auto name : {"empty", "text", "random", "almost", "dir", "missing", "fifo"}) {
    std::string err = open_error(tmp / name);
    EXPECT_FALSE(err.empty()) << name << " opened as a pack";
    // A fifo with no writer would block open(2) forever: it must not.
    auto r = kso_pack_words("ls " + (tmp / name).string());
    EXPECT_EQ(r.status, 1) << name << ": " << r.output;
    EXPECT_NE(r.output.find("kso-pack"), std::string::npos) << r.output;
  }
  EXPECT_NE(open_error(tmp / "text").find("not a kso pack"), std::string::npos) << open_error(tmp / "text");
  EXPECT_NE(open_error(tmp / "random").find("not a kso pack"), std::string::npos);
  EXPECT_NE(open_error(tmp / "empty").find("not a kso pack"), std::string::npos) << open_error(tmp / "empty");
  EXPECT_NE(open_error(tmp / "fifo").find("not a regular file"), std::string::npos) << open_error(tmp / "fifo");
  auto r = kso_pack_words("info " + (tmp / "text").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("not a kso pack"), std::string::npos) << r.output;
}

TEST(PackFormat, TruncatedPacksAreRefused) {
  Packed p;
  std::string all = read_file(p.pack);
  auto pk = Pack::open(p.pack);
  const Superblock s = pk->superblock();
  const uint64_t n = all.size(), meta = pk->meta_offset();
  std::vector<uint64_t> lengths = {0, 1, 8, kHeaderSize - 1, kHeaderSize, kHeaderSize + 1, 1000, kDataStart - 1,
                                   kDataStart, kDataStart + 1, kDataStart + kTrailerSize,
                                   (kDataStart + meta) / 2, meta - 1, meta, meta + kSuperblockSize - 1,
                                   meta + kSuperblockSize + kBlockEntrySize / 2, s.index_offset - 1, s.index_offset,
                                   s.index_offset + 1, s.index_offset + s.index_size / 2,
                                   s.index_offset + s.index_size - 1, s.index_offset + s.index_size, n - kTrailerSize,
                                   n - kTrailerSize + 1, n - 2, n - 1};
  for (uint64_t cut = 1; cut < n; cut += n / 37) lengths.push_back(cut);  // and a spread of others
  fs::path tr = p.tmp / "trunc.kso";
  for (uint64_t len : lengths) {
    ASSERT_LT(len, n);
    write_file(tr, all.substr(0, len));
    std::string err = open_error(tr);
    EXPECT_FALSE(err.empty()) << "pack truncated to " << len << " of " << n << " bytes opened";
  }
  auto r = kso_pack_words("verify " + tr.string());  // n-1 bytes
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("truncated"), std::string::npos) << r.output;
  // The same pack with a byte appended is no better: the trailer must be last.
  write_file(tr, all + "x");
  EXPECT_FALSE(open_error(tr).empty());
  // And the intact copy opens.
  write_file(tr, all);
  EXPECT_EQ(open_error(tr), "");
}

TEST(PackFormat, DamagedMetadataIsRefusedAtOpen) {
  Packed p;
  auto pk = Pack::open(p.pack);
  const Superblock s = pk->superblock();
  const uint64_t n = fs::file_size(p.pack), meta = pk->meta_offset();
  const uint64_t bt = meta + kSuperblockSize, pt = bt + s.block_count * kBlockEntrySize, it = pt + s.page_count * 8;
  const uint64_t it_end = it + s.index_size / kIndexPageSize * 8;
  pk.reset();
  struct Case {
    const char* what;
    uint64_t off;
    const char* expect;
  } cases[] = {
      {"header version", hdr::version.offset, "unsupported pack format version"},
      {"header identity", hdr::identity.offset + 3, "header checksum"},
      {"header reserved", hdr::reserved.offset, "header checksum"},
      {"trailer magic", n - kTrailerSize, "no trailer at its end"},
      {"trailer meta offset", n - kTrailerSize + trl::meta_offset.offset, "trailer checksum"},
      {"trailer identity", n - kTrailerSize + trl::identity.offset + 31, "trailer checksum"},
      {"superblock magic", meta, "superblock is missing"},
      {"superblock block count", meta + sb::block_count.offset, "superblock checksum"},
      {"block table first byte", bt, "block table checksum"},
      {"block table last byte", pt - 1, "block table checksum"},
      {"page table", pt + 3, "page table checksum"},
      {"index page table", it + 9, "index page table checksum"},
      {"padding before the index", it_end, "non-zero bytes between the tables and the index"},
      {"index header page", s.index_offset + 50, "index page 0: checksum mismatch"},
  };
  ASSERT_LT(it_end, s.index_offset) << "the test needs padding before the index";
  for (auto& c : cases) {
    xor_byte(p.pack, c.off, 0x40);
    std::string err = open_error(p.pack);
    EXPECT_NE(err.find(c.expect), std::string::npos) << c.what << ": " << err;
    EXPECT_NE(err.find(p.pack.string()), std::string::npos) << c.what << ": error does not name the pack: " << err;
    xor_byte(p.pack, c.off, 0x40);
    EXPECT_EQ(open_error(p.pack), "") << c.what;
  }
  // Header and trailer that each check out but name different identities: a splice.
  std::string all = read_file(p.pack);
  PackEnds h = decode_header(all.substr(0, kHeaderSize));
  h.identity[0] ^= 1;
  all.replace(0, kHeaderSize, encode_header(h));
  write_file(p.pack, all);
  EXPECT_NE(open_error(p.pack).find("different pack identities"), std::string::npos) << open_error(p.pack);
}

// Index pages are checked as they are read, not only at open: damage in any
// page gives an error where it is read, and never a wrong answer.
TEST(PackFormat, IndexPagesAreVerifiedWhenRead) {
  Packed p;
  const Listing want = tree_listing(p.src);
  auto pk0 = Pack::open(p.pack);
  const Superblock s = pk0->superblock();
  pk0.reset();
  const uint64_t pages = s.index_size / kIndexPageSize;
  ASSERT_GT(pages, 3u);
  int caught_by_walk = 0;
  for (uint64_t pg = 0; pg < pages; pg++) {
    SCOPED_TRACE("index page " + std::to_string(pg));
    xor_byte(p.pack, s.index_offset + pg * kIndexPageSize + 1000, 0x04);
    bool threw = false;
    try {
      auto pk = Pack::open(p.pack);
      try {
        pk->check_index();
        ADD_FAILURE() << "check_index missed the damage";
      } catch (const CorruptError& e) {
        EXPECT_NE(std::string(e.what()).find("index page " + std::to_string(pg) + ":"), std::string::npos) << e.what();
      }
      // Everything the tree says must be true, or an error.
      EXPECT_TRUE(pack_listing(*pk) == want) << "a damaged index answered wrongly";
    } catch (const CorruptError& e) {
      threw = true;
    }
    caught_by_walk += threw;
    xor_byte(p.pack, s.index_offset + pg * kIndexPageSize + 1000, 0x04);
  }
  EXPECT_GT(caught_by_walk, 0);
  EXPECT_EQ(open_error(p.pack), "");
}

// Crafted block tables (checksums recomputed) that no writer produces.
TEST(PackFormat, UnknownCodecsFiltersAndReservedFieldsAreRefused) {
  Packed p;
  const PackParts good = split_pack(p.pack);
  size_t raw = SIZE_MAX, zst = SIZE_MAX;
  for (size_t i = 0; i < good.blocks.size(); i++) (good.blocks[i].codec == Codec::Raw ? raw : zst) = i;
  ASSERT_NE(raw, SIZE_MAX);
  ASSERT_NE(zst, SIZE_MAX);
  struct Case {
    const char* what;
    std::function<void(PackParts&)> edit;
    const char* expect;
  } cases[] = {
      {"codec 7", [&](PackParts& q) { q.blocks[zst].codec = Codec(7); }, "has unknown codec 7"},
      {"filter 1", [&](PackParts& q) { q.blocks[zst].filter = 1; }, "has unknown filter 1"},
      {"base", [&](PackParts& q) { q.blocks[raw].base = 1; }, "names base pack 1, which the base table does not have"},
      {"overlap", [&](PackParts& q) { q.blocks[zst].offset += 1; }, "overlap or leave gaps"},
      {"zero size", [&](PackParts& q) { q.blocks[zst].stored_size = 0; }, "impossible size"},
      {"huge", [&](PackParts& q) { q.blocks[zst].raw_size = kMaxBlockSize + 1; }, "impossible size"},
      {"grows", [&](PackParts& q) { q.blocks[zst].raw_size = q.blocks[zst].stored_size - 1; }, "impossible size"},
      {"saves nothing", [&](PackParts& q) { q.blocks[zst].raw_size = q.blocks[zst].stored_size; },
       "compressed but saves nothing"},
      {"raw sizes", [&](PackParts& q) { q.blocks[raw].raw_size += 1; }, "raw but its sizes differ"},
      {"pages", [&](PackParts& q) { q.blocks[raw].first_page += 1; }, "misplaced page checksums"},
      {"zstd pages", [&](PackParts& q) { q.blocks[zst].first_page = 1; }, "compressed but names page checksums"},
      {"extra page", [&](PackParts& q) { q.pages.push_back(0); }, "page table does not match"},
      {"stray data", [&](PackParts& q) { q.data += "x"; }, "bytes no block owns"},
  };
  for (auto& c : cases) {
    PackParts q = good;
    c.edit(q);
    write_pack(p.pack, q);
    std::string err = open_error(p.pack);
    EXPECT_NE(err.find(c.expect), std::string::npos) << c.what << ": " << err;
  }
  write_pack(p.pack, good);
  EXPECT_EQ(open_error(p.pack), "");
}

TEST(PackFormat, IndexMustHaveTheFormatsSchema) {
  Packed p;
  const std::string good = read_file(p.pack);
  struct Case {
    const char* sql;
    const char* expect;
  } cases[] = {
      {"CREATE TABLE extra(x)", "schema is not the one this format defines"},
      {"CREATE INDEX i ON inodes(size)", "schema is not the one this format defines"},
      {"DROP TABLE chunks", "schema is not the one this format defines"},
      {"DROP TABLE meta", "schema is not the one this format defines"},
      {"PRAGMA application_id=1", "is not a kso index"},
      {"PRAGMA user_version=2", "schema version does not match"},
      {"DELETE FROM meta WHERE key='zstd_level'", "has no meta key 'zstd_level'"},
      {"UPDATE meta SET value='4M' WHERE key='block_size'", "meta key 'block_size' is not an integer"},
      {"UPDATE meta SET value='random' WHERE key='order'", "meta key 'order' is missing or unknown"},
      {"UPDATE inodes SET mode=33188 WHERE ino=1", "has no root directory"},
      {"DELETE FROM inodes WHERE ino=1", "has no root directory"},
  };
  for (auto& c : cases) {
    write_file(p.pack, good);
    rewrite_index(p.pack, c.sql);
    std::string err = open_error(p.pack);
    EXPECT_NE(err.find(c.expect), std::string::npos) << c.sql << ": " << err;
  }
  // A file whose inode size disagrees with its content opens, but is refused when read.
  write_file(p.pack, good);
  rewrite_index(p.pack, "UPDATE inodes SET size = 10 WHERE ino = (SELECT ino FROM inodes WHERE size > 100000 LIMIT 1)");
  auto pk = Pack::open(p.pack);
  auto rows = pk->query_rows("SELECT ino FROM inodes WHERE size = 10", 1);
  ASSERT_EQ(rows.size(), 1u);
  try {
    pk->layout(std::stoull(rows[0][0]));
    ADD_FAILURE() << "layout of a file with a wrong size";
  } catch (const CorruptError& e) {
    EXPECT_NE(std::string(e.what()).find("its size disagrees with its content"), std::string::npos) << e.what();
  }
}

// verify proves the chain a site relies on: metadata hashes to the identity,
// and every block and chunk matches its SHA-256, even where XXH3 (all that
// reads check) was forged to match.
TEST(PackFormat, VerifyProvesTheIdentityChain) {
  Packed p;
  const std::string good = read_file(p.pack);
  auto verify = [&] { return kso_pack_words("verify " + p.pack.string()); };
  auto r = verify();
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("identity " + to_hex(p.stats.identity)), std::string::npos) << r.output;
  r = kso_pack_words("info " + p.pack.string());
  EXPECT_NE(r.output.find("identity:      " + to_hex(p.stats.identity)), std::string::npos) << r.output;

  // A raw block's bytes changed with its XXH3 and page sums forged: reads pass, verify does not.
  PackParts q = split_pack(p.pack);
  size_t raw = 0;
  while (q.blocks[raw].codec != Codec::Raw) raw++;
  BlockEntry& e = q.blocks[raw];
  char* bytes = q.data.data() + (e.offset - kDataStart);
  bytes[10] ^= 1;
  e.xxh3 = xxh3(bytes, e.stored_size);
  for (uint32_t k = 0; k < raw_pages(e.stored_size); k++) {
    size_t at = size_t(k) * kRawPageSize;
    q.pages[e.first_page + k] = xxh3(bytes + at, std::min<size_t>(kRawPageSize, e.stored_size - at));
  }
  write_pack(p.pack, q);
  auto pk = Pack::open(p.pack);
  EXPECT_NO_THROW(pk->block(uint32_t(raw)));
  EXPECT_NE(pk->identity(), p.stats.identity);  // the identity moved with the table
  r = verify();
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("SHA-256 mismatch"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("damaged file: random.bin"), std::string::npos) << r.output;

  // Metadata changed after the identity was taken.
  q = split_pack(p.pack);
  write_file(p.pack, good);
  q = split_pack(p.pack);
  q.index[q.index.size() - 1] ^= 1;  // a byte SQLite never reads, in the last page
  write_pack(p.pack, q, &p.stats.identity);
  EXPECT_EQ(open_error(p.pack), "");
  r = verify();
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("metadata does not hash to the pack identity"), std::string::npos) << r.output;

  // A chunk digest that lies.
  write_file(p.pack, good);
  rewrite_index(p.pack, "UPDATE chunks SET sha256 = zeroblob(32) WHERE sha256 = (SELECT min(sha256) FROM chunks)");
  r = verify();
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("does not match its SHA-256"), std::string::npos) << r.output;

  // Bytes between the header and the data region.
  write_file(p.pack, good);
  xor_byte(p.pack, 100, 1);
  EXPECT_EQ(open_error(p.pack), "");
  r = verify();
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("non-zero bytes after the header"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace kso
