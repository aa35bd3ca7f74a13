#include "tools/images/platform.h"

#include "index/error.h"

namespace kso::images {

std::string Platform::str() const { return os + "/" + arch + (variant.empty() ? "" : "/" + variant); }

Platform normalize_platform(Platform p) {
  if (p.arch == "x86_64" || p.arch == "x86-64") p.arch = "amd64";
  if (p.arch == "aarch64") p.arch = "arm64";
  if (p.arch == "arm64" && p.variant == "v8") p.variant.clear();
  return p;
}

Platform parse_platform(std::string_view s) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t slash = s.find('/', start);
    parts.emplace_back(s.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (parts.size() < 2 || parts.size() > 3)
    throw Error("malformed platform '" + std::string(s) + "' (want OS/ARCH[/VARIANT], e.g. linux/arm64)");
  for (auto& p : parts)
    if (p.empty()) throw Error("malformed platform '" + std::string(s) + "'");
  Platform p{parts[0], parts[1], parts.size() == 3 ? parts[2] : ""};
  return normalize_platform(p);
}

bool platform_matches(const Platform& want, const Platform& have_raw) {
  Platform have = normalize_platform(have_raw);
  if (want.os != have.os || want.arch != have.arch) return false;
  return want.variant.empty() || want.variant == have.variant;
}

PlatformSet PlatformSet::parse(const std::vector<std::string>& specs) {
  PlatformSet set;
  for (const auto& spec : specs) {
    size_t start = 0;
    while (start <= spec.size()) {
      size_t comma = spec.find(',', start);
      std::string one = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (one == "all") {
        set.all = true;
      } else if (!one.empty()) {
        Platform p = parse_platform(one);
        bool dup = false;
        for (auto& q : set.list) dup |= q.str() == p.str();
        if (!dup) set.list.push_back(p);
      }
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  if (!set.all && set.list.empty()) return defaults();
  return set;
}

PlatformSet PlatformSet::defaults() {
  PlatformSet set;
  set.list = {Platform{"linux", "amd64", ""}, Platform{"linux", "arm64", ""}};
  return set;
}

std::string PlatformSet::str() const {
  if (all) return "all";
  std::string s;
  for (auto& p : list) s += (s.empty() ? "" : ",") + p.str();
  return s;
}

}  // namespace kso::images
