// kso-fs test mounts: build a pack with the kso-pack binary, mount it with
// `kso-fs -f` in the background, wait for the mount, unmount when done. Plus a
// generated tree covering what a mount must reproduce (sizes, odd names,
// symlinks, hardlinks, empty files and dirs, modes, ns mtimes).
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"

namespace kso::test {

// Empty when mounts can be tested here, else why not (for GTEST_SKIP): needs
// /dev/fuse, fusermount3 and the built kso-fs and kso-pack.
std::string fuse_unavailable_reason();

// Runs `kso-pack build -o OUT [extra] SOURCES...` in-process (sources as
// PREFIX=DIR; `extra` and the sources as plain words: kso_pack_words()).
// Throws std::runtime_error with the tool's output on failure.
void pack_dirs(const fs::path& out, const std::vector<std::string>& sources, const std::string& extra = "--level 3");

// Something is mounted at `p` (stat works and st_dev differs from the parent's).
bool is_mounted(const fs::path& p);
// stat(p) fails with ENOTCONN: a mount whose daemon died.
bool is_stale_mount(const fs::path& p);
// Detaches whatever is mounted at `p` (fusermount3 -u, then umount -l).
void force_unmount(const fs::path& p);

// One `kso-fs -f PACK MNT -o OPTIONS` in the background.
class Mount {
 public:
  struct Options {
    std::string opts;    // -o value, e.g. "allow_other,cache_size=16M"; may be empty
    fs::path log;        // daemon's stdout+stderr; default: MNT + ".log"
    // -o allow_escaping_symlinks: the shared tree holds an absolute symlink
    // on purpose, which a default mount refuses to resolve.
    bool allow_escaping_symlinks = true;
    fs::path binary = {};  // the kso-fs to run; default: the built one (kso_fs_bin())
  };
  // Creates MNT if missing, starts kso-fs and waits (up to 15 s) for the
  // mount. Throws std::runtime_error with the daemon's log if it fails.
  Mount(const fs::path& pack, const fs::path& mnt, Options o);
  Mount(const fs::path& pack, const fs::path& mnt) : Mount(pack, mnt, Options{}) {}
  // Unmounts (fusermount3 -u, falling back to umount -l) if this daemon is
  // still serving, detaches a stale mount it left, and reaps the daemon.
  ~Mount();
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;

  const fs::path& path() const { return mnt_; }
  fs::path operator/(const std::string& rel) const { return mnt_ / rel; }
  pid_t pid() const { return daemon_->pid(); }
  bool alive() { return daemon_->alive(); }
  std::string log() const { return read_file(log_); }
  const fs::path& log_path() const { return log_; }

  // SIGKILL the daemon and reap it; the mount point is left stale (ENOTCONN).
  void kill9();
  // SIGTERM; waits up to 10 s for the daemon to exit. True if it exited.
  bool terminate();
  // fusermount3 -u and wait for the daemon to exit. True if both worked.
  bool unmount();

 private:
  fs::path mnt_, log_;
  std::unique_ptr<Daemon> daemon_;
};

// Writes the mount tests' tree under `root` (created). Regular files include
// an empty one, sizes around page and chunk edges, a ~12 MiB random file and a
// ~9 MiB compressible one (both span several 4 MiB blocks), duplicate content,
// hardlinks (one group spanning directories), symlinks (relative, to dirs,
// absolute, dangling, chained), empty and nested dirs, names with spaces,
// UTF-8 and a dot file, a directory of many small files, various modes and
// ns-precision mtimes (set bottom-up, root included).
void make_mount_tree(const fs::path& root);

// Relative paths of the regular files of the tree above that are big enough
// to span several blocks.
std::vector<std::string> mount_tree_big_files();

// The tree above packed once per test process (`kso-pack build data=TREE`):
// in a mount it is MNT/data. Removed at exit. Throws if the build fails.
struct TreePack {
  fs::path tree;  // the source tree
  fs::path pack;  // the pack file
};
const TreePack& shared_tree_pack();

// lstat data of every path under `root` (tree_gen's scan_tree, without hashing).
using FsNode = NodeInfo;
inline std::map<std::string, FsNode> lstat_tree(const fs::path& root) { return scan_tree(root, false); }

}  // namespace kso::test
