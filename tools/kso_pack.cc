#include "tools/kso_pack.h"

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

int kso_pack_main(const std::vector<std::string>& args, ToolIo& io) {
  CLI::App app{"kso-pack: build and inspect kso packs (compressed, deduplicated, checksummed trees)", "kso-pack"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("kso-pack ") + KSO_VERSION + " (writes pack format v" +
                                        std::to_string(kPlainFormatVersion) + ", v" + std::to_string(kFormatVersion) +
                                        " with --profile max)");
  app.fallthrough();  // -v/-q work before or after the subcommand
  bool verbose = false, quiet = false;
  app.add_flag("-v,--verbose", verbose, "More log output");
  app.add_flag("-q,--quiet", quiet, "Only errors");
  // Every subcommand's options, filled by the parse.
  struct {
    BuildCommand build;
    InspectCommand inspect;
    DeltaCommand delta;
    SubsetCommand subset;
    CheckCommand check;
    ManifestCommand manifest;
    SignCommand sign;
    ExportImageCommand export_image;
    KitCommand kit;
  } c;
  std::string which;  // the subcommand the command line picked (build: build_cmd->parsed())
  auto* build_cmd = add_build_command(app, c.build);
  add_inspect_commands(app, c.inspect, which);
  add_delta_commands(app, c.delta, which);
  add_subset_command(app, c.subset, which);
  add_check_command(app, c.check, which);
  add_manifest_command(app, c.manifest, which);
  add_sign_command(app, c.sign, which);
  add_export_image_command(app, c.export_image, which);
  add_kit_command(app, c.kit, which);

  std::vector<std::string> rev(args.rbegin(), args.rend());  // CLI11 takes arguments reversed
  try {
    app.parse(rev);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, io.out, io.err);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, io.out, io.err);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e, io.out, io.err);
  } catch (const CLI::ParseError& e) {
    io.err << "kso-pack: " << e.what() << "\n"
           << "Run 'kso-pack --help' for usage.\n";
    return kExitUsage;
  }
  ToolLogger logger(io, "kso", "kso-pack: %^%l%$: %v");  // to io.err for this run
  spdlog::set_level(quiet ? spdlog::level::err : verbose ? spdlog::level::debug : spdlog::level::info);
  try {
    if (build_cmd->parsed()) return run_build(c.build, io);
    if (is_delta_command(which)) return run_delta(which, c.delta, io);
    if (which == "subset") return run_subset(c.subset, io);
    if (which == "check") return run_check(c.check, io);
    if (which == "manifest") return run_manifest(c.manifest, io);
    if (which == "sign") return run_sign(c.sign, io);
    if (which == "export-image") return run_export_image(c.export_image, io);
    if (which == "kit") return run_kit(c.kit, io);
    return run_inspect(which, c.inspect, io);
  } catch (const UsageError& e) {
    io.err << "kso-pack: error: " << e.what() << "\n"
           << "Run 'kso-pack --help' for usage.\n";
    return kExitUsage;
  } catch (const Error& e) {
    io.err << "kso-pack: error: " << e.what() << "\n";
    return kExitFailure;
  } catch (const std::exception& e) {
    io.err << "kso-pack: error: " << e.what() << "\n";
    return kExitFailure;
  }
}

}  // namespace kso
