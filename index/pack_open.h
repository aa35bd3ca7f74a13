// Opening a pack with everything it needs: for a delta, its bases, found by
// identity (never by name: sites rename packs when they install them) and
// attached recursively through a chain. What kso-fs and every tool that reads
// file bytes use.
#pragma once
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "index/pack_reader.h"

namespace kso {

// Where the bytes of a pack named by a path or URL come from (a FileSource,
// or a remote source from fetch/). Throws Error naming it.
using SourceOpener = std::function<std::shared_ptr<ByteSource>(const std::string& where)>;
std::shared_ptr<ByteSource> open_local_file(const std::string& where);

struct BaseSearch {
  std::vector<std::filesystem::path> paths;  // given bases, tried first (-o base=, --base)
  bool next_to_pack = true;                  // then the packs in the delta's directory (a URL's: by the recorded names)
  SourceOpener open = open_local_file;       // how a pack or base is opened
};

// Opens the pack or (local) .kidx at `where` (by its magic) without attaching bases.
std::shared_ptr<Pack> open_pack_file(const std::string& where, const SourceOpener& open = open_local_file);

// Opens the pack at `path` and, for a delta, every base of its chain, each
// checked (Pack::attach_bases). Refuses with one line naming the base and the
// identity expected when a base is missing or another pack stands in its
// place, and refuses cycles.
std::shared_ptr<Pack> open_pack(const std::string& where, const BaseSearch& search = {});
inline std::shared_ptr<Pack> open_pack(const std::filesystem::path& path, const BaseSearch& search = {}) {
  return open_pack(path.string(), search);
}
inline std::shared_ptr<Pack> open_pack(const char* path, const BaseSearch& search = {}) {
  return open_pack(std::string(path), search);
}

// Every base of `p`'s chain once, nearest first (bases attached).
std::vector<const Pack*> base_chain(const Pack& p);

}  // namespace kso
