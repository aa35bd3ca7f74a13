// Registry credentials: `--creds [HOST=]USER:PASS` and docker/podman auth
// files (`{"auths": {"HOST": {"auth": base64("USER:PASS")}}}`).
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace kso::images {

struct UserPass {
  std::string user, password;
};

class Credentials {
 public:
  // Adds "HOST=USER:PASS" (that registry) or "USER:PASS" (any registry that
  // asks for credentials). Throws kso::Error on a malformed spec.
  void add_spec(const std::string& spec);
  // Reads the "auths" of a docker config.json / containers auth.json.
  // credHelpers and credsStore are not supported (logged). Throws kso::Error.
  void load_auth_file(const std::filesystem::path& p);
  // Loads the first existing default auth file: $REGISTRY_AUTH_FILE,
  // $XDG_RUNTIME_DIR/containers/auth.json, $DOCKER_CONFIG/config.json,
  // ~/.docker/config.json, the variables looked up with `env` (the tool's
  // environment, ToolIo::env). Returns the one loaded, if any.
  std::optional<std::filesystem::path> load_default_auth_file(
      const std::function<std::optional<std::string>(const std::string&)>& env);
  // Credentials for a registry ("docker.io", "127.0.0.1:5000"): the
  // host-specific ones, else the catch-all --creds.
  std::optional<UserPass> find(const std::string& registry) const;

  // Auth-file keys come as "https://index.docker.io/v1/", "quay.io",
  // "https://host:5000": reduced to the registry name used by references.
  static std::string normalize_host(std::string key);

 private:
  std::map<std::string, UserPass> by_host_;
  std::optional<UserPass> any_;
};

}  // namespace kso::images
