#include "tools/images/layout.h"

#include <algorithm>

#include "index/error.h"
#include "tools/pack_prefix.h"

namespace kso::images {

std::string blob_dir_path(const std::string& root, const fetch::OciDigest& d) {
  std::string hex = d.hex();
  return root + "/blobs/sha256/" + hex.substr(0, 2) + "/" + hex;
}

std::string blob_data_path(const std::string& root, const fetch::OciDigest& d) { return blob_dir_path(root, d) + "/data"; }

std::string revision_link_path(const std::string& root, const std::string& repo, const fetch::OciDigest& d) {
  return root + "/repositories/" + repo + "/_manifests/revisions/sha256/" + d.hex() + "/link";
}

std::string tag_dir_path(const std::string& root, const std::string& repo, const std::string& tag) {
  return root + "/repositories/" + repo + "/_manifests/tags/" + tag;
}

std::string layer_link_path(const std::string& root, const std::string& repo, const fetch::OciDigest& d) {
  return root + "/repositories/" + repo + "/_layers/sha256/" + d.hex() + "/link";
}

RegistryLayout::RegistryLayout(const std::string& prefix, int64_t mtime_ns)
    : root_(pack_prefix(prefix) + "/docker/registry/v2"), mtime_ns_(mtime_ns) {}

std::string RegistryLayout::blob_path(const fetch::OciDigest& digest) const { return blob_data_path(root_, digest); }

void RegistryLayout::add_blob(const fetch::OciDigest& digest, const std::filesystem::path& file) {
  blobs_.emplace(digest, file);
}

void RegistryLayout::add_revision(const std::string& repo, const fetch::OciDigest& digest) {
  repos_.insert(repo);
  links_.insert_or_assign(revision_link_path(root_, repo, digest), digest);
}

void RegistryLayout::add_tag(const std::string& repo, const std::string& tag, const fetch::OciDigest& digest) {
  auto [it, fresh] = tags_.emplace(repo + ":" + tag, digest);
  if (!fresh && it->second != digest)
    throw Error("tag " + repo + ":" + tag + " given twice with different digests (" + it->second.str() + ", " +
                digest.str() + ")");
  repos_.insert(repo);
  std::string tagdir = tag_dir_path(root_, repo, tag);
  links_.insert_or_assign(tagdir + "/current/link", digest);
  links_.insert_or_assign(tagdir + "/index/sha256/" + digest.hex() + "/link", digest);
}

void RegistryLayout::add_layer_link(const std::string& repo, const fetch::OciDigest& digest) {
  repos_.insert(repo);
  links_.insert_or_assign(layer_link_path(root_, repo, digest), digest);
}

size_t RegistryLayout::repository_count() const { return repos_.size(); }

std::vector<SourceEntry> RegistryLayout::entries() const {
  std::vector<SourceEntry> out;
  out.reserve(blobs_.size() + links_.size());
  for (auto& [digest, file] : blobs_) {
    SourceEntry e;
    e.path = blob_path(digest);
    e.type = EntryType::File;
    e.mode = 0644;
    e.mtime_ns = mtime_ns_;
    e.source_file = file;
    e.expect_sha256 = digest.hex();  // content-addressed
    out.push_back(std::move(e));
  }
  for (auto& [path, digest] : links_) {
    SourceEntry e;
    e.path = path;
    e.type = EntryType::File;
    e.mode = 0644;
    e.mtime_ns = mtime_ns_;
    e.inline_data = digest.str();  // exactly "sha256:<hex>", no newline
    out.push_back(std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const SourceEntry& a, const SourceEntry& b) { return a.path < b.path; });
  return out;
}

}  // namespace kso::images
