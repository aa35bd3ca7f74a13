// libFuzzer target: the kubespray files-list parser on a list's whole text
// (tests/fuzz/README.md). Besides sanitizer reports and exceptions other
// than kso::Error, it checks what the rest of kso-pack relies on: a parsed
// line's canonical URL parses again to itself and the same path, and the
// path is a relative path of real names (it becomes a pack path).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <typeinfo>

#include "index/error.h"
#include "fetch/digest.h"
#include "tools/files_list.h"

namespace {

[[noreturn]] void bug(const std::string& what) {
  fprintf(stderr, "fuzz_files_list: BUG: %s\n", what.c_str());
  abort();
}

void check_path(const std::string& path, const std::string& url) {
  if (path.empty()) bug("empty path for '" + url + "'");
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    std::string seg = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (seg.empty() || seg == "." || seg == ".." || seg.find('\0') != std::string::npos || seg.size() > 255)
      bug("path '" + path + "' of '" + url + "' has a segment that is not a file name");
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  try {
    for (const kso::FilesListLine& l : kso::parse_files_list(text, "fuzz.list")) {
      check_path(l.path, l.url);
      if (l.digest && kso::fetch::OciDigest::try_parse(l.digest->str()) != l.digest)
        bug("digest '" + l.digest->str() + "' of '" + l.url + "' does not parse again to itself");
      std::string canon;
      std::string again;
      try {
        again = kso::url_to_path(l.url, &canon);
      } catch (const kso::Error& e) {
        bug("canonical URL '" + l.url + "' does not parse again: " + e.what());
      }
      if (again != l.path || canon != l.url)
        bug("canonical URL '" + l.url + "' parses again to '" + canon + "' -> '" + again + "', not -> '" + l.path +
            "'");
    }
  } catch (const kso::Error&) {
  } catch (const std::exception& e) {
    bug(std::string("exception other than kso::Error: ") + typeid(e).name() + ": " + e.what());
  }
  return 0;
}
