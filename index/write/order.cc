#include "index/write/internal/order.h"

#include <array>
#include <cctype>
#include <utility>

namespace kso {
namespace {

// Spellings of an architecture in paths and file names, and the Go name.
constexpr std::array<std::pair<std::string_view, std::string_view>, 10> kArchNames = {{
    {"amd64", "amd64"},
    {"x86_64", "amd64"},
    {"x86-64", "amd64"},
    {"arm64", "arm64"},
    {"aarch64", "arm64"},
    {"armhf", "arm"},
    {"armv7", "arm"},
    {"ppc64le", "ppc64le"},
    {"s390x", "s390x"},
    {"riscv64", "riscv64"},
}};

bool is_word_edge(std::string_view s, size_t i) { return i >= s.size() || !isalnum((unsigned char)s[i]); }

}  // namespace

std::string path_arch(std::string_view path) {
  for (size_t i = 0; i < path.size(); i++) {
    if (i > 0 && isalnum((unsigned char)path[i - 1])) continue;
    for (auto& [spelling, name] : kArchNames)
      if (path.substr(i, spelling.size()) == spelling && is_word_edge(path, i + spelling.size()))
        return std::string(name);
  }
  return {};
}

std::string similarity_key(std::string_view path) {
  std::string key = path_arch(path);
  key.push_back('\0');
  key.append(path);
  return key;
}

}  // namespace kso
