// BlockCache: LRU by bytes, hits and misses, single-flight loads, prefetch,
// and damage that is reported but never cached.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cache/block_cache.h"
#include "index/error.h"
#include "index/pack_reader.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"

namespace kso {
namespace {

using namespace kso::test;

// A pack of 64 KiB blocks (random data, stored raw; each block 48..64 KiB:
// blocks are sealed at the chunk that would overflow them).
struct CachePack {
  TempDir tmp{"kso-cache"};
  fs::path pack = tmp / "p.kso";
  std::shared_ptr<Pack> pk;
  std::string data = random_bytes(40 * 65536, 1);
  CachePack() {
    write_file(tmp / "src" / "data.bin", data);
    WriterOptions o = small_writer_options();
    o.block_size = 64 * 1024;
    o.chunk = small_chunks();
    build_pack(pack, {{".", tmp / "src"}}, o);
    pk = Pack::open(pack);
    for (uint32_t id = 0; id < pk->block_count(); id++) {
      EXPECT_LE(pk->block_entry(id).raw_size, 65536u);
      if (id + 1 < pk->block_count()) {
        EXPECT_GE(pk->block_entry(id).raw_size, 65536u - 16384);
      }
    }
  }
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
  for (uint32_t id = 0; id < p.pk->block_count(); id++) {
    BlockData a = c.block(id);
    EXPECT_EQ(*a, *p.pk->block(id));
    BlockData b = c.block(id);
    EXPECT_EQ(a.get(), b.get());  // the cached object itself
  }
  auto s = c.stats();
  EXPECT_EQ(s.misses, p.pk->block_count());
  EXPECT_EQ(s.hits, p.pk->block_count());
  EXPECT_EQ(s.evicted, 0u);
  uint64_t total = 0;
  for (uint32_t id = 0; id < p.pk->block_count(); id++) total += p.pk->block_entry(id).raw_size;
  EXPECT_EQ(s.bytes, total);
  EXPECT_THROW(c.block(p.pk->block_count() + 5), CorruptError);
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

TEST(BlockCache, TinyCapacityStillServesEveryBlock) {
  CachePack p;
  BlockCache c(p.pk, 1, 0);  // smaller than any block: keeps just the newest per shard
  for (int round = 0; round < 2; round++)
    for (uint32_t id = 0; id < p.pk->block_count(); id++) EXPECT_EQ(*c.block(id), *p.pk->block(id));
  EXPECT_LE(c.stats().bytes, 8 * 65536u);
  auto f = p.pk->layout(pack_stat(*p.pk, "data.bin").ino);
  EXPECT_TRUE(read_through(*p.pk, *f, 0, p.data.size(), c) == p.data);
}

TEST(BlockCache, ConcurrentMissesShareOneLoad) {
  CachePack p;
  for (int round = 0; round < 20; round++) {
    BlockCache c(p.pk, 64u << 20, 0);
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
    auto s = c.stats();
    EXPECT_EQ(s.hits + s.misses, 16u);
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
