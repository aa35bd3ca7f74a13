// How the tools open the packs their command lines name: local files, .kidx
// files, or http(s) URLs (read through a disk cache under the user's cache
// dir, ~/.cache/kso/remote), with a delta's bases as given by --base.
#pragma once
#include <string>
#include <vector>

#include "index/pack_open.h"

namespace kso {

BaseSearch tool_search(const std::vector<std::string>& bases = {});

}  // namespace kso
