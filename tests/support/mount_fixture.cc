#include "tests/support/mount_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <stdexcept>
#include <thread>

namespace kso::test {

namespace {

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

}  // namespace

std::string fuse_unavailable_reason() {
  if (access("/dev/fuse", R_OK | W_OK) != 0) return "/dev/fuse is not usable here: " + std::string(strerror(errno));
  if (!have_command("fusermount3")) return "fusermount3 (fuse3) is not installed";
  if (access(kso_fs_bin().c_str(), X_OK) != 0) return "kso-fs was not built at " + kso_fs_bin().string();
  if (access(kso_pack_bin().c_str(), X_OK) != 0) return "kso-pack was not built at " + kso_pack_bin().string();
  return "";
}

void pack_dirs(const fs::path& out, const std::vector<std::string>& sources, const std::string& extra) {
  std::string words = "build -o " + out.string() + " " + extra;
  for (auto& s : sources) words += " " + s;
  auto r = kso_pack_words(words);
  if (r.status != 0) throw std::runtime_error("kso-pack build failed (" + std::to_string(r.status) + "): " + words + "\n" + r.output);
}

bool is_mounted(const fs::path& p) {
  // statvfs reaches the daemon; stat of a mount root may come from the
  // kernel's attribute cache even when the daemon is dead.
  struct statvfs sv;
  if (statvfs(p.c_str(), &sv) != 0) return false;
  struct stat a, b;
  if (stat(p.c_str(), &a) != 0) return false;
  if (stat(p.parent_path().c_str(), &b) != 0) return false;
  return a.st_dev != b.st_dev;
}

bool is_stale_mount(const fs::path& p) {
  struct statvfs sv;
  if (statvfs(p.c_str(), &sv) != 0 && errno == ENOTCONN) return true;
  struct stat a;
  return stat(p.c_str(), &a) != 0 && errno == ENOTCONN;
}

void force_unmount(const fs::path& p) {
  for (int i = 0; i < 20 && (is_mounted(p) || is_stale_mount(p)); i++) {
    if (run("fusermount3 -u " + q(p)).status != 0) run("umount -l " + q(p));
    if (is_mounted(p) || is_stale_mount(p)) sleep_ms(100);
  }
}

Mount::Mount(const fs::path& pack, const fs::path& mnt, Options o) : mnt_(mnt) {
  fs::create_directories(mnt_);
  log_ = o.log.empty() ? fs::path(mnt_.string() + ".log") : o.log;
  std::string cmd = q(o.binary.empty() ? kso_fs_bin() : o.binary) + " -f " + q(pack) + " " + q(mnt_);
  std::string opts = o.opts;
  if (o.allow_escaping_symlinks) opts += std::string(opts.empty() ? "" : ",") + "allow_escaping_symlinks";
  if (!opts.empty()) cmd += " -o " + q(opts);
  daemon_ = std::make_unique<Daemon>(cmd, log_);
  // A deadline, not a timing check: generous for the arm64 suite under qemu,
  // where a mount that retries a flaky origin takes over 15 s.
  for (int i = 0; i < 1200; i++) {
    if (is_mounted(mnt_)) return;
    if (!daemon_->alive()) break;
    sleep_ms(50);
  }
  std::string l = read_file(log_);
  bool up = daemon_->alive();
  daemon_.reset();
  force_unmount(mnt_);
  throw std::runtime_error(std::string("kso-fs ") + (up ? "did not mount in 60 s" : "exited") + ": " + cmd + "\n" + l);
}

Mount::~Mount() {
  if (!daemon_) return;
  if (is_stale_mount(mnt_)) {
    run("umount -l " + q(mnt_));
  } else if (daemon_->alive() && is_mounted(mnt_)) {
    if (run("fusermount3 -u " + q(mnt_)).status != 0) run("umount -l " + q(mnt_));
  }
  // An unmounted daemon exits by itself; give it a moment before SIGTERM.
  for (int i = 0; i < 100 && daemon_->alive(); i++) sleep_ms(20);
  daemon_.reset();
}

void Mount::kill9() {
  pid_t p = daemon_->pid();
  if (p > 0) kill(p, SIGKILL);
  for (int i = 0; i < 250 && daemon_->alive(); i++) sleep_ms(20);
}

bool Mount::terminate() {
  pid_t p = daemon_->pid();
  if (p <= 0) return false;
  kill(p, SIGTERM);
  for (int i = 0; i < 500; i++) {
    if (!daemon_->alive()) return true;
    sleep_ms(20);
  }
  return false;
}

bool Mount::unmount() {
  bool ok = run("fusermount3 -u " + q(mnt_)).status == 0;
  for (int i = 0; i < 500; i++) {
    if (!daemon_->alive()) return ok;
    sleep_ms(20);
  }
  return false;
}

// ---------------------------------------------------------------------------
// The generated tree.

namespace {

void set_times(const fs::path& p, int64_t ns) {
  timespec ts[2];
  ts[0].tv_sec = ts[1].tv_sec = time_t(ns / 1000000000);
  ts[0].tv_nsec = ts[1].tv_nsec = long(ns % 1000000000);
  if (utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0)
    throw std::runtime_error("utimensat " + p.string() + ": " + strerror(errno));
}

// Log-like text: compresses well but is not trivially repetitive.
std::string text_bytes(size_t n, uint64_t seed) {
  std::string s;
  s.reserve(n + 128);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  static const char* words[] = {"kubelet", "pod", "sandbox", "image", "pull", "containerd", "started", "ready",
                                "volume", "mount", "node", "calico", "coredns", "etcd", "apiserver", "error"};
  uint64_t line = 0;
  while (s.size() < n) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s += "I0101 12:00:" + std::to_string(line % 60) + "." + std::to_string(x % 1000000) + " line " +
         std::to_string(line) + ":";
    for (int w = 0; w < 8; w++) {
      s += ' ';
      s += words[(x >> (w * 4)) & 15];
    }
    s += '\n';
    line++;
  }
  s.resize(n);
  return s;
}

}  // namespace

std::vector<std::string> mount_tree_big_files() { return {"big/random 12M.bin", "big/text.log"}; }

void make_mount_tree(const fs::path& root) {
  fs::create_directories(root);
  auto file = [&](const std::string& rel, const std::string& data, mode_t mode = 0644) {
    write_file(root / rel, data);
    if (chmod((root / rel).c_str(), mode) != 0) throw std::runtime_error("chmod " + rel);
  };
  // Sizes around page, chunk and block edges; random and compressible.
  file("empty", "");
  file("one-byte", "x");
  file("sizes/4095", random_bytes(4095, 1));
  file("sizes/4096", random_bytes(4096, 2));
  file("sizes/4097", random_bytes(4097, 3));
  file("sizes/65536", random_bytes(65536, 4));
  file("sizes/1M+7", random_bytes((1 << 20) + 7, 5));
  file("sizes/text-300K.txt", text_bytes(300 * 1024 + 11, 6));
  file("sizes/zeros-2M", std::string(2 << 20, '\0'));
  file(mount_tree_big_files()[0], random_bytes((12u << 20) + 12345, 7));
  file(mount_tree_big_files()[1], text_bytes((9u << 20) + 4321, 8));
  // Duplicate content under other names (whole-file dedup).
  file("dup/copy-of-4097", random_bytes(4097, 3));
  file("dup/copy of text", text_bytes(300 * 1024 + 11, 6));
  // Names: spaces, UTF-8, a dot file, shell-special characters.
  file("dir with spaces/file name.txt", "spaces\n");
  file("ünïcødé/日本語.txt", "こんにちは\n");
  file("ünïcødé/emoji 🚀.bin", random_bytes(5000, 9));
  file("odd/.hidden", "dot file\n");
  file("odd/a'quote\"and&amp;#hash?.txt", "odd name\n");
  file("odd/100%.txt", "percent\n");
  // Modes.
  file("modes/exec.sh", "#!/bin/sh\necho hi\n", 0755);
  file("modes/private", "secret\n", 0600);
  file("modes/readonly", "ro\n", 0444);
  // Many small files in one directory (readdir paging, autoindex).
  for (int i = 0; i < 300; i++) {
    char name[64];
    snprintf(name, sizeof name, "many/file-%04d.dat", i);
    file(name, random_bytes(size_t(i * 37 % 3000), uint64_t(100 + i)));
  }
  // Nested and empty directories.
  file("a/b/c/d/e/f/g/h/deep.txt", "deep\n");
  fs::create_directories(root / "empty-dir");
  fs::create_directories(root / "nested/empty/deeper");
  fs::create_directories(root / "modes/private-dir");
  file("modes/private-dir/inside", "inside\n");
  // Hardlinks: a small group across directories and a multi-block one.
  file("hard/orig", random_bytes(70000, 10));
  fs::create_hard_link(root / "hard/orig", root / "hard/link1");
  fs::create_directories(root / "hard/other dir");
  fs::create_hard_link(root / "hard/orig", root / "hard/other dir/link2");
  file("hard/big", random_bytes((5u << 20) + 99, 11));
  fs::create_hard_link(root / "hard/big", root / "hard/big-link");
  // Symlinks.
  fs::create_directories(root / "links");
  fs::create_symlink("../sizes/4096", root / "links/rel-file");
  fs::create_symlink("../a/b", root / "links/rel-dir");
  fs::create_symlink("/nonexistent/target", root / "links/absolute-dangling");
  fs::create_symlink("missing", root / "links/dangling");
  fs::create_symlink("rel-file", root / "links/chain");
  fs::create_symlink("../dir with spaces/file name.txt", root / "links/to spaces");
  fs::create_symlink("../ünïcødé/日本語.txt", root / "links/ütf");

  // Modes and mtimes, bottom-up so writing children doesn't touch them after.
  chmod((root / "modes/private-dir").c_str(), 0700);
  chmod((root / "odd").c_str(), 0750);
  std::vector<fs::path> all;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it)
    all.push_back(it->path());
  // Deeper paths first: a directory's mtime is set after everything in it.
  std::sort(all.begin(), all.end(), [](const fs::path& a, const fs::path& b) {
    auto da = std::distance(a.begin(), a.end()), db = std::distance(b.begin(), b.end());
    return da != db ? da > db : a < b;
  });
  int64_t base = 1700000000LL * 1000000000LL;
  int64_t k = 0;
  for (auto& p : all) {
    k++;
    set_times(p, base + k * 1000003000LL + (k * 7919) % 1000000000);
  }
  set_times(root, base + 123456789);
}

const TreePack& shared_tree_pack() {
  static std::unique_ptr<TempDir> dir;
  static TreePack tp;
  if (!dir) {
    auto d = std::make_unique<TempDir>("kso-fs-tree");
    TreePack t{d->path() / "tree", d->path() / "tree.kso"};
    make_mount_tree(t.tree);
    pack_dirs(t.pack, {"data=" + t.tree.string()}, "--level 3 --allow-escaping-symlinks");
    tp = t;
    dir = std::move(d);
  }
  return tp;
}

}  // namespace kso::test
