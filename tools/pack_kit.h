// `kso-pack kit -o DIR PACK...`: the offline kit, everything an air-gapped
// host needs in one directory to carry in: the packs and the bases their delta
// chains need, the static kso-fs and the .debs of both arches (from --dist,
// what scripts/package.sh writes), the deploy files, a kubespray offline.yml,
// docker-archives of the bootstrap images (nginx, registry:2) for docker/podman
// load, a README.txt with the steps, and SHA256SUMS (optionally signed).
// docs/DEPLOY.md section "The offline kit" describes it.
#pragma once
#include <CLI/CLI.hpp>
#include "cli/tool_io.h"
#include <filesystem>
#include <string>
#include <vector>

namespace kso {

struct KitCommand {
  std::string output, dist = "dist", deploy, key, host = "HOST";
  std::vector<std::string> packs, bases, images, platforms;
  bool force = false, allow_missing = false;
};

void add_kit_command(CLI::App& app, KitCommand& cmd, std::string& which);
int run_kit(const KitCommand& cmd, ToolIo& io);  // prints to io.out / io.err

// The deploy files' directory when --deploy is not given: the first that
// exists of PREFIX/share/kso/deploy for the prefix kso-pack runs from
// (/usr/bin/kso-pack: /usr/share/kso/deploy, as the .deb installs them), the
// deploy/ of the source tree this kso-pack was built from, and
// /usr/share/kso/deploy. "" if none does.
std::filesystem::path default_deploy_dir();

}  // namespace kso
