// kso-fs leaves warm reads to the kernel: files and directories open with no
// request to the daemon (zero-message open/opendir) and the page cache is
// kept, so a second full read sends nothing. And the mount's readahead is
// raised so sequential readers get large requests.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "tests/support/mount_fixture.h"
#include "tests/support/testutil.h"

namespace kso::test {
namespace {

// Reads every file under `root` with cat (a fresh open for each).
void read_all(const fs::path& root) {
  auto r = run("find " + q(root) + " -type f -print0 | xargs -0 cat > /dev/null");
  ASSERT_EQ(r.status, 0) << r.output;
}

int count(const std::string& log, const std::string& opcode) {
  std::regex re("opcode: " + opcode + " ");
  return int(std::distance(std::sregex_iterator(log.begin(), log.end(), re), std::sregex_iterator()));
}

class FsCache : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = fuse_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    for (int d = 0; d < 3; d++)
      for (int f = 0; f < 4; f++)
        write_file(tmp / "src" / ("d" + std::to_string(d)) / ("f" + std::to_string(f)),
                   random_bytes(size_t(300000 + 1000 * f), uint64_t(d * 10 + f)));
    pack_dirs(tmp / "p.kso", {"data=" + (tmp / "src").string()});
  }
  TempDir tmp;
};

TEST_F(FsCache, WarmReadSendsNothingToTheDaemon) {
  Mount m(tmp / "p.kso", tmp / "mnt", {"debug", tmp / "daemon.log"});
  read_all(m / "data");
  std::string first = m.log();
  ASSERT_GT(count(first, "READ"), 0) << "the debug log should show the first pass's reads";
  read_all(m / "data");
  std::string second = m.log().substr(first.size());
  EXPECT_EQ(count(second, "READ"), 0) << second;
  EXPECT_EQ(count(second, "OPEN"), 0) << second;
  EXPECT_EQ(count(second, "OPENDIR"), 0) << second;
  EXPECT_EQ(count(second, "LOOKUP"), 0) << second;
  EXPECT_EQ(run("diff -r " + q(tmp / "src") + " " + q(m / "data")).status, 0);
}

// Lists every directory of the mount (names only).
size_t list_all(const fs::path& root) {
  size_t n = 0;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) n++;
  return n;
}

TEST_F(FsCache, KernelKeepsListingsUnlessTold) {
  size_t names = list_all(tmp / "src");
  {
    Mount m(tmp / "p.kso", tmp / "mnt", {"debug", tmp / "daemon.log"});
    EXPECT_EQ(list_all(m / "data"), names);
    std::string first = m.log();
    ASSERT_GT(count(first, "READDIR(PLUS)?"), 0) << "the debug log should show the first listing";
    EXPECT_EQ(list_all(m / "data"), names);
    EXPECT_EQ(count(m.log().substr(first.size()), "READDIR(PLUS)?"), 0) << "listings kept in the kernel";
  }
  Mount m(tmp / "p.kso", tmp / "mnt", {"debug,kernel_dir_cache=0", tmp / "daemon2.log"});
  EXPECT_EQ(list_all(m / "data"), names);
  std::string first = m.log();
  int listed = count(first, "READDIR(PLUS)?");
  ASSERT_GT(listed, 0);
  EXPECT_EQ(list_all(m / "data"), names);
  EXPECT_GE(count(m.log().substr(first.size()), "READDIR(PLUS)?"), listed) << "every listing asks the daemon again";
}

std::string bdi_read_ahead(const fs::path& mnt) {
  auto dev = run("mountpoint -d " + q(mnt));
  if (dev.status != 0) return "?";
  std::string d = dev.output.substr(0, dev.output.find('\n'));
  std::string v = read_file("/sys/class/bdi/" + d + "/read_ahead_kb");
  return v.substr(0, v.find('\n'));
}

TEST_F(FsCache, ReadAheadIsRaised) {
  {
    Mount m(tmp / "p.kso", tmp / "mnt");
    read_all(m / "data");  // a request after FUSE_INIT applies it
    EXPECT_EQ(bdi_read_ahead(m.path()), "1024");
  }
  Mount m(tmp / "p.kso", tmp / "mnt", {"read_ahead_kb=512", {}});
  read_all(m / "data");
  EXPECT_EQ(bdi_read_ahead(m.path()), "512");
}

}  // namespace
}  // namespace kso::test
