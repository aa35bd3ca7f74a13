// Local directory source: a tree on disk becomes SourceEntry items under a
// pack prefix, keeping modes, mtimes, symlinks and hardlinks.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "index/entry.h"

namespace kso {

// One `PREFIX=DIR` argument of `kso-pack build`.
struct DirSpec {
  // Pack path the tree lands under. From the command line: pack_prefix()'s
  // rule. "." puts the tree at the pack root (programmatic callers only: the
  // rule refuses it on the command line).
  std::string prefix;
  std::filesystem::path dir;
};

// Parses "PREFIX=DIR"; throws Error(EINVAL) with a one-line reason.
DirSpec parse_dir_spec(const std::string& arg);
// Walks spec.dir (without following symlinks); throws Error naming the path
// that cannot be read. Sockets, FIFOs and devices are skipped with a warning.
std::vector<SourceEntry> scan_dir(const DirSpec& spec);

}  // namespace kso
