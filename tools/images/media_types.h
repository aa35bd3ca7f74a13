// Manifest media types of the Registry HTTP API v2 that kso-pack handles.
#pragma once
#include <string_view>

namespace kso::images {

inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
// Docker schema 1 (signed and unsigned): refused, registry:2 2.8 can't serve
// it from a read-only store and no current tool produces it.
inline constexpr std::string_view kDockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr std::string_view kDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";

// The Accept header of every manifest request: indexes and lists first, so a
// multi-arch tag comes back as its index, never converted.
inline constexpr std::string_view kManifestAccept =
    "Accept: application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

// Registry limit for a manifest body (distribution rejects larger pushes).
inline constexpr size_t kMaxManifestBytes = 4u << 20;

}  // namespace kso::images
