#include "index/write/chunker.h"

#include <array>
#include <bit>
#include <string>

#include "index/error.h"

namespace kso {
namespace {

// Gear table: 256 fixed pseudo-random words (splitmix64 from a fixed seed).
// Changing it changes every chunk boundary, so it is part of the format.
constexpr std::array<uint64_t, 256> make_gear() {
  std::array<uint64_t, 256> g{};
  uint64_t x = 0x6b736f2d67656172ull;  // "kso-gear"
  for (auto& v : g) {
    x += 0x9e3779b97f4a7c15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    v = z ^ (z >> 31);
  }
  return g;
}
constexpr auto kGear = make_gear();

// Masks test the top bits: with a shift-left rolling hash they depend on the
// last 64 bytes only. Normalized chunking (level 2): two more bits before the
// average size, two fewer after, which tightens the size distribution.
uint64_t top_bits(unsigned n) { return n == 0 ? 0 : ~uint64_t(0) << (64 - n); }

}  // namespace

void ChunkerParams::validate() const {
  if (min_size < 64 || !(min_size < avg_size && avg_size < max_size) || !std::has_single_bit(avg_size) ||
      max_size > (64u << 20))
    throw Error("bad chunk sizes " + std::to_string(min_size) + "/" + std::to_string(avg_size) + "/" +
                    std::to_string(max_size) + ": need 64 <= min < avg < max <= 64M and avg a power of two",
                EINVAL);
}

size_t find_chunk_boundary(const ChunkerParams& p, const uint8_t* d, size_t len, bool last) {
  if (len <= p.min_size) return last ? len : 0;
  const unsigned bits = unsigned(std::countr_zero(p.avg_size));
  const uint64_t mask_s = top_bits(bits + 2), mask_l = top_bits(bits > 2 ? bits - 2 : 1);
  const size_t n = len < p.max_size ? len : p.max_size;
  const size_t normal = n < p.avg_size ? n : p.avg_size;
  uint64_t h = 0;
  size_t i = p.min_size;
  for (; i < normal; i++) {
    h = (h << 1) + kGear[d[i]];
    if (!(h & mask_s)) return i + 1;
  }
  for (; i < n; i++) {
    h = (h << 1) + kGear[d[i]];
    if (!(h & mask_l)) return i + 1;
  }
  if (n == p.max_size) return n;
  return last ? len : 0;
}

}  // namespace kso
