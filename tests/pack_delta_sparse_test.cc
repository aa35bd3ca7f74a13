// Delta packs built with --base-min-use (issue 10, the cold-read cost): a
// compressed base block the new tree uses for less than PCT % of its bytes is
// not referenced, its chunks are stored in the delta again; raw base blocks
// (read by the page) and well-used blocks stay referenced. Without the option
// the delta is exactly what it was: every chunk a base holds referenced.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "index/pack_open.h"
#include "index/pack_reader.h"
#include "index/sha256.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"

namespace kso {
namespace {

using namespace kso::test;

// The chunks table: digest (raw bytes) -> {block, length}.
struct ChunkRow {
  uint32_t block, length;
};
std::map<std::string, ChunkRow> chunk_rows(const Pack& p) {
  std::map<std::string, ChunkRow> out;
  for (auto& r : p.query_rows("SELECT sha256, block, length FROM chunks", 3))
    out[r[0]] = {uint32_t(std::stoul(r[1])), uint32_t(std::stoul(r[2]))};
  return out;
}

// What `now` uses of each block of `base`: distinct bytes, from the two chunk tables.
std::map<uint32_t, uint64_t> base_use(const Pack& base, const Pack& now) {
  auto old_chunks = chunk_rows(base);
  std::map<uint32_t, uint64_t> used;
  for (auto& [digest, c] : chunk_rows(now))
    if (auto o = old_chunks.find(digest); o != old_chunks.end()) used[o->second.block] += o->second.length;
  return used;
}

// Bytes of the data region a pack stores itself (blocks with base == 0).
uint64_t own_raw_bytes(const Pack& p) {
  uint64_t n = 0;
  for (uint32_t i = 0; i < p.block_count(); i++)
    if (!p.block_entry(i).base) n += p.block_entry(i).raw_size;
  return n;
}

class SparseBase : public ::testing::Test {
 protected:
  // OLD: two 3 MiB text files (zstd blocks of 1 MiB) and a 1.5 MiB random
  // one behind a gzip magic (the already-compressed stream: raw blocks). NEW keeps a.txt whole, takes 200 KiB out of the middle
  // of b.txt and 300 KiB out of the middle of r.bin, and adds a text file.
  void SetUp() override {
    const std::string a = pseudo_text(3u << 20, 1), b = pseudo_text(3u << 20, 2), r = "\x1f\x8b" + random_bytes(3u << 19, 3);
    fs::create_directories(old_ / "d");
    fs::create_directories(new_ / "d");
    fs::create_directories(tmp_ / "site");
    write_file(old_ / "d/a.txt", a);
    write_file(old_ / "d/b.txt", b);
    write_file(old_ / "d/r.bin", r);
    write_file(new_ / "d/a.txt", a);
    write_file(new_ / "d/b-part.txt", b.substr(3u << 19, 200u << 10));
    write_file(new_ / "d/r-part.bin", r.substr(1u << 19, 300u << 10));
    write_file(new_ / "d/new.txt", pseudo_text(100u << 10, 4));
    // Every mtime before SOURCE_DATE_EPOCH, which would clamp it.
    for (auto& root : {old_, new_}) {
      for (auto& f : fs::directory_iterator(root / "d")) set_mtime_ns(f.path(), 1600000000LL * 1000000000);
      set_mtime_ns(root / "d", 1600000000LL * 1000000000);
    }
    build(base_, old_, {"--block-size", "1M"});
  }

  // kso-pack build -q -o OUT --threads 2 [extra] d=ROOT/d, under a fixed SOURCE_DATE_EPOCH.
  void build(const fs::path& out, const fs::path& root, std::vector<std::string> extra) {
    SourceDateEpoch e(kVersionEpoch);
    std::vector<std::string> args{"-q", "build", "-o", out.string(), "--threads", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back("d=" + (root / "d").string());
    kso_pack_ok(args);
  }

  TempDir tmp_{"kso-sparse-base"};
  fs::path old_ = tmp_ / "old", new_ = tmp_ / "new", base_ = tmp_ / "site/OLD.kso";
};

TEST_F(SparseBase, SparselyUsedCompressedBaseBlocksAreStoredAgain) {
  fs::path exact = tmp_ / "site/EXACT.kso", sparse = tmp_ / "site/D50.kso";
  build(exact, new_, {"--base", base_.string()});
  build(sparse, new_, {"--base", base_.string(), "--base-min-use", "50"});
  auto old_p = Pack::open(base_), ex = Pack::open(exact), d = Pack::open(sparse);
  auto old_chunks = chunk_rows(*old_p), new_chunks = chunk_rows(*d), exact_chunks = chunk_rows(*ex);
  EXPECT_EQ(exact_chunks.size(), new_chunks.size());

  std::set<uint32_t> sparse_blocks, raw_sparse, dense;
  for (auto& [block, bytes] : base_use(*old_p, *d)) {
    const BlockEntry& e = old_p->block_entry(block);
    bool under = bytes * 100 < 50ull * e.raw_size;
    if (under && e.codec != Codec::Raw) sparse_blocks.insert(block);
    if (under && e.codec == Codec::Raw) raw_sparse.insert(block);
    if (!under) dense.insert(block);
  }
  // The tree is made so that each kind is there.
  ASSERT_FALSE(sparse_blocks.empty());
  ASSERT_FALSE(raw_sparse.empty());
  ASSERT_FALSE(dense.empty());

  uint64_t stored_again = 0;
  for (auto& [digest, c] : new_chunks) {
    auto o = old_chunks.find(digest);
    const BlockEntry& here = d->block_entry(c.block);
    const BlockEntry& in_exact = ex->block_entry(exact_chunks.at(digest).block);
    if (o == old_chunks.end()) {
      EXPECT_EQ(here.base, 0) << "a chunk the base lacks is stored";
      EXPECT_EQ(in_exact.base, 0);
      continue;
    }
    // The default delta references every chunk the base holds.
    EXPECT_EQ(in_exact.base, 1);
    if (sparse_blocks.count(o->second.block)) {
      EXPECT_EQ(here.base, 0) << "a chunk of a sparsely used zstd base block is stored again";
      stored_again += c.length;
    } else {
      ASSERT_EQ(here.base, 1) << "raw or well-used base block " << o->second.block << " is referenced";
      EXPECT_EQ(here.offset, o->second.block);
    }
  }
  EXPECT_GT(stored_again, 0u);
  // The delta stores exactly that much more than the default one.
  EXPECT_EQ(own_raw_bytes(*d), own_raw_bytes(*ex) + stored_again);

  // Both read as the new tree, with OLD found next to them.
  EXPECT_EQ(pack_listing(*open_pack(sparse)), tree_listing(new_));
  EXPECT_EQ(pack_listing(*open_pack(exact)), tree_listing(new_));

  // Flattened, both are the pack a fresh build of the new tree gives.
  fs::path flat = tmp_ / "FLAT.kso", m1 = tmp_ / "M1.kso", m2 = tmp_ / "M2.kso";
  build(flat, new_, {"--block-size", "1M"});
  {
    SourceDateEpoch e(kVersionEpoch);
    kso_pack_ok({"-q", "merge", sparse.string(), "-o", m1.string(), "--threads", "2"});
    kso_pack_ok({"-q", "merge", exact.string(), "-o", m2.string(), "--threads", "2"});
  }
  EXPECT_EQ(sha256_file_hex(m1), sha256_file_hex(flat));
  EXPECT_EQ(sha256_file_hex(m2), sha256_file_hex(flat));
}

TEST_F(SparseBase, ZeroIsTheDefaultAndAKidxBaseGivesTheSameBytes) {
  fs::path d0 = tmp_ / "site/D0.kso", dflt = tmp_ / "site/DFLT.kso", kidx = tmp_ / "OLD.kidx";
  build(dflt, new_, {"--base", base_.string()});
  build(d0, new_, {"--base", base_.string(), "--base-min-use", "0"});
  EXPECT_EQ(sha256_file_hex(d0), sha256_file_hex(dflt));

  fs::path from_pack = tmp_ / "site/P.kso", from_kidx = tmp_ / "site/K.kso";
  kso_pack_ok({"-q", "index", base_.string(), "-o", kidx.string()});
  build(from_pack, new_, {"--base", base_.string(), "--base-min-use", "30"});
  build(from_kidx, new_, {"--base", kidx.string(), "--base-min-use", "30"});
  EXPECT_EQ(sha256_file_hex(from_pack), sha256_file_hex(from_kidx));
  EXPECT_NE(sha256_file_hex(from_pack), sha256_file_hex(dflt)) << "30 % changes which blocks are referenced here";

  // 100: a zstd base block is referenced only when the new tree uses all of it.
  fs::path all = tmp_ / "site/D100.kso";
  build(all, new_, {"--base", base_.string(), "--base-min-use", "100"});
  auto p = Pack::open(all), old_p = Pack::open(base_);
  auto used = base_use(*old_p, *p);
  int whole = 0;
  for (uint32_t i = 0; i < p->block_count(); i++) {
    const BlockEntry& e = p->block_entry(i);
    if (!e.base || e.codec == Codec::Raw) continue;
    EXPECT_EQ(used[e.offset], old_p->block_entry(e.offset).raw_size) << "base block " << e.offset;
    whole++;
  }
  EXPECT_GT(whole, 0) << "a.txt fills whole base blocks";
  EXPECT_EQ(pack_listing(*open_pack(all)), tree_listing(new_));
}

TEST_F(SparseBase, WithoutABaseOrOutOfRangeIsAUsageError) {
  ToolResult r = kso_pack({"build", "-o", (tmp_ / "x.kso").string(), "--base-min-use", "20",
                           "d=" + (new_ / "d").string()});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_EQ(r.err.substr(0, r.err.find('\n')),
            "kso-pack: error: --base-min-use applies to delta packs: give --base too");
  EXPECT_FALSE(fs::exists(tmp_ / "x.kso"));
  r = kso_pack({"build", "-o", (tmp_ / "x.kso").string(), "--base", base_.string(), "--base-min-use", "101",
                "d=" + (new_ / "d").string()});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("--base-min-use"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace kso
