// The SQLite schema of a pack's index (docs/FORMAT.md explains each table).
#pragma once

namespace kso {

// chunks BLOB: one 12-byte record per chunk, little-endian
// {u32 block, u32 offset in block, u32 length}; file offsets are cumulative.
constexpr size_t kChunkRecordSize = 12;

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
  sha256 BLOB NOT NULL,
  chunks BLOB NOT NULL
);
CREATE TABLE prefixes(
  prefix TEXT PRIMARY KEY,       -- first path component
  files INTEGER NOT NULL,
  bytes_in INTEGER NOT NULL,     -- sum of file sizes under it
  bytes_unique INTEGER NOT NULL, -- chunk bytes first stored for it
  bytes_stored INTEGER NOT NULL  -- its share of the blocks' stored bytes
) WITHOUT ROWID;
)sql";

}  // namespace kso
