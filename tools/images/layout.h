// The registry:2 (distribution 2.8) filesystem storage layout, as pack
// entries: blob data once per digest, and per repository the link files the
// pull path reads (see docs/IMAGES.md and shared/reference/registry-storage.md).
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "index/entry.h"
#include "fetch/digest.h"

namespace kso::images {

// Paths of registry:2 storage below its docker/registry/v2 directory `root`
// (a pack path): what the layout writes and what readers of a pack look up.
std::string blob_data_path(const std::string& root, const fetch::OciDigest& d);  // blobs/sha256/<2>/<hex>/data
std::string blob_dir_path(const std::string& root, const fetch::OciDigest& d);   // blobs/sha256/<2>/<hex>
std::string revision_link_path(const std::string& root, const std::string& repo, const fetch::OciDigest& d);
std::string tag_dir_path(const std::string& root, const std::string& repo, const std::string& tag);
std::string layer_link_path(const std::string& root, const std::string& repo, const fetch::OciDigest& d);

class RegistryLayout {
 public:
  // prefix: pack directory holding docker/registry/v2 ("registry"; the
  // pack_prefix() rule, throws kso::Error if broken); mtime_ns for every
  // entry (one build time keeps packs reproducible).
  RegistryLayout(const std::string& prefix, int64_t mtime_ns);

  // blobs/sha256/<2>/<hex>/data, content read from `file` (a cache file).
  void add_blob(const fetch::OciDigest& digest, const std::filesystem::path& file);
  // repositories/<repo>/_manifests/revisions/sha256/<hex>/link
  void add_revision(const std::string& repo, const fetch::OciDigest& digest);
  // repositories/<repo>/_manifests/tags/<tag>/{current/link,index/sha256/<hex>/link}.
  // Throws kso::Error if the tag already points elsewhere.
  void add_tag(const std::string& repo, const std::string& tag, const fetch::OciDigest& digest);
  // repositories/<repo>/_layers/sha256/<hex>/link (configs and layers)
  void add_layer_link(const std::string& repo, const fetch::OciDigest& digest);

  // Everything added, sorted by path.
  std::vector<SourceEntry> entries() const;
  size_t repository_count() const;

  // "sha256:<hex>" -> "<prefix>/docker/registry/v2/blobs/sha256/<2hex>/<hex>/data"
  std::string blob_path(const fetch::OciDigest& digest) const;

 private:
  std::string root_;  // "<prefix>/docker/registry/v2"
  int64_t mtime_ns_;
  std::map<fetch::OciDigest, std::filesystem::path> blobs_;  // digest -> file
  std::map<std::string, fetch::OciDigest> links_;            // pack path -> digest
  std::map<std::string, fetch::OciDigest> tags_;             // "repo:tag" -> digest
  std::set<std::string> repos_;
};

}  // namespace kso::images
