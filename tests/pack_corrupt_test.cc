// Damage in the data region: every single-byte corruption of a block is caught
// (never served as wrong bytes), `verify` names the block, and open() does not
// read the data region at all.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>
#include <set>
#include <string>
#include <tuple>

#include "cache/block_cache.h"
#include "index/error.h"
#include "index/pack_reader.h"
#include "index/verify.h"
#include "tools/pack_report.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"

namespace kso {
namespace {

using namespace kso::test;

std::string text(size_t n, uint64_t seed) {
  std::string r = random_bytes(n, seed), s;
  for (size_t i = 0; s.size() < n; i++) s += "word" + std::to_string(uint8_t(r[i % r.size()]) % 50) + " ";
  s.resize(n);
  return s;
}

// Flips byte `pos` of block `id` (with each mask) and checks every way of
// reading it refuses; restores the byte after each flip.
void expect_every_flip_detected(Pack& pk, const fs::path& file, uint32_t id, uint64_t ino, const std::string& content,
                                const std::vector<uint64_t>& positions) {
  const BlockEntry e = pk.block_entry(id);
  BlockCache cache(std::shared_ptr<Pack>(&pk, [](Pack*) {}), 64u << 20, 0);
  auto layout = pk.layout(ino);
  const std::string block_name = "block " + std::to_string(id) + " ";
  int undetected = 0;
  for (uint64_t pos : positions) {
    for (uint8_t mask : {uint8_t(0x01), uint8_t(0x80), uint8_t(0xff)}) {
      xor_byte(file, e.offset + pos, mask);
      auto must_throw = [&](const char* how, auto&& fn) {
        try {
          fn();
          if (undetected++ < 5) ADD_FAILURE() << how << ": flip of byte " << pos << " ^" << int(mask) << " not detected";
        } catch (const CorruptError& err) {
          if (std::string(err.what()).find(block_name) == std::string::npos && undetected++ < 5)
            ADD_FAILURE() << how << ": error does not name the block: " << err.what();
        }
      };
      must_throw("Pack::block", [&] { pk.block(id); });
      must_throw("verify_block", [&] { verify_block(pk, id); });
      must_throw("BlockCache::block", [&] { cache.block(id); });
      must_throw("Pack::read", [&] {
        std::string buf(content.size(), '\0');
        size_t n = pk.read(ino, 0, buf.size(), buf.data());
        if (buf.compare(0, n, content.substr(0, n)) != 0) ADD_FAILURE() << "wrong bytes served";
      });
      must_throw("Pack::read via cache", [&] {
        std::string got = read_through(pk, *layout, 0, content.size(), cache);
        if (got != content.substr(0, got.size())) ADD_FAILURE() << "wrong bytes served";
      });
      xor_byte(file, e.offset + pos, mask);
    }
  }
  EXPECT_EQ(undetected, 0);
  // Restored: reads work again (errors are not cached).
  EXPECT_EQ(cache.block(id)->size(), e.raw_size);
  EXPECT_TRUE(pack_read_all(pk, ino) == content);
  EXPECT_GE(cache.stats().errors, positions.size() * 3);
}

TEST(PackCorrupt, EverySingleByteOfSmallBlocksIsDetected) {
  TempDir tmp("kso-corrupt");
  const std::string t = text(600, 1);                                           // zstd block
  const std::string z = std::string("\x1f\x8b", 2) + random_bytes(300, 2);      // raw block (gzip stream)
  write_file(tmp / "src" / "t.txt", t);
  write_file(tmp / "src" / "z.gz", z);
  fs::path pack = tmp / "p.kso";
  BuildStats s = build_pack(pack, {{".", tmp / "src"}});
  ASSERT_EQ(s.blocks, 2u);
  auto pk = Pack::open(pack);
  for (auto [name, content, codec] : {std::tuple{"t.txt", t, Codec::Zstd}, std::tuple{"z.gz", z, Codec::Raw}}) {
    SCOPED_TRACE(name);
    Stat st = pack_stat(*pk, name);
    auto f = pk->layout(st.ino);
    ASSERT_EQ(f->chunks.size(), 1u);
    uint32_t id = f->chunks[0].block;
    const BlockEntry& e = pk->block_entry(id);
    EXPECT_EQ(e.codec, codec);
    ASSERT_LT(e.stored_size, 1000u);
    std::vector<uint64_t> all;
    for (uint64_t i = 0; i < e.stored_size; i++) all.push_back(i);
    expect_every_flip_detected(*pk, pack, id, st.ino, content, all);
  }
}

TEST(PackCorrupt, SampledBytesOfLargeBlocksAreDetected) {
  TempDir tmp("kso-corrupt2");
  const std::string t = text(3u << 20, 3), r = random_bytes(2u << 20, 4);
  write_file(tmp / "src" / "t.txt", t);
  write_file(tmp / "src" / "r.bin", r);
  fs::path pack = tmp / "p.kso";
  WriterOptions o = small_writer_options();
  o.block_size = 8u << 20;  // each file's bytes in one block
  build_pack(pack, {{".", tmp / "src"}}, o);
  auto pk = Pack::open(pack);
  for (auto [name, content] : {std::pair{"t.txt", t}, std::pair{"r.bin", r}}) {
    SCOPED_TRACE(name);
    Stat st = pack_stat(*pk, name);
    std::set<uint32_t> ids;
    auto f = pk->layout(st.ino);
    for (auto& c : f->chunks) ids.insert(c.block);
    ASSERT_EQ(ids.size(), 1u);
    uint32_t id = *ids.begin();
    uint64_t n = pk->block_entry(id).stored_size;
    ASSERT_GT(n, 100000u);
    std::vector<uint64_t> pos = {0, 1, 2, 3, 4, 5, 6, 7, 8, n / 2, n - 9, n - 2, n - 1};
    std::mt19937_64 rng(5);
    for (int i = 0; i < 40; i++) pos.push_back(rng() % n);
    expect_every_flip_detected(*pk, pack, id, st.ino, content, pos);
  }
}

TEST(PackCorrupt, VerifyNamesTheDamagedBlockAndFiles) {
  TempDir tmp("kso-verify");
  fs::path src = tmp / "src";
  write_file(src / "a.txt", text(1u << 20, 6));
  write_file(src / "b.bin", random_bytes(1u << 20, 7));
  write_file(src / "c.txt", text(300000, 8));
  write_file(src / "dir" / "copy_of_b.bin", random_bytes(1u << 20, 7));
  fs::path pack = tmp / "p.kso";
  WriterOptions o = small_writer_options();
  o.block_size = 512 * 1024;
  BuildStats s = build_pack(pack, {{".", src}}, o);
  ASSERT_GT(s.blocks, 4u);
  auto r = kso_pack_words("verify " + pack.string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("ok: " + pack.string() + ": " + std::to_string(s.blocks) + " blocks, "), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find(" chunks and 4 files verified; identity " + to_hex(s.identity)), std::string::npos)
      << r.output;

  auto pk = Pack::open(pack);
  const std::vector<std::string> names = {"a.txt", "b.bin", "c.txt", "dir/copy_of_b.bin"};
  auto files_in = [&](uint32_t block) {
    std::set<std::string> v;
    for (auto& n : names) {
      auto f = pk->layout(pack_stat(*pk, n).ino);
      for (auto& c : f->chunks)
        if (c.block == block) v.insert(n);
    }
    return v;
  };
  uint32_t id = pk->layout(pack_stat(*pk, "b.bin").ino)->chunks.back().block;
  const BlockEntry e = pk->block_entry(id);
  const auto hit = files_in(id);
  ASSERT_TRUE(hit.count("b.bin") && hit.count("dir/copy_of_b.bin"));  // dedup: one copy for both
  for (uint64_t pos : {uint64_t(0), uint64_t(e.stored_size / 3), uint64_t(e.stored_size - 1)}) {
    xor_byte(pack, e.offset + pos, 0x20);
    r = kso_pack_words("verify " + pack.string());
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("damaged: block " + std::to_string(id) + " at offset " + std::to_string(e.offset)),
              std::string::npos)
        << r.output;
    for (auto& n : names) {
      bool listed = r.output.find("damaged file: " + n + ":") != std::string::npos;
      EXPECT_EQ(listed, hit.count(n) > 0) << n << "\n" << r.output;
    }
    EXPECT_NE(r.output.find("DAMAGED: " + pack.string() + ": 1 of " + std::to_string(s.blocks) + " blocks, "),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find(", " + std::to_string(hit.size()) + " of 4 files"), std::string::npos) << r.output;
    // The other commands refuse the damaged file too, and never exit 0.
    r = kso_pack_words("cat " + pack.string() + " b.bin");
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("block " + std::to_string(id)), std::string::npos) << r.output;
    r = kso_pack_words("extract " + pack.string() + " " + (tmp / "x").string());
    EXPECT_EQ(r.status, 1) << r.output;
    for (auto& n : names) {
      if (hit.count(n)) continue;
      ToolResult c = kso_pack({"cat", pack.string(), n});
      EXPECT_EQ(c.status, 0) << n << ": " << c.err;
      EXPECT_TRUE(c.out == read_file(src / n)) << n;
    }
    xor_byte(pack, e.offset + pos, 0x20);
  }
  r = kso_pack_words("verify " + pack.string());
  EXPECT_EQ(r.status, 0) << r.output;
  // Two blocks at once: both named.
  uint32_t id2 = (id + 1) % pk->block_count();
  xor_byte(pack, e.offset + 10, 1);
  xor_byte(pack, pk->block_entry(id2).offset + 10, 1);
  r = kso_pack_words("verify " + pack.string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("damaged: block " + std::to_string(id) + " "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("damaged: block " + std::to_string(id2) + " "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(": 2 of " + std::to_string(s.blocks) + " blocks"), std::string::npos) << r.output;
}

// open() reads header, trailer, block table and index, never the data region:
// with every data byte destroyed it still opens and answers tree queries,
// while every read of file content fails.
TEST(PackCorrupt, OpenDoesNotDependOnTheDataRegion) {
  TempDir tmp("kso-opendata");
  fs::path src = tmp / "src";
  write_file(src / "a.txt", text(2u << 20, 9));
  write_file(src / "b.bin", random_bytes(1u << 20, 10));
  write_file(src / "d" / "e", "e\n");
  write_file(src / "empty", "");
  ASSERT_EQ(symlink("a.txt", (src / "link").c_str()), 0);
  fs::path pack = tmp / "p.kso";
  WriterOptions o = small_writer_options();
  o.block_size = 256 * 1024;
  build_pack(pack, {{".", src}}, o);
  const uint64_t end = data_end(pack);

  // One damaged block: opens; only files in that block fail.
  auto pk0 = Pack::open(pack);
  uint32_t id = pk0->layout(pack_stat(*pk0, "b.bin").ino)->chunks[0].block;
  xor_byte(pack, pk0->block_entry(id).offset + 5, 0xff);
  auto pk1 = Pack::open(pack);
  std::string buf(16, '\0');
  EXPECT_THROW(pk1->read(pack_stat(*pk1, "b.bin").ino, 0, 16, buf.data()), CorruptError);
  int intact = 0;
  for (auto name : {"a.txt", "d/e"}) {
    auto f = pk1->layout(pack_stat(*pk1, name).ino);
    bool damaged = false;
    for (auto& c : f->chunks) damaged |= c.block == id;
    if (damaged) {
      EXPECT_THROW(pack_read_all(*pk1, pack_stat(*pk1, name).ino), CorruptError) << name;
    } else {
      EXPECT_TRUE(pack_read_all(*pk1, pack_stat(*pk1, name).ino) == read_file(src / name)) << name;
      intact++;
    }
  }
  EXPECT_GT(intact, 0);

  // Every data byte overwritten.
  {
    std::string all = read_file(pack);
    for (uint64_t i = kDataStart; i < end; i++) all[i] = char(0xa5);
    write_file(pack, all);
  }
  std::shared_ptr<Pack> pk;
  ASSERT_NO_THROW(pk = Pack::open(pack));
  EXPECT_EQ(pk->readdir(kRootIno).size(), 5u);
  EXPECT_EQ(pack_stat(*pk, "a.txt").size, 2u << 20);
  EXPECT_EQ(pk->readlink(pack_stat(*pk, "link").ino), "a.txt");
  EXPECT_EQ(pack_report(*pk).totals.files, 4u);
  EXPECT_EQ(pk->layout(pack_stat(*pk, "b.bin").ino)->size, 1u << 20);
  EXPECT_EQ(pack_read_all(*pk, pack_stat(*pk, "empty").ino), "");
  for (auto name : {"a.txt", "b.bin", "d/e"}) {
    EXPECT_THROW(pk->read(pack_stat(*pk, name).ino, 0, 16, buf.data()), CorruptError) << name;
  }
  for (uint32_t i = 0; i < pk->block_count(); i++) EXPECT_THROW(pk->block(i), CorruptError) << i;
  auto r = kso_pack_words("ls -l " + pack.string());
  EXPECT_EQ(r.status, 0) << r.output;
  r = kso_pack_words("verify " + pack.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(std::to_string(pk->block_count()) + " of " + std::to_string(pk->block_count()) + " blocks"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace kso
