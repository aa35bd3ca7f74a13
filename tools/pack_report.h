// What `kso-pack info` shows, computed from a pack's index and block table:
// totals and a per-prefix breakdown. The pack stores no statistics itself.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "index/pack_reader.h"
#include "index/write/pack_stats.h"

namespace kso {

// One first path component (files/, registry/, ...).
struct PrefixStats {
  std::string prefix;
  uint64_t files = 0;         // regular-file paths under it
  uint64_t bytes_in = 0;      // their sizes
  uint64_t bytes_unique = 0;  // chunk bytes first referenced (in inode order) under it
  uint64_t bytes_stored = 0;  // each block's stored size shared out by those bytes (this pack's blocks only)
};

struct PackReport {
  PackStats totals;
  std::vector<PrefixStats> prefixes;  // in name order
  // Distinct chunk bytes by where they are stored: [0] this pack's data
  // region, [k] base k of a delta (bytes_unique is their sum).
  std::vector<uint64_t> supplied;
};

// Reads the whole index once. Throws CorruptError on a damaged pack.
PackReport pack_report(const Pack& p);

}  // namespace kso
