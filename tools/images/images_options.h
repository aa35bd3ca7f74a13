// Command-line options of the image-list source of `kso-pack build`.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace kso::images {

struct ImagesOptions {
  std::vector<std::filesystem::path> lists;      // --images-list (repeatable)
  std::vector<std::string> platforms;            // --platform: "linux/amd64,linux/arm64" or "all"; empty = default
  std::string prefix = "registry";               // --images-prefix: pack dir holding docker/registry/v2
  bool keep_registry_host = false;               // --keep-registry-host
  bool skip_missing_platforms = false;           // --skip-missing-platforms
  std::vector<std::string> creds;                // --creds [HOST=]USER:PASS (repeatable)
  std::filesystem::path auth_file;               // --auth-file; empty = the default locations
  std::vector<std::string> insecure_registries;  // --insecure-registry HOST[:PORT]: plain HTTP

  bool enabled() const { return !lists.empty(); }
};

// Registers the options that name the images (--images-list --platform
// --images-prefix --keep-registry-host): build, check.
void add_images_selection_options(CLI::App& cmd, ImagesOptions& opts);
// Registers all the options above on the build subcommand.
void add_images_options(CLI::App& build, ImagesOptions& opts);

}  // namespace kso::images
