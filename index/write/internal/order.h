// The order in which the writer stores file contents: similar files next to
// each other, so they share compression blocks (zstd finds cross-file matches
// only inside a block).
#pragma once
#include <string>
#include <string_view>

namespace kso {

// Architecture named by a path ("amd64", "arm64", ...; "" when none):
// x86_64 and aarch64 spellings are folded into the Go names.
std::string path_arch(std::string_view path);
// Sort key: the architecture a path names, then the path. Files of one
// architecture sit together (a program's amd64 and arm64 builds share little),
// and tree order keeps a package's files, and the versions of one file in a
// kubespray tree, next to each other. (Grouping by extension and name stem
// instead measured 1 % larger: it scatters a package's files.)
std::string similarity_key(std::string_view path);

}  // namespace kso
