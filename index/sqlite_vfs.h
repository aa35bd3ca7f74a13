// A read-only SQLite VFS that serves a database stored as a byte range of a
// larger file, so the pack's index is queried in place: no temp copy, no
// full read into memory.
#pragma once
#include <cstdint>
#include <string>

namespace kso {

// Name of the VFS; registered on first use.
constexpr const char* kRangeVfsName = "kso-range";

// Registers the VFS (idempotent, thread-safe).
void register_range_vfs();
// A URI for sqlite3_open_v2(..., SQLITE_OPEN_URI) that opens bytes
// [offset, offset+size) of `path` as an immutable database.
std::string range_vfs_uri(const std::string& path, uint64_t offset, uint64_t size);

}  // namespace kso
