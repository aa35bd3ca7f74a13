// How the tools open the packs their command lines name: local files, .kidx
// files, or http(s) URLs (read through a disk cache under the user's cache
// dir, ~/.cache/kso/remote), with a delta's bases as given by --base.
#pragma once
#include <string>
#include <vector>

#include "index/pack_open.h"

namespace CLI {
class App;
}

namespace kso {

BaseSearch tool_search(const std::vector<std::string>& bases = {});

// Registers the required PACK argument (described as `what`) and --base PACK
// (repeatable) on a subcommand that reads a pack.
void add_pack_options(CLI::App& sub, std::string& pack, std::vector<std::string>& bases,
                      const std::string& what = "Pack file");

// Adds subcommand `name` (described by `help`) that reads a pack: PACK and
// --base as above, and `which` set to `name` when the command line picks it.
CLI::App* add_pack_command(CLI::App& app, const std::string& name, const std::string& help, std::string& which,
                           std::string& pack, std::vector<std::string>& bases);

}  // namespace kso
