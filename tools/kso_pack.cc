#include "tools/kso_pack.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>

#include "index/error.h"
#include "index/format.h"
#include "tools/pack_build.h"
#include "tools/pack_check.h"
#include "tools/pack_delta.h"
#include "tools/pack_export.h"
#include "tools/pack_inspect.h"
#include "tools/pack_kit.h"
#include "tools/pack_manifest.h"
#include "tools/pack_sign.h"
#include "tools/pack_subset.h"

namespace kso {

int kso_pack_main(const std::vector<std::string>& args) {
  CLI::App app{"kso-pack: build and inspect kso packs (compressed, deduplicated, checksummed trees)", "kso-pack"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("kso-pack ") + KSO_VERSION + " (writes pack format v" +
                                        std::to_string(kPlainFormatVersion) + ", v" + std::to_string(kFormatVersion) +
                                        " with --profile max)");
  app.fallthrough();  // -v/-q work before or after the subcommand
  bool verbose = false, quiet = false;
  app.add_flag("-v,--verbose", verbose, "More log output");
  app.add_flag("-q,--quiet", quiet, "Only errors");
  BuildCommand build;
  auto* build_cmd = add_build_command(app, build);
  InspectCommand inspect;
  std::string which;
  add_inspect_commands(app, inspect, which);
  DeltaCommand delta;
  add_delta_commands(app, delta, which);
  SubsetCommand subset;
  add_subset_command(app, subset, which);
  CheckCommand check;
  add_check_command(app, check, which);
  ManifestCommand manifest;
  add_manifest_command(app, manifest, which);
  SignCommand sign;
  add_sign_command(app, sign, which);
  ExportImageCommand export_image;
  add_export_image_command(app, export_image, which);
  KitCommand kit;
  add_kit_command(app, kit, which);

  std::vector<std::string> rev(args.rbegin(), args.rend());  // CLI11 takes arguments reversed
  try {
    app.parse(rev);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fprintf(stderr, "kso-pack: %s\n", e.what());
    fprintf(stderr, "Run 'kso-pack --help' for usage.\n");
    return kExitUsage;
  }
  if (!spdlog::get("kso")) {
    auto logger = spdlog::stderr_color_mt("kso");
    logger->set_pattern("kso-pack: %^%l%$: %v");
    spdlog::set_default_logger(logger);
  }
  spdlog::set_level(quiet ? spdlog::level::err : verbose ? spdlog::level::debug : spdlog::level::info);
  try {
    if (build_cmd->parsed()) return run_build(build);
    if (is_delta_command(which)) return run_delta(which, delta);
    if (which == "subset") return run_subset(subset);
    if (which == "check") return run_check(check);
    if (which == "manifest") return run_manifest(manifest);
    if (which == "sign") return run_sign(sign);
    if (which == "export-image") return run_export_image(export_image);
    if (which == "kit") return run_kit(kit);
    return run_inspect(which, inspect);
  } catch (const UsageError& e) {
    fprintf(stderr, "kso-pack: error: %s\n", e.what());
    fprintf(stderr, "Run 'kso-pack --help' for usage.\n");
    return kExitUsage;
  } catch (const Error& e) {
    fprintf(stderr, "kso-pack: error: %s\n", e.what());
    return kExitFailure;
  } catch (const std::exception& e) {
    fprintf(stderr, "kso-pack: error: %s\n", e.what());
    return kExitFailure;
  }
}

}  // namespace kso
