// The FUSE low-level operations of kso-fs: a thin errno adapter over the
// reader library (index/) and the block cache (cache/).
#pragma once
#include <fuse_lowlevel.h>

#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "cache/block_cache.h"
#include "index/pack_reader.h"

namespace kso {

struct FsOptions {
  uint64_t cache_size = 256ull << 20;  // bytes of decoded blocks kept
  unsigned prefetch_workers = 2;       // threads decoding ahead of sequential readers
  unsigned readahead_blocks = 2;       // blocks decoded ahead of a sequential reader
};

// Shared state of a mount; the session's userdata.
struct FsContext {
  std::shared_ptr<Pack> pack;
  std::unique_ptr<BlockCache> cache;
  FsOptions opts;
  std::mutex damage_mu;
  std::set<std::string> damage_logged;  // each damaged block is logged once
  void log_damage(const std::string& what);
};

// The operation table handed to fuse_session_new().
const fuse_lowlevel_ops& fuse_ops();

}  // namespace kso
