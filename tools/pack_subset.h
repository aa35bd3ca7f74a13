// `kso-pack subset`: a pack of only what some platforms need, written from a
// pack (no download): files that name another architecture are dropped, and
// in registry storage the manifests and blobs only other platforms use.
#pragma once
#include <CLI/CLI.hpp>
#include "cli/tool_io.h"
#include <string>
#include <string_view>
#include <vector>

namespace kso {

struct SubsetCommand {
  std::string pack, output;
  std::vector<std::string> platforms;  // --platform linux/arm64 (repeatable, or comma-separated)
  std::vector<std::string> bases;      // a delta input's bases
  unsigned threads = 0;
  bool dry_run = false;
};

// The architectures a path names: a path segment or a filename token equal to
// an architecture or one of its aliases (amd64/x86_64, arm64/aarch64,
// arm/armv7, ppc64le, s390x), in their canonical names. Aliases containing
// '_' (x86_64) are matched before tokens are split on '/', '-', '_' and '.'.
std::vector<std::string> archs_named(std::string_view path);

// Registers `subset` on `app`; it sets `which`.
void add_subset_command(CLI::App& app, SubsetCommand& cmd, std::string& which);
// Runs it; returns the exit code.
int run_subset(const SubsetCommand& cmd, ToolIo& io);  // prints to io.out / io.err

}  // namespace kso
