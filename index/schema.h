// The SQLite schema of a pack's index (docs/FORMAT.md explains each table).
// A reader compares the index's schema with this text exactly at open.
#pragma once
#include <cstddef>
#include <cstdint>

namespace kso {

// chunks BLOB of `contents`: one 12-byte record per chunk, little-endian
// {u32 block, u32 offset in block, u32 length}; file offsets are cumulative.
constexpr size_t kChunkRecordSize = 12;

// PRAGMA application_id of every index ("KSOP") and PRAGMA user_version (the
// format version whose schema it has).
constexpr int32_t kIndexApplicationId = 0x4B534F50;

// Build parameters recorded in `meta`, each a decimal integer except `order`.
constexpr const char* kMetaCreated = "created_unix";      // build time, Unix seconds
constexpr const char* kMetaChunkMin = "chunk_min";        // FastCDC sizes, bytes
constexpr const char* kMetaChunkAvg = "chunk_avg";
constexpr const char* kMetaChunkMax = "chunk_max";
constexpr const char* kMetaBlockSize = "block_size";      // compressible stream's block size
constexpr const char* kMetaRawBlockSize = "raw_block_size";  // already-compressed stream's
constexpr const char* kMetaZstdLevel = "zstd_level";
constexpr const char* kMetaOrder = "order";               // "tree" or "similar"
constexpr const char* kMetaProfile = "profile";           // v4 on: "fast" or "max" (absent in v2/v3: fast)
constexpr const char* kMetaIntegerKeys[] = {kMetaCreated,   kMetaChunkMin,     kMetaChunkAvg,  kMetaChunkMax,
                                            kMetaBlockSize, kMetaRawBlockSize, kMetaZstdLevel};

constexpr const char* kIndexSchema = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE inodes(
  ino INTEGER PRIMARY KEY,       -- 1 is the root
  mode INTEGER NOT NULL,         -- st_mode: type and permission bits
  nlink INTEGER NOT NULL,
  size INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  content INTEGER,               -- regular files: contents.id
  target BLOB                    -- symlinks: the target
);
CREATE TABLE dirents(
  parent INTEGER NOT NULL,
  name BLOB NOT NULL,
  ino INTEGER NOT NULL,
  PRIMARY KEY(parent, name)
) WITHOUT ROWID;
CREATE TABLE contents(
  id INTEGER PRIMARY KEY,
  size INTEGER NOT NULL,
  sha256 BLOB NOT NULL,          -- of the whole file
  chunks BLOB NOT NULL           -- kChunkRecordSize-byte records
);
CREATE TABLE chunks(
  sha256 BLOB PRIMARY KEY,       -- of the chunk's bytes
  block INTEGER NOT NULL,
  offset INTEGER NOT NULL,       -- in the block's raw bytes
  length INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

}  // namespace kso
