#include "index/order.h"

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
  size_t slash = path.rfind('/');
  std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  size_t dot = base.find('.', 1);
  std::string_view ext = dot == std::string_view::npos ? std::string_view() : base.substr(dot);
  std::string stem;
  for (char c : base.substr(0, dot))
    if (!isdigit((unsigned char)c) && c != '.') stem += c;
  std::string key;
  key.reserve(path.size() * 2 + 8);
  key.append(ext).push_back('\0');
  key.append(path_arch(path)).push_back('\0');
  key.append(stem).push_back('\0');
  key.append(path);
  return key;
}

}  // namespace kso
