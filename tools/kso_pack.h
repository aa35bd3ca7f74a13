// kso-pack: builds and inspects packs. The entry point is a function so tests
// run it in-process.
#pragma once
#include <string>
#include <vector>

#include "cli/tool_io.h"

namespace kso {

// Exit codes of the tools.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;  // the work failed or found damage
constexpr int kExitUsage = 2;    // bad command line

// Runs kso-pack with `args` (without the program name); returns the exit
// code. Everything it prints goes to io.out / io.err, and it reads its
// environment from io.env: SOURCE_DATE_EPOCH (the build time), NETRC,
// XDG_CACHE_HOME and HOME (the download cache), and the registry auth files'
// REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR and DOCKER_CONFIG.
int kso_pack_main(const std::vector<std::string>& args, ToolIo& io);

}  // namespace kso
