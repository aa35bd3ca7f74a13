#include "index/exec_filter.h"

#include <cstring>
#include <string>

#include "index/error.h"

namespace kso {
namespace {

uint32_t rd32(const uint8_t* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }
void wr32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v);
  p[1] = uint8_t(v >> 8);
  p[2] = uint8_t(v >> 16);
  p[3] = uint8_t(v >> 24);
}

// xz's x86 BCJ (simple/x86.c), one call over the whole buffer from position
// 0 with its initial state: the last 4 bytes are never an opcode's operand
// start, so they pass through unchanged.
bool test_ms_byte(uint8_t b) { return ((b + 1) & 0xFE) == 0; }  // 0x00 or 0xFF

void x86_code(uint8_t* buf, size_t size, bool encode) {
  static const bool kMaskToAllowed[8] = {true, true, true, false, true, false, false, false};
  static const uint32_t kMaskToBitNumber[8] = {0, 1, 2, 2, 3, 3, 3, 3};
  if (size < 5) return;
  uint32_t prev_mask = 0;
  uint32_t prev_pos = uint32_t(0) - 5;  // now_pos (0) - 5
  const size_t limit = size - 5;
  size_t pos = 0;
  while (pos <= limit) {
    // Bytes other than E8/E9 change no state: skip 8 at a time while none of
    // them is one (SWAR: a zero byte of (word & FE..) ^ E8.. marks one).
    while (pos + 8 <= limit + 1) {
      uint64_t w;
      memcpy(&w, buf + pos, 8);
      uint64_t y = (w & 0xFEFEFEFEFEFEFEFEull) ^ 0xE8E8E8E8E8E8E8E8ull;
      if ((y - 0x0101010101010101ull) & ~y & 0x8080808080808080ull) break;
      pos += 8;
    }
    if (pos > limit) break;
    uint8_t b = buf[pos];
    if (b != 0xE8 && b != 0xE9) {
      ++pos;
      continue;
    }
    const uint32_t offset = uint32_t(pos) - prev_pos;
    prev_pos = uint32_t(pos);
    if (offset > 5) {
      prev_mask = 0;
    } else {
      for (uint32_t i = 0; i < offset; ++i) {
        prev_mask &= 0x77;
        prev_mask <<= 1;
      }
    }
    b = buf[pos + 4];
    if (test_ms_byte(b) && kMaskToAllowed[(prev_mask >> 1) & 0x7] && (prev_mask >> 1) < 0x10) {
      uint32_t src = uint32_t(b) << 24 | uint32_t(buf[pos + 3]) << 16 | uint32_t(buf[pos + 2]) << 8 | buf[pos + 1];
      uint32_t dest;
      for (;;) {
        if (encode)
          dest = src + (uint32_t(pos) + 5);
        else
          dest = src - (uint32_t(pos) + 5);
        if (prev_mask == 0) break;
        const uint32_t i = kMaskToBitNumber[prev_mask >> 1];
        b = uint8_t(dest >> (24 - i * 8));
        if (!test_ms_byte(b)) break;
        src = dest ^ ((1u << (32 - i * 8)) - 1);
      }
      buf[pos + 4] = uint8_t(~(((dest >> 24) & 1) - 1));
      buf[pos + 3] = uint8_t(dest >> 16);
      buf[pos + 2] = uint8_t(dest >> 8);
      buf[pos + 1] = uint8_t(dest);
      pos += 5;
      prev_mask = 0;
    } else {
      ++pos;
      prev_mask |= 1;
      if (test_ms_byte(b)) prev_mask |= 0x10;
    }
  }
}

// xz's ARM64 BCJ (simple/arm64.c): every 4-byte-aligned word (positions
// relative to the buffer) that is a BL, or an ADRP whose immediate is within
// +-512 MiB, gets its immediate made absolute; a trailing partial word is
// left alone.
void arm64_code(uint8_t* buf, size_t size, bool encode) {
  for (size_t i = 0; i + 4 <= size; i += 4) {
    uint32_t pc = uint32_t(i);
    uint32_t instr = rd32(buf + i);
    if ((instr >> 26) == 0x25) {  // BL
      const uint32_t src = instr;
      instr = 0x94000000;
      pc >>= 2;
      if (!encode) pc = 0u - pc;
      instr |= (src + pc) & 0x03FFFFFF;
      wr32(buf + i, instr);
    } else if ((instr & 0x9F000000) == 0x90000000) {  // ADRP
      const uint32_t src = ((instr >> 29) & 3) | ((instr >> 3) & 0x001FFFFC);
      if ((src + 0x00020000) & 0x001C0000) continue;  // outside +-512 MiB: left alone
      instr &= 0x9000001F;
      pc >>= 12;
      if (!encode) pc = 0u - pc;
      const uint32_t dest = src + pc;
      instr |= (dest & 3) << 29;
      instr |= (dest & 0x0003FFFC) << 3;
      instr |= (0u - (dest & 0x00020000)) & 0x00E00000;
      wr32(buf + i, instr);
    }
  }
}

void run(ExecFilter f, char* data, size_t n, bool encode) {
  auto* p = reinterpret_cast<uint8_t*>(data);
  switch (f) {
    case ExecFilter::None:
      return;
    case ExecFilter::X86:
      x86_code(p, n, encode);
      return;
    case ExecFilter::Arm64:
      arm64_code(p, n, encode);
      return;
  }
  throw Error("unknown executable filter " + std::to_string(unsigned(f)), EINVAL);
}

}  // namespace

const char* exec_filter_name(uint8_t f) {
  switch (f) {
    case 0:
      return "none";
    case 1:
      return "x86";
    case 2:
      return "arm64";
    default:
      return "unknown";
  }
}

ExecFilter elf_exec_filter(std::string_view h) {
  // e_ident: magic, EI_CLASS 2 (64-bit), EI_DATA 1 (little-endian); e_machine at 18.
  if (h.size() < 20 || h.substr(0, 4) != std::string_view("\x7f" "ELF", 4) || h[4] != 2 || h[5] != 1)
    return ExecFilter::None;
  const unsigned machine = uint8_t(h[18]) | unsigned(uint8_t(h[19])) << 8;
  if (machine == 62) return ExecFilter::X86;
  if (machine == 183) return ExecFilter::Arm64;
  return ExecFilter::None;
}

void exec_encode(ExecFilter f, char* data, size_t n) { run(f, data, n, true); }
void exec_decode(ExecFilter f, char* data, size_t n) { run(f, data, n, false); }

}  // namespace kso
