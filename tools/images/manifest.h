// Parsing of the manifests kso-pack pulls: OCI indexes and Docker manifest
// lists (multi-arch), OCI and Docker schema2 image manifests. The bytes are
// never re-serialized: the registry layout stores them as fetched.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fetch/digest.h"
#include "tools/images/platform.h"

namespace kso::images {

// A reference to a blob or manifest by content: what both formats call a descriptor.
struct Descriptor {
  std::string media_type;
  fetch::OciDigest digest;
  uint64_t size = 0;
  std::optional<Platform> platform;  // index entries only, when given
  std::vector<std::string> urls;     // foreign / non-distributable layers only
  std::map<std::string, std::string> annotations;  // string values only
};

// Index entries that are attestations (BuildKit's provenance and SBOM
// manifests) carry this annotation naming the image manifest they attest.
inline constexpr const char* kAttestationRefAnnotation = "vnd.docker.reference.digest";

struct Manifest {
  enum class Kind { Index, Image };
  Kind kind = Kind::Image;
  std::string media_type;            // from the body, else Content-Type, else inferred
  std::vector<Descriptor> manifests; // Index: the children
  std::optional<Descriptor> config;  // Image (always there)
  std::vector<Descriptor> layers;    // Image

  bool is_index() const { return kind == Kind::Index; }
};

// Parses manifest bytes. `content_type` is the response's Content-Type (may
// be empty). Throws kso::Error for schema 1, unknown media types, malformed
// JSON or descriptors that are not sha256 digests.
Manifest parse_manifest(const std::string& bytes, const std::string& content_type);

// True for layers a registry does not hold (Windows base layers with urls).
bool is_foreign_layer(const Descriptor& d);

// What a platform selection takes of an index: its entries that match (each
// once, in the order first matched; every entry for `all`), and the requested
// platforms no entry matches.
struct PlatformChoice {
  std::vector<const Descriptor*> chosen;
  std::vector<std::string> missing;
};
PlatformChoice choose_platforms(const Manifest& index, const PlatformSet& want);
// The platforms of an index's entries, "linux/amd64, linux/arm64", or "none".
std::string index_platforms(const Manifest& index);

}  // namespace kso::images
