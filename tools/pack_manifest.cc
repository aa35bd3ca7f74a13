#include "tools/pack_manifest.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "index/error.h"
#include "index/hash.h"
#include "index/pack_index_file.h"
#include "index/pack_open.h"
#include "index/index_meta.h"
#include "index/verify.h"
#include "tools/files_list.h"
#include "tools/images/platform.h"
#include "tools/kso_pack.h"
#include "tools/pack_args.h"
#include "tools/pack_prefix.h"
#include "tools/pack_registry.h"
#include "tools/pack_source.h"
#include "tools/text.h"

namespace kso {
namespace fs = std::filesystem;
namespace {

using fetch::OciDigest;
using images::Manifest;
using nlohmann::json;

// Schema version of the manifest document (docs/REVIEW.md).
constexpr int kManifestSchema = 1;

std::string octal_mode(uint32_t mode) {
  char buf[8];
  snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

json pack_section(const Pack& p) {
  json j = {{"name", printable(fs::path(p.name()).filename().string())},
            {"identity", to_hex(p.identity())},
            {"format_version", p.version()},
            {"pack_bytes", p.file_size()},
            {"bases", json::array()}};
  for (auto& b : p.bases())
    j["bases"].push_back({{"name", printable(b.name)}, {"identity", to_hex(b.identity)}, {"pack_bytes", b.pack_size}});
  // Build parameters as the meta table records them, integers as numbers.
  j["build"] = json::object();
  for (auto& [k, v] : p.meta()) {
    if (k == kMetaSourceUrls) continue;  // provenance, not a build parameter: per file in files[]
    const std::string& key = k;  // clang 14 lambdas cannot capture structured bindings
    bool integer =
        std::any_of(std::begin(kMetaIntegerKeys), std::end(kMetaIntegerKeys), [&](const char* ik) { return key == ik; });
    char* end = nullptr;
    errno = 0;
    long long n = integer && !v.empty() ? std::strtoll(v.c_str(), &end, 10) : 0;
    if (integer && end && *end == '\0' && errno == 0)
      j["build"][printable(k)] = n;
    else
      j["build"][printable(k)] = printable(v);
  }
  return j;
}

// The images of one registry storage tree and what its blobs are used for.
class RegistryManifest {
 public:
  explicit RegistryManifest(const PackRegistry& r) : r_(r) {
    for (auto& [repo, ds] : r_.revisions)
      for (auto& d : ds)
        if (const Manifest* m = get(d); m && m->is_index())
          for (auto& e : m->manifests) children_[repo].insert(e.digest);
  }

  void images(json& out) {
    std::vector<std::tuple<std::string, std::string, std::string, json>> rows;  // sort keys, entry
    std::map<std::string, std::set<OciDigest>> tagged;
    for (auto& [rt, d] : r_.tags) {
      rows.emplace_back(rt.first, rt.second, d.str(), image(rt.first, rt.second, d));
      tagged[rt.first].insert(d);
    }
    // Manifests no tag names and no index lists: images pinned by digest only.
    for (auto& [repo, ds] : r_.revisions)
      for (auto& d : ds)
        if (!children_[repo].count(d) && !tagged[repo].count(d))
          rows.emplace_back(repo, "", d.str(), image(repo, std::nullopt, d));
    std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) {
      return std::tie(std::get<0>(a), std::get<1>(a), std::get<2>(a)) <
             std::tie(std::get<0>(b), std::get<1>(b), std::get<2>(b));
    });
    for (auto& row : rows) out.push_back(std::move(std::get<3>(row)));
  }

  json summary() {
    // Blobs no manifest of the tree names (manifests, configs, layers).
    std::set<OciDigest> used;
    for (auto& [d, m] : parsed_) {
      used.insert(d);
      if (!m) continue;
      for (auto& e : m->manifests) used.insert(e.digest);
      if (m->config) used.insert(m->config->digest);
      for (auto& l : m->layers) used.insert(l.digest);
    }
    uint64_t bytes = 0;
    json unused = json::array();
    for (auto& [d, size] : r_.blobs) {
      bytes += size;
      if (!used.count(d)) unused.push_back({{"digest", d.str()}, {"size", size}});
    }
    return {{"root", printable(r_.root)},
            {"blobs", r_.blobs.size()},
            {"blob_bytes", bytes},
            {"unreferenced_blobs", unused}};
  }

 private:
  // The parsed manifest blob `d`, or null when it is absent or not a manifest.
  const Manifest* get(const OciDigest& d) {
    auto it = parsed_.find(d);
    if (it == parsed_.end()) {
      std::optional<Manifest> m;
      if (r_.has_blob(d)) try {
          m = r_.manifest(d);
        } catch (const Error&) {
        }
      it = parsed_.emplace(d, std::move(m)).first;
    }
    return it->second ? &*it->second : nullptr;
  }

  bool served(const std::string& repo, const OciDigest& d) const {
    auto revs = r_.revisions.find(repo);
    return revs != r_.revisions.end() && revs->second.count(d) && r_.has_blob(d);
  }

  json image(const std::string& repo, const std::optional<std::string>& tag, const OciDigest& d) {
    json e = {{"registry", printable(r_.root)},
              {"repository", printable(repo)},
              {"tag", tag ? json(printable(*tag)) : json(nullptr)},
              {"reference", printable(repo) + (tag ? ":" + printable(*tag) : "@" + d.str())},
              {"digest", d.str()},
              {"in_pack", served(repo, d)},
              {"media_type", nullptr},
              {"manifests", json::array()}};
    const Manifest* m = get(d);
    if (!m) return e;
    e["media_type"] = m->media_type;
    std::vector<std::pair<std::string, json>> rows;
    if (m->is_index()) {
      for (auto& c : m->manifests) {
        std::string plat = c.platform ? images::normalize_platform(*c.platform).str() : "unknown";
        rows.emplace_back(
            plat + " " + c.digest.str(),
            json{{"platform", printable(plat)}, {"digest", c.digest.str()}, {"in_pack", served(repo, c.digest)}});
      }
    } else {
      auto plat = r_.config_platform(*m);
      std::string ps = plat ? plat->str() : "unknown";
      rows.emplace_back(ps, json{{"platform", printable(ps)}, {"digest", d.str()}, {"in_pack", served(repo, d)}});
    }
    std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.first < b.first; });
    for (auto& [k, row] : rows) e["manifests"].push_back(std::move(row));
    return e;
  }

  const PackRegistry& r_;
  std::map<OciDigest, std::optional<Manifest>> parsed_;
  std::map<std::string, std::set<OciDigest>> children_;  // repo -> manifests an index of it lists
};

void print_text(const json& j, ToolIo& io) {
  const json& pk = j["pack"];
  say(io.out, "pack %s identity %s format v%d %llu bytes\n", pk["name"].get<std::string>().c_str(),
         pk["identity"].get<std::string>().c_str(), pk["format_version"].get<int>(),
         (unsigned long long)pk["pack_bytes"].get<uint64_t>());
  for (auto& b : pk["bases"])
    say(io.out, "base %s %s %llu bytes\n", b["identity"].get<std::string>().c_str(), b["name"].get<std::string>().c_str(),
           (unsigned long long)b["pack_bytes"].get<uint64_t>());
  std::string build;
  for (auto& [k, v] : pk["build"].items()) build += " " + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  say(io.out, "build%s\n", build.c_str());
  for (auto& f : j["files"])
    say(io.out, "file %s %llu %s %s%s%s\n", f["sha256"].get<std::string>().c_str(),
           (unsigned long long)f["size"].get<uint64_t>(), f["mode"].get<std::string>().c_str(),
           f["path"].get<std::string>().c_str(), f.contains("url") ? (" " + f["url"].get<std::string>()).c_str() : "",
           f.contains("downloaded_from") ? (" from " + f["downloaded_from"].get<std::string>()).c_str() : "");
  for (auto& s : j["symlinks"])
    say(io.out, "symlink %s -> %s\n", s["path"].get<std::string>().c_str(), s["target"].get<std::string>().c_str());
  for (auto& i : j["images"]) {
    say(io.out, "image %s %s%s\n", i["reference"].get<std::string>().c_str(), i["digest"].get<std::string>().c_str(),
           i["in_pack"].get<bool>() ? "" : " (not in pack)");
    for (auto& m : i["manifests"])
      say(io.out, "  %s %s%s\n", m["platform"].get<std::string>().c_str(), m["digest"].get<std::string>().c_str(),
             m["in_pack"].get<bool>() ? "" : " (not in pack)");
  }
  for (auto& r : j["registries"]) {
    say(io.out, "registry %s %llu blobs %llu bytes, %zu unreferenced\n", r["root"].get<std::string>().c_str(),
           (unsigned long long)r["blobs"].get<uint64_t>(), (unsigned long long)r["blob_bytes"].get<uint64_t>(),
           r["unreferenced_blobs"].size());
    for (auto& u : r["unreferenced_blobs"])
      say(io.out, "  unreferenced %s %llu\n", u["digest"].get<std::string>().c_str(),
             (unsigned long long)u["size"].get<uint64_t>());
  }
}

}  // namespace

json pack_manifest(const std::shared_ptr<Pack>& pack, const std::string& files_prefix) {
  Pack& p = *pack;
  std::string prefix;
  try {
    prefix = pack_prefix(files_prefix) + "/";
  } catch (const Error& e) {
    throw UsageError(std::string("--files-prefix: ") + e.what());
  }
  json j = {{"kso_manifest", kManifestSchema}, {"pack", pack_section(p)}};
  auto paths = pack_paths(p);
  std::sort(paths.begin(), paths.end(), [](auto& a, auto& b) { return a.first < b.first; });
  auto regs = find_registries(pack, paths);
  const auto origins = source_urls(p);
  j["files"] = json::array();
  j["symlinks"] = json::array();
  for (auto& [path, st] : paths) {
    if (registry_of(regs, path)) continue;  // described by "images" and "registries"
    if (S_ISLNK(st.mode)) {
      j["symlinks"].push_back({{"path", printable(path)}, {"target", printable(p.readlink(st.ino))}});
    } else if (S_ISREG(st.mode)) {
      json f = {{"path", printable(path)},
                {"size", st.size},
                {"sha256", to_hex(p.layout(st.ino)->sha256)},
                {"mode", octal_mode(st.mode)}};
      if (path.compare(0, prefix.size(), prefix) == 0)
        if (auto url = path_to_url(path.substr(prefix.size()))) f["url"] = *url;
      if (auto o = origins.find(path); o != origins.end()) f["downloaded_from"] = printable(o->second);
      j["files"].push_back(std::move(f));
    }
  }
  j["images"] = json::array();
  j["registries"] = json::array();
  for (auto& r : regs) {
    RegistryManifest rm(r);
    rm.images(j["images"]);
    j["registries"].push_back(rm.summary());
  }
  return j;
}

// What `kso-pack manifest --help` says it does.
constexpr const char* kManifestHelp =
    "List exactly what the pack holds, for a review: files (size, SHA-256, URL), images (index and "
    "per-platform manifest digests), identity, build parameters";

void add_manifest_command(CLI::App& app, ManifestCommand& cmd, std::string& which) {
  auto* s = add_pack_command(app, "manifest", kManifestHelp, which, cmd.pack, cmd.bases);
  s->add_flag("--json", cmd.json, "Sorted, stable JSON (schema in docs/REVIEW.md)");
  s->add_option("--files-prefix", cmd.files_prefix,
                "Pack dir holding a wget -x tree: its files get the URL their path names")
      ->capture_default_str();
}

int run_manifest(const ManifestCommand& c, ToolIo& io) {
  if (is_index_file(c.pack)) throw Error(c.pack + " is an index file (.kidx): it holds no file data", EINVAL);
  auto p = open_pack(c.pack, tool_search(io, c.bases));
  // The identity the manifest states is the one the pack hashes to.
  if (compute_identity(*p) != p->identity())
    throw Error(c.pack + ": its metadata does not hash to its identity (damaged); run 'kso-pack verify' on it");
  json j = pack_manifest(p, c.files_prefix);
  if (c.json)
    say(io.out, "%s\n", j.dump(2).c_str());
  else
    print_text(j, io);
  return kExitOk;
}

}  // namespace kso
