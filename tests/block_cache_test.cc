// BlockCache: LRU by bytes, hits and misses, single-flight loads, prefetch,
// read-ahead, and damage that is reported but never cached. The pack holds
// compressible data, so its blocks are zstd ones: the only blocks kso-fs's
// read path asks the cache for (raw blocks are read in place).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cache/block_cache.h"
#include "index/block_buffer.h"
#include "index/error.h"
#include "index/format.h"
#include "index/pack_reader.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"

namespace kso {
namespace {

using namespace kso::test;

// A pack of 64 KiB blocks of compressible text, every one zstd (each block
// 48..64 KiB decoded: blocks are sealed at the chunk that would overflow them).
struct CachePack {
  TempDir tmp{"kso-cache"};
  fs::path pack = tmp / "p.kso";
  std::shared_ptr<Pack> pk;
  std::string data = pseudo_text(40 * 65536, 1);
  CachePack() {
    write_file(tmp / "src" / "data.bin", data);
    WriterOptions o = small_writer_options();
    o.block_size = 64 * 1024;
    o.chunk = small_chunks();
    build_pack(pack, {{".", tmp / "src"}}, o);
    pk = Pack::open(pack);
    for (uint32_t id = 0; id < pk->block_count(); id++) {
      const BlockEntry& e = pk->block_entry(id);
      EXPECT_EQ(e.codec, Codec::Zstd) << "block " << id;
      EXPECT_TRUE(pk->decodes(id)) << "block " << id;
      EXPECT_LT(e.stored_size, e.raw_size / 2) << "block " << id;
      EXPECT_LE(e.raw_size, 65536u);
      if (id + 1 < pk->block_count()) {
        EXPECT_GE(e.raw_size, 65536u - 16384);
      }
    }
  }
  std::shared_ptr<const FileLayout> layout() const { return pk->layout(pack_stat(*pk, "data.bin").ino); }
};

// A source in front of the pack that counts the loads it serves; `gate`,
// if set, runs before each load (with the block's id).
struct CountingSource : BlockSource {
  std::shared_ptr<Pack> pk;
  std::atomic<uint32_t> loads{0};
  std::function<void(uint32_t)> gate;
  explicit CountingSource(std::shared_ptr<Pack> p) : pk(std::move(p)) {}
  BlockData block(uint32_t id) override {
    if (gate) gate(id);
    loads++;
    return pk->block(id);
  }
  uint32_t block_count() const override { return pk->block_count(); }
  bool decodes(uint32_t id) const override { return pk->decodes(id); }
};

// Waits (bounded) until `pred` holds; prefetch runs on worker threads.
template <class F>
bool eventually(F pred) {
  for (int i = 0; i < 2000; i++) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

TEST(BlockCache, HitsMissesAndVerifiedBytes) {
  CachePack p;
  ASSERT_GE(p.pk->block_count(), 40u);
  BlockCache c(p.pk, 64u << 20, 0);
  std::vector<BlockData> got;
  for (uint32_t id = 0; id < p.pk->block_count(); id++) {
    BlockData a = c.block(id);
    EXPECT_EQ(a->size(), p.pk->block_entry(id).raw_size);
    EXPECT_EQ(*a, *p.pk->block(id));
    BlockData b = c.block(id);
    EXPECT_EQ(a.get(), b.get());  // the cached object itself
    got.push_back(a);
  }
  // The decoded blocks hold the source's bytes where the index says.
  auto f = p.layout();
  uint64_t covered = 0;
  for (const ChunkRef& ch : f->chunks) {
    ASSERT_LT(ch.block, got.size());
    ASSERT_LE(uint64_t(ch.block_offset) + ch.length, got[ch.block]->size());
    EXPECT_EQ(got[ch.block]->compare(ch.block_offset, ch.length, p.data, ch.file_offset, ch.length), 0)
        << "chunk at " << ch.file_offset;
    covered += ch.length;
  }
  EXPECT_EQ(covered, p.data.size());
  auto s = c.stats();
  EXPECT_EQ(s.misses, p.pk->block_count());
  EXPECT_EQ(s.hits, p.pk->block_count());
  EXPECT_EQ(s.evicted, 0u);
  uint64_t total = 0;
  for (uint32_t id = 0; id < p.pk->block_count(); id++) total += p.pk->block_entry(id).raw_size;
  EXPECT_EQ(s.bytes, total);
  EXPECT_THROW(c.block(p.pk->block_count() + 5), CorruptError);
}

TEST(BlockCache, ReadPathDecodesEachBlockOnce) {
  // What kso-fs does: reads through the reader's read path, the cache as its
  // block source. A roomy cache decodes every block once, then only hits.
  CachePack p;
  const uint32_t n = p.pk->block_count();
  BlockCache c(p.pk, 64u << 20, 0);
  auto f = p.layout();
  EXPECT_TRUE(read_through(*p.pk, *f, 0, p.data.size(), c) == p.data);
  auto s = c.stats();
  EXPECT_EQ(s.misses, n);
  EXPECT_EQ(s.errors, 0u);
  EXPECT_TRUE(read_through(*p.pk, *f, 0, p.data.size(), c) == p.data);
  EXPECT_EQ(c.stats().misses, n);
  EXPECT_GE(c.stats().hits, s.hits + n);
  // A small read in the middle: one block, a hit.
  uint64_t hits = c.stats().hits;
  EXPECT_EQ(read_through(*p.pk, *f, 1000003, 100, c), p.data.substr(1000003, 100));
  EXPECT_EQ(c.stats().hits, hits + 1);
  EXPECT_EQ(c.stats().misses, n);
}

TEST(BlockCache, EvictsLeastRecentlyUsedWithinCapacity) {
  CachePack p;
  const uint64_t block = 65536;
  BlockCache c(p.pk, 8 * 2 * block, 0);  // 8 shards x 2 blocks
  const uint32_t n = p.pk->block_count();
  for (uint32_t id = 0; id < n; id++) c.block(id);
  auto s = c.stats();
  EXPECT_LE(s.bytes, 8 * 2 * block);
  EXPECT_GT(s.evicted, 0u);
  EXPECT_LE(s.evicted, n - 16u);  // every shard keeps its two newest blocks
  EXPECT_GE(s.evicted, n - 17u);  // (three where the short last block is one)
  // Blocks 0..7 went first (oldest in their shards); the newest are still in.
  uint64_t misses = c.stats().misses;
  c.block(n - 1);
  EXPECT_EQ(c.stats().misses, misses);
  c.block(0);
  EXPECT_EQ(c.stats().misses, misses + 1);
  // Touching a block keeps it: in shard 1, use 1, then load 9 and 17 (same
  // shard): 1 was used more recently than 9, so 9 is the one evicted.
  BlockCache d(p.pk, 8 * 2 * block, 0);
  d.block(1);
  d.block(9);
  d.block(1);
  d.block(17);
  misses = d.stats().misses;
  d.block(1);
  EXPECT_EQ(d.stats().misses, misses) << "recently used block was evicted";
  d.block(9);
  EXPECT_EQ(d.stats().misses, misses + 1);
}

TEST(BlockCache, EvictedBlocksAreDecodedIntoAgainAndReadsStayExact) {
  // A cache of about one block per shard, read through three times with
  // read-ahead on: evicted blocks' memory comes back for the next decodes
  // (still holding an older block's bytes), and every read is exact.
  CachePack p;
  BlockCache c(p.pk, 8 * 65536, 2, 2);
  auto f = p.layout();
  auto before = block_buffer_stats();
  for (int round = 0; round < 3; round++)
    EXPECT_TRUE(read_through(*p.pk, *f, 0, p.data.size(), c) == p.data) << "round " << round;
  for (uint64_t off = 0; off + 70000 < p.data.size(); off += 333333)
    EXPECT_EQ(read_through(*p.pk, *f, off, 70000, c), p.data.substr(off, 70000)) << "at " << off;
  EXPECT_GT(c.stats().evicted, 0u);
  EXPECT_GT(block_buffer_stats().recycled, before.recycled);
  EXPECT_EQ(c.stats().errors, 0u);
}

TEST(BlockCache, TinyCapacityStillServesEveryBlock) {
  CachePack p;
  BlockCache c(p.pk, 1, 0);  // smaller than any block: keeps just the newest per shard
  for (int round = 0; round < 2; round++)
    for (uint32_t id = 0; id < p.pk->block_count(); id++) EXPECT_EQ(*c.block(id), *p.pk->block(id));
  EXPECT_LE(c.stats().bytes, 8 * 65536u);
  // Through the read path: every block decoded again (a shard's one
  // leftover is long gone when its turn comes).
  uint64_t misses = c.stats().misses;
  auto f = p.layout();
  EXPECT_TRUE(read_through(*p.pk, *f, 0, p.data.size(), c) == p.data);
  EXPECT_GE(c.stats().misses, misses + p.pk->block_count());
  EXPECT_LE(c.stats().bytes, 8 * 65536u);
}

TEST(BlockCache, ConcurrentMissesShareOneLoad) {
  CachePack p;
  for (int round = 0; round < 20; round++) {
    // The load is held until all 16 callers have missed (each counts its
    // miss before it loads or waits), so every one of them is in flight at
    // once, whatever the scheduling.
    auto src = std::make_shared<CountingSource>(p.pk);
    BlockCache c(src, 64u << 20, 0);
    src->gate = [&](uint32_t) {
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (c.stats().misses < 16 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
    };
    std::vector<BlockData> got(16);
    std::atomic<int> ready{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < 16; t++)
      ts.emplace_back([&, t] {
        ready++;
        while (ready < 16) std::this_thread::yield();
        got[t] = c.block(3);
      });
    for (auto& t : ts) t.join();
    for (int t = 1; t < 16; t++) EXPECT_EQ(got[t].get(), got[0].get()) << "round " << round;
    EXPECT_EQ(*got[0], *p.pk->block(3));
    auto s = c.stats();
    EXPECT_EQ(s.misses, 16u) << "round " << round;
    EXPECT_EQ(s.hits, 0u) << "round " << round;
    EXPECT_EQ(src->loads.load(), 1u) << "16 concurrent misses, round " << round;
    EXPECT_EQ(s.bytes, p.pk->block_entry(3).raw_size);
  }
}

TEST(BlockCache, PrefetchLoadsInTheBackground) {
  CachePack p;
  BlockCache c(p.pk, 64u << 20, 2);
  for (uint32_t id = 0; id < 10; id++) c.prefetch(id);
  c.prefetch(p.pk->block_count() + 100);  // out of range: ignored
  ASSERT_TRUE(eventually([&] { return c.stats().prefetched == 10; })) << c.stats().prefetched;
  for (uint32_t id = 0; id < 10; id++) EXPECT_EQ(*c.block(id), *p.pk->block(id));
  auto s = c.stats();
  EXPECT_EQ(s.hits, 10u);
  EXPECT_EQ(s.misses, 0u);
  c.prefetch(3);  // already cached: nothing to do
  EXPECT_EQ(c.stats().prefetched, 10u);
  // Without workers prefetch is a no-op.
  BlockCache none(p.pk, 64u << 20, 0);
  none.prefetch(1);
  EXPECT_EQ(none.stats().bytes, 0u);
}

TEST(BlockCache, SequentialReadDecodesTheNextBlocksAhead) {
  CachePack p;
  auto f = p.layout();
  ASSERT_EQ(f->chunks.front().block, 0u);
  BlockCache c(p.pk, 64u << 20, 2, 2);  // two blocks ahead
  EXPECT_EQ(read_through(*p.pk, *f, 0, 100, c), p.data.substr(0, 100));
  ASSERT_TRUE(eventually([&] { return c.stats().prefetched == 2; })) << c.stats().prefetched;
  EXPECT_EQ(c.stats().misses, 1u);  // block 0; blocks 1 and 2 were decoded ahead
  EXPECT_EQ(*c.block(1), *p.pk->block(1));
  EXPECT_EQ(*c.block(2), *p.pk->block(2));
  EXPECT_EQ(c.stats().misses, 1u);
  EXPECT_EQ(c.stats().hits, 2u);
  EXPECT_EQ(c.stats().prefetched, 2u);  // nothing further was queued
  // A random read (not where the last one ended) queues nothing.
  uint64_t mid = p.data.size() / 2;
  EXPECT_EQ(read_through(*p.pk, *f, mid, 100, c), p.data.substr(mid, 100));
  EXPECT_EQ(c.stats().misses, 2u);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(c.stats().prefetched, 2u);
}

TEST(BlockCache, DamageIsReportedNotCached) {
  CachePack p;
  const BlockEntry e = p.pk->block_entry(5);
  xor_byte(p.pack, e.offset + 100, 0x10);
  BlockCache c(p.pk, 64u << 20, 2);
  c.prefetch(5);  // a failing prefetch is silent
  ASSERT_TRUE(eventually([&] { return c.stats().errors >= 1; }));
  for (int i = 0; i < 3; i++) {
    try {
      c.block(5);
      ADD_FAILURE() << "damaged block served";
    } catch (const CorruptError& err) {
      EXPECT_NE(std::string(err.what()).find("block 5 "), std::string::npos) << err.what();
    }
  }
  // Many threads at once: all see the error.
  std::atomic<int> caught{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; t++)
    ts.emplace_back([&] {
      try {
        c.block(5);
      } catch (const CorruptError&) {
        caught++;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(caught.load(), 8);
  EXPECT_EQ(*c.block(6), *p.pk->block(6));  // neighbours are fine
  // Repaired on disk: the next read succeeds, nothing bad was kept.
  xor_byte(p.pack, e.offset + 100, 0x10);
  EXPECT_EQ(*c.block(5), *p.pk->block(5));
}

}  // namespace
}  // namespace kso
