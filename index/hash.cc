#include "index/hash.h"

namespace kso {

std::string to_hex(const uint8_t* data, size_t len) {
  static const char* x = "0123456789abcdef";
  std::string s(len * 2, '0');
  for (size_t i = 0; i < len; i++) {
    s[2 * i] = x[data[i] >> 4];
    s[2 * i + 1] = x[data[i] & 15];
  }
  return s;
}

}  // namespace kso
