#include "tools/pack_prefix.h"

#include "index/entry.h"

namespace kso {

std::string pack_prefix(std::string prefix) {
  while (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
  validate_pack_path(prefix);
  return prefix;
}

}  // namespace kso
