// `kso-pack manifest PACK [--json]`: what exactly is in a pack, for a
// security review: every file with size, SHA-256 and the URL its wget -x path
// names, every image with its index digest and per-platform manifest digests,
// the identity and the build parameters. Sorted, stable JSON whose schema is
// docs/REVIEW.md's, so two packs' manifests diff line by line.
#pragma once
#include <CLI/CLI.hpp>
#include "cli/tool_io.h"
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "index/pack_reader.h"

namespace kso {

struct ManifestCommand {
  std::string pack;
  bool json = false;
  std::string files_prefix = "files";  // files below it get a "url"
  std::vector<std::string> bases;      // a delta's bases
};

// Registers `manifest` on `app`; it sets `which`.
void add_manifest_command(CLI::App& app, ManifestCommand& cmd, std::string& which);
// Runs it; returns the exit code.
int run_manifest(const ManifestCommand& cmd, ToolIo& io);  // prints to io.out / io.err

// The manifest of `pack` (bases attached, for a delta) as JSON.
nlohmann::json pack_manifest(const std::shared_ptr<Pack>& pack, const std::string& files_prefix);

}  // namespace kso
