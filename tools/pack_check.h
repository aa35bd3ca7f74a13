// `kso-pack check PACK --files-list L --images-list L [--platform ...]`: does
// the pack hold everything these lists (kubespray's contrib/offline lists, or
// those it was built from) need? Every URL whose wget -x path is missing,
// every image whose tag is missing, every requested platform missing from a
// present image's index is listed; exit 1 if anything is.
#pragma once
#include <CLI/CLI.hpp>
#include "cli/tool_io.h"
#include <string>
#include <vector>

#include "tools/files_list.h"
#include "tools/images/images_options.h"

namespace kso {

struct CheckCommand {
  std::string pack;
  FilesListOptions files;          // --files-list, --files-prefix
  images::ImagesOptions images;    // --images-list, --platform, --images-prefix, --keep-registry-host
  std::vector<std::string> bases;  // a delta's bases
};

// Registers `check` on `app`; it sets `which`.
void add_check_command(CLI::App& app, CheckCommand& cmd, std::string& which);
// Runs it; returns the exit code (1: something is missing).
int run_check(const CheckCommand& cmd, ToolIo& io);  // prints to io.out / io.err

}  // namespace kso
