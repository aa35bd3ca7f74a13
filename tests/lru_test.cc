// Lru: the weight-bounded LRU behind BlockCache's shards and kso-fs's inode
// table: eviction order, touch on get (not on peek), the newest kept.
#include <gtest/gtest.h>

#include <string>

#include "cache/lru.h"

namespace kso {
namespace {

TEST(Lru, EvictsLeastRecentlyUsedByWeight) {
  Lru<int, std::string> l(10);
  EXPECT_EQ(l.insert(1, "a", 4), 0u);
  EXPECT_EQ(l.insert(2, "b", 4), 0u);
  EXPECT_EQ(l.weight(), 8u);
  ASSERT_NE(l.get(1), nullptr);  // 1 is now newer than 2
  EXPECT_EQ(*l.get(1), "a");
  EXPECT_EQ(l.insert(3, "c", 4), 1u);  // 12 > 10: the oldest (2) goes
  EXPECT_FALSE(l.contains(2));
  EXPECT_TRUE(l.contains(1));
  EXPECT_TRUE(l.contains(3));
  EXPECT_EQ(l.size(), 2u);
  EXPECT_EQ(l.weight(), 8u);
  EXPECT_EQ(l.get(2), nullptr);
}

TEST(Lru, PeekLeavesTheOrderAlone) {
  Lru<int, std::string> l(10);
  l.insert(1, "a", 4);
  l.insert(2, "b", 4);
  ASSERT_NE(l.peek(1), nullptr);  // 1 stays the oldest
  EXPECT_EQ(l.insert(3, "c", 4), 1u);
  EXPECT_FALSE(l.contains(1));
  EXPECT_EQ(l.peek(1), nullptr);
}

TEST(Lru, PresentKeyKeepsItsValue) {
  Lru<int, std::string> l(10);
  l.insert(1, "first", 4);
  l.insert(2, "b", 4);
  EXPECT_EQ(l.insert(1, "second", 9), 0u);  // nothing added, nothing touched
  EXPECT_EQ(*l.peek(1), "first");
  EXPECT_EQ(l.weight(), 8u);
  l.insert(3, "c", 4);  // 1 was not touched by the second insert: it goes
  EXPECT_FALSE(l.contains(1));
}

TEST(Lru, KeepsTheNewestEvenWhenTooHeavy) {
  Lru<int, std::string> l(10);
  l.insert(1, "a", 4);
  l.insert(2, "b", 4);
  EXPECT_EQ(l.insert(3, "huge", 50), 2u);
  EXPECT_EQ(l.size(), 1u);
  EXPECT_TRUE(l.contains(3));
  EXPECT_EQ(l.weight(), 50u);
  EXPECT_EQ(l.insert(4, "d", 1), 1u);  // the heavy one goes once something newer exists
  EXPECT_EQ(l.weight(), 1u);
  Lru<int, int> none;  // a bound of 0 still holds the newest
  none.insert(1, 1, 1);
  EXPECT_TRUE(none.contains(1));
}

}  // namespace
}  // namespace kso
