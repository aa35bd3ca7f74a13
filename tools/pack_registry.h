// Registry storage (registry:2's docker/registry/v2 tree) as a pack holds it,
// wherever it is in the pack's tree: its repositories' tags, revision and
// layer links, and its blobs, read back through the pack. What `subset`,
// `check`, `manifest`, `export-image` and `kit` read; tools/images/layout.h is
// what writes it.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "index/pack_reader.h"
#include "fetch/digest.h"
#include "tools/images/manifest.h"

namespace kso {

class BlockCache;

struct PackRegistry {
  std::string root;                                                      // "<prefix>/docker/registry/v2"
  std::map<std::string, std::set<fetch::OciDigest>> revisions;           // repo -> manifests linked
  std::map<std::pair<std::string, std::string>, fetch::OciDigest> tags;  // (repo, tag) -> current/link
  std::map<std::string, std::set<fetch::OciDigest>> layers;              // repo -> _layers links
  std::map<fetch::OciDigest, uint64_t> blobs;                            // blob -> size of its data

  // True if `path` lies below root.
  bool holds(const std::string& path) const;
  bool has_blob(const fetch::OciDigest& d) const { return blobs.count(d) > 0; }

  // The whole content of the regular file `path` of the pack, refused above
  // `limit` bytes. Throws Error naming the pack and the path.
  std::string read(const std::string& path, uint64_t limit) const;
  // The manifest (or index) blob `d`, parsed. Throws Error.
  images::Manifest manifest(const fetch::OciDigest& d) const;
  // The manifest `ref` names in repository `repo`: a tag (its current link),
  // or "sha256:<hex>" when a revision link of `repo` names it and the blob is
  // there. nullopt otherwise.
  std::optional<fetch::OciDigest> resolve(const std::string& repo, const std::string& ref) const;
  // Blob `d` streamed to `sink` in pieces, its size and SHA-256 checked against
  // the registry's digest as it goes (the registry's contract, on top of the
  // pack's own block checksums). Throws Error naming the pack and the blob
  // when it is absent or does not hash to `d`; `sink` may have seen bytes by
  // then, so callers write to a temp file.
  void copy_blob(const fetch::OciDigest& d, const std::function<void(const char*, size_t)>& sink) const;
  // The whole blob `d`, checked the same way, refused above `limit` bytes.
  std::string read_blob(const fetch::OciDigest& d, uint64_t limit) const;
  // The platform an image manifest's config names ("os", "architecture",
  // "variant"), normalized, or nullopt when the config is absent or says none.
  std::optional<images::Platform> config_platform(const images::Manifest& m) const;

  std::shared_ptr<Pack> pack;
  std::shared_ptr<BlockCache> blocks;  // shared by the trees of one pack: link files sit in few blocks
};

// Every registry storage tree among `paths` (pack_paths() of `pack`), link
// files read (a link that is not "sha256:<hex>" is ignored, as registry:2
// ignores it).
std::vector<PackRegistry> find_registries(std::shared_ptr<Pack> pack,
                                          const std::vector<std::pair<std::string, Stat>>& paths);
// The registry of `regs` whose tree holds `path`, or null.
const PackRegistry* registry_of(const std::vector<PackRegistry>& regs, const std::string& path);

}  // namespace kso
