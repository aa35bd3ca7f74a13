#include "tools/pack_args.h"

#include "fetch/http_source.h"
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

}  // namespace kso
