// Platforms ("linux/amd64", "linux/arm64/v8") and which index entries a
// requested platform selects.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace kso::images {

struct Platform {
  std::string os, arch, variant;  // variant may be empty
  std::string str() const;        // "linux/arm64" or "linux/arm/v7"
};

// Parses "OS/ARCH[/VARIANT]", normalizing x86_64 -> amd64, aarch64 -> arm64
// and arm64's default variant v8 -> "". Throws kso::Error.
Platform parse_platform(std::string_view s);
// Index entry `have` satisfies request `want`: same os and arch, and the same
// variant unless `want` names none (then any variant matches).
bool platform_matches(const Platform& want, const Platform& have);
// The normalized form of an index entry's platform (same rules as parse).
Platform normalize_platform(Platform p);

// The --platform selection: explicit platforms, or every entry of an index.
struct PlatformSet {
  bool all = false;
  std::vector<Platform> list;
  // Parses "linux/amd64,linux/arm64" or "all" (several values are merged).
  static PlatformSet parse(const std::vector<std::string>& specs);
  static PlatformSet defaults();  // linux/amd64 + linux/arm64
  std::string str() const;
};

}  // namespace kso::images
