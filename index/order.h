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
// Sort key: file kind (extension), architecture, name stem without version
// digits, then the path itself as a tie-break.
std::string similarity_key(std::string_view path);

}  // namespace kso
