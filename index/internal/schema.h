// The SQLite schema of a pack's index (docs/FORMAT.md explains each table).
// A reader compares the index's schema with this text exactly at open.
// Internal to index/ (reader and writer); tools read the index through Pack
// and the keys and records in index/index_meta.h.
#pragma once
#include <cstddef>
#include <cstdint>

#include "index/index_meta.h"

namespace kso {

// PRAGMA application_id of every index ("KSOP") and PRAGMA user_version (the
// format version whose schema it has).
constexpr int32_t kIndexApplicationId = 0x4B534F50;

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
