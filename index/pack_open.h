// Opening a pack with everything it needs: for a delta, its bases, found by
// identity (never by name: sites rename packs when they install them) and
// attached recursively through a chain. What kso-fs and every tool that reads
// file bytes use.
#pragma once
#include <filesystem>
#include <memory>
#include <vector>

#include "index/pack_reader.h"

namespace kso {

struct BaseSearch {
  std::vector<std::filesystem::path> paths;  // given bases, tried first (-o base=, --base)
  bool next_to_pack = true;                  // then the packs in the delta's directory
};

// Opens the pack or .kidx at `path` (by its magic) without attaching bases.
std::shared_ptr<Pack> open_pack_file(const std::filesystem::path& path);

// Opens the pack at `path` and, for a delta, every base of its chain, each
// checked (Pack::attach_bases). Refuses with one line naming the base and the
// identity expected when a base is missing or another pack stands in its
// place, and refuses cycles.
std::shared_ptr<Pack> open_pack(const std::filesystem::path& path, const BaseSearch& search = {});

}  // namespace kso
