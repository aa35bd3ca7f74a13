#include "index/block_buffer.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

namespace kso {
namespace {

// Free block strings kept for reuse, at most this many bytes: a few blocks
// per decoding thread at the 4 MiB default. Small, because these bytes come
// on top of cache_size in the daemon's memory.
constexpr size_t kFreeBytes = 16u << 20;
// Strings below this are not worth keeping: malloc serves them cheaply.
constexpr size_t kMinKept = 16u << 10;
// At most this many strings are kept, so a take (on every decode) scans a
// short list whatever the block size.
constexpr size_t kMaxKept = 16;
// Transparent huge pages: a new block of at least this size asks for them,
// so filling a 4 MiB block costs two page faults instead of 1024.
constexpr size_t kHugePage = 2u << 20;

// A new string of n zero bytes; big ones are backed by huge pages where the
// kernel allows (madvise mode), before any byte is touched.
std::string fresh(size_t n) {
  std::string s;
  s.reserve(n);
  if (n >= kHugePage) {
    auto from = (uintptr_t(s.data()) + kHugePage - 1) & ~uintptr_t(kHugePage - 1);
    auto to = (uintptr_t(s.data()) + n) & ~uintptr_t(kHugePage - 1);
    if (to > from) madvise(reinterpret_cast<void*>(from), to - from, MADV_HUGEPAGE);  // a hint: failure is fine
  }
  s.resize(n);
  return s;
}

struct FreeList {
  std::mutex mu;
  std::vector<std::string> free;
  size_t bytes = 0;
  uint64_t recycled = 0, fresh = 0;
};

FreeList& free_list() {
  static auto* f = new FreeList;  // never destroyed: blocks may be let go during exit
  return *f;
}

}  // namespace

std::string take_block_buffer(size_t n) {
  FreeList& f = free_list();
  {
    std::lock_guard lk(f.mu);
    // Best fit by capacity: block sizes repeat, so an exact size is common
    // and resize() then writes nothing.
    size_t best = f.free.size();
    for (size_t i = 0; i < f.free.size(); i++)
      if (f.free[i].capacity() >= n && (best == f.free.size() || f.free[i].capacity() < f.free[best].capacity()))
        best = i;
    if (best == f.free.size()) {
      f.fresh++;
    } else {
      std::swap(f.free[best], f.free.back());
      std::string s = std::move(f.free.back());
      f.free.pop_back();
      f.bytes -= s.capacity();
      f.recycled++;
      s.resize(n);
      return s;
    }
  }
  return fresh(n);
}

void give_block_buffer(std::string&& s) {
  if (s.capacity() < kMinKept) return;
  FreeList& f = free_list();
  std::lock_guard lk(f.mu);
  if (f.bytes + s.capacity() > kFreeBytes || f.free.size() >= kMaxKept) return;  // s frees itself
  f.bytes += s.capacity();
  f.free.push_back(std::move(s));
}

BlockData share_block(std::string&& s) {
  auto* p = new std::string(std::move(s));
  return BlockData(p, [](const std::string* q) {
    auto* m = const_cast<std::string*>(q);
    give_block_buffer(std::move(*m));
    delete m;
  });
}

BlockBufferStats block_buffer_stats() {
  FreeList& f = free_list();
  std::lock_guard lk(f.mu);
  return {f.recycled, f.fresh};
}

}  // namespace kso
