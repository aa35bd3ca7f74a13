#include "tools/pack_registry.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "cache/block_cache.h"
#include "index/error.h"
#include "index/sha256.h"
#include "tools/images/layout.h"
#include "tools/images/media_types.h"

namespace kso {
namespace {

using fetch::OciDigest;

constexpr const char* kRegistryMarker = "docker/registry/v2";
// Decoded blocks kept while reading link files and manifests: they are small
// and packed together, so a few blocks hold thousands of them.
constexpr uint64_t kRegistryCacheBytes = 64u << 20;

bool starts(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// The digest a link file holds ("sha256:<hex>", maybe with a newline).
std::optional<OciDigest> read_link(const PackRegistry& r, const std::string& path) {
  std::string s = r.read(path, 1024);
  while (!s.empty() && isspace((unsigned char)s.back())) s.pop_back();
  return OciDigest::try_parse(s);
}

}  // namespace

bool PackRegistry::holds(const std::string& path) const {
  return path.size() > root.size() && starts(path, root) && path[root.size()] == '/';
}

std::vector<PackRegistry> find_registries(std::shared_ptr<Pack> pack,
                                          const std::vector<std::pair<std::string, Stat>>& paths) {
  std::vector<PackRegistry> regs;
  const std::string marker = kRegistryMarker;
  auto blocks = std::make_shared<BlockCache>(pack, kRegistryCacheBytes, 0);
  for (auto& [path, st] : paths)
    if (S_ISDIR(st.mode) && (path == marker || (path.size() > marker.size() && path.ends_with("/" + marker))))
      regs.push_back(PackRegistry{path, {}, {}, {}, {}, pack, blocks});
  for (auto& [path, st] : paths) {
    if (!S_ISREG(st.mode)) continue;
    PackRegistry* r = nullptr;
    for (auto& g : regs)
      if (g.holds(path)) r = &g;
    if (!r) continue;
    std::string rel = path.substr(r->root.size() + 1);
    if (starts(rel, "blobs/sha256/") && rel.ends_with("/data")) {
      size_t a = rel.rfind('/', rel.size() - 6);
      if (auto d = OciDigest::try_parse("sha256:" + rel.substr(a + 1, rel.size() - 6 - a)))
        if (images::blob_data_path(r->root, *d) == path) r->blobs.emplace(*d, st.size);
      continue;
    }
    if (!starts(rel, "repositories/") || !rel.ends_with("/link")) continue;
    if (size_t m = rel.find("/_manifests/"); m != std::string::npos) {
      std::string repo = rel.substr(13, m - 13), rest = rel.substr(m + 12);
      if (starts(rest, "revisions/sha256/")) {
        if (auto d = read_link(*r, path)) r->revisions[repo].insert(*d);
      } else if (starts(rest, "tags/") && rest.ends_with("/current/link")) {
        std::string tag = rest.substr(5, rest.size() - 5 - 13);
        if (auto d = read_link(*r, path)) r->tags.insert_or_assign({repo, tag}, *d);
      }
    } else if (size_t l = rel.find("/_layers/sha256/"); l != std::string::npos) {
      if (auto d = read_link(*r, path)) r->layers[rel.substr(13, l - 13)].insert(*d);
    }
  }
  return regs;
}

const PackRegistry* registry_of(const std::vector<PackRegistry>& regs, const std::string& path) {
  for (auto& r : regs)
    if (r.holds(path)) return &r;
  return nullptr;
}

std::string PackRegistry::read(const std::string& path, uint64_t limit) const {
  auto st = pack->lookup_path(path);
  if (!st || !S_ISREG(st->mode)) throw Error(pack->name() + ": registry storage lacks " + path, ENOENT);
  if (st->size > limit) throw Error(pack->name() + ": " + path + " is too large for a manifest", EINVAL);
  std::string out(size_t(st->size), '\0');
  size_t n = pack->read(*pack->layout(st->ino), 0, out.size(), out.data(), *blocks);
  out.resize(n);
  return out;
}

images::Manifest PackRegistry::manifest(const OciDigest& d) const {
  return images::parse_manifest(read(images::blob_data_path(root, d), images::kMaxManifestBytes), "");
}

std::optional<OciDigest> PackRegistry::resolve(const std::string& repo, const std::string& ref) const {
  if (auto d = OciDigest::try_parse(ref)) {
    auto revs = revisions.find(repo);
    if (revs != revisions.end() && revs->second.count(*d) && has_blob(*d)) return d;
    return std::nullopt;
  }
  auto t = tags.find({repo, ref});
  if (t == tags.end()) return std::nullopt;
  return t->second;
}

void PackRegistry::copy_blob(const OciDigest& d, const std::function<void(const char*, size_t)>& sink) const {
  const std::string path = images::blob_data_path(root, d);
  auto st = pack->lookup_path(path);
  if (!st || !S_ISREG(st->mode)) throw Error(pack->name() + ": registry storage lacks blob " + d.str(), ENOENT);
  auto layout = pack->layout(st->ino);
  constexpr size_t kPiece = 1u << 20;
  std::string buf(kPiece, '\0');
  Sha256 h;
  uint64_t off = 0;
  while (off < st->size) {
    size_t n = pack->read(*layout, off, size_t(std::min<uint64_t>(kPiece, st->size - off)), buf.data(), *blocks);
    if (n == 0) break;
    h.update(buf.data(), n);
    sink(buf.data(), n);
    off += n;
  }
  OciDigest got = OciDigest::of(h.finish());
  if (off != st->size || got != d)
    throw Error(pack->name() + ": blob " + d.str() + " (" + path + ") does not match its digest: sha256 " + got.str() +
                    " of " + std::to_string(off) + " bytes",
                EIO);
}

std::string PackRegistry::read_blob(const OciDigest& d, uint64_t limit) const {
  auto it = blobs.find(d);
  if (it != blobs.end() && it->second > limit)
    throw Error(pack->name() + ": blob " + d.str() + " is too large (" + std::to_string(it->second) + " bytes)", EINVAL);
  std::string out;
  copy_blob(d, [&](const char* p, size_t n) {
    if (out.size() + n > limit) throw Error(pack->name() + ": blob " + d.str() + " is too large", EINVAL);
    out.append(p, n);
  });
  return out;
}

std::optional<images::Platform> PackRegistry::config_platform(const images::Manifest& m) const {
  if (!m.config || !has_blob(m.config->digest)) return std::nullopt;
  try {
    auto cfg = nlohmann::json::parse(read(images::blob_data_path(root, m.config->digest), images::kMaxManifestBytes));
    images::Platform p{cfg.value("os", ""), cfg.value("architecture", ""), cfg.value("variant", "")};
    if (p.os.empty() || p.arch.empty()) return std::nullopt;
    return images::normalize_platform(p);
  } catch (const std::exception&) {
    return std::nullopt;  // not JSON, or fields of another type: says no platform
  }
}

}  // namespace kso
