// Reader library: opens a pack in place and answers tree and content queries.
// Safe for concurrent use from many threads; kso-fs and the tools use it.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "index/format.h"

namespace kso {

constexpr uint64_t kRootIno = 1;  // the pack's root directory

struct Stat {
  uint64_t ino = 0;
  uint32_t mode = 0;   // full st_mode: type bits and permissions
  uint32_t nlink = 1;
  uint64_t size = 0;   // bytes; symlinks: length of the target
  int64_t mtime_ns = 0;
};

struct DirEntry {
  std::string name;
  Stat st;
};

// One stored chunk of a file: bytes [file_offset, file_offset+length) of the
// file are bytes [block_offset, block_offset+length) of block `block`.
struct ChunkRef {
  uint64_t file_offset;
  uint32_t block;
  uint32_t block_offset;
  uint32_t length;
};

// Where a regular file's bytes live; loaded once per open file.
struct FileLayout {
  uint64_t size = 0;
  std::string sha256;              // 32 raw bytes
  std::vector<ChunkRef> chunks;    // sorted by file_offset, contiguous
  // Index of the chunk holding byte `offset` (offset < size).
  size_t chunk_at(uint64_t offset) const;
};

// Verified, decompressed bytes of one block, shared by the cache and replies.
using BlockData = std::shared_ptr<const std::string>;

// Something that hands out verified block bytes: the pack itself, or a cache.
class BlockSource {
 public:
  virtual ~BlockSource() = default;
  virtual BlockData block(uint32_t id) = 0;  // throws CorruptError on damage
};

struct PackTotals {
  uint64_t files = 0, dirs = 0, symlinks = 0, hardlinks = 0;
  uint64_t bytes_in = 0;      // sum of file sizes (every path counted)
  uint64_t bytes_unique = 0;  // after whole-file and chunk dedup
  uint64_t bytes_stored = 0;  // data region on disk
  uint64_t blocks = 0, blocks_raw = 0;
};

class Pack : public BlockSource {
 public:
  // Opens and checks header, trailer, block table and index checksums.
  // Cost is independent of the data region's size. Throws Error.
  static std::shared_ptr<Pack> open(const std::filesystem::path& path);
  ~Pack() override;

  const std::filesystem::path& path() const;
  uint64_t file_size() const;                  // the pack file's size in bytes
  std::optional<Stat> lookup(uint64_t parent, std::string_view name) const;
  std::optional<Stat> lookup_path(std::string_view path) const;  // "a/b/c", "" or "/" = root
  std::optional<Stat> stat(uint64_t ino) const;
  // Up to `limit` entries of `dir` whose names sort after `after` (byte order).
  std::vector<DirEntry> readdir(uint64_t dir, std::string_view after = {}, size_t limit = SIZE_MAX) const;
  std::string readlink(uint64_t ino) const;    // throws Error(EINVAL) if not a symlink
  std::shared_ptr<const FileLayout> layout(uint64_t ino) const;  // throws Error(EISDIR/...) if not a file

  // Copies file bytes [off, off+len) into out via `src`; returns bytes copied
  // (short only at end of file).
  size_t read(const FileLayout& f, uint64_t off, size_t len, char* out, BlockSource& src) const;
  // The same, straight from the pack with no cache (tools, tests).
  size_t read(uint64_t ino, uint64_t off, size_t len, char* out) const;

  uint32_t block_count() const;
  const BlockEntry& block_entry(uint32_t id) const;
  BlockData block(uint32_t id) override;       // read, verify, decompress: no caching
  std::string stored_block(uint32_t id) const; // the on-disk bytes, verified, not decompressed
  // Bytes [offset, offset+len) of raw block `id`, reading and verifying only
  // the pages they lie in; the view points into `scratch`. Throws CorruptError.
  std::string_view raw_range(uint32_t id, uint32_t offset, uint32_t len, std::string& scratch) const;

  PackTotals totals() const;
  std::vector<std::pair<std::string, std::string>> meta() const;  // the index's meta table
  // Runs a read-only query on the index; each row as `cols` text columns.
  std::vector<std::vector<std::string>> query_rows(const std::string& sql, int cols) const;
  const PackHeader& header() const;

 private:
  struct Impl;
  explicit Pack(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kso
