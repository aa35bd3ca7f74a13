// Builds a pack from SourceEntry items: dedup (whole files, then FastCDC
// chunks), parallel zstd block compression, the SQLite index, atomic rename.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "index/write/chunker.h"
#include "index/entry.h"
#include "index/write/pack_stats.h"

namespace kso {

class Pack;

struct WriterOptions {
  int level = 9;                         // zstd level for compressible blocks
  uint32_t block_size = 4u << 20;        // target uncompressed bytes per block (64 KiB..64 MiB)
  // Blocks of already-compressed content (stored raw) gain nothing from size;
  // small ones keep the bytes read and verified per random read low.
  uint32_t raw_block_size = 1u << 20;
  ChunkerParams chunk;                   // content-defined chunking sizes
  unsigned threads = 0;                  // compression threads; 0 = every core
  size_t max_pending_blocks = 0;         // blocks queued for compression; 0 = 2 x threads
  bool similarity_order = false;         // group files by architecture (measured: tree order packs smaller)
  // `--profile max`: x86-64 and AArch64 ELF files get blocks of their own
  // with an executable filter (BCJ, index/exec_filter.h) tried before zstd;
  // the pack is format v4 and records `profile` = max. Off (fast, the
  // default): the v3 bytes of the kso before filters.
  bool max_profile = false;
  // Symlinks that could resolve outside the pack (absolute, or climbing above
  // its root) are refused unless this is set: a mount that served them would
  // let nginx follow them into the host (symlink_escapes() in index/entry.h).
  bool allow_escaping_symlinks = false;
  // A source file whose size changes while it is read fails the build
  // (default: a warning naming it; the bytes read are packed).
  bool strict = false;
  // Delta packs: a chunk one of these packs (or .kidx files) holds is not
  // stored again but referenced in it, and the output names each base by its
  // identity, with `base_names` (file names) as hints. The first base that
  // holds a chunk supplies it.
  std::vector<std::shared_ptr<const Pack>> bases;
  std::vector<std::string> base_names;
  // Delta packs: a compressed base block the new tree uses for less than
  // this share (percent of its decoded bytes) is not referenced; its chunks
  // are stored again (a first pass over the sources counts the use). A cold
  // read decodes a base block whole, so a sparse one costs far more than it
  // supplies. 0 (the default): every chunk a base holds is referenced.
  unsigned base_min_use = 0;
  // Build time to record instead of now: SOURCE_DATE_EPOCH, which the tool
  // reads from its environment (the library reads none), or the delta's for
  // merge. When set it also bounds mtimes (none later than it).
  std::optional<int64_t> created_unix;
};

struct BuildProgress {
  uint64_t files_done = 0, files_total = 0;
  uint64_t bytes_done = 0, bytes_total = 0;  // logical bytes read from sources
  uint64_t bytes_stored = 0;                 // bytes written to the data region
};

using BuildStats = PackStats;

class PackWriter {
 public:
  PackWriter(std::filesystem::path out, WriterOptions opts);
  ~PackWriter();  // a writer that did not finish leaves nothing behind
  PackWriter(const PackWriter&) = delete;
  PackWriter& operator=(const PackWriter&) = delete;

  // Adds one path; parent directories are created implicitly (mode 0755).
  // Throws Error on a bad or duplicate path.
  void add(SourceEntry e);
  // Called from the build thread now and then with where the build is.
  void on_progress(std::function<void(const BuildProgress&)> cb);
  // Reads every source, writes OUT's temp file, fsyncs and renames it to OUT.
  BuildStats finish();
  // The temp file finish() writes before the rename (for signal handlers).
  const std::filesystem::path& temp_path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kso
