// kso-fs: mounts a pack read-only. The entry point is a function so tests
// can drive it; it returns when the file system is unmounted.
#pragma once
#include <string>
#include <vector>

#include "cli/tool_io.h"

namespace kso {

// `args` without the program name: PACK MOUNTPOINT [-o OPTIONS] [-f] [-d] [-s],
// or --status MOUNTPOINT ..., or --help / --version. What it prints before it
// mounts (usage, help, version, refusals, --status) goes to io.out / io.err;
// once mounted it logs to io.err in the foreground, else to syslog. It reads
// NETRC (remote packs' credentials file) from io.env.
int kso_fs_main(const std::vector<std::string>& args, ToolIo& io);

}  // namespace kso
