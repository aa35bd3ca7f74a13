// libFuzzer target: WWW-Authenticate challenge parsing (tools/images/auth.h)
// on the whole input and on each of its lines (tests/fuzz/README.md). The
// parser never throws; it must return lower-case schemes and parameter names.
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <typeinfo>

#include "tools/images/auth.h"

namespace {

using namespace kso::images;

[[noreturn]] void bug(const std::string& what) {
  fprintf(stderr, "fuzz_www_auth: BUG: %s\n", what.c_str());
  abort();
}

bool has_upper(const std::string& s) {
  for (unsigned char c : s)
    if (std::isupper(c)) return true;
  return false;
}

void parse(std::string_view v) {
  for (const Challenge& c : parse_www_authenticate(v)) {
    if (c.scheme.empty() || has_upper(c.scheme)) bug("scheme '" + c.scheme + "' is empty or not lower-case");
    for (const auto& [k, val] : c.params)
      if (k.empty() || has_upper(k)) bug("parameter name '" + k + "' is empty or not lower-case");
    (void)c.param("realm");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  try {
    parse(in);
    while (!in.empty()) {
      size_t nl = in.find('\n');
      parse(in.substr(0, nl));
      in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    }
  } catch (const std::exception& e) {
    bug(std::string("exception from parse_www_authenticate: ") + typeid(e).name() + ": " + e.what());
  }
  return 0;
}
