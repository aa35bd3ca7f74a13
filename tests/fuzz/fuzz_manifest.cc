// libFuzzer target: manifest and index parsing (tools/images/manifest.h)
// and registry error bodies (tools/images/auth.h). The input's first line is
// the response's Content-Type, the rest its body (tests/fuzz/README.md).
// kso::Error is the only exception parse_manifest may throw: anything else
// (a JSON library exception escaping) is reported as a bug.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <typeinfo>

#include "index/error.h"
#include "tools/images/auth.h"
#include "tools/images/manifest.h"
#include "tools/images/platform.h"

namespace {

using namespace kso::images;

[[noreturn]] void bug(const std::string& what) {
  fprintf(stderr, "fuzz_manifest: BUG: %s\n", what.c_str());
  abort();
}

void check_digest(const Descriptor& d) {
  const std::string& s = d.digest.str();
  if (s.size() != 71 || s.rfind("sha256:", 0) != 0) bug("descriptor with digest '" + s + "' accepted");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  std::string content_type = nl == std::string::npos ? "" : in.substr(0, nl);
  std::string body = nl == std::string::npos ? in : in.substr(nl + 1);
  try {
    (void)registry_error_text(body);
    Manifest m = parse_manifest(body, content_type);
    if (m.media_type.empty()) bug("manifest without a media type accepted");
    const PlatformSet want = PlatformSet::defaults();
    for (const Descriptor& d : m.manifests) {
      check_digest(d);
      if (d.platform) {
        Platform p = normalize_platform(*d.platform);
        for (const Platform& w : want.list) (void)platform_matches(w, p);
        (void)p.str();
      }
    }
    if (!m.is_index()) {
      if (m.config) check_digest(*m.config);
      for (const Descriptor& l : m.layers) {
        check_digest(l);
        (void)is_foreign_layer(l);
      }
    }
  } catch (const kso::Error&) {
  } catch (const std::exception& e) {
    bug(std::string("exception other than kso::Error: ") + typeid(e).name() + ": " + e.what());
  }
  return 0;
}
