#include "cache/block_cache.h"

#include <algorithm>

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

BlockCache::BlockCache(std::shared_ptr<BlockSource> origin, uint64_t capacity, unsigned workers, unsigned ahead)
    : origin_(std::move(origin)), ahead_(ahead) {
  for (auto& s : shards_) s.lru = Lru<uint32_t, BlockData>(capacity / kShards);
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

void BlockCache::insert(Shard& s, uint32_t id, const BlockData& d) {
  // Caller holds s.mu. Keeps at least the newest block even if it alone
  // exceeds the share.
  evicted_ += s.lru.insert(id, d, d->size());
}

BlockData BlockCache::block(uint32_t id) {
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

BlockData BlockCache::load(uint32_t id, bool from_prefetch) {
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
      d = origin_->block(id);
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

void BlockCache::prefetch(uint32_t id) {
  if (workers_.empty() || id >= origin_->block_count()) return;
  {
    Shard& s = shard(id);
    std::lock_guard lk(s.mu);
    if (s.lru.contains(id) || s.loading.count(id)) return;
  }
  {
    std::lock_guard lk(qmu_);
    if (queue_.size() >= kMaxQueued) return;
    for (uint32_t q : queue_)
      if (q == id) return;
    queue_.push_back(id);
  }
  qcv_.notify_one();
}

void BlockCache::read_ahead(const FileLayout& f, size_t last) {
  if (workers_.empty() || last >= f.chunks.size()) return;
  uint32_t last_queued = f.chunks[last].block;
  unsigned queued = 0;
  size_t end = std::min(f.chunks.size(), last + kAheadScan);
  for (size_t i = last + 1; i < end && queued < ahead_; i++) {
    uint32_t b = f.chunks[i].block;
    if (b == last_queued || !origin_->decodes(b)) continue;
    prefetch(b);
    last_queued = b;
    queued++;
  }
}

void BlockCache::worker() {
  for (;;) {
    uint32_t id;
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
