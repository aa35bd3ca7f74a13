#include "cli/size_arg.h"

#include <cctype>

#include "index/error.h"

namespace kso {

uint64_t parse_size(const std::string& s) {
  size_t i = 0;
  uint64_t v = 0;
  while (i < s.size() && isdigit((unsigned char)s[i])) {
    if (v > (UINT64_MAX - 9) / 10) throw Error("size '" + s + "' is too large", EINVAL);
    v = v * 10 + uint64_t(s[i++] - '0');
  }
  if (i == 0) throw Error("bad size '" + s + "' (e.g. 4M, 64K, 1048576)", EINVAL);
  std::string unit = s.substr(i);
  for (auto& c : unit) c = char(tolower((unsigned char)c));
  int shift = 0;
  if (unit == "" || unit == "b") shift = 0;
  else if (unit == "k" || unit == "kb" || unit == "kib") shift = 10;
  else if (unit == "m" || unit == "mb" || unit == "mib") shift = 20;
  else if (unit == "g" || unit == "gb" || unit == "gib") shift = 30;
  else throw Error("bad size unit in '" + s + "' (use K, M or G)", EINVAL);
  if (shift && v > (UINT64_MAX >> shift)) throw Error("size '" + s + "' is too large", EINVAL);
  return v << shift;
}

}  // namespace kso
