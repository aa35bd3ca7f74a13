// A least-recently-used map bounded by a total weight (bytes, records): the
// one LRU behind the block cache's shards and kso-fs's inode table. Not
// thread-safe; callers keep one per shard, under the shard's lock.
#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>

namespace kso {

template <typename K, typename V>
class Lru {
 public:
  explicit Lru(uint64_t max_weight = 0) : max_weight_(max_weight) {}

  // The value of `k`, now the most recently used; nullptr if absent. The
  // pointer is valid until the next insert().
  V* get(const K& k) {
    auto it = map_.find(k);
    if (it == map_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second.pos);
    return &it->second.value;
  }
  // The same, leaving the order alone.
  V* peek(const K& k) {
    auto it = map_.find(k);
    return it == map_.end() ? nullptr : &it->second.value;
  }
  bool contains(const K& k) const { return map_.count(k) != 0; }

  // Adds `k` as the most recently used, unless it is present (the value
  // already there stays, untouched), then drops least recently used entries
  // until the total weight fits, always keeping the newest even if it alone
  // is heavier than the bound. Returns the number of entries dropped.
  size_t insert(const K& k, V v, uint64_t weight) {
    return insert(k, std::move(v), weight, [](const K&, V&) {});
  }
  // The same, calling `evicted(key, value)` for each entry dropped (a disk
  // cache removes the file behind it).
  template <typename F>
  size_t insert(const K& k, V v, uint64_t weight, F&& evicted) {
    if (map_.count(k)) return 0;
    order_.push_front(k);
    map_.emplace(k, Slot{std::move(v), order_.begin(), weight});
    weight_ += weight;
    size_t dropped = 0;
    while (weight_ > max_weight_ && order_.size() > 1) {
      auto victim = map_.find(order_.back());
      evicted(victim->first, victim->second.value);
      weight_ -= victim->second.weight;
      map_.erase(victim);
      order_.pop_back();
      dropped++;
    }
    return dropped;
  }

  // Removes `k` if present; true if it was.
  bool erase(const K& k) {
    auto it = map_.find(k);
    if (it == map_.end()) return false;
    weight_ -= it->second.weight;
    order_.erase(it->second.pos);
    map_.erase(it);
    return true;
  }

  uint64_t weight() const { return weight_; }  // of the entries held now
  size_t size() const { return map_.size(); }

 private:
  struct Slot {
    V value;
    typename std::list<K>::iterator pos;
    uint64_t weight;
  };
  uint64_t max_weight_;
  uint64_t weight_ = 0;
  std::list<K> order_;  // front = most recent
  std::unordered_map<K, Slot> map_;
};

}  // namespace kso
