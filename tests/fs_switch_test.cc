// Switching a live kso-fs mount to a new pack (docs/DEPLOY.md section 6):
// - a rename of a new pack over the served one must not change what the
//   running daemon serves (it keeps reading the old file until remounted);
// - an in-place rewrite of the served file may only give the old bytes or EIO;
// - bytes flipped in the index of the served file never give wrong data;
// - deploy/kso-switch.sh, the documented procedure, serves the new pack through
//   a real nginx, refuses a damaged one and keeps the previous pack.
// Everything runs on 127.0.0.1; every mount and server is torn down by RAII.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/mount_fixture.h"
#include "tests/support/nginx_conf.h"

namespace kso::test {
namespace {

// ---------------------------------------------------------------------------
// Where the pack's SQLite index lies in the pack file: (offset, size). The one
// place that knows; `kso-pack info --json` tells (layout.index_offset,
// layout.index_size).
std::pair<uint64_t, uint64_t> index_range(const fs::path& pack) {
  ToolResult r = kso_pack({"info", "--json", pack.string()});
  if (r.status != 0) throw std::runtime_error("kso-pack info --json " + pack.string() + " failed: " + r.err);
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded()) throw std::runtime_error("kso-pack info --json: not JSON: " + r.out);
  const uint64_t file_size = fs::file_size(pack);
  uint64_t off = 0, size = 0;
  if (!j.contains("layout") || !j["layout"].contains("index_offset") || !j["layout"].contains("index_size"))
    throw std::runtime_error("kso-pack info --json gives no layout.index_offset/index_size: " + r.out);
  off = j["layout"]["index_offset"].get<uint64_t>();
  size = j["layout"]["index_size"].get<uint64_t>();
  if (size == 0 || off < 64 || off + size > file_size)
    throw std::runtime_error(pack.string() + ": implausible index range " + std::to_string(off) + "+" +
                             std::to_string(size) + " in a file of " + std::to_string(file_size));
  return {off, size};
}

// ---------------------------------------------------------------------------
// Test data.

// Log-like text: compressible, not trivially repetitive.
std::string text_bytes(size_t n, uint64_t seed) {
  static const char* words[] = {"kubelet", "pod", "sandbox", "image", "pull", "containerd", "started", "ready",
                                "volume", "mount", "node", "calico", "coredns", "etcd", "apiserver", "error"};
  std::string s;
  s.reserve(n + 160);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 12345;
  for (uint64_t line = 0; s.size() < n; line++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s += "I0101 12:" + std::to_string(line / 60 % 60) + ":" + std::to_string(line % 60) + "." +
         std::to_string(x % 1000000) + " seed " + std::to_string(seed) + " line " + std::to_string(line) + ":";
    for (int w = 0; w < 8; w++) {
      s += ' ';
      s += words[(x >> (w * 4)) & 15];
    }
    s += '\n';
  }
  s.resize(n);
  return s;
}

// Packs A and B: the same 80 paths (40 random, 40 text; a few span several
// 4 MiB blocks, some random ones start with the gzip magic so they go to the
// raw 1 MiB-block stream), different content and mostly different sizes.
struct SwitchPacks {
  fs::path pack_a, pack_b;
  fs::path tree_a, tree_b;            // packed as files=TREE
  std::vector<std::string> names;     // paths in a mount: "files/..."
  std::vector<std::string> a, b;      // content, per name
};

std::string gen_content(int i, bool text, int version) {
  const uint64_t seed = uint64_t(version) * 100000 + uint64_t(i) * 2 + (text ? 1 : 0);
  size_t size;
  if (!text) {
    static const size_t big[] = {(5u << 20) + 1234, (7u << 20) + 99, (9u << 20) - 4321, (5u << 20) + 555};
    size = i < 4 ? big[i] : size_t(1000 + (uint64_t(i) * 48271) % (300 << 10));
  } else {
    static const size_t big[] = {(6u << 20) + 77, (8u << 20) + 4097};
    size = i < 2 ? big[i] : size_t(500 + (uint64_t(i) * 69621) % (200 << 10));
  }
  if (version == 1 && i % 3 != 0) size += size_t(13 * i + 1);  // B: most sizes differ from A's
  if (text) return text_bytes(size, seed);
  std::string s = random_bytes(size, seed);
  if (i % 5 == 4 || i == 3) {  // looks gzip-compressed: the already-compressed (raw) stream
    s[0] = '\x1f';
    s[1] = '\x8b';
    s[2] = '\x08';
  }
  return s;
}

const SwitchPacks& switch_packs() {
  static std::unique_ptr<TempDir> dir;
  static SwitchPacks sp;
  if (dir) return sp;
  auto d = std::make_unique<TempDir>("kso-switch-packs");
  SwitchPacks p;
  p.tree_a = d->path() / "a";
  p.tree_b = d->path() / "b";
  p.pack_a = d->path() / "a.kso";
  p.pack_b = d->path() / "b.kso";
  for (int i = 0; i < 40; i++) {
    for (bool text : {false, true}) {
      char rel[96];
      if (text) snprintf(rel, sizeof rel, "logs/dir%d/t%02d.log", i % 3, i);
      else snprintf(rel, sizeof rel, "bin/dir%d/r%02d.bin", i % 4, i);
      p.names.push_back(std::string("files/") + rel);
      p.a.push_back(gen_content(i, text, 0));
      p.b.push_back(gen_content(i, text, 1));
      write_file(p.tree_a / rel, p.a.back());
      write_file(p.tree_b / rel, p.b.back());
    }
  }
  pack_dirs(p.pack_a, {"files=" + p.tree_a.string()});
  pack_dirs(p.pack_b, {"files=" + p.tree_b.string()});
  sp = std::move(p);
  dir = std::move(d);
  return sp;
}

// A smaller tree for the many tries of the index-flip test: ~330 files in
// nested dirs, two multi-block files, symlinks, an empty dir.
struct SmallPack {
  fs::path tree, pack;  // packed as files=TREE; in a mount: MNT/files
};

const SmallPack& small_pack() {
  static std::unique_ptr<TempDir> dir;
  static SmallPack sp;
  if (dir) return sp;
  auto d = std::make_unique<TempDir>("kso-switch-small");
  SmallPack p{d->path() / "tree", d->path() / "small.kso"};
  for (int i = 0; i < 320; i++) {
    char rel[96];
    snprintf(rel, sizeof rel, "d%d/sub%d/f%03d%s", i % 8, i % 5, i, i % 2 ? ".txt" : ".bin");
    size_t n = size_t((uint64_t(i) * 7919) % 9000);
    write_file(p.tree / rel, i % 2 ? text_bytes(n, 5000 + uint64_t(i)) : random_bytes(n, 5000 + uint64_t(i)));
  }
  write_file(p.tree / "big/random.bin", random_bytes((4u << 20) + (1u << 19) + 17, 6001));
  write_file(p.tree / "big/text.log", text_bytes((5u << 20) + 3, 6002));
  fs::create_directories(p.tree / "empty-dir");
  fs::create_symlink("../d1/sub1/f001.txt", p.tree / "big/link-rel");
  fs::create_symlink("/nonexistent/target", p.tree / "big/link-abs");
  pack_dirs(p.pack, {"files=" + p.tree.string()}, "--level 3 --allow-escaping-symlinks");
  sp = p;
  dir = std::move(d);
  return sp;
}

// ---------------------------------------------------------------------------
// Checked reads.

constexpr size_t kChunk = 128 << 10;

enum class Bad { None, WrongBytes, Enoent, OtherErrno, ShortRead, WrongSize };

struct FileCheck {
  Bad bad = Bad::None;
  std::string problem;  // what went wrong, when bad != None
  int eio = 0;          // ranges (or open/fstat) that failed with EIO
};

// Reads `p` with pread in kChunk ranges and compares with `want`. A range may
// return `want`'s bytes (possibly in several short pieces) or fail with EIO;
// anything else is a problem. `other` (may be null) only names wrong bytes.
FileCheck check_file(const fs::path& p, const std::string& want, const std::string* other, int flags) {
  FileCheck c;
  auto fail = [&](Bad b, const std::string& what) {
    c.bad = b;
    c.problem = what;
    return c;
  };
  int fd = open(p.c_str(), O_RDONLY | flags);
  if (fd < 0 && flags && errno == EINVAL) fd = open(p.c_str(), O_RDONLY);
  if (fd < 0) {
    int e = errno;
    if (e == EIO) {
      c.eio++;
      return c;
    }
    return fail(e == ENOENT ? Bad::Enoent : Bad::OtherErrno, std::string("open: ") + strerror(e));
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { close(fd); }
  } closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    if (e == EIO) {
      c.eio++;
      return c;
    }
    return fail(Bad::OtherErrno, std::string("fstat: ") + strerror(e));
  }
  if (uint64_t(st.st_size) != want.size())
    return fail(Bad::WrongSize, "size " + std::to_string(st.st_size) + ", want " + std::to_string(want.size()) +
                                    (other && uint64_t(st.st_size) == other->size() ? " (the other pack's size)" : ""));
  std::string buf(kChunk, '\0');
  for (uint64_t off = 0; off <= want.size(); off += kChunk) {
    const size_t len = size_t(std::min<uint64_t>(kChunk, want.size() - off));  // 0 at EOF: must read 0
    size_t got = 0;
    bool eio = false;
    while (got < len || (len == 0 && got == 0)) {
      ssize_t n = pread(fd, buf.data(), len == 0 ? 1 : len - got, off_t(off + got));
      if (n < 0) {
        int e = errno;
        if (e == EINTR) continue;
        if (e == EIO) {
          eio = true;
          break;
        }
        return fail(e == ENOENT ? Bad::Enoent : Bad::OtherErrno,
                    "pread @" + std::to_string(off + got) + ": " + strerror(e));
      }
      if (n == 0) {
        if (len == 0) break;  // EOF where expected
        return fail(Bad::ShortRead, "short read: EOF at " + std::to_string(off + got) + " of " +
                                        std::to_string(want.size()));
      }
      if (len == 0) return fail(Bad::WrongBytes, "bytes past the end (" + std::to_string(want.size()) + ")");
      const uint64_t at = off + got;
      if (memcmp(buf.data(), want.data() + at, size_t(n)) != 0) {
        bool is_other = other && at + uint64_t(n) <= other->size() &&
                        memcmp(buf.data(), other->data() + at, size_t(n)) == 0;
        return fail(Bad::WrongBytes, "wrong bytes @" + std::to_string(at) + "+" + std::to_string(n) +
                                         (is_other ? " (the other pack's bytes)" : " (neither pack's)"));
      }
      got += size_t(n);
    }
    if (eio) c.eio++;
    if (len == 0) break;
  }
  return c;
}

const char* bad_name(Bad b) {
  switch (b) {
    case Bad::None: return "ok";
    case Bad::WrongBytes: return "wrong bytes";
    case Bad::Enoent: return "ENOENT";
    case Bad::OtherErrno: return "other errno";
    case Bad::ShortRead: return "short read";
    case Bad::WrongSize: return "wrong size";
  }
  return "?";
}

// Per file, over all threads and rounds: the first problem and the EIO count.
struct ReadReport {
  std::vector<FileCheck> files;
  int reads = 0;
};

// `threads` readers; in each round every thread reads every file (each thread
// in its own rotated order, so first reads are spread and also collide).
// rounds[i] are the open flags of round i (e.g. 0, O_DIRECT).
ReadReport read_all_parallel(const fs::path& root, const std::vector<std::string>& names,
                             const std::vector<std::string>& want, const std::vector<std::string>& other,
                             int threads, const std::vector<int>& rounds) {
  ReadReport rep;
  rep.files.resize(names.size());
  std::mutex mu;
  std::atomic<int> reads{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; t++) {
    ts.emplace_back([&, t] {
      for (int flags : rounds) {
        for (size_t k = 0; k < names.size(); k++) {
          size_t i = (k + size_t(t) * 5) % names.size();
          FileCheck c = check_file(root / names[i], want[i], &other[i], flags);
          reads++;
          std::lock_guard<std::mutex> l(mu);
          FileCheck& f = rep.files[i];
          f.eio += c.eio;
          if (f.bad == Bad::None && c.bad != Bad::None) {
            f.bad = c.bad;
            f.problem = c.problem + (flags & O_DIRECT ? " [O_DIRECT]" : "");
          }
        }
      }
    });
  }
  for (auto& th : ts) th.join();
  rep.reads = reads.load();
  return rep;
}

// "N of M files ...: counts by kind; first examples".
std::string summarize(const ReadReport& rep, const std::vector<std::string>& names, bool eio_is_bad) {
  std::map<std::string, int> kinds;
  int bad = 0, with_eio = 0, eio_ranges = 0;
  std::string examples;
  int shown = 0;
  for (size_t i = 0; i < rep.files.size(); i++) {
    const FileCheck& f = rep.files[i];
    if (f.eio) with_eio++;
    eio_ranges += f.eio;
    bool is_bad = f.bad != Bad::None || (eio_is_bad && f.eio);
    if (!is_bad) continue;
    bad++;
    kinds[f.bad != Bad::None ? bad_name(f.bad) : "EIO"]++;
    if (shown++ < 8)
      examples += "\n  " + names[i] + ": " + (f.bad != Bad::None ? f.problem : std::to_string(f.eio) + " x EIO");
  }
  std::ostringstream o;
  o << bad << " of " << rep.files.size() << " files wrong";
  std::string sep = " (";
  for (auto& [k, n] : kinds) {
    o << sep << n << " " << k;
    sep = ", ";
  }
  if (!kinds.empty()) o << ")";
  o << "; " << with_eio << " files had EIO ranges (" << eio_ranges << " in all) over " << rep.reads << " file reads";
  return o.str() + examples;
}

class FsSwitch : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = fuse_unavailable_reason();
    if (!why.empty()) GTEST_SKIP() << "kso-fs switch tests need FUSE: " << why;
  }
  TempDir tmp_{"kso-fs-switch"};
};

// ---------------------------------------------------------------------------
// a. The documented `mv PACK.new PACK`: the running daemon serves the old pack.

TEST_F(FsSwitch, RenameSwitchKeepsServingTheOldPack) {
  const SwitchPacks& sp = switch_packs();
  fs::path pack = tmp_ / "srv/k8s.kso";
  fs::create_directories(pack.parent_path());
  fs::copy_file(sp.pack_a, pack);
  // A small block cache so the daemon keeps going back to the pack file.
  Mount m(pack, tmp_ / "mnt", {"cache_size=16M", {}});

  FileCheck first = check_file(m / sp.names[0], sp.a[0], &sp.b[0], 0);
  ASSERT_TRUE(first.bad == Bad::None && first.eio == 0)
      << "before the switch: " << sp.names[0] << ": " << first.problem << " eio " << first.eio;

  fs::path next = pack.string() + ".new";
  fs::copy_file(sp.pack_b, next);
  ASSERT_EQ(rename(next.c_str(), pack.c_str()), 0) << strerror(errno);

  ReadReport rep = read_all_parallel(m.path(), sp.names, sp.a, sp.b, 16, {0, O_DIRECT, 0});
  std::string sum = summarize(rep, sp.names, /*eio_is_bad=*/true);
  std::cerr << "[ RenameSwitch ] " << sum.substr(0, sum.find('\n')) << "\n";
  int bad = 0;
  for (auto& f : rep.files) bad += f.bad != Bad::None || f.eio;
  EXPECT_EQ(bad, 0) << "after rename(B, A), every file must still read as A's bytes: " << sum;
  EXPECT_EQ(rep.reads, 16 * 3 * int(sp.names.size()));
  EXPECT_TRUE(m.alive()) << m.log();
}

// ---------------------------------------------------------------------------
// b. Rewriting the served file in place: old bytes or EIO, nothing else.

TEST_F(FsSwitch, InPlaceRewriteGivesOldBytesOrEio) {
  const SwitchPacks& sp = switch_packs();
  const std::string b_bytes = read_file(sp.pack_b);
  ASSERT_EQ(b_bytes.size(), fs::file_size(sp.pack_b));
  for (bool read_first : {false, true}) {
    const std::string variant = read_first ? "one file read before the rewrite" : "fresh mount";
    SCOPED_TRACE(variant);
    fs::path dir = tmp_ / (read_first ? "read-first" : "fresh");
    fs::path pack = dir / "k8s.kso";
    fs::create_directories(dir);
    fs::copy_file(sp.pack_a, pack);
    Mount m(pack, dir / "mnt", {"cache_size=16M", {}});
    if (read_first) {
      FileCheck c = check_file(m / sp.names[1], sp.a[1], &sp.b[1], 0);
      ASSERT_TRUE(c.bad == Bad::None && c.eio == 0) << c.problem;
    }
    struct stat before, after;
    ASSERT_EQ(stat(pack.c_str(), &before), 0);
    {
      int fd = open(pack.c_str(), O_WRONLY | O_TRUNC);
      ASSERT_GE(fd, 0) << strerror(errno);
      size_t done = 0;
      while (done < b_bytes.size()) {
        ssize_t n = write(fd, b_bytes.data() + done, b_bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        ASSERT_GT(n, 0) << strerror(errno);
        done += size_t(n);
      }
      ASSERT_EQ(close(fd), 0);
    }
    ASSERT_EQ(stat(pack.c_str(), &after), 0);
    ASSERT_EQ(before.st_ino, after.st_ino) << "the rewrite must keep the inode";
    ASSERT_EQ(read_file(pack), b_bytes);

    ReadReport rep = read_all_parallel(m.path(), sp.names, sp.a, sp.b, 16, {0, O_DIRECT});
    std::string sum = summarize(rep, sp.names, /*eio_is_bad=*/false);
    std::cerr << "[ InPlaceRewrite, " << variant << " ] " << sum.substr(0, sum.find('\n')) << "\n";
    int bad = 0;
    for (auto& f : rep.files) bad += f.bad != Bad::None;
    EXPECT_EQ(bad, 0) << "each range must read as A's bytes or fail with EIO: " << sum;
    EXPECT_EQ(rep.reads, 16 * 2 * int(sp.names.size()));
  }
}

// ---------------------------------------------------------------------------
// c. Index bytes flipped in the mounted file: exact data or EIO, never wrong.

// Compares the mount's tree under `mnt_root` with the source tree `src`:
// lstat (type, mode, size, mtime, nlink), readdir, readlink, full reads. Each
// must match or fail with EIO; returns the problems found (empty: fine) and
// counts EIOs in `eio`.
std::vector<std::string> walk_and_compare(const fs::path& src, const fs::path& mnt_root, int& eio) {
  std::vector<std::string> problems;
  auto bad = [&](const std::string& rel, const std::string& what) { problems.push_back("'" + rel + "': " + what); };
  const auto want = scan_tree(src, false);
  std::map<std::string, std::string> contents;
  for (auto& [rel, n] : want)
    if (S_ISREG(n.mode)) contents[rel] = read_file(src / rel);
  for (auto& [rel, n] : want) {
    fs::path p = rel.empty() ? mnt_root : mnt_root / rel;
    struct stat st;
    if (lstat(p.c_str(), &st) != 0) {
      int e = errno;
      if (e == EIO) eio++;
      else bad(rel, std::string("lstat: ") + strerror(e) + (e == ENOENT ? " (exists in the source)" : ""));
      continue;
    }
    if (st.st_mode != n.mode) bad(rel, "mode " + std::to_string(st.st_mode) + ", want " + std::to_string(n.mode));
    if (int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec != n.mtime_ns) bad(rel, "wrong mtime");
    if (uint64_t(st.st_nlink) != n.nlink) bad(rel, "nlink " + std::to_string(st.st_nlink));
    if (!S_ISDIR(n.mode) && uint64_t(st.st_size) != n.size)
      bad(rel, "size " + std::to_string(st.st_size) + ", want " + std::to_string(n.size));
    if (S_ISDIR(n.mode)) {
      std::set<std::string> want_names, got_names;
      for (auto& e : fs::directory_iterator(src / rel)) want_names.insert(e.path().filename().string());
      std::error_code ec;
      fs::directory_iterator it(p, ec), end;
      for (; !ec && it != end; it.increment(ec)) got_names.insert(it->path().filename().string());
      if (ec) {
        if (ec.value() == EIO) eio++;
        else bad(rel, "readdir: " + ec.message());
      } else if (got_names != want_names) {
        std::string diff;
        for (auto& w : want_names)
          if (!got_names.count(w)) diff += " -" + w;
        for (auto& g : got_names)
          if (!want_names.count(g)) diff += " +" + g;
        bad(rel, "readdir lists other names:" + diff.substr(0, 300));
      }
    } else if (S_ISLNK(n.mode)) {
      char buf[4096];
      ssize_t k = readlink(p.c_str(), buf, sizeof buf);
      if (k < 0) {
        if (errno == EIO) eio++;
        else bad(rel, std::string("readlink: ") + strerror(errno));
      } else if (std::string(buf, size_t(k)) != n.target) {
        bad(rel, "symlink target '" + std::string(buf, size_t(k)) + "', want '" + n.target + "'");
      }
    } else if (S_ISREG(n.mode)) {
      FileCheck c = check_file(p, contents[rel], nullptr, 0);
      eio += c.eio;
      if (c.bad != Bad::None) bad(rel, c.problem);
    }
  }
  return problems;
}

TEST_F(FsSwitch, FlippedIndexBytesUnderALiveMountNeverServeWrongBytes) {
  const SmallPack& sp = small_pack();
  const auto [ioff, isize] = index_range(sp.pack);
  std::cerr << "[ FlippedIndex ] index at " << ioff << "+" << isize << " of " << fs::file_size(sp.pack) << "\n";
  constexpr int kTries = 40;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(55);
  std::mt19937_64 rng(0x6b736f2d666c6970ull);  // fixed: the same flips every run
  int tries = 0, clean = 0, with_eio = 0, failed = 0;
  std::vector<std::string> failures;
  for (int t = 0; t < kTries; t++) {
    // The flips of this try, drawn before any early stop so they never shift.
    std::vector<std::pair<uint64_t, uint8_t>> flips(1 + rng() % 4);
    for (auto& [off, mask] : flips) {
      off = ioff + rng() % isize;
      mask = uint8_t(1 + rng() % 255);
    }
    if (std::chrono::steady_clock::now() > deadline) {
      std::cerr << "[ FlippedIndex ] time budget spent after " << tries << " tries\n";
      break;
    }
    tries++;
    fs::path dir = tmp_ / ("try" + std::to_string(t));
    fs::create_directories(dir);
    fs::path pack = dir / "k8s.kso";
    fs::copy_file(sp.pack, pack);
    std::string flips_s;
    std::vector<std::string> problems;
    int eio = 0;
    {
      Mount m(pack, dir / "mnt");
      int fd = open(pack.c_str(), O_RDWR);
      ASSERT_GE(fd, 0) << strerror(errno);
      for (auto& [off, mask] : flips) {
        unsigned char c;
        ASSERT_EQ(pread(fd, &c, 1, off_t(off)), 1);
        c ^= mask;
        ASSERT_EQ(pwrite(fd, &c, 1, off_t(off)), 1);
        flips_s += " " + std::to_string(off - ioff) + "^" + std::to_string(mask);
      }
      close(fd);
      problems = walk_and_compare(sp.tree, m / "files", eio);
      if (!m.alive()) problems.push_back("the daemon died: " + m.log().substr(0, 500));
    }
    fs::remove_all(dir);
    if (!problems.empty()) {
      failed++;
      std::string f = "try " + std::to_string(t) + " (index bytes" + flips_s + "): " +
                      std::to_string(problems.size()) + " problems, e.g.";
      for (size_t i = 0; i < problems.size() && i < 3; i++) f += "\n    " + problems[i];
      failures.push_back(f);
    } else if (eio) {
      with_eio++;
    } else {
      clean++;
    }
  }
  std::cerr << "[ FlippedIndex ] " << tries << " tries: " << with_eio << " hit EIO only, " << clean
            << " clean, " << failed << " served wrong data or lost paths\n";
  std::string detail;
  for (size_t i = 0; i < failures.size() && i < 6; i++) detail += "\n  " + failures[i];
  EXPECT_EQ(failed, 0) << failed << " of " << tries << " tries served wrong data (" << with_eio << " EIO only, "
                       << clean << " clean):" << detail;
  EXPECT_GE(tries, 10) << "too few tries in the time budget";
}

// ---------------------------------------------------------------------------
// d. deploy/kso-switch.sh end to end with nginx.

// Unmounts `mnt` at scope exit and ends the daemonized kso-fs serving it.
struct DaemonMountGuard {
  fs::path mnt;
  ~DaemonMountGuard() {
    force_unmount(mnt);
    // kso-fs exits once unmounted; end any left behind (by pid: argv names our mount point).
    for (int i = 0; i < 50; i++) {
      auto pids = daemons();
      if (pids.empty()) return;
      if (i == 25)
        for (pid_t p : pids) kill(p, SIGTERM);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (pid_t p : daemons()) kill(p, SIGKILL);
  }
  std::vector<pid_t> daemons() const {
    std::vector<pid_t> out;
    std::error_code ec;
    for (auto& e : fs::directory_iterator("/proc", ec)) {
      std::string name = e.path().filename().string();
      if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
      std::string cmdline = read_file(e.path() / "cmdline");
      std::vector<std::string> argv;
      for (size_t s = 0, z; s < cmdline.size(); s = z + 1) {
        z = cmdline.find('\0', s);
        if (z == std::string::npos) z = cmdline.size();
        argv.push_back(cmdline.substr(s, z - s));
      }
      if (argv.empty() || argv[0].find("kso-fs") == std::string::npos) continue;
      if (std::find(argv.begin(), argv.end(), mnt.string()) != argv.end()) out.push_back(pid_t(std::stoi(name)));
    }
    return out;
  }
};

// A daemonized nginx (pid file in its prefix dir) stopped by pid at scope exit.
struct NginxGuard {
  fs::path pid_file;
  ~NginxGuard() {
    std::string s = read_file(pid_file);
    if (s.empty()) return;
    pid_t pid = pid_t(std::atoi(s.c_str()));
    if (pid <= 1) return;
    kill(pid, SIGTERM);
    for (int i = 0; i < 100 && kill(pid, 0) == 0; i++) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (kill(pid, 0) == 0) kill(pid, SIGKILL);
  }
};

TEST_F(FsSwitch, DocumentedSwitchProcedureServesTheNewPack) {
  for (auto* tool : {"nginx", "curl", "mountpoint"})
    if (!have_command(tool)) GTEST_SKIP() << tool << " is not installed";
  const fs::path script = fs::path(KSO_SOURCE_DIR) / "deploy/kso-switch.sh";
  ASSERT_EQ(access(script.c_str(), X_OK), 0) << script << " missing or not executable";
  const SwitchPacks& sp = switch_packs();
  fs::permissions(tmp_.path(), fs::perms(0755));
  const fs::path srv = tmp_ / "srv", pack = srv / "k8s.kso", mnt = srv / "kso";
  const fs::path pack_new = pack.string() + ".new", pack_old = pack.string() + ".old";
  fs::create_directories(mnt);
  ASSERT_EQ(run("install -m 0644 " + q(sp.pack_a) + " " + q(pack)).status, 0);
  const std::string env = "KSO_PACK=" + q(kso_pack_bin()) + " KSO_FS=" + q(kso_fs_bin()) + " ";

  // The running setup: pack A mounted (as the script mounts), nginx serving it.
  DaemonMountGuard mount_guard{mnt};
  auto r = run(q(kso_fs_bin()) + " " + q(pack) + " " + q(mnt) + " -o allow_other");
  ASSERT_EQ(r.status, 0) << r.output;
  ASSERT_TRUE(is_mounted(mnt));

  const int port = free_port();
  const fs::path ng = tmp_ / "nginx";
  write_nginx_conf(ng, port, mnt, "location /files/ { autoindex on; }\n");
  NginxGuard nginx_guard{ng / "nginx.pid"};
  const fs::path hooks = tmp_ / "hooks.log";
  const std::string nginx = "nginx -p " + q(ng) + " -c " + q(ng / "nginx.conf");
  // The servers' stop and start commands, as an admin would give them; each logs its run.
  const std::string start_cmd = "echo start >> " + q(hooks) + " && " + nginx + " </dev/null >/dev/null 2>>" +
                                q(ng / "stderr.log");
  const std::string stop_cmd = "echo stop >> " + q(hooks) + " && " + nginx + " -s stop && for i in $(seq 100); do [ -e " +
                               q(ng / "nginx.pid") + " ] || break; sleep 0.1; done";
  r = run(nginx + " </dev/null >/dev/null 2>>" + q(ng / "stderr.log"));
  ASSERT_EQ(r.status, 0) << r.output << read_file(ng / "stderr.log");
  ASSERT_TRUE(wait_for_port(port)) << read_file(ng / "stderr.log") << read_file(ng / "logs/error.log");

  // Every file through nginx; returns how many differ from `want` (and why, in `why`).
  auto curl_all = [&](const std::vector<std::string>& want, const std::string& tag, std::string& why) {
    fs::path out = tmp_ / ("curl-" + tag);
    std::string cfg;
    for (auto& n : sp.names)
      cfg += "url = \"http://127.0.0.1:" + std::to_string(port) + "/" + n + "\"\noutput = \"" + (out / n).string() +
             "\"\n";
    write_file(tmp_ / ("curl-" + tag + ".cfg"), cfg);
    auto c = run("curl -sS --fail --create-dirs -K " + q(tmp_ / ("curl-" + tag + ".cfg")));
    int wrong = 0;
    if (c.status != 0) why += "curl: " + c.output.substr(0, 400) + "\n";
    for (size_t i = 0; i < sp.names.size(); i++) {
      if (sha256_file_hex(out / sp.names[i]) == sha256_hex(want[i])) continue;
      if (wrong++ < 5) why += sp.names[i] + " differs\n";
    }
    fs::remove_all(out);
    return wrong;
  };
  std::string why;
  ASSERT_EQ(curl_all(sp.a, "before", why), 0) << "nginx should serve A before the switch: " << why;

  const std::string switch_cmd = env + q(script) + " --stop " + q(stop_cmd) + " --start " + q(start_cmd) +
                                 " --mount-opts allow_other ";

  // Usage errors: exit 2, nothing touched.
  r = run(env + q(script));
  EXPECT_EQ(r.status, 2) << r.output;
  r = run(env + q(script) + " --no-such-option " + q(sp.pack_b) + " " + q(pack) + " " + q(mnt));
  EXPECT_EQ(r.status, 2) << r.output;
  r = run(env + q(script) + " --help");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("sage"), std::string::npos) << r.output;

  // 1. A damaged new pack (a byte flipped inside a block) is refused: exit 1,
  //    servers untouched, old pack in place and mounted.
  {
    std::string bad = read_file(sp.pack_b);
    const std::string& victim = sp.b[0];  // r00.bin, random: stored raw, so its bytes are in the pack verbatim
    size_t at = bad.find(victim.substr((1u << 20) + 12345, 64));
    ASSERT_NE(at, std::string::npos) << "a random file's bytes should appear verbatim in the pack";
    bad[at + 32] = char(bad[at + 32] ^ 0x40);
    write_file(tmp_ / "damaged.kso", bad);
  }
  const std::string a_sha = sha256_file_hex(pack);
  r = run(switch_cmd + q(tmp_ / "damaged.kso") + " " + q(pack) + " " + q(mnt));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("verify"), std::string::npos) << r.output;
  EXPECT_EQ(sha256_file_hex(pack), a_sha) << "the served pack must be left as it was";
  EXPECT_FALSE(fs::exists(pack_new)) << "PACK.new must be removed";
  EXPECT_FALSE(fs::exists(pack_old)) << "nothing to keep when nothing was switched";
  EXPECT_TRUE(is_mounted(mnt));
  EXPECT_EQ(read_file(hooks), "") << "servers must not be stopped for a refused pack";
  why.clear();
  EXPECT_EQ(curl_all(sp.a, "refused", why), 0) << "nginx should still serve A: " << why;

  // 2. The good new pack: stop, remount, start; nginx serves B, A kept as PACK.old.
  r = run(switch_cmd + q(sp.pack_b) + " " + q(pack) + " " + q(mnt));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(read_file(hooks), "stop\nstart\n") << r.output;
  EXPECT_EQ(sha256_file_hex(pack), sha256_file_hex(sp.pack_b));
  EXPECT_TRUE(fs::exists(pack_old)) << "the previous pack must be kept as PACK.old";
  EXPECT_EQ(sha256_file_hex(pack_old), a_sha);
  EXPECT_FALSE(fs::exists(pack_new));
  EXPECT_TRUE(is_mounted(mnt));
  ASSERT_TRUE(wait_for_port(port)) << read_file(ng / "stderr.log");
  why.clear();
  EXPECT_EQ(curl_all(sp.b, "after", why), 0) << "nginx must serve B after the switch: " << why << r.output;

  // 3. Back to A with a --remount command (what systemd users pass) and --drop-old.
  write_file(hooks, "");
  const std::string remount_cmd = "echo remount >> " + q(hooks) + " && umount " + q(mnt) + " && " + q(kso_fs_bin()) +
                                  " " + q(pack) + " " + q(mnt) + " -o allow_other";
  r = run(switch_cmd + "--remount " + q(remount_cmd) + " --drop-old " + q(pack_old) + " " + q(pack) + " " + q(mnt));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(read_file(hooks), "stop\nremount\nstart\n") << r.output;
  EXPECT_EQ(sha256_file_hex(pack), a_sha);
  EXPECT_FALSE(fs::exists(pack_old)) << "--drop-old removes the previous pack";
  EXPECT_TRUE(is_mounted(mnt));
  ASSERT_TRUE(wait_for_port(port)) << read_file(ng / "stderr.log");
  why.clear();
  EXPECT_EQ(curl_all(sp.a, "back", why), 0) << "nginx must serve A again: " << why << r.output;

  // 4. Delta packs (docs/DEPLOY.md, section 6): B2 (A with 8 files changed) as a
  //    delta on A, then B3 (B2 with 8 more changed) as a delta on that delta (a
  //    chain). Installing a delta never removes or overwrites its base: the
  //    script keeps each base as PACK.base-ID.
  const fs::path deltas = tmp_ / "deltas";
  fs::create_directories(deltas);
  fs::copy_file(sp.pack_a, deltas / "a.kso");
  // `from` with files [lo, hi) (small ones: the first are the multi-MB ones) given version `v`.
  auto changed_tree = [&](const fs::path& from, std::vector<std::string> content, size_t lo, size_t hi, int v,
                          const fs::path& to) {
    fs::copy(from, to, fs::copy_options::recursive);
    for (size_t i = lo; i < hi; i++) {
      content[i] = gen_content(int(i / 2), i % 2 == 1, v);  // names alternate: bin i/2, log i/2
      write_file(to / sp.names[i].substr(6), content[i]);  // names are "files/..."
    }
    return content;
  };
  const std::vector<std::string> b2 = changed_tree(sp.tree_a, sp.a, 8, 16, 2, tmp_ / "tree-b2");
  const std::vector<std::string> b3 = changed_tree(tmp_ / "tree-b2", b2, 16, 24, 3, tmp_ / "tree-b3");
  pack_dirs(deltas / "b2-on-a.kso", {"files=" + (tmp_ / "tree-b2").string()}, "--base " + (deltas / "a.kso").string());
  pack_dirs(deltas / "b3-on-b2.kso", {"files=" + (tmp_ / "tree-b3").string()}, "--base " + (deltas / "b2-on-a.kso").string());
  for (const char* d : {"b2-on-a.kso", "b3-on-b2.kso"})
    ASSERT_LT(fs::file_size(deltas / d), fs::file_size(sp.pack_a) / 4) << d << " changes 8 small files of 80";
  auto bases_of = [&] {  // the base-ID files next to PACK
    std::set<std::string> out;
    for (auto& e : fs::directory_iterator(srv))
      if (e.path().filename().string().rfind("k8s.kso.base-", 0) == 0) out.insert(e.path().filename().string());
    return out;
  };
  const std::string id_a = to_hex(Pack::open(sp.pack_a)->identity()).substr(0, 16);
  const std::string id_b2 = to_hex(Pack::open(deltas / "b2-on-a.kso")->identity()).substr(0, 16);

  // A delta whose base is not installed is refused before anything changes.
  r = run(switch_cmd + q(deltas / "b3-on-b2.kso") + " " + q(pack) + " " + q(mnt));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("not found"), std::string::npos) << r.output;
  EXPECT_EQ(sha256_file_hex(pack), a_sha);
  EXPECT_TRUE(bases_of().empty());
  EXPECT_FALSE(fs::exists(pack_new));

  // B2 on A: A is the served pack; it stays, as PACK.old and as its base.
  write_file(hooks, "");
  r = run(switch_cmd + q(deltas / "b2-on-a.kso") + " " + q(pack) + " " + q(mnt));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(read_file(hooks), "stop\nstart\n") << r.output;
  EXPECT_EQ(bases_of(), (std::set<std::string>{"k8s.kso.base-" + id_a})) << r.output;
  EXPECT_EQ(sha256_file_hex(srv / ("k8s.kso.base-" + id_a)), a_sha);
  ASSERT_TRUE(wait_for_port(port)) << read_file(ng / "stderr.log");
  why.clear();
  EXPECT_EQ(curl_all(b2, "delta-b2", why), 0) << "nginx must serve B2 from the delta: " << why << r.output;

  // B3 on B2 with --drop-old --prune-bases: PACK.old (B2) goes, B2 and A stay as bases.
  r = run(switch_cmd + "--drop-old --prune-bases " + q(deltas / "b3-on-b2.kso") + " " + q(pack) + " " + q(mnt));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_FALSE(fs::exists(pack_old));
  EXPECT_EQ(bases_of(), (std::set<std::string>{"k8s.kso.base-" + id_a, "k8s.kso.base-" + id_b2})) << r.output;
  ASSERT_TRUE(wait_for_port(port)) << read_file(ng / "stderr.log");
  why.clear();
  EXPECT_EQ(curl_all(b3, "delta-b3", why), 0) << "nginx must serve B3 through the chain: " << why << r.output;

  // Back to the standalone A: the bases nothing needs any more are pruned.
  r = run(switch_cmd + "--drop-old --prune-bases " + q(sp.pack_a) + " " + q(pack) + " " + q(mnt));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(bases_of().empty()) << r.output;
  ASSERT_TRUE(wait_for_port(port)) << read_file(ng / "stderr.log");
  why.clear();
  EXPECT_EQ(curl_all(sp.a, "flat-again", why), 0) << why << r.output;
}

}  // namespace
}  // namespace kso::test
