// `kso-pack build`: gathers every source into one PackWriter.
#pragma once
#include <CLI/CLI.hpp>
#include "cli/tool_io.h"
#include <functional>
#include <string>
#include <vector>

#include "index/write/pack_writer.h"

#include "fetch/net_options.h"
#include "tools/files_list.h"
#include "tools/images/images_options.h"

namespace kso {

// zstd level of `--profile max` when --level is not given.
constexpr int kMaxProfileLevel = 19;

struct BuildCommand {
  std::string output;
  int level = 9;
  std::string block_size = "4M";
  std::string raw_block_size = "1M";
  std::string chunk = "16K/64K/256K";
  unsigned threads = 0;
  std::string order = "tree";
  std::string profile = "fast";    // --profile: fast (default) or max
  bool allow_escaping_symlinks = false;
  bool strict = false;             // a source that changes while read fails the build
  std::vector<std::string> dirs;  // PREFIX=DIR
  std::vector<std::string> bases;  // --base: packs or .kidx files a delta takes chunks from
  unsigned base_min_use = 0;       // --base-min-use PCT: sparser compressed base blocks are stored again
  // True if option `name` (e.g. "--level") was on the command line.
  std::function<bool(const std::string&)> given = [](const std::string&) { return false; };
  // Further sources register their options here (files lists, image lists).
  FilesListOptions files;        // files lists: --files-list --checksums --skip-missing --files-prefix
  fetch::NetOptions net;         // shared by every downloading source: --cache --parallel --mirror ...
  images::ImagesOptions images;  // image lists: --images-list --platform ... (tools/images)
};

// Registers the `build` subcommand and its options on `app`.
CLI::App* add_build_command(CLI::App& app, BuildCommand& cmd);
// Runs a parsed build command; returns the exit code.
int run_build(const BuildCommand& cmd, ToolIo& io);  // prints to io.out / io.err

// The build parameters `p` records in its meta table (every one that affects
// the bytes), as writer options: what merge rebuilds with, and what a delta
// inherits from its first base unless told otherwise.
WriterOptions recorded_options(const Pack& p);
// Parses --chunk MIN/AVG/MAX. Throws Error.
ChunkerParams parse_chunk(const std::string& s);

}  // namespace kso
