// kso-fs acceptance: a mounted pack reproduces its source tree exactly, is
// read-only, serves concurrent readers, survives damaged blocks and daemon
// deaths, and mounts through mount(8) / mount.fuse3.
#include <fcntl.h>
#include <signal.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "index/pack_reader.h"
#include "tests/support/mount_fixture.h"

namespace kso::test {
namespace {

class FsMount : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = fuse_unavailable_reason();
    if (!why.empty()) GTEST_SKIP() << "kso-fs mount tests need FUSE: " << why;
    tp_ = &shared_tree_pack();
  }
  const fs::path& tree() const { return tp_->tree; }
  const fs::path& pack() const { return tp_->pack; }

  const TreePack* tp_ = nullptr;
  TempDir tmp_{"kso-fs-mount"};
};

// Reads [off, off+len) of `p` with pread; returns the errno of the first
// failure (0 on success) and the bytes in `out`.
int pread_range(const fs::path& p, uint64_t off, size_t len, std::string& out, int extra_flags = 0) {
  int fd = open(p.c_str(), O_RDONLY | extra_flags);
  if (fd < 0 && extra_flags) fd = open(p.c_str(), O_RDONLY);
  if (fd < 0) return errno;
  out.assign(len, '\0');
  size_t got = 0;
  int err = 0;
  while (got < len) {
    ssize_t n = pread(fd, out.data() + got, len - got, off_t(off + got));
    if (n < 0) {
      err = errno;
      break;
    }
    if (n == 0) break;
    got += size_t(n);
  }
  close(fd);
  out.resize(got);
  return err;
}

// errno of a syscall-like expression (0 if it succeeded).
template <typename F>
int err_of(F&& f) {
  errno = 0;
  return f() < 0 ? errno : 0;
}

TEST_F(FsMount, TreeMatchesSourceExactly) {
  Mount m(pack(), tmp_ / "mnt");
  fs::path mt = m / "data";

  auto d = run("diff -r --no-dereference " + q(tree()) + " " + q(mt));
  EXPECT_EQ(d.status, 0) << d.output;

  // find: names, types, modes, link counts, ns mtimes, symlink targets.
  auto a = run("cd " + q(tree()) + " && find . -type d -printf '%y %m %n %T@|%p\\n' | LC_ALL=C sort");
  auto b = run("cd " + q(mt) + " && find . -type d -printf '%y %m %n %T@|%p\\n' | LC_ALL=C sort");
  ASSERT_EQ(a.status, 0) << a.output;
  ASSERT_EQ(b.status, 0) << b.output;
  EXPECT_EQ(a.output, b.output);  // directories: st_size is filesystem-specific
  a = run("cd " + q(tree()) + " && find . ! -type d -printf '%y %m %n %T@ %s|%p|%l\\n' | LC_ALL=C sort");
  b = run("cd " + q(mt) + " && find . ! -type d -printf '%y %m %n %T@ %s|%p|%l\\n' | LC_ALL=C sort");
  ASSERT_EQ(a.status, 0) << a.output;
  ASSERT_EQ(b.status, 0) << b.output;
  EXPECT_EQ(a.output, b.output);
  EXPECT_GT(std::count(a.output.begin(), a.output.end(), '\n'), 320);

  // lstat, node by node.
  auto src = lstat_tree(tree());
  auto mnt = lstat_tree(mt);
  ASSERT_EQ(src.size(), mnt.size());
  std::map<uint64_t, uint64_t> src_to_mnt_ino;  // hardlink groups must map 1:1
  std::set<uint64_t> mnt_inos;
  for (auto& [rel, s] : src) {
    SCOPED_TRACE("path '" + rel + "'");
    auto it = mnt.find(rel);
    ASSERT_NE(it, mnt.end());
    const FsNode& n = it->second;
    EXPECT_EQ(n.mode, s.mode);
    EXPECT_EQ(n.mtime_ns, s.mtime_ns);
    EXPECT_EQ(n.nlink, s.nlink);
    if (!S_ISDIR(s.mode)) {
      EXPECT_EQ(n.size, s.size);
    }
    EXPECT_EQ(n.target, s.target);
    auto [pos, fresh] = src_to_mnt_ino.emplace(s.ino, n.ino);
    if (fresh) {
      EXPECT_TRUE(mnt_inos.insert(n.ino).second) << "inode " << n.ino << " reused by an unrelated path";
    } else {
      EXPECT_EQ(pos->second, n.ino) << "hardlinks must share an inode on the mount";
    }
  }
  // The hardlink groups explicitly.
  EXPECT_EQ(mnt.at("hard/orig").ino, mnt.at("hard/link1").ino);
  EXPECT_EQ(mnt.at("hard/orig").ino, mnt.at("hard/other dir/link2").ino);
  EXPECT_EQ(mnt.at("hard/orig").nlink, 3u);
  EXPECT_EQ(mnt.at("hard/big").ino, mnt.at("hard/big-link").ino);
  EXPECT_NE(mnt.at("hard/orig").ino, mnt.at("hard/big").ino);
  // Symlinks through the kernel's readlink.
  EXPECT_EQ(fs::read_symlink(mt / "links/ütf"), fs::read_symlink(tree() / "links/ütf"));
  EXPECT_EQ(read_file(mt / "links/chain"), read_file(tree() / "sizes/4096"));  // followed
}

TEST_F(FsMount, InodesAndMtimesStableAcrossMounts) {
  std::map<std::string, FsNode> first, second;
  {
    Mount m(pack(), tmp_ / "mnt");
    first = lstat_tree(m / "data");
  }
  EXPECT_FALSE(is_mounted(tmp_ / "mnt"));
  {
    Mount m(pack(), tmp_ / "mnt2");
    second = lstat_tree(m / "data");
  }
  ASSERT_EQ(first.size(), second.size());
  for (auto& [rel, a] : first) {
    SCOPED_TRACE(rel);
    ASSERT_TRUE(second.count(rel));
    EXPECT_EQ(second[rel].ino, a.ino);
    EXPECT_EQ(second[rel].mtime_ns, a.mtime_ns);
  }
}

TEST_F(FsMount, WritesFailWithErofs) {
  Mount m(pack(), tmp_ / "mnt");
  fs::path d = m / "data";
  std::string f = (d / "sizes/4096").string(), dir = (d / "a").string();
  EXPECT_EQ(err_of([&] { return open(f.c_str(), O_WRONLY); }), EROFS);
  EXPECT_EQ(err_of([&] { return open(f.c_str(), O_RDWR); }), EROFS);
  EXPECT_EQ(err_of([&] { return open(f.c_str(), O_RDONLY | O_TRUNC); }), EROFS);
  EXPECT_EQ(err_of([&] { return open(f.c_str(), O_WRONLY | O_APPEND); }), EROFS);
  EXPECT_EQ(err_of([&] { return creat((d / "new-file").c_str(), 0644); }), EROFS);
  EXPECT_EQ(err_of([&] { return open((d / "new-file").c_str(), O_RDONLY | O_CREAT, 0644); }), EROFS);
  EXPECT_EQ(err_of([&] { return mkdir((d / "new-dir").c_str(), 0755); }), EROFS);
  EXPECT_EQ(err_of([&] { return unlink(f.c_str()); }), EROFS);
  EXPECT_EQ(err_of([&] { return rmdir((d / "empty-dir").c_str()); }), EROFS);
  EXPECT_EQ(err_of([&] { return rename(f.c_str(), (d / "renamed").c_str()); }), EROFS);
  EXPECT_EQ(err_of([&] { return chmod(f.c_str(), 0777); }), EROFS);
  EXPECT_EQ(err_of([&] { return chown(f.c_str(), 1, 1); }), EROFS);
  EXPECT_EQ(err_of([&] { return truncate(f.c_str(), 0); }), EROFS);
  EXPECT_EQ(err_of([&] { return utimensat(AT_FDCWD, f.c_str(), nullptr, 0); }), EROFS);
  EXPECT_EQ(err_of([&] { return symlink("x", (d / "new-link").c_str()); }), EROFS);
  EXPECT_EQ(err_of([&] { return link(f.c_str(), (d / "new-hardlink").c_str()); }), EROFS);
  EXPECT_EQ(err_of([&] { return mknod((d / "fifo").c_str(), S_IFIFO | 0644, 0); }), EROFS);
  EXPECT_EQ(err_of([&] { return setxattr(f.c_str(), "user.k", "v", 1, 0); }), EROFS);
  EXPECT_EQ(err_of([&] { return setxattr(dir.c_str(), "user.k", "v", 1, 0); }), EROFS);
  EXPECT_EQ(err_of([&] { return removexattr(f.c_str(), "user.k"); }), EROFS);
  // Nothing changed.
  EXPECT_EQ(read_file(f), read_file(tree() / "sizes/4096"));
  EXPECT_FALSE(fs::exists(d / "new-file"));

  struct statvfs sv;
  ASSERT_EQ(statvfs(d.c_str(), &sv), 0) << strerror(errno);
  EXPECT_TRUE(sv.f_flag & ST_RDONLY);
  auto r = run("findmnt -n -o OPTIONS,FSTYPE " + q(m.path()));
  EXPECT_NE(r.output.find("ro"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("fuse.kso-fs"), std::string::npos) << r.output;

  // No extended attributes.
  for (auto& p : {f, dir, (d / "links/rel-file").string()}) {
    char buf[256];
    errno = 0;
    ssize_t n = llistxattr(p.c_str(), buf, sizeof buf);
    EXPECT_TRUE(n == 0 || (n < 0 && (errno == ENOTSUP || errno == ENOSYS))) << p << ": " << n << " " << strerror(errno);
    errno = 0;
    n = lgetxattr(p.c_str(), "user.k", buf, sizeof buf);
    EXPECT_LT(n, 0);
    EXPECT_TRUE(errno == ENODATA || errno == ENOTSUP) << strerror(errno);
  }
}

TEST_F(FsMount, AllowOtherLetsOtherUsersRead) {
  if (!have_command("setpriv")) GTEST_SKIP() << "setpriv (util-linux) missing";
  const std::string as_nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
  fs::permissions(tmp_.path(), fs::perms(0755));  // mkdtemp made it 0700
  {
    Mount m(pack(), tmp_ / "mnt");
    auto r = run(as_nobody + "cat " + q(m / "data/one-byte"));
    EXPECT_NE(r.status, 0) << "without allow_other only the mounting user may look: " << r.output;
  }
  Mount m(pack(), tmp_ / "mnt", {"allow_other", {}});
  auto r = run(as_nobody + "cat " + q(m / "data/one-byte"));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "x");
  // default_permissions: file modes still apply to other users.
  r = run(as_nobody + "cat " + q(m / "data/modes/private"));
  EXPECT_NE(r.status, 0) << r.output;
}

TEST_F(FsMount, SixteenConcurrentReaders) {
  // A small block cache so the daemon keeps decoding while threads race.
  Mount m(pack(), tmp_ / "mnt", {"cache_size=16M", {}});
  std::vector<std::string> names = mount_tree_big_files();
  names.insert(names.end(), {"sizes/1M+7", "sizes/text-300K.txt", "hard/big", "sizes/4097", "many/file-0123.dat",
                             "ünïcødé/emoji 🚀.bin", "empty"});
  std::vector<std::string> want;
  for (auto& n : names) want.push_back(read_file(tree() / n));

  std::atomic<int> failures{0}, reads{0};
  std::vector<std::string> errors(16);
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; t++) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(uint64_t(t) * 7777 + 1);
      // Even threads hammer the first big file together; odd ones spread out.
      for (int iter = 0; iter < 60 && failures < 20; iter++) {
        size_t fi = (t % 2 == 0) ? 0 : rng() % names.size();
        const std::string& w = want[fi];
        fs::path p = m / "data" / names[fi];
        std::string got;
        uint64_t off = 0;
        size_t len = w.size();
        if (iter % 10 != 9 && !w.empty()) {  // mostly random ranges, sometimes whole files
          off = rng() % w.size();
          len = size_t(1 + rng() % std::min<uint64_t>(3u << 20, w.size() - off + 100));
        }
        int err = pread_range(p, off, len, got, iter % 3 == 0 ? O_DIRECT : 0);
        reads++;
        std::string expect = off < w.size() ? w.substr(off, len) : std::string();
        if (err != 0 || got != expect) {
          failures++;
          errors[t] = names[fi] + " @" + std::to_string(off) + "+" + std::to_string(len) + ": " +
                      (err ? strerror(err) : "wrong bytes");
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (auto& e : errors)
    if (!e.empty()) ADD_FAILURE() << e;
  EXPECT_EQ(reads.load(), 16 * 60);
  EXPECT_TRUE(m.alive());
}

// Which bytes of every file of the pack live in block `b`: path -> ranges.
std::map<std::string, std::vector<std::pair<uint64_t, uint64_t>>> files_in_block(Pack& p, const fs::path& tree,
                                                                                 uint32_t b) {
  std::map<std::string, std::vector<std::pair<uint64_t, uint64_t>>> out;
  for (auto& [rel, n] : lstat_tree(tree)) {
    if (!S_ISREG(n.mode) || n.size == 0) continue;
    auto st = p.lookup_path("data/" + rel);
    if (!st) continue;
    auto layout = p.layout(st->ino);
    for (auto& c : layout->chunks)
      if (c.block == b) out[rel].push_back({c.file_offset, c.file_offset + c.length});
  }
  return out;
}

TEST_F(FsMount, DamagedBlockGivesEioAndIsLoggedOnce) {
  fs::path bad = tmp_ / "broken.kso";
  fs::copy_file(pack(), bad);
  const std::string victim = mount_tree_big_files()[0];  // 12 MiB random: several blocks
  const std::string content = read_file(tree() / victim);
  uint32_t block = 0;
  uint64_t block_first = 0, block_last = 0;  // the victim's bytes in that block
  std::map<std::string, std::vector<std::pair<uint64_t, uint64_t>>> touched;
  {
    auto p = Pack::open(bad);
    auto layout = p->layout(p->lookup_path("data/" + victim)->ino);
    // The block holding the middle of the file.
    block = layout->chunks[layout->chunk_at(content.size() / 2)].block;
    touched = files_in_block(*p, tree(), block);
    block_first = UINT64_MAX;
    for (auto& [a, e] : touched[victim]) {
      block_first = std::min(block_first, a);
      block_last = std::max(block_last, e);
    }
    const BlockEntry& be = p->block_entry(block);
    ASSERT_GT(be.stored_size, 16u);
    xor_byte(bad, be.offset + be.stored_size / 2, 0x5a);
  }
  ASSERT_GT(block_last, block_first);
  ASSERT_GT(block_first, 2u << 20) << "the damaged block should not start the file";

  Mount m(bad, tmp_ / "mnt");
  fs::path v = m / "data" / victim;
  // The damaged range fails with EIO, every time.
  for (int i = 0; i < 4; i++) {
    std::string got;
    uint64_t off = block_first + (block_last - block_first) / 2 + uint64_t(i) * 4096;
    EXPECT_EQ(pread_range(v, off, 4096, got, O_DIRECT), EIO) << "read " << i;
    EXPECT_EQ(pread_range(v, off, 4096, got), EIO) << "cached read " << i;
  }
  auto r = run("cat " + q(v) + " > /dev/null");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("Input/output error"), std::string::npos) << r.output;
  EXPECT_TRUE(m.alive()) << m.log();

  // Bytes of the victim far from the damaged block still read correctly.
  for (uint64_t off : {uint64_t(0), uint64_t(4096 * 7), block_first - (1u << 20) - 65536}) {
    std::string got;
    EXPECT_EQ(pread_range(v, off, 65536, got, O_DIRECT), 0) << off;
    EXPECT_TRUE(got == content.substr(off, 65536)) << "wrong bytes at " << off;
  }
  // Every file without bytes in the damaged block reads correctly, afterwards too.
  int checked = 0;
  for (auto& [rel, n] : lstat_tree(tree())) {
    if (!S_ISREG(n.mode) || touched.count(rel)) continue;
    std::string got;
    ASSERT_EQ(pread_range(m / "data" / rel, 0, n.size + 1, got), 0) << rel;
    EXPECT_TRUE(got == read_file(tree() / rel)) << rel;
    checked++;
  }
  EXPECT_GT(checked, 300);
  EXPECT_TRUE(m.alive()) << m.log();
  EXPECT_TRUE(is_mounted(m.path()));

  // Logged once, however often it was read.
  std::string log = m.log();
  size_t lines = 0;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);)
    if (line.find("damaged") != std::string::npos) lines++;
  EXPECT_EQ(lines, 1u) << log;
}

TEST_F(FsMount, Kill9LeavesStaleMountThatNextDaemonReplaces) {
  fs::path mnt = tmp_ / "mnt";
  {
    Mount m(pack(), mnt);
    EXPECT_EQ(read_file(m / "data/one-byte"), "x");
    m.kill9();
    EXPECT_FALSE(m.alive());
    // The dead mount answers ENOTCONN (stat of the root itself may still come
    // from the kernel's attribute cache; statfs and new lookups reach the daemon).
    struct stat st;
    errno = 0;
    EXPECT_NE(stat((mnt / "data/never-looked-up").c_str(), &st), 0);
    EXPECT_EQ(errno, ENOTCONN) << strerror(errno);
    struct statvfs sv;
    errno = 0;
    EXPECT_NE(statvfs(mnt.c_str(), &sv), 0);
    EXPECT_EQ(errno, ENOTCONN) << strerror(errno);
    auto ls = run("ls " + q(mnt));
    EXPECT_NE(ls.status, 0);
    EXPECT_NE(ls.output.find("Transport endpoint is not connected"), std::string::npos) << ls.output;
    EXPECT_TRUE(is_stale_mount(mnt));
    // A fresh daemon on the same mount point detaches the stale mount.
    Mount again(pack(), mnt);
    EXPECT_FALSE(is_stale_mount(mnt));
    auto d = run("diff -r --no-dereference " + q(tree()) + " " + q(again / "data"));
    EXPECT_EQ(d.status, 0) << d.output;
    EXPECT_NE(again.log().find("stale"), std::string::npos) << again.log();
    // Detached, not buried under the new mount.
    auto mi = run("grep -c ' " + mnt.string() + " ' /proc/self/mountinfo");
    EXPECT_EQ(mi.output, "1\n") << "the stale mount is still in the mount table";
  }  // `m` must not unmount what `again` mounted: both go cleanly
  EXPECT_FALSE(is_mounted(mnt));
  EXPECT_FALSE(is_stale_mount(mnt));
}

TEST_F(FsMount, SigtermUnmountsCleanly) {
  Mount m(pack(), tmp_ / "mnt");
  EXPECT_EQ(read_file(m / "data/one-byte"), "x");
  EXPECT_TRUE(m.terminate()) << "kso-fs did not exit on SIGTERM";
  EXPECT_FALSE(is_mounted(m.path()));
  EXPECT_FALSE(is_stale_mount(m.path()));
  EXPECT_NE(m.log().find("unmounted"), std::string::npos) << m.log();
  // Same with SIGINT, and with fusermount3 -u.
  {
    Mount m2(pack(), tmp_ / "mnt");
    kill(m2.pid(), SIGINT);
    for (int i = 0; i < 250 && m2.alive(); i++) usleep(20000);
    EXPECT_FALSE(m2.alive());
    EXPECT_FALSE(is_mounted(m2.path()));
  }
  Mount m3(pack(), tmp_ / "mnt");
  EXPECT_TRUE(m3.unmount());
  EXPECT_FALSE(is_mounted(m3.path()));
}

TEST_F(FsMount, BadPacksFailWithOneLineAndDoNotMount) {
  fs::path mnt = tmp_ / "mnt";
  fs::create_directories(mnt);
  write_file(tmp_ / "not-a-pack.kso", random_bytes(100000, 42));
  write_file(tmp_ / "tiny.kso", "KSOPACK");
  {
    std::ifstream in(pack(), std::ios::binary);
    std::string half(size_t(fs::file_size(pack()) / 2), '\0');
    in.read(half.data(), std::streamsize(half.size()));
    write_file(tmp_ / "truncated.kso", half);
  }
  const std::map<std::string, std::string> cases = {
      {"missing.kso", "missing.kso"}, {"not-a-pack.kso", "not a kso pack"}, {"tiny.kso", "pack"}, {"truncated.kso", "truncated"}};
  for (auto& [name, says] : cases) {
    SCOPED_TRACE(name);
    auto r = kso_fs({(tmp_ / name).string(), mnt.string()});
    EXPECT_NE(r.status, 0);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("kso-fs: error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
    EXPECT_FALSE(is_mounted(mnt));
    force_unmount(mnt);
  }
  // Usage errors.
  auto u = kso_fs({});
  EXPECT_NE(u.status, 0);
  EXPECT_NE((u.out + u.err).find("usage"), std::string::npos) << u.out << u.err;
  u = kso_fs({pack().string()});
  EXPECT_NE(u.status, 0);
  // Refused by the mount itself: a process, as a real mount would be.
  auto r = run(q(kso_fs_bin()) + " " + q(pack()) + " " + q(tmp_ / "no-such-dir"));
  EXPECT_NE(r.status, 0);
  EXPECT_FALSE(is_mounted(tmp_ / "no-such-dir"));
  force_unmount(tmp_ / "no-such-dir");
}

TEST_F(FsMount, HelpAndVersion) {
  // The real binary once (its exit code and output through a shell), then in-process.
  auto r = run(q(kso_fs_bin()) + " --help");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("usage: kso-fs PACK [PACK...] MOUNTPOINT"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("-o pack=PACK"), std::string::npos) << r.output;  // a union (fs_union_test.cc)
  EXPECT_NE(r.output.find("-o prefer=first|last"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("cache_size"), std::string::npos);
  EXPECT_NE(r.output.find("allow_other"), std::string::npos);
  auto h = kso_fs({"-h"});
  EXPECT_EQ(h.status, 0);
  EXPECT_NE((h.out + h.err).find("usage: kso-fs PACK [PACK...] MOUNTPOINT"), std::string::npos) << h.out << h.err;
  h = kso_fs({"--version"});
  EXPECT_EQ(h.status, 0) << h.err;
  EXPECT_NE(h.out.find("kso-fs " KSO_VERSION), std::string::npos) << h.out;
}

TEST_F(FsMount, DaemonizesWithoutForeground) {
  fs::path mnt = tmp_ / "mnt";
  fs::create_directories(mnt);
  auto r = run(q(kso_fs_bin()) + " " + q(pack()) + " " + q(mnt) + " -o cache_size=64M");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(is_mounted(mnt));
  EXPECT_EQ(read_file(mnt / "data/one-byte"), "x");
  EXPECT_EQ(run("umount " + q(mnt)).status, 0);
  force_unmount(mnt);
  EXPECT_FALSE(is_mounted(mnt));
}

TEST_F(FsMount, MountCommandThroughMountFuse3) {
  if (!have_command("mount.fuse3") || !have_command("mount"))
    GTEST_SKIP() << "mount(8) or /sbin/mount.fuse3 missing";
  fs::path bin = tmp_ / "bin", mnt = tmp_ / "mnt";
  fs::create_directories(bin);
  fs::create_directories(mnt);
  fs::create_symlink(kso_fs_bin(), bin / "kso-fs");
  const std::string path = "PATH=" + bin.string() + ":/usr/sbin:/usr/bin:/sbin:/bin ";
  auto check_and_umount = [&](const std::string& how) {
    SCOPED_TRACE(how);
    EXPECT_TRUE(is_mounted(mnt));
    auto f = run("findmnt -n -o FSTYPE,SOURCE,OPTIONS " + q(mnt));
    EXPECT_NE(f.output.find("fuse.kso-fs"), std::string::npos) << f.output;
    EXPECT_NE(f.output.find("allow_other"), std::string::npos) << f.output;
    auto d = run("diff -r --no-dereference " + q(tree()) + " " + q(mnt / "data"));
    EXPECT_EQ(d.status, 0) << d.output;
    EXPECT_EQ(run("umount " + q(mnt)).status, 0);
    force_unmount(mnt);
    EXPECT_FALSE(is_mounted(mnt));
  };
  // What an fstab line does: mount -t fuse.kso-fs PACK MNT -o ... -> /sbin/mount.fuse3
  // -> `kso-fs PACK MNT -o ...`. mount(8) resets PATH for its helpers to the
  // standard one (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin),
  // so that only works here when kso-fs is installed there.
  auto r = run(path + "mount -t fuse.kso-fs " + q(pack()) + " " + q(mnt) + " -o allow_other,cache_size=64M,nofail,allow_escaping_symlinks");
  if (r.status == 0) {
    check_and_umount("mount -t fuse.kso-fs");
  } else {
    EXPECT_NE(r.output.find("kso-fs: not found"), std::string::npos) << r.output;
    std::cerr << "note: mount -t fuse.kso-fs needs kso-fs in mount(8)'s PATH (e.g. /usr/local/bin): " << r.output;
    force_unmount(mnt);
  }
  // mount(8) -> mount.fuse with the program named in the source (fuse type, PROG#SOURCE).
  r = run("mount -t fuse " + q(kso_fs_bin().string() + "#" + pack().string()) + " " + q(mnt) +
          " -o allow_other,cache_size=64M,nofail,allow_escaping_symlinks");
  ASSERT_EQ(r.status, 0) << r.output;
  check_and_umount("mount -t fuse PROG#PACK");
  // mount.fuse3 directly, finding kso-fs on PATH.
  r = run(path + "mount.fuse3 " + q(pack()) + " " + q(mnt) + " -t kso-fs -o allow_other,cache_size=64M,nofail,ro,allow_escaping_symlinks");
  ASSERT_EQ(r.status, 0) << r.output;
  check_and_umount("mount.fuse3 PACK MNT -t kso-fs");
}

}  // namespace
}  // namespace kso::test
