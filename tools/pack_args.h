// How the tools open the packs their command lines name: local files, .kidx
// files, or http(s) URLs (read through a disk cache under the user's cache
// dir, ~/.cache/kso/remote), with a delta's bases as given by --base.
#pragma once
#include <string>
#include <vector>

#include "cli/tool_io.h"
#include "fetch/net_options.h"
#include "index/pack_open.h"

namespace CLI {
class App;
}

namespace kso {

// Remote packs (URLs) read through the cache dir of io's environment
// ($XDG_CACHE_HOME/kso/remote or ~/.cache/kso/remote) with its $NETRC.
BaseSearch tool_search(ToolIo& io, const std::vector<std::string>& bases = {});

// `net` with what the tool's environment gives for what it leaves unset:
// the default cache dir (fetch::default_cache_dir) and $NETRC.
fetch::NetOptions tool_net_options(fetch::NetOptions net, const ToolIo& io);

// Registers the required PACK argument (described as `what`) and --base PACK
// (repeatable) on a subcommand that reads a pack.
void add_pack_options(CLI::App& sub, std::string& pack, std::vector<std::string>& bases,
                      const std::string& what = "Pack file");

// Adds subcommand `name` (described by `help`) that reads a pack: PACK and
// --base as above, and `which` set to `name` when the command line picks it.
CLI::App* add_pack_command(CLI::App& app, const std::string& name, const std::string& help, std::string& which,
                           std::string& pack, std::vector<std::string>& bases);

}  // namespace kso
