// libFuzzer target: image references (tools/images/reference.h) and
// platforms (tools/images/platform.h), one per line of the input, each line
// trimmed and stripped of '#' comments as images.list reading does
// (tests/fuzz/README.md). Besides sanitizer reports and exceptions other
// than kso::Error, it checks that a reference's canonical form parses again
// to itself: pulls and the offline registry's names are built from it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <typeinfo>

#include "index/error.h"
#include "tools/images/platform.h"
#include "tools/images/reference.h"

namespace {

using namespace kso::images;

[[noreturn]] void bug(const std::string& what) {
  fprintf(stderr, "fuzz_image_ref: BUG: %s\n", what.c_str());
  abort();
}

void one_ref(std::string_view text) {
  ImageRef r;
  try {
    r = parse_image_ref(text);
  } catch (const kso::Error&) {
    return;
  }
  const std::string canon = r.str();
  if (r.registry.empty() || r.repository.empty() || (r.tag.empty() && !r.digest))
    bug("'" + std::string(text) + "' parsed to an incomplete reference '" + canon + "'");
  ImageRef again;
  try {
    again = parse_image_ref(canon);
  } catch (const kso::Error& e) {
    bug("canonical form '" + canon + "' of '" + std::string(text) + "' does not parse again: " + e.what());
  }
  if (again.str() != canon || again.registry != r.registry || again.repository != r.repository ||
      again.tag != r.tag || again.digest != r.digest)
    bug("canonical form '" + canon + "' of '" + std::string(text) + "' parses again to '" + again.str() + "'");
  (void)r.local_name(false);
  (void)r.local_name(true);
  (void)r.source_repo();
  (void)r.manifest_ref();
  (void)registry_api_host(r.registry);
  (void)is_loopback_host(r.registry);
}

void one_platform(std::string_view text) {
  try {
    Platform p = parse_platform(text);
    (void)p.str();
    Platform n = normalize_platform(p);
    if (!platform_matches(n, n)) bug("platform '" + p.str() + "' does not match itself");
    (void)PlatformSet::parse({std::string(text)}).str();
  } catch (const kso::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  try {
    (void)is_loopback_host(std::string(in));
    while (!in.empty()) {
      size_t nl = in.find('\n');
      std::string_view line = in.substr(0, nl);
      in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
      one_platform(line);
      if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
      size_t b = line.find_first_not_of(" \t\r");
      if (b == std::string_view::npos) continue;
      size_t e = line.find_last_not_of(" \t\r");
      one_ref(line.substr(b, e - b + 1));
    }
  } catch (const std::exception& e) {
    bug(std::string("exception other than kso::Error: ") + typeid(e).name() + ": " + e.what());
  }
  return 0;
}
