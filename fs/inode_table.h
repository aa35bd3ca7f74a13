// Per-inode state kso-fs keeps between requests (a file's chunk table, a
// directory's listing), keyed by inode rather than by open handle so the
// kernel can open files and directories without asking the daemon
// (FUSE_CAP_NO_OPEN_SUPPORT, FUSE_CAP_NO_OPENDIR_SUPPORT). A sharded LRU
// bounded by a weight (chunk records, directory entries).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "cache/lru.h"

namespace kso {

template <typename T>
class InodeTable {
 public:
  using Loader = std::function<std::shared_ptr<T>(uint64_t ino)>;
  using Weigher = std::function<size_t(const T&)>;
  InodeTable(Loader load, Weigher weigh, size_t max_weight)
      : load_(std::move(load)), weigh_(std::move(weigh)) {
    for (auto& s : shards_) s.lru = Lru<uint64_t, std::shared_ptr<T>>(max_weight / kShards);
  }

  // The state of `ino`, loaded on first use. Loads run outside the lock so a
  // slow query never stalls other inodes; concurrent loads of one inode are
  // possible and harmless (the first inserted wins).
  std::shared_ptr<T> get(uint64_t ino) {
    Shard& s = shards_[ino % kShards];
    {
      std::lock_guard lk(s.mu);
      if (auto* v = s.lru.get(ino)) return *v;
    }
    std::shared_ptr<T> v = load_(ino);
    size_t w = weigh_(*v) + 1;
    std::lock_guard lk(s.mu);
    if (auto* first = s.lru.peek(ino)) return *first;
    s.lru.insert(ino, v, w);
    return v;
  }

 private:
  struct Shard {
    std::mutex mu;
    Lru<uint64_t, std::shared_ptr<T>> lru;
  };
  // Shards keep FUSE threads working on different inodes off each other's lock.
  static constexpr unsigned kShards = 16;
  Loader load_;
  Weigher weigh_;
  Shard shards_[kShards];
};

}  // namespace kso
