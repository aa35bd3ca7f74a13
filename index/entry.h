// Writer input: one path of the tree a pack will hold, as a source describes it.
// Sources (local dirs, files lists, image lists) produce these; the writer
// never reaches back into a source.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kso {

enum class EntryType : uint8_t { Dir = 1, File = 2, Symlink = 3 };

// File bytes that come from somewhere other than a local file: a file of
// another pack (merge, subset). Read front to back, once.
class ContentReader {
 public:
  virtual ~ContentReader() = default;
  virtual uint64_t size() const = 0;
  // Fills up to `len` bytes from `offset`; returns how many (0 at the end).
  virtual size_t read(uint64_t offset, size_t len, char* out) = 0;
};

struct SourceEntry {
  std::string path;          // inside the pack: "files/dl.k8s.io/x", no leading '/', no "." or ".."
  EntryType type = EntryType::File;
  uint32_t mode = 0644;      // permission bits only (07777)
  int64_t mtime_ns = 0;      // nanoseconds since the epoch
  std::string symlink_target;            // Symlink only
  std::string hardlink_key;              // File only: entries with one non-empty key share an inode
  std::filesystem::path source_file;     // File: read the content from here ...
  std::optional<std::string> inline_data;  // ... or take it from here (small generated files)
  std::shared_ptr<ContentReader> reader;   // ... or read it from here
  // Lower-case hex SHA-256 the content must have, if the source knows it (a
  // verified download, a registry blob). The writer hashes every file anyway;
  // a mismatch (say, a cache file damaged since it was verified) fails the build.
  std::string expect_sha256;
  // Where a download really came from when that is not the URL its `wget -x`
  // path names (a redirect, a --mirror); empty otherwise. The pack records it
  // (meta `source_urls`, format v4) for `kso-pack manifest`.
  std::string origin_url;
};

// Checks a pack path: relative, '/'-separated, no empty, "." or ".." segment,
// no NUL. Throws kso::Error naming the path when it is not.
void validate_pack_path(const std::string& path);

// True if a symlink with `target`, in a directory `depth` levels below the
// pack root (0: in the root), could resolve outside the pack: an absolute
// target, or a relative one whose ".." components are not all at its start
// or climb above the root. (Leading ".."s climb real directories; after them
// only descending components, so whatever symlinks they cross, resolution
// stays inside as long as every symlink of the pack passes this check.)
bool symlink_escapes(std::string_view target, size_t depth);

}  // namespace kso
