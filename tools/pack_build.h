// `kso-pack build`: gathers every source into one PackWriter.
#pragma once
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "tools/fetch/net_options.h"
#include "tools/files_list.h"
#include "tools/images/images_options.h"

namespace kso {

struct BuildCommand {
  std::string output;
  int level = 9;
  std::string block_size = "4M";
  std::string raw_block_size = "1M";
  std::string chunk = "16K/64K/256K";
  unsigned threads = 0;
  std::string order = "tree";
  bool allow_escaping_symlinks = false;
  bool strict = false;             // a source that changes while read fails the build
  std::vector<std::string> dirs;  // PREFIX=DIR
  // Further sources register their options here (files lists, image lists).
  FilesListOptions files;        // files lists: --files-list --checksums --skip-missing --files-prefix
  fetch::NetOptions net;         // shared by every downloading source: --cache --parallel --mirror ...
  images::ImagesOptions images;  // image lists: --images-list --platform ... (tools/images)
};

// Registers the `build` subcommand and its options on `app`.
CLI::App* add_build_command(CLI::App& app, BuildCommand& cmd);
// Runs a parsed build command; returns the exit code.
int run_build(const BuildCommand& cmd);

}  // namespace kso
