// A read-only SQLite VFS that serves a pack's index from its byte source, so
// the index is queried in place (no temp copy, no full read into memory) and
// nothing is opened by path: every page SQLite reads comes from the pack that
// was opened, verified against its page checksum.
#pragma once
#include <cstdint>
#include <string>

namespace kso {

// The database bytes behind one registered index.
class IndexPages {
 public:
  virtual ~IndexPages() = default;
  virtual uint64_t size() const = 0;  // bytes of the database
  // Fills out[0, len) with database bytes [offset, offset+len), every page
  // verified. Throws CorruptError on damage.
  virtual void read(uint64_t offset, size_t len, char* out) const = 0;
};

// Name of the VFS; registered on first use.
constexpr const char* kIndexVfsName = "kso-index";

// Makes `pages` openable by SQLite until unregister_index(); returns the URI
// to pass to sqlite3_open_v2(..., SQLITE_OPEN_URI | SQLITE_OPEN_READONLY).
// `pages` must outlive every connection opened on it.
std::string register_index(const IndexPages* pages);
void unregister_index(const std::string& uri);
// The message of the last read failure on this thread (why a query failed),
// cleared by the call.
std::string take_index_error();

}  // namespace kso
