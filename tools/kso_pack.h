// kso-pack: builds and inspects packs. The entry point is a function so tests
// run it in-process.
#pragma once
#include <string>
#include <vector>

namespace kso {

// Exit codes of the tools.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;  // the work failed or found damage
constexpr int kExitUsage = 2;    // bad command line

// Runs kso-pack with `args` (without the program name); returns the exit code.
int kso_pack_main(const std::vector<std::string>& args);

}  // namespace kso
