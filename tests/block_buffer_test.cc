// The read path's recycled memory: ByteBuf grows without zeroing and keeps
// what it held; decoded blocks' strings go back to a bounded free list when
// their last holder lets go, and come out again for the next block.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "index/block_buffer.h"
#include "index/byte_buf.h"

namespace kso {
namespace {

// Takes every string the free list holds (other tests in this process may
// have left some) and keeps them out of it while the returned vector lives.
std::vector<std::string> drain() {
  std::vector<std::string> held;
  for (;;) {
    auto before = block_buffer_stats();
    std::string s = take_block_buffer(1);
    if (block_buffer_stats().fresh != before.fresh) return held;
    held.push_back(std::move(s));
  }
}

TEST(ByteBuf, GrowsKeepingItsBytes) {
  ByteBuf b;
  EXPECT_EQ(b.size(), 0u);
  b.resize(5);
  memcpy(b.data(), "hello", 5);
  const char* before = b.data();
  b.resize(3);  // shrinking keeps the memory
  EXPECT_EQ(b.data(), before);
  EXPECT_EQ(std::string(b.data(), 3), "hel");
  b.resize(5);  // within capacity: nothing moves
  EXPECT_EQ(b.data(), before);
  b.resize(1u << 20);  // growing keeps the bytes below the old size
  EXPECT_EQ(b.size(), 1u << 20);
  EXPECT_EQ(std::string(b.data(), 5), "hello");
}

TEST(BlockBuffer, ALetGoBlockIsTheNextOneTaken) {
  const size_t n = 4u << 20;
  auto held = drain();
  std::string s = take_block_buffer(n);
  ASSERT_EQ(s.size(), n);
  const char* mem = s.data();
  s.assign(n, 'x');
  BlockData d = share_block(std::move(s));
  BlockData other = d;  // two holders: the string stays theirs until both let go
  d.reset();
  auto before = block_buffer_stats();
  std::string t = take_block_buffer(n);
  EXPECT_NE(t.data(), mem);
  EXPECT_EQ(block_buffer_stats().fresh, before.fresh + 1);
  EXPECT_EQ(std::string(other->data(), 4), "xxxx");  // untouched by the take
  other.reset();
  before = block_buffer_stats();
  std::string u = take_block_buffer(n - 100);  // a smaller block fits the same memory
  EXPECT_EQ(u.data(), mem);
  EXPECT_EQ(u.size(), n - 100);
  EXPECT_EQ(block_buffer_stats().recycled, before.recycled + 1);
}

TEST(BlockBuffer, FreeListIsBounded) {
  // 16 MiB are kept at most: of eight 4 MiB strings given back, four come out again.
  const size_t n = 4u << 20;
  auto held = drain();
  std::vector<std::string> v;
  for (int i = 0; i < 8; i++) v.push_back(take_block_buffer(n));
  for (auto& s : v) give_block_buffer(std::move(s));
  auto before = block_buffer_stats();
  std::vector<std::string> again;
  for (int i = 0; i < 8; i++) again.push_back(take_block_buffer(n));
  auto after = block_buffer_stats();
  EXPECT_EQ(after.recycled - before.recycled, 4u);
  EXPECT_EQ(after.fresh - before.fresh, 4u);
  // Too small to keep: malloc serves those.
  give_block_buffer(std::string(100, 'a'));
  before = block_buffer_stats();
  (void)take_block_buffer(100);
  EXPECT_EQ(block_buffer_stats().fresh, before.fresh + 1);
}

}  // namespace
}  // namespace kso
