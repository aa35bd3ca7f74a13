// A byte-bounded LRU of verified, decoded blocks in front of any BlockSource
// (a pack). Concurrent misses on one block decode it once; sequential readers
// get the next blocks decoded ahead on worker threads (the read-ahead policy
// lives here, not in the front ends).
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
  ~BlockCache() override;
  BlockData block(uint32_t id) override;  // throws CorruptError on damage
  uint32_t block_count() const override { return origin_->block_count(); }
  bool decodes(uint32_t id) const override { return origin_->decodes(id); }
  // Queues the next `ahead` blocks that need decoding after chunk `last` of
  // `f` (raw blocks are read in place, and the kernel's readahead on the
  // pack file covers them).
  void read_ahead(const FileLayout& f, size_t last) override;
  void prefetch(uint32_t id);             // queue a background load; never blocks
  CacheStats stats() const;

 private:
  struct Pending;
  struct Shard {
    std::mutex mu;
    Lru<uint32_t, BlockData> lru;  // weighed in decoded bytes
    std::unordered_map<uint32_t, std::shared_ptr<Pending>> loading;
  };
  Shard& shard(uint32_t id) { return shards_[id % kShards]; }
  BlockData load(uint32_t id, bool from_prefetch);
  void insert(Shard& s, uint32_t id, const BlockData& d);
  void worker();

  // Shards cut lock contention between FUSE threads; blocks spread by id.
  static constexpr unsigned kShards = 8;
  // Chunks scanned ahead when looking for the next blocks to decode.
  static constexpr size_t kAheadScan = 512;
  std::shared_ptr<BlockSource> origin_;
  unsigned ahead_;
  Shard shards_[kShards];
  std::atomic<uint64_t> hits_{0}, misses_{0}, prefetched_{0}, evicted_{0}, errors_{0};

  std::mutex qmu_;
  std::condition_variable qcv_;
  std::deque<uint32_t> queue_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace kso
