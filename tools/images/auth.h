// Registry authentication: anonymous first, then whatever the registry's
// WWW-Authenticate challenge asks for: Basic with stored credentials, or a
// Bearer token from the challenge's realm (service and repository:NAME:pull
// scope), anonymous or with Basic credentials like docker does.
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tools/images/credentials.h"

namespace kso::fetch {
class Client;
struct Response;
}  // namespace kso::fetch

namespace kso::images {

struct Challenge {
  std::string scheme;                         // lower-case: "bearer", "basic"
  std::map<std::string, std::string> params;  // keys lower-case: realm, service, scope, error
  std::string param(const std::string& k) const {
    auto it = params.find(k);
    return it == params.end() ? "" : it->second;
  }
};

// Parses a WWW-Authenticate value (RFC 7235: several challenges, quoted or
// token parameter values). Unparseable trailing junk is ignored.
std::vector<Challenge> parse_www_authenticate(std::string_view value);

// The registry's error text from a JSON error body ("UNAUTHORIZED: ..."), or "".
std::string registry_error_text(const std::string& body);

class RegistryAuth {
 public:
  RegistryAuth(fetch::Client& http, const Credentials& creds);

  // Header line ("Authorization: ...") for requests to `repo` on `registry`,
  // or "" while anonymous. May fetch a token when the registry is known to
  // want Bearer auth and this repository has none yet.
  std::string header(const std::string& registry, const std::string& repo);
  // Handles a 401 from `registry` for `repo` to a request sent with header
  // `sent` (from header()): reads the challenge and gets fresh credentials,
  // so a retry with header() may succeed. Throws kso::Error (one line) when
  // none can work: none configured, rejected, token refused, access denied.
  void unauthorized(const std::string& registry, const std::string& repo, const fetch::Response& r,
                    const std::string& sent);
  int tokens_fetched() const { return tokens_fetched_; }

 private:
  enum class Scheme { None, Basic, Bearer };
  struct RegistryState {
    Scheme scheme = Scheme::None;
    std::string realm, service;
    std::map<std::string, std::string> tokens;  // repository -> bearer token
  };
  std::string current(const std::string& registry, const std::string& repo) const;  // never fetches
  void fetch_token(const std::string& registry, RegistryState& st, const std::string& repo);

  fetch::Client& http_;
  const Credentials& creds_;
  std::map<std::string, RegistryState> state_;
  int tokens_fetched_ = 0;
};

}  // namespace kso::images
