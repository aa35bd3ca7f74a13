// The FUSE low-level operations of kso-fs: a thin errno adapter over the
// reader library (index/) and the block cache (cache/).
#pragma once
#include <fuse_lowlevel.h>

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cache/block_cache.h"
#include "fs/inode_table.h"
#include "fs/union_tree.h"
#include "index/pack_reader.h"

namespace kso {

struct FsOptions {
  uint64_t cache_size = 256ull << 20;  // bytes of decoded blocks kept
  unsigned prefetch_workers = 2;       // threads decoding ahead of sequential readers
  unsigned readahead_blocks = 2;       // blocks decoded ahead of a sequential reader
  bool allow_escaping_symlinks = false;  // resolve symlinks that point outside the pack
  bool kernel_dir_cache = true;        // let the kernel keep directory listings (cache_readdir)
};

// A directory's entries in name order; readdir offsets index into it.
struct DirListing {
  std::vector<DirEntry> entries;
};

// What a mount did since it started (kso-fs --status). Relaxed atomics on a
// cache line of their own: a read adds to two of them and waits on nothing.
struct alignas(64) MountCounters {
  std::atomic<uint64_t> reads{0};         // READ requests answered with bytes (or end of file)
  std::atomic<uint64_t> bytes_served{0};  // bytes in those replies
  std::atomic<uint64_t> eio{0};           // requests of any kind answered with EIO
};

// Where and since when the pack is mounted, set once before requests come.
struct MountInfo {
  std::string mountpoint;
  int64_t unix_time = 0;                        // mount time, seconds since the epoch
  std::chrono::steady_clock::time_point since;  // the same, for the uptime
  pid_t pid = 0;                                // the daemon's (after fuse_daemonize)
  std::string cache_dir;                        // remote packs: -o cache_dir
};

// Shared state of a mount; the session's userdata.
struct FsContext {
  std::shared_ptr<Pack> pack;        // the first pack (the only one unless a union)
  std::shared_ptr<UnionTree> tree;   // what is served: that pack, or the union of several
  std::unique_ptr<BlockCache> cache;  // one for all packs: origin k is tree->pack(k)
  std::unique_ptr<InodeTable<const FileLayout>> files;  // chunk tables of files being read
  std::unique_ptr<InodeTable<DirListing>> dirs;
  FsOptions opts;
  MountInfo mount;
  MountCounters counters;
  std::atomic<bool> no_open{false};     // the kernel opens files without asking us
  std::atomic<bool> no_opendir{false};  // ... and directories
  void start();  // creates the cache and tables (after fuse_daemonize: they may start threads)
  // Kernel readahead to set once FUSE_INIT is done (INIT resets it).
  struct {
    std::string sysfs_path;
    unsigned kb = 0;
  } read_ahead;
  std::once_flag read_ahead_once;
  void apply_read_ahead();
  std::mutex damage_mu;
  std::set<std::string> damage_logged;  // each damaged block (or warning) is logged once
  void log_damage(const std::string& what);
  void warn_once(const std::string& what);  // other things worth one log line per mount
};

// The operation table handed to fuse_session_new().
const fuse_lowlevel_ops& fuse_ops();

}  // namespace kso
