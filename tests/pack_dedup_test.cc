// Dedup and block encoding: identical files stored once, a small insertion
// reuses most chunks, incompressible data stored raw, compressed formats kept
// in their own stream, and what `info` reports about it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "index/block.h"
#include "index/error.h"
#include "index/pack_reader.h"
#include "tools/pack_report.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"

namespace kso {
namespace {

using namespace kso::test;

std::set<uint32_t> blocks_of(const Pack& pk, const std::string& path) {
  std::set<uint32_t> b;
  auto f = pk.layout(pack_stat(pk, path).ino);
  for (auto& c : f->chunks) b.insert(c.block);
  return b;
}

std::string text(size_t n, uint64_t seed) {
  std::string r = random_bytes(n, seed);
  for (auto& c : r) c = "abcdefgh ijklmn\n"[uint8_t(c) % 16];
  return r;
}

TEST(PackDedup, IdenticalFilesAreStoredOnce) {
  TempDir tmp("kso-dd");
  fs::path src = tmp / "src";
  const std::string blob = random_bytes(3u << 20, 1);  // random: stored raw, sizes exact
  for (auto name : {"a/one", "b/two", "c/d/three", "four"}) write_file(src / name, blob);
  write_file(src / "other", random_bytes(1u << 20, 2));
  fs::path pack = tmp / "p.kso";
  BuildStats s = build_pack(pack, {{".", src}});
  EXPECT_EQ(s.files, 5u);
  EXPECT_EQ(s.bytes_in, 4 * blob.size() + (1u << 20));
  EXPECT_EQ(s.bytes_unique, blob.size() + (1u << 20));
  EXPECT_EQ(s.files_deduped, 3u);
  EXPECT_LT(s.bytes_stored, blob.size() + (1u << 20) + 4096);
  EXPECT_LT(s.pack_size, 2 * blob.size());
  auto pk = Pack::open(pack);
  auto t = pack_report(*pk).totals;
  EXPECT_EQ(t.bytes_unique, s.bytes_unique);
  EXPECT_EQ(t.bytes_in, s.bytes_in);
  // Separate inodes sharing one chunk list.
  auto l1 = pk->layout(pack_stat(*pk, "a/one").ino), l2 = pk->layout(pack_stat(*pk, "c/d/three").ino);
  EXPECT_NE(pack_stat(*pk, "a/one").ino, pack_stat(*pk, "c/d/three").ino);
  ASSERT_EQ(l1->chunks.size(), l2->chunks.size());
  for (size_t i = 0; i < l1->chunks.size(); i++) {
    EXPECT_EQ(l1->chunks[i].block, l2->chunks[i].block);
    EXPECT_EQ(l1->chunks[i].block_offset, l2->chunks[i].block_offset);
  }
  for (auto name : {"a/one", "b/two", "c/d/three", "four"})
    EXPECT_TRUE(pack_read_all(*pk, pack_stat(*pk, name).ino) == blob) << name;
  EXPECT_EQ(pack_report(*pk).totals.files_deduped, 3u);
}

TEST(PackDedup, SmallInsertionReusesMostChunks) {
  TempDir tmp("kso-dd2");
  fs::path src = tmp / "src";
  const std::string base = random_bytes(8u << 20, 3);
  std::string edited = base;
  edited.insert(3u << 20, "INSERTED");         // a few bytes in the middle
  edited.erase(6u << 20, 100);                   // and a deletion further on
  std::string appended = base + "tail";
  write_file(src / "v1" / "app.bin", base);
  write_file(src / "v2" / "app.bin", edited);
  write_file(src / "v3" / "app.bin", appended);
  fs::path pack = tmp / "p.kso";
  WriterOptions o = small_writer_options();
  BuildStats s = build_pack(pack, {{".", src}}, o);
  const uint64_t max = o.chunk.max_size;
  EXPECT_EQ(s.bytes_in, base.size() + edited.size() + appended.size());
  EXPECT_GE(s.bytes_unique, base.size());
  // Each edit costs at most a few chunks around it, not the whole file.
  EXPECT_LE(s.bytes_unique, base.size() + 6 * max) << "unique " << s.bytes_unique;
  EXPECT_LT(s.bytes_stored, base.size() + 6 * max);
  EXPECT_GT(s.chunks_deduped, 2 * (s.chunks / 3) - 8);
  auto pk = Pack::open(pack);
  EXPECT_TRUE(pack_read_all(*pk, pack_stat(*pk, "v2/app.bin").ino) == edited);
  EXPECT_TRUE(pack_read_all(*pk, pack_stat(*pk, "v3/app.bin").ino) == appended);
  EXPECT_TRUE(pack_read_all(*pk, pack_stat(*pk, "v1/app.bin").ino) == base);
  // Per prefix: v1 stored everything, v2 and v3 only their changes.
  auto rows = prefix_rows(*pk);
  uint64_t unique_sum = 0;
  std::map<std::string, uint64_t> uq;
  for (auto& r : rows) {
    uq[r[0]] = std::stoull(r[3]);
    unique_sum += std::stoull(r[3]);
  }
  EXPECT_EQ(unique_sum, s.bytes_unique);
  int small = (uq["v1"] < 4 * max) + (uq["v2"] < 4 * max) + (uq["v3"] < 4 * max);
  EXPECT_EQ(small, 2) << uq["v1"] << " " << uq["v2"] << " " << uq["v3"];
}

TEST(PackDedup, InfoReportsSavingsAndPrefixes) {
  TempDir tmp("kso-dd3");
  const std::string blob = random_bytes(2u << 20, 4);
  write_file(tmp / "files" / "x.tar", blob);
  write_file(tmp / "files" / "copy.tar", blob);
  write_file(tmp / "reg" / "blobs" / "sha256" / "x", blob);
  write_file(tmp / "reg" / "small", "small\n");
  fs::path pack = tmp / "p.kso";
  auto r = kso_pack_words("-q build --threads 2 -o " + pack.string() + " files=" + (tmp / "files").string() +
               " registry=" + (tmp / "reg").string());
  ASSERT_EQ(r.status, 0) << r.output;
  r = kso_pack_words("info " + pack.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("format v" + std::to_string(kPlainFormatVersion)), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("files:         4 (+0 hardlinks)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("(" + std::to_string(3 * blob.size() + 6) + ")"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("saved 4.0 MiB"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("66.7%"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("2 files and"), std::string::npos) << r.output;  // files deduplicated
  // One line per prefix with its file count.
  bool files_line = false, reg_line = false;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream w(line);
    std::string prefix, count;
    w >> prefix >> count;
    if (prefix == "files") files_line = count == "2";
    if (prefix == "registry") reg_line = count == "2";
  }
  EXPECT_TRUE(files_line) << r.output;
  EXPECT_TRUE(reg_line) << r.output;

  ToolResult info = kso_pack({"info", "--json", pack.string()});
  ASSERT_EQ(info.status, 0) << info.err;
  auto j = nlohmann::json::parse(info.out);
  EXPECT_EQ(j["prefixes"]["files"]["files"], 2);
  EXPECT_EQ(j["prefixes"]["files"]["bytes_in"], 2 * blob.size());
  EXPECT_EQ(j["prefixes"]["registry"]["files"], 2);
  EXPECT_EQ(j["prefixes"]["registry"]["bytes_in"], blob.size() + 6);
  // The blob's bytes count as unique for whichever prefix stored it first.
  uint64_t uf = j["prefixes"]["files"]["bytes_unique"], ur = j["prefixes"]["registry"]["bytes_unique"];
  EXPECT_EQ(uf + ur, blob.size() + 6);
  EXPECT_TRUE(uf == blob.size() || ur == blob.size() + 6) << uf << " " << ur;
  EXPECT_EQ(j["totals"]["bytes_in"], 3 * blob.size() + 6);
  EXPECT_EQ(j["totals"]["bytes_unique"], blob.size() + 6);
  EXPECT_EQ(j["identity"], to_hex(Pack::open(pack)->identity()));
  EXPECT_EQ(j["pack_bytes"], fs::file_size(pack));
}

// A file hardlinked under two prefixes is one inode, but each path counts
// under its own prefix.
TEST(PackDedup, HardlinkAcrossPrefixesCountsUnderEach) {
  TempDir tmp("kso-dd4");
  write_file(tmp / "one" / "f", "shared\n");
  fs::create_directories(tmp / "two" / "sub");
  ASSERT_EQ(link((tmp / "one" / "f").c_str(), (tmp / "two" / "sub" / "g").c_str()), 0);
  write_file(tmp / "two" / "h", "h\n");
  BuildStats s = build_pack(tmp / "p.kso", {{"p1", tmp / "one"}, {"p2", tmp / "two"}});
  EXPECT_EQ(s.files, 2u);
  EXPECT_EQ(s.hardlinks, 1u);
  EXPECT_EQ(s.bytes_in, 7u + 7 + 2);
  auto pk = Pack::open(tmp / "p.kso");
  EXPECT_EQ(pack_stat(*pk, "p1/f").ino, pack_stat(*pk, "p2/sub/g").ino);
  auto rows = prefix_rows(*pk);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(std::vector<std::string>(rows[0].begin(), rows[0].begin() + 3), (std::vector<std::string>{"p1", "1", "7"}));
  EXPECT_EQ(std::vector<std::string>(rows[1].begin(), rows[1].begin() + 3), (std::vector<std::string>{"p2", "2", "9"}));
}

TEST(PackBlocks, RandomDataIsStoredRawTextCompressed) {
  TempDir tmp("kso-raw");
  write_file(tmp / "src" / "random.bin", random_bytes(3u << 20, 5));
  write_file(tmp / "src" / "text.txt", text(3u << 20, 6));
  fs::path pack = tmp / "p.kso";
  WriterOptions o = small_writer_options();
  o.block_size = 1u << 20;
  BuildStats s = build_pack(pack, {{".", tmp / "src"}}, o);
  EXPECT_GT(s.blocks_raw, 0u);
  EXPECT_LT(s.blocks_raw, s.blocks);
  auto pk = Pack::open(pack);
  EXPECT_EQ(pack_report(*pk).totals.blocks_raw, s.blocks_raw);
  // One block may hold the end of one file and the start of the other; every
  // block of only random bytes is raw, every block of only text is zstd.
  auto rb = blocks_of(*pk, "random.bin"), tb = blocks_of(*pk, "text.txt");
  size_t only_random = 0, only_text = 0;
  for (uint32_t b : rb) {
    if (tb.count(b)) continue;
    only_random++;
    const BlockEntry& e = pk->block_entry(b);
    EXPECT_EQ(e.codec, Codec::Raw) << "block " << b;
    EXPECT_EQ(e.stored_size, e.raw_size);
    EXPECT_TRUE(read_file(pack).substr(e.offset, e.stored_size) == *pk->block(b));  // raw: stored bytes are the bytes
  }
  for (uint32_t b : tb) {
    if (rb.count(b)) continue;
    only_text++;
    const BlockEntry& e = pk->block_entry(b);
    EXPECT_EQ(e.codec, Codec::Zstd) << "block " << b;
    EXPECT_LT(e.stored_size, e.raw_size * 0.7);
  }
  EXPECT_GE(only_random, 2u);
  EXPECT_GE(only_text, 2u);
  EXPECT_GE(s.blocks_raw, only_random);
  EXPECT_LE(s.blocks_raw, only_random + 1);
  EXPECT_TRUE(pack_read_all(*pk, pack_stat(*pk, "random.bin").ino) == read_file(tmp / "src" / "random.bin"));
  EXPECT_TRUE(pack_read_all(*pk, pack_stat(*pk, "text.txt").ino) == read_file(tmp / "src" / "text.txt"));
}

TEST(PackBlocks, EncodeBlockKeepsTheSmallerForm) {
  std::string t = text(100000, 7), r = random_bytes(100000, 8);
  auto et = encode_block(t, 3);
  EXPECT_EQ(et.codec, Codec::Zstd);
  EXPECT_LT(et.stored.size(), t.size());
  EXPECT_EQ(et.xxh3, xxh3(et.stored.data(), et.stored.size()));
  BlockEntry e{kDataStart, uint32_t(et.stored.size()), uint32_t(t.size()), et.xxh3, et.codec};
  EXPECT_EQ(decode_block(0, e, std::string(et.stored)), t);
  auto er = encode_block(r, 19);
  EXPECT_EQ(er.codec, Codec::Raw);
  EXPECT_EQ(er.stored, r);
  auto e0 = encode_block(t, 0);  // level 0: never compress
  EXPECT_EQ(e0.codec, Codec::Raw);
  auto empty = encode_block("", 3);
  EXPECT_EQ(empty.codec, Codec::Raw);
  EXPECT_TRUE(empty.stored.empty());
  // Saving less than kMinSavings is not worth a decompression: stored raw.
  std::string mostly = random_bytes(100000, 9) + std::string(size_t(100000 * kMinSavings / 2), 'a');
  EXPECT_EQ(encode_block(mostly, 3).codec, Codec::Raw);
  // decode_block checks what the entry says.
  BlockEntry bad = e;
  bad.raw_size += 1;
  EXPECT_THROW(decode_block(0, bad, std::string(et.stored)), CorruptError);
  bad = e;
  bad.codec = Codec(7);
  EXPECT_THROW(decode_block(0, bad, std::string(et.stored)), CorruptError);
  bad = e;
  EXPECT_THROW(decode_block(0, bad, et.stored.substr(1)), CorruptError);
  BlockEntry rawe{kDataStart, uint32_t(r.size()), uint32_t(r.size() + 1), er.xxh3, Codec::Raw};
  EXPECT_THROW(decode_block(0, rawe, std::string(r)), CorruptError);
}

// Files that start like gzip (or other compressed formats) go to the stream of
// already-compressed content: never into a block with compressible files.
TEST(PackBlocks, CompressedFormatsGoToTheirOwnStream) {
  TempDir tmp("kso-gz");
  fs::path src = tmp / "src";
  write_file(src / "a.txt", text(20000, 10));
  write_file(src / "b.txt", text(20000, 11));
  std::string payload = random_bytes(50000, 12);
  write_file(tmp / "payload", payload);
  auto r = run("gzip -c -n " + (tmp / "payload").string() + " > " + (src / "real.tar.gz").string());
  ASSERT_EQ(r.status, 0) << r.output;
  // Gzip magic in front of compressible bytes: the magic decides the stream.
  write_file(src / "fake.gz", std::string("\x1f\x8b", 2) + text(20000, 13));
  write_file(src / "c.zst", std::string("\x28\xb5\x2f\xfd", 4) + random_bytes(20000, 14));
  fs::path pack = tmp / "p.kso";
  WriterOptions o = small_writer_options();
  o.similarity_order = false;  // path order: text and gz files interleave
  BuildStats s = build_pack(pack, {{".", src}}, o);
  EXPECT_EQ(s.blocks, 2u);
  auto pk = Pack::open(pack);
  auto text_blocks = blocks_of(*pk, "a.txt");
  EXPECT_EQ(blocks_of(*pk, "b.txt"), text_blocks);
  ASSERT_EQ(text_blocks.size(), 1u);
  for (auto name : {"real.tar.gz", "fake.gz", "c.zst"}) {
    auto b = blocks_of(*pk, name);
    for (uint32_t id : b) EXPECT_EQ(text_blocks.count(id), 0u) << name << " shares a block with text";
  }
  EXPECT_EQ(pk->block_entry(*text_blocks.begin()).codec, Codec::Zstd);
  // The compressed stream holds real.tar.gz's incompressible bytes: the block
  // as a whole may still compress a little (fake.gz), but must decode exactly.
  EXPECT_TRUE(pack_read_all(*pk, pack_stat(*pk, "real.tar.gz").ino) == read_file(src / "real.tar.gz"));
  EXPECT_TRUE(pack_read_all(*pk, pack_stat(*pk, "fake.gz").ino) == read_file(src / "fake.gz"));
  r = run("gzip -dc < " + (src / "real.tar.gz").string() + " | cmp - " + (tmp / "payload").string());
  EXPECT_EQ(r.status, 0) << r.output;

  // Only gzip content: every block stored raw.
  TempDir tmp2("kso-gz2");
  r = run("gzip -c -n " + (tmp / "payload").string() + " > " + (tmp2 / "x.gz").string());
  ASSERT_EQ(r.status, 0);
  BuildStats s2 = build_pack(tmp2 / "p.kso", {{"files", tmp2.path()}});
  EXPECT_EQ(s2.blocks_raw, s2.blocks);
  EXPECT_GE(s2.blocks, 1u);
}

}  // namespace
}  // namespace kso
