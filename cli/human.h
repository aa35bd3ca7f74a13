// Sizes as people read them, one format for every tool's output.
#pragma once
#include <cstdint>
#include <string>

namespace kso {

// "512 B", "1.5 GiB": powers of 1024, one decimal from KiB up (to PiB).
std::string human_bytes(uint64_t n);

}  // namespace kso
