#include "tools/images/credentials.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "index/error.h"
#include "tools/images/reference.h"
#include "tools/text.h"

namespace kso::images {

namespace {

UserPass split_user_pass(const std::string& s, const std::string& what) {
  auto colon = s.find(':');
  if (colon == std::string::npos || colon == 0) throw Error(what + ": want USER:PASSWORD");
  return UserPass{s.substr(0, colon), s.substr(colon + 1)};
}

}  // namespace

std::string Credentials::normalize_host(std::string key) {
  if (auto p = key.find("://"); p != std::string::npos) key = key.substr(p + 3);
  if (auto p = key.find('/'); p != std::string::npos) key = key.substr(0, p);
  if (key == "index.docker.io" || key == "registry-1.docker.io" || key == "registry.hub.docker.com")
    key = std::string(kDockerHub);
  return key;
}

// "HOST=" prefix: a host name or address with an optional numeric port,
// followed by USER:PASS. Anything else is a plain USER:PASS.
static bool looks_like_host(const std::string& h) {
  if (h.empty()) return false;
  std::string name = h, port;
  if (auto c = h.rfind(':'); c != std::string::npos && h.front() != '[') {
    name = h.substr(0, c);
    port = h.substr(c + 1);
    if (port.empty()) return false;
  }
  for (char c : port)
    if (!std::isdigit((unsigned char)c)) return false;
  if (name.empty()) return false;
  for (char c : name)
    if (!(std::isalnum((unsigned char)c) || c == '.' || c == '-' || c == '[' || c == ']' || c == ':')) return false;
  return true;
}

void Credentials::add_spec(const std::string& spec) {
  auto eq = spec.find('=');
  if (eq != std::string::npos && looks_like_host(spec.substr(0, eq)) &&
      spec.find(':', eq) != std::string::npos) {
    std::string host = spec.substr(0, eq);
    by_host_[normalize_host(host)] = split_user_pass(spec.substr(eq + 1), "--creds for " + host);
    return;
  }
  any_ = split_user_pass(spec, "--creds");
}

void Credentials::load_auth_file(const std::filesystem::path& p) {
  std::ifstream f(p);
  if (!f) throw Error("cannot read auth file " + p.string());
  std::stringstream ss;
  ss << f.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ss.str());
  } catch (const std::exception& e) {
    throw Error("auth file " + p.string() + ": malformed JSON: " + e.what());
  }
  if (j.contains("credsStore") || j.contains("credHelpers"))
    spdlog::warn("auth file {}: credential helpers are not supported; only \"auths\" entries are used", p.string());
  if (!j.contains("auths") || !j["auths"].is_object()) return;
  for (auto& [key, v] : j["auths"].items()) {
    if (!v.is_object()) continue;
    std::string host = normalize_host(key);
    if (v.contains("auth") && v["auth"].is_string() && !v["auth"].get<std::string>().empty()) {
      std::string dec;
      try {
        dec = base64_decode(v["auth"].get<std::string>());
      } catch (const Error&) {
        throw Error("auth file " + p.string() + ": entry '" + key + "' has a malformed auth value");
      }
      by_host_.emplace(host, split_user_pass(dec, "auth file " + p.string() + " entry '" + key + "'"));
    } else if (v.contains("username") && v.contains("password")) {
      by_host_.emplace(host, UserPass{v.value("username", ""), v.value("password", "")});
    }
  }
}

std::optional<std::filesystem::path> Credentials::load_default_auth_file(
    const std::function<std::optional<std::string>(const std::string&)>& lookup) {
  std::vector<std::filesystem::path> candidates;
  auto env = [&](const char* n) -> std::string {
    auto v = lookup ? lookup(n) : std::nullopt;
    return v ? *v : "";
  };
  if (auto v = env("REGISTRY_AUTH_FILE"); !v.empty()) candidates.emplace_back(v);
  if (auto v = env("XDG_RUNTIME_DIR"); !v.empty()) candidates.emplace_back(std::filesystem::path(v) / "containers/auth.json");
  if (auto v = env("DOCKER_CONFIG"); !v.empty()) candidates.emplace_back(std::filesystem::path(v) / "config.json");
  if (auto v = env("HOME"); !v.empty()) candidates.emplace_back(std::filesystem::path(v) / ".docker/config.json");
  for (auto& c : candidates) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(c, ec)) {
      load_auth_file(c);
      return c;
    }
  }
  return std::nullopt;
}

std::optional<UserPass> Credentials::find(const std::string& registry) const {
  if (auto it = by_host_.find(normalize_host(registry)); it != by_host_.end()) return it->second;
  return any_;
}

}  // namespace kso::images
