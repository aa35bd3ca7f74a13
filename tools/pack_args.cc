#include "tools/pack_args.h"

#include <CLI/CLI.hpp>

#include "fetch/remote.h"
#include "fetch/net_options.h"

namespace kso {

fetch::NetOptions tool_net_options(fetch::NetOptions net, const ToolIo& io) {
  if (net.cache_dir.empty()) net.cache_dir = fetch::default_cache_dir(io.getenv("XDG_CACHE_HOME"), io.getenv("HOME"));
  if (net.netrc_file.empty()) net.netrc_file = io.getenv("NETRC").value_or("");
  return net;
}

BaseSearch tool_search(ToolIo& io, const std::vector<std::string>& bases) {
  BaseSearch s;
  for (auto& b : bases) s.paths.emplace_back(b);
  const fetch::NetOptions net = tool_net_options({}, io);
  fetch::RemoteOptions ro;
  ro.cache_dir = net.effective_cache_dir() / "remote";
  ro.netrc_file = net.netrc_file;
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
