// Delta packs from the command line: `kso-pack index` (a base's .kidx),
// `diff` (what changed, and what a delta would weigh) and `merge` (a delta
// chain flattened into a standalone pack).
#pragma once
#include <CLI/CLI.hpp>
#include "cli/tool_io.h"
#include <string>
#include <vector>

namespace kso {

struct DeltaCommand {
  std::string pack;                // index, merge: the pack; diff: OLD
  std::string other;               // diff: NEW
  std::string output;              // index, merge: -o
  std::vector<std::string> bases;  // merge: --base
  unsigned threads = 0;            // merge
  bool json = false;               // diff --json
};

// Registers index, diff and merge on `app`; each sets `which`.
void add_delta_commands(CLI::App& app, DeltaCommand& cmd, std::string& which);
// True if `which` is one of them.
bool is_delta_command(const std::string& which);
// Runs the parsed command; returns the exit code.
int run_delta(const std::string& which, const DeltaCommand& cmd, ToolIo& io);  // prints to io.out / io.err

}  // namespace kso
