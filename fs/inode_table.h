// Per-inode state kso-fs keeps between requests (a file's chunk table, a
// directory's listing), keyed by inode rather than by open handle so the
// kernel can open files and directories without asking the daemon
// (FUSE_CAP_NO_OPEN_SUPPORT, FUSE_CAP_NO_OPENDIR_SUPPORT). A sharded LRU
// bounded by a weight (chunk records, directory entries).
#pragma once
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace kso {

template <typename T>
class InodeTable {
 public:
  using Loader = std::function<std::shared_ptr<T>(uint64_t ino)>;
  using Weigher = std::function<size_t(const T&)>;
  InodeTable(Loader load, Weigher weigh, size_t max_weight)
      : load_(std::move(load)), weigh_(std::move(weigh)), shard_max_(max_weight / kShards) {}

  // The state of `ino`, loaded on first use. Loads run outside the lock so a
  // slow query never stalls other inodes; concurrent loads of one inode are
  // possible and harmless (the first inserted wins).
  std::shared_ptr<T> get(uint64_t ino) {
    Shard& s = shards_[ino % kShards];
    {
      std::lock_guard lk(s.mu);
      auto it = s.map.find(ino);
      if (it != s.map.end()) {
        s.lru.splice(s.lru.begin(), s.lru, it->second.pos);
        return it->second.value;
      }
    }
    std::shared_ptr<T> v = load_(ino);
    size_t w = weigh_(*v) + 1;
    std::lock_guard lk(s.mu);
    auto it = s.map.find(ino);
    if (it != s.map.end()) return it->second.value;
    s.lru.push_front(ino);
    s.map.emplace(ino, Slot{v, s.lru.begin(), w});
    s.weight += w;
    while (s.weight > shard_max_ && s.lru.size() > 1) {
      auto victim = s.map.find(s.lru.back());
      s.weight -= victim->second.weight;
      s.map.erase(victim);
      s.lru.pop_back();
    }
    return v;
  }

 private:
  struct Slot {
    std::shared_ptr<T> value;
    std::list<uint64_t>::iterator pos;
    size_t weight;
  };
  struct Shard {
    std::mutex mu;
    std::list<uint64_t> lru;  // front = most recent
    std::unordered_map<uint64_t, Slot> map;
    size_t weight = 0;
  };
  // Shards keep FUSE threads working on different inodes off each other's lock.
  static constexpr unsigned kShards = 16;
  Loader load_;
  Weigher weigh_;
  size_t shard_max_;
  Shard shards_[kShards];
};

}  // namespace kso
