// Round trips: generated trees with every edge case go into a pack and come
// back identical, through the reader API and through `kso-pack extract`.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>

#include "cache/block_cache.h"
#include "index/error.h"
#include "index/hash.h"
#include "index/pack_reader.h"
#include "tools/pack_report.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"

namespace kso {
namespace {

using namespace kso::test;

std::string join_diffs(const std::vector<std::string>& d) {
  std::string s;
  for (auto& x : d) s += x + "\n";
  return s;
}

// Checks every path of `src` against the pack through the reader API.
void expect_pack_matches_tree(const Pack& pk, const fs::path& src, const std::string& prefix) {
  auto tree = scan_tree(src);
  std::map<uint64_t, uint64_t> src2pack, pack2src;  // inode grouping must match both ways
  for (auto& [rel, n] : tree) {
    std::string path = prefix.empty() ? rel : rel.empty() ? prefix : prefix + "/" + rel;
    SCOPED_TRACE("path '" + path + "'");
    auto st = pk.lookup_path(path);
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(st->mode & S_IFMT, n.mode & S_IFMT);
    if (!path.empty()) {  // the pack root is the writer's, not the source's
      EXPECT_EQ(st->mode, n.mode);
      EXPECT_EQ(st->mtime_ns, n.mtime_ns);
    }
    EXPECT_EQ(pk.stat(st->ino)->mode, st->mode);
    if (S_ISREG(n.mode)) {
      EXPECT_EQ(st->size, n.size);
      EXPECT_EQ(st->nlink, n.nlink);
      EXPECT_EQ(sha256_hex(pack_read_all(pk, st->ino)), n.sha256);
      auto f = pk.layout(st->ino);
      EXPECT_EQ(to_hex(reinterpret_cast<const uint8_t*>(f->sha256.data()), 32), n.sha256);
      auto [a, fa] = src2pack.emplace(n.ino, st->ino);
      auto [b, fb] = pack2src.emplace(st->ino, n.ino);
      EXPECT_EQ(a->second, st->ino) << "hardlinked in the source, separate in the pack";
      EXPECT_EQ(b->second, n.ino) << "separate in the source, one inode in the pack";
      EXPECT_THROW(pk.readlink(st->ino), Error);
    } else if (S_ISLNK(n.mode)) {
      EXPECT_EQ(pk.readlink(st->ino), n.target);
      EXPECT_EQ(st->size, n.target.size());
      EXPECT_THROW(pk.layout(st->ino), Error);
    } else {
      // readdir: exactly the source's children, in byte order, with their stats.
      std::vector<std::string> want;
      uint32_t subdirs = 0;
      std::string base = rel.empty() ? "" : rel + "/";
      for (auto& [other, on] : tree) {
        if (other.size() <= base.size() || other.compare(0, base.size(), base) != 0) continue;
        std::string rest = other.substr(base.size());
        if (rest.find('/') != std::string::npos) continue;
        want.push_back(rest);
        subdirs += S_ISDIR(on.mode);
      }
      std::sort(want.begin(), want.end());
      std::vector<std::string> got;
      for (auto& e : pk.readdir(st->ino)) {
        got.push_back(e.name);
        auto child = pk.lookup(st->ino, e.name);
        ASSERT_TRUE(child.has_value());
        EXPECT_EQ(child->ino, e.st.ino);
        EXPECT_EQ(child->mode, e.st.mode);
      }
      EXPECT_EQ(got, want);
      EXPECT_EQ(st->nlink, 2 + subdirs);
      try {
        pk.layout(st->ino);
        ADD_FAILURE() << "layout() of a directory";
      } catch (const Error& e) {
        EXPECT_EQ(e.errno_value(), EISDIR);
      }
      // Paged readdir gives the same listing.
      std::vector<std::string> paged;
      std::string after;
      for (;;) {
        auto page = pk.readdir(st->ino, after, 3);
        if (page.empty()) break;
        EXPECT_LE(page.size(), 3u);
        for (auto& e : page) paged.push_back(e.name);
        after = page.back().name;
      }
      EXPECT_EQ(paged, want);
    }
  }
}

struct Counts {
  uint64_t files = 0, dirs = 0, symlinks = 0, hardlinks = 0, bytes_in = 0;
};
Counts count_tree(const fs::path& src) {
  Counts c;
  std::set<uint64_t> inodes;
  for (auto& [rel, n] : scan_tree(src, false)) {
    if (rel.empty()) continue;
    if (S_ISDIR(n.mode)) c.dirs++;
    else if (S_ISLNK(n.mode)) c.symlinks++;
    else {
      c.bytes_in += n.size;
      if (inodes.insert(n.ino).second) c.files++;
      else c.hardlinks++;
    }
  }
  return c;
}

TEST(PackRoundTrip, EdgeTreeThroughReaderApi) {
  TempDir tmp("kso-rt");
  fs::path src = tmp / "src";
  fs::create_directories(src);
  make_edge_tree(src);
  fs::path pack = tmp / "edge.kso";
  BuildStats s = build_pack(pack, {{".", src}}, edge_writer_options());
  Counts c = count_tree(src);
  EXPECT_EQ(s.files, c.files);
  EXPECT_EQ(s.dirs, c.dirs);
  EXPECT_EQ(s.symlinks, c.symlinks);
  EXPECT_EQ(s.hardlinks, c.hardlinks);
  EXPECT_EQ(s.bytes_in, c.bytes_in);
  EXPECT_EQ(s.pack_size, fs::file_size(pack));
  auto pk = Pack::open(pack);
  auto t = pack_report(*pk).totals;
  EXPECT_EQ(t.files, c.files);
  EXPECT_EQ(t.dirs, c.dirs);
  EXPECT_EQ(t.symlinks, c.symlinks);
  EXPECT_EQ(t.hardlinks, c.hardlinks);
  EXPECT_EQ(t.bytes_in, c.bytes_in);
  expect_pack_matches_tree(*pk, src, "");

  EXPECT_FALSE(pk->lookup_path("no/such/path").has_value());
  EXPECT_FALSE(pk->lookup_path("one_byte/child").has_value());  // through a file
  EXPECT_FALSE(pk->lookup(kRootIno, "missing").has_value());
  EXPECT_EQ(pk->lookup_path("")->ino, kRootIno);
  EXPECT_EQ(pk->lookup_path("/")->ino, kRootIno);
  EXPECT_EQ(pk->lookup_path("/sizes//rand_1")->ino, pk->lookup_path("sizes/rand_1")->ino);
  EXPECT_FALSE(pk->stat(999999999).has_value());
  // Hardlinks: one inode, nlink 3; equal content elsewhere stays its own inode.
  Stat a = pack_stat(*pk, "hard/a"), b = pack_stat(*pk, "hard/b"), c3 = pack_stat(*pk, "hard/sub/c");
  EXPECT_EQ(a.ino, b.ino);
  EXPECT_EQ(a.ino, c3.ino);
  EXPECT_EQ(a.nlink, 3u);
  EXPECT_NE(pack_stat(*pk, "hard/x").ino, pack_stat(*pk, "hard/z_same_content_as_x").ino);
  EXPECT_EQ(pack_stat(*pk, "modes/m4755").mode, S_IFREG | 04755u);
  EXPECT_EQ(pack_stat(*pk, "modes/sticky_dir").mode, S_IFDIR | 01777u);
  EXPECT_EQ(pack_stat(*pk, "empty_file").size, 0u);
  EXPECT_EQ(pack_read_all(*pk, pack_stat(*pk, "empty_file").ino), "");
  std::string deep = "deep";
  for (int i = 0; i < 300; i++) deep += "/d";
  EXPECT_EQ(pack_read_all(*pk, pack_stat(*pk, deep + "/leaf").ino), "at the bottom\n");
}

TEST(PackRoundTrip, PathOrderAndSmallChunksRoundTripToo) {
  TempDir tmp("kso-rt2");
  fs::path src = tmp / "src";
  fs::create_directories(src);
  EdgeTreeOptions eo;
  eo.big_files = false;
  eo.deep_levels = 20;
  make_edge_tree(src, eo);
  WriterOptions o = edge_writer_options();
  o.similarity_order = false;
  o.chunk = small_chunks();
  o.block_size = 64 * 1024;
  o.threads = 1;
  fs::path pack = tmp / "p.kso";
  BuildStats s = build_pack(pack, {{"under/a/prefix", src}}, o);
  EXPECT_GT(s.blocks, 10u);
  auto pk = Pack::open(pack);
  expect_pack_matches_tree(*pk, src, "under/a/prefix");
  // Parents no source named are directories 0755.
  EXPECT_EQ(pack_stat(*pk, "under").mode, S_IFDIR | 0755u);
  EXPECT_EQ(pack_stat(*pk, "under/a").mode, S_IFDIR | 0755u);
  EXPECT_EQ(pk->readdir(kRootIno).size(), 1u);
}

TEST(PackRoundTrip, ExtractEqualsSource) {
  TempDir tmp("kso-rt-x");
  fs::path src = tmp / "src";
  fs::create_directories(src);
  make_edge_tree(src);
  fs::path pack = tmp / "edge.kso", out_dir = tmp / "out", out = out_dir / "edge";
  auto r = kso_pack_words("-q build --allow-escaping-symlinks --threads 2 --level 3 -o " + pack.string() + " edge=" + src.string());
  ASSERT_EQ(r.status, 0) << r.output;
  r = kso_pack_words("extract --allow-escaping-symlinks " + pack.string() + " " + out_dir.string());
  ASSERT_EQ(r.status, 0) << r.output;
  r = run("diff -r --no-dereference " + src.string() + " " + out.string());
  EXPECT_EQ(r.status, 0) << r.output;
  auto d = compare_trees(src, out);
  EXPECT_TRUE(d.empty()) << join_diffs(d);

  // Hardlinks come back as one inode; equal content without a link does not.
  auto ino = [&](const char* rel) {
    struct stat st;
    EXPECT_EQ(lstat((out / rel).c_str(), &st), 0) << rel;
    return st;
  };
  EXPECT_EQ(ino("hard/a").st_ino, ino("hard/b").st_ino);
  EXPECT_EQ(ino("hard/a").st_ino, ino("hard/sub/c").st_ino);
  EXPECT_EQ(ino("hard/a").st_nlink, 3u);
  EXPECT_EQ(ino("hard/x").st_ino, ino("hard/y").st_ino);
  EXPECT_NE(ino("hard/x").st_ino, ino("hard/z_same_content_as_x").st_ino);
  EXPECT_NE(ino("dup/one").st_ino, ino("dup/two").st_ino);
  EXPECT_EQ(ino("links/dangling").st_mode & S_IFMT, unsigned(S_IFLNK));
  EXPECT_EQ(ino("modes/m4755").st_mode & 07777, 04755u);
  EXPECT_EQ(ino("modes/ro_dir").st_mode & 07777, 0555u);
  // Owner 0: the pack keeps no owners; what was 1234 in the source is root's.
  if (geteuid() == 0) {
    EXPECT_EQ(scan_tree(src, false)["one_byte"].uid, 1234u);
    EXPECT_EQ(ino("one_byte").st_uid, 0u);
    EXPECT_EQ(ino("links/rel").st_uid, 0u);
    EXPECT_EQ(ino("empty_dir").st_uid, 0u);
  }

  // With a prefix the source root is in the pack too: extracting that subtree
  // puts its children in the output directory, which itself is left alone.
  fs::path pack2 = tmp / "prefixed.kso", out2 = tmp / "out2";
  chmod(src.c_str(), 0751);
  set_mtime_ns(src, 1234567890123456789);
  r = kso_pack_words("-q build --allow-escaping-symlinks --threads 2 -o " + pack2.string() + " tree=" + src.string());
  ASSERT_EQ(r.status, 0) << r.output;
  r = kso_pack_words("extract --allow-escaping-symlinks " + pack2.string() + " tree " + out2.string());
  ASSERT_EQ(r.status, 0) << r.output;
  d = compare_trees(src, out2);
  struct stat o2 {};
  ASSERT_EQ(stat(out2.c_str(), &o2), 0);
  EXPECT_EQ(o2.st_mode & 07777, 0755u);
  EXPECT_NE(o2.st_mtim.tv_sec, 1234567890);
  EXPECT_TRUE(d.empty()) << join_diffs(d);
}

TEST(PackRoundTrip, ExtractSubtreesAndSingleFiles) {
  TempDir tmp("kso-rt-sub");
  fs::path src = tmp / "src";
  fs::create_directories(src);
  EdgeTreeOptions eo;
  eo.big_files = false;
  make_edge_tree(src, eo);
  fs::path pack = tmp / "p.kso";
  build_pack(pack, {{"files", src}}, edge_writer_options());
  for (std::string sub : {"files/hard", "files/ünïcödé", "files/name with spaces", "files/modes"}) {
    fs::path out = tmp / "x";
    fs::remove_all(out);
    auto r = kso_pack({"extract", "--allow-escaping-symlinks", pack.string(), sub, out.string()});
    ASSERT_EQ(r.status, 0) << sub << ": " << r.err;
    auto d = compare_trees(src / sub.substr(6), out);  // its children; the output directory is left alone
    EXPECT_TRUE(d.empty()) << sub << ":\n" << join_diffs(d);
  }
  // One file: lands in DIR under its own name with mode and mtime.
  fs::path out = tmp / "single";
  auto r = kso_pack_words("extract --allow-escaping-symlinks " + pack.string() + " files/modes/m0640 " + out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  auto a = scan_tree(src / "modes" / "m0640"), b = scan_tree(out / "m0640");
  EXPECT_EQ(a[""].sha256, b[""].sha256);
  EXPECT_EQ(a[""].mode, b[""].mode);
  EXPECT_EQ(a[""].mtime_ns, b[""].mtime_ns);
  EXPECT_EQ(fs::directory_iterator(out)->path().filename(), "m0640");
  // A symlink alone.
  r = kso_pack_words("extract --allow-escaping-symlinks " + pack.string() + " files/links/dangling " + out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(fs::read_symlink(out / "dangling"), "does/not/exist");
  // A path that is not in the pack.
  r = kso_pack_words("extract " + pack.string() + " files/nope " + (tmp / "nope").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.output.find("no such path in pack: files/nope"), std::string::npos) << r.output;
}

// Times before 1970 are negative nanoseconds: they must survive as well.
TEST(PackRoundTrip, MtimesBeforeTheEpoch) {
  TempDir tmp("kso-rt-old");
  fs::path src = tmp / "src";
  write_file(src / "old", "old\n");
  write_file(src / "older" / "f", "f\n");
  fs::create_directories(src / "dir");
  ASSERT_EQ(symlink("old", (src / "link").c_str()), 0);
  set_mtime_ns(src / "old", -1500000000);                  // 1969-12-31 23:59:58.5
  set_mtime_ns(src / "older" / "f", -1);                   // 1 ns before the epoch
  set_mtime_ns(src / "older", -86400LL * 365 * 1000000000 - 7);
  set_mtime_ns(src / "link", -999999999);
  set_mtime_ns(src / "dir", 0);
  fs::path pack = tmp / "p.kso";
  build_pack(pack, {{".", src}});
  auto pk = Pack::open(pack);
  EXPECT_EQ(pack_stat(*pk, "old").mtime_ns, -1500000000);
  EXPECT_EQ(pack_stat(*pk, "older/f").mtime_ns, -1);
  EXPECT_EQ(pack_stat(*pk, "link").mtime_ns, -999999999);
  EXPECT_EQ(pack_stat(*pk, "dir").mtime_ns, 0);
  fs::path out = tmp / "out";
  auto r = kso_pack_words("extract " + pack.string() + " " + out.string());
  EXPECT_EQ(r.status, 0) << r.output;
  auto d = compare_trees(src, out);
  EXPECT_TRUE(d.empty()) << join_diffs(d);
  r = kso_pack_words("ls -l " + pack.string() + " old");
  EXPECT_EQ(r.output, "-rw-r--r--   1            4 1969-12-31 23:59 old\n");
}

// A multi-GiB sparse file with data past 4 GiB: 32-bit offset bugs show here.
TEST(PackRoundTrip, SparseMultiGiBFile) {
  TempDir tmp("kso-rt-big");
  fs::path src = tmp / "src";
  fs::create_directories(src);
  const uint64_t GiB = 1ull << 30, MiB = 1ull << 20, size = 4 * GiB + 256 * MiB;
  fs::path big = src / "big.img";
  int fd = open(big.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(ftruncate(fd, off_t(size)), 0);
  struct Region {
    uint64_t off;
    std::string data;
  };
  std::vector<Region> regions = {{0, random_bytes(70000, 11)},
                                 {2 * GiB + 5, random_bytes(50000, 15)},
                                 {4 * GiB - 3, random_bytes(100000, 12)},  // straddles 2^32
                                 {4 * GiB + 123457, random_bytes(300000, 13)},
                                 {size - 65536, random_bytes(65536, 14)}};  // the last byte too
  for (auto& g : regions) ASSERT_EQ(pwrite(fd, g.data.data(), g.data.size(), off_t(g.off)), ssize_t(g.data.size()));
  close(fd);
  write_file(src / "small", "small\n");
  auto expected = [&](uint64_t off, size_t len) {
    std::string s(len, '\0');
    for (auto& g : regions) {
      uint64_t a = std::max(off, g.off), b = std::min(off + len, g.off + g.data.size());
      if (a < b) memcpy(&s[a - off], g.data.data() + (a - g.off), b - a);
    }
    return s;
  };

  WriterOptions o = small_writer_options();
  o.level = 1;
  fs::path pack = tmp / "big.kso";
  BuildStats s = build_pack(pack, {{".", src}}, o);
  EXPECT_EQ(s.bytes_in, size + 6);
  EXPECT_LT(s.bytes_unique, 8u << 20);  // zeros dedup to a handful of chunks
  EXPECT_LT(s.pack_size, 8u << 20);
  EXPECT_GT(s.chunks_deduped, 10000u);

  auto pk = Pack::open(pack);
  Stat st = pack_stat(*pk, "big.img");
  EXPECT_EQ(st.size, size);
  auto f = pk->layout(st.ino);
  EXPECT_EQ(f->size, size);
  EXPECT_EQ(f->chunks.back().file_offset + f->chunks.back().length, size);
  BlockCache cache(pk, 64u << 20, 2);

  // Every chunk maps to the right bytes: chunks sharing a stored location
  // share bytes, so each location is decoded once and each chunk compared with
  // what the file holds at its offset (zeros checked without building them).
  std::map<std::tuple<uint32_t, uint32_t, uint32_t>, std::string> seen;
  int bad = 0;
  for (auto& c : f->chunks) {
    auto key = std::make_tuple(c.block, c.block_offset, c.length);
    auto it = seen.find(key);
    if (it == seen.end()) it = seen.emplace(key, cache.block(c.block)->substr(c.block_offset, c.length)).first;
    bool in_region = false;
    for (auto& g : regions) in_region |= c.file_offset < g.off + g.data.size() && g.off < c.file_offset + c.length;
    bool ok = in_region ? it->second == expected(c.file_offset, c.length)
                        : it->second.find_first_not_of('\0') == std::string::npos;
    if (!ok && bad++ < 5) ADD_FAILURE() << "chunk at file offset " << c.file_offset << " maps to wrong bytes";
  }
  EXPECT_EQ(bad, 0);
  EXPECT_LT(seen.size(), 200u);

  std::vector<std::pair<uint64_t, size_t>> reads = {
      {0, 100}, {69990, 20}, {2 * GiB, 100}, {2 * GiB + 4, 50002}, {4 * GiB - 10, 20}, {4 * GiB - 3, 100000},
      {4 * GiB - 100, 1 << 20}, {4 * GiB, 4096}, {4 * GiB + 123456, 300002}, {4 * GiB + 123457 + 299999, 7},
      {3 * GiB, 4096}, {size - 65537, 65537}, {size - 1, 1}, {2 * GiB + 17, 333}};
  for (auto [off, len] : reads) {
    std::string want = expected(off, len), got(len, '\x55'), got2(len, '\x55');
    ASSERT_EQ(pk->read(st.ino, off, len, got.data()), len) << off;
    EXPECT_TRUE(got == want) << "Pack::read at " << off;
    got2 = read_through(*pk, *f, off, len, cache);
    EXPECT_TRUE(got2 == want) << "cached read at " << off;
  }
  char c;
  EXPECT_EQ(pk->read(st.ino, size, 1, &c), 0u);
  EXPECT_EQ(pk->read(st.ino, size + 4 * GiB, 1, &c), 0u);
  std::string tail(1000, '\0');
  EXPECT_EQ(pk->read(st.ino, size - 10, 1000, tail.data()), 10u);
  EXPECT_EQ(tail.substr(0, 10), regions.back().data.substr(65526));
  auto r = kso_pack_words("ls -l " + pack.string() + " big.img");
  EXPECT_NE(r.output.find(" " + std::to_string(size) + " "), std::string::npos) << r.output;
}

}  // namespace
}  // namespace kso
