// FastCDC chunker: determinism, size bounds, streaming contract and boundary
// stability under insertions and deletions.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "index/write/chunker.h"
#include "index/error.h"
#include "tests/support/testutil.h"

namespace kso {
namespace {

using test::random_bytes;

// Cuts `data` into chunks as the writer does with the whole input available.
std::vector<size_t> cut_all(const ChunkerParams& p, const std::string& data) {
  std::vector<size_t> lens;
  const auto* d = reinterpret_cast<const uint8_t*>(data.data());
  size_t pos = 0;
  while (pos < data.size()) {
    size_t n = find_chunk_boundary(p, d + pos, data.size() - pos, true);
    if (n == 0) ADD_FAILURE() << "chunker returned 0 with last=true at " << pos;
    if (n == 0) break;
    lens.push_back(n);
    pos += n;
  }
  return lens;
}

// Cuts as a streaming reader does: a window refilled `window` bytes at a time.
std::vector<size_t> cut_streaming(const ChunkerParams& p, const std::string& data, size_t window) {
  std::vector<size_t> lens;
  const auto* d = reinterpret_cast<const uint8_t*>(data.data());
  size_t pos = 0, avail = std::min(window, data.size());
  while (pos < data.size()) {
    bool last = avail == data.size();
    size_t n = find_chunk_boundary(p, d + pos, avail - pos, last);
    if (n == 0) {
      EXPECT_FALSE(last);
      avail = std::min(avail + window, data.size());
      continue;
    }
    lens.push_back(n);
    pos += n;
  }
  return lens;
}

// Absolute cut offsets (ends of chunks).
std::vector<size_t> cut_points(const std::vector<size_t>& lens) {
  std::vector<size_t> pts;
  size_t off = 0;
  for (size_t n : lens) pts.push_back(off += n);
  return pts;
}

ChunkerParams params(uint32_t mn, uint32_t avg, uint32_t mx) {
  ChunkerParams p;
  p.min_size = mn;
  p.avg_size = avg;
  p.max_size = mx;
  return p;
}

TEST(Chunker, DeterministicAndCoversInput) {
  ChunkerParams p;  // defaults 16K/64K/256K
  std::string data = random_bytes(8u << 20, 42);
  auto a = cut_all(p, data), b = cut_all(p, data);
  EXPECT_EQ(a, b);
  size_t sum = 0;
  for (size_t n : a) sum += n;
  EXPECT_EQ(sum, data.size());
  // Same bytes in a fresh copy at another address: same cuts.
  std::string copy = std::string("padding") + data;
  EXPECT_EQ(cut_all(p, copy.substr(7)), a);
}

TEST(Chunker, SizesRespectMinMaxAndAverageIsNearTarget) {
  for (auto p : {ChunkerParams{}, params(1024, 4096, 16384), params(64, 128, 1024)}) {
    std::string data = random_bytes(size_t(p.avg_size) * 400, p.avg_size);
    auto lens = cut_all(p, data);
    ASSERT_GT(lens.size(), 50u);
    for (size_t i = 0; i + 1 < lens.size(); i++) {  // the last chunk may be short
      EXPECT_GE(lens[i], p.min_size) << "chunk " << i;
      EXPECT_LE(lens[i], p.max_size) << "chunk " << i;
    }
    EXPECT_LE(lens.back(), p.max_size);
    double mean = double(data.size()) / double(lens.size());
    EXPECT_GT(mean, p.avg_size / 2.0) << p.min_size << "/" << p.avg_size << "/" << p.max_size;
    EXPECT_LT(mean, p.avg_size * 2.0) << p.min_size << "/" << p.avg_size << "/" << p.max_size;
    // Content-defined: not all chunks the same size.
    std::set<size_t> distinct(lens.begin(), lens.end());
    EXPECT_GT(distinct.size(), lens.size() / 4);
  }
}

TEST(Chunker, ConstantDataCutsAtMax) {
  ChunkerParams p;
  std::string zeros(3u * p.max_size + 100, '\0');
  auto lens = cut_all(p, zeros);
  for (size_t i = 0; i + 1 < lens.size(); i++) EXPECT_EQ(lens[i], p.max_size);
  EXPECT_EQ(cut_points(lens).back(), zeros.size());
}

TEST(Chunker, StreamingContract) {
  ChunkerParams p = params(1024, 4096, 16384);
  std::string data = random_bytes(1u << 20, 7);
  const auto* d = reinterpret_cast<const uint8_t*>(data.data());
  // At most min_size bytes: "need more" unless last, then all of it.
  EXPECT_EQ(find_chunk_boundary(p, d, 0, true), 0u);
  EXPECT_EQ(find_chunk_boundary(p, d, 10, false), 0u);
  EXPECT_EQ(find_chunk_boundary(p, d, 10, true), 10u);
  EXPECT_EQ(find_chunk_boundary(p, d, p.min_size, false), 0u);
  EXPECT_EQ(find_chunk_boundary(p, d, p.min_size, true), p.min_size);
  // With max_size bytes or more a cut is always found, last or not.
  size_t full = find_chunk_boundary(p, d, data.size(), false);
  EXPECT_GT(full, p.min_size);
  EXPECT_LE(full, p.max_size);
  EXPECT_EQ(find_chunk_boundary(p, d, p.max_size, false), full);
  // A cut found in a short buffer is the same cut found in a longer one.
  if (full < p.max_size) {
    EXPECT_EQ(find_chunk_boundary(p, d, full, false), full);
  }
  // Feeding the input in pieces gives the same chunks as all at once.
  auto whole = cut_all(p, data);
  for (size_t window : {size_t(1000), size_t(4097), size_t(16384), size_t(100000)})
    EXPECT_EQ(cut_streaming(p, data, window), whole) << "window " << window;
}

// Cut points after `from` in `a` that also appear (shifted by `shift`) in `b`.
size_t shared_cuts_after(const std::vector<size_t>& a, const std::vector<size_t>& b, size_t from, long shift) {
  std::set<size_t> sb(b.begin(), b.end());
  size_t n = 0;
  for (size_t c : a)
    if (c > from && sb.count(size_t(long(c) + shift))) n++;
  return n;
}

TEST(Chunker, OneInsertedByteChangesOnlyNearbyChunks) {
  for (auto p : {ChunkerParams{}, params(1024, 4096, 16384)}) {
    std::string a = random_bytes(size_t(p.avg_size) * 200, 99);
    auto ca = cut_all(p, a);
    for (size_t at : {size_t(0), size_t(p.min_size / 2), a.size() / 3, a.size() / 2 + 12345, a.size() - 10}) {
      std::string b = a;
      b.insert(b.begin() + long(at), char(0x5a));
      auto cb = cut_all(p, b);
      // Chunks before the insertion point are untouched (cuts at or before it).
      std::vector<size_t> pa = cut_points(ca), pb = cut_points(cb);
      for (size_t c : pa)
        if (c <= at) {
          EXPECT_TRUE(std::find(pb.begin(), pb.end(), c) != pb.end()) << "cut " << c << " lost";
        }
      // After a couple of chunks the cuts resynchronise, shifted by one byte.
      size_t after = 0;
      for (size_t c : pa) after += c > at + 2 * p.max_size;
      EXPECT_EQ(shared_cuts_after(pa, pb, at + 2 * p.max_size, 1), after) << "insert at " << at;
      // Chunk multiset: all but a few chunks of `a` are still chunks of `b`.
      std::multiset<std::string> chunks_b;
      size_t off = 0;
      for (size_t n : cb) {
        chunks_b.insert(b.substr(off, n));
        off += n;
      }
      size_t kept = 0;
      off = 0;
      for (size_t n : ca) {
        kept += chunks_b.count(a.substr(off, n)) > 0;
        off += n;
      }
      EXPECT_GE(kept + 3, ca.size()) << "insert at " << at << ": only " << kept << " of " << ca.size() << " kept";
    }
  }
}

TEST(Chunker, DeletedAndOverwrittenBytesChangeOnlyNearbyChunks) {
  ChunkerParams p = params(1024, 4096, 16384);
  std::string a = random_bytes(1u << 20, 3);
  auto pa = cut_points(cut_all(p, a));
  std::string del = a;
  del.erase(500000, 17);
  auto pd = cut_points(cut_all(p, del));
  size_t after = 0;
  for (size_t c : pa) after += c > 500000 + 2 * p.max_size;
  EXPECT_EQ(shared_cuts_after(pa, pd, 500000 + 2 * p.max_size, -17), after);
  std::string over = a;
  over[700000] ^= 0xff;
  auto po = cut_points(cut_all(p, over));
  size_t differ = 0;
  for (size_t c : pa) differ += std::find(po.begin(), po.end(), c) == po.end();
  EXPECT_LE(differ, 2u);
}

TEST(Chunker, ValidateRejectsNonsense) {
  EXPECT_NO_THROW(ChunkerParams{}.validate());
  EXPECT_NO_THROW(params(64, 128, 256).validate());
  EXPECT_THROW(params(32, 128, 256).validate(), Error);           // min too small
  EXPECT_THROW(params(4096, 4096, 16384).validate(), Error);      // min == avg
  EXPECT_THROW(params(1024, 4096, 4096).validate(), Error);       // avg == max
  EXPECT_THROW(params(1024, 5000, 16384).validate(), Error);      // avg not a power of two
  EXPECT_THROW(params(16384, 4096, 65536).validate(), Error);     // min > avg
  EXPECT_THROW(params(1024, 4096, (64u << 20) + 1).validate(), Error);  // max too large
  try {
    params(1024, 5000, 16384).validate();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.errno_value(), EINVAL);
    EXPECT_NE(std::string(e.what()).find("1024/5000/16384"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kso
