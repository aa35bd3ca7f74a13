// A byte-bounded LRU of verified, decoded blocks in front of any BlockSource
// (a pack). Concurrent misses on one block decode it once; sequential readers
// get the next blocks decoded ahead on worker threads (the read-ahead policy
// lives here, not in the front ends). One cache can front several origins
// (the packs of a union mount): blocks are keyed by (origin, block id), and
// origin(k) is the BlockSource a reader of origin k's files reads through.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cache/lru.h"
#include "index/pack_reader.h"

namespace kso {

struct CacheStats {
  uint64_t hits = 0, misses = 0, prefetched = 0, evicted = 0, errors = 0;
  uint64_t bytes = 0;  // bytes held now
};

class BlockCache : public BlockSource {
 public:
  // `capacity` bytes of decoded blocks from `origin`; `workers` prefetch
  // threads (0: none); `ahead` compressed blocks decoded ahead of a
  // sequential reader.
  BlockCache(std::shared_ptr<BlockSource> origin, uint64_t capacity, unsigned workers = 2, unsigned ahead = 2);
  // The same over several origins sharing the one capacity (at least one).
  BlockCache(std::vector<std::shared_ptr<BlockSource>> origins, uint64_t capacity, unsigned workers = 2,
             unsigned ahead = 2);
  ~BlockCache() override;
  // As a BlockSource the cache is its first origin's; origin(k) is origin k's.
  BlockData block(uint32_t id) override { return block(0, id); }  // throws CorruptError on damage
  uint32_t block_count() const override { return origins_[0]->block_count(); }
  bool decodes(uint32_t id) const override { return origins_[0]->decodes(id); }
  // Queues the next `ahead` blocks that need decoding after chunk `last` of
  // `f` (raw blocks are read in place, and the kernel's readahead on the
  // pack file covers them).
  void read_ahead(const FileLayout& f, size_t last) override { read_ahead(0, f, last); }
  void prefetch(uint32_t id) { prefetch(0, id); }  // queue a background load; never blocks
  size_t origin_count() const { return origins_.size(); }
  BlockSource& origin(size_t k) { return *views_[k]; }  // k < origin_count()
  CacheStats stats() const;

 private:
  struct Pending;
  class View;
  // (origin, block id) in one word: the origin in the high half.
  using Key = uint64_t;
  static Key key(size_t k, uint32_t id) { return Key(k) << 32 | id; }
  struct Shard {
    std::mutex mu;
    Lru<Key, BlockData> lru;  // weighed in decoded bytes
    std::unordered_map<Key, std::shared_ptr<Pending>> loading;
  };
  // Origin 0's blocks spread by id alone; other origins' are shifted by their index.
  Shard& shard(Key k) { return shards_[(uint32_t(k) + (k >> 32)) % kShards]; }
  BlockData block(size_t k, uint32_t id);
  void read_ahead(size_t k, const FileLayout& f, size_t last);
  void prefetch(size_t k, uint32_t id);
  BlockData load(Key k, bool from_prefetch);
  void insert(Shard& s, Key k, const BlockData& d);
  void worker();

  // Shards cut lock contention between FUSE threads; blocks spread by id.
  static constexpr unsigned kShards = 8;
  // Chunks scanned ahead when looking for the next blocks to decode.
  static constexpr size_t kAheadScan = 512;
  std::vector<std::shared_ptr<BlockSource>> origins_;
  std::vector<std::unique_ptr<BlockSource>> views_;  // origin(k)
  unsigned ahead_;
  Shard shards_[kShards];
  std::atomic<uint64_t> hits_{0}, misses_{0}, prefetched_{0}, evicted_{0}, errors_{0};

  std::mutex qmu_;
  std::condition_variable qcv_;
  std::deque<Key> queue_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace kso
