#include "cache/block_cache.h"

#include <algorithm>
#include <stdexcept>

#include "index/error.h"

namespace kso {

// Prefetch requests beyond this many queued are dropped: readahead is a hint.
constexpr size_t kMaxQueued = 64;

struct BlockCache::Pending {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  BlockData data;
  std::exception_ptr error;
};

// Origin k's blocks through the cache: what a reader of origin k's files reads with.
class BlockCache::View : public BlockSource {
 public:
  View(BlockCache& c, size_t k) : c_(c), k_(k) {}
  BlockData block(uint32_t id) override { return c_.block(k_, id); }
  uint32_t block_count() const override { return c_.origins_[k_]->block_count(); }
  bool decodes(uint32_t id) const override { return c_.origins_[k_]->decodes(id); }
  void read_ahead(const FileLayout& f, size_t last) override { c_.read_ahead(k_, f, last); }

 private:
  BlockCache& c_;
  size_t k_;
};

BlockCache::BlockCache(std::shared_ptr<BlockSource> origin, uint64_t capacity, unsigned workers, unsigned ahead)
    : BlockCache(std::vector<std::shared_ptr<BlockSource>>{std::move(origin)}, capacity, workers, ahead) {}

BlockCache::BlockCache(std::vector<std::shared_ptr<BlockSource>> origins, uint64_t capacity, unsigned workers,
                       unsigned ahead)
    : origins_(std::move(origins)), ahead_(ahead) {
  if (origins_.empty()) throw std::invalid_argument("BlockCache needs an origin");
  for (size_t k = 0; k < origins_.size(); k++) views_.push_back(std::make_unique<View>(*this, k));
  for (auto& s : shards_) s.lru = Lru<Key, BlockData>(capacity / kShards);
  for (unsigned i = 0; i < workers; i++) workers_.emplace_back([this] { worker(); });
}

BlockCache::~BlockCache() {
  {
    std::lock_guard lk(qmu_);
    stop_ = true;
  }
  qcv_.notify_all();
  for (auto& t : workers_) t.join();
}

void BlockCache::insert(Shard& s, Key id, const BlockData& d) {
  // Caller holds s.mu. Keeps at least the newest block even if it alone
  // exceeds the share.
  evicted_ += s.lru.insert(id, d, d->size());
}

BlockData BlockCache::block(size_t k, uint32_t block_id) {
  Key id = key(k, block_id);
  Shard& s = shard(id);
  {
    std::lock_guard lk(s.mu);
    if (BlockData* d = s.lru.get(id)) {
      hits_++;
      return *d;
    }
  }
  return load(id, false);
}

BlockData BlockCache::load(Key id, bool from_prefetch) {
  Shard& s = shard(id);
  std::shared_ptr<Pending> p;
  bool owner = false;
  {
    std::lock_guard lk(s.mu);
    if (BlockData* d = s.lru.peek(id)) {  // loaded since block() looked: still a hit
      if (!from_prefetch) hits_++;
      return *d;
    }
    auto& slot = s.loading[id];
    if (!slot) {
      slot = std::make_shared<Pending>();
      owner = true;
    }
    p = slot;
  }
  if (!from_prefetch) misses_++;
  if (owner) {
    BlockData d;
    std::exception_ptr err;
    try {
      d = origins_[size_t(id >> 32)]->block(uint32_t(id));
    } catch (...) {
      err = std::current_exception();
      errors_++;
    }
    {
      std::lock_guard lk(s.mu);
      if (d) insert(s, id, d);
      s.loading.erase(id);
    }
    {
      std::lock_guard lk(p->mu);
      p->done = true;
      p->data = d;
      p->error = err;
    }
    p->cv.notify_all();
    if (err) std::rethrow_exception(err);
    if (from_prefetch) prefetched_++;
    return d;
  }
  if (from_prefetch) return nullptr;  // someone is loading it already
  std::unique_lock lk(p->mu);
  p->cv.wait(lk, [&] { return p->done; });
  if (p->error) std::rethrow_exception(p->error);
  return p->data;
}

void BlockCache::prefetch(size_t k, uint32_t block_id) {
  if (workers_.empty() || k >= origins_.size() || block_id >= origins_[k]->block_count()) return;
  Key id = key(k, block_id);
  {
    Shard& s = shard(id);
    std::lock_guard lk(s.mu);
    if (s.lru.contains(id) || s.loading.count(id)) return;
  }
  {
    std::lock_guard lk(qmu_);
    if (queue_.size() >= kMaxQueued) return;
    for (Key q : queue_)
      if (q == id) return;
    queue_.push_back(id);
  }
  qcv_.notify_one();
}

void BlockCache::read_ahead(size_t k, const FileLayout& f, size_t last) {
  if (workers_.empty() || last >= f.chunks.size()) return;
  uint32_t last_queued = f.chunks[last].block;
  unsigned queued = 0;
  size_t end = std::min(f.chunks.size(), last + kAheadScan);
  for (size_t i = last + 1; i < end && queued < ahead_; i++) {
    uint32_t b = f.chunks[i].block;
    if (b == last_queued || !origins_[k]->decodes(b)) continue;
    prefetch(k, b);
    last_queued = b;
    queued++;
  }
}

void BlockCache::worker() {
  for (;;) {
    Key id;
    {
      std::unique_lock lk(qmu_);
      qcv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      id = queue_.front();
      queue_.pop_front();
    }
    try {
      load(id, true);
    } catch (...) {
      // Damage is reported to the reader that asks for the block.
    }
  }
}

CacheStats BlockCache::stats() const {
  CacheStats st{hits_, misses_, prefetched_, evicted_, errors_, 0};
  for (auto& s : shards_) {
    std::lock_guard lk(const_cast<std::mutex&>(s.mu));
    st.bytes += s.lru.weight();
  }
  return st;
}

}  // namespace kso
