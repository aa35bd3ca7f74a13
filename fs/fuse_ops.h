// The FUSE low-level operations of kso-fs: a thin errno adapter over the
// reader library (index/) and the block cache (cache/).
#pragma once
#include <fuse_lowlevel.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "cache/block_cache.h"
#include "fs/inode_table.h"
#include "index/pack_reader.h"

namespace kso {

struct FsOptions {
  uint64_t cache_size = 256ull << 20;  // bytes of decoded blocks kept
  unsigned prefetch_workers = 2;       // threads decoding ahead of sequential readers
  unsigned readahead_blocks = 2;       // blocks decoded ahead of a sequential reader
  bool allow_escaping_symlinks = false;  // resolve symlinks that point outside the pack
};

// A directory's entries in name order; readdir offsets index into it.
struct DirListing {
  std::vector<DirEntry> entries;
};

// Shared state of a mount; the session's userdata.
struct FsContext {
  std::shared_ptr<Pack> pack;
  std::unique_ptr<BlockCache> cache;
  std::unique_ptr<InodeTable<const FileLayout>> files;  // chunk tables of files being read
  std::unique_ptr<InodeTable<DirListing>> dirs;
  FsOptions opts;
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
