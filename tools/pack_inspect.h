// `kso-pack ls|cat|info|verify|extract`: read-only commands on a pack
// (verify --pubkey checks the signature of tools/pack_sign.h first).
#pragma once
#include <CLI/CLI.hpp>
#include "cli/tool_io.h"
#include <string>
#include <vector>

namespace kso {

struct InspectCommand {
  std::string pack;
  std::vector<std::string> paths;  // ls/cat: PATH; extract: [PATH] DIR
  bool long_format = false;        // ls -l
  bool recursive = false;          // ls -R
  bool json = false;               // info --json
  bool allow_escaping_symlinks = false;  // extract
  std::vector<std::string> bases;  // --base: a delta's base packs (default: found next to it by identity)
  std::vector<std::string> pubkeys;  // verify --pubkey: trusted Ed25519 keys; the signature is checked first
  std::string signature;             // verify --sig (default PACK.sig)
};

// Registers ls, cat, info, verify and extract on `app`; each sets `which`.
void add_inspect_commands(CLI::App& app, InspectCommand& cmd, std::string& which);
// Runs the parsed command `which`; returns the exit code.
int run_inspect(const std::string& which, const InspectCommand& cmd, ToolIo& io);  // prints to io.out / io.err

}  // namespace kso
