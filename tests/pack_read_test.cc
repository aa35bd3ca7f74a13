// Reads at arbitrary offsets equal the source, straight from the pack and
// through a BlockCache, from one thread and from many at once.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cache/block_cache.h"
#include "index/error.h"
#include "index/pack_reader.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"

namespace kso {
namespace {

using namespace kso::test;

// A pack with many chunk and block boundaries and the bytes of each file.
class PackRead : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir("kso-read");
    fs::path src = tmp_->path() / "src";
    auto add = [&](const std::string& name, std::string data) {
      write_file(src / name, data);
      files_->emplace_back(name, std::move(data));
    };
    files_ = new std::vector<std::pair<std::string, std::string>>;
    std::string text;
    std::string r = random_bytes(6u << 20, 1);
    for (size_t i = 0; text.size() < (6u << 20); i++) text += "line " + std::to_string(uint8_t(r[i])) + " of text\n";
    add("text.txt", text);
    add("random.bin", random_bytes(3u << 20, 2));
    add("mixed.bin", random_bytes(1u << 20, 3) + std::string(1u << 20, 'z') + random_bytes(1u << 20, 4));
    add("copy/random.bin", random_bytes(3u << 20, 2));  // a duplicate
    add("small", "tiny\n");
    add("edge_64k", random_bytes(65536, 5));
    add("empty", "");
    WriterOptions o = small_writer_options();
    o.block_size = 256 * 1024;
    o.chunk = small_chunks();
    build_pack(tmp_->path() / "p.kso", {{".", src}}, o);
    pack_ = new std::shared_ptr<Pack>(Pack::open(tmp_->path() / "p.kso"));
  }
  static void TearDownTestSuite() {
    delete pack_;
    delete files_;
    delete tmp_;
  }
  static Pack& pack() { return **pack_; }

  static TempDir* tmp_;
  static std::vector<std::pair<std::string, std::string>>* files_;
  static std::shared_ptr<Pack>* pack_;
};
TempDir* PackRead::tmp_;
std::vector<std::pair<std::string, std::string>>* PackRead::files_;
std::shared_ptr<Pack>* PackRead::pack_;

// The bytes a read of [off, off+len) must return.
std::string slice(const std::string& s, uint64_t off, size_t len) {
  if (off >= s.size()) return "";
  return s.substr(off, len);
}

TEST_F(PackRead, PackHasManyBlocksAndChunks) {
  EXPECT_GT(pack().block_count(), 30u);
  auto f = pack().layout(pack_stat(pack(), "text.txt").ino);
  EXPECT_GT(f->chunks.size(), 500u);
  // Chunks are contiguous and chunk_at finds the one holding each byte.
  uint64_t off = 0;
  for (size_t i = 0; i < f->chunks.size(); i++) {
    const ChunkRef& c = f->chunks[i];
    EXPECT_EQ(c.file_offset, off);
    EXPECT_EQ(f->chunk_at(c.file_offset), i);
    EXPECT_EQ(f->chunk_at(c.file_offset + c.length - 1), i);
    off += c.length;
  }
  EXPECT_EQ(off, f->size);
}

TEST_F(PackRead, RandomReadsEqualSource) {
  std::mt19937_64 rng(7);
  BlockCache tiny(*pack_, 512 * 1024, 0);    // a couple of blocks: evicts all the time
  BlockCache roomy(*pack_, 64u << 20, 2);    // with prefetch workers
  for (auto& [name, data] : *files_) {
    SCOPED_TRACE(name);
    Stat st = pack_stat(pack(), name);
    ASSERT_EQ(st.size, data.size());
    auto f = pack().layout(st.ino);
    std::vector<std::pair<uint64_t, size_t>> reads = {{0, 0}, {0, 1}, {0, data.size()}, {0, data.size() + 100},
                                                      {data.size(), 10}, {data.size() + 1000, 10}};
    if (!data.empty()) reads.push_back({data.size() - 1, 5});
    for (auto& c : f->chunks)  // around every chunk boundary
      reads.push_back({c.file_offset > 0 ? c.file_offset - 1 : 0, size_t(2 + rng() % 3)});
    for (int i = 0; i < 300; i++) {
      uint64_t off = data.empty() ? 0 : rng() % (data.size() + 10);
      size_t len = size_t(rng() % 4 == 0 ? rng() % (600 * 1024) : rng() % 5000);
      reads.push_back({off, len});
    }
    int bad = 0;
    for (auto [off, len] : reads) {
      std::string want = slice(data, off, len);
      std::string a(len + 8, '#'), b(len + 8, '#'), c(len + 8, '#');
      size_t na = pack().read(st.ino, off, len, a.data());
      size_t nb = pack().read(*f, off, len, b.data(), tiny);
      size_t nc = pack().read(*f, off, len, c.data(), roomy);
      if (len > 0 && off + 1 < data.size()) {
        for (size_t k = 0; k < 4; k++) roomy.prefetch(f->chunks[f->chunk_at(std::min<uint64_t>(off + k * 262144, data.size() - 1))].block);
      }
      bool ok = na == want.size() && nb == want.size() && nc == want.size() && a.compare(0, na, want) == 0 &&
                b.compare(0, nb, want) == 0 && c.compare(0, nc, want) == 0 &&
                a.substr(na) == std::string(len + 8 - na, '#');  // nothing written past the reply
      if (!ok && bad++ < 5) ADD_FAILURE() << "read " << off << "+" << len << " differs";
    }
    EXPECT_EQ(bad, 0);
  }
  auto ts = tiny.stats();
  EXPECT_GT(ts.evicted, 0u);
  EXPECT_LE(ts.bytes, 512u * 1024 + 8 * 256 * 1024);  // at most one block over per shard
  EXPECT_GT(roomy.stats().hits, 0u);
}

TEST_F(PackRead, ConcurrentReaders) {
  BlockCache cache(*pack_, 1u << 20, 2);  // small: evictions and reloads race with readers
  std::vector<std::shared_ptr<const FileLayout>> layouts;
  std::vector<uint64_t> inos;
  for (auto& [name, data] : *files_) {
    inos.push_back(pack_stat(pack(), name).ino);
    layouts.push_back(pack().layout(inos.back()));
  }
  std::atomic<int> mismatches{0}, errors{0};
  std::atomic<uint64_t> reads{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; t++) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(1000 + t);
      std::string buf;
      try {
        for (int i = 0; i < 150; i++) {
          // Half the threads hammer one file; the rest spread over all of them.
          size_t fi = t < 8 ? 0 : rng() % files_->size();
          const std::string& data = (*files_)[fi].second;
          uint64_t off = data.empty() ? 0 : rng() % data.size();
          size_t len = size_t(rng() % 4 ? rng() % 8192 : rng() % (300 * 1024));
          buf.assign(len, '\0');
          size_t n = (i + t) % 2 ? pack().read(inos[fi], off, len, buf.data())
                                 : pack().read(*layouts[fi], off, len, buf.data(), cache);
          std::string want = slice(data, off, len);
          if (n != want.size() || buf.compare(0, n, want) != 0) mismatches++;
          if (i % 7 == 0) cache.prefetch(uint32_t(rng() % pack().block_count()));
          if (i % 50 == 0) {  // index queries on this thread's own connection
            auto st = pack().lookup_path((*files_)[fi].first);
            if (!st || st->ino != inos[fi]) mismatches++;
            if (pack().readdir(kRootIno).size() != 7) mismatches++;  // 6 files + copy/
          }
          reads++;
        }
      } catch (const std::exception& e) {
        errors++;
        ADD_FAILURE() << "thread " << t << ": " << e.what();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(reads.load(), 16u * 150);
  auto s = cache.stats();
  EXPECT_GT(s.hits + s.misses, 0u);
  EXPECT_EQ(s.errors, 0u);
}

TEST_F(PackRead, ManyPacksOpenAtOnceKeepTheirOwnIndex) {
  // Per-thread index connections are per pack: two packs on one thread answer
  // from their own index.
  TempDir tmp("kso-read2");
  write_file(tmp / "a" / "only_in_a", "A");
  write_file(tmp / "b" / "only_in_b", "B");
  build_pack(tmp / "a.kso", {{".", tmp / "a"}});
  build_pack(tmp / "b.kso", {{".", tmp / "b"}});
  auto a = Pack::open(tmp / "a.kso");
  auto b = Pack::open(tmp / "b.kso");
  for (int i = 0; i < 3; i++) {
    EXPECT_TRUE(a->lookup_path("only_in_a").has_value());
    EXPECT_FALSE(a->lookup_path("only_in_b").has_value());
    EXPECT_TRUE(b->lookup_path("only_in_b").has_value());
    EXPECT_FALSE(b->lookup_path("only_in_a").has_value());
    EXPECT_TRUE(pack().lookup_path("text.txt").has_value());
  }
  a.reset();  // a pack closed while this thread still has a connection to it
  auto c = Pack::open(tmp / "a.kso");
  EXPECT_EQ(pack_read_all(*c, pack_stat(*c, "only_in_a").ino), "A");
}

}  // namespace
}  // namespace kso
