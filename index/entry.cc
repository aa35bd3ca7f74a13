#include "index/entry.h"

#include "index/error.h"

namespace kso {

void validate_pack_path(const std::string& path) {
  auto bad = [&](const char* why) { return Error("bad pack path '" + path + "': " + why, EINVAL); };
  if (path.empty()) throw bad("empty");
  if (path.front() == '/') throw bad("absolute");
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string_view seg(path.data() + start, end - start);
    if (seg.empty()) throw bad("empty segment");
    if (seg == "." || seg == "..") throw bad("'.' or '..' segment");
    start = end + 1;
  }
  for (char c : path)
    if (c == '\0') throw bad("NUL byte");
}

bool symlink_escapes(std::string_view target, size_t depth) {
  if (target.empty() || target.front() == '/') return true;
  size_t up = 0;
  bool descended = false;
  for (size_t start = 0; start <= target.size();) {
    size_t end = target.find('/', start);
    if (end == std::string_view::npos) end = target.size();
    std::string_view seg = target.substr(start, end - start);
    start = end + 1;
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (descended || ++up > depth) return true;
    } else {
      descended = true;
    }
  }
  return false;
}

}  // namespace kso
