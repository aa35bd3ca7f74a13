// A pack as a source of another build: every path of its tree as a
// SourceEntry whose bytes are read back through the pack's read path (and
// checked against the file's SHA-256 by the writer). What `merge` and
// `subset` write new packs from, with no download and no extraction.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cli/tool_io.h"
#include "index/entry.h"
#include "index/pack_reader.h"
#include "index/write/pack_stats.h"

namespace kso {

// Every path of `pack`'s tree with its Stat, depth-first, names in byte order.
std::vector<std::pair<std::string, Stat>> pack_paths(const Pack& pack);

// Where the pack's downloads really came from, by pack path (meta
// `source_urls`, v4): only files fetched from elsewhere than the URL their
// path names. Empty if none. Throws CorruptError naming the pack if the value
// is not a JSON object of strings.
std::map<std::string, std::string> source_urls(const Pack& pack);

// Every pack file reading `pack` reads: its own, then its bases' through the
// chain (what a pack written from it must not replace).
std::vector<std::string> pack_files(const Pack& pack);

// The tree of `pack` (bases attached, for a delta) in depth-first name order,
// hardlinks as shared keys. `keep(path, stat)` may drop paths (a dropped
// directory drops what is under it); empty keeps everything.
std::vector<SourceEntry> pack_entries(std::shared_ptr<Pack> pack,
                                      const std::function<bool(const std::string&, const Stat&)>& keep = {});

// Writes `entries` (from pack_entries of `from`) to `out` with the build
// parameters and build time `from` records: merge and subset. `label` names
// the progress line. Returns what the writer built.
PackStats rewrite_pack(const Pack& from, std::vector<SourceEntry> entries, const std::string& out, unsigned threads,
                       const char* label, ToolIo& io);

}  // namespace kso
