#include "tools/pack_args.h"

#include <CLI/CLI.hpp>

#include "fetch/remote.h"
#include "fetch/net_options.h"

namespace kso {

BaseSearch tool_search(const std::vector<std::string>& bases) {
  BaseSearch s;
  for (auto& b : bases) s.paths.emplace_back(b);
  fetch::RemoteOptions ro;
  ro.cache_dir = fetch::NetOptions().effective_cache_dir() / "remote";
  s.open = fetch::source_opener(ro);
  return s;
}

void add_pack_options(CLI::App& sub, std::string& pack, std::vector<std::string>& bases, const std::string& what) {
  sub.add_option("pack", pack, what)->required();
  sub.add_option("--base", bases, "A delta's base pack (default: found next to the delta by identity); repeatable")
      ->type_name("PACK")
      ->allow_extra_args(false);
}

CLI::App* add_pack_command(CLI::App& app, const std::string& name, const std::string& help, std::string& which,
                           std::string& pack, std::vector<std::string>& bases) {
  CLI::App* s = app.add_subcommand(name, help);
  add_pack_options(*s, pack, bases);
  s->callback([&which, s] { which = s->get_name(); });
  return s;
}

}  // namespace kso
