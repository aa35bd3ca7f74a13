#include "tools/images/auth.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <cstring>
#include <nlohmann/json.hpp>

#include "index/error.h"
#include "fetch/http.h"
#include "tools/text.h"

namespace kso::images {

namespace {

bool is_token_char(char c) {
  return std::isalnum((unsigned char)c) || std::strchr("!#$%&'*+-.^_`|~/", c) != nullptr;
}

}  // namespace

std::vector<Challenge> parse_www_authenticate(std::string_view v) {
  std::vector<Challenge> out;
  size_t i = 0, n = v.size();
  auto skip_ws = [&] {
    while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
  };
  auto read_token = [&] {
    size_t s = i;
    while (i < n && is_token_char(v[i])) i++;
    return std::string(v.substr(s, i - s));
  };
  while (i < n) {
    skip_ws();
    while (i < n && (v[i] == ',' || v[i] == ' ')) i++;
    std::string scheme = read_token();
    if (scheme.empty()) break;
    Challenge ch;
    ch.scheme = lower(scheme);
    // parameters: name=value pairs separated by commas, until the next scheme
    while (true) {
      skip_ws();
      size_t save = i;
      std::string name = read_token();
      skip_ws();
      if (name.empty() || i >= n || v[i] != '=') {
        i = save;  // the next challenge's scheme (or junk)
        break;
      }
      i++;  // '='
      skip_ws();
      std::string value;
      if (i < n && v[i] == '"') {
        i++;
        while (i < n && v[i] != '"') {
          if (v[i] == '\\' && i + 1 < n) i++;
          value += v[i++];
        }
        if (i < n) i++;  // closing quote
      } else {
        value = read_token();
      }
      ch.params[lower(name)] = value;
      skip_ws();
      if (i < n && v[i] == ',') i++;
      else break;
    }
    out.push_back(std::move(ch));
    if (i < n && !(v[i] == ',' || v[i] == ' ' || is_token_char(v[i]))) break;
  }
  return out;
}

std::string registry_error_text(const std::string& body) {
  try {
    auto j = nlohmann::json::parse(body);
    if (j.contains("errors") && j["errors"].is_array() && !j["errors"].empty()) {
      auto& e = j["errors"][0];
      std::string code = e.value("code", ""), msg = e.is_object() && e.contains("message") && e["message"].is_string() ? e["message"].get<std::string>() : "";
      return code.empty() ? msg : msg.empty() ? code : code + ": " + msg;
    }
  } catch (const std::exception&) {
  }
  return "";
}

RegistryAuth::RegistryAuth(fetch::Client& http, const Credentials& creds) : http_(http), creds_(creds) {}

std::string RegistryAuth::header(const std::string& registry, const std::string& repo) {
  auto it = state_.find(registry);
  if (it == state_.end()) return "";
  RegistryState& st = it->second;
  switch (st.scheme) {
    case Scheme::None:
      return "";
    case Scheme::Basic: {
      auto c = creds_.find(registry);
      return c ? "Authorization: Basic " + base64_encode(c->user + ":" + c->password) : "";
    }
    case Scheme::Bearer: {
      auto t = st.tokens.find(repo);
      if (t == st.tokens.end()) {
        fetch_token(registry, st, repo);
        t = st.tokens.find(repo);
      }
      return t->second.empty() ? "" : "Authorization: Bearer " + t->second;
    }
  }
  return "";
}

std::string RegistryAuth::current(const std::string& registry, const std::string& repo) const {
  auto it = state_.find(registry);
  if (it == state_.end()) return "";
  const RegistryState& st = it->second;
  if (st.scheme == Scheme::Basic) {
    auto c = creds_.find(registry);
    return c ? "Authorization: Basic " + base64_encode(c->user + ":" + c->password) : "";
  }
  if (st.scheme == Scheme::Bearer) {
    auto t = st.tokens.find(repo);
    return t == st.tokens.end() ? "" : "Authorization: Bearer " + t->second;
  }
  return "";
}

void RegistryAuth::unauthorized(const std::string& registry, const std::string& repo, const fetch::Response& r,
                                const std::string& sent) {
  // Parallel requests sent before credentials were known all come back 401:
  // the first one to arrive gets them, the rest just retry with them.
  std::string cur = current(registry, repo);
  if (!cur.empty() && cur != sent) return;

  std::string why = registry_error_text(r.body);
  auto hdr = r.header("WWW-Authenticate");
  if (!hdr) throw Error("registry " + registry + " answered 401 without an authentication challenge" + (why.empty() ? "" : ": " + why));
  auto challenges = parse_www_authenticate(*hdr);
  const Challenge* bearer = nullptr;
  const Challenge* basic = nullptr;
  for (auto& c : challenges) {
    if (c.scheme == "bearer" && !bearer) bearer = &c;
    if (c.scheme == "basic" && !basic) basic = &c;
  }
  auto c = creds_.find(registry);
  RegistryState& st = state_[registry];
  if (bearer) {
    std::string realm = bearer->param("realm");
    if (realm.empty()) throw Error("registry " + registry + ": Bearer challenge without a realm");
    st.scheme = Scheme::Bearer;
    st.realm = realm;
    st.service = bearer->param("service");
    if (sent.rfind("Authorization: Bearer ", 0) == 0 && bearer->param("error") != "invalid_token") {
      // a fresh token for this scope was refused: no retry will help
      throw Error("access denied to repository '" + repo + "' on " + registry +
                  (c ? " with the configured credentials" : " anonymously (use --creds or --auth-file)") +
                  " (or it does not exist)" + (why.empty() ? "" : ": " + why));
    }
    st.tokens.erase(repo);
    fetch_token(registry, st, repo);
    return;
  }
  if (basic) {
    if (!c) throw Error("registry " + registry + " requires credentials (Basic auth): use --creds or --auth-file");
    if (sent.rfind("Authorization: Basic ", 0) == 0)
      throw Error("registry " + registry + " rejected the credentials of user '" + c->user + "'" + (why.empty() ? "" : ": " + why));
    st.scheme = Scheme::Basic;
    return;
  }
  throw Error("registry " + registry + ": unsupported authentication scheme in '" + *hdr + "'");
}

void RegistryAuth::fetch_token(const std::string& registry, RegistryState& st, const std::string& repo) {
  std::string url = st.realm + (st.realm.find('?') == std::string::npos ? "?" : "&");
  if (!st.service.empty()) url += "service=" + url_escape(st.service) + "&";
  url += "scope=" + url_escape("repository:" + repo + ":pull");
  fetch::Request req;
  req.url = url;
  req.max_body = 1u << 20;
  auto c = creds_.find(registry);
  if (c) req.headers.push_back("Authorization: Basic " + base64_encode(c->user + ":" + c->password));
  fetch::Response r = http_.fetch(req);
  tokens_fetched_++;
  if (!r.error.empty()) throw Error("token request to " + st.realm + " for " + registry + " failed: " + r.error);
  if (r.status == 401 || r.status == 403) {
    throw Error("token server " + st.realm + " refused " +
                (c ? "the credentials of user '" + c->user + "'" : std::string("anonymous access (use --creds or --auth-file)")) +
                " for " + registry + "/" + repo);
  }
  if (!r.ok()) throw Error("token request to " + st.realm + " for " + registry + " failed: HTTP " + std::to_string(r.status));
  std::string token;
  try {
    auto j = nlohmann::json::parse(r.body);
    if (j.contains("token") && j["token"].is_string()) token = j["token"];
    if (token.empty() && j.contains("access_token") && j["access_token"].is_string()) token = j["access_token"];
  } catch (const std::exception&) {
  }
  if (token.empty()) throw Error("token server " + st.realm + " for " + registry + " returned no token");
  spdlog::debug("images: got a token for {}/{}", registry, repo);
  st.tokens[repo] = token;
}

}  // namespace kso::images
