// kso-fs --status (issue 12, part 5): a running daemon reports which pack it
// serves and how the mount is doing through read-only extended attributes of
// the mount root, and `kso-fs --status MNT` prints them with an exit code a
// health check can use. Every number is checked against what was done to
// the mount: bytes read, cache hits on re-reads that bypass the page cache,
// EIO replies for a damaged block, fetches of a remote pack.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <csignal>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "index/format.h"
#include "index/pack_reader.h"
#include "tests/support/http_fixtures.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"

namespace kso::test {
namespace {

using nlohmann::json;

// Words, so zstd packs it into compressed blocks: those go through the block
// cache (raw blocks are read in place and never counted as hits or misses).
// Not periodic, so chunk dedup leaves its bytes alone.
std::string text(size_t n, uint64_t seed) {
  std::string r = random_bytes(n, seed), s;
  for (size_t i = 0; s.size() < n; i++) s += "word" + std::to_string(uint8_t(r[i]) % 97) + " ";
  s.resize(n);
  return s;
}

// `kso-fs --status MNT EXTRA...` in-process (EXTRA: words split at spaces):
// its exit status, and its stdout then its stderr.
RunResult fs_status(const fs::path& mnt, const std::string& extra = "") {
  std::vector<std::string> args{"--status", mnt.string()};
  for (std::string w; auto c : extra + " ") {
    if (c != ' ') w += c;
    else if (!w.empty()) args.push_back(std::exchange(w, ""));
  }
  ToolResult t = kso_fs(args);
  return {t.status, t.out + t.err};
}

// The same through the real binary: for a daemon that may not answer (the
// timeout ends the process, which must not be the test's).
RunResult fs_status_process(const fs::path& mnt, const std::string& extra = "") {
  return run(q(kso_fs_bin()) + " --status " + q(mnt) + (extra.empty() ? "" : " " + extra));
}

// `kso-fs --status MNT --json`, which must succeed with exit `want`.
json status_json(const fs::path& mnt, int want = 0) {
  RunResult r = fs_status(mnt, "--json");
  EXPECT_EQ(r.status, want) << r.output;
  json j = json::parse(r.output, nullptr, false);
  if (!j.is_object()) ADD_FAILURE() << "not JSON: " << r.output;
  return j.is_object() ? j : json::object();
}

// The whole of `p` read with O_DIRECT: every byte is a READ the daemon
// answers, none comes from the page cache. Returns the bytes.
std::string read_direct(const fs::path& p) {
  int fd = open(p.c_str(), O_RDONLY | O_DIRECT);
  if (fd < 0) throw std::runtime_error(p.string() + ": " + strerror(errno));
  constexpr size_t kBuf = 1u << 20;
  void* buf = nullptr;
  if (posix_memalign(&buf, 4096, kBuf) != 0) throw std::bad_alloc();
  std::string out;
  for (;;) {
    ssize_t n = pread(fd, buf, kBuf, off_t(out.size()));
    if (n < 0) {
      int e = errno;
      free(buf);
      close(fd);
      throw std::runtime_error(p.string() + ": " + strerror(e));
    }
    if (n == 0) break;
    out.append(static_cast<char*>(buf), size_t(n));
  }
  free(buf);
  close(fd);
  return out;
}

std::string xattr(const fs::path& p, const char* name, int* err = nullptr) {
  char buf[65536];
  ssize_t n = getxattr(p.c_str(), name, buf, sizeof buf);
  if (err) *err = n < 0 ? errno : 0;
  return n < 0 ? std::string() : std::string(buf, size_t(n));
}

class FsStatus : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = fuse_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    write_file(tmp / "src/words.txt", text(6u << 20, 1));   // two 4 MiB blocks, zstd
    write_file(tmp / "src/random.bin", random_bytes(700000, 2));
    write_file(tmp / "src/cold.txt", text(300001, 3));
    pack_dirs(tmp / "p.kso", {"files=" + (tmp / "src").string()});
  }
  // What kso-pack info --json says about `pack`.
  json info(const fs::path& pack) { return json::parse(kso_pack_ok({"info", "--json", pack.string()})); }
  TempDir tmp{"kso-fs-status"};
};

TEST_F(FsStatus, FreshMountReportsThePackItServes) {
  const json want = info(tmp / "p.kso");
  const int64_t before = int64_t(time(nullptr));
  Mount m(tmp / "p.kso", tmp / "mnt", {"cache_size=64M", {}, false});
  json j = status_json(m.path());
  EXPECT_EQ(j["identity"], want["identity"]);
  EXPECT_EQ(j["format_version"], want["format_version"]);
  EXPECT_EQ(j["pack_bytes"], want["pack_bytes"]);
  EXPECT_EQ(j["pack"], fs::canonical(tmp / "p.kso").string());
  EXPECT_EQ(j["mountpoint"], fs::canonical(m.path()).string());
  EXPECT_EQ(j["pid"], m.pid());
  EXPECT_EQ(j["bases"], json::array());
  EXPECT_TRUE(j["remote"].is_null());
  EXPECT_EQ(j["eio"], 0);
  EXPECT_EQ(j["bytes_served"], 0);
  EXPECT_EQ(j["reads"], 0);
  EXPECT_EQ(j["cache"]["capacity"], 64u << 20);
  EXPECT_EQ(j["cache"]["bytes"], 0);
  EXPECT_TRUE(j["cache"]["hit_rate"].is_null()) << "no lookups yet";
  EXPECT_GE(j["mounted_at_unix"].get<int64_t>(), before);
  EXPECT_LE(j["mounted_at_unix"].get<int64_t>(), int64_t(time(nullptr)));
  EXPECT_EQ(j["mounted_at"].get<std::string>().size(), 20u) << j["mounted_at"];  // 2026-12-02T00:40:26Z
  EXPECT_EQ(j["health"], "healthy");
  EXPECT_EQ(j["problems"], json::array());

  // The text form says the same, one item per line.
  RunResult r = fs_status(m.path());
  EXPECT_EQ(r.status, 0) << r.output;
  const std::string id = want["identity"].get<std::string>();
  for (const std::string& line : std::vector<std::string>{
           "pack:           " + fs::canonical(tmp / "p.kso").string() + "\n", "identity:       " + id + "\n",
        "format:         v" + std::to_string(want["format_version"].get<int>()) + ", ",
        "served:         0 B (0 bytes) in 0 reads\n", "EIO replies:    0 since mount\n", "health:         healthy\n",
        "cache:          0 B of 64.0 MiB, hit rate n/a (0 hits, 0 misses)\n"})
    EXPECT_NE(r.output.find(line), std::string::npos) << line << "\nin:\n" << r.output;
  EXPECT_EQ(r.output.find("bases:"), std::string::npos) << "not a delta";

  // The attributes themselves: on the root only, read-only, sized like any xattr.
  EXPECT_EQ(xattr(m.path(), "user.kso.identity"), id);
  EXPECT_EQ(xattr(m.path(), "user.kso.pack"), fs::canonical(tmp / "p.kso").string());
  EXPECT_EQ(xattr(m.path(), "user.kso.format_version"), std::to_string(want["format_version"].get<int>()));
  EXPECT_EQ(json::parse(xattr(m.path(), "user.kso.status"))["identity"], id);
  char names[1024];
  ssize_t n = listxattr(m.path().c_str(), names, sizeof names);
  ASSERT_GT(n, 0) << strerror(errno);
  EXPECT_EQ(std::string(names, size_t(n)),
            std::string("user.kso.status\0user.kso.pack\0user.kso.identity\0user.kso.format_version\0", 72));
  EXPECT_EQ(listxattr(m.path().c_str(), nullptr, 0), n) << "the size probe";
  EXPECT_EQ(listxattr(m.path().c_str(), names, 4), -1);
  EXPECT_EQ(errno, ERANGE);
  EXPECT_EQ(getxattr(m.path().c_str(), "user.kso.status", names, 4), -1);
  EXPECT_EQ(errno, ERANGE);
  int err = 0;
  xattr(m.path(), "user.kso.nothing", &err);
  EXPECT_EQ(err, ENODATA);
  xattr(m.path(), "security.selinux", &err);
  EXPECT_EQ(err, ENODATA);
  for (auto* p : {"files", "files/words.txt"}) {
    xattr(m / p, "user.kso.status", &err);
    EXPECT_EQ(err, ENODATA) << p;
    EXPECT_EQ(listxattr((m / p).c_str(), names, sizeof names), 0) << p;
  }
  EXPECT_EQ(setxattr(m.path().c_str(), "user.kso.identity", "x", 1, 0), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(removexattr(m.path().c_str(), "user.kso.identity"), -1);
  EXPECT_EQ(errno, EROFS);
  // getfattr (package attr) sees them as any xattr.
  if (have_command("getfattr")) {
    r = run("getfattr --absolute-names -n user.kso.identity --only-values " + q(m.path()));
    EXPECT_EQ(r.output, id);
  }
  EXPECT_EQ(xattr(m.path(), "user.kso.identity"), id) << "the answer is the same after ENODATA/ERANGE replies";
}

TEST_F(FsStatus, BytesServedAndCacheHitsCountWhatWasRead) {
  Mount m(tmp / "p.kso", tmp / "mnt", {"cache_size=64M", {}, false});
  const std::string words = read_file(tmp / "src/words.txt");
  json j0 = status_json(m.path());
  ASSERT_EQ(j0["bytes_served"], 0);

  // Cold read with O_DIRECT: every byte is a READ reply; blocks miss the cache.
  EXPECT_TRUE(read_direct(m / "files/words.txt") == words);
  json j1 = status_json(m.path());
  EXPECT_EQ(j1["bytes_served"].get<uint64_t>(), words.size());
  EXPECT_GT(j1["reads"].get<uint64_t>(), 0u);
  const uint64_t misses = j1["cache"]["misses"], hits1 = j1["cache"]["hits"];
  EXPECT_GE(misses, 1u);
  EXPECT_GT(j1["cache"]["bytes"].get<uint64_t>(), words.size() / 2) << "the decoded blocks are held";

  // The same again, past the page cache: served again, from the block cache.
  EXPECT_TRUE(read_direct(m / "files/words.txt") == words);
  json j2 = status_json(m.path());
  EXPECT_EQ(j2["bytes_served"].get<uint64_t>(), 2 * words.size());
  EXPECT_EQ(j2["cache"]["misses"], misses) << "every block was in the cache";
  EXPECT_GT(j2["cache"]["hits"].get<uint64_t>(), hits1);
  EXPECT_GT(j2["cache"]["hit_rate"].get<double>(), j1["cache"]["hit_rate"].get<double>());
  EXPECT_GT(j2["reads"].get<uint64_t>(), j1["reads"].get<uint64_t>());

  // Through the page cache, as nginx reads: the kernel asks once per page
  // and never past the end of the file, so exactly the file's size again.
  const std::string cold = read_file(tmp / "src/cold.txt"), rnd = read_file(tmp / "src/random.bin");
  EXPECT_TRUE(read_file(m / "files/cold.txt") == cold);
  EXPECT_TRUE(read_file(m / "files/random.bin") == rnd);
  json j3 = status_json(m.path());
  EXPECT_EQ(j3["bytes_served"].get<uint64_t>(), 2 * words.size() + cold.size() + rnd.size());
  EXPECT_TRUE(read_file(m / "files/cold.txt") == cold);  // a warm read: the page cache, not the daemon
  EXPECT_EQ(status_json(m.path())["bytes_served"], j3["bytes_served"]);
  EXPECT_EQ(j3["eio"], 0);

  RunResult r = fs_status(m.path());
  EXPECT_EQ(r.status, 0) << r.output;
  const std::string served = std::to_string(j3["bytes_served"].get<uint64_t>());
  EXPECT_NE(r.output.find(" (" + served + " bytes) in "), std::string::npos) << r.output;
}

TEST_F(FsStatus, EioRepliesAreCountedAndMakeItDegraded) {
  fs::path bad = tmp / "bad.kso";
  fs::copy_file(tmp / "p.kso", bad);
  off_t damaged_at = 0;  // an offset of words.txt in the damaged block
  {
    auto p = Pack::open(bad);
    auto words = p->layout(p->lookup_path("files/words.txt")->ino);
    auto cold = p->layout(p->lookup_path("files/cold.txt")->ino);
    std::set<uint32_t> cold_blocks;
    for (auto& c : cold->chunks) cold_blocks.insert(c.block);
    const ChunkRef* victim = nullptr;  // a block of words.txt that holds nothing of cold.txt
    for (auto& c : words->chunks)
      if (!cold_blocks.count(c.block) && p->decodes(c.block)) {
        victim = &c;
        break;
      }
    ASSERT_NE(victim, nullptr);
    damaged_at = off_t(victim->file_offset) & ~off_t(4095);
    const BlockEntry& be = p->block_entry(victim->block);
    xor_byte(bad, be.offset + be.stored_size / 2, 0x5a);
  }
  Mount m(bad, tmp / "mnt", {"", {}, false});
  EXPECT_EQ(fs_status(m.path()).status, 0) << "nothing read yet: healthy";
  EXPECT_EQ(read_file(m / "files/cold.txt"), read_file(tmp / "src/cold.txt")) << "another block";
  EXPECT_EQ(fs_status(m.path()).status, 0);

  RunResult cat = run("cat " + q(m / "files/words.txt") + " > /dev/null");
  EXPECT_NE(cat.output.find("Input/output error"), std::string::npos) << cat.output;
  json j = status_json(m.path(), 3);
  const uint64_t eio = j["eio"];
  EXPECT_GE(eio, 1u);
  EXPECT_EQ(j["health"], "degraded");
  ASSERT_EQ(j["problems"].size(), 1u);
  EXPECT_NE(j["problems"][0].get<std::string>().find(std::to_string(eio) + " EIO replies since mount"), std::string::npos)
      << j["problems"];

  RunResult r = fs_status(m.path());
  EXPECT_EQ(r.status, 3) << r.output;
  EXPECT_NE(r.output.find("EIO replies:    " + std::to_string(eio) + " since mount\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("health:         degraded: " + std::to_string(eio) + " EIO replies"), std::string::npos)
      << r.output;

  // Each EIO reply counts, however often the same damage is read.
  int fd = open((m / "files/words.txt").c_str(), O_RDONLY | O_DIRECT);
  ASSERT_GE(fd, 0);
  void* buf = nullptr;
  ASSERT_EQ(posix_memalign(&buf, 4096, 65536), 0);
  EXPECT_EQ(pread(fd, buf, 65536, damaged_at), -1);
  EXPECT_EQ(errno, EIO);
  free(buf);
  close(fd);
  EXPECT_EQ(status_json(m.path(), 3)["eio"].get<uint64_t>(), eio + 1);

  // --max-eio N tolerates N of them.
  EXPECT_EQ(fs_status(m.path(), "--max-eio " + std::to_string(eio + 1)).status, 0);
  EXPECT_EQ(fs_status(m.path(), "--max-eio=" + std::to_string(eio)).status, 3);
  EXPECT_TRUE(m.alive());
}

TEST_F(FsStatus, NotAKsoMountFailsWithOneLine) {
  const std::string prefix = "kso-fs: error: ";
  fs::create_directories(tmp / "plain");
  RunResult r = fs_status(tmp / "plain");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(one_line_error(r.output, prefix, {(tmp / "plain").string(), "not a kso-fs mount"}), "");
  r = fs_status(tmp / "missing");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(one_line_error(r.output, prefix, {(tmp / "missing").string(), "No such file or directory"}), "");
  r = fs_status(tmp / "p.kso");  // the pack file itself: not a mount either
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(one_line_error(r.output, prefix, {(tmp / "p.kso").string(), "not a kso-fs mount"}), "");
  if (fs::exists("/proc/self")) {
    r = fs_status("/proc/self");
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(one_line_error(r.output, prefix, {"/proc/self"}), "");
  }
  {
    Mount m(tmp / "p.kso", tmp / "mnt", {"", {}, false});
    r = fs_status(m / "files");  // inside the mount, not its root
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(one_line_error(r.output, prefix, {(m / "files").string(), "not a kso-fs mount"}), "");
    m.kill9();
    r = fs_status(m.path());
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(one_line_error(r.output, prefix, {m.path().string(), "daemon", "not connected"}), "");
  }
  force_unmount(tmp / "mnt");

  // Usage errors: exit 2; --status needs no PACK, --help documents it.
  for (const char* bad : {"--status", "--status a b", "--status a --max-eio", "--status a --max-eio x",
                                 "--status a --timeout -1", "--status a --frobnicate"}) {
    std::vector<std::string> args;
    for (std::string w; auto c : std::string(bad) + " ") {
      if (c != ' ') w += c;
      else if (!w.empty()) args.push_back(std::exchange(w, ""));
    }
    auto u = kso_fs(args);
    EXPECT_EQ(u.status, 2) << bad << ": " << u.err;
  }
  auto h = kso_fs({"--help"});
  EXPECT_EQ(h.status, 0);
  for (auto* s : {"kso-fs --status MOUNTPOINT [--json] [--max-eio N] [--timeout SECS]", "user.kso.status",
                  "3 degraded"})
    EXPECT_NE((h.out + h.err).find(s), std::string::npos) << s;
}

TEST_F(FsStatus, DaemonThatDoesNotAnswerTimesOut) {
  Mount m(tmp / "p.kso", tmp / "mnt", {"", {}, false});
  ASSERT_EQ(kill(m.pid(), SIGSTOP), 0);
  // kill() returns before the signal has stopped every thread: wait until
  // the kernel reports the process stopped ('T'), or a quick answer races in.
  auto stopped = [&] {  // every thread, as /proc/PID/task/*/stat says
    const fs::path tasks = "/proc/" + std::to_string(m.pid()) + "/task";
    std::error_code ec;
    for (auto& t : fs::directory_iterator(tasks, ec)) {
      std::string st = read_file(t.path() / "stat");
      size_t paren = st.rfind(')');
      if (paren == std::string::npos || paren + 2 >= st.size() || st[paren + 2] != 'T') return false;
    }
    return !ec;
  };
  for (int i = 0; i < 200 && !stopped(); i++) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(stopped()) << "the daemon did not stop";
  const auto t0 = std::chrono::steady_clock::now();
  RunResult r = fs_status_process(m.path(), "--timeout 1");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  kill(m.pid(), SIGCONT);
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(one_line_error(r.output, "kso-fs: error: ", {m.path().string(), "does not answer"}), "");
  EXPECT_LT(secs, 5.0);
  EXPECT_EQ(fs_status(m.path()).status, 0) << "answers again once resumed";
}

TEST_F(FsStatus, DeltaMountListsItsBases) {
  write_file(tmp / "src2/words.txt", text(6u << 20, 1));
  write_file(tmp / "src2/new.txt", text(100000, 9));
  fs::path delta = tmp / "delta.kso";
  pack_dirs(delta, {"files=" + (tmp / "src2").string()}, "--level 3 --base " + (tmp / "p.kso").string());
  const json base = info(tmp / "p.kso"), d = info(delta);
  Mount m(delta, tmp / "mnt", {"", {}, false});
  json j = status_json(m.path());
  EXPECT_EQ(j["identity"], d["identity"]);
  ASSERT_EQ(j["bases"].size(), 1u) << j;
  EXPECT_EQ(j["bases"][0]["identity"], base["identity"]);
  EXPECT_EQ(j["bases"][0]["pack"], fs::canonical(tmp / "p.kso").string());
  RunResult r = fs_status(m.path());
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.output.find("bases:          1 "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("  base:         " + base["identity"].get<std::string>() + " " +
                          fs::canonical(tmp / "p.kso").string() + "\n"),
            std::string::npos)
      << r.output;
}

TEST_F(FsStatus, RemotePackReportsWhatItFetched) {
  // Random (raw) files of several extents each: reading one fetches it and
  // leaves the others' extents unfetched.
  for (int i = 0; i < 3; i++) write_file(tmp / "rsrc" / ("r" + std::to_string(i)), random_bytes(3u << 20, uint64_t(10 + i)));
  const fs::path pack = tmp / "r.kso";
  pack_dirs(pack, {"files=" + (tmp / "rsrc").string()});
  FaultServer server;
  const std::string target = "/kso/r.kso?X-Amz-Signature=s3cret";
  FaultRoute route;
  route.body = read_file(pack);
  server.route(target, route);
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + target;
  const fs::path cache = tmp / "cache";
  Mount m(url, tmp / "mnt", {"cache_dir=" + cache.string() + ",cache_size=1G,remote_timeout=5", {}, false});
  json j = status_json(m.path());
  EXPECT_EQ(j["pack"], "http://127.0.0.1:" + std::to_string(server.port()) + "/kso/r.kso");
  EXPECT_EQ(j["identity"], info(pack)["identity"]);
  ASSERT_TRUE(j["remote"].is_object()) << j;
  EXPECT_EQ(j["remote"]["cache_dir"], cache.string());
  EXPECT_EQ(j["remote"]["cache_capacity"], 1u << 30);
  EXPECT_EQ(j["remote"]["offline_at_mount"], false);
  EXPECT_EQ(j["remote"]["origin_down"], false);
  EXPECT_EQ(j["remote"]["object_changed"], false);
  const uint64_t fetched0 = j["remote"]["bytes_fetched"], requests0 = j["remote"]["range_requests"];
  EXPECT_GE(requests0, 2u) << "the trailer, then the metadata region";
  EXPECT_EQ(j["remote"]["cache_bytes"], fetched0 - kTrailerSize) << "every fetched range but the trailer is kept";

  EXPECT_TRUE(read_file(m / "files/r0") == read_file(tmp / "rsrc/r0"));
  // A read-ahead range may still be between its arrival (counted as
  // fetched) and its write into the cache: wait for the two to meet.
  for (int i = 0; i < 100; i++) {
    j = status_json(m.path());
    if (j["remote"]["cache_bytes"] == j["remote"]["bytes_fetched"].get<uint64_t>() - kTrailerSize) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(j["remote"]["bytes_fetched"].get<uint64_t>(), fetched0 + (3u << 20) - (1u << 20));
  EXPECT_GT(j["remote"]["range_requests"].get<uint64_t>(), requests0);
  EXPECT_EQ(j["remote"]["cache_bytes"], j["remote"]["bytes_fetched"].get<uint64_t>() - kTrailerSize);
  RunResult r = fs_status(m.path());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find("s3cret"), std::string::npos) << "the URL's query is a secret";
  EXPECT_NE(r.output.find("remote fetched: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("origin:         reachable\n"), std::string::npos) << r.output;
  EXPECT_EQ(xattr(m.path(), "user.kso.status").find("s3cret"), std::string::npos);

  // Another object at the URL: uncached reads fail, and the status says so.
  route.body = read_file(tmp / "src/random.bin");
  server.route(target, route);
  RunResult cat = run("cat " + q(m / "files/r2") + " > /dev/null");
  EXPECT_NE(cat.status, 0) << "r2 was not cached";
  j = status_json(m.path(), 3);
  EXPECT_EQ(j["remote"]["object_changed"], true);
  EXPECT_GE(j["eio"].get<uint64_t>(), 1u);
  EXPECT_EQ(j["health"], "degraded");
  r = fs_status(m.path(), "--max-eio 1000000");
  EXPECT_EQ(r.status, 3) << "a changed object is degraded whatever the EIO count: " << r.output;
  EXPECT_NE(r.output.find("the remote object changed"), std::string::npos) << r.output;
  EXPECT_TRUE(read_file(m / "files/r0") == read_file(tmp / "rsrc/r0")) << "what is cached is still served";
}

// docs/DEPLOY.md's status procedure, run as written against a mount.
TEST_F(FsStatus, DocumentedProcedureAsWritten) {
  const std::string block = doc_procedure("DEPLOY.md", "status");
  ASSERT_FALSE(block.empty()) << "docs/DEPLOY.md lost its status procedure";
  Mount m(tmp / "p.kso", tmp / "mnt", {"", {}, false});
  const std::string path = kso_fs_bin().parent_path().string() + ":" + getenv("PATH");
  RunResult r = run("cd " + q(tmp.path()) + " && MNT=" + q(m.path()) + " PATH=" + q(path) + " bash -euo pipefail -c " + q(block));
  EXPECT_EQ(r.status, 0) << block << "\n" << r.output;
  const std::string id = info(tmp / "p.kso")["identity"];
  EXPECT_NE(r.output.find("identity:       " + id), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("health:         healthy"), std::string::npos) << r.output;
}

// deploy/kso-fs@.service's health check (ExecStartPost=), run as systemd
// would with the instance's MOUNTPOINT: passes on the mount, fails elsewhere.
TEST_F(FsStatus, ServiceUnitHealthCheckRuns) {
  const std::string unit = read_file(fs::path(KSO_SOURCE_DIR) / "deploy/kso-fs@.service");
  size_t at = unit.find("\nExecStartPost=");
  ASSERT_NE(at, std::string::npos) << "kso-fs@.service lost its health check";
  std::string cmd = unit.substr(at + 15, unit.find('\n', at + 1) - at - 15);
  ASSERT_EQ(cmd.rfind("kso-fs ", 0), 0u) << "a bare name, found in systemd's search path: " << cmd;
  cmd = q(kso_fs_bin()) + cmd.substr(std::string("kso-fs").size());
  ASSERT_NE(cmd.find("${MOUNTPOINT}"), std::string::npos) << cmd;
  Mount m(tmp / "p.kso", tmp / "mnt", {"allow_other", {}, false});
  RunResult r = run("MOUNTPOINT=" + q(m.path()) + " sh -c " + q(cmd));
  EXPECT_EQ(r.status, 0) << cmd << "\n" << r.output;
  fs::create_directories(tmp / "empty");
  r = run("MOUNTPOINT=" + q(tmp / "empty") + " sh -c " + q(cmd));
  EXPECT_EQ(r.status, 1) << cmd << "\n" << r.output;
}

}  // namespace
}  // namespace kso::test
