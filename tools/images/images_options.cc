#include "tools/images/images_options.h"

#include <CLI/CLI.hpp>

namespace kso::images {

void add_images_selection_options(CLI::App& cmd, ImagesOptions& o) {
  cmd.add_option("--images-list", o.lists, "images.list: one image reference a line (repeatable)")
      ->group("Images")
      ->allow_extra_args(false)  // one value a flag: positional PREFIX=DIR sources may follow
      ->check(CLI::ExistingFile);
  cmd.add_option("--platform", o.platforms,
                 "platforms of multi-arch images: OS/ARCH[/VARIANT],... or 'all' (default linux/amd64,linux/arm64)")
      ->group("Images")
      ->allow_extra_args(false)
      ->delimiter(',');
  cmd.add_option("--images-prefix", o.prefix, "pack directory of the registry:2 storage (docker/registry/v2 below it)")
      ->group("Images")
      ->capture_default_str();
  cmd.add_flag("--keep-registry-host", o.keep_registry_host,
               "keep the source registry host in repository names (default: strip it, kubespray's convention)")
      ->group("Images");
}

void add_images_options(CLI::App& build, ImagesOptions& o) {
  add_images_selection_options(build, o);
  build.add_flag("--skip-missing-platforms", o.skip_missing_platforms,
                 "warn instead of failing when an index lacks a requested platform")
      ->group("Images");
  build.add_option("--creds", o.creds, "registry credentials [HOST=]USER:PASSWORD (repeatable)")
      ->group("Images")
      ->allow_extra_args(false);
  build.add_option("--auth-file", o.auth_file, "docker config.json / containers auth.json with registry credentials")
      ->group("Images")
      ->check(CLI::ExistingFile);
  build.add_option("--insecure-registry", o.insecure_registries,
                   "speak plain HTTP to this registry HOST[:PORT] (repeatable; loopback hosts always are)")
      ->group("Images")
      ->allow_extra_args(false);
}

}  // namespace kso::images
