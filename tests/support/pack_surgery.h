// Rewriting pack files the way a crafted (hostile) pack would be made: edit
// blocks, tables or the index, then recompute every checksum and the identity
// so only the reader's own validation stands between the edit and a reader.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "index/format.h"
#include "index/pack_reader.h"

namespace kso::test {

namespace fs = std::filesystem;

// A pack split into its editable parts.
struct PackParts {
  std::string data;                // bytes [kDataStart, meta_offset): the blocks
  std::vector<BaseEntry> bases;    // a delta's base table
  std::vector<BlockEntry> blocks;  // the block table
  std::vector<uint64_t> pages;     // raw blocks' page checksums
  std::string index;               // the SQLite database
  uint32_t version = kFormatVersion;  // written back into header, superblock and trailer
};

PackParts split_pack(const fs::path& pack);  // throws std::runtime_error on a non-pack
// Writes `parts` to `pack` with tables, checksums and identity recomputed.
// With `stale_identity`, header and trailer keep `old` instead (a pack whose
// metadata changed after its identity was taken).
void write_pack(const fs::path& pack, const PackParts& parts, const Digest* stale_identity = nullptr);
// Runs `sql` on the pack's index (in a temp copy) and writes the pack back.
void rewrite_index(const fs::path& pack, const std::string& sql);

// Delta packs: the blocks of base `base` (1-based, as block entries name it)
// that `delta` takes bytes from, by their id in that base, each with the
// paths of the delta's regular files that have bytes in it. Reads the index
// only: the delta need not have its bases attached.
std::map<uint32_t, std::set<std::string>> base_blocks_used(const Pack& delta, uint16_t base);
// Damages the block of `base_file` (base 1 of `delta_file`) that supplies the
// fewest of the delta's files: flips a byte in the middle of its stored bytes.
// Returns those files (pack paths); `all_from_base` gets every file with
// bytes in that base. Throws if the delta uses no block of it.
std::set<std::string> damage_base_block(const fs::path& delta_file, const fs::path& base_file,
                                        std::set<std::string>* all_from_base = nullptr);

}  // namespace kso::test
