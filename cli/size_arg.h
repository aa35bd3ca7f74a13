// Parsing byte sizes given on command lines: "4M", "64KiB", "1048576".
#pragma once
#include <cstdint>
#include <string>

namespace kso {

uint64_t parse_size(const std::string& s);  // throws Error(EINVAL) naming s

}  // namespace kso
