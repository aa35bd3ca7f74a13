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

}  // namespace kso
