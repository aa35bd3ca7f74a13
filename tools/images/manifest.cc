#include "tools/images/manifest.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "index/error.h"
#include "tools/images/media_types.h"

namespace kso::images {

namespace {

using nlohmann::json;

Descriptor parse_descriptor(const json& j, const char* what) {
  if (!j.is_object()) throw Error(std::string("malformed manifest: ") + what + " is not an object");
  auto digest = [&] {
    try {
      return fetch::OciDigest::parse(j.value("digest", ""));
    } catch (const Error& e) {
      throw Error(std::string(e.what()) + " in " + what);
    }
  };
  Descriptor d{.media_type = j.value("mediaType", ""), .digest = digest(), .size = 0, .platform = {}, .urls = {},
               .annotations = {}};
  if (!j.contains("size") || !j["size"].is_number_unsigned())
    throw Error(std::string("malformed manifest: ") + what + " " + d.digest.str() + " has no size");
  d.size = j["size"].get<uint64_t>();
  if (j.contains("platform") && j["platform"].is_object()) {
    const json& p = j["platform"];
    d.platform = Platform{p.value("os", ""), p.value("architecture", ""), p.value("variant", "")};
  }
  if (j.contains("annotations") && j["annotations"].is_object())
    for (auto& [k, v] : j["annotations"].items())
      if (v.is_string()) d.annotations[k] = v.get<std::string>();
  if (j.contains("urls") && j["urls"].is_array())
    for (auto& u : j["urls"])
      if (u.is_string()) d.urls.push_back(u.get<std::string>());
  return d;
}

// Content-Type without parameters ("; charset=utf-8") and surrounding blanks.
std::string bare_type(const std::string& ct) {
  std::string t = ct.substr(0, ct.find(';'));
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.pop_back();
  while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.erase(0, 1);
  return t;
}

}  // namespace

Manifest parse_manifest(const std::string& bytes, const std::string& content_type) {
  json j;
  try {
    j = json::parse(bytes);
  } catch (const std::exception& e) {
    throw Error(std::string("malformed manifest JSON: ") + e.what());
  }
  if (!j.is_object()) throw Error("malformed manifest: not a JSON object");
  std::string ct = bare_type(content_type);
  int schema = j.contains("schemaVersion") && j["schemaVersion"].is_number_integer() ? j["schemaVersion"].get<int>() : 0;
  if (schema == 1 || ct == kDockerSchema1 || ct == kDockerSchema1Signed)
    throw Error("Docker schema 1 manifest refused (deprecated; re-push the image with a current tool)");
  if (schema != 2) throw Error("unsupported manifest schemaVersion " + std::to_string(schema));

  // Fields of the wrong JSON type (a number where a string belongs) are
  // malformed manifests too, not a library exception.
  try {
    Manifest m;
    m.media_type = j.value("mediaType", "");
    if (m.media_type.empty()) m.media_type = ct;
    if (m.media_type.empty() || m.media_type == "application/json" || m.media_type == "text/plain") {
      // OCI allows omitting mediaType: tell index from manifest by shape
      m.media_type = j.contains("manifests") ? std::string(kOciIndex) : std::string(kOciManifest);
    }
    if (m.media_type == kOciIndex || m.media_type == kDockerList) {
      m.kind = Manifest::Kind::Index;
      if (!j.contains("manifests") || !j["manifests"].is_array()) throw Error("malformed index: no manifests array");
      for (auto& c : j["manifests"]) m.manifests.push_back(parse_descriptor(c, "index entry"));
    } else if (m.media_type == kOciManifest || m.media_type == kDockerManifest) {
      m.kind = Manifest::Kind::Image;
      if (!j.contains("config")) throw Error("malformed image manifest: no config");
      m.config = parse_descriptor(j["config"], "config");
      if (j.contains("layers")) {
        if (!j["layers"].is_array()) throw Error("malformed image manifest: layers is not an array");
        for (auto& l : j["layers"]) m.layers.push_back(parse_descriptor(l, "layer"));
      }
    } else {
      throw Error("unsupported manifest media type '" + m.media_type + "'");
    }
    return m;
  } catch (const json::exception& e) {
    throw Error(std::string("malformed manifest: ") + e.what());
  }
}

bool is_foreign_layer(const Descriptor& d) {
  return !d.urls.empty() && (d.media_type.find("foreign") != std::string::npos ||
                             d.media_type.find("nondistributable") != std::string::npos);
}

PlatformChoice choose_platforms(const Manifest& m, const PlatformSet& want) {
  PlatformChoice out;
  if (want.all) {
    for (auto& c : m.manifests) out.chosen.push_back(&c);
    return out;
  }
  for (auto& w : want.list) {
    bool found = false;
    for (auto& c : m.manifests) {
      if (!c.platform || !platform_matches(w, *c.platform)) continue;
      found = true;
      if (std::find(out.chosen.begin(), out.chosen.end(), &c) == out.chosen.end()) out.chosen.push_back(&c);
    }
    if (!found) out.missing.push_back(w.str());
  }
  return out;
}

std::string index_platforms(const Manifest& m) {
  std::string s;
  for (auto& c : m.manifests)
    if (c.platform) s += (s.empty() ? "" : ", ") + normalize_platform(*c.platform).str();
  return s.empty() ? std::string("none") : s;
}

}  // namespace kso::images
