// What a pack holds, in numbers: the writer returns it for what it built, and
// `kso-pack info` computes the same from a pack's index and tables (the pack
// stores no totals of its own).
#pragma once
#include <cstdint>
#include <string>

#include "index/hash.h"

namespace kso {

struct PackStats {
  uint64_t files = 0;          // regular-file inodes
  uint64_t dirs = 0;           // directories, the root not counted
  uint64_t symlinks = 0;
  uint64_t hardlinks = 0;      // paths to a file beyond its first
  uint64_t bytes_in = 0;       // sum of file sizes, every path counted
  uint64_t bytes_unique = 0;   // bytes of distinct chunks
  uint64_t bytes_stored = 0;   // data region on disk
  uint64_t files_deduped = 0;  // file inodes whose whole content another holds
  uint64_t chunks = 0;         // chunks of all file inodes
  uint64_t chunks_deduped = 0; // of which stored elsewhere already
  uint64_t chunks_from_bases = 0, bytes_from_bases = 0;  // delta packs: distinct chunks the bases supply
  // Delta packs built with base_min_use: base blocks left out as too sparsely
  // used, and the distinct bytes of theirs the new tree uses (stored again).
  uint64_t base_blocks_sparse = 0, bytes_stored_again = 0;
  uint64_t blocks = 0, blocks_raw = 0;
  uint64_t pack_size = 0;      // the pack file
  Digest identity{};
};

}  // namespace kso
