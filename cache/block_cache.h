// A byte-bounded LRU of verified, decompressed blocks in front of a Pack.
// Concurrent misses on one block decode it once; prefetch() decodes ahead on
// worker threads so sequential readers rarely wait.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "index/pack_reader.h"

namespace kso {

struct CacheStats {
  uint64_t hits = 0, misses = 0, prefetched = 0, evicted = 0, errors = 0;
  uint64_t bytes = 0;  // bytes held now
};

class BlockCache : public BlockSource {
 public:
  // `capacity` bytes of decoded blocks; `workers` prefetch threads (0: none).
  BlockCache(std::shared_ptr<Pack> pack, uint64_t capacity, unsigned workers = 2);
  ~BlockCache() override;
  BlockData block(uint32_t id) override;  // throws CorruptError on damage
  void prefetch(uint32_t id);             // queue a background load; never blocks
  CacheStats stats() const;
  Pack& pack() { return *pack_; }

 private:
  struct Pending;
  struct Shard {
    std::mutex mu;
    std::list<uint32_t> lru;  // front = most recent
    struct Slot {
      BlockData data;
      std::list<uint32_t>::iterator pos;
    };
    std::unordered_map<uint32_t, Slot> map;
    std::unordered_map<uint32_t, std::shared_ptr<Pending>> loading;
    uint64_t bytes = 0;
  };
  Shard& shard(uint32_t id) { return shards_[id % kShards]; }
  BlockData load(uint32_t id, bool from_prefetch);
  void insert(Shard& s, uint32_t id, const BlockData& d);
  void worker();

  // Shards cut lock contention between FUSE threads; blocks spread by id.
  static constexpr unsigned kShards = 8;
  std::shared_ptr<Pack> pack_;
  uint64_t shard_capacity_;
  Shard shards_[kShards];
  std::atomic<uint64_t> hits_{0}, misses_{0}, prefetched_{0}, evicted_{0}, errors_{0};

  std::mutex qmu_;
  std::condition_variable qcv_;
  std::deque<uint32_t> queue_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace kso
