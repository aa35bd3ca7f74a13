// `kso-pack extract` and the one way the tools copy a file out of a pack.
// Extraction never leaves its directory, whatever the pack says: every path
// is created relative to an open directory descriptor, one component at a
// time, never following a symlink; files are written under a temporary name
// and renamed into place; the target directory itself is never changed.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "cli/tool_io.h"
#include "index/pack_reader.h"

namespace kso {

// Streams file `ino`'s bytes to `fd` (or nowhere: -1) through the reader's
// read path, hashing them; throws CorruptError (naming `what`) if they miss
// the file's SHA-256, Error if writing fails.
void copy_file(const Pack& p, BlockSource& src, uint64_t ino, int fd, const std::string& what);
// The same onto a stream (kso-pack cat: ToolIo::out); Error if writing fails.
void copy_file(const Pack& p, BlockSource& src, uint64_t ino, std::ostream& out, const std::string& what);

struct ExtractOptions {
  bool allow_escaping_symlinks = false;  // write symlinks that point outside the pack
};

struct ExtractResult {
  uint64_t files = 0, dirs = 0, symlinks = 0, hardlinks = 0;
  uint64_t bytes = 0;                // file bytes written
  std::vector<std::string> failed;   // "path: why", for entries skipped (damage, refused symlinks)
};

// Writes the pack entry `st` (at pack path `path`; "" = the root) into the
// directory `out` (created if missing): a directory's children go into
// `out`, a file or symlink becomes `out`/its name. Checks first that `out`'s
// filesystem has room for it. A damaged file or a refused symlink is skipped
// and listed in `failed`; anything else (no room, a symlink or non-directory
// in the way, I/O errors) throws Error naming the path.
ExtractResult extract(const Pack& p, BlockSource& src, const std::string& path, const Stat& st,
                      const std::string& out, const ExtractOptions& o, ToolIo& io);  // progress on io.err

}  // namespace kso
